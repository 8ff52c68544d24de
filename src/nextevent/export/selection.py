"""Which samples an export keeps: ``--mix`` proportions, ``--max-samples``, the CFT
wrong:right ratio, all seeded and order-free; and by difficulty: ``--min-pass-rate`` /
``--max-pass-rate`` keep the records whose pass rate (`NEPRecord.pass_rate`: predictions
judged right / judged, ``build --predictions K``) lies within the bounds, and
``--curriculum easy-to-hard`` writes the samples by pass rate, highest first.

GRPO learns nothing from a group whose samples are all right or all wrong (every
advantage is 0); DAPO's dynamic sampling (Yu et al., arXiv 2503.14476) and EasyR1's
online filtering drop such prompts while training. With K predictions per split the
build has already drawn such a group, so ``--min-pass-rate 0.01 --max-pass-rate 0.99``
drops those splits before training. Records are filtered before any sample is made, so
the caps, the mix and the CFT ratio apply to the records kept.

Records are ranked by ``sha256(f"{seed}:{record.id}")`` and ``--max-samples`` keeps the
first ones, so two strategies exported with the same seed and cap draw the same records
wherever both apply. Samples are written in input order. The CFT ratio follows V1's
``convert_to_CFT`` (sail-sg/Video-Next-Event-Prediction ``video_data_generation.py``).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nextevent.export.base import export_failure
from nextevent.export.dpo import (
    DEFAULT_DPO_MAX_PAIRS,
    DPO_PAIRINGS,
    dpo_report,
    dpo_samples,
    dpo_verdict_samples,
)
from nextevent.export.strategies import (
    BUILDERS,
    DEFAULT_CFT_RATIO,
    MIXABLE,
    STRATEGIES,
    Builder,
    Sample,
    StrategyResult,
)
from nextevent.records import Failure, NEPRecord, NextEventError

MAX_CFT_RATIO = 1000.0
"""Most wrong CFT samples per right one (``--cft-ratio``). Any ratio above the number of
wrong samples keeps every wrong one and no right one, so a larger bound would change
nothing below 1000 wrong samples; ``inf`` would overflow the count."""

NO_PREDICTIONS = ("the run has no predictions: build it with --llm-config <config> "
                  "--predictions K (K >= 1) so each record gets predictions and verdicts")
"""What the summary and the hints say when a difficulty option finds nothing to read."""


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


CURRICULA: tuple[str, ...] = ("easy-to-hard",)
"""``--curriculum`` orders: ``easy-to-hard`` writes samples by their record's pass rate,
highest first (stable: ties by record id, then the strategy's own order); records without
a verdict come last."""

SAMPLE_REWARDS: tuple[str, ...] = ("rouge_l", "similarity")
"""``--sample-reward`` names: the `nextevent.rewards.NEPReward` content component a
record's predictions are scored with against ``caption_part2`` (``similarity`` needs the
embedding model: ``pip install 'nextevent[rewards]'``)."""


def check_pass_rates(min_pass_rate: float | None, max_pass_rate: float | None) -> None:
    """Refuse pass-rate bounds outside [0, 1] or a minimum above the maximum.

    Raises:
        ValueError: naming the option.
    """
    for name, value in (("--min-pass-rate", min_pass_rate), ("--max-pass-rate", max_pass_rate)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1 (a share of the predictions "
                             f"judged right), got {value}")
    if min_pass_rate is not None and max_pass_rate is not None and min_pass_rate > max_pass_rate:
        raise ValueError(f"--min-pass-rate {min_pass_rate} is above --max-pass-rate "
                         f"{max_pass_rate}: no record could be kept")


def filter_pass_rate(records: Sequence[NEPRecord], min_pass_rate: float | None,
                     max_pass_rate: float | None) -> tuple[list[NEPRecord], dict[str, Any]]:
    """The records whose pass rate lies in ``[min_pass_rate, max_pass_rate]`` (inclusive;
    None: no bound on that side). With a bound set, a record without any verdict is left
    out (its difficulty is unknown).

    Returns:
        ``(kept, report)``: report holds the bounds and the counts ``kept``, ``below``,
        ``above`` and ``unjudged``.

    Raises:
        ValueError: as `check_pass_rates`.
    """
    check_pass_rates(min_pass_rate, max_pass_rate)
    counts = {"kept": 0, "below": 0, "above": 0, "unjudged": 0}
    kept = []
    for record in records:
        rate = record.pass_rate
        if rate is None:
            why = "unjudged"
        elif min_pass_rate is not None and rate < min_pass_rate:
            why = "below"
        elif max_pass_rate is not None and rate > max_pass_rate:
            why = "above"
        else:
            why = "kept"
            kept.append(record)
        counts[why] += 1
    return kept, {"min": min_pass_rate, "max": max_pass_rate, **counts}


def pass_rate_miss(report: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """``(why, hint)`` when the pass-rate bounds (their `filter_pass_rate` ``report``)
    kept no record: none has a verdict, or none lies within the bounds; None otherwise."""
    if not report or report["kept"]:
        return None
    if not report["below"] and not report["above"]:
        return ("no record has a verdict, so none has a pass rate for --min-pass-rate/"
                "--max-pass-rate", f"{NO_PREDICTIONS}; or drop the pass-rate options")
    bounds = " and ".join(f"{op} {report[k]}" for op, k in ((">=", "min"), ("<=", "max"))
                          if report[k] is not None)
    return (f"no record's pass rate is {bounds} ({report['below']} below, "
            f"{report['above']} above, {report['unjudged']} without a verdict)",
            "widen --min-pass-rate/--max-pass-rate")


def curriculum_order(samples: Sequence[Sample], records: Sequence[NEPRecord],
                     curriculum: str) -> list[Sample]:
    """``samples`` in the ``curriculum`` order (see `CURRICULA`).

    Raises:
        ValueError: for an unknown curriculum.
    """
    if curriculum not in CURRICULA:
        raise ValueError(f"unknown --curriculum {curriculum!r}; choose {', '.join(CURRICULA)}")
    rates = {r.id: r.pass_rate for r in records}

    def key(item: tuple[int, Sample]) -> tuple[int, float, str, int]:
        position, sample = item
        rate = rates.get(sample.record_id)
        return (rate is None, -(rate or 0.0), sample.record_id, position)

    return [s for _, s in sorted(enumerate(samples), key=key)]


def sample_rewards(records: Sequence[NEPRecord], reward: str) -> dict[str, float]:
    """Mean open-ended reward of each record's predictions (the rewritten prediction
    where there is one) against its ``caption_part2``, by record id; records without a
    prediction are left out. Scores are in [0, 1].

    Raises:
        ValueError: for a reward not in `SAMPLE_REWARDS`.
        ImportError: for ``similarity`` without the embedding model's packages.
    """
    if reward not in SAMPLE_REWARDS:
        raise ValueError(f"unknown --sample-reward {reward!r}; choose "
                         f"{', '.join(SAMPLE_REWARDS)}")
    from nextevent.rewards import NEPReward

    texts, refs, owners = [], [], []
    for record in records:
        for sample in record.predictions:
            r = sample.reasoning
            text = r.rewritten_prediction_content or r.prediction_content
            if text and text.strip():
                texts.append(text)
                refs.append(record.caption_part2)
                owners.append(record.id)
    if not texts:
        return {}
    scores = NEPReward({reward: 1.0}).scores(texts, refs)
    sums: dict[str, list[float]] = {}
    for rid, score in zip(owners, scores, strict=True):
        sums.setdefault(rid, []).append(score)
    return {rid: sum(v) / len(v) for rid, v in sums.items()}


def difficulty_rows(records: Sequence[NEPRecord], kept: set[str],
                    rewards: Mapping[str, float] | None) -> list[dict[str, Any]]:
    """One row per record for ``difficulty.jsonl``: ``record_id``, ``video_id``,
    ``predictions``, ``judged``, ``right``, ``pass_rate`` (None: no verdict), ``kept``
    (by the pass-rate bounds) and, with a sample reward, ``mean_reward``."""
    rows = []
    for record in records:
        verdicts = record.verdicts
        row: dict[str, Any] = {
            "record_id": record.id, "video_id": record.video_id,
            "predictions": len(record.predictions), "judged": len(verdicts),
            "right": verdicts.count("right"), "pass_rate": record.pass_rate,
            "kept": record.id in kept}
        if rewards is not None:
            row["mean_reward"] = (round(rewards[record.id], 6) if record.id in rewards
                                  else None)
        rows.append(row)
    return rows


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


def check_cft_ratio(ratio: float) -> None:
    """Refuse a CFT ratio (wrong per right) that is not in (0, `MAX_CFT_RATIO`].

    Raises:
        ValueError: naming the value (``nan`` and ``inf`` included).
    """
    if not 0 < ratio <= MAX_CFT_RATIO:  # False for nan
        raise ValueError(f"--cft-ratio must be a positive number of at most "
                         f"{MAX_CFT_RATIO:g} wrong per right, got {ratio}")


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
        ValueError: for a ratio that is not positive or above `MAX_CFT_RATIO`.
    """
    check_cft_ratio(ratio)
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
           media_root: Path | None, seed: int, builder: Builder | None = None
           ) -> tuple[list[Sample], list[Failure]]:
    builder = builder or BUILDERS[strategy]
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
    min_pass_rate: float | None = None,
    max_pass_rate: float | None = None,
    curriculum: str | None = None,
    sample_reward: str | None = None,
    dpo_pairs: str = "verdicts",
    dpo_max_pairs: int = DEFAULT_DPO_MAX_PAIRS,
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
        min_pass_rate, max_pass_rate: keep only records whose pass rate lies within
            these inclusive bounds, 0 to 1 (`filter_pass_rate`); None: no bound.
        curriculum: None (record order) or one of `CURRICULA`.
        sample_reward: a `SAMPLE_REWARDS` name: each record's mean reward over its
            predictions goes to the difficulty rows and the report.
        dpo_pairs: for ``dpo``: ``verdicts`` pairs a prediction judged right with one
            judged wrong (`dpo_verdict_samples`), ``reference`` ``caption_part2`` with a
            wrong one (`dpo_samples`); the report's ``dpo`` counts pairs and the splits
            with no right or no wrong prediction.
        dpo_max_pairs: for ``dpo``: most pairs per split (at least 1).

    Returns:
        `StrategyResult`; samples keep the record order unless a curriculum orders them.
        With any of the difficulty options, ``difficulty`` holds `difficulty_rows` and
        the report ``pass_rate`` (bounds and counts), ``curriculum`` and
        ``sample_reward`` (its name, the records scored, their mean).

    Raises:
        ValueError: for an unknown strategy, a ``mix`` without weights (or weights given
            to another strategy), a ``max_samples`` below 1, pass-rate bounds outside
            [0, 1] or crossed, an unknown curriculum, sample reward or DPO pairing,
            ``dpo_max_pairs`` below 1, or a ``cft_ratio`` outside (0, `MAX_CFT_RATIO`].
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if max_samples is not None and max_samples < 1:
        raise ValueError(f"--max-samples must be at least 1, got {max_samples}")
    if (strategy == "mix") != (mix is not None):
        raise ValueError("give mix weights (--mix sft=0.5,...) exactly when --strategy is mix")
    check_pass_rates(min_pass_rate, max_pass_rate)
    check_cft_ratio(cft_ratio)
    if dpo_pairs not in DPO_PAIRINGS:
        raise ValueError(f"unknown --dpo-pairs {dpo_pairs!r}; choose {', '.join(DPO_PAIRINGS)}")
    if dpo_max_pairs < 1:
        raise ValueError(f"--dpo-max-pairs must be at least 1, got {dpo_max_pairs}")
    if curriculum is not None and curriculum not in CURRICULA:
        raise ValueError(f"unknown --curriculum {curriculum!r}; choose {', '.join(CURRICULA)}")
    if sample_reward is not None and sample_reward not in SAMPLE_REWARDS:
        raise ValueError(f"unknown --sample-reward {sample_reward!r}; choose "
                         f"{', '.join(SAMPLE_REWARDS)}")
    records = list(records)
    run_dir = Path(run_dir)
    report: dict[str, Any] = {"strategy": strategy, "records": len(records)}
    every = records
    difficulty: list[dict[str, Any]] = []
    if min_pass_rate is not None or max_pass_rate is not None:
        records, report["pass_rate"] = filter_pass_rate(records, min_pass_rate,
                                                        max_pass_rate)
    if curriculum is not None:
        report["curriculum"] = curriculum
    if min_pass_rate is not None or max_pass_rate is not None or curriculum or sample_reward:
        rewards = sample_rewards(every, sample_reward) if sample_reward else None
        if rewards is not None:
            report["sample_reward"] = {
                "reward": sample_reward, "records": len(rewards),
                "mean": round(sum(rewards.values()) / len(rewards), 4) if rewards else None}
            if not rewards:
                report["sample_reward"]["note"] = f"nothing scored: {NO_PREDICTIONS}"
        difficulty = difficulty_rows(every, {r.id for r in records}, rewards)
    builder = None
    if strategy == "dpo":
        builder = functools.partial(
            dpo_verdict_samples if dpo_pairs == "verdicts" else dpo_samples,
            max_pairs=dpo_max_pairs)
    samples, failures = _select(records, strategy, run_dir, media_root, seed, max_samples,
                                cft_ratio, mix, report, builder)
    if strategy == "dpo":
        report["dpo"] = dpo_report(records, samples, dpo_pairs, dpo_max_pairs)
    if curriculum is not None:
        samples = curriculum_order(samples, records, curriculum)
    report["samples"] = len(samples)
    return StrategyResult(samples, failures, report, difficulty)


def _select(records: list[NEPRecord], strategy: str, run_dir: Path, media_root: Path | None,
            seed: int, max_samples: int | None, cft_ratio: float,
            mix: Mapping[str, float] | None, report: dict[str, Any],
            builder: Builder | None = None) -> tuple[list[Sample], list[Failure]]:
    """The samples of ``strategy`` (or the mix) kept by the caps and the CFT ratio, in
    record order (``builder`` in place of the strategy's own); facts go to ``report``."""
    if strategy != "mix":
        samples, failures = _build(records, strategy, run_dir, media_root, seed, builder)
        if strategy == "cft":
            samples, report["cft"] = cft_select(samples, cft_ratio, seed, max_samples)
        else:
            samples = _cap(samples, max_samples, seed)
        return samples, failures

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
    return samples, failures
