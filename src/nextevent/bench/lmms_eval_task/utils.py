"""lmms-eval hooks of the local FutureBench task (copied next to the YAML by
`nextevent bench export-lmms-eval`).

Hook signatures follow lmms-eval's task API (EvolvingLMMs-Lab/lmms-eval, v0.7.3,
``lmms_eval/tasks/videomme/utils.py``: ``doc_to_visual(doc)``,
``doc_to_text(doc, lmms_eval_specific_kwargs)``, ``process_results(doc, results)`` returning
``{metric: value}``, ``aggregate_results(list_of_values)``). The answer letter is read by
`nextevent.rewards.mcq.extract_choice` (the extractor every nextevent scorer shares), so
nextevent must be importable in the lmms-eval environment (``pip install nextevent``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from nextevent.rewards.mcq import extract_choice

log = logging.getLogger("lmms-eval")


def futurebench_doc_to_visual(doc: dict[str, Any]) -> list[str]:
    """The past clip as a one-element list of paths; empty for text-level items."""
    return [doc["video_path"]] if doc.get("video_path") else []


def futurebench_doc_to_text(doc: dict[str, Any],
                            lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    """Question, options ``A. ...`` one a line, then the post prompt; the past caption is
    given as text for text-level items or with ``text_only: true``."""
    kw = lmms_eval_specific_kwargs or {}
    lines = [kw.get("pre_prompt", "")] if kw.get("pre_prompt") else []
    if kw.get("text_only") or not doc.get("video_path"):
        lines.append(f"What happened so far (in place of the video): {doc['past_caption']}")
    lines.append(doc["question"])
    lines += [f"{x}. {doc['options'][x]}" for x in "ABCD"]
    lines.append(kw.get("post_prompt", "Answer with the option's letter from the given "
                        "choices directly."))
    return "\n".join(lines)


def futurebench_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """``{"futurebench_accuracy": {"id", "question_type", "pred", "answer", "correct"}}``."""
    response = results[0] if results else ""
    mode = "reasoning" if "<answer>" in response else "direct"
    pred = extract_choice(response, mode)
    return {"futurebench_accuracy": {
        "id": doc["id"], "question_type": doc["question_type"], "pred": pred,
        "answer": doc["answer"], "correct": pred == doc["answer"]}}


def futurebench_aggregate_results(results: list[dict[str, Any]]) -> float:
    """Overall accuracy in percent (lmms-eval's convention); per-type accuracy is logged."""
    by_type: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        by_type[r["question_type"]].append(bool(r["correct"]))
    for qtype, values in sorted(by_type.items()):
        log.info(f"FutureBench {qtype}: {100 * sum(values) / len(values):.1f}% "
                 f"of {len(values)}")
    return 100.0 * sum(bool(r["correct"]) for r in results) / len(results) if results else 0.0
