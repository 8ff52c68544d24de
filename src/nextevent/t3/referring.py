"""T3 aspect **referring**: what happens right before / right after a named event
(Video-T3, Li et al., arXiv 2410.06166, Sec. 3, "temporal referring").

"Right after X" is the next visible event in time (the next segment; gap frames between
them are passed over), "right before X" the previous one. X must be nameable (no other
visible event has its text or a near-duplicate of it) and have a visible event on both
sides; X, the event before and the event after must have three different texts, no two
of them near-duplicates or overlapping by raw IoU >= 0.5 (`Timeline.paired`).

Why the options carry no signal: the options are exactly the two neighbours of X (the
event before and the event after), and the orbit (`nextevent.t3.items.Orbit`) asks
both "right after X?" and "right before X?" with parallel templates, under the same
letters. No option holds a word that tells the two templates apart (``after`` /
``before``, ``follows`` / ``precedes``, ...). X itself is never an option, so no option
is named in the question (the old shortcut: the named event offered as a distractor),
each option is the key once, and
both options stand in the same relation to the question (adjacent to X): what a blind
baseline computes from the options, or from how they resemble the question, picks the
same letter for both questions and is right once. (Events farther away would make the
two neighbours recognisable as "close to X" by their words, so they are not offered.)
"""

from __future__ import annotations

import random

from nextevent.t3.items import Orbit, Question, quote, sentence, telling_words, word_set
from nextevent.t3.timeline import Timeline

TEMPLATES = (
    ("What happens right after {x}?", "What happens right before {x}?"),
    ("Which event directly follows {x} in the video?",
     "Which event directly precedes {x} in the video?"),
    ("What does the video show right after {x} ends?",
     "What does the video show right before {x} begins?"),
)
"""Parallel (after, before) templates."""


def referring_neighbour(timeline: Timeline, rng: random.Random) -> Orbit | None:
    """What happens right after and right before a named event, as an orbit of two
    questions whose options are the two neighbours (module docstring). None when no
    event qualifies."""
    segs = timeline.segments
    template = rng.randrange(len(TEMPLATES))
    telling = telling_words(*TEMPLATES[template])
    candidates = [i for i in range(1, len(segs) - 1) if timeline.nameable(i)
                  and not (word_set(segs[i - 1].text) | word_set(segs[i + 1].text)) & telling
                  and len({segs[i - 1].text, segs[i].text, segs[i + 1].text}) == 3
                  and timeline.paired(i, i - 1) and timeline.paired(i, i + 1)
                  and timeline.paired(i - 1, i + 1)]
    if not candidates:
        return None
    i = rng.choice(candidates)
    x, before, after = segs[i], segs[i - 1], segs[i + 1]
    questions = [
        Question("referring", "referring_neighbour", TEMPLATES[template][0].format(
            x=quote(x.text)), sentence(after.text), sentence(after.text), template,
            {"refs": [x.ref], "answer_ref": after.ref, "direction": "after"}),
        Question("referring", "referring_neighbour", TEMPLATES[template][1].format(
            x=quote(x.text)), sentence(before.text), sentence(before.text), template,
            {"refs": [x.ref], "answer_ref": before.ref, "direction": "before"}),
    ]
    return Orbit([sentence(before.text), sentence(after.text)], questions)


TASKS = {"referring_neighbour": referring_neighbour}
"""Task name -> generator for the referring aspect."""
