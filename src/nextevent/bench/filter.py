"""Blind filter: drop FutureBench items a text-only model answers without the video.

Each item is shown to a text model ``n`` times (question and options only, optionally the
past caption as text), each time with the options in a new seeded order, in the prompt
``bench eval`` sends (`nextevent.bench.prompts.question_text`, ``direct`` mode); the
letter is read as ``bench eval`` reads it (`nextevent.bench.prompts.response_choice`) and
mapped back to the original option (`nextevent.audit.model.blind_choices`).
Items answered right in more than ``threshold`` of the trials are dropped (the
"blind" filtering of V1, arXiv 2505.22457, FutureBench, and of Video-MME-style
benchmarks: questions solvable from text alone do not test the video).

Reported blind accuracy (mean over items of the per-item rate, bootstrap 95% CI): on all
items before filtering and on the kept items after. Both are measured on a *held-out*
round of ``n`` fresh shuffles (another seed), so the after figure is not biased down by
selecting on the very trials it is computed from.

An item whose call fails for good in either round is not judged: it is left out of the
filtered benchmark and of the figures, and listed (item, error) in ``failures``; the
others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nextevent.audit.items import from_bench
from nextevent.audit.model import PROMPT_VERSION, blind_choices  # noqa: F401 (re-export)
from nextevent.bench.stats import accuracy_summary
from nextevent.llm.config import LLMConfig
from nextevent.records import BenchItem, Failure


async def blind_trials(items: Sequence[BenchItem], config: LLMConfig, *, n: int = 3,
                       seed: int = 0, with_past: bool = False,
                       cache_path: str | Path | None = None,
                       failures: dict[str, Failure] | None = None,
                       on_trial: Callable[[bool], None] | None = None,
                       ) -> dict[str, list[bool]]:
    """Right/wrong of ``n`` shuffled text-only trials per item: the shared trial code of
    the blind audit's model baseline (`nextevent.audit.model.blind_choices`) scored
    against the key.

    Args:
        items: the benchmark.
        config: the text model as role ``reasoner`` (`nextevent.bench.evaluate.model_config`).
        n: trials per item.
        seed: seed of the option shuffles (trial t of item i uses ``(seed, i.id, t)``).
        with_past: add the past caption (``meta.past_caption``) as text.
        cache_path: SQLite call cache; None caches nothing.
        failures: as `blind_choices`: collects item id -> `Failure` instead of raising
            (a failed trial counts as wrong here; leave its item out).
        on_trial: called once per settled trial, True when it failed.

    Returns:
        item id -> list of n booleans.

    Raises:
        ValueError: for ``n < 1``; `LLMCallError` when a call fails for good and
            ``failures`` is None.
    """
    choices = await blind_choices(from_bench(items), config, n=n, seed=seed,
                                  with_past=with_past, cache_path=cache_path,
                                  failures=failures, on_trial=on_trial)
    return {i.id: [c == i.qa.Answer for c in choices[i.id]] for i in items}


async def blind_filter(items: Sequence[BenchItem], config: LLMConfig, *, n: int = 3,
                       threshold: float = 0.5, seed: int = 0, with_past: bool = False,
                       cache_path: str | Path | None = None,
                       failures: dict[str, Failure] | None = None,
                       on_trial: Callable[[bool], None] | None = None,
                       ) -> tuple[list[BenchItem], dict[str, Any]]:
    """Drop items the blind model answers right in more than ``threshold`` of ``n``
    trials; measure blind accuracy before and after on a held-out round (seed + 1).

    Items with a failed call (in either round) are neither kept nor dropped: they are
    left out of the output and the figures, and listed in ``failures`` (item id ->
    `Failure`, filled in when given) and the report's ``failed_items``.

    Args:
        on_trial: called once per settled trial (``2 * n * len(items)`` in all), True
            when it failed (progress).

    Returns:
        ``(kept items, report)``; the report has ``before`` and ``after``
        (``{"accuracy", "ci95", "n"}``, fractions), ``kept``, ``dropped``,
        ``dropped_by_type``, ``threshold``, ``trials``, ``with_past``, ``chance`` (0.25),
        ``failed`` (count) and ``failed_items`` (ids).

    Raises:
        ValueError: for ``threshold`` outside [0, 1] or ``n < 1``.
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold is a fraction of trials in [0, 1], got {threshold}")
    failed: dict[str, Failure] = {} if failures is None else failures
    select = await blind_trials(items, config, n=n, seed=seed, with_past=with_past,
                                cache_path=cache_path, failures=failed, on_trial=on_trial)
    held = await blind_trials(items, config, n=n, seed=seed + 1, with_past=with_past,
                              cache_path=cache_path, failures=failed, on_trial=on_trial)
    failed_items = [i.id for i in items if i.id in failed]
    items = [i for i in items if i.id not in failed]
    rate = {i: sum(v) / len(v) for i, v in held.items()}
    kept = [i for i in items if sum(select[i.id]) / n <= threshold]
    dropped = [i for i in items if sum(select[i.id]) / n > threshold]
    by_type: dict[str, int] = {}
    for i in dropped:
        by_type[i.question_type] = by_type.get(i.question_type, 0) + 1
    report = {
        "before": accuracy_summary([rate[i.id] for i in items], seed=seed),
        "after": accuracy_summary([rate[i.id] for i in kept], seed=seed),
        "selection_round_accuracy": accuracy_summary(
            [sum(select[i.id]) / n for i in items], seed=seed),
        "kept": len(kept), "dropped": len(dropped), "dropped_by_type": by_type,
        "threshold": threshold, "trials": n, "with_past": with_past, "chance": 0.25,
        "failed": len(failed_items), "failed_items": failed_items}
    return kept, report
