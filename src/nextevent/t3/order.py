"""T3 aspect **order**: which of two events comes first; the right order of k shuffled
events (Video-T3, Li et al., arXiv 2410.06166, Sec. 3, "order").

Answers come from the frames each event is shown in, which follow the events' start
times (events do not overlap, see `nextevent.t3.timeline`), so "A comes before B" means
``A.start_s < B.start_s``. Only events whose text no other visible event shares are
named; two events never share a frame, so there are no ties.
"""

from __future__ import annotations

import itertools
import random

from nextevent.t3.items import Question, quote, sentence
from nextevent.t3.timeline import Timeline

PAIR_TEMPLATES = (
    ("first", "Which happens first in the video: {a} or {b}?"),
    ("first", "Of these two events, which one comes earlier: {a} or {b}?"),
    ("last", "Which happens later in the video: {a} or {b}?"),
    ("before_after", "Does {a} happen before or after {b}?"),
    ("before_after", "In the video, is {a} shown before or after {b}?"),
)

SEQUENCE_TEMPLATES = (
    "Put these events in the order they happen in the video:",
    "The following events are shuffled. Give their order in the video:",
    "List these events in the order the video shows them:",
)


def _nameable(timeline: Timeline) -> list[int]:
    return [i for i in range(len(timeline.segments)) if timeline.nameable(i)]


def order_pair(timeline: Timeline, rng: random.Random) -> Question | None:
    """Which of two named events comes first (or later; or: before or after?).

    Returns None when fewer than two events can be named.
    """
    names = _nameable(timeline)
    if len(names) < 2:
        return None
    i, j = rng.sample(names, 2)  # i is named first in the question, whatever its time
    seg_a, seg_b = timeline.segments[i], timeline.segments[j]
    template = rng.randrange(len(PAIR_TEMPLATES))
    kind, text = PAIR_TEMPLATES[template]
    a, b = quote(seg_a.text), quote(seg_b.text)
    a_first = seg_a.first < seg_b.first
    meta = {"refs": [seg_a.ref, seg_b.ref], "asked": kind}
    if kind == "before_after":
        rel = "before" if a_first else "after"
        return Question("order", "order_pair", text.format(a=a, b=b), rel.capitalize(),
                        f"{a} happens {rel} {b}.",
                        ["After" if a_first else "Before"], template, meta)
    earlier, later = (seg_a, seg_b) if a_first else (seg_b, seg_a)
    right, wrong = (earlier, later) if kind == "first" else (later, earlier)
    verb = "first" if kind == "first" else "later"
    return Question("order", "order_pair", text.format(a=a, b=b), sentence(right.text),
                    f"{quote(right.text)} happens {verb}.", [sentence(wrong.text)],
                    template, meta)


def order_sequence(timeline: Timeline, rng: random.Random, max_k: int = 5) -> Question | None:
    """Give the order of 3 to ``max_k`` shuffled events, as their list numbers.

    The events are listed in a shuffled order (never the true order), numbered 1..k; the
    answer is the numbers in time order, e.g. ``3, 1, 2``. Distractors are other
    permutations. Returns None when fewer than three events can be named.
    """
    names = _nameable(timeline)
    if len(names) < 3:
        return None
    k = rng.randint(3, min(max_k, len(names)))
    chosen = sorted(rng.sample(names, k))  # time order
    shown = chosen[:]
    while shown == chosen:
        rng.shuffle(shown)
    truth = [shown.index(i) + 1 for i in chosen]  # list numbers, in time order
    right = ", ".join(map(str, truth))
    perms = [p for p in itertools.permutations(range(1, k + 1)) if list(p) != truth]
    wrong = [", ".join(map(str, p)) for p in rng.sample(perms, min(3, len(perms)))]
    template = rng.randrange(len(SEQUENCE_TEMPLATES))
    listing = "\n".join(f"{n}. {sentence(timeline.segments[i].text)}"
                        for n, i in enumerate(shown, start=1))
    ordered = " Then: ".join(sentence(timeline.segments[i].text) for i in chosen)
    return Question("order", "order_sequence", SEQUENCE_TEMPLATES[template] + "\n" + listing,
                    right, f"{right}. First: {ordered}", wrong, template,
                    {"refs": [timeline.segments[i].ref for i in shown], "order": truth})


TASKS = {"order_pair": order_pair, "order_sequence": order_sequence}
"""Task name -> generator for the order aspect."""
