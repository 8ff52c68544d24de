"""Score blind predictions against the key, per group, and apply the gate.

Gate (issue 12; DESIGN.md "Validity"): in every group with at least ``min_items`` items,
an ``option-only``, ``question-only`` or ``model`` baseline whose accuracy (point
estimate) is above chance + 5 percentage points fails the audit, and so does a
``past-text`` baseline above chance + 10 points (the past caption is the video's
content, so some signal is legitimate). Smaller groups are reported, not gated.

Accuracy counts an abstention as a random guess: ``1/len(options)`` of a hit, the
expected accuracy of guessing. Chance is the mean of ``1/len(options)`` over the group's
items. The 95% interval is Wilson's score interval (Wilson, JASA 1927) of that accuracy
over ``n`` items.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from nextevent.audit.baselines import MODEL, OPTION_ONLY, PAST_TEXT, QUESTION_ONLY
from nextevent.audit.items import AuditItem
from nextevent.bench.stats import Z95

MARGINS: dict[str, float] = {OPTION_ONLY: 0.05, QUESTION_ONLY: 0.05, PAST_TEXT: 0.10,
                             MODEL: 0.05}
"""Family -> how far above chance (fraction) a gated baseline may score."""
MIN_ITEMS = 100
"""Fewest items in a group for the gate to apply."""


def wilson(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of an observed proportion ``p`` over ``n`` trials (``p`` may
    be fractional, e.g. with abstentions counted at their expected value); ``(0, 0)``
    for ``n == 0``."""
    if n <= 0:
        return (0.0, 0.0)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Row:
    """One baseline on one group.

    Attributes:
        baseline, family: which baseline (`nextevent.audit.baselines.BASELINES`, or the
            model's name) and its family.
        group: the group (question type or T3 task).
        n: items in the group.
        answered: items the baseline did not abstain on.
        accuracy: hits plus ``1/len(options)`` per abstention, over ``n`` (fraction).
        ci_low, ci_high: Wilson 95% interval of ``accuracy``.
        chance: mean ``1/len(options)`` (fraction).
        margin: the family's allowed margin over chance (fraction).
        gated: ``n >= min_items``.
        exceeds: ``accuracy > chance + margin``.
    """

    baseline: str
    family: str
    group: str
    n: int
    answered: int
    accuracy: float
    ci_low: float
    ci_high: float
    chance: float
    margin: float
    gated: bool
    exceeds: bool

    @property
    def fails(self) -> bool:
        """Whether this row breaks the gate (gated and above chance + margin)."""
        return self.gated and self.exceeds


@dataclass
class AuditReport:
    """The audit of a set of items: one `Row` per (baseline, group) the baseline
    answered at least once, plus the raw predictions.

    Attributes:
        rows: the rows, by group then baseline.
        min_items: the gate's group size threshold.
        predictions: baseline -> item id -> letter or None.
        correct: baseline -> ids of the items it picked the key of.
        groups: group -> ``{"n", "chance"}``.
        item_groups: item id -> its group.
    """

    rows: list[Row]
    min_items: int
    predictions: dict[str, dict[str, str | None]] = field(default_factory=dict)
    correct: dict[str, set[str]] = field(default_factory=dict)
    groups: dict[str, dict[str, float]] = field(default_factory=dict)
    item_groups: dict[str, str] = field(default_factory=dict)

    def failing(self) -> list[Row]:
        """Rows that break the gate."""
        return [r for r in self.rows if r.fails]

    def passed(self) -> bool:
        """True when no row breaks the gate."""
        return not self.failing()

    def best(self) -> dict[str, Row]:
        """Group -> its most accurate baseline row (by accuracy over chance + margin,
        then accuracy)."""
        out: dict[str, Row] = {}
        for r in self.rows:
            cur = out.get(r.group)
            key = (r.accuracy - r.chance - r.margin, r.accuracy)
            if cur is None or key > (cur.accuracy - cur.chance - cur.margin, cur.accuracy):
                out[r.group] = r
        return out

    def solved_by(self, only_failing: bool = False) -> dict[str, list[str]]:
        """Item id -> the baselines that picked its key (items no baseline solved are
        absent): what a builder drops or rebuilds.

        With 25-odd baselines nearly every item is solved by some baseline by luck;
        ``only_failing=True`` keeps only the (baseline, group) pairs that break the gate,
        the shortcuts worth rebuilding items for.
        """
        failing = {(r.baseline, r.group) for r in self.failing()}
        out: dict[str, list[str]] = defaultdict(list)
        for name, ids in self.correct.items():
            for i in sorted(ids):
                if not only_failing or (name, self.item_groups.get(i)) in failing:
                    out[i].append(name)
        return dict(out)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: ``passed``, ``min_items``, ``margins``, ``groups`` (per
        group ``n``, ``chance``, ``gated``, ``best`` row, ``failing`` baseline names) and
        all ``rows``."""
        best = self.best()
        groups = {}
        for g, info in self.groups.items():
            groups[g] = {**info, "gated": info["n"] >= self.min_items,
                         "best": asdict(best[g]) if g in best else None,
                         "failing": [r.baseline for r in self.rows if r.group == g and r.fails]}
        return {"passed": self.passed(), "min_items": self.min_items, "margins": MARGINS,
                "groups": groups, "rows": [asdict(r) for r in self.rows]}


def score(items: Sequence[AuditItem], predictions: Mapping[str, Mapping[str, str | None]],
          families: Mapping[str, str], *, min_items: int = MIN_ITEMS) -> AuditReport:
    """Score predictions against the keys and build the report.

    Args:
        items: the items (the only place ``answer`` is read).
        predictions: baseline -> item id -> letter or None (`nextevent.audit.predict`).
        families: baseline -> family.
        min_items: fewest items for a group to be gated.

    Raises:
        KeyError: when a baseline has no family.
    """
    by_group: dict[str, list[AuditItem]] = defaultdict(list)
    for item in items:
        by_group[item.group].append(item)
    rows: list[Row] = []
    correct: dict[str, set[str]] = {}
    groups: dict[str, dict[str, float]] = {}
    for group in sorted(by_group):
        members = by_group[group]
        n = len(members)
        chance = sum(1 / len(i.options) for i in members) / n
        groups[group] = {"n": n, "chance": chance}
        for name, preds in predictions.items():
            family = families[name]
            margin = MARGINS[family]
            hits, answered = 0.0, 0
            for item in members:
                letter = preds.get(item.id)
                if letter is None:
                    hits += 1 / len(item.options)
                    continue
                answered += 1
                if letter == item.answer:
                    hits += 1
                    correct.setdefault(name, set()).add(item.id)
            if not answered:
                continue
            acc = hits / n
            lo, hi = wilson(acc, n)
            rows.append(Row(name, family, group, n, answered, acc, lo, hi, chance, margin,
                            n >= min_items, acc > chance + margin + 1e-12))
    return AuditReport(rows, min_items, {k: dict(v) for k, v in predictions.items()},
                       correct, groups, {i.id: i.group for i in items})


def group_summary(data: Mapping[str, Any], top: int = 3) -> list[dict[str, Any]]:
    """Per group of an `AuditReport.to_json` dict (also as read back from JSON): ``group``,
    ``n``, ``chance``, ``gated``, ``top`` (the ``top`` most accurate rows) and
    ``failing`` (rows breaking the gate, most accurate first)."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in data["rows"]:
        rows[r["group"]].append(r)
    out = []
    for g, info in data["groups"].items():
        ranked = sorted(rows[g], key=lambda r: (-r["accuracy"], r["baseline"]))
        out.append({"group": g, "n": info["n"], "chance": info["chance"],
                    "gated": info["gated"], "top": ranked[:top],
                    "failing": [r for r in ranked if r["gated"] and r["exceeds"]]})
    return out
