"""EasyR1 reward file for next-event prediction (point EasyR1 at this file by path).

Contract, checked against hiyouga/EasyR1 ``verl/workers/reward/function.py`` (commit
46c6c210: ``BatchFunctionRewardManager`` / ``SequentialFunctionRewardManager``; the
current ``AutoRewardManager`` that reads ``REWARD_TYPE``, as carried by forks of main such
as cyuQ1n/EasyVideoR1 commit fdc2c542, builds the same inputs) and
``examples/reward_function/math.py`` / ``r1v.py`` (commits 51636b22, 46c6c210): EasyR1
loads this file with ``importlib`` from
``worker.reward.reward_function=<this file>:<function>``, reads the module attributes
``REWARD_NAME`` and ``REWARD_TYPE`` (``"batch"``: the function gets the whole rollout
batch), binds ``worker.reward.reward_function_kwargs`` as keyword arguments, and calls
``fn(reward_inputs)`` with one dict per response, ``{"response": str,
"response_length": int, "ground_truth": str}`` (``ground_truth`` is the dataset's
``answer`` column, ``data.answer_key``). It needs a list of dicts back, each with
``overall`` (the reward, put on the last response token) and every other key logged as
a metric (EasyR1's ``RewardScore`` names ``format`` and ``accuracy``).

Two reward functions, both batch:

- ``compute_score``: open-ended NEP. ``ground_truth`` is ``caption_part2`` (what
  `nextevent export --target easyr1` writes as ``answer``); returns ``overall``,
  ``format``, ``accuracy`` (the content score) and ``similarity`` (and ``rouge_l`` when
  its weight is positive).
- ``compute_score_mcq``: multiple choice; ``ground_truth`` is the option letter.

Both take ``format_weight`` (default 0.1, as EasyR1's math example):
``overall = (1 - format_weight) * accuracy + format_weight * format``.
``compute_score_mcq`` also takes ``consistency_weight`` (default 0: off), the share of
think-answer consistency (`nextevent.rewards.consistency`; logged as ``consistency``):
``overall = (1 - format_weight - consistency_weight) * accuracy + format_weight * format
+ consistency_weight * consistency``. Set it with
``worker.reward.reward_function_kwargs='{format_weight: 0.1, consistency_weight: 0.1}'``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from nextevent.rewards.breakdown import RewardBreakdown
from nextevent.rewards.embedding import DEFAULT_BATCH_SIZE
from nextevent.rewards.engines.common import mcq_breakdowns, nep_breakdowns

REWARD_NAME = "nextevent_nep"
REWARD_TYPE = "batch"


def compute_score(
    reward_inputs: list[dict[str, Any]] | dict[str, Any],
    format_weight: float = 0.1,
    rouge_weight: float = 0.0,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[dict[str, float]] | dict[str, float]:
    """Open-ended NEP reward of each response against its ``caption_part2``.

    Args:
        reward_inputs: EasyR1's list of ``{"response", "response_length",
            "ground_truth"}`` dicts (one dict, as ``REWARD_TYPE = "sequential"`` would
            pass, is scored too and gives one dict back).
        format_weight: share of ``overall`` given to the format reward, in [0, 1).
        rouge_weight: share of ``accuracy`` given to ROUGE-L (rest: embedding similarity).
        batch_size: texts per embedding forward pass.

    Returns:
        One dict per input: ``overall``, ``format``, ``accuracy``, ``similarity``
        (+ ``rouge_l``), floats in [0, 1].

    Raises:
        KeyError: when an input lacks ``response`` or ``ground_truth``.
        ValueError: for an empty ``ground_truth`` or a weight out of range.
    """
    return _score(
        reward_inputs,
        partial(
            nep_breakdowns,
            format_weight=format_weight,
            rouge_weight=rouge_weight,
            batch_size=batch_size,
        ),
    )


def compute_score_mcq(
    reward_inputs: list[dict[str, Any]] | dict[str, Any],
    format_weight: float = 0.1,
    consistency_weight: float = 0.0,
) -> list[dict[str, float]] | dict[str, float]:
    """Multiple-choice reward: the response's option letter against ``ground_truth``.

    The letter is read from the ``<answer>`` block when there is one (see
    `nextevent.rewards.mcq.extract_choice`, mode ``auto``).

    Args:
        reward_inputs: as for `compute_score`.
        format_weight: share of ``overall`` given to the format reward, in [0, 1).
        consistency_weight: share given to think-answer consistency (0: off), in
            [0, 1 - format_weight).

    Returns:
        One dict per input: ``overall``, ``format``, ``accuracy`` (1.0 right, 0.0 not),
        and ``consistency`` (1.0 or 0.0) when its weight is positive.

    Raises:
        KeyError: when an input lacks ``response`` or ``ground_truth``.
        ValueError: when a ``ground_truth`` is not an option letter A-D, or a weight is
            out of range.
    """
    return _score(reward_inputs, partial(mcq_breakdowns, format_weight=format_weight,
                                         consistency_weight=consistency_weight))


def _score(
    reward_inputs: list[dict[str, Any]] | dict[str, Any],
    scorer: Callable[[list[str], list[str]], list[RewardBreakdown]],
) -> list[dict[str, float]] | dict[str, float]:
    single = isinstance(reward_inputs, dict)
    inputs = [reward_inputs] if single else list(reward_inputs)
    scores = scorer(
        [item["response"] for item in inputs], [item["ground_truth"] for item in inputs]
    )
    out = [score.as_dict() for score in scores]
    return out[0] if single else out
