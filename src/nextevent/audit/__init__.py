"""Blind audit of multiple-choice items (FutureBench, Video-T3): can they be answered
without the video, from how the options were built?

A battery of blind baselines (`nextevent.audit.baselines`: option-only, question-only,
past-text, and optionally a text-only model, `nextevent.audit.model`) predicts a letter
per item without ever reading the key; `audit` scores them per group (question type or
T3 task) with Wilson 95% intervals and applies the gate of `nextevent.audit.report`
(DESIGN.md "Validity": within chance + 5 pp, past text + 10 pp, per group of >= 100).

Typical use inside a builder::

    from nextevent.audit import audit, from_bench
    report = audit(from_bench(items))
    if not report.passed():
        solved = report.solved_by(only_failing=True)  # item id -> shortcut baselines

Cost: word and numeric baselines are plain Python (about 10 s for 15,000 items on one
core); the MiniLM baselines encode each unique event sentence, question and past sentence
once (pass ``vectors=TextVectors(...)`` to keep the encodings across calls, or an
``embedder`` that already holds them; ``baselines=[...]`` without the ``*_minilm`` names
skips the model).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nextevent.audit.baselines import BASELINES, MODEL, predict
from nextevent.audit.embed import TextVectors
from nextevent.audit.items import AuditItem, from_bench, from_t3
from nextevent.audit.report import MARGINS, MIN_ITEMS, AuditReport, Row, score

if TYPE_CHECKING:
    from nextevent.audit.model import ModelBaseline

__all__ = ["BASELINES", "MARGINS", "MIN_ITEMS", "AuditItem", "AuditReport", "Row",
           "TextVectors", "audit", "from_bench", "from_t3", "predict", "score"]


def audit(items: Sequence[AuditItem], *, baselines: Sequence[str] | None = None,
          model: ModelBaseline | None = None, min_items: int = MIN_ITEMS, seed: int = 0,
          embedder: object | None = None, vectors: TextVectors | None = None,
          ) -> AuditReport:
    """Run the blind baselines (and the model baseline when given), score and gate.

    Args:
        items: the items (`from_bench`, `from_t3`); ids must be unique.
        baselines: names from `BASELINES`; None runs all.
        model: a text-only model baseline (`nextevent.audit.model.ModelBaseline`).
        min_items: fewest items in a group for the gate to apply.
        seed: seed of tie breaks (and of the model's option shuffles).
        embedder: encoder for the MiniLM baselines (None: all-MiniLM-L6-v2, offline).
        vectors: a `TextVectors` to reuse across calls (keeps its encodings).

    Returns:
        The `AuditReport` (``passed()``, ``failing()``, ``to_json()``, ``solved_by()``).

    Raises:
        ValueError: for an unknown baseline, duplicate item ids or an item with fewer
            than 2 options.
    """
    counts = Counter(i.id for i in items)
    if len(counts) != len(items):
        dup = next(i for i, c in counts.items() if c > 1)
        raise ValueError(f"item ids must be unique; {dup!r} repeats")
    preds = predict(items, baselines=baselines, embedder=embedder, seed=seed,
                    vectors=vectors)
    families = {name: BASELINES[name].family for name in preds}
    if model is not None:
        preds[model.name] = model.predict(items, seed=seed)
        families[model.name] = MODEL
    return score(items, preds, families, min_items=min_items)
