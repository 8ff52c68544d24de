"""The build stages for one video, as plain functions from records to records.

`process_video` runs probe -> event fitting -> shot detection -> split planning -> cut for
one `VideoAnnotation` and returns what it produced; it touches no store and no global
state, so the local runner (a process pool) and a cluster engine can both call it.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path

from nextevent.media.cut import cut
from nextevent.media.probe import probe
from nextevent.media.shots import detect_shots
from nextevent.pipeline.planner import PlannerConfig, plan_splits, split_captions
from nextevent.records import (
    CutMode,
    Event,
    Failure,
    NEPRecord,
    NextEventError,
    Segment,
    Video,
    VideoAnnotation,
)
from nextevent.store import safe_name

# An annotation may overshoot the probed duration by rounding; within this (s) an end is
# clipped silently, beyond it the clipping is reported.
DURATION_SLACK_S = 0.5


@dataclass(frozen=True)
class BuildConfig:
    """Settings of `nextevent build` for the media path.

    Attributes:
        run_dir: the run directory; clips go under ``run_dir/clips`` and nowhere else.
        cut_mode: ``accurate`` (re-encode, frame-exact) or ``fast`` (stream copy at
            keyframes).
        planner: split planner constraints.
        detect_shots: run shot detection to snap splits onto shot boundaries.
        shot_threshold: PySceneDetect content threshold; None for its default.
        shot_downscale_width: width in pixels of the stream the shot detector sees.
    """

    run_dir: Path
    cut_mode: CutMode = "accurate"
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    detect_shots: bool = True
    shot_threshold: float | None = None
    shot_downscale_width: int = 256


@dataclass
class VideoTask:
    """One video to build: its annotation, resolved file and already-written record ids."""

    annotation: VideoAnnotation
    video_path: Path
    done_ids: frozenset[str] = frozenset()


@dataclass
class VideoResult:
    """What one video produced.

    Attributes:
        records: new records.
        failures: problems that lost a record or the whole video (retried on a rerun).
        warnings: problems worked around (e.g. clipped events); written to
            ``failures.jsonl`` too, but the video still counts as done.
        media_s: seconds of video probed.
    """

    video_id: str
    records: list[NEPRecord] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    warnings: list[Failure] = field(default_factory=list)
    media_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


def record_id(video_id: str, split_index: int) -> str:
    """The record id of a video's split: ``<video_id>#<split_index>``."""
    return f"{video_id}#{split_index}"


def fit_events(
    video_id: str, events: list[Event], duration_s: float, source: Path
) -> tuple[list[Event], Failure | None]:
    """Fit annotated events to the probed duration of the video file.

    Events starting at or after ``duration_s`` are dropped; ends after it are clipped.
    Overshoots within `DURATION_SLACK_S` are rounding and pass silently.

    Returns:
        The fitted events and, when any event was dropped or clipped by more than the
        slack, one `Failure` (stage ``events``) naming them.
    """
    kept: list[Event] = []
    dropped: list[str] = []
    clipped: list[str] = []
    for e in events:
        assert e.start_s is not None and e.end_s is not None
        if e.start_s >= duration_s:
            dropped.append(f"'{e.text[:40]}' at {e.start_s:.2f}s")
            continue
        if e.end_s > duration_s:
            if e.end_s - duration_s > DURATION_SLACK_S:
                clipped.append(f"'{e.text[:40]}' ending {e.end_s:.2f}s")
            e = e.model_copy(update={"end_s": duration_s})
        kept.append(e)
    if not dropped and not clipped:
        return kept, None
    parts = []
    if dropped:
        parts.append(f"dropped {len(dropped)} event(s) starting after the end: "
                     + ", ".join(dropped))
    if clipped:
        parts.append(f"clipped {len(clipped)} event(s) to the end: " + ", ".join(clipped))
    failure = Failure(
        input=video_id, stage="events",
        error=f"{source.name} lasts {duration_s:.2f}s but its annotation goes beyond: "
        + "; ".join(parts),
        hint="check that the annotation belongs to this file and uses seconds",
        key=f"events:{video_id}",
    )
    return kept, failure


def _relative(segment: Segment, run_dir: Path) -> Segment:
    return segment.model_copy(update={"path": Path(segment.path).relative_to(run_dir).as_posix()})


def build_records(
    video: Video, annotation: VideoAnnotation, events: list[Event], config: BuildConfig,
    done_ids: frozenset[str],
) -> tuple[list[NEPRecord], list[Failure]]:
    """Plan the splits of one probed video and cut each one not yet in ``done_ids``.

    Returns:
        New records (clip paths relative to ``config.run_dir``) and per-split failures.

    Raises:
        NextEventError: from shot detection or planning, which fail the whole video.
    """
    vid = annotation.video_id
    path = Path(video.path)
    shots = (detect_shots(path, downscale_width=config.shot_downscale_width,
                          **({"threshold": config.shot_threshold}
                             if config.shot_threshold is not None else {}))
             if config.detect_shots else [])
    keyframes = video.keyframes_s if config.cut_mode == "fast" else None
    plans = plan_splits(vid, events, video.duration_s, shots_s=shots, keyframes_s=keyframes,
                        config=config.planner)
    records: list[NEPRecord] = []
    failures: list[Failure] = []
    for plan in plans:
        rid = record_id(vid, plan.split_index)
        if rid in done_ids:
            continue
        out_dir = config.run_dir / "clips" / safe_name(rid)
        try:
            past, future = cut(video, plan.split_s, out_dir, config.cut_mode)
        except NextEventError as err:
            failures.append(err.to_failure(rid, key=f"cut:{rid}"))
            continue
        part1, part2 = split_captions(events, plan)
        records.append(NEPRecord(
            id=rid, source=annotation.source, video_id=vid, video=video, events=events,
            split=plan, cut_mode=config.cut_mode,
            past=_relative(past, config.run_dir), future=_relative(future, config.run_dir),
            caption=annotation.caption, caption_part1=part1, caption_part2=part2,
            extra=dict(annotation.extra),
        ))
    return records, failures


def process_video(task: VideoTask, config: BuildConfig) -> VideoResult:
    """Run every media stage for one video; never raises for bad input.

    Args:
        task: the annotation, its resolved video file, and record ids already written.
        config: build settings.

    Returns:
        A `VideoResult` with the new records and one `Failure` per problem (stage
        ``probe``, ``events``, ``shots``, ``plan``, ``cut``), each naming the input.
    """
    ann = task.annotation
    result = VideoResult(video_id=ann.video_id)
    stage = "probe"
    try:
        video = probe(task.video_path)
        result.media_s = video.duration_s
        stage = "events"
        events, warning = fit_events(ann.video_id, ann.events, video.duration_s,
                                     task.video_path)
        if warning:
            result.warnings.append(warning)
        stage = "plan"
        records, failures = build_records(video, ann, events, config, task.done_ids)
        result.records.extend(records)
        result.failures.extend(failures)
    except NextEventError as err:
        result.failures.append(err.to_failure(ann.video_id))
    except Exception as err:  # a library bug must not stop the run; keep the trace short
        tb = traceback.format_exception_only(type(err), err)[-1].strip()
        result.failures.append(Failure(
            input=ann.video_id, stage=stage,
            error=f"unexpected error on {task.video_path.name}: {tb}",
            hint="rerun with --workers 1 to see the traceback, and report it with the file",
        ))
    return result
