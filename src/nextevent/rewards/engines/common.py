"""What the engine adapters share: one NEP reward per setting per process, and the
EasyR1-style weighting ``overall = (1 - format_weight) * accuracy + format_weight * format``
(hiyouga/EasyR1 ``examples/reward_function/math.py`` uses the same form). Multiple-choice
rewards can add think-answer consistency (`nextevent.rewards.consistency`) the same way:
``overall = (1 - format_weight - consistency_weight) * accuracy + format_weight * format
+ consistency_weight * consistency``; its weight is 0 by default, which leaves the reward
as it was (and adds no ``consistency`` key)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from nextevent.rewards.breakdown import RewardBreakdown
from nextevent.rewards.consistency import consistency_reward
from nextevent.rewards.embedding import DEFAULT_BATCH_SIZE
from nextevent.rewards.format import format_reward
from nextevent.rewards.mcq import ExtractMode, extract_choice, mcq_accuracy
from nextevent.rewards.open_ended import NEPReward

_REWARDS: dict[tuple[float, float, int], NEPReward] = {}
_LOCK = threading.Lock()


def nep_weights(format_weight: float, rouge_weight: float) -> dict[str, float]:
    """`NEPReward` weights for a format share and a ROUGE-L share of the accuracy part.

    Args:
        format_weight: share of ``overall`` given to the format reward, in [0, 1).
        rouge_weight: share of ``accuracy`` given to ROUGE-L, in [0, 1]; the rest is
            embedding similarity.

    Raises:
        ValueError: when a share is out of range.
    """
    if not 0.0 <= format_weight < 1.0:
        raise ValueError(f"format_weight must be in [0, 1), got {format_weight}")
    if not 0.0 <= rouge_weight <= 1.0:
        raise ValueError(f"rouge_weight must be in [0, 1], got {rouge_weight}")
    content = 1.0 - format_weight
    weights = {
        "similarity": content * (1.0 - rouge_weight),
        "rouge_l": content * rouge_weight,
        "format": format_weight,
    }
    return {k: v for k, v in weights.items() if v > 0}


def shared_nep_reward(
    format_weight: float = 0.0, rouge_weight: float = 0.0, batch_size: int = DEFAULT_BATCH_SIZE
) -> NEPReward:
    """The process-wide `NEPReward` for these settings (the model loads once)."""
    key = (float(format_weight), float(rouge_weight), int(batch_size))
    with _LOCK:
        if key not in _REWARDS:
            weights = nep_weights(format_weight, rouge_weight)
            _REWARDS[key] = NEPReward(weights, batch_size=batch_size)
        return _REWARDS[key]


def nep_breakdowns(
    responses: Sequence[str],
    references: Sequence[str],
    *,
    format_weight: float = 0.0,
    rouge_weight: float = 0.0,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[RewardBreakdown]:
    """Open-ended NEP reward of each response against its ``caption_part2``."""
    reward = shared_nep_reward(format_weight, rouge_weight, batch_size)
    return reward([str(r) for r in responses], [str(r) for r in references])


def mcq_breakdowns(
    responses: Sequence[str],
    answers: Sequence[str],
    *,
    format_weight: float = 0.0,
    mode: ExtractMode = "auto",
    consistency_weight: float = 0.0,
) -> list[RewardBreakdown]:
    """Multiple-choice reward of each response against its answer letter.

    ``accuracy`` is `nextevent.rewards.mcq.mcq_accuracy`, ``answer`` the extracted letter
    ("" when none). With ``consistency_weight > 0`` the think-answer consistency
    (`nextevent.rewards.consistency.consistency_reward`: 1.0 when the ``<answer>``
    letter is the option the ``<think>`` text concludes) takes that share of
    ``overall`` and is reported as the ``consistency`` component; at 0 (the default) it
    is not computed.

    Raises:
        ValueError: when the lengths differ, a weight is out of range, or an answer is not
            an option letter.
    """
    if len(responses) != len(answers):
        raise ValueError(f"{len(responses)} responses but {len(answers)} answer letters")
    check_mcq_weights(format_weight, consistency_weight)
    out = []
    for response, answer in zip(responses, answers, strict=True):
        response, answer = str(response), str(answer)
        accuracy = mcq_accuracy(response, answer, mode)
        fmt = format_reward(response)
        overall = (1.0 - format_weight) * accuracy + format_weight * fmt
        components: dict[str, float] = {}
        if consistency_weight > 0:
            consistency = consistency_reward(response)
            overall = ((1.0 - format_weight - consistency_weight) * accuracy
                       + format_weight * fmt + consistency_weight * consistency)
            components["consistency"] = consistency
        letter = extract_choice(response, mode) or ""
        out.append(RewardBreakdown(overall, fmt, accuracy, components, letter))
    return out


def check_mcq_weights(format_weight: float, consistency_weight: float = 0.0) -> None:
    """Check the shares of a multiple-choice reward: each >= 0, ``format_weight < 1``
    and, with consistency, ``format_weight + consistency_weight < 1`` (accuracy keeps a
    share).

    Raises:
        ValueError: naming the weight out of range.
    """
    if not 0.0 <= format_weight < 1.0:
        raise ValueError(f"format_weight must be in [0, 1), got {format_weight}")
    if not 0.0 <= consistency_weight < 1.0 - format_weight:
        raise ValueError(f"consistency_weight must be in [0, 1 - format_weight) = "
                         f"[0, {1.0 - format_weight:g}), got {consistency_weight}")
