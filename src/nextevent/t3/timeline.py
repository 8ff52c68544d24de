"""A video as text: a sequence of frames, each described by the event it shows.

Video-T3 (Li et al., "Temporal Reasoning Transfer from Text to Video", arXiv 2410.06166,
Sec. 3) trains the language decoder on *text-only* videos: a sequence of frames written
as ``Frame 1: ...``, ``Frame 2: ...``. Every T3 task here is asked about a `Timeline`:

* **Timed events** (any importer, or a run's records) are sampled like a video sampler
  does: ``F = min(max_frames, max(2, floor(duration_s / min_interval_s)))`` frames at the
  centres of ``F`` equal slices of ``[0, duration_s]``, i.e. frame ``k`` (1-based) is at
  ``t_k = (k - 0.5) * duration_s / F`` seconds. When the annotation gives no duration
  (Charades-STA), the last event's end is used.
* **Frame membership** (the tie rule at boundaries): frame ``k`` shows the event with
  ``start_s <= t_k < end_s`` (half-open, so a frame exactly on the boundary between two
  events shows the one that starts there). A frame inside no event shows a gap, written
  ``(no annotated event)``. Events are sorted and do not overlap after
  `nextevent.sources.clean.clean_events`; a timeline whose events do overlap (records
  written by other tools) is refused with `TimelineError`, never guessed.
* **Visible events**: an event shorter than the frame interval may fall between two
  frames; it is then not in the text video, and no question mentions it or has it as
  its answer. "Right before/after" is about visible events.
* **Duration**: ``Timeline.duration_from`` says where the sampled span comes from:
  ``annotation`` (the file gives the video's length: ActivityNet, TACoS, YouCook2),
  ``durations_file`` (Charades' own lengths, ``t3 synth --durations``), ``probe`` (the
  video file of a run), or ``last_event_end`` (nothing else known: frames span up to
  where the last annotated event ends, and prompts say exactly that, never "a video of
  N s").
* **Raw spans and near-duplicates** (`nextevent.t3.similar`): each segment keeps its
  event's raw end (before the importer's overlap trimming) when known; `Timeline.paired`
  is False for two events whose raw spans overlap by IoU >= 0.5 or whose texts are
  near-duplicates, and `Timeline.nameable` is False for an event that shares its text,
  or a near-duplicate of it, with another visible event.
* **Untimed scenes** (V1-33K records: order, no times) become one frame per scene.
* **Pseudo-videos** from independent image captions are built in `nextevent.t3.frames`.

A `Segment` is one visible event: a contiguous run of frames with the same source event.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from nextevent.records import Event
from nextevent.t3.similar import RAW_IOU_MAX, iou, near_duplicate

GAP_TEXT = "(no annotated event)"
"""What a frame inside no event says."""


class TimelineError(ValueError):
    """A video whose events cannot be turned into a text video (overlapping events, too
    few frames); the caller counts it as skipped."""


@dataclass(frozen=True)
class Segment:
    """One event as the frames show it.

    Attributes:
        text: the event's description (what the frames say).
        first, last: 1-based indices of the first and last frame that show it (inclusive).
        ref: index of the event in the source's event list (or of the caption in the
            caption list, for pseudo-videos): how a check finds the source timestamps.
        start_s, end_s: the source event's span in seconds; None for untimed sources.
        raw_end_s: the event's end as annotated, before the importer trimmed an overlap
            or clipped it (seconds); None when unknown (then ``end_s`` stands in).
    """

    text: str
    first: int
    last: int
    ref: int
    start_s: float | None = None
    end_s: float | None = None
    raw_end_s: float | None = None

    @property
    def raw_span(self) -> tuple[float, float] | None:
        """``(start_s, raw end)`` in seconds (the cleaned end when the raw one is
        unknown); None for untimed events."""
        if self.start_s is None or self.end_s is None:
            return None
        end = self.raw_end_s if self.raw_end_s is not None else self.end_s
        return (self.start_s, max(end, self.end_s))


@dataclass
class Timeline:
    """A text video: frames in order and the events they show.

    Attributes:
        id: the video id (unique within one synthesis run).
        source: dataset name (``activitynet``, ``charades-sta``, ``captions``, ...).
        frame_texts: the text of frame ``k`` at index ``k - 1`` (`GAP_TEXT` in a gap).
        frame_seg: for frame ``k`` at index ``k - 1``, the index into ``segments`` of the
            event it shows, or None in a gap.
        segments: the visible events, in time order.
        frame_times_s: time of each frame in seconds (None for untimed sources).
        duration_s: the duration the frames were sampled over, in seconds (or None).
        duration_from: where ``duration_s`` comes from: ``annotation``,
            ``durations_file``, ``probe`` or ``last_event_end`` (None when untimed).
    """

    id: str
    source: str
    frame_texts: list[str]
    frame_seg: list[int | None]
    segments: list[Segment]
    frame_times_s: list[float] | None = None
    duration_s: float | None = None
    duration_from: str | None = None
    text_counts: dict[str, int] = field(default_factory=dict, repr=False)
    _ambiguous: set[int] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        counts: dict[str, int] = {}
        for seg in self.segments:
            counts[seg.text] = counts.get(seg.text, 0) + 1
        self.text_counts = counts
        texts = list(counts)
        close: set[str] = set()
        for a, t in enumerate(texts):
            for u in texts[a + 1:]:
                if near_duplicate(t, u):
                    close.update((t, u))
        self._ambiguous = {i for i, s in enumerate(self.segments)
                           if counts[s.text] > 1 or s.text in close}

    @property
    def duration_known(self) -> bool:
        """True when ``duration_s`` is the video's real length (not the last event's
        end)."""
        return self.duration_s is not None and self.duration_from not in (None,
                                                                          "last_event_end")

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return len(self.frame_texts)

    @property
    def timed(self) -> bool:
        """True when frames carry times in seconds."""
        return self.frame_times_s is not None

    def nameable(self, index: int) -> bool:
        """True when segment ``index`` can be named by its text: no other visible event
        has the same text or a near-duplicate of it (`nextevent.t3.similar`; questions
        that would name an ambiguous event are not asked)."""
        return index not in self._ambiguous

    def paired(self, i: int, j: int) -> bool:
        """True when segments ``i`` and ``j`` may be asked about together (order,
        referring): their raw spans overlap by IoU below `RAW_IOU_MAX` and their texts
        are not near-duplicates."""
        a, b = self.segments[i], self.segments[j]
        if near_duplicate(a.text, b.text):
            return False
        sa, sb = a.raw_span, b.raw_span
        return sa is None or sb is None or iou(sa, sb) < RAW_IOU_MAX

    def state_text(self, k: int) -> str | None:
        """The text frame ``k`` (1-based) shows, or None in a gap."""
        seg = self.frame_seg[k - 1]
        return None if seg is None else self.segments[seg].text

    def frame_label(self, k: int) -> str:
        """``Frame k`` or, for timed sources, ``Frame k (12.5 s)``."""
        if self.frame_times_s is None:
            return f"Frame {k}"
        return f"Frame {k} ({format_seconds(self.frame_times_s[k - 1])})"

    def render(self) -> str:
        """The text video, one ``Frame k: text`` line per frame."""
        return "\n".join(f"{self.frame_label(k)}: {text}"
                         for k, text in enumerate(self.frame_texts, start=1))


def format_seconds(t: float) -> str:
    """A time as shown in prompts and answers: one decimal and `` s`` (``12.5 s``)."""
    return f"{t:.1f} s"


def frame_count(duration_s: float, max_frames: int, min_interval_s: float) -> int:
    """How many frames a timed video of ``duration_s`` seconds is sampled into.

    ``min(max_frames, max(2, floor(duration_s / min_interval_s)))``.

    Raises:
        ValueError: when ``max_frames < 2`` or ``min_interval_s <= 0``.
    """
    if max_frames < 2:
        raise ValueError(f"max_frames must be at least 2, got {max_frames}")
    if min_interval_s <= 0:
        raise ValueError(f"min_interval_s must be positive, got {min_interval_s}")
    return min(max_frames, max(2, math.floor(duration_s / min_interval_s)))


def frame_times(duration_s: float, n_frames: int) -> list[float]:
    """Centres of ``n_frames`` equal slices of ``[0, duration_s]``, in seconds."""
    step = duration_s / n_frames
    return [(k - 0.5) * step for k in range(1, n_frames + 1)]


def timeline_from_events(
    video_id: str,
    source: str,
    events: Sequence[Event],
    duration_s: float | None,
    *,
    max_frames: int = 16,
    min_interval_s: float = 1.0,
    raw_ends: Sequence[float | None] | None = None,
    duration_from: str = "annotation",
) -> Timeline:
    """Sample a video's events into a text video (rules in the module docstring).

    Args:
        video_id, source: carried into the timeline.
        events: the video's events, sorted by start; all timed or all untimed.
        duration_s: the video's duration in seconds; None to use the last event's end.
        max_frames: most frames in the text video.
        min_interval_s: least seconds between two frames (short videos get fewer frames).
        raw_ends: per event, its end as annotated before cleaning (seconds) or None;
            None when not known at all (`nextevent.t3.raw`).
        duration_from: where ``duration_s`` comes from (``annotation``,
            ``durations_file``, ``probe``); ``last_event_end`` is set when it is None.

    Raises:
        TimelineError: when the events overlap or are out of order, mix timed and untimed
            events, have no positive span, or fewer than 2 events are visible.
        ValueError: when ``raw_ends`` has another length than ``events`` (a caller bug).
    """
    if not events:
        raise TimelineError(f"video {video_id} has no events")
    timed = [e.timed for e in events]
    if any(timed) and not all(timed):
        raise TimelineError(f"video {video_id} mixes timed and untimed events")
    if not timed[0]:
        texts = [e.text for e in events][:max_frames]
        segments = [Segment(text, k, k, k - 1) for k, text in enumerate(texts, start=1)]
        timeline = Timeline(video_id, source, texts, list(range(len(texts))), segments)
        return _enough(timeline)

    for a, b in zip(events, events[1:], strict=False):
        if b.start_s < a.start_s or a.end_s > b.start_s:  # type: ignore[operator]
            raise TimelineError(
                f"video {video_id}: events {a.text!r} and {b.text!r} overlap or are out of "
                "order; import them with nextevent's importers, which trim overlaps")
    if raw_ends is not None and len(raw_ends) != len(events):
        raise ValueError(f"got {len(raw_ends)} raw ends for {len(events)} events")
    last_end = max(e.end_s for e in events)  # type: ignore[type-var]
    known = bool(duration_s and duration_s > 0)
    duration = duration_s if known else last_end
    if not duration or duration <= 0:
        raise TimelineError(f"video {video_id} has no positive duration")
    n = frame_count(duration, max_frames, min_interval_s)
    times = frame_times(duration, n)

    frame_event: list[int | None] = []
    j = 0
    for t in times:
        while j < len(events) and events[j].end_s <= t:  # type: ignore[operator]
            j += 1
        inside = j < len(events) and events[j].start_s <= t < events[j].end_s  # type: ignore[operator]
        frame_event.append(j if inside else None)

    segments: list[Segment] = []
    frame_seg: list[int | None] = []
    for k, ev in enumerate(frame_event, start=1):
        if ev is None:
            frame_seg.append(None)
            continue
        if segments and segments[-1].ref == ev:
            prev = segments[-1]
            segments[-1] = Segment(prev.text, prev.first, k, ev, prev.start_s, prev.end_s,
                                   prev.raw_end_s)
        else:
            e = events[ev]
            segments.append(Segment(e.text, k, k, ev, e.start_s, e.end_s,
                                    raw_ends[ev] if raw_ends is not None else None))
        frame_seg.append(len(segments) - 1)
    texts = [GAP_TEXT if s is None else segments[s].text for s in frame_seg]
    timeline = Timeline(video_id, source, texts, frame_seg, segments,
                        frame_times_s=[round(t, 1) for t in times], duration_s=duration,
                        duration_from=duration_from if known else "last_event_end")
    return _enough(timeline)


def _enough(timeline: Timeline) -> Timeline:
    if len(timeline.segments) < 2:
        raise TimelineError(f"video {timeline.id}: fewer than 2 events are visible in "
                            f"{timeline.n_frames} frames")
    return timeline
