"""The build gate of ``t3 synth``: the blind audit (`nextevent.audit`) on the
multiple-choice items, and what to do when a baseline solves a task.

Gate (DESIGN.md "Validity", issue 12): in every task with at least ``min_items``
multiple-choice items, no option-only or question-only baseline may score above chance
+ 5 percentage points (`nextevent.audit.report`). The generators make that hold by
construction (exchangeable orbits, `nextevent.t3.items.Orbit`); the gate checks it on
the items actually written, and

* ``drop``: while a (task, baseline) row fails, drops whole orbits of that task in
  which the baseline does best (most solved members first) until its accuracy is at
  most chance + half the margin, and audits again (at most ``max_rounds`` times);
  every other baseline is re-checked each round;
* ``fail``: stops at the first audit that fails;
* ``off``: does not audit.

Either way, a gate that still fails raises `NextEventError` naming every failing
baseline and task with its accuracy, chance and item count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nextevent.records import NextEventError
from nextevent.t3.items import T3Item

GATE_MODES: tuple[str, ...] = ("drop", "fail", "off")


@dataclass
class GateResult:
    """What the gate did.

    Attributes:
        mode: ``drop``, ``fail`` or ``off``.
        passed: whether the last audit passed (None when ``off``).
        rounds: audits run.
        dropped: items dropped, per task.
        first, last: per task, the best baseline row of the first and of the last
            audit (``baseline``, ``family``, ``accuracy``, ``chance``, ``n``).
        report: the last `nextevent.audit.AuditReport`'s ``to_json()``.
    """

    mode: str
    passed: bool | None = None
    rounds: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    first: dict[str, dict[str, Any]] = field(default_factory=dict)
    last: dict[str, dict[str, Any]] = field(default_factory=dict)
    report: dict[str, Any] | None = None


def _best(report: Any) -> dict[str, dict[str, Any]]:
    return {g: {"baseline": r.baseline, "family": r.family, "accuracy": round(r.accuracy, 4),
                "chance": round(r.chance, 4), "n": r.n}
            for g, r in sorted(report.best().items())}


def describe(rows: Sequence[Any]) -> str:
    """One clause per failing audit row: task, baseline, family, accuracy vs chance."""
    return "; ".join(f"task {r.group}: baseline {r.baseline} ({r.family}) scores "
                     f"{100 * r.accuracy:.1f}% on {r.n} items, chance {100 * r.chance:.1f}% "
                     f"+ {100 * r.margin:.0f} pp allowed" for r in rows)


def gate(items: Sequence[T3Item], *, mode: str = "drop", min_items: int = 100,
         baselines: Sequence[str] | None = None, vectors: Any = None, seed: int = 0,
         max_rounds: int = 6) -> tuple[list[T3Item], GateResult]:
    """Audit ``items`` and apply the gate (module docstring).

    Args:
        items: the synthesized items (open items pass through untouched).
        mode: one of `GATE_MODES`.
        min_items: fewest multiple-choice items of a task for the gate to apply.
        baselines: audit baseline names (None: all of `nextevent.audit.BASELINES`).
        vectors: a `nextevent.audit.TextVectors` to reuse, or None.
        seed: seed of the audit's tie breaks.
        max_rounds: most audits in ``drop`` mode.

    Returns:
        The kept items (in input order) and the `GateResult`.

    Raises:
        NextEventError: stage ``t3``, when the gate fails (``fail``, or ``drop`` after
            ``max_rounds``), naming each failing task and baseline; or when the audit
            package cannot be imported.
        ValueError: for an unknown mode or baseline name.
    """
    if mode not in GATE_MODES:
        raise ValueError(f"unknown gate mode {mode!r}; choose from {', '.join(GATE_MODES)}")
    result = GateResult(mode)
    kept = list(items)
    if mode == "off":
        return kept, result
    try:
        from nextevent.audit import TextVectors, audit, from_t3
    except ImportError as err:  # pragma: no cover - the audit ships with the package
        raise NextEventError("t3", f"the blind audit cannot be loaded ({err})",
                             "install nextevent with its audit package, or pass --gate off"
                             ) from err
    uses_minilm = baselines is None or any("minilm" in b for b in baselines)
    if vectors is None and uses_minilm:
        vectors = TextVectors()
    dropped: dict[str, int] = defaultdict(int)
    while True:
        audited = from_t3(kept)
        report = audit(audited, baselines=baselines, min_items=min_items, seed=seed,
                       vectors=vectors)
        result.rounds += 1
        if result.rounds == 1:
            result.first = _best(report)
        result.last = _best(report)
        result.report = report.to_json()
        failing = report.failing()
        result.passed = not failing
        if not failing:
            break
        if mode == "fail" or result.rounds >= max_rounds:
            raise NextEventError(
                "t3", f"the blind audit gate failed after {result.rounds} audit(s): "
                f"{describe(failing)}",
                "these options carry a shortcut a baseline reads without the frames; rerun "
                "with --gate drop to drop the items it solves, or report the generator")
        answers = {a.id: a for a in audited}
        drop_ids: set[str] = set()
        for row in failing:
            drop_ids |= _orbits_to_drop(kept, answers, report.predictions[row.baseline],
                                        row)
        if not drop_ids:
            raise NextEventError("t3", f"the blind audit gate failed: {describe(failing)}; "
                                 "no orbit could be dropped to fix it",
                                 "report the generator of the named task")
        for item in kept:
            if item.id in drop_ids:
                dropped[item.task] += 1
        kept = [i for i in kept if i.id not in drop_ids]
    result.dropped = dict(dropped)
    return kept, result


def _orbits_to_drop(items: Sequence[T3Item], audited: dict[str, Any],
                    predictions: dict[str, str | None], row: Any) -> set[str]:
    """Ids of the items of the fewest whole orbits of ``row.group`` whose removal brings
    ``row.baseline``'s accuracy to at most chance + half the margin."""
    orbits: dict[str, list[T3Item]] = defaultdict(list)
    for item in items:
        if item.task == row.group:
            orbits[str(item.meta.get("orbit", item.id))].append(item)
    stats = []
    hits_total, n_total, chance_total = 0.0, 0, 0.0
    for key, members in orbits.items():
        hits, n, chance = 0.0, 0, 0.0
        for item in members:
            a = audited.get(item.id)
            if a is None:
                continue
            n += 1
            chance += 1 / len(a.options)
            letter = predictions.get(item.id)
            hits += (1 / len(a.options)) if letter is None else float(letter == a.answer)
        hits_total += hits
        n_total += n
        chance_total += chance
        if n:
            stats.append(((hits - chance) / n, hits, n, chance, key))
    target = row.margin / 2
    stats.sort(key=lambda s: (-s[0], s[4]))
    drop: set[str] = set()
    for excess, hits, n, chance, key in stats:
        if n_total <= 0 or (hits_total - chance_total) / n_total <= target or excess <= 0:
            break
        drop.update(i.id for i in orbits[key])
        hits_total -= hits
        n_total -= n
        chance_total -= chance
    return drop
