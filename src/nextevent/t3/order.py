"""T3 aspect **order**: which of two events comes first; the right order of k shuffled
events (Video-T3, Li et al., arXiv 2410.06166, Sec. 3, "order").

Answers come from the frames each event is shown in, which follow the events' start
times (events do not overlap, see `nextevent.t3.timeline`), so "A comes before B" means
``A.start_s < B.start_s``. Only nameable events are named (no other visible event has
the same text or a near-duplicate), and two events are asked about together only when
`Timeline.paired` allows it (raw spans overlapping by IoU < 0.5, texts not
near-duplicates); two events never share a frame, so there are no ties.

Why the options carry no signal (every generator returns an exchangeable
`nextevent.t3.items.Orbit`: one question per option, each option the key once, all
under the same letters):

* ``order_pair`` "first or later": the options are the two named events; the orbit asks
  "which happens first" and "which happens later" with parallel templates that name
  the two in the same order, so each event is the key once and is named in the question
  in the same place both times; an event whose text holds a word that tells the two
  questions apart (``first``, ``later``, ``earlier``) is not offered, so no option
  echoes one question and not the other. "Before or after": options ``Before``/``After``; the
  orbit asks about (a, b) and about (b, a).
* ``order_sequence``: the listing of the k events is a uniform random permutation (the
  true order included), and the options are the answer under the cyclic rotations of
  the time positions (all k for k <= 4, four of the five for k = 5). Rotations differ
  from each other at every position, so every number appears once per position across
  the options (a Latin square: positional consensus is flat), and the orbit has one
  listing per option, so each rotation is the key once. The question's words are the
  same set in every member (the listing is reordered, not changed).
"""

from __future__ import annotations

import random

from nextevent.t3.items import Orbit, Question, quote, sentence, telling_words, word_set
from nextevent.t3.timeline import Timeline

FIRST_LATER_TEMPLATES = (
    ("Which happens first in the video: {a} or {b}?",
     "Which happens later in the video: {a} or {b}?"),
    ("Of these two events, which one comes earlier: {a} or {b}?",
     "Of these two events, which one comes later: {a} or {b}?"),
)
"""Parallel (first, later) templates: the orbit's two questions differ in one word."""
BEFORE_AFTER_TEMPLATES = (
    "Does {a} happen before or after {b}?",
    "In the video, is {a} shown before or after {b}?",
)
SEQUENCE_TEMPLATES = (
    "Put these events in the order they happen in the video:",
    "The following events are shuffled. Give their order in the video:",
    "List these events in the order the video shows them:",
)


def _nameable(timeline: Timeline) -> list[int]:
    return [i for i in range(len(timeline.segments)) if timeline.nameable(i)]


def _compatible(timeline: Timeline, names: list[int], k: int,
                rng: random.Random) -> list[int] | None:
    """``k`` of ``names`` that may all be asked about together, in time order, or None."""
    pool = names[:]
    rng.shuffle(pool)
    chosen: list[int] = []
    for i in pool:
        if all(timeline.paired(i, j) for j in chosen):
            chosen.append(i)
            if len(chosen) == k:
                return sorted(chosen)
    return None


def order_pair(timeline: Timeline, rng: random.Random) -> Orbit | None:
    """Which of two named events comes first / later (or: before or after?), as an
    orbit of two questions (module docstring).

    Returns None when no two nameable events may be paired.
    """
    n_fl = len(FIRST_LATER_TEMPLATES)
    template = rng.randrange(n_fl + len(BEFORE_AFTER_TEMPLATES))
    names = _nameable(timeline)
    if template < n_fl:  # the options are the events: none may echo "first" or "later"
        telling = telling_words(*FIRST_LATER_TEMPLATES[template])
        names = [i for i in names if not word_set(timeline.segments[i].text) & telling]
    pair = _compatible(timeline, names, 2, rng)
    if pair is None:
        return None
    i, j = pair if rng.random() < 0.5 else pair[::-1]  # i is named first, whatever its time
    seg_a, seg_b = timeline.segments[i], timeline.segments[j]
    a, b = quote(seg_a.text), quote(seg_b.text)
    a_first = seg_a.first < seg_b.first
    refs = [seg_a.ref, seg_b.ref]
    if template >= n_fl:
        text = BEFORE_AFTER_TEMPLATES[template - n_fl]
        questions = []
        for (x, y, rx, ry), x_first in (((a, b, *refs), a_first), ((b, a, *refs[::-1]),
                                                                   not a_first)):
            rel = "before" if x_first else "after"
            questions.append(Question("order", "order_pair", text.format(a=x, b=y),
                                      rel.capitalize(), f"{x} happens {rel} {y}.", template,
                                      {"refs": [rx, ry], "asked": "before_after"}))
        return Orbit(["Before", "After"], questions)
    earlier, later = (seg_a, seg_b) if a_first else (seg_b, seg_a)
    questions = []
    for kind, right, text in (("first", earlier, FIRST_LATER_TEMPLATES[template][0]),
                              ("later", later, FIRST_LATER_TEMPLATES[template][1])):
        questions.append(Question("order", "order_pair", text.format(a=a, b=b),
                                  sentence(right.text), f"{quote(right.text)} happens {kind}.",
                                  template, {"refs": refs, "asked": kind}))
    return Orbit([sentence(seg_a.text), sentence(seg_b.text)], questions)


def order_sequence(timeline: Timeline, rng: random.Random, max_k: int = 5) -> Orbit | None:
    """Give the order of 3 to ``max_k`` listed events, as their list numbers (e.g.
    ``3, 1, 2``), as an orbit of one listing per option (module docstring).

    Returns None when fewer than three nameable events may all be asked about together.
    """
    names = _nameable(timeline)
    if len(names) < 3:
        return None
    k = rng.randint(3, min(max_k, len(names)))
    chosen = _compatible(timeline, names, k, rng) or _compatible(timeline, names, 3, rng)
    if chosen is None:
        return None
    k = len(chosen)
    base = list(range(1, k + 1))
    rng.shuffle(base)  # base[t]: list number of the t-th event in time (any permutation)
    shifts = sorted(rng.sample(range(k), min(4, k)))
    template = rng.randrange(len(SEQUENCE_TEMPLATES))
    truths = [[base[(t + r) % k] for t in range(k)] for r in shifts]
    choices = [", ".join(map(str, truth)) for truth in truths]
    questions = []
    for truth, right in zip(truths, choices, strict=True):
        shown = [0] * k  # shown[n - 1]: the event listed as number n
        for t, number in enumerate(truth):
            shown[number - 1] = chosen[t]
        listing = "\n".join(f"{n}. {sentence(timeline.segments[i].text)}"
                            for n, i in enumerate(shown, start=1))
        ordered = " Then: ".join(sentence(timeline.segments[i].text) for i in chosen)
        questions.append(Question(
            "order", "order_sequence", SEQUENCE_TEMPLATES[template] + "\n" + listing, right,
            f"{right}. First: {ordered}", template,
            {"refs": [timeline.segments[i].ref for i in shown], "order": truth}))
    return Orbit(choices, questions)


TASKS = {"order_pair": order_pair, "order_sequence": order_sequence}
"""Task name -> generator for the order aspect."""
