"""T3 aspect **grounding**: at which frames / in which time span an event happens
(Video-T3, Li et al., arXiv 2410.06166, Sec. 3, "temporal grounding").

The answer is what the text video shows: the first and last frame that show the named
event (``start_s <= t_k < end_s``), and for timed sources the times of those frames as
written in the prompt (one decimal). The annotated span ``[start_s, end_s]`` contains
them; it is not itself in the prompt, so it is never asked for. Only nameable events are
asked about. Distractors are the spans of the other events and the true span shifted.
"""

from __future__ import annotations

import random

from nextevent.t3.items import Question, quote
from nextevent.t3.timeline import Segment, Timeline, format_seconds

FRAME_TEMPLATES = (
    "In which frames is {x} shown?",
    "Which frames show {x}?",
    "Where in the video does {x} happen? Answer with frame numbers.",
)
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


def _pick(timeline: Timeline, rng: random.Random) -> tuple[int, Segment] | None:
    names = [i for i in range(len(timeline.segments)) if timeline.nameable(i)]
    if not names:
        return None
    i = rng.choice(names)
    return i, timeline.segments[i]


def _wrong_spans(timeline: Timeline, seg: Segment, rng: random.Random) -> list[tuple[int, int]]:
    n = timeline.n_frames
    spans = [(s.first, s.last) for s in timeline.segments if s is not seg]
    rng.shuffle(spans)
    width = seg.last - seg.first
    for shift in (1, -1, 2, -2):
        a, b = seg.first + shift, seg.last + shift
        if a >= 1 and b <= n:
            spans.append((a, b))
    if width > 0:
        spans += [(seg.first, seg.last - 1), (seg.first + 1, seg.last)]
    return [s for s in dict.fromkeys(spans) if s != (seg.first, seg.last)]


def grounding_frames(timeline: Timeline, rng: random.Random) -> Question | None:
    """Which frames show a named event."""
    picked = _pick(timeline, rng)
    if picked is None:
        return None
    _, seg = picked
    template = rng.randrange(len(FRAME_TEMPLATES))
    right = frames_text(seg.first, seg.last)
    return Question("grounding", "grounding_frames",
                    FRAME_TEMPLATES[template].format(x=quote(seg.text)), right, right + ".",
                    [frames_text(a, b) for a, b in _wrong_spans(timeline, seg, rng)],
                    template, {"refs": [seg.ref], "frames": [seg.first, seg.last]})


def grounding_span(timeline: Timeline, rng: random.Random) -> Question | None:
    """In which time span (seconds, from the frame times) a named event is seen. None
    for untimed timelines."""
    if not timeline.timed:
        return None
    picked = _pick(timeline, rng)
    if picked is None:
        return None
    _, seg = picked
    template = rng.randrange(len(SPAN_TEMPLATES))
    right = span_text(timeline, seg.first, seg.last)
    wrong = [span_text(timeline, a, b) for a, b in _wrong_spans(timeline, seg, rng)]
    return Question("grounding", "grounding_span",
                    SPAN_TEMPLATES[template].format(x=quote(seg.text)), right,
                    f"{right} ({frames_text(seg.first, seg.last)}).", wrong, template,
                    {"refs": [seg.ref], "frames": [seg.first, seg.last]})


TASKS = {"grounding_frames": grounding_frames, "grounding_span": grounding_span}
"""Task name -> generator for the grounding aspect."""
