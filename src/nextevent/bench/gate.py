"""The build gate of FutureBench: the blind audit decides what a build may publish.

After `nextevent.bench.build.build_items`, `gate` runs the blind baseline battery of
`nextevent.audit` (option-only, question-only, past-text; DESIGN.md "Validity") per
question type. Gate (`nextevent.audit.report`): in a type with at least ``min_items``
items, an option-only or question-only baseline above chance + 5 pp fails, and a
past-text baseline above chance + 10 pp.

When a baseline fails, the items it solves are removed **a whole group at a time**: an
exchangeable group (`nextevent.bench.groups`) is symmetric only as a whole (dropping one
of its 4 items would leave an option set in which every option-only rule is right on
1 of 3 items instead of 1 of 4). Every group in which the failing baseline picks the key
3 or 4 times goes (an option-only rule is right exactly once in an intact group), then
groups it solves twice, most solved first, until the baseline is back at chance on what
is left (not merely within the margin: a baseline that failed found a real shortcut);
the audit is then run again (another baseline may now fail), up to ``rounds`` times.
If fixing a baseline would drop more than ``max_drop`` of a type's items, or a type is
still failing after the rounds, the build stops with a `NextEventError` naming the
baseline, its family and the type: that is a shortcut in the construction, not noise,
and dropping items would hide it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nextevent.records import BenchItem, Failure, NextEventError

MAX_DROP = 0.25
"""Largest fraction of a type's items the gate may drop to fix one baseline."""
ROUNDS = 4
"""Audit rounds (each may drop groups) before the gate gives up."""


@dataclass
class GateResult:
    """What the gate kept and why.

    Attributes:
        items: the items that passed (whole groups).
        report: the last `nextevent.audit.AuditReport` (on ``items``).
        dropped: one dict per dropped group: ``group``, ``type``, ``baseline``,
            ``solved`` (of its 4 items), ``round``.
        failures: one `Failure` (stage ``bench-gate``) per dropped item.
        rounds: audit rounds run.
    """

    items: list[BenchItem]
    report: Any
    dropped: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    rounds: int = 0

    def summary(self) -> dict[str, Any]:
        """JSON-ready: ``passed``, ``rounds``, ``dropped_groups`` and ``dropped_items`` per
        type and baseline, ``best`` baseline per type, the full audit table."""
        dropped: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for d in self.dropped:
            dropped[d["type"]][d["baseline"]] += 1
        audit = self.report.to_json()
        return {"passed": audit["passed"], "rounds": self.rounds,
                "dropped_groups": {t: dict(v) for t, v in dropped.items()},
                "dropped_items": len(self.failures),
                "best": {g: (info["best"] and {k: info["best"][k] for k in (
                    "baseline", "family", "accuracy", "chance", "margin", "n")})
                    for g, info in audit["groups"].items()},
                "audit": audit}


def group_of(item: BenchItem) -> str:
    """The exchangeable group an item belongs to (``meta.group``, set by
    `nextevent.bench.build`); an item without one is a group of its own (its id)."""
    return str(item.meta.get("group", item.id))


def gate(items: Sequence[BenchItem], *, vectors: Any = None, min_items: int | None = None,
         seed: int = 0, max_drop: float = MAX_DROP, rounds: int = ROUNDS) -> GateResult:
    """Audit ``items`` and drop whole groups until the gate holds (module docstring).

    Args:
        items: the built items (``meta.group`` names each item's group).
        vectors: a `nextevent.audit.embed.TextVectors` to reuse (MiniLM encodings).
        min_items: fewest items of a type for the gate to apply (None: the audit's 100).
        seed: seed of the baselines' tie breaks.
        max_drop: largest fraction of a type's items dropped to fix one baseline.
        rounds: audit rounds before giving up.

    Returns:
        The `GateResult` (its ``report.passed()`` is True).

    Raises:
        NextEventError: stage ``bench``, naming the failing baseline, family and type,
            when the gate cannot be met within ``max_drop`` and ``rounds``.
    """
    from nextevent.audit import MIN_ITEMS, audit, from_bench

    limit_items = MIN_ITEMS if min_items is None else min_items
    kept = list(items)
    result = GateResult(kept, None)
    for round_no in range(1, rounds + 1):
        report = audit(from_bench(kept), min_items=limit_items, seed=seed, vectors=vectors)
        result.report, result.rounds, result.items = report, round_no, kept
        failing = report.failing()
        if not failing:
            return result
        if round_no == rounds:
            break
        drop: set[str] = set()
        for row in failing:
            members = [i for i in kept if i.question_type == row.group]
            groups = _groups_to_drop(members, report.predictions[row.baseline],
                                     row.chance, max_drop)
            if groups is None:
                raise _gate_error(row, "dropping the groups it solves would remove more than "
                                  f"{max_drop:.0%} of the {row.group} items")
            for gid, solved in groups:
                if gid not in drop:
                    result.dropped.append({"group": gid, "type": row.group,
                                           "baseline": row.baseline, "solved": solved,
                                           "round": round_no})
                drop.add(gid)
        for item in kept:
            if group_of(item) in drop:
                reason = next(d for d in result.dropped if d["group"] == group_of(item))
                result.failures.append(Failure(
                    input=str(item.meta.get("source_record", item.id)), stage="bench-gate",
                    error=f"{item.question_type}: group {reason['group']} dropped by the "
                    f"build gate: the blind baseline {reason['baseline']} picks the key in "
                    f"{reason['solved']} of its 4 items",
                    hint="the rest of the benchmark stays within the gate",
                    key=f"bench-gate:{item.id}"))
        kept = [i for i in kept if group_of(i) not in drop]
    row = report.failing()[0]
    raise _gate_error(row, f"still failing after {rounds} audit rounds")


def _groups_to_drop(members: Sequence[BenchItem], predictions: dict[str, str | None],
                    limit: float, max_drop: float) -> list[tuple[str, int]] | None:
    """Groups to drop: every group the baseline solves 3+ times, then groups it solves 2
    times (most solved first) until its accuracy on ``members`` is at most ``limit`` (its
    chance); None when that is not reached or would drop more than ``max_drop`` of
    ``members``."""
    hits: dict[str, float] = defaultdict(float)
    size: dict[str, int] = defaultdict(int)
    solved: dict[str, int] = defaultdict(int)
    for item in members:
        g = group_of(item)
        size[g] += 1
        pick = predictions.get(item.id)
        if pick is None:
            hits[g] += 1 / len(item.qa.Options)
        elif pick == item.qa.Answer:
            hits[g] += 1
            solved[g] += 1
    total_hits, total_n = sum(hits.values()), len(members)
    out: list[tuple[str, int]] = []
    for g in sorted((g for g in size if solved[g] >= 2), key=lambda g: (-hits[g], g)):
        if solved[g] < 3 and total_n and total_hits / total_n <= limit + 1e-9:
            break
        total_hits -= hits[g]
        total_n -= size[g]
        out.append((g, solved[g]))
    dropped = sum(size[g] for g, _ in out)
    if (total_n and total_hits / total_n > limit + 1e-9) or dropped > max_drop * len(members):
        return None
    return out


def _gate_error(row: Any, why: str) -> NextEventError:
    return NextEventError(
        "bench", f"the build gate fails for {row.group}: the blind {row.family} baseline "
        f"{row.baseline} answers {row.accuracy:.1%} of {row.n} items without the video "
        f"(chance {row.chance:.1%}, allowed up to {row.chance + row.margin:.1%}); {why}",
        "the options carry a shortcut this baseline finds: check how the options are built "
        "(`nextevent bench audit BENCH.jsonl` lists every baseline), or build this type "
        "without it (--types)")
