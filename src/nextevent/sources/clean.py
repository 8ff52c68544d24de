"""The one cleaning rule every importer applies to a video's events.

Dense-caption datasets are not clean as found (ActivityNet Captions val: sentences with
leading spaces, overlapping and unordered events, ends after the video's duration; TACoS
and Charades-STA: several annotators or queries per moment). `clean_events` turns one
video's raw ``(start_s, end_s, text)`` triples (seconds) into events that are sorted and
do not overlap, so that a split point between two events never puts the start of a later
event into the past segment. In this order:

1. **Text**: whitespace is stripped at both ends and every inner run of whitespace
   (spaces, tabs, newlines) becomes one space (counted as ``stripped``). An event whose
   text is empty, or not a string, is dropped with a `Failure` (``empty_text``).
2. **Times**: start and end must be finite numbers >= 0 with ``end >= start``, or both
   missing (an untimed scene). Anything else is dropped with a `Failure`
   (``invalid_times``). When some events of a video are timed, its untimed events are
   dropped the same way (they cannot be placed).
3. **Duration** (only when the annotation gives one): an event that starts at or after
   the duration is dropped with a `Failure` (``rejected``). An end after the duration is
   clipped to the duration: by more than `TOLERANCE_S` it counts as ``clipped``, by less
   (float noise such as ``95.04`` for a duration of ``95.03999999999999``) as
   ``end_snapped``. The clipped events of a video are named in one `Failure` line of
   stage ``events`` with the hint of the build's own clipping to the probed duration
   (`nextevent.pipeline.media_steps.fit_events`), so both read alike in ``failures.jsonl``;
   the events are kept.
4. **Duplicates**: an event with the same cleaned text as an earlier kept event and
   both times within `TOLERANCE_S` (1 ms) of it is dropped silently (``duplicates``;
   TACoS lists each moment once per annotator).
5. **Order**: events are sorted by ``(start_s, end_s)``, ties kept in file order
   (``sorted`` counts the videos whose order changed). Untimed events keep file order.
6. **Overlaps**: when an event ends after the next one starts, its end is moved back to
   the next event's start (``overlaps_trimmed``). When that leaves it shorter than
   `TOLERANCE_S` (it starts with the next event) it is dropped with a `Failure`
   (``overlap_dropped``), so of several events sharing a start the one that ends last
   is kept. Events that were zero-length in the file are kept.

After the rule, for consecutive timed events ``a, b``: ``a.start_s <= b.start_s`` and
``a.end_s <= b.start_s``; with a duration, every ``end_s <= duration_s``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from nextevent.records import Event, Failure

TOLERANCE_S = 0.001
"""Times closer than this (seconds) are the same time: duplicates, clipping, zero length."""

CLIP_HINT = "check that the annotation belongs to this file and uses seconds"
"""Hint of an event clipped to the video's end; the same words as the build's clipping to
the probed duration (`nextevent.pipeline.media_steps.fit_events`)."""


@dataclass
class CleanStats:
    """Counts of what the cleaning rule changed (see the module docstring).

    Event counts unless noted. One instance can accumulate over many videos.
    """

    events_in: int = 0
    stripped: int = 0
    empty_text: int = 0
    invalid_times: int = 0
    rejected: int = 0
    clipped: int = 0
    end_snapped: int = 0
    duplicates: int = 0
    sorted: int = 0  # videos whose events were reordered
    overlaps_trimmed: int = 0
    overlap_dropped: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict."""
        return asdict(self)


def event_failure(input_name: str, video_id: str, label: str, text: Any, error: str,
                  hint: str) -> Failure:
    """A `Failure` (stage ``import``) for one event of one video.

    Args:
        input_name: the annotation file, as the user named it.
        video_id: the video the event belongs to.
        label: where the event is in the file (e.g. ``event 3 of 7``, ``line 120``).
        text: the event's text, quoted (shortened) in the message.
        error: what is wrong with it, completing "event ... <error>".
        hint: what the user can do about it.
    """
    return Failure(input=video_id, stage="import",
                   error=f"{input_name}: video {video_id}: {label} ({_quote(text)}) {error}",
                   hint=hint, key=f"import:{input_name}:{video_id}:{label}")


def clipped_failure(input_name: str, video_id: str, duration_s: float,
                    clipped: Sequence[str]) -> Failure:
    """The one `Failure` (stage ``events``) naming the events of a video whose ends were
    clipped to its annotated duration (seconds); worded like the build's clipping to the
    probed duration, with the same hint (`CLIP_HINT`).

    Args:
        clipped: one ``'<text>' ending <end>s`` per clipped event.
    """
    return Failure(
        input=video_id, stage="events",
        error=f"{input_name}: video {video_id} lasts {duration_s:.2f}s (its annotated "
        f"duration) but its annotation goes beyond: clipped {len(clipped)} event(s) to the "
        "end: " + ", ".join(clipped),
        hint=CLIP_HINT, key=f"events:import:{input_name}:{video_id}")


def clean_events(
    raw: Sequence[tuple[float | None, float | None, str]],
    duration_s: float | None,
    input_name: str,
    *,
    video_id: str | None = None,
    labels: Sequence[str] | None = None,
    stats: CleanStats | None = None,
) -> tuple[list[Event], list[Failure]]:
    """Apply the cleaning rule (module docstring) to one video's events.

    Args:
        raw: ``(start_s, end_s, text)`` per event in file order; times in seconds, both
            None for an untimed scene. Values are validated here, so a reader may pass
            them as found.
        duration_s: the video's duration in seconds if the annotation gives one; None
            skips the duration checks.
        input_name: the annotation file (or other input) as the user named it; it is
            named in every failure message.
        video_id: the video the events belong to; defaults to ``input_name``.
        labels: where each raw event sits in the file, for messages (e.g. ``line 12``);
            defaults to ``event i of n``.
        stats: counts to add to; a fresh `CleanStats` when None.

    Returns:
        The cleaned events (sorted, non-overlapping) and one `Failure` (stage
        ``import``) per event dropped for a reason other than being a duplicate, then,
        when events were clipped to the duration, one `Failure` (stage ``events``,
        `clipped_failure`) naming them. Nothing is raised for bad events.

    Raises:
        ValueError: when ``labels`` is given with another length than ``raw`` (a bug in
            the caller, not in the data).
    """
    stats = stats if stats is not None else CleanStats()
    vid = video_id if video_id is not None else input_name
    n = len(raw)
    names = list(labels) if labels is not None else [f"event {i + 1} of {n}" for i in range(n)]
    if len(names) != n:
        raise ValueError(f"got {len(names)} labels for {n} events")
    failures: list[Failure] = []

    def drop(i: int, text: Any, error: str, hint: str) -> None:
        failures.append(event_failure(input_name, vid, names[i], text, error, hint))

    # Steps 1-3: text, times, duration.
    kept: list[_Item] = []
    clipped: list[str] = []
    for i, (start, end, text) in enumerate(raw):
        stats.events_in += 1
        if not isinstance(text, str) or not text.split():
            stats.empty_text += 1
            drop(i, text, "has no text" if isinstance(text, str) or text is None
                 else f"has text that is not a string ({type(text).__name__})",
                 "give every event a one-sentence description, or delete the event")
            continue
        cleaned = " ".join(text.split())
        if cleaned != text:
            stats.stripped += 1
        problem = _time_problem(start, end)
        if problem:
            stats.invalid_times += 1
            drop(i, cleaned, problem,
                 "give start and end in seconds as numbers >= 0 with end >= start")
            continue
        s = None if start is None else float(start)
        e = None if end is None else float(end)
        if duration_s is not None and s is not None and e is not None:
            if s >= duration_s:
                stats.rejected += 1
                drop(i, cleaned, f"starts at {s:.3f} s, at or after the end of the video "
                     f"({duration_s:.3f} s), so it cannot be shown",
                     f"check the duration and the timestamps given for video {vid}; "
                     "the event was left out")
                continue
            if e > duration_s:
                if e - duration_s > TOLERANCE_S:
                    stats.clipped += 1
                    clipped.append(f"'{cleaned[:40]}' ending {e:.2f}s")
                else:
                    stats.end_snapped += 1
                e = duration_s
        kept.append(_Item(i, s, e, cleaned))

    if any(it.start is not None for it in kept):
        timed: list[_Item] = []
        for it in kept:
            if it.start is None:
                stats.invalid_times += 1
                drop(it.index, it.text, "has no times while other events of the video do",
                     "give every event of the video a start and an end, or none of them")
            else:
                timed.append(it)
        kept = timed
    if clipped:
        assert duration_s is not None
        clip_line = [clipped_failure(input_name, vid, duration_s, clipped)]
    else:
        clip_line = []

    # Step 4: duplicates.
    unique: list[_Item] = []
    by_text: dict[str, list[_Item]] = {}
    for it in kept:
        same = by_text.setdefault(it.text, [])
        if any(_same_times(it, other) for other in same):
            stats.duplicates += 1
            continue
        same.append(it)
        unique.append(it)

    if not unique or unique[0].start is None:
        return [Event(text=it.text) for it in unique], failures + clip_line

    # Step 5: order.
    ordered = sorted(unique, key=lambda it: (it.start, it.end))
    if [it.index for it in ordered] != [it.index for it in unique]:
        stats.sorted += 1

    # Step 6: overlaps.
    events: list[Event] = []
    for j, it in enumerate(ordered):
        assert it.start is not None and it.end is not None
        end = it.end
        if j + 1 < len(ordered):
            nxt = ordered[j + 1]
            assert nxt.start is not None
            if end > nxt.start:
                if nxt.start - it.start < TOLERANCE_S:
                    stats.overlap_dropped += 1
                    drop(it.index, it.text,
                         f"starts at {it.start:.3f} s together with the next event "
                         f"({_quote(nxt.text)}), which ends later; trimming its overlap "
                         "left it empty, so it was dropped",
                         "expected when several annotators or queries describe one moment "
                         "(TACoS, Charades-STA); to keep it, give it its own start time")
                    continue
                stats.overlaps_trimmed += 1
                end = nxt.start
        events.append(Event(start_s=it.start, end_s=end, text=it.text))
    return events, failures + clip_line


@dataclass
class _Item:
    index: int
    start: float | None
    end: float | None
    text: str


def _time_problem(start: Any, end: Any) -> str | None:
    """Why ``(start, end)`` is not a valid event span, or None when it is."""
    if start is None and end is None:
        return None
    if start is None or end is None:
        return f"has only one of its times (start {start!r}, end {end!r})"
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"has a {name} time that is not a number ({short_repr(value)})"
        if not _finite(value):  # NaN, inf, or an int beyond float range
            return f"has a {name} time that is not finite ({short_repr(value)})"
        if value < 0:
            return f"has a negative {name} time ({value!r} s)"
    if end < start:
        return f"ends ({end!r} s) before it starts ({start!r} s)"
    return None


def _finite(value: float) -> bool:
    """``math.isfinite`` that says False for an int beyond float range (JSON allows it)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def short_repr(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages (an annotation's int of
    400 digits stays readable)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}... ({len(text)} characters)"


def _same_times(a: _Item, b: _Item) -> bool:
    if a.start is None or b.start is None:
        return a.start is None and b.start is None
    assert a.end is not None and b.end is not None
    return abs(a.start - b.start) <= TOLERANCE_S and abs(a.end - b.end) <= TOLERANCE_S


def _quote(text: Any, limit: int = 60) -> str:
    if not isinstance(text, str):
        return repr(text)
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
