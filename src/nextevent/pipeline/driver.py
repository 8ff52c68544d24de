"""The one build driver: resolve videos, skip finished work, walk every video's steps on
one event loop, and write the run directory from here only.

Every path is the same loop: annotated videos (media steps, then steps 6-8 with models)
and raw videos (media, V1 steps 1-5 on the models, cut, steps 6-8), on either engine
(`nextevent.pipeline.engines`). Up to ``config.max_videos_in_flight`` videos walk at
once, so while one waits on a model others decode or cut; the engine bounds media work
to its workers, the model config bounds calls per role.

Resume: a video whose state is ``done`` (or ``skipped``: judged unsuitable) is not
walked again; a failed one is, and its records already in ``records.jsonl`` are neither
cut nor asked about again. The one exception: a rerun with a larger ``--predictions K``
walks the stored records that have fewer predictions through steps 6-8 only, for the
missing samples, and puts each in place of its old line (`RunStore.replace_record`).
Model answers come from the call cache (the run's ``llm_cache.sqlite`` unless the config
names one), so a rerun sends only the calls that had failed or are new. Bad input never
raises: each problem is one line in ``failures.jsonl``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nextevent.heartbeat import HEARTBEAT_S
from nextevent.llm.cache import CallCache
from nextevent.llm.client import LLMClient
from nextevent.llm.config import VISION_ROLES, LLMConfig
from nextevent.pipeline import model_stages as ms
from nextevent.pipeline.build_options import claim_run_dir
from nextevent.pipeline.config import (
    RAW_REQUIRED,
    REASONING_STAGES,
    ROLE_OF,
    STAGES,
    BuildConfig,
    roles_needed,
)
from nextevent.pipeline.engines import Engine, make_engine
from nextevent.pipeline.model_steps import MODEL_STEPS, PER_RECORD, RAW_SOURCE
from nextevent.pipeline.prompts import Prompts
from nextevent.pipeline.state import BuildSummary, VideoState, short_trace
from nextevent.pipeline.steps import Step, StepList, step_list, step_names
from nextevent.pipeline.writer import StoreWriter
from nextevent.records import Failure, NextEventError, VideoAnnotation
from nextevent.rundir import RunDir, RunLock, UsageLine, append_usage, clean_leftovers
from nextevent.sources.resolve import VideoIndex
from nextevent.store import is_resolved, upgrade_key


def check_models(config: BuildConfig, llm: LLMConfig | None, raw: bool) -> None:
    """Fail before any work (and before ``build_options.json`` is written) when the
    stages cannot run.

    Raises:
        NextEventError: stage ``config``: raw videos without a model config or without
            the stages caption/events/causal, a role the stages need is missing, or a
            role's ``api_key_env`` is unset; stage ``prompts``: a ``--prompts`` override
            that is no folder or does not parse.
    """
    if raw and llm is None:
        raise NextEventError("import", "--annotations is missing", "give --annotations "
                             "FILE, or --llm-config FILE to caption raw videos by a model")
    if llm is None:
        return
    for role in roles_needed(config.stages, raw):  # fail early, naming the role
        llm.role(role, next(s for s in STAGES if ROLE_OF.get(s) == role))
    missing = sorted(set(RAW_REQUIRED) - config.stages)
    if raw and missing:
        raise NextEventError(
            "config", f"raw videos need the stages caption, events and causal (skipped: "
            f"{', '.join(missing)})", "give --annotations to build from annotated events, "
            "or keep those stages")
    for role, cfg in llm.roles.items():  # the client reads every role's key
        cfg.api_key(role)
    Prompts(config.prompts_dir)


def _frame_inputs(config: BuildConfig, llm: LLMConfig) -> tuple[Any, ...]:
    """Frames-mode video inputs of the vision roles the stages use (deduplicated)."""
    used = {ROLE_OF[s] for s in ("caption", "ground") if s in config.stages}
    inputs = [llm.role(role).video for role in sorted(used & VISION_ROLES)
              if llm.role(role).video.mode == "frames"]
    return tuple({vi.model_dump_json(): vi for vi in inputs}.values())


class _Driver:
    """One build's loop: walks states, then writes them through the `StoreWriter`."""

    def __init__(self, config: BuildConfig, steps: StepList, engine: Engine,
                 writer: StoreWriter, summary: BuildSummary, progress: Progress,
                 ctx: ms.StageContext | None, client: LLMClient | None) -> None:
        self.config, self.steps, self.engine = config, steps, engine
        self.writer, self.summary, self.progress = writer, summary, progress
        self.ctx, self.client = ctx, client
        self.bars: dict[str, Any] = {}
        self.slots = asyncio.Semaphore(config.max_videos_in_flight)

    @property
    def upgrade_steps(self) -> StepList:
        """The step groups an upgrade walks: steps 6-8 only."""
        return [g for g in self.steps if all(s.name in REASONING_STAGES for s in g)]

    def add_bars(self, total: int, upgrades: int = 0) -> None:
        again = set(step_names(self.upgrade_steps))
        for name in step_names(self.steps):
            self.bars[name] = self.progress.add_task(
                name, total=total + (upgrades if name in again else 0))
            self.summary.stage_outcomes.setdefault(name, Counter())

    def advance(self, names: Iterable[str]) -> None:
        for name in names:
            if name in self.bars:
                self.progress.advance(self.bars[name])

    async def walk(self, state: VideoState) -> None:
        """Run every step on ``state`` (stopping at a failure), then finish the video;
        an upgrade walks steps 6-8 only."""
        steps = self.upgrade_steps if state.upgrade else self.steps
        async with self.slots:
            i = 0
            while i < len(steps) and state.stopped is None:
                if steps[i][0].kind == "media":
                    names: list[str] = []
                    while i < len(steps) and steps[i][0].kind == "media":
                        names.append(steps[i][0].name)
                        i += 1
                    state = await self._media(tuple(names), state)
                    self.advance(names)
                else:
                    group = steps[i]
                    await asyncio.gather(*(self._model(step, state) for step in group))
                    self.advance(step.name for step in group)
                    i += 1
            for group in steps[i:]:  # not reached
                for step in group:
                    state.mark(step.name, "skipped")
                    self.advance([step.name])
        if state.upgrade:
            self.finish_upgrade(state)
        else:
            self.finish(state)

    def finish_upgrade(self, state: VideoState) -> None:
        """Write an upgrade: each record that got its new predictions replaces its old
        line; failures are written without marking anything failed (the stored records
        and the video stay done; a rerun tries the upgrade again). A failure's key names
        the upgrade (`upgrade_key`), so the done record does not count it resolved; the
        record's upgrade to K, once written, resolves it (and those of smaller K)."""
        store, summary, k = self.writer.store, self.summary, self.config.predictions
        for record in state.records:
            self.writer.write(store.replace_record, record)
            summary.records_upgraded += 1
            item = record.video_id if state.raw else record.id  # as its failures name it
            for smaller in range(2, k + 1):
                self.writer.write(store.set_status, upgrade_key(smaller, item), "done",
                                  "upgrade")
        upgrade_failures = [f.model_copy(update={"key": f"{upgrade_key(k, f.input)}:{f.key}"})
                            for f in state.failures]
        for failure in upgrade_failures + state.warnings:
            self.writer.write(store.add_failure, self._redact(failure))
            summary.failures_by_stage[failure.stage] += 1
        for name, counts in state.outcomes.items():
            summary.stage_outcomes.setdefault(name, Counter()).update(counts)
        summary.stage_s.update(state.stage_s)

    async def _media(self, names: tuple[str, ...], state: VideoState) -> VideoState:
        try:
            return await self.engine.media(names, state, self.config)
        except Exception as err:  # the engine itself broke (a worker was killed)
            state.fail_step("media", f"{type(err).__name__}: {err}",
                            "rerun; if it repeats, run with --workers 1")
            state.mark(names[0], "failed")
            for name in names[1:]:
                state.mark(name, "skipped")
            return state

    async def _model(self, step: Step, state: VideoState) -> None:
        assert self.ctx is not None
        started = time.perf_counter()
        try:
            await MODEL_STEPS[step.name](state, self.config, self.ctx)
        except NextEventError as err:
            state.fail(err)
        except Exception as err:  # a library bug must not stop the run
            state.fail_step(step.name,
                            f"unexpected error on {state.path.name}: {short_trace(err)}",
                            "rerun with --workers 1 and report it with the file")
        state.stage_s[step.name] += time.perf_counter() - started
        if step.name not in state.outcomes and step.name not in PER_RECORD:
            state.mark(step.name, "failed" if state.stopped == "failed" else "ok")

    def _redact(self, failure: Failure) -> Failure:
        if self.client is None:
            return failure
        return failure.model_copy(update={"error": self.client.redact(failure.error)})

    def finish(self, state: VideoState) -> None:
        """Write what ``state`` holds: records, failures, the video's status."""
        store, summary, vid = self.writer.store, self.summary, state.video_id

        def add_records() -> None:
            for record in state.records:
                if store.add_record(record):
                    summary.records_new += 1
                    summary.count_cut(record)

        self.writer.write(add_records)
        for failure in state.failures + state.warnings:
            item = failure.input if failure.input != vid else None
            self.writer.write(store.add_failure, self._redact(failure), item)
            summary.failures_by_stage[failure.stage] += 1
        if state.stopped == "unsuitable":
            self.writer.write(store.add_failure, Failure(
                input=vid, stage="causal",
                error=f"judged unsuitable for next-event prediction: {state.causal_reasoning}",
                hint="nothing to fix: the later part of this video does not follow from the "
                "earlier part; it is left out"))
            summary.failures_by_stage["causal"] += 1
            self.writer.write(store.set_status, vid, "skipped", "causal", "unsuitable")
            summary.videos_unsuitable += 1
        elif state.ok:
            self.writer.write(store.set_status, vid, "done", "build",
                              f"{len(state.records)} new records")
            summary.videos_done += 1
        else:
            first = state.failures[0] if state.failures else None
            self.writer.write(store.set_status, vid, "failed",
                              first.stage if first else "build",
                              self._redact(first).error if first else "a step failed")
            summary.videos_failed += 1
        for name, counts in state.outcomes.items():
            summary.stage_outcomes.setdefault(name, Counter()).update(counts)
        summary.stage_s.update(state.stage_s)
        summary.media_s += state.media_s


def _states(driver: _Driver, videos_dir: Path,
            annotations: list[VideoAnnotation] | None) -> list[VideoState]:
    """The videos still to walk, after resolving them and skipping finished ones."""
    store, summary = driver.writer.store, driver.summary
    index = VideoIndex(videos_dir)
    done_ids: dict[str, set[str]] = {}
    statuses: dict[str, str | None] = {}

    def read(ids: list[str]) -> None:
        done_ids.update(store.record_ids_by_video())
        statuses.update({vid: store.status(vid) for vid in ids})

    states: list[VideoState] = []
    if annotations is None:
        videos, failures = index.videos()
        for failure in failures:
            driver.writer.write(store.add_failure, failure)
            summary.failures_by_stage[failure.stage] += 1
        found = [VideoState(video_id=vid, path=path, source=RAW_SOURCE, raw=True)
                 for vid, path in videos]
    else:
        found = []
        for ann in annotations:
            try:
                path = index.resolve(ann)
            except NextEventError as err:
                driver.writer.write(store.add_failure, err.to_failure(ann.video_id),
                                    ann.video_id)
                summary.failures_by_stage[err.stage] += 1
                summary.videos_failed += 1
                continue
            found.append(VideoState(video_id=ann.video_id, path=path, source=ann.source,
                                    events=list(ann.events), caption=ann.caption,
                                    extra=dict(ann.extra)))
    summary.videos = len(annotations) if annotations is not None else len(found)
    driver.writer.read(read, [s.video_id for s in found])
    for state in found:
        if statuses.get(state.video_id) in ("done", "skipped"):
            summary.skipped += 1
            continue
        state.done_ids = frozenset(done_ids.get(state.video_id, ()))
        states.append(state)
    return states


def _upgrade_states(driver: _Driver) -> list[VideoState]:
    """One upgrade state per video whose stored records have fewer predictions than
    ``--predictions`` asks for (none without models or without the predict stage)."""
    config = driver.config
    if driver.ctx is None or "predict" not in config.stages or config.predictions < 2:
        return []
    store = driver.writer.store
    by_video: dict[str, list[Any]] = {}
    for record in driver.writer.read(store.records_short_of, config.predictions):
        by_video.setdefault(record.video_id, []).append(record)
    states = []
    for vid, records in by_video.items():
        first = records[0]
        path = Path(first.video.path) if first.video is not None else Path(vid)
        states.append(VideoState(video_id=vid, path=path, source=first.source,
                                 raw=first.source == RAW_SOURCE, records=records,
                                 upgrade=True))
    return states


async def _heartbeat(progress: Progress, summary: BuildSummary, total: int) -> None:
    """One line every `HEARTBEAT_S` where no live bar is drawn, so a stall shows in logs."""
    started = time.perf_counter()
    while True:
        await asyncio.sleep(HEARTBEAT_S)
        ended = summary.videos_done + summary.videos_failed + summary.videos_unsuitable
        calls = summary.usage.total()
        progress.console.print(
            f"build: {ended}/{total} videos ended, {summary.records_new} records, "
            f"{calls.requests} model requests, {time.perf_counter() - started:.0f} s",
            markup=False, highlight=False)


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description:>8}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), disable=not enabled)


async def run_build_async(
    annotations: Iterable[VideoAnnotation] | None,
    videos_dir: Path,
    config: BuildConfig,
    *,
    llm: LLMConfig | None = None,
    engine: Engine | None = None,
    workers: int = 1,
    import_failures: Iterable[Failure] = (),
    show_progress: bool = True,
    options: Mapping[str, Any] | None = None,
    force: bool = False,
) -> BuildSummary:
    """Async form of `run_build` (for callers that already run an event loop)."""
    anns = list(annotations) if annotations is not None else None
    check_models(config, llm, raw=anns is None)
    run = RunDir(config.run_dir)
    with RunLock(run, "build"):  # one writer per run directory, released on death
        started_over = False
        if options is not None:
            started_over = claim_run_dir(config.run_dir, options, force=force)
        clean_leftovers(run)
        try:
            summary = await _build(anns, videos_dir, config, llm, engine, workers,
                                   import_failures, show_progress)
        except OSError as err:  # disk full, read-only or vanished run directory
            raise NextEventError(
                "store", f"cannot write the run directory {run.root}: "
                f"{err.strerror or err}" + (f" ({err.filename})" if err.filename else ""),
                "free disk space or fix the folder's permissions, then rerun: finished "
                "videos are kept and skipped") from None
    summary.started_over = started_over
    return summary


async def _build(anns: list[VideoAnnotation] | None, videos_dir: Path, config: BuildConfig,
                 llm: LLMConfig | None, engine: Engine | None, workers: int,
                 import_failures: Iterable[Failure], show_progress: bool) -> BuildSummary:
    started = time.perf_counter()
    run = RunDir(config.run_dir)
    if llm is not None and anns is None:  # only raw videos are shown to a model
        config = dataclasses.replace(config, video_inputs=_frame_inputs(config, llm))
    steps = step_list(config, raw=anns is None, with_models=llm is not None)
    summary = BuildSummary(run_dir=config.run_dir)
    writer = StoreWriter(config.run_dir)
    client: LLMClient | None = None
    cache: CallCache | None = None
    own_engine = engine is None
    try:
        for failure in import_failures:
            writer.write(writer.store.add_failure, failure)
            summary.failures_by_stage[failure.stage] += 1
        ctx = None
        if llm is not None:
            prompts = Prompts(config.prompts_dir)
            cache = CallCache(llm.cache or run.llm_cache)
            client = LLMClient(llm, cache, summary.usage,
                               repair=lambda error: prompts["repair"].render(error=error)[1])
            structured = frozenset(r for r, c in llm.roles.items() if c.structured != "none")
            ctx = ms.StageContext(client=client, prompts=prompts, structured_roles=structured,
                                  max_scenes=config.max_scenes,
                                  rewrite_min_ratio=config.rewrite_min_ratio, llm=llm)
        if engine is None:
            engine = make_engine("local", workers)
        try:
            with _progress(show_progress) as progress:
                driver = _Driver(config, steps, engine, writer, summary, progress, ctx, client)
                states = _states(driver, videos_dir, anns)
                upgrades = _upgrade_states(driver)
                driver.add_bars(len(states), len(upgrades))
                states += upgrades
                beat = (asyncio.ensure_future(_heartbeat(progress, summary, len(states)))
                        if show_progress and not progress.console.is_terminal else None)
                try:
                    await asyncio.gather(*(driver.walk(state) for state in states))
                finally:
                    if beat is not None:
                        beat.cancel()
        finally:
            if client is not None:
                await client.aclose()
            if cache is not None:
                cache.close()
            if own_engine:
                engine.close()

        def totals() -> None:
            for record in writer.store.records():
                summary.records_total += 1
                summary.past_s += record.past.duration_s if record.past else 0.0
                summary.future_s += record.future.duration_s if record.future else 0.0
            statuses = writer.store.statuses()
            for failure in writer.store.failures():
                if is_resolved(failure, statuses):
                    summary.failures_resolved += 1
                else:
                    summary.failures_open += 1

        writer.read(totals)
    finally:
        writer.close()
    summary.wall_s = time.perf_counter() - started
    if llm is not None:
        append_usage(run, UsageLine(
            time=time.strftime("%Y-%m-%dT%H:%M:%S%z"), wall_s=round(summary.wall_s, 3),
            records_new=summary.records_new, roles=summary.usage.as_dict()))
    return summary


def run_build(
    annotations: Iterable[VideoAnnotation] | None,
    videos_dir: Path,
    config: BuildConfig,
    *,
    llm: LLMConfig | None = None,
    engine: str | Engine = "local",
    workers: int = 1,
    ray_address: str | None = None,
    import_failures: Iterable[Failure] = (),
    show_progress: bool = True,
    options: Mapping[str, Any] | None = None,
    force: bool = False,
) -> BuildSummary:
    """Build NEP records into ``config.run_dir`` (see the module docstring).

    Args:
        annotations: imported annotations (`nextevent.sources.load_annotations`); None
            for raw videos (every video file under ``videos_dir``; needs ``llm``).
        videos_dir: folder of video files; nothing outside it is read.
        config: build settings (cut mode, split constraints, shots, model stages).
        llm: the model roles (`nextevent.llm.load_llm_config`); None for a media-only
            build of annotated videos.
        engine: ``local``, ``ray``, or an `nextevent.pipeline.engines.Engine` (kept open).
        workers: media processes (local) or most Ray tasks at once (ray).
        ray_address: Ray cluster address for ``engine="ray"``; None starts a local one.
        import_failures: failures from the importer, stored with the run's failures.
        show_progress: draw one rich progress bar per step.
        options: the options that decide the records (``build_options.json``), checked
            against the run's first build before anything is written (`claim_run_dir`);
            None skips the check.
        force: with ``options``, start a run built with other options over.

    Returns:
        A `BuildSummary` of this run (``started_over`` when ``force`` cleared the run);
        with models, usage per role is also appended to the run's ``usage.jsonl``.

    Raises:
        NextEventError: for a bad setup only: stage ``config`` / ``prompts`` / ``import``
            (a role the stages need is missing, an API key variable is unset, a prompt
            override does not parse, raw videos without models), ``resolve``
            (``videos_dir`` is not a folder), ``engine`` (Ray missing or unreachable).
            Problems with single videos or calls never raise: they become lines in
            ``failures.jsonl``. Stage ``options`` when the run was built with other
            ``options`` and ``force`` is False.
    """
    own = isinstance(engine, str)
    chosen: Engine = make_engine(engine, workers, ray_address) if isinstance(
        engine, str) else engine
    coro = run_build_async(annotations, videos_dir, config, llm=llm, engine=chosen,
                           workers=workers, import_failures=import_failures,
                           show_progress=show_progress, options=options, force=force)
    try:
        try:  # uvloop, when installed, runs the same event loop with less CPU per callback
            import uvloop
        except ImportError:
            uvloop = None
        run = uvloop.run if uvloop is not None and hasattr(uvloop, "run") else asyncio.run
        summary: BuildSummary = run(coro)
        return summary
    finally:
        if own:
            chosen.close()
