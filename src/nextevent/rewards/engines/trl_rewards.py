"""TRL reward functions for next-event prediction (``GRPOTrainer(reward_funcs=[...])``).

Contract, checked against huggingface/trl ``trl/trainer/grpo_trainer.py`` (release 1.16.0,
``GRPOTrainer._calculate_rewards`` and the ``reward_funcs`` docstring; repository commit
d2b69d76): a custom reward function is called as ``fn(prompts=..., completions=...,
completion_ids=..., **columns)`` where every dataset column except ``prompt`` arrives as
a keyword holding one value per completion (a prompt's row repeated for each of its
generations), plus ``trainer_state``, ``log_extra`` and ``log_metric``; so each function
takes ``**kwargs``. ``completions`` are strings for a standard dataset, or for a
conversational one lists of messages (``[{"role": "assistant", "content": ...}]``, the
content a string or a list of ``{"type": "text", "text": ...}`` parts). The function
returns one float per completion (None skips it); the trainer sums the functions'
rewards, weighted by ``GRPOConfig.reward_weights``, and logs each under its ``__name__``.

Functions:

- ``nep_reward``: embedding similarity of the ``<answer>`` text to the reference, read
  from the column ``caption_part2`` (else ``ground_truth``, ``solution``, ``reference``).
- ``format_reward``: 1.0 for ``<think>...</think><answer>...</answer>``, else 0.0.
- ``mcq_reward``: 1.0 when the option letter matches the column ``answer`` (else
  ``ground_truth``, ``solution``).
- ``consistency_reward``: 1.0 when the ``<answer>`` letter is the option the ``<think>``
  text concludes (`nextevent.rewards.consistency`), else 0.0. Off unless listed: add it
  to ``reward_funcs`` with its share in ``GRPOConfig.reward_weights`` (e.g.
  ``reward_funcs=[mcq_reward, format_reward, consistency_reward]``,
  ``reward_weights=[0.8, 0.1, 0.1]``).
- ``make_nep_reward``: a ``nep_reward`` with other weights (ROUGE-L, a judge).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nextevent.rewards import consistency as _consistency
from nextevent.rewards import format as _format
from nextevent.rewards.embedding import DEFAULT_BATCH_SIZE
from nextevent.rewards.engines.common import shared_nep_reward
from nextevent.rewards.mcq import mcq_accuracy
from nextevent.rewards.open_ended import Judge, NEPReward

NEP_REFERENCE_COLUMNS = ("caption_part2", "ground_truth", "solution", "reference")
"""Dataset columns ``nep_reward`` reads the future caption from, first present wins."""

MCQ_ANSWER_COLUMNS = ("answer", "ground_truth", "solution")
"""Dataset columns ``mcq_reward`` reads the option letter from, first present wins."""

RewardFunc = Callable[..., list[float]]


def completion_text(completion: Any) -> str:
    """The text of one TRL completion: a string, or the last message's content.

    Raises:
        TypeError: for a completion that is neither a string nor a list of messages.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], Mapping):
        content = completion[-1].get("content", "")
        if isinstance(content, str):
            return content
        if isinstance(content, Sequence):
            return "".join(
                part.get("text", "") for part in content
                if isinstance(part, Mapping) and part.get("type", "text") == "text"
            )
    raise TypeError(
        "a completion must be a string or a list of chat messages with 'content', "
        f"got {type(completion).__name__}: {completion!r:.80}"
    )


def _column(kwargs: Mapping[str, Any], names: Sequence[str], n: int, what: str) -> list[str]:
    for name in names:
        values = kwargs.get(name)
        if values is not None:
            values = list(values)
            if len(values) != n:
                raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
            return [str(v) for v in values]
    given = sorted(k for k in kwargs if k not in ("trainer_state", "log_extra", "log_metric"))
    raise ValueError(
        f"no {what} column among {list(names)} reached the reward function (got {given}); "
        "keep that column in the training dataset"
    )


def nep_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """Embedding similarity (all-MiniLM-L6-v2, offline) of each completion's predicted
    future to the reference caption, in [0, 1]. See `nextevent.rewards.open_ended`.

    Raises:
        ValueError: when no reference column (`NEP_REFERENCE_COLUMNS`) was passed.
    """
    texts = [completion_text(c) for c in completions]
    refs = _column(kwargs, NEP_REFERENCE_COLUMNS, len(texts), "reference caption")
    return shared_nep_reward().scores(texts, refs)


def format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 per completion in the ``<think>...</think><answer>...</answer>`` format, else
    0.0 (rule: `nextevent.rewards.format`)."""
    return [_format.format_reward(completion_text(c)) for c in completions]


def mcq_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 when a completion's option letter (`nextevent.rewards.mcq.extract_choice`) is
    the row's answer letter, else 0.0.

    Raises:
        ValueError: when no answer column (`MCQ_ANSWER_COLUMNS`) was passed, or an answer
            is not a letter A-D.
    """
    texts = [completion_text(c) for c in completions]
    answers = _column(kwargs, MCQ_ANSWER_COLUMNS, len(texts), "answer letter")
    return [mcq_accuracy(t, a) for t, a in zip(texts, answers, strict=True)]


def consistency_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 per completion whose ``<answer>`` letter is the option its ``<think>`` text
    concludes, else 0.0 (rule: `nextevent.rewards.consistency`; an ``options`` column
    of letter -> text mappings, when the dataset has one, lets it match option texts)."""
    texts = [completion_text(c) for c in completions]
    options = kwargs.get("options")
    rows = list(options) if options is not None else [None] * len(texts)
    if len(rows) != len(texts):
        raise ValueError(f"column 'options' has {len(rows)} values for {len(texts)} "
                         "completions")
    return [_consistency.consistency_reward(t, o if isinstance(o, Mapping) else None)
            for t, o in zip(texts, rows, strict=True)]


def make_nep_reward(
    weights: Mapping[str, float] | None = None,
    *,
    judge: Judge | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    name: str = "nep_reward",
) -> RewardFunc:
    """A TRL reward function scoring with `NEPReward` (``weights``, ``judge``).

    Args:
        weights, judge, batch_size: as in `nextevent.rewards.open_ended.NEPReward`.
        name: the function's ``__name__``, which TRL logs the reward under.

    Returns:
        ``fn(completions, **kwargs) -> list[float]`` (the ``overall`` reward).
    """
    reward = NEPReward(weights, judge=judge, batch_size=batch_size)

    def fn(completions: Sequence[Any], **kwargs: Any) -> list[float]:
        texts = [completion_text(c) for c in completions]
        refs = _column(kwargs, NEP_REFERENCE_COLUMNS, len(texts), "reference caption")
        return reward.scores(texts, refs)

    fn.__name__ = fn.__qualname__ = name
    return fn
