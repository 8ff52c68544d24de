"""Clean-up rules of FutureBench items (issue 12, item 4): what makes an item unfit.

Per candidate item (`entry_problem`):

* the answer lists one event twice (near duplicates, `nextevent.bench.textsim`);
* the past caption already contains an answer event: the event's normalised text
  occurs in the past caption, or it is similar (ratio >= 0.9, he/she and articles
  ignored) to one past event;
* an interpolation end anchor nearly restates an answer event (ratio >= 0.9, or one
  contained in the other): the question would give the answer away.

Across items (`duplicate_key`): no two items of a benchmark have the same question and
answer text after `normalize`. Within an option set (`nextevent.bench.groups`): no two
options are near duplicates, and no end anchor restates an event of another option.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from nextevent.bench.textsim import contains, near_duplicate, normalize, similar


def entry_problem(past: Sequence[str], truth: Sequence[str], anchor: str | None) -> str | None:
    """Why a candidate item is unfit (module docstring), or None when it is fit.

    Args:
        past: the past events, in order.
        truth: the answer events, in order.
        anchor: the interpolation end anchor, or None.
    """
    for a, b in itertools.combinations(truth, 2):
        if near_duplicate(a, b):
            return f"the answer repeats an event ({_short(a)!r} / {_short(b)!r})"
    caption = " ".join(past)
    for event in truth:
        if contains(caption, event):
            return f"the past caption already contains the answer event {_short(event)!r}"
        for seen in past:
            if similar(event, seen):
                return (f"the answer event {_short(event)!r} nearly restates the past event "
                        f"{_short(seen)!r}")
    if anchor is not None:
        for event in truth:
            if near_duplicate(anchor, event):
                return (f"the end anchor {_short(anchor)!r} nearly restates the answer event "
                        f"{_short(event)!r}")
    return None


def duplicate_key(question: str, answer: str) -> str:
    """The identity of an item's question and answer text (two items may not share it)."""
    return normalize(question) + "|" + normalize(answer)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."
