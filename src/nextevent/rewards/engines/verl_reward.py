"""verl custom reward file for next-event prediction (point verl at this file by path).

Contract, checked against volcengine/verl ``verl/trainer/ppo/reward.py``
(``get_custom_reward_fn``, commit 03023e2a), ``verl/workers/reward_manager/naive.py``
(commit 10a6180e), ``verl/workers/reward_manager/batch.py`` (commit abddec4c) and
``verl/utils/reward_score/__init__.py`` (``default_compute_score``, commit 03c3afd2):

- ``custom_reward_function.path=<this file>`` and ``custom_reward_function.name=<fn>``;
  verl imports the file with ``importlib`` and appends
  ``custom_reward_function.reward_kwargs`` to every call.
- The naive manager (default) calls ``compute_score(data_source=..., solution_str=...,
  ground_truth=..., extra_info=...)`` once per response: ``data_source`` is the row's
  ``data_source`` column (``data.reward_fn_key``), ``ground_truth`` its
  ``reward_model["ground_truth"]``, ``extra_info`` its ``extra_info`` dict (verl adds
  ``num_turns``). A float is the reward; a dict must hold ``"score"`` (the reward) and
  every key is logged, so every call returns the same keys.
- The batch manager (``reward_model.reward_manager=batch``) calls
  ``compute_score_batch(data_sources=..., solution_strs=..., ground_truths=...,
  extra_infos=...)`` once and takes a list back; use it for the open-ended reward, which
  embeds the whole batch at once instead of one response at a time.

Which reward scores a row: ``data_source`` ``nextevent/nep`` (open-ended NEP, ground
truth = ``caption_part2``) or ``nextevent/mcq`` (ground truth = option letter); else
``extra_info["task"]`` (``"nep"`` / ``"mcq"``); else a ground truth that is a single
letter A-D is multiple choice and anything else open-ended.

Returned keys, always the same: ``score`` (= ``(1 - format_weight) * accuracy +
format_weight * format``), ``format``, ``accuracy``. ``consistency_weight`` (default 0:
off) gives multiple-choice rows a share of think-answer consistency
(`nextevent.rewards.consistency`): their ``score`` is ``(1 - format_weight -
consistency_weight) * accuracy + format_weight * format + consistency_weight *
consistency``, and every row then has a ``consistency`` key (0.0 on open-ended rows,
which name no option and whose score it does not enter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nextevent.rewards.engines import DATA_SOURCE_MCQ, DATA_SOURCE_NEP
from nextevent.rewards.engines.common import check_mcq_weights, mcq_breakdowns, nep_breakdowns
from nextevent.rewards.mcq import LETTERS

_TASKS = {DATA_SOURCE_NEP: "nep", DATA_SOURCE_MCQ: "mcq"}


def task_of(data_source: str, ground_truth: str, extra_info: dict[str, Any] | None) -> str:
    """``"nep"`` or ``"mcq"`` for one row (rule in the module docstring).

    Raises:
        ValueError: when ``extra_info["task"]`` names another task.
    """
    if str(data_source) in _TASKS:
        return _TASKS[str(data_source)]
    task = (extra_info or {}).get("task") if isinstance(extra_info, dict) else None
    if task is not None:
        if task not in ("nep", "mcq"):
            raise ValueError(f"extra_info['task'] must be 'nep' or 'mcq', got {task!r}")
        return str(task)
    gold = str(ground_truth).strip()
    return "mcq" if len(gold) == 1 and gold in LETTERS else "nep"


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict[str, Any] | None = None,
    format_weight: float = 0.1,
    rouge_weight: float = 0.0,
    consistency_weight: float = 0.0,
    **kwargs: Any,
) -> dict[str, float]:
    """Reward of one response (verl's naive reward manager).

    Args:
        data_source, solution_str, ground_truth, extra_info: as verl passes them.
        format_weight: share of ``score`` given to the format reward, in [0, 1).
        rouge_weight: share of the open-ended accuracy given to ROUGE-L.
        consistency_weight: share of a multiple-choice ``score`` given to think-answer
            consistency (0: off), in [0, 1 - format_weight).
        **kwargs: other keywords verl may pass (ignored).

    Returns:
        ``{"score", "format", "accuracy"}`` (+ ``consistency`` when its weight is
        positive), floats in [0, 1].

    Raises:
        ValueError: for an empty ground truth, a bad answer letter or weight.
    """
    return compute_score_batch(
        [data_source], [solution_str], [ground_truth], [extra_info],
        format_weight=format_weight, rouge_weight=rouge_weight,
        consistency_weight=consistency_weight,
    )[0]


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[str],
    extra_infos: Sequence[dict[str, Any] | None] | None = None,
    format_weight: float = 0.1,
    rouge_weight: float = 0.0,
    consistency_weight: float = 0.0,
    **kwargs: Any,
) -> list[dict[str, float]]:
    """Rewards of a batch of responses (verl's batch reward manager).

    Returns:
        One ``{"score", "format", "accuracy"}`` dict per response, in order (+
        ``consistency`` in every one when ``consistency_weight`` is positive).

    Raises:
        ValueError: when the lists differ in length, or as `compute_score`.
    """
    n = len(solution_strs)
    infos = list(extra_infos) if extra_infos is not None else [None] * n
    if not len(data_sources) == len(ground_truths) == len(infos) == n:
        raise ValueError(
            f"verl passed {len(data_sources)} data sources, {n} solutions, "
            f"{len(ground_truths)} ground truths and {len(infos)} extra_infos"
        )
    check_mcq_weights(format_weight, consistency_weight)
    tasks = [
        task_of(s, g, i) for s, g, i in zip(data_sources, ground_truths, infos, strict=True)
    ]
    out: list[dict[str, float]] = [{} for _ in range(n)]
    for task in ("nep", "mcq"):
        rows = [k for k in range(n) if tasks[k] == task]
        if not rows:
            continue
        responses = [str(solution_strs[k]) for k in rows]
        golds = [str(ground_truths[k]) for k in rows]
        if task == "nep":
            scores = nep_breakdowns(
                responses, golds, format_weight=format_weight, rouge_weight=rouge_weight
            )
        else:
            scores = mcq_breakdowns(responses, golds, format_weight=format_weight,
                                    consistency_weight=consistency_weight)
        for k, score in zip(rows, scores, strict=True):
            out[k] = {"score": score.overall, "format": score.format, "accuracy": score.accuracy}
            if consistency_weight > 0:  # verl wants the same keys from every row
                out[k]["consistency"] = score.components.get("consistency", 0.0)
    return out
