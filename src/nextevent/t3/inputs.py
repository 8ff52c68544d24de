"""Timelines from an annotation file, with everything the cleaning did made visible.

`timelines_from_file` is what ``t3 synth --from FILE`` runs: import the file
(`nextevent.sources.load_annotations`, events cleaned), pair each cleaned event with its
raw line (`nextevent.t3.raw`) for the raw-overlap rule, set real durations from a
``--durations`` CSV (`nextevent.t3.durations`), and sample the timelines
(`nextevent.t3.synth.timelines_from_annotations`). Every event the importer dropped,
trimmed, clipped or merged as a repeat, every event past a video's real length, and
every video skipped becomes one `Failure` in ``failures``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nextevent.records import Failure, VideoAnnotation
from nextevent.t3.timeline import Timeline


@dataclass
class LoadedTimelines:
    """What `timelines_from_file` read.

    Attributes:
        timelines: one per usable video.
        annotations: the imported videos (durations applied), by video id.
        skipped: videos skipped per reason (`nextevent.t3.synth.timelines_from_annotations`).
        failures: every event dropped, trimmed, clipped or merged, and every video
            skipped, as `Failure` lines (stages ``import`` and ``t3``).
        counts: ``import`` (the importer's stats), ``raw_spans`` (`nextevent.t3.raw`),
            ``durations`` (when a durations file was given).
    """

    timelines: list[Timeline] = field(default_factory=list)
    annotations: dict[str, VideoAnnotation] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def timelines_from_file(path: Path, fmt: str, *, durations: Path | None = None,
                        max_frames: int = 16, min_interval_s: float = 1.0) -> LoadedTimelines:
    """Import ``path`` (format ``fmt``) into timelines (module docstring).

    Raises:
        NextEventError: stage ``import`` for a missing or malformed annotation file,
            stage ``t3`` for a bad durations file.
    """
    from nextevent.sources import load_annotations
    from nextevent.t3.durations import apply_durations, read_durations
    from nextevent.t3.raw import match_raw, raw_events
    from nextevent.t3.synth import timelines_from_annotations

    out = LoadedTimelines()
    imported = load_annotations(path, fmt)
    out.failures.extend(imported.failures)
    out.counts["import"] = dict(imported.stats)
    raw = match_raw(imported.annotations, raw_events(path, fmt), str(path), imported.failures)
    out.failures.extend(raw.failures)
    out.counts["raw_spans"] = raw.counts
    annotations = imported.annotations
    if durations is not None:
        applied = apply_durations(annotations, read_durations(durations))
        annotations = applied.annotations
        out.failures.extend(applied.failures)
        out.counts["durations"] = applied.counts
    out.annotations = {a.video_id: a for a in annotations}
    timelines, skipped = timelines_from_annotations(
        annotations, max_frames=max_frames, min_interval_s=min_interval_s,
        raw_ends=raw.raw_ends, failures=out.failures)
    out.timelines = timelines
    out.skipped = dict(skipped)
    return out
