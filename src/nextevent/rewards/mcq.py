"""Answer-letter extraction and accuracy for multiple-choice questions (FutureBench, A-D).

FutureBench (V1, Wang et al., arXiv 2505.22457, FutureBench) was scored in lmms-eval by a
rule shared with Video-MME (sail-sg/Video-Next-Event-Prediction
``third_party/lmms-eval/lmms_eval/tasks/futurebench/utils.py``, commit 7250875d; the same
rule is in EvolvingLMMs-Lab/lmms-eval ``lmms_eval/tasks/videomme/utils.py``). In words:
strip a few answer phrases, give up on a response of more than ten words that holds no
capital A-D, else take the first capital A-D found *anywhere* in the text; in reasoning
mode, the same on the text inside the first ``<answer>`` block, and nothing without one.
That rule reads "Answer: C" as A (from "Answer") and "Based on the video, C" as B.

`extract_choice` agrees with it wherever it reads the response as meant (a bare letter,
"The answer is B", "(B)", "B.", "B) text", a reasoning answer block, long text without
a letter giving no answer) and is stricter where it is loose:

1. A letter counts only as a token of its own: no letter, digit, underscore, hyphen or
   apostrophe touches it ("Apple", "Bob", "DJ", "A-frame", "D'Angelo" hold no answer).
   Markup around it is fine: "(B)", "**B**", "B.", "B:", "[C]".
2. "A" followed by a space and a lower-case word is the article ("A man walks in"), not
   an answer, unless an answer cue comes right before it ("answer is A because ...",
   "option A seems ...", "choose A since ...").
3. Only capital letters count (as in the published rule: "b" alone gives no answer).
4. The first letter left is the answer; none left gives None (score 0).

Where the text comes from (``mode``): ``direct`` reads the whole response; ``reasoning``
reads only the first closed ``<answer>`` block (None without one, as published);
``auto`` (default) reads the ``<answer>`` block when there is one, else the text after
the last ``</think>``, gives None for a response whose reasoning or answer block was cut
off (an unclosed ``<think>`` or ``<answer>``), and otherwise reads the whole response.
"""

from __future__ import annotations

import re
from typing import Literal

from nextevent.rewards.format import ANSWER_OPEN, THINK_CLOSE, THINK_OPEN, extract_answer

ExtractMode = Literal["auto", "direct", "reasoning"]
"""Where `extract_choice` looks for the letter; see the module docstring."""

LETTERS = "ABCD"
"""FutureBench option letters."""

_MODES = ("auto", "direct", "reasoning")
# What may not touch a letter for it to stand alone: word characters, hyphen, apostrophes.
_NOT_ALONE = r"\w\-'\u2019"
# An answer cue right before a letter: "answer is", "answer:", "option", "choice",
# "choose", "select", "pick", optionally followed by opening markup.
_CUE_BEFORE = re.compile(
    r"(?:answer(?:\s+is|\s*:)?|option(?:\s+is|\s*:)?|choice(?:\s+is|\s*:)?|choose|select|pick)"
    r"\s*[(\[*\"'\u2018\u201c]*\s*\Z",
    re.IGNORECASE,
)
_ARTICLE_AFTER = re.compile(r"\s+[a-z]")


def answer_span(response: str, mode: ExtractMode = "auto") -> str | None:
    """The part of a response `extract_choice` reads, chosen by ``mode``.

    Returns:
        The text to search, or None when ``mode`` finds no answer text (``reasoning``
        without a closed ``<answer>`` block; ``auto`` with a cut-off block).

    Raises:
        TypeError: when ``response`` is not a string.
        ValueError: for an unknown ``mode``.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if mode == "direct":
        if not isinstance(response, str):
            raise TypeError(f"response must be a str, got {type(response).__name__}")
        return response
    answer = extract_answer(response)
    if answer is not None or mode == "reasoning":
        return answer
    if THINK_CLOSE in response:
        return response.rsplit(THINK_CLOSE, 1)[1]
    if THINK_OPEN in response or ANSWER_OPEN in response:
        return None
    return response


def extract_choice(
    response: str, mode: ExtractMode = "auto", choices: str = LETTERS
) -> str | None:
    """The option letter a response gives, by the rules in the module docstring.

    Args:
        response: the decoded model response.
        mode: ``auto``, ``direct`` or ``reasoning`` (see the module docstring).
        choices: the option letters, upper case (FutureBench: ``"ABCD"``).

    Returns:
        One letter of ``choices``, or None when the response gives no answer.

    Raises:
        TypeError: when ``response`` is not a string.
        ValueError: for an unknown ``mode`` or ``choices`` that are not distinct
            upper-case letters.
    """
    letters = _check_choices(choices)
    span = answer_span(response, mode)
    if not span:
        return None
    pattern = re.compile(rf"(?<![{_NOT_ALONE}])([{letters}])(?![{_NOT_ALONE}])")
    for match in pattern.finditer(span):
        letter = match.group(1)
        article = letter == "A" and _ARTICLE_AFTER.match(span, match.end())
        if article and not _CUE_BEFORE.search(span, 0, match.start()):
            continue  # "A man ...": the article
        return letter
    return None


def mcq_accuracy(
    response: str, answer_letter: str, mode: ExtractMode = "auto", choices: str = LETTERS
) -> float:
    """1.0 when the response's letter (see `extract_choice`) is ``answer_letter``, else 0.0.

    Args:
        response: the decoded model response.
        answer_letter: the right option, e.g. ``"B"``; surrounding whitespace and case are
            ignored.
        mode, choices: as in `extract_choice`.

    Raises:
        ValueError: when ``answer_letter`` is not one of ``choices`` (check the dataset's
            answer column), or as `extract_choice`.
        TypeError: when ``response`` or ``answer_letter`` is not a string.
    """
    letters = _check_choices(choices)
    if not isinstance(answer_letter, str):
        raise TypeError(f"answer_letter must be a str, got {type(answer_letter).__name__}")
    gold = answer_letter.strip().upper()
    if len(gold) != 1 or gold not in letters:
        raise ValueError(
            f"answer_letter {answer_letter!r} is not one of the options {letters!r}; "
            "the reference answer of a multiple-choice item must be a single option letter"
        )
    return 1.0 if extract_choice(response, mode, letters) == gold else 0.0


def _check_choices(choices: str) -> str:
    if (
        not isinstance(choices, str)
        or not choices
        or not all("A" <= c <= "Z" for c in choices)
        or len(set(choices)) != len(choices)
    ):
        raise ValueError(
            f"choices must be distinct upper-case letters such as 'ABCD', got {choices!r}"
        )
    return choices
