"""T3 aspect **attribute**: how a property changes across frames (Video-T3, Li et al.,
arXiv 2410.06166, Sec. 3, "attribute": first vs last state, when it changed).

Event texts rarely state a property that changes, and guessing one from the words would
make answers guesses. So the properties here are ones computed from the timestamps
(or, for pseudo-videos, from the construction) alone:

* **state**: what the frame shows, i.e. the event in progress at the frame's time
  (``start_s <= t_k < end_s``), or the scene of a pseudo-video.
  ``attribute_first_last`` asks for the state in the first and in the last frame;
  it is asked only when both frames show an event (no gap) and the two texts differ.
  ``attribute_change`` asks at which frame the state changes from X to Y: frame ``k``
  with state X at ``k - 1`` and Y at ``k`` (both events, texts differ); asked only when
  that X -> Y change happens once in the video.
* **count**: how many different events have been shown up to and including frame
  ``k``: the number of distinct texts among the visible events whose first frame is at
  or before ``k`` (``attribute_count``: at one frame, or how it changes from frame ``a``
  to frame ``b``).
"""

from __future__ import annotations

import random

from nextevent.t3.items import Question, quote, sentence
from nextevent.t3.timeline import Timeline

FIRST_LAST_TEMPLATES = (
    "How does what is happening change between the first and the last frame?",
    "What is happening at the beginning of the video, and what at the end?",
    "Describe the change from Frame 1 to Frame {n}: what does each of them show?",
)

CHANGE_TEMPLATES = (
    "At which frame does the video change from {x} to {y}?",
    "In which frame is {y} first seen right after {x}?",
    "When does {x} give way to {y}? Name the frame.",
)

COUNT_ONE_TEMPLATES = (
    "How many different events have been shown up to and including Frame {k}?",
    "Counting from the start, how many different events has the video shown by Frame {k}?",
)

COUNT_CHANGE_TEMPLATES = (
    "How does the number of different events shown so far change from Frame {a} to "
    "Frame {b}?",
    "Count the different events shown so far at Frame {a} and at Frame {b}. How does the "
    "count change?",
)


def _pair(x: str, y: str) -> str:
    return f"From {quote(x)} to {quote(y)}"


def attribute_first_last(timeline: Timeline, rng: random.Random) -> Question | None:
    """The state in the first vs the last frame. None when either frame is a gap or
    both show the same text."""
    first, last = timeline.frame_seg[0], timeline.frame_seg[-1]
    if first is None or last is None:
        return None
    x, y = timeline.segments[first].text, timeline.segments[last].text
    if x == y:
        return None
    others = list(dict.fromkeys(s.text for s in timeline.segments if s.text not in (x, y)))
    rng.shuffle(others)
    distractors = [_pair(y, x)] + [_pair(x, z) for z in others[:1]] + [
        _pair(z, y) for z in others[1:2]] + [_pair(z, x) for z in others[:1]]
    template = rng.randrange(len(FIRST_LAST_TEMPLATES))
    n = timeline.n_frames
    return Question(
        "attribute", "attribute_first_last", FIRST_LAST_TEMPLATES[template].format(n=n),
        _pair(x, y), f"In Frame 1: {sentence(x)} In Frame {n}: {sentence(y)}",
        distractors, template,
        {"refs": [timeline.segments[first].ref, timeline.segments[last].ref],
         "frames": [1, n]})


def change_frames(timeline: Timeline) -> list[int]:
    """Frames ``k`` (1-based) where the state changes from one event to another event
    with a different text (gaps on either side do not count)."""
    out = []
    for k in range(2, timeline.n_frames + 1):
        a, b = timeline.frame_seg[k - 2], timeline.frame_seg[k - 1]
        if a is not None and b is not None and a != b and (
                timeline.segments[a].text != timeline.segments[b].text):
            out.append(k)
    return out


def attribute_change(timeline: Timeline, rng: random.Random) -> Question | None:
    """At which frame the state changes from X to Y. None when no X -> Y change happens
    exactly once."""
    changes = change_frames(timeline)
    pairs = [(timeline.frame_texts[k - 2], timeline.frame_texts[k - 1]) for k in changes]
    unique = [k for k, p in zip(changes, pairs, strict=True) if pairs.count(p) == 1]
    if not unique:
        return None
    k = rng.choice(unique)
    a, b = timeline.frame_seg[k - 2], timeline.frame_seg[k - 1]
    x, y = timeline.segments[a].text, timeline.segments[b].text  # type: ignore[index]
    n = timeline.n_frames
    near = [c for c in changes if c != k] + [k - 1, k + 1,
                                             timeline.segments[a].first,  # type: ignore[index]
                                             timeline.segments[b].last]  # type: ignore[index]
    near = [f for f in dict.fromkeys(near) if 1 <= f <= n and f != k]
    rng.shuffle(near)
    template = rng.randrange(len(CHANGE_TEMPLATES))
    label = timeline.frame_label(k)
    return Question(
        "attribute", "attribute_change",
        CHANGE_TEMPLATES[template].format(x=quote(x), y=quote(y)), label, f"At {label}.",
        [timeline.frame_label(f) for f in near], template,
        {"refs": [timeline.segments[a].ref, timeline.segments[b].ref],  # type: ignore[index]
         "frame": k})


def shown_count(timeline: Timeline, k: int) -> int:
    """Different event texts shown in frames 1..k."""
    return len({s.text for s in timeline.segments if s.first <= k})


def attribute_count(timeline: Timeline, rng: random.Random) -> Question | None:
    """How many different events have been shown by frame ``k`` (or how that count
    changes from frame ``a`` to frame ``b``)."""
    n = timeline.n_frames
    total = len({s.text for s in timeline.segments})
    if rng.random() < 0.5:
        k = rng.randint(1, n)
        c = shown_count(timeline, k)
        template = rng.randrange(len(COUNT_ONE_TEMPLATES))
        wrong = [v for v in (c - 1, c + 1, c + 2, c - 2, total + 1) if v >= 0 and v != c]
        return Question("attribute", "attribute_count",
                        COUNT_ONE_TEMPLATES[template].format(k=k), str(c),
                        f"{c} by Frame {k}.", [str(v) for v in dict.fromkeys(wrong)],
                        template, {"refs": [], "frames": [k], "counts": [c]})
    a, b = sorted(rng.sample(range(1, n + 1), 2))
    ca, cb = shown_count(timeline, a), shown_count(timeline, b)
    template = len(COUNT_ONE_TEMPLATES) + rng.randrange(len(COUNT_CHANGE_TEMPLATES))

    def says(u: int, v: int) -> str:
        return f"It stays at {u}" if u == v else f"It goes from {u} to {v}"

    wrong = [(cb, ca), (ca, cb + 1), (max(ca - 1, 0), cb), (ca + 1, cb + 1), (ca, ca)]
    options = [says(u, v) for u, v in wrong if (u, v) != (ca, cb) and u <= v]
    return Question("attribute", "attribute_count",
                    COUNT_CHANGE_TEMPLATES[template - len(COUNT_ONE_TEMPLATES)].format(a=a, b=b),
                    says(ca, cb), f"{says(ca, cb)} (Frame {a}: {ca}, Frame {b}: {cb}).",
                    list(dict.fromkeys(options)), template,
                    {"refs": [], "frames": [a, b], "counts": [ca, cb]})


TASKS = {"attribute_first_last": attribute_first_last, "attribute_change": attribute_change,
         "attribute_count": attribute_count}
"""Task name -> generator for the attribute aspect."""
