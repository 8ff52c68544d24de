"""The media steps of a build: plain functions ``step(state, config)`` on a `VideoState`.

They decode and cut, so they run where the engine puts CPU work (a process pool, a Ray
task); `run_media_steps` runs a run of consecutive ones there and hands the state back.
None touches the run store: the driver writes what they leave in the state.

====== ============================================================================
step   does
====== ============================================================================
probe  `nextevent.media.probe.probe`: duration, frame rate, keyframes
events annotated videos: fit the events to the probed duration (`fit_events`)
shots  PySceneDetect shot boundaries (`nextevent.media.shots.detect_shots`)
plan   annotated videos: split plans (`nextevent.pipeline.planner.plan_splits`)
frames raw videos: frames sampled for the vision roles (`nextevent.llm.vision`)
cut    past / future clips per plan not yet written, and the records
====== ============================================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from nextevent.pipeline.config import BuildConfig
from nextevent.pipeline.planner import plan_splits, split_captions
from nextevent.pipeline.state import VideoState, short_trace
from nextevent.records import CutMode, Event, Failure, NEPRecord, NextEventError, Segment
from nextevent.rundir import RunDir

DURATION_SLACK_S = 0.5
"""An annotation may overshoot the probed duration by rounding; within this (s) an end is
clipped silently, beyond it the clipping is reported."""

MediaStep = Callable[[VideoState, BuildConfig], None]


def record_id(video_id: str, split_index: int) -> str:
    """The record id of a video's split: ``<video_id>#<split_index>``."""
    return f"{video_id}#{split_index}"


def fit_events(
    video_id: str, events: list[Event], duration_s: float, source: Path
) -> tuple[list[Event], Failure | None]:
    """Fit annotated events to the probed duration (seconds) of the video file.

    Events starting at or after ``duration_s`` are dropped; ends after it are clipped.
    Overshoots within `DURATION_SLACK_S` are rounding and pass silently.

    Returns:
        The fitted events and, when any event was dropped or clipped by more than the
        slack, one `Failure` (stage ``events``) naming them.

    Raises:
        NextEventError: stage ``events``, when an event has no start/end times.
    """
    kept: list[Event] = []
    dropped: list[str] = []
    clipped: list[str] = []
    untimed = [e for e in events if e.start_s is None or e.end_s is None]
    if untimed:  # allowed by the formats (V1 scenes); only the raw-video path times them
        raise NextEventError(
            "events", f"video {video_id} has {len(untimed)} of {len(events)} events without "
            f"start/end times (first: '{untimed[0].text[:40]}'), so it cannot be split",
            "add start and end seconds to every event; or build the video without "
            "--annotations and with --llm-config, whose models find and time the events")
    for e in events:
        assert e.start_s is not None and e.end_s is not None  # checked above (for mypy)
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


def probe_step(state: VideoState, config: BuildConfig) -> None:
    """Probe the file (`nextevent.media.probe.probe`); sets ``video`` and ``media_s``."""
    from nextevent.media.probe import probe

    state.video = probe(state.path)
    state.media_s = state.video.duration_s


def events_step(state: VideoState, config: BuildConfig) -> None:
    """Fit the annotated events to the probed duration; a clipped event is a warning."""
    assert state.video is not None
    state.events, warning = fit_events(state.video_id, state.events, state.video.duration_s,
                                       state.path)
    if warning:
        state.warnings.append(warning)


def copies_packets(config: BuildConfig) -> bool:
    """True when the cut copies source packets it never decodes (``smart``, ``fast``);
    a clip frame rate or size makes a smart cut an accurate one, which decodes all."""
    resample = config.clip_fps is not None or config.clip_max_pixels is not None
    return config.cut_mode == "fast" or (config.cut_mode == "smart" and not resample)


def shots_step(state: VideoState, config: BuildConfig) -> None:
    """Shot boundaries (seconds) when ``config.detect_shots``; else none.

    Without shot detection, a video that a smart or fast cut will copy packets of is
    decoded once instead (`nextevent.media.shots.check_decodes`): the detection pass is
    what otherwise proves that the copied packets decode.

    Raises:
        NextEventError: stage ``shots`` (or ``cut`` for the decode check) naming the file
            and the time near which it failed to decode.
    """
    if not config.detect_shots:
        if copies_packets(config) and (not state.raw or "cut" in config.stages):
            from nextevent.media.shots import check_decodes

            check_decodes(state.path)
        return
    from nextevent.media.shots import detect_shots

    extra = {"threshold": config.shot_threshold} if config.shot_threshold is not None else {}
    state.shots_s = detect_shots(state.path, downscale_width=config.shot_downscale_width,
                                 **extra)


def plan_step(state: VideoState, config: BuildConfig) -> None:
    """Split plans of an annotated video (`nextevent.pipeline.planner.plan_splits`)."""
    assert state.video is not None
    keyframes = state.video.keyframes_s if config.cut_mode == "fast" else None
    state.plans = plan_splits(state.video_id, state.events, state.video.duration_s,
                              shots_s=state.shots_s, keyframes_s=keyframes,
                              config=config.planner)


def frames_step(state: VideoState, config: BuildConfig) -> None:
    """Frames for each frames-mode video input of the vision roles (JPEG, timestamped).

    Raises:
        NextEventError: stage ``frames``, when an input samples no frame.
    """
    from nextevent.llm.vision import encode_frames

    for video_input in config.video_inputs:
        frames = encode_frames(state.path, video_input)
        if not frames:
            raise NextEventError("frames", f"{state.path}: no frame could be sampled",
                                 "check the file plays; re-encode it")
        state.frames[video_input.model_dump_json()] = frames


def cut_step(state: VideoState, config: BuildConfig) -> None:
    """Cut each plan whose record is not written yet and make its record.

    A split that cannot be cut is a failure of that record (stage ``cut``); the others go
    on. Raw videos with the ``cut`` stage skipped get text-only records (no clips). Clips
    are resampled to ``config.clip_fps`` / ``config.clip_max_pixels`` when set, and the
    records say so (``clip_fps``, ``clip_max_pixels``).
    """
    assert state.video is not None
    from nextevent.media.cut import cut

    run = RunDir(config.run_dir)
    cutting = not state.raw or "cut" in config.stages
    for plan in state.plans:
        rid = record_id(state.video_id, plan.split_index)
        if rid in state.done_ids:
            continue
        past: Segment | None = None
        future: Segment | None = None
        mode: CutMode | None = None
        note: str | None = None
        if cutting:
            try:
                past, future, mode, note = cut(state.video, plan.split_s,
                                               run.clip_dir(rid), config.cut_mode,
                                               fps=config.clip_fps,
                                               max_pixels=config.clip_max_pixels)
            except NextEventError as err:
                state.failures.append(err.to_failure(rid, key=f"cut:{rid}"))
                continue
            past = past.model_copy(update={"path": run.relative(past.path)})
            future = future.model_copy(update={"path": run.relative(future.path)})
        part1, part2 = state.parts or split_captions(state.events, plan.last_past_event)
        state.records.append(NEPRecord(
            id=rid, source=state.source, video_id=state.video_id, video=state.video,
            events=state.events, split=plan, cut_mode=mode, cut_note=note,
            clip_fps=config.clip_fps if cutting else None,
            clip_max_pixels=config.clip_max_pixels if cutting else None, past=past,
            future=future, caption=state.caption, caption_part1=part1,
            caption_part2=part2, extra=dict(state.extra)))


MEDIA_STEPS: dict[str, MediaStep] = {
    "probe": probe_step, "events": events_step, "shots": shots_step, "plan": plan_step,
    "frames": frames_step, "cut": cut_step,
}
"""Media steps by name (a worker looks them up, so only names cross the process line)."""


def run_media_steps(names: tuple[str, ...], state: VideoState,
                    config: BuildConfig) -> VideoState:
    """Run the media steps ``names`` in order on ``state``; never raises for bad input.

    A `NextEventError` stops the walk with that failure; any other error (a library bug)
    becomes a short failure of the step it happened in, so the run goes on. Seconds per
    step are added to ``state.stage_s``.

    Returns:
        The same state, filled (it crosses back from a worker process pickled).
    """
    for name in names:
        started = time.perf_counter()
        try:
            MEDIA_STEPS[name](state, config)
        except NextEventError as err:
            state.fail(err)
        except OSError as err:  # the machine, not the video: disk full, read-only, gone
            where = f" {err.filename}" if err.filename else ""
            state.fail_step(name, f"cannot write or read{where}: {err.strerror or err}",
                            "free disk space or fix the folder's permissions, then rerun: "
                            "finished videos are kept")
        except Exception as err:  # keep the run going; keep the trace short
            state.fail_step(name, f"unexpected error on {state.path.name}: {short_trace(err)}",
                            "rerun with --workers 1 to see the traceback, and report it with "
                            "the file")
        state.stage_s[name] += time.perf_counter() - started
        state.mark(name, "failed" if state.stopped else "ok")
        if state.stopped:
            break
    return state
