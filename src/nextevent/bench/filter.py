"""Blind filter: drop FutureBench items a text-only model answers without the video.

Each item is shown to a text model ``n`` times (question and options only, optionally the
past caption as text), each time with the options in a new seeded order, in the prompt
``bench eval`` sends (`nextevent.bench.prompts.question_text`, ``direct`` mode); the
letter is read as ``bench eval`` reads it (`nextevent.bench.prompts.response_choice`) and
mapped back to the original option (`nextevent.audit.model.blind_choices`).
An item answered right in more than ``threshold`` of the trials is *solved* (the
"blind" filtering of V1, arXiv 2505.22457, FutureBench, and of Video-MME-style
benchmarks: questions solvable from text alone do not test the video).

Items are kept or dropped **a whole exchangeable group at a time** (``meta.group``,
`nextevent.bench.groups`): the four items of a group share one option set, so any
option-only pick solves exactly one of them, and dropping that one item would leave
three items on which "not the option a blind model favours" is right 1 time in 3
(33% against a chance of 25%). A group goes when more than one item in four of it is
solved (``solved > size / 4``: two or more of an intact group; its one item for an item
without a group), which an option-only model never does; the output is then still whole
groups and the construction's chance guarantee holds on it.

Reported blind accuracy (mean over items of the per-item rate, bootstrap 95% CI): on all
items before filtering and on the kept items after. Both are measured on a *held-out*
round of ``n`` fresh shuffles (another seed), so the after figure is not biased down by
selecting on the very trials it is computed from.

An item whose call fails for good in either round is not judged: it is listed (item,
error) in ``failures`` and its whole group is left out of the filtered benchmark and of
the figures (a rerun asks again); the other groups go on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nextevent.audit.items import from_bench
from nextevent.audit.model import PROMPT_VERSION, blind_choices  # noqa: F401 (re-export)
from nextevent.bench.gate import group_of
from nextevent.bench.groups import GROUP_SIZE
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


def groups_to_drop(items: Sequence[BenchItem], solved: set[str]) -> dict[str, int]:
    """Groups with more than one solved item in four (module docstring).

    Args:
        items: the judged items.
        solved: ids of the items solved in the selection round.

    Returns:
        group -> number of its items solved, for each group to drop.
    """
    members: dict[str, list[BenchItem]] = defaultdict(list)
    for item in items:
        members[group_of(item)].append(item)
    out = {}
    for gid, group in members.items():
        hits = sum(i.id in solved for i in group)
        if hits * GROUP_SIZE > len(group):
            out[gid] = hits
    return out


async def blind_filter(items: Sequence[BenchItem], config: LLMConfig, *, n: int = 3,
                       threshold: float = 0.5, seed: int = 0, with_past: bool = False,
                       cache_path: str | Path | None = None,
                       failures: dict[str, Failure] | None = None,
                       on_trial: Callable[[bool], None] | None = None,
                       ) -> tuple[list[BenchItem], dict[str, Any]]:
    """Drop the groups in which the blind model solves (answers right in more than
    ``threshold`` of ``n`` trials) more than one item in four; measure blind accuracy
    before and after on a held-out round (seed + 1).

    Items with a failed call (in either round) are not judged: they and the rest of their
    group are left out of the output and the figures; the failed ones are listed in
    ``failures`` (item id -> `Failure`, filled in when given) and the report's
    ``failed_items``, their siblings in ``left_out_items``.

    Args:
        on_trial: called once per settled trial (``2 * n * len(items)`` in all), True
            when it failed (progress).

    Returns:
        ``(kept items, report)``; the report has ``before`` and ``after``
        (``{"accuracy", "ci95", "n"}``, fractions), ``kept``, ``dropped`` (items),
        ``dropped_groups``, ``dropped_by_type``, ``solved`` (items solved in the
        selection round, dropped or not), ``threshold``, ``trials``, ``with_past``,
        ``chance`` (0.25), ``failed`` (count), ``failed_items`` and ``left_out_items``
        (ids).

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
    unjudged = {group_of(i) for i in items if i.id in failed}
    left_out = [i.id for i in items if group_of(i) in unjudged and i.id not in failed]
    items = [i for i in items if group_of(i) not in unjudged]
    rate = {i: sum(v) / len(v) for i, v in held.items()}
    solved = {i.id for i in items if sum(select[i.id]) / n > threshold}
    drop = groups_to_drop(items, solved)
    kept = [i for i in items if group_of(i) not in drop]
    dropped = [i for i in items if group_of(i) in drop]
    by_type: dict[str, int] = {}
    for i in dropped:
        by_type[i.question_type] = by_type.get(i.question_type, 0) + 1
    report = {
        "before": accuracy_summary([rate[i.id] for i in items], seed=seed),
        "after": accuracy_summary([rate[i.id] for i in kept], seed=seed),
        "selection_round_accuracy": accuracy_summary(
            [sum(select[i.id]) / n for i in items], seed=seed),
        "kept": len(kept), "dropped": len(dropped), "dropped_groups": len(drop),
        "dropped_by_type": by_type, "solved": len(solved),
        "threshold": threshold, "trials": n, "with_past": with_past, "chance": 0.25,
        "failed": len(failed_items), "failed_items": failed_items,
        "left_out_items": left_out}
    return kept, report
