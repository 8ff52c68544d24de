"""The one FutureBench prompt and scorer, shared by ``bench eval``
(`nextevent.bench.evaluate`), ``bench filter`` / the blind audit (`nextevent.audit.model`)
and the exported lmms-eval task (``lmms_eval_task/utils.py``).

Published modes (V1, arXiv 2505.22457, FutureBench; the lmms-eval futurebench task in
sail-sg/Video-Next-Event-Prediction ``third_party/lmms-eval/lmms_eval/tasks/futurebench``):
``direct`` asks for the letter only, ``reasoning`` for thinking then the letter inside
``<answer>``. `question_text` builds the text, `response_choice` reads the letter of a
response by `nextevent.rewards.mcq.extract_choice` (``direct``: the whole response, or
what follows a closed ``<think>`` block when a reasoning model thinks anyway; ``reasoning``:
the ``<answer>`` block only, as published), and `score_response` scores it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

from nextevent.rewards.mcq import ExtractMode, extract_choice

PromptMode = Literal["direct", "reasoning"]
POST_PROMPTS: dict[str, str] = {
    "direct": "Answer with the option's letter from the given choices directly.",
    "reasoning": ("Think about what happens step by step inside <think> </think> tags, then "
                  "give only the option's letter inside <answer> </answer> tags."),
}


EXTRACT_MODES: dict[str, ExtractMode] = {"direct": "auto", "reasoning": "reasoning"}
"""`extract_choice` mode per prompt mode. ``auto`` reads a plain response whole (as
``direct`` does), and for a ``<think>...</think> C`` response the text after the
thinking."""


def _check_mode(mode: str) -> None:
    if mode not in POST_PROMPTS:
        raise ValueError(f"prompt mode must be one of {sorted(POST_PROMPTS)}, got {mode!r}")


def question_text(question: str, options: Mapping[str, str], mode: PromptMode = "direct",
                  past_caption: str | None = None, *, pre_prompt: str = "",
                  post_prompt: str | None = None) -> str:
    """The text part of a FutureBench prompt, lines joined by ``\\n``: ``pre_prompt`` (when
    not empty), the past as text (when ``past_caption`` is not None), the question, the
    options ``A. ...`` one a line in letter order, then the instruction.

    Args:
        question: the item's question.
        options: letter -> option text.
        mode: ``direct`` or ``reasoning``; picks the instruction (`POST_PROMPTS`).
        past_caption: the past in words, sent instead of the video (text only).
        pre_prompt: a line before everything (the lmms-eval task's ``pre_prompt``).
        post_prompt: the instruction instead of the mode's (the lmms-eval task's
            ``post_prompt``; its YAML gives the ``direct`` one).

    Raises:
        ValueError: for an unknown ``mode``.
    """
    _check_mode(mode)
    lines = [pre_prompt] if pre_prompt else []
    if past_caption is not None:
        lines.append(f"What happened so far (in place of the video): {past_caption}")
    lines.append(question)
    lines += [f"{x}. {options[x]}" for x in sorted(options)]
    lines.append(POST_PROMPTS[mode] if post_prompt is None else post_prompt)
    return "\n".join(lines)


def response_choice(response: str, mode: PromptMode = "direct") -> str | None:
    """The option letter (A-D) a response to a ``mode`` prompt gives, or None.

    ``direct``: `extract_choice` mode ``auto`` (the whole response; after a closed
    ``<think>`` block, only what follows it; None for a cut-off ``<think>``);
    ``reasoning``: mode ``reasoning`` (the first closed ``<answer>`` block; None without).

    Raises:
        ValueError: for an unknown ``mode``.
        TypeError: when ``response`` is not a string.
    """
    _check_mode(mode)
    return extract_choice(response, EXTRACT_MODES[mode])


class Score(NamedTuple):
    """A scored response: the letter read (None: no answer) and whether it is the key."""

    choice: str | None
    correct: bool


def score_response(response: str, answer: str, mode: PromptMode = "direct") -> Score:
    """Score one response against the item's right letter ``answer`` (`response_choice`;
    no answer is wrong).

    Raises:
        ValueError: for an unknown ``mode``.
        TypeError: when ``response`` is not a string.
    """
    choice = response_choice(response, mode)
    return Score(choice, choice is not None and choice == answer)
