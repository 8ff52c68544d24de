"""The T3 item (one text-only temporal question) and how a question becomes one.

Every aspect generator (`nextevent.t3.order`, `attribute`, `referring`, `grounding`)
returns a `Question`: the question text, the correct answer computed from the timeline,
and distractors drawn from the same timeline. `make_item` renders it as a multiple-choice
(``A.``-``D.`` options, answer = the letter, the lmms-eval instruction used by video QA
benchmarks) or an open item (answer = a sentence), after the text video.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nextevent.t3.timeline import Timeline, format_seconds

Aspect = Literal["order", "attribute", "referring", "grounding"]
ASPECTS: tuple[str, ...] = ("order", "attribute", "referring", "grounding")
"""The four T3 aspects (Video-T3, Li et al., arXiv 2410.06166, Sec. 3)."""

Form = Literal["mc", "open"]
FORMS: tuple[str, ...] = ("mc", "open")
LETTERS = "ABCD"
MC_INSTRUCTION = "Answer with the option's letter from the given choices directly."
"""The direct-answer instruction of LLaVA-style video MCQ evaluation (lmms-eval)."""


class T3Item(BaseModel):
    """One text-only temporal reasoning sample, a line of ``T3.jsonl``.

    Attributes:
        id: ``<source>/<video_id>/<task>/<hash>``, unique in a file.
        aspect: ``order``, ``attribute``, ``referring`` or ``grounding``.
        task: the task within the aspect (e.g. ``order_pair``, ``grounding_span``).
        form: ``mc`` (answer is an option letter) or ``open`` (answer is a sentence).
        source, video_id: where the timeline came from.
        prompt: the text video (``Frame k: ...`` lines) and the question (and options).
        answer: the training target: a letter for ``mc``, a sentence for ``open``.
        options: letter -> option text for ``mc``; None for ``open``.
        meta: what a check needs to recompute the answer from the source: ``refs``
            (indices of the events the question names into the source's event list, or
            caption indices), ``n_frames``, ``duration_s``, the template index, and the
            task's own facts (frames, counts).
        tokens: ``{"prompt": n, "answer": m}`` and the ``counter`` name, when counted.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    aspect: Aspect
    task: str
    form: Form
    source: str
    video_id: str
    prompt: str
    answer: str
    options: dict[str, str] | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    tokens: dict[str, Any] | None = None


@dataclass
class Question:
    """A question an aspect generator asks about one timeline, before rendering.

    Attributes:
        aspect, task: as in `T3Item`.
        text: the question sentence(s).
        correct: the correct answer as an option text.
        open_answer: the correct answer as the open-form target.
        distractors: wrong option texts (same timeline), most plausible first.
        template: index of the question template used.
        meta: facts for checks (``refs`` and task-specific values).
    """

    aspect: str
    task: str
    text: str
    correct: str
    open_answer: str
    distractors: list[str] = field(default_factory=list)
    template: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


def quote(text: str) -> str:
    """An event description as quoted inside a question: ``"text"`` without a final
    full stop."""
    return '"' + text.rstrip(" .") + '"'


def sentence(text: str) -> str:
    """``text`` ending with a full stop (or its own ``?``/``!``)."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def intro(timeline: Timeline, rng: random.Random) -> str:
    """One of a few sentences that introduce the text video."""
    n = timeline.n_frames
    if timeline.timed and timeline.duration_s:
        dur = format_seconds(timeline.duration_s)
        choices = [
            f"Below are {n} frames sampled evenly from a video of {dur}, each described in "
            "words, in time order.",
            f"A video of {dur} is described frame by frame ({n} frames, in time order):",
            f"Read this text description of {n} evenly spaced frames of a {dur} video.",
        ]
    else:
        choices = [
            f"Below are the {n} frames of a video, each described in words, in order.",
            f"A video is described frame by frame ({n} frames, in time order):",
            f"Read this text description of a video's {n} frames.",
        ]
    return rng.choice(choices)


def make_item(timeline: Timeline, question: Question, form: str,
              rng: random.Random) -> T3Item | None:
    """Render ``question`` about ``timeline`` as a `T3Item` in ``form``.

    A multiple-choice item takes the correct option and up to 3 distinct distractors,
    shuffled; it needs at least one distractor, else None is returned.
    """
    head = intro(timeline, rng) + "\n" + timeline.render() + "\n\n" + question.text
    options: dict[str, str] | None = None
    if form == "mc":
        wrong: list[str] = []
        for text in question.distractors:
            if text != question.correct and text not in wrong:
                wrong.append(text)
        if not wrong:
            return None
        choices = [question.correct, *wrong[:3]]
        rng.shuffle(choices)
        options = dict(zip(LETTERS, choices, strict=False))
        letter = LETTERS[choices.index(question.correct)]
        prompt = (head + "\n" + "\n".join(f"{k}. {v}" for k, v in options.items())
                  + "\n" + MC_INSTRUCTION)
        answer = letter
    else:
        prompt, answer = head, question.open_answer
    digest = hashlib.sha1((prompt + "\x00" + answer).encode("utf-8")).hexdigest()[:12]
    meta = {"template": question.template, "n_frames": timeline.n_frames,
            "duration_s": timeline.duration_s, **question.meta}
    return T3Item(id=f"{timeline.source}/{timeline.id}/{question.task}/{digest}",
                  aspect=question.aspect, task=question.task, form=form,  # type: ignore[arg-type]
                  source=timeline.source, video_id=timeline.id, prompt=prompt, answer=answer,
                  options=options, meta=meta)
