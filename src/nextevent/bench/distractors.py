"""How FutureBench options read, and where distractors come from.

Every option is the true answer sequence of some video: an item's distractors are the
answers of the three other videos of its exchangeable group (`nextevent.bench.groups`),
hard negatives chosen among the most similar videos. Each option's kind is stored in
the item's ``meta.option_kinds`` (``answer`` or ``other_video``) and its owner in
``meta.option_sources``. Reordered truths, swapped-in events and model-written
counterfactuals are not options: an option that is the key of no item lets an
option-only rule beat chance (see `nextevent.bench.groups`).
"""

from __future__ import annotations

from collections.abc import Sequence

from nextevent.bench.textsim import normalize

__all__ = ["normalize", "render", "seq_key"]


def render(events: Sequence[str]) -> str:
    """Option text of an event sequence: the sentence for one event, else ``(1) ... (2)
    ...`` in order."""
    if len(events) == 1:
        return events[0]
    return " ".join(f"({i}) {e}" for i, e in enumerate(events, 1))


def seq_key(events: Sequence[str]) -> str:
    """Normalised identity of a whole event sequence (as its option reads)."""
    return normalize(render(events))
