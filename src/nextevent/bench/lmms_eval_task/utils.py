"""lmms-eval hooks of the local FutureBench task (copied next to the YAML by
`nextevent bench export-lmms-eval`).

Hook signatures follow lmms-eval's task API (EvolvingLMMs-Lab/lmms-eval, v0.7.3,
``lmms_eval/tasks/videomme/utils.py``: ``doc_to_visual(doc)``,
``doc_to_text(doc, lmms_eval_specific_kwargs)``, ``process_results(doc, results)`` returning
``{metric: value}``, ``aggregate_results(list_of_values)``). The prompt and the score are
`nextevent.bench.prompts`' (`question_text`, `score_response`), the very functions
``nextevent bench eval`` uses, so nextevent must be importable in the lmms-eval
environment (``pip install nextevent``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from nextevent.bench.prompts import question_text, score_response
from nextevent.rewards.format import ANSWER_OPEN

log = logging.getLogger("lmms-eval")


def futurebench_doc_to_visual(doc: dict[str, Any]) -> list[str]:
    """The past clip as a one-element list of paths; empty for text-level items."""
    return [doc["video_path"]] if doc.get("video_path") else []


def futurebench_doc_to_text(doc: dict[str, Any],
                            lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    """`nextevent.bench.prompts.question_text` of the document: ``pre_prompt``, the past
    caption as text (for text-level items or with ``text_only: true``), question, options
    ``A. ...`` one a line, then ``post_prompt`` (default: the instruction of ``mode``,
    ``direct`` unless the kwargs say ``reasoning``)."""
    kw = lmms_eval_specific_kwargs or {}
    past = (str(doc.get("past_caption", "")) if kw.get("text_only") or not doc.get("video_path")
            else None)
    return question_text(doc["question"], doc["options"], kw.get("mode", "direct"), past,
                         pre_prompt=kw.get("pre_prompt") or "",
                         post_prompt=kw.get("post_prompt"))


def futurebench_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """``{"futurebench_accuracy": {"id", "question_type", "pred", "answer", "correct"}}``,
    scored by `nextevent.bench.prompts.score_response`: in ``reasoning`` mode when the
    response holds an ``<answer>`` block, else in ``direct`` mode (lmms-eval passes no
    kwargs here)."""
    response = results[0] if results else ""
    mode = "reasoning" if ANSWER_OPEN in response else "direct"
    pred, correct = score_response(response, doc["answer"], mode)
    return {"futurebench_accuracy": {
        "id": doc["id"], "question_type": doc["question_type"], "pred": pred,
        "answer": doc["answer"], "correct": correct}}


def futurebench_aggregate_results(results: list[dict[str, Any]]) -> float:
    """Overall accuracy in percent (lmms-eval's convention); per-type accuracy is logged."""
    by_type: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        by_type[r["question_type"]].append(bool(r["correct"]))
    for qtype, values in sorted(by_type.items()):
        log.info(f"FutureBench {qtype}: {100 * sum(values) / len(values):.1f}% "
                 f"of {len(values)}")
    return 100.0 * sum(bool(r["correct"]) for r in results) / len(results) if results else 0.0
