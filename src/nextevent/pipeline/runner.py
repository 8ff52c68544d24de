"""Local runner: drive `process_video` over many videos into one run store.

Decoding and cutting run in a process pool (``workers`` processes); the parent process
is the only writer of the run store, so records and failures are appended in one place
and a kill at any moment leaves a store that `RunStore` can reopen and resume.
"""

from __future__ import annotations

import json
import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nextevent.pipeline.stages import BuildConfig, VideoResult, VideoTask, process_video
from nextevent.records import Failure, NextEventError, VideoAnnotation
from nextevent.sources.resolve import VideoIndex
from nextevent.store import (
    RunStore,
    changed_options,
    clear_run,
    read_build_options,
    write_build_options,
)


@dataclass
class BuildSummary:
    """What a build did, for the closing table.

    Attributes:
        run_dir: the run directory.
        videos: videos in the annotation file.
        skipped: videos already finished by an earlier run.
        videos_done, videos_failed: videos that ended cleanly / with a failure in this run.
        records_new: records written by this run.
        records_total: records in the run directory after this run.
        failures_by_stage: failures met by this run, per stage (also those an earlier
            run already wrote to ``failures.jsonl``).
        past_s, future_s: seconds of past and future segments over all records.
        media_s: seconds of source video processed by this run.
    """

    run_dir: Path
    videos: int = 0
    skipped: int = 0
    videos_done: int = 0
    videos_failed: int = 0
    records_new: int = 0
    records_total: int = 0
    failures_by_stage: Counter[str] = field(default_factory=Counter)
    past_s: float = 0.0
    future_s: float = 0.0
    media_s: float = 0.0


def claim_run_dir(run_dir: Path, options: Mapping[str, Any], *, force: bool = False) -> bool:
    """Check a build's options against those the run directory's first build stored, and
    store them, before anything else is written.

    A run directory holds the output of one set of options: a rerun with the same options
    resumes it (finished videos are skipped), while records cut with other options mixed
    into the same ``records.jsonl`` would silently disagree. A run without stored options
    (new, or written before options were stored) takes ``options`` as its own.

    Args:
        run_dir: the run directory (created by the caller).
        options: CLI option name (without ``--``) -> JSON value, for every option that
            decides what the build writes (annotations, format, cut mode, planner
            settings, shot detection, seed); not those that only decide how fast.
        force: when the options differ, start the run over (`nextevent.store.clear_run`
            deletes its records, failures, state, clips and model usage) instead of
            stopping.

    Returns:
        True when the run was started over.

    Raises:
        NextEventError: stage ``options``, naming each option that differs (stored and
            given value), when ``force`` is False; or when the stored file is unreadable.
    """
    try:
        stored = read_build_options(run_dir)
    except ValueError as err:  # json.JSONDecodeError is a ValueError
        raise NextEventError(
            "options", f"the stored build options of {run_dir} cannot be read: {err}",
            "pass --force to start the run over, or pick a new --out") from None
    changes = changed_options(stored, options) if stored is not None else []
    if changes and not force:
        listed = "; ".join(f"{_as_option(name, old)} before, {_as_option(name, new)} now"
                           for name, old, new in changes)
        raise NextEventError(
            "options", f"run directory {run_dir} was built with other options: {listed}",
            "rerun with the earlier options to resume this run, pass --force to start it "
            "over (deletes its records, failures, state and clips), or pick a new --out")
    if changes:
        clear_run(run_dir)
        stored = None
    write_build_options(run_dir, {**(stored or {}), **options})
    return bool(changes)


def _as_option(name: str, value: Any) -> str:
    """How an option value is typed on the command line: ``--cut fast``, ``--no-shots``."""
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no-{name}"
    if value is None:
        return f"no --{name}"
    return f"--{name} {value if isinstance(value, str) else json.dumps(value)}"


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), disable=not enabled,
    )


def run_build(
    annotations: Iterable[VideoAnnotation],
    videos_dir: Path,
    config: BuildConfig,
    *,
    import_failures: Iterable[Failure] = (),
    workers: int = 1,
    show_progress: bool = True,
) -> BuildSummary:
    """Build NEP records for every annotated video into ``config.run_dir``.

    Finished videos (state ``done``) are skipped; a video that failed before is retried,
    and its records already written are not cut again. Bad input never stops the run:
    each problem becomes one line in ``failures.jsonl`` (never the same one twice).

    Args:
        annotations: imported annotations (see `nextevent.sources.load_annotations`).
        videos_dir: folder holding the video files; nothing outside it is read.
        config: build settings.
        import_failures: failures from the importer, stored with the run's failures.
        workers: processes for decoding and cutting; 1 runs in this process.
        show_progress: draw a rich progress bar.

    Returns:
        A `BuildSummary` of this run.
    """
    return drive_build(annotations, videos_dir, config,
                       lambda tasks: _execute(tasks, config, workers),
                       import_failures=import_failures, show_progress=show_progress)


def drive_build(
    annotations: Iterable[VideoAnnotation],
    videos_dir: Path,
    config: BuildConfig,
    execute: Callable[[list[VideoTask]], Iterable[VideoResult]],
    *,
    import_failures: Iterable[Failure] = (),
    show_progress: bool = True,
    label: str = "cutting videos",
) -> BuildSummary:
    """What every engine shares: resolve videos, skip finished ones, hand the rest to
    ``execute`` (which yields one `VideoResult` per task, in any order), and write each
    result to the run store from this process only.

    Args:
        execute: the engine: a process pool (`run_build`) or Ray Data
            (`nextevent.pipeline.ray_runner`).
        label: text of the progress bar.
        Others: as `run_build`.
    """
    anns = list(annotations)
    summary = BuildSummary(run_dir=config.run_dir, videos=len(anns))
    with RunStore(config.run_dir) as store:
        for failure in import_failures:
            store.add_failure(failure)
            summary.failures_by_stage[failure.stage] += 1
        index = VideoIndex(videos_dir)
        tasks: list[VideoTask] = []
        done_ids = _done_ids_by_video(store)
        for ann in anns:
            if store.status(ann.video_id) == "done":
                summary.skipped += 1
                continue
            try:
                path = index.resolve(ann)
            except NextEventError as err:
                summary.videos_failed += 1
                store.add_failure(err.to_failure(ann.video_id), item=ann.video_id)
                summary.failures_by_stage[err.stage] += 1
                continue
            tasks.append(VideoTask(ann, path, frozenset(done_ids.get(ann.video_id, ()))))
        with _progress(show_progress) as bar:
            job = bar.add_task(label, total=len(tasks))
            for result in execute(tasks):
                _store_result(store, result, summary)
                bar.advance(job)
        for record in store.records():
            summary.records_total += 1
            summary.past_s += record.past.duration_s if record.past else 0.0
            summary.future_s += record.future.duration_s if record.future else 0.0
    return summary


def _done_ids_by_video(store: RunStore) -> dict[str, set[str]]:
    by_video: dict[str, set[str]] = {}
    for record in store.records():
        by_video.setdefault(record.video_id, set()).add(record.id)
    return by_video


def _execute(tasks: list[VideoTask], config: BuildConfig, workers: int) -> Iterable[VideoResult]:
    """Yield results as videos finish; in-process when ``workers <= 1``."""
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield process_video(task, config)
        return
    # spawn: the parent holds SQLite handles and a progress thread, unsafe to fork.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: list[Future[VideoResult]] = [
            pool.submit(process_video, task, config) for task in tasks
        ]
        for future in as_completed(pending):
            yield future.result()


def _store_result(store: RunStore, result: VideoResult, summary: BuildSummary) -> None:
    for record in result.records:
        if store.add_record(record):
            summary.records_new += 1
    for failure in result.failures + result.warnings:
        split_item = failure.input if failure.input != result.video_id else None
        store.add_failure(failure, item=split_item)
        summary.failures_by_stage[failure.stage] += 1
    summary.media_s += result.media_s
    if result.ok:
        store.set_status(result.video_id, "done", "build", f"{len(result.records)} new records")
        summary.videos_done += 1
    else:
        first = result.failures[0]
        store.set_status(result.video_id, "failed", first.stage, first.error)
        summary.videos_failed += 1
