"""T3 aspect **referring**: what happens right before / right after a named event
(Video-T3, Li et al., arXiv 2410.06166, Sec. 3, "temporal referring").

"Right after X" is the next visible event in time (the next segment; gap frames between
them are passed over), "right before X" the previous one. X must be nameable (no other
visible event has its text), and the answer event's text must differ from X's, else the
question is not asked. Distractors: X itself, X's other neighbour, then other events.
"""

from __future__ import annotations

import random

from nextevent.t3.items import Question, quote, sentence
from nextevent.t3.timeline import Timeline

AFTER_TEMPLATES = (
    "What happens right after {x}?",
    "Which event directly follows {x} in the video?",
    "What does the video show next, once {x} is over?",
)
BEFORE_TEMPLATES = (
    "What happens right before {x}?",
    "Which event comes just before {x} in the video?",
    "What was going on immediately before {x}?",
)


def _neighbour(timeline: Timeline, rng: random.Random, step: int) -> Question | None:
    segs = timeline.segments
    candidates = [i for i in range(len(segs)) if timeline.nameable(i)
                  and 0 <= i + step < len(segs) and segs[i + step].text != segs[i].text]
    if not candidates:
        return None
    i = rng.choice(candidates)
    x, y = segs[i], segs[i + step]
    other = [segs[i - step].text] if 0 <= i - step < len(segs) else []
    rest = [s.text for s in segs if s.text not in (x.text, y.text, *other)]
    rng.shuffle(rest)
    distractors = [sentence(t) for t in dict.fromkeys([*other, x.text, *rest])
                   if t != y.text]
    after = step == 1
    templates = AFTER_TEMPLATES if after else BEFORE_TEMPLATES
    template = rng.randrange(len(templates))
    return Question("referring", "referring_after" if after else "referring_before",
                    templates[template].format(x=quote(x.text)), sentence(y.text),
                    sentence(y.text), distractors, template,
                    {"refs": [x.ref], "answer_ref": y.ref})


def referring_after(timeline: Timeline, rng: random.Random) -> Question | None:
    """What happens right after a named event."""
    return _neighbour(timeline, rng, 1)


def referring_before(timeline: Timeline, rng: random.Random) -> Question | None:
    """What happens right before a named event."""
    return _neighbour(timeline, rng, -1)


TASKS = {"referring_before": referring_before, "referring_after": referring_after}
"""Task name -> generator for the referring aspect."""
