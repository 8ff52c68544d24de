"""FutureBench prompts (shared by eval, the blind filter and the lmms-eval task).

Published modes (V1, arXiv 2505.22457, FutureBench; the lmms-eval futurebench task in
sail-sg/Video-Next-Event-Prediction ``third_party/lmms-eval/lmms_eval/tasks/futurebench``):
``direct`` asks for the letter only, ``reasoning`` for thinking then the letter inside
``<answer>``; the extractor mode of `nextevent.rewards.mcq.extract_choice` matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

PromptMode = Literal["direct", "reasoning"]
POST_PROMPTS: dict[str, str] = {
    "direct": "Answer with the option's letter from the given choices directly.",
    "reasoning": ("Think about what happens step by step inside <think> </think> tags, then "
                  "give only the option's letter inside <answer> </answer> tags."),
}


def question_text(question: str, options: Mapping[str, str], mode: PromptMode = "direct",
                  past_caption: str | None = None) -> str:
    """The text part of a FutureBench prompt: optional past as text, question, options
    ``A. ...`` one a line, then the mode's instruction.

    Raises:
        ValueError: for an unknown ``mode``.
    """
    if mode not in POST_PROMPTS:
        raise ValueError(f"prompt mode must be one of {sorted(POST_PROMPTS)}, got {mode!r}")
    lines = []
    if past_caption is not None:
        lines.append(f"What happened so far (in place of the video): {past_caption}")
    lines.append(question)
    lines += [f"{x}. {options[x]}" for x in sorted(options)]
    lines.append(POST_PROMPTS[mode])
    return "\n".join(lines)
