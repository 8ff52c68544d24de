"""The T3 item (one text-only temporal question) and how a question becomes one.

Every aspect generator (`nextevent.t3.order`, `attribute`, `referring`, `grounding`)
returns an `Orbit`: one option list (the correct answers and distractors, all drawn from
the same timeline) and the questions that share it, each with its correct answer
computed from the timeline. `make_items` renders them as multiple-choice items
(``A.``-``D.`` options, answer = the letter, the lmms-eval instruction used by video QA
benchmarks) or open items (answer = a sentence), after the text video.
"""

from __future__ import annotations

import hashlib
import random
import re
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
    """One question an aspect generator asks about one timeline, before rendering.

    Attributes:
        aspect, task: as in `T3Item`.
        text: the question sentence(s).
        correct: the correct answer as an option text (one of its `Orbit`'s choices).
        open_answer: the correct answer as the open-form target.
        template: index of the question template used.
        meta: facts for checks (``refs`` and task-specific values).
    """

    aspect: str
    task: str
    text: str
    correct: str
    open_answer: str
    template: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Orbit:
    """Questions about one timeline that share one option list.

    The tool that makes options carry no signal of their own: in an *exchangeable* orbit
    there is one question per choice and every choice is the key of exactly one of them,
    and all are rendered with the same letters (`make_items`). Whatever a blind baseline
    computes from the options alone (length, centrality, numeric rank, positions, the
    letter) picks the same letter for every member, so it is right on exactly one of
    the ``len(choices)`` members: chance, exactly, orbit by orbit. A non-exchangeable
    orbit (one question) relies on its generator's own symmetry argument.

    Attributes:
        choices: the option texts, distinct.
        questions: the questions; each one's ``correct`` is in ``choices``.

    Raises:
        ValueError: when choices repeat, a question's key is not a choice, or an orbit
            with as many questions as choices uses a choice as key twice.
    """

    choices: list[str]
    questions: list[Question]

    def __post_init__(self) -> None:
        if len(set(self.choices)) != len(self.choices) or len(self.choices) < 2:
            raise ValueError(f"an orbit needs >= 2 distinct choices, got {self.choices}")
        keys = [q.correct for q in self.questions]
        if not self.questions or any(k not in self.choices for k in keys):
            raise ValueError(f"orbit keys {keys} are not all among {self.choices}")
        if len(keys) == len(self.choices) and len(set(keys)) != len(keys):
            raise ValueError(f"an exchangeable orbit needs each choice as key once: {keys}")

    @property
    def exchangeable(self) -> bool:
        """True when every choice is the key of exactly one question."""
        return len(self.questions) == len(self.choices) > 1

    @property
    def task(self) -> str:
        """The task of its questions."""
        return self.questions[0].task


_WORD = re.compile(r"[a-z0-9]+")


def word_set(text: str) -> set[str]:
    """Lower-case words (letters and digits) of ``text``."""
    return set(_WORD.findall(text.lower()))


def telling_words(*templates: str) -> set[str]:
    """Words in some but not all of parallel ``templates``: the words that tell an
    orbit's questions apart (``first`` / ``later``). An option holding one of them would
    echo one question and not the other, so generators offer no such option."""
    sets = [word_set(t.replace("{a}", "").replace("{b}", "").replace("{x}", ""))
            for t in templates]
    return set().union(*sets) - set.intersection(*sets)


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
    if timeline.timed and timeline.duration_s and not timeline.duration_known:
        end = format_seconds(timeline.duration_s)
        choices = [
            f"Below are {n} frames sampled evenly from the start of a video up to {end}, "
            "where its last annotated event ends, each described in words, in time order.",
            f"A video is described frame by frame ({n} frames, in time order, sampled "
            f"evenly up to {end}, the end of its last annotated event):",
            f"Read this text description of {n} evenly spaced frames of a video, sampled "
            f"up to {end} (where its annotated events end).",
        ]
    elif timeline.timed and timeline.duration_s:
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


def make_items(timeline: Timeline, orbit: Orbit, form: str,
               rng: random.Random) -> list[T3Item]:
    """Render every question of ``orbit`` about ``timeline`` as a `T3Item` in ``form``.

    Multiple choice: the choices are shuffled once and every member shows them under the
    same letters (answer = the key's letter), after the text video and the question,
    with the lmms-eval instruction. Open: answer = the question's open answer. Each
    item's ``meta`` holds ``question`` (the question sentence(s) alone, what a blind
    audit reads), ``orbit`` (an id shared by the members) and ``orbit_size``, besides the
    generator's facts and ``template``, ``n_frames``, ``duration_s``, ``duration_from``.
    """
    layout = list(orbit.choices)
    rng.shuffle(layout)
    options = dict(zip(LETTERS, layout, strict=False)) if form == "mc" else None
    parts = [timeline.source, timeline.id, orbit.task, form, *layout,
             *(q.text for q in orbit.questions)]
    orbit_id = hashlib.sha1("\x00".join(parts).encode("utf-8")).hexdigest()[:12]
    out = []
    for question in orbit.questions:
        head = intro(timeline, rng) + "\n" + timeline.render() + "\n\n" + question.text
        if options is not None:
            prompt = (head + "\n" + "\n".join(f"{k}. {v}" for k, v in options.items())
                      + "\n" + MC_INSTRUCTION)
            answer = LETTERS[layout.index(question.correct)]
        else:
            prompt, answer = head, question.open_answer
        digest = hashlib.sha1((prompt + "\x00" + answer).encode("utf-8")).hexdigest()[:12]
        meta = {"template": question.template, "n_frames": timeline.n_frames,
                "duration_s": timeline.duration_s, "duration_from": timeline.duration_from,
                "question": question.text, "orbit": orbit_id,
                "orbit_size": len(orbit.questions), **question.meta}
        out.append(T3Item(
            id=f"{timeline.source}/{timeline.id}/{question.task}/{digest}",
            aspect=question.aspect, task=question.task, form=form,  # type: ignore[arg-type]
            source=timeline.source, video_id=timeline.id, prompt=prompt, answer=answer,
            options=dict(options) if options is not None else None, meta=meta))
    return out
