"""T3 aspect **attribute**: how a property changes across frames (Video-T3, Li et al.,
arXiv 2410.06166, Sec. 3, "attribute": the state at an earlier vs a later frame, when
it changed, how a count grows).

Event texts rarely state a property that changes, and guessing one from the words would
make answers guesses. So the properties here are ones computed from the timestamps
(or, for pseudo-videos, from the construction) alone:

* **state**: what the frame shows, i.e. the event in progress at the frame's time
  (``start_s <= t_k < end_s``), or the scene of a pseudo-video.
  ``attribute_states`` asks what frame ``a`` and frame ``b`` (``a < b``) show (the
  first-vs-last question of Video-T3 generalised to two frames); asked only about
  frames that show an event. ``attribute_change`` asks at which frame the state changes
  from X to Y: frame ``k`` with state X at ``k - 1`` and Y at ``k`` (both events, texts
  differ); asked only when that X -> Y change happens once in the video (no other
  change between texts equal or near-duplicate to X and Y).
* **count**: how many different events have been shown up to and including frame
  ``k``: the number of distinct texts among the visible events whose first frame is at
  or before ``k`` (``attribute_count``: at one frame, or how it changes from frame ``a``
  to frame ``b``).

Why the options carry no signal (each generator returns an exchangeable
`nextevent.t3.items.Orbit`: one question per option, each option the key once, all
under the same letters, so anything computed from the options alone, numeric rank
included, is right on exactly one member):

* ``attribute_states``: four frames ``a1 < a2 < b1 < b2`` showing four different,
  non-near-duplicate events; the options are the 2 x 2 pairs ``From x to y`` with x
  the state at ``a1`` or ``a2`` and y the state at ``b1`` or ``b2`` (a Latin design:
  every event sits in exactly two options, in the same slot, so positional consensus
  is flat), and the orbit asks about the four frame pairs ``(a_i, b_j)``.
* ``attribute_change``: the options are the frames of two to four unique changes of the
  video, and the orbit asks about each of those changes: every option is a real change
  frame and is the key once, so neither its rank nor the spacing tells anything.
* ``attribute_count``: at one frame: the options are two to four count values the video
  reaches, and the orbit asks, for each value, about a frame with that count; the
  frame asked about is never one of the option numbers (so no option echoes the
  question). From frame ``a`` to ``b``: the 2 x 2 Latin design of the state pairs, on
  counts (``From u to v``), over frames ``a1 < a2 < b1 < b2``.
"""

from __future__ import annotations

import random
import re

from nextevent.t3.items import Orbit, Question, quote, sentence
from nextevent.t3.similar import any_near_duplicate, near_duplicate
from nextevent.t3.timeline import Timeline

STATES_TEMPLATES = (
    "How does what is happening change from Frame {a} to Frame {b}?",
    "What is happening in Frame {a}, and what in Frame {b}?",
    "Describe the change from Frame {a} to Frame {b}: what does each of them show?",
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

_DIGITS = re.compile(r"\d+")


def numbers(text: str) -> set[str]:
    """The digit runs of ``text`` (``"Frame 12 (3.5 s)"`` -> ``{"12", "3", "5"}``)."""
    return set(_DIGITS.findall(text))


def _pair(x: str, y: str) -> str:
    return f"From {quote(x)} to {quote(y)}"


def _latin_frames(runs: list[list[int]], rng: random.Random, shared_middle: bool = False,
                  ) -> tuple[list[int], list[int]] | None:
    """Frames ``a1 < a2 < b1 < b2`` for a 2 x 2 Latin orbit, or None.

    ``runs`` are groups of frames with one value each (a state, a count), in time order,
    values different between groups. The four frames come from four different groups
    (drawn at random, a random frame in each); with ``shared_middle``, when fewer than
    four groups exist, ``a2`` and ``b1`` may come from one group of two or more frames.
    """
    if len(runs) >= 4:
        groups = sorted(rng.sample(range(len(runs)), 4))
        a1, a2, b1, b2 = (rng.choice(runs[g]) for g in groups)
        return [a1, a2], [b1, b2]
    if shared_middle and len(runs) == 3 and len(runs[1]) >= 2:
        a2, b1 = sorted(rng.sample(runs[1], 2))
        return [rng.choice(runs[0]), a2], [b1, rng.choice(runs[2])]
    return None


def attribute_states(timeline: Timeline, rng: random.Random) -> Orbit | None:
    """What frame ``a`` and frame ``b`` show, over the 2 x 2 Latin orbit (module
    docstring). None when no four frames show four different, non-near-duplicate
    events whose texts share no number with the frame numbers asked about."""
    state = timeline.state_text
    order = list(range(len(timeline.segments)))
    rng.shuffle(order)
    keep: list[int] = []  # segments with different, non-near-duplicate texts
    for i in order:
        text = timeline.segments[i].text
        if not any_near_duplicate([text, *(timeline.segments[j].text for j in keep)]):
            keep.append(i)
    runs = [list(range(timeline.segments[i].first, timeline.segments[i].last + 1))
            for i in sorted(keep)]
    picked = _latin_frames(runs, rng)
    if picked is None:
        return None
    (a1, a2), (b1, b2) = picked
    texts = [state(k) for k in (a1, a2, b1, b2)]
    if numbers(" ".join(texts)) & numbers(f"{a1} {a2} {b1} {b2}"):  # type: ignore[arg-type]
        return None
    template = rng.randrange(len(STATES_TEMPLATES))
    choices, questions = [], []
    for a in (a1, a2):
        for b in (b1, b2):
            x, y = state(a), state(b)
            assert x is not None and y is not None
            right = _pair(x, y)
            choices.append(right)
            refs = [timeline.segments[timeline.frame_seg[k - 1]].ref  # type: ignore[index]
                    for k in (a, b)]
            questions.append(Question(
                "attribute", "attribute_states",
                STATES_TEMPLATES[template].format(a=a, b=b), right,
                f"In Frame {a}: {sentence(x)} In Frame {b}: {sentence(y)}", template,
                {"refs": refs, "frames": [a, b]}))
    return Orbit(choices, questions)


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


def attribute_change(timeline: Timeline, rng: random.Random) -> Orbit | None:
    """At which frame the state changes from X to Y, over an orbit of two to four unique
    changes (module docstring). None when fewer than two X -> Y changes happen exactly
    once (up to near-duplicate texts) with X and Y not near-duplicates of each other and
    no number in their texts."""
    changes = change_frames(timeline)
    pairs = [(timeline.frame_texts[k - 2], timeline.frame_texts[k - 1]) for k in changes]

    def alike(p: tuple[str, str], o: tuple[str, str]) -> bool:
        return near_duplicate(p[0], o[0]) and near_duplicate(p[1], o[1])

    unique = [k for n, (k, p) in enumerate(zip(changes, pairs, strict=True))
              if not any(alike(p, o) for m, o in enumerate(pairs) if m != n)
              and not near_duplicate(*p) and not numbers(" ".join(p))]
    if len(unique) < 2:
        return None
    picked = sorted(rng.sample(unique, min(4, len(unique))))
    template = rng.randrange(len(CHANGE_TEMPLATES))
    choices, questions = [], []
    for k in picked:
        a, b = timeline.frame_seg[k - 2], timeline.frame_seg[k - 1]
        x, y = timeline.segments[a].text, timeline.segments[b].text  # type: ignore[index]
        label = timeline.frame_label(k)
        choices.append(label)
        questions.append(Question(
            "attribute", "attribute_change",
            CHANGE_TEMPLATES[template].format(x=quote(x), y=quote(y)), label, f"At {label}.",
            template,
            {"refs": [timeline.segments[a].ref, timeline.segments[b].ref],  # type: ignore[index]
             "frame": k}))
    return Orbit(choices, questions)


def shown_count(timeline: Timeline, k: int) -> int:
    """Different event texts shown in frames 1..k."""
    return len({s.text for s in timeline.segments if s.first <= k})


def _count_one(timeline: Timeline, rng: random.Random) -> Orbit | None:
    n = timeline.n_frames
    counts = {k: shown_count(timeline, k) for k in range(1, n + 1)}
    values = sorted(set(counts.values()))
    if len(values) < 2:
        return None
    for _ in range(10):
        picked = sorted(rng.sample(values, min(4, len(values))))
        option_numbers = {str(v) for v in picked}
        frames = []
        for v in picked:
            ks = [k for k, c in counts.items() if c == v and not numbers(str(k)) & option_numbers]
            if not ks:
                break
            frames.append(rng.choice(ks))
        else:
            template = rng.randrange(len(COUNT_ONE_TEMPLATES))
            questions = [Question("attribute", "attribute_count",
                                  COUNT_ONE_TEMPLATES[template].format(k=k), str(v),
                                  f"{v} by Frame {k}.", template,
                                  {"refs": [], "frames": [k], "counts": [v]})
                         for v, k in zip(picked, frames, strict=True)]
            return Orbit([str(v) for v in picked], questions)
    return None


def _count_change(timeline: Timeline, rng: random.Random) -> Orbit | None:
    def count(k: int) -> int:
        return shown_count(timeline, k)

    runs: list[list[int]] = []
    for k in range(1, timeline.n_frames + 1):  # counts never decrease: runs of one value
        if runs and count(runs[-1][0]) == count(k):
            runs[-1].append(k)
        else:
            runs.append([k])
    picked = _latin_frames(runs, rng, shared_middle=True)
    if picked is None:
        return None
    (a1, a2), (b1, b2) = picked
    values = {str(count(k)) for k in (a1, a2, b1, b2)}
    if values & numbers(f"{a1} {a2} {b1} {b2}"):
        return None
    template = rng.randrange(len(COUNT_CHANGE_TEMPLATES))
    choices, questions = [], []
    for a in (a1, a2):
        for b in (b1, b2):
            ca, cb = count(a), count(b)
            right = f"From {ca} to {cb}"
            choices.append(right)
            questions.append(Question(
                "attribute", "attribute_count",
                COUNT_CHANGE_TEMPLATES[template].format(a=a, b=b), right,
                f"{right} (Frame {a}: {ca}, Frame {b}: {cb}).",
                len(COUNT_ONE_TEMPLATES) + template,
                {"refs": [], "frames": [a, b], "counts": [ca, cb]}))
    return Orbit(choices, questions)


def attribute_count(timeline: Timeline, rng: random.Random) -> Orbit | None:
    """How many different events have been shown by frame ``k`` (or how that count
    changes from frame ``a`` to frame ``b``), as an orbit (module docstring)."""
    first, second = (_count_one, _count_change) if rng.random() < 0.5 else (
        _count_change, _count_one)
    return first(timeline, rng) or second(timeline, rng)


TASKS = {"attribute_states": attribute_states, "attribute_change": attribute_change,
         "attribute_count": attribute_count}
"""Task name -> generator for the attribute aspect."""
