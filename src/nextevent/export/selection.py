"""Which samples an export keeps: ``--mix`` proportions, ``--max-samples``, the CFT
wrong:right ratio, all seeded and order-free.

Records are ranked by ``sha256(f"{seed}:{record.id}")`` and ``--max-samples`` keeps the
first ones, so two strategies exported with the same seed and cap draw the same records
wherever both apply. Samples are written in input order. The CFT ratio follows V1's
``convert_to_CFT`` (sail-sg/Video-Next-Event-Prediction ``video_data_generation.py``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nextevent.export.base import export_failure
from nextevent.export.strategies import (
    BUILDERS,
    DEFAULT_CFT_RATIO,
    MIXABLE,
    STRATEGIES,
    Sample,
    StrategyResult,
)
from nextevent.records import Failure, NEPRecord, NextEventError


def parse_mix(text: str) -> dict[str, float]:
    """``"sft=0.5,distill=0.3,cft=0.2"`` as ``{"sft": 0.5, ...}`` (weights are normalised
    by `build_samples`, so ``sft=2,cft=1`` also works).

    Raises:
        ValueError: for a malformed item, an unknown or unmixable strategy, a repeated
            name, or a weight that is not a positive number.
    """
    mix: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"mix item {item!r} is not name=weight (e.g. sft=0.5)")
        if name not in MIXABLE:
            raise ValueError(f"mix item {item!r}: {name!r} is not one of {', '.join(MIXABLE)}")
        if name in mix:
            raise ValueError(f"mix names {name!r} twice")
        try:
            weight = float(value)
        except ValueError:
            raise ValueError(f"mix item {item!r}: {value!r} is not a number") from None
        if not weight > 0 or not math.isfinite(weight):
            raise ValueError(f"mix item {item!r}: the weight must be a positive number")
        mix[name] = weight
    if not mix:
        raise ValueError("the mix is empty; give e.g. sft=0.5,distill=0.3,cft=0.2")
    return mix


def _rank(seed: int, record_id: str) -> str:
    return hashlib.sha256(f"{seed}:{record_id}".encode()).hexdigest()


def _ranked(samples: Sequence[Sample], seed: int) -> list[Sample]:
    return sorted(samples, key=lambda s: (_rank(seed, s.record_id), s.strategy, s.index))


def _quotas(total: int, weights: Mapping[str, float]) -> dict[str, int]:
    """``total`` split by ``weights`` (largest remainder, ties in name order)."""
    norm = sum(weights.values())
    exact = {k: total * w / norm for k, w in weights.items()}
    quotas = {k: math.floor(v) for k, v in exact.items()}
    left = total - sum(quotas.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - quotas[k]), k))[:left]:
        quotas[k] += 1
    return quotas


def cft_select(samples: Sequence[Sample], ratio: float, seed: int,
               max_samples: int | None = None) -> tuple[list[Sample], dict[str, Any]]:
    """Sample CFT samples to ``ratio`` wrong per right, as many as possible.

    All of the scarcer side are kept and the other is cut to ``round(ratio * right)``
    wrong (or ``floor(wrong / ratio)`` right), as V1's ``convert_to_CFT`` does; with
    ``max_samples`` both sides are then scaled down together. Draws follow the seeded
    record ranking. When one side is empty, the other is kept whole.

    Returns:
        ``(selected, report)``: report holds ``wrong``, ``right``, ``available_wrong``,
        ``available_right``, ``target_ratio`` and ``achieved_ratio`` (wrong/right, None
        when no right sample is left).

    Raises:
        ValueError: for a ratio that is not positive.
    """
    if not ratio > 0:
        raise ValueError(f"--cft-ratio must be positive, got {ratio}")
    wrong = _ranked([s for s in samples if s.extra.get("conclusion") == "wrong"], seed)
    right = _ranked([s for s in samples if s.extra.get("conclusion") != "wrong"], seed)
    n_wrong, n_right = len(wrong), len(right)
    if n_wrong and n_right:
        if round(ratio * n_right) <= n_wrong:
            n_wrong = round(ratio * n_right)
        else:
            n_right = min(n_right, math.floor(n_wrong / ratio))
    if max_samples is not None and n_wrong + n_right > max_samples:
        total = n_wrong + n_right
        keep_wrong = round(max_samples * n_wrong / total)
        n_wrong, n_right = keep_wrong, max_samples - keep_wrong
    chosen = {s.key for s in wrong[:n_wrong] + right[:n_right]}
    report = {
        "wrong": n_wrong, "right": n_right,
        "available_wrong": len(wrong), "available_right": len(right),
        "target_ratio": ratio,
        "achieved_ratio": round(n_wrong / n_right, 3) if n_right else None,
    }
    return [s for s in samples if s.key in chosen], report


def _build(records: Sequence[NEPRecord], strategy: str, run_dir: Path,
           media_root: Path | None, seed: int) -> tuple[list[Sample], list[Failure]]:
    builder = BUILDERS[strategy]
    samples: list[Sample] = []
    failures: list[Failure] = []
    for record in records:
        try:
            samples.extend(builder(record, run_dir, media_root, seed))
        except NextEventError as err:
            failures.append(export_failure(err, strategy, record.id))
    return samples, failures


def _cap(samples: list[Sample], max_samples: int | None, seed: int) -> list[Sample]:
    if max_samples is None or len(samples) <= max_samples:
        return samples
    keep = {s.key for s in _ranked(samples, seed)[:max_samples]}
    return [s for s in samples if s.key in keep]


def build_samples(
    records: Iterable[NEPRecord],
    strategy: str,
    run_dir: Path,
    *,
    seed: int = 0,
    media_root: Path | None = None,
    max_samples: int | None = None,
    cft_ratio: float = DEFAULT_CFT_RATIO,
    mix: Mapping[str, float] | None = None,
) -> StrategyResult:
    """Samples of one strategy (or a mix) for ``records``.

    Args:
        records: the records, e.g. ``RunStore(run_dir).records()``.
        strategy: one of `STRATEGIES`.
        run_dir: the run directory clip paths are relative to.
        seed: question wording and selection seed.
        media_root: where V1-33K relative video paths live (see `record_video`).
        max_samples: most samples to keep (seeded choice by record, see module doc);
            for ``mix`` the total the proportions share, default the record count.
        cft_ratio: wrong:right ratio for ``cft`` (also inside a mix).
        mix: for ``mix``, strategy -> weight (see `parse_mix`).

    Returns:
        `StrategyResult`; samples keep the record order.

    Raises:
        ValueError: for an unknown strategy, a ``mix`` without weights (or weights given
            to another strategy), or a ``max_samples`` below 1.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if max_samples is not None and max_samples < 1:
        raise ValueError(f"--max-samples must be at least 1, got {max_samples}")
    if (strategy == "mix") != (mix is not None):
        raise ValueError("give mix weights (--mix sft=0.5,...) exactly when --strategy is mix")
    records = list(records)
    run_dir = Path(run_dir)
    report: dict[str, Any] = {"strategy": strategy, "records": len(records)}
    if strategy != "mix":
        samples, failures = _build(records, strategy, run_dir, media_root, seed)
        if strategy == "cft":
            samples, report["cft"] = cft_select(samples, cft_ratio, seed, max_samples)
        else:
            samples = _cap(samples, max_samples, seed)
        report["samples"] = len(samples)
        return StrategyResult(samples, failures, report)

    assert mix is not None
    for name in mix:
        if name not in MIXABLE:
            raise ValueError(f"{name!r} cannot be mixed; choose from {', '.join(MIXABLE)}")
    total = max_samples if max_samples is not None else len(records)
    quotas = _quotas(total, mix)
    chosen: dict[str, list[Sample]] = {}
    failures = []
    report["mix"] = {}
    for name in mix:
        pool, fails = _build(records, name, run_dir, media_root, seed)
        failures.extend(fails)
        if name == "cft":
            pool, report["cft"] = cft_select(pool, cft_ratio, seed, quotas[name])
        else:
            pool = _cap(pool, quotas[name], seed)
        chosen[name] = pool
        report["mix"][name] = {"asked": quotas[name], "written": len(pool)}
    order = {r.id: i for i, r in enumerate(records)}
    samples = sorted((s for pool in chosen.values() for s in pool),
                     key=lambda s: (order[s.record_id], list(mix).index(s.strategy), s.index))
    report["samples"] = len(samples)
    return StrategyResult(samples, failures, report)
