"""Format reward for the think-then-answer response of V1's GRPO stage.

V1 (Wang et al., "Fostering Video Reasoning via Next-Event Prediction", arXiv 2505.22457,
Sec. 4, GRPO on EasyR1) prompts the model to reason inside ``<think> </think>`` and then
put the final answer inside ``<answer> </answer>``. This module checks that shape and pulls
out the answer; it knows nothing about what a right answer is.

The rule (`format_reward` returns 1.0 exactly when all hold, else 0.0):

1. Whitespace before the first tag and after the last tag is ignored; any other text
   outside the two blocks fails (no preamble, nothing after ``</answer>``).
2. One block of each: exactly one ``<think>``, one ``</think>``, one ``<answer>`` and one
   ``</answer>``, in that order. Tags are lower case and written exactly so (``<Think>``
   or ``< think >`` fail).
3. Only whitespace between ``</think>`` and ``<answer>``.
4. Both blocks hold some text after stripping whitespace (an empty ``<think></think>``
   or ``<answer> </answer>`` fails: an empty block must not earn the format reward).

This is stricter than EasyR1's ``examples/reward_function/r1v.py`` pattern (a full match
of ``<think>.*?</think>\\s*<answer>.*?</answer>``), which accepts empty blocks and,
through its non-greedy groups, repeated tags.
"""

from __future__ import annotations

import re

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
_TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)

_SHAPE = re.compile(
    r"\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*", re.DOTALL
)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)


def format_reward(response: str) -> float:
    """Score the think-then-answer format of one response.

    Args:
        response: the decoded model response (special tokens already removed).

    Returns:
        1.0 when the response follows the rule in the module docstring, else 0.0.

    Raises:
        TypeError: when ``response`` is not a string.
    """
    _check_text(response, "response")
    if any(response.count(tag) != 1 for tag in _TAGS):
        return 0.0
    match = _SHAPE.fullmatch(response)
    if match is None:
        return 0.0
    if not match["think"].strip() or not match["answer"].strip():
        return 0.0
    return 1.0


def extract_answer(response: str) -> str | None:
    """The text inside the first complete ``<answer>...</answer>`` block, stripped.

    Args:
        response: the decoded model response.

    Returns:
        The answer text (possibly empty), or None when no ``<answer>`` block is closed.

    Raises:
        TypeError: when ``response`` is not a string.
    """
    _check_text(response, "response")
    match = _ANSWER.search(response)
    return match.group(1).strip() if match else None


def prediction_text(response: str) -> str:
    """The predicted future in a response: the ``<answer>`` text if there is a block,
    otherwise the response with any ``<think>`` block (closed or cut off) removed.

    This is what the open-ended NEP reward compares with ``caption_part2``, so a response
    without tags is still scored on what it says, and reasoning never counts as the answer.

    Raises:
        TypeError: when ``response`` is not a string.
    """
    answer = extract_answer(response)
    if answer is not None:
        return answer
    without_think = _THINK_BLOCK.sub(" ", response)
    for tag in _TAGS:
        without_think = without_think.replace(tag, " ")
    return " ".join(without_think.split())


def _check_text(value: object, name: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}: {value!r:.80}")
