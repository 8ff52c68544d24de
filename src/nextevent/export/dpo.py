"""DPO preference pairs (``--strategy dpo``): from the critic's verdicts on a record's K
predictions (``--dpo-pairs verdicts``, the default) or against the reference
``caption_part2`` (``--dpo-pairs reference``), and the counts an export reports.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nextevent.export.questions import nep_question
from nextevent.export.strategies import (
    DISTILL_SYSTEM,
    Sample,
    _critique,
    _rewritten,
    _sample,
    record_video,
    think_answer,
)
from nextevent.records import NEPRecord, NextEventError, PredictionSample

DPO_PAIRINGS: tuple[str, ...] = ("verdicts", "reference")
"""``--dpo-pairs``: ``verdicts`` (`dpo_verdict_samples`, the default) or ``reference``
(`dpo_samples`)."""

DEFAULT_DPO_MAX_PAIRS = 4
"""Most DPO pairs per split (``--dpo-max-pairs``)."""


def _judged_rewritten(record: NEPRecord, strategy: str
                      ) -> tuple[list[PredictionSample], list[PredictionSample]]:
    """The record's rewritten predictions judged right and judged wrong, in sample order.

    Raises:
        NextEventError: (stage ``export``) when the record has no prediction or no verdict.
    """
    predictions = record.predictions
    if not predictions:
        raise NextEventError(
            "export", f"record {record.id} has no reasoning; {strategy} needs predictions "
            "judged by the critic",
            "run the predict, rewrite and critique stages (nextevent build --llm-config "
            "--predictions K), or export it with --strategy sft")
    if not record.verdicts:
        raise NextEventError(
            "export", f"record {record.id} has no critique; {strategy} needs predictions "
            "judged by the critic",
            "run the critique stage, or export it with --strategy sft")
    right, wrong = [], []
    for sample in predictions:
        r = sample.reasoning
        if sample.critique is None or not (r.rewritten_reasoning_content
                                           and r.rewritten_prediction_content):
            continue
        (right if sample.critique.conclusion == "right" else wrong).append(sample)
    return right, wrong


def _pair_rank(seed: int, record_id: str, chosen: int, rejected: int) -> str:
    return hashlib.sha256(f"{seed}:dpo:{record_id}:{chosen}:{rejected}".encode()).hexdigest()


def dpo_verdict_samples(record: NEPRecord, run_dir: Path, media_root: Path | None, seed: int,
                        max_pairs: int = DEFAULT_DPO_MAX_PAIRS) -> list[Sample]:
    """Preference pairs from the critic's verdicts on the record's K predictions
    (``build --predictions K``), on the NEP prompt (past segment + question), with
    `DISTILL_SYSTEM`.

    Chosen: a prediction judged ``right``, rejected: one judged ``wrong``, of the same
    split, both rewritten (step 7) and written as `think_answer` (reasoning and
    prediction). Every right x wrong combination is a pair; above ``max_pairs`` the
    first ``max_pairs`` by ``sha256(f"{seed}:dpo:{record_id}:{right}:{wrong}")`` are kept,
    written in sample order. ``extra`` names the two samples (``chosen_sample``,
    ``rejected_sample``); the sample index counts the record's pairs.

    Raises:
        NextEventError: (stage ``export``) without predictions or verdicts, or when no
            rewritten prediction was judged right (``no prediction judged right``) or none
            wrong (``no prediction judged wrong``): such a split has nothing to pair.
    """
    right, wrong = _judged_rewritten(record, "dpo")
    for side, name, other in ((right, "right", "wrong"), (wrong, "wrong", "right")):
        if not side:
            raise NextEventError(
                "export", f"record {record.id}: no prediction judged {name} (of "
                f"{len(record.verdicts)} judged, rewritten ones only), so DPO has no "
                f"{'chosen' if name == 'right' else 'rejected'} answer for it",
                f"nothing to fix: its predictions were all judged {other}; raise "
                "--predictions on the build for more samples, or pair against the "
                "reference with --dpo-pairs reference")
    pairs = sorted(((c, r) for c in right for r in wrong),
                   key=lambda p: _pair_rank(seed, record.id, p[0].index, p[1].index))
    pairs = sorted(pairs[:max_pairs], key=lambda p: (p[0].index, p[1].index))
    video = record_video(record, "past", run_dir, media_root)
    question = nep_question(record.id, seed)

    def text(sample: PredictionSample) -> str:
        r = sample.reasoning
        return think_answer(r.rewritten_reasoning_content or "",
                            r.rewritten_prediction_content or "")

    return [_sample(record, "dpo", question, text(c), video, rejected=text(r),
                    system=DISTILL_SYSTEM, reference=record.caption_part2, task="nep",
                    index=i, extra={"chosen_sample": c.index, "rejected_sample": r.index})
            for i, (c, r) in enumerate(pairs)]


def dpo_samples(record: NEPRecord, run_dir: Path, media_root: Path | None, seed: int,
                max_pairs: int = DEFAULT_DPO_MAX_PAIRS) -> list[Sample]:
    """Preference pairs against the reference (``--dpo-pairs reference``), on the NEP
    prompt (past segment + question): chosen = ``caption_part2`` (what did happen),
    rejected = a rewritten prediction judged ``wrong`` (its prediction text). With K
    predictions each wrong one is a pair, up to ``max_pairs`` (the first wrong ones in
    sample order). A record with no prediction judged wrong has no rejected answer and is
    skipped (it still serves sft, distill and cft).

    Raises:
        NextEventError: (stage ``export``) without a critique or prediction, or when no
            prediction was judged wrong.
    """
    if not record.samples:  # one prediction: the errors name what it lacks
        _rewritten(record, "dpo")
        _critique(record, "dpo")
    _, wrong = _judged_rewritten(record, "dpo")
    if not wrong:
        only = "its only prediction was" if len(record.predictions) == 1 else (
            "every prediction was")
        raise NextEventError(
            "export", f"record {record.id}: {only} judged right, so DPO has no rejected "
            "answer for it",
            "nothing to fix: DPO pairs come from predictions judged wrong; use this record "
            "with --strategy sft, distill or cft",
        )
    video = record_video(record, "past", run_dir, media_root)
    question = nep_question(record.id, seed)
    return [_sample(record, "dpo", question, record.caption_part2, video,
                    rejected=(w.reasoning.rewritten_prediction_content or "").strip(),
                    reference=record.caption_part2, task="nep", index=i,
                    extra={"rejected_sample": w.index} if record.samples else {})
            for i, w in enumerate(wrong[:max_pairs])]


def dpo_report(records: Iterable[NEPRecord], samples: Iterable[Sample], pairing: str,
               max_pairs: int) -> dict[str, Any]:
    """The DPO facts of an export: the pairing, pairs written, splits paired, and the
    splits with no prediction judged right (``no_right``), none judged wrong
    (``no_wrong``) or none judged at all (``unjudged``), over the records given."""
    counts = {"no_right": 0, "no_wrong": 0, "unjudged": 0}
    for record in records:
        verdicts = record.verdicts
        if not verdicts:
            counts["unjudged"] += 1
        elif "right" not in verdicts:
            counts["no_right"] += 1
        elif "wrong" not in verdicts:
            counts["no_wrong"] += 1
    samples = list(samples)
    return {"pairing": pairing, "max_pairs": max_pairs, "pairs": len(samples),
            "splits_paired": len({s.record_id for s in samples}), **counts}
