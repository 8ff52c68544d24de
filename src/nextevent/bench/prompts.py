"""The one FutureBench prompt and scorer, shared by ``bench eval``
(`nextevent.bench.evaluate`), ``bench filter`` / the blind audit (`nextevent.audit.model`)
and the exported lmms-eval tasks (``lmms_eval_task/utils.py``).

The prompt is the published one, byte for byte (V1, arXiv 2505.22457, FutureBench; the
lmms-eval task of sail-sg/Video-Next-Event-Prediction, commit 7250875d,
``third_party/lmms-eval/lmms_eval/tasks/futurebench``: ``future_pred_doc_to_text`` builds
``pre_prompt + "\n" + question + "\n" + options + "\n" + post_prompt``). ``direct``
(that task's YAML): an empty pre prompt and the post prompt ``"\nAnswer with the
option's letter ..."``, so the text is ``"\n{question}\n{options}\n\nAnswer with ..."``;
``reasoning`` (the YAML's commented-out reasoning block): the think-then-``<answer>``
instruction as the pre prompt and an empty post prompt.

`question_text` builds the text, `response_choice` reads the letter of a response by
`nextevent.rewards.mcq.extract_choice` (``direct``: mode ``auto``, the whole response, or
what follows a closed ``<think>`` block when a reasoning model thinks anyway, or an
``<answer>`` block when one is given; ``reasoning``: the ``<answer>`` block only, as
published), and `score_response` scores it. `response_conclusion` reads the option a
reasoning response's ``<think>`` text concludes (`nextevent.rewards.consistency`), for
``bench eval``'s think-answer consistency.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

from nextevent.rewards.consistency import think_conclusion, think_text
from nextevent.rewards.mcq import ExtractMode, extract_choice

PromptMode = Literal["direct", "reasoning"]
PRE_PROMPTS: dict[str, str] = {
    "direct": "",
    "reasoning": ("You FIRST think about the reasoning process as an internal monologue and "
                  "then provide the final answer.\nThe reasoning process MUST BE enclosed "
                  "within <think> </think> tags. The final answer MUST BE put in <answer> "
                  "</answer> tags."),
}
"""The published pre prompt of each mode (the V1 futurebench YAML's ``pre_prompt``)."""
POST_PROMPTS: dict[str, str] = {
    "direct": "\nAnswer with the option's letter from the given choices directly.",
    "reasoning": "",
}
"""The published post prompt of each mode (the V1 futurebench YAML's ``post_prompt``; the
direct one starts with a newline, as published)."""
PAST_PREFIX = "What happened so far (in place of the video): "
"""The line before the question that gives the past in words (text-only evaluation; not
in the published task, which always shows the video)."""


EXTRACT_MODES: dict[str, ExtractMode] = {"direct": "auto", "reasoning": "reasoning"}
"""`extract_choice` mode per prompt mode. ``auto`` reads a plain response whole (as
``direct`` does), and for a ``<think>...</think> C`` response the text after the
thinking."""


def _check_mode(mode: str) -> None:
    if mode not in POST_PROMPTS:
        raise ValueError(f"prompt mode must be one of {sorted(POST_PROMPTS)}, got {mode!r}")


def question_text(question: str, options: Mapping[str, str], mode: PromptMode = "direct",
                  past_caption: str | None = None, *, pre_prompt: str | None = None,
                  post_prompt: str | None = None) -> str:
    """The text part of a FutureBench prompt, as the published task builds it:
    ``pre_prompt + "\n" + body + "\n" + post_prompt``, where the body is the past as text
    (one line, when ``past_caption`` is not None), the question, and the options
    ``A. ...`` one a line in letter order. ``direct`` gives
    ``"\n{question}\n{options}\n\nAnswer with the option's letter ..."``.

    Args:
        question: the item's question.
        options: letter -> option text.
        mode: ``direct`` or ``reasoning``; picks the pre and post prompt (`PRE_PROMPTS`,
            `POST_PROMPTS`).
        past_caption: the past in words, sent instead of the video (text only).
        pre_prompt: the pre prompt instead of the mode's (the lmms-eval task's
            ``pre_prompt``); an empty one still leaves the leading newline, as published.
        post_prompt: the post prompt instead of the mode's (the lmms-eval task's
            ``post_prompt``).

    Raises:
        ValueError: for an unknown ``mode``.
    """
    _check_mode(mode)
    pre = PRE_PROMPTS[mode] if pre_prompt is None else pre_prompt
    post = POST_PROMPTS[mode] if post_prompt is None else post_prompt
    body = [] if past_caption is None else [f"{PAST_PREFIX}{past_caption}"]
    body.append(question)
    body += [f"{x}. {options[x]}" for x in sorted(options)]
    return pre + "\n" + "\n".join(body) + "\n" + post


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


def response_conclusion(response: str, options: Mapping[str, str] | None = None,
                        reasoning: str | None = None) -> str | None:
    """The option letter a response's thinking concludes, by the rule of
    `nextevent.rewards.consistency.think_conclusion` (the last option it names, by letter
    or, when ``options`` are given, by text), or None: no thinking (`think_text`: the
    ``<think>`` block, else the server's separate ``reasoning``, else the text before
    ``<answer>``), or a thinking that names no option.

    Raises:
        TypeError: when ``response`` is not a string.
    """
    thinking = think_text(response, reasoning)
    return None if thinking is None else think_conclusion(thinking, options)
