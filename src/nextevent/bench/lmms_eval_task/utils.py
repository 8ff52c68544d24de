"""lmms-eval hooks of the local FutureBench tasks (copied next to the YAMLs by
`nextevent bench export --layout lmms-eval`).

Four tasks, one per mode and input (see ``_futurebench_local_template_yaml``); each YAML
names its own functions here, so the mode and the input never depend on
``lmms_eval_specific_kwargs`` (which lmms-eval picks by model name). Hook signatures follow
lmms-eval's task API (EvolvingLMMs-Lab/lmms-eval v0.7.3, ``lmms_eval/tasks/videomme/
utils.py``: ``doc_to_visual(doc)``, ``doc_to_text(doc, lmms_eval_specific_kwargs)``,
``process_results(doc, results)`` returning ``{metric: value}``,
``aggregate_results(list_of_values)``). The prompt and the score are
`nextevent.bench.prompts`' (`question_text`, `score_response`), the very functions
``nextevent bench eval`` uses for the same mode, so nextevent must be importable in the
lmms-eval environment (``pip install nextevent``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from nextevent.bench.prompts import PromptMode, question_text, score_response

log = logging.getLogger("lmms-eval")


def futurebench_doc_to_visual(doc: dict[str, Any]) -> list[str]:
    """The past clip as a one-element list of paths; empty for text-level items."""
    return [doc["video_path"]] if doc.get("video_path") else []


def futurebench_doc_to_visual_text_only(doc: dict[str, Any]) -> list[str]:
    """No visual: the text-only tasks give the past as text."""
    return []


def _text(doc: dict[str, Any], kwargs: dict[str, Any] | None, mode: PromptMode,
          text_only: bool) -> str:
    """`question_text` of the document in ``mode``: the past caption as text when
    ``text_only`` or the item has no clip; ``pre_prompt`` / ``post_prompt`` from the
    kwargs when given, else the mode's published ones."""
    kw = kwargs or {}
    past = str(doc.get("past_caption", "")) if text_only or not doc.get("video_path") else None
    return question_text(doc["question"], doc["options"], mode, past,
                         pre_prompt=kw.get("pre_prompt"), post_prompt=kw.get("post_prompt"))


def futurebench_doc_to_text(doc: dict[str, Any],
                            lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    """Direct mode with the clip (the caption for a text-level item)."""
    return _text(doc, lmms_eval_specific_kwargs, "direct", False)


def futurebench_doc_to_text_reasoning(
        doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    """Reasoning mode with the clip (the caption for a text-level item)."""
    return _text(doc, lmms_eval_specific_kwargs, "reasoning", False)


def futurebench_doc_to_text_text_only(
        doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    """Direct mode, the past caption in place of the clip."""
    return _text(doc, lmms_eval_specific_kwargs, "direct", True)


def futurebench_doc_to_text_text_only_reasoning(
        doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    """Reasoning mode, the past caption in place of the clip."""
    return _text(doc, lmms_eval_specific_kwargs, "reasoning", True)


def _scored(doc: dict[str, Any], results: list[str], mode: PromptMode) -> dict[str, Any]:
    response = results[0] if results else ""
    pred, correct = score_response(response, doc["answer"], mode)
    return {"futurebench_accuracy": {
        "id": doc["id"], "question_type": doc["question_type"], "mode": mode, "pred": pred,
        "answer": doc["answer"], "correct": correct}}


def futurebench_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """``{"futurebench_accuracy": {"id", "question_type", "mode", "pred", "answer",
    "correct"}}`` of a direct-mode response: `nextevent.bench.prompts.score_response` in
    mode ``direct`` (letter extraction ``auto``: an ``<answer>`` block, else the text after
    a closed ``<think>``, else the whole response), as ``bench eval`` scores it."""
    return _scored(doc, results, "direct")


def futurebench_process_results_reasoning(doc: dict[str, Any], results: list[str]
                                          ) -> dict[str, Any]:
    """As `futurebench_process_results`, for a reasoning-mode response: the letter of the
    first closed ``<answer>`` block only (none without one), as ``bench eval --mode
    reasoning`` and the published reasoning scorer read it."""
    return _scored(doc, results, "reasoning")


def futurebench_aggregate_results(results: list[dict[str, Any]]) -> float:
    """Overall accuracy in percent (lmms-eval's convention) over every question type
    (``interp`` included); per-type accuracy is logged."""
    by_type: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        by_type[r["question_type"]].append(bool(r["correct"]))
    for qtype, values in sorted(by_type.items()):
        log.info(f"FutureBench {qtype}: {100 * sum(values) / len(values):.1f}% "
                 f"of {len(values)}")
    return 100.0 * sum(bool(r["correct"]) for r in results) / len(results) if results else 0.0
