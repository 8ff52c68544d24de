"""T3 aspect **grounding**: at which frames / in which time span an event happens
(Video-T3, Li et al., arXiv 2410.06166, Sec. 3, "temporal grounding").

The answer is what the text video shows: the first and last frame that show the named
event (``start_s <= t_k < end_s``), and for timed sources the times of those frames as
written in the prompt (one decimal). The annotated span ``[start_s, end_s]`` contains
them; it is not itself in the prompt, so it is never asked for. Only nameable events are
asked about, and only events whose text has no digits (so no option number is named in
the question).

Why the options carry no signal: the options are the frame spans (or time spans) of two
to four named events of the video, and the orbit (`nextevent.t3.items.Orbit`) asks
about each of them, under the same letters: every option is a real event's span and
the key once, so neither its numbers' rank, its width nor its spacing to the other
options tells anything. (Shifted copies of the true span, the old distractors, made the
key the centre of the options.)
"""

from __future__ import annotations

import random
import re

from nextevent.t3.items import Orbit, Question, quote
from nextevent.t3.timeline import Segment, Timeline, format_seconds

FRAME_TEMPLATES = (
    "In which frames is {x} shown?",
    "Which frames show {x}?",
    "Where in the video does {x} happen? Answer with frame numbers.",
)
_DIGITS = re.compile(r"\d")

SPAN_TEMPLATES = (
    "During which time span is {x} seen in the video?",
    "When does {x} happen, judging from the frames? Give the time span.",
    "Between which times is {x} shown?",
)


def frames_text(first: int, last: int) -> str:
    """``Frame 4`` or ``Frames 4 to 6``."""
    return f"Frame {first}" if first == last else f"Frames {first} to {last}"


def span_text(timeline: Timeline, first: int, last: int) -> str:
    """``At 12.5 s`` or ``From 12.5 s to 30.0 s`` (the frames' times as shown)."""
    times = timeline.frame_times_s or []
    if first == last:
        return f"At {format_seconds(times[first - 1])}"
    return f"From {format_seconds(times[first - 1])} to {format_seconds(times[last - 1])}"


def _orbit(timeline: Timeline, rng: random.Random, task: str, templates: tuple[str, ...],
           render) -> Orbit | None:
    names = [i for i in range(len(timeline.segments)) if timeline.nameable(i)
             and not _DIGITS.search(timeline.segments[i].text)]
    if len(names) < 2:
        return None
    picked = sorted(rng.sample(names, min(4, len(names))))
    template = rng.randrange(len(templates))
    choices, questions = [], []
    for i in picked:
        seg = timeline.segments[i]
        right, open_answer = render(seg)
        choices.append(right)
        questions.append(Question("grounding", task, templates[template].format(
            x=quote(seg.text)), right, open_answer, template,
            {"refs": [seg.ref], "frames": [seg.first, seg.last]}))
    return Orbit(choices, questions)


def grounding_frames(timeline: Timeline, rng: random.Random) -> Orbit | None:
    """Which frames show a named event, over an orbit of two to four events."""
    def render(seg: Segment) -> tuple[str, str]:
        right = frames_text(seg.first, seg.last)
        return right, right + "."

    return _orbit(timeline, rng, "grounding_frames", FRAME_TEMPLATES, render)


def grounding_span(timeline: Timeline, rng: random.Random) -> Orbit | None:
    """In which time span (seconds, from the frame times) a named event is seen, over an
    orbit of two to four events. None for untimed timelines."""
    if not timeline.timed:
        return None

    def render(seg: Segment) -> tuple[str, str]:
        right = span_text(timeline, seg.first, seg.last)
        return right, f"{right} ({frames_text(seg.first, seg.last)})."

    return _orbit(timeline, rng, "grounding_span", SPAN_TEMPLATES, render)


TASKS = {"grounding_frames": grounding_frames, "grounding_span": grounding_span}
"""Task name -> generator for the grounding aspect."""
