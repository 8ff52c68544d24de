"""Local runner of the model-backed pipeline: stage-parallel asyncio over many videos.

Every video is one coroutine walking its stages (`nextevent.pipeline.model_stages`), and
up to ``max_videos_in_flight`` videos walk at once, so while one video waits on the
grounder others are being captioned, reasoned about or cut. The only limits on model
calls are the per-role ``concurrency`` and the run's ``max_concurrency``; when slots
are scarce the deepest stage goes first (`nextevent.llm.limits`). After caption
splitting, grounding + cutting and prediction + rewrite + critique run side by side.
Decoding (probe, shot detection, frame sampling) and cutting run in a process pool
(`MediaPool`) through the `nextevent.media` functions; the event loop only waits.

Two inputs:

* **raw videos** (no annotations): every video file under ``--videos`` goes through
  steps 1-8; one record ``<video id>#0`` per video, the video id being the file's path
  under ``--videos`` without extension;
* **annotated videos**: the media stages of `nextevent.pipeline.stages.process_video`
  (split planner, cut), then steps 6-8 (predict, rewrite, critique) on each record.

One `RunStore` holds records, failures and per-video state; every failure names its
stage and reason. A rerun skips finished videos and retries failed ones; the model
calls that had succeeded come from the call cache (``llm_cache.sqlite`` in the run
directory unless the config names one), so only the failed calls are made again.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
import traceback
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nextevent.llm.cache import CallCache
from nextevent.llm.client import LLMClient
from nextevent.llm.config import VISION_ROLES, LLMConfig, VideoInput
from nextevent.llm.usage import Usage
from nextevent.llm.vision import EncodedFrame, encode_frames, frame_content, video_content
from nextevent.pipeline.model_stages import (
    REASONING_STAGES,
    REWRITE_MIN_RATIO,
    ROLE_OF,
    STAGES,
    GroundingLimits,
    StageContext,
    analyse_causality,
    caption_video,
    extract_events,
    ground_split,
    proportional_split,
    reason_about_record,
    reason_steps,
    run_both,
    split_caption,
    split_caption_from_scenes,
)
from nextevent.pipeline.planner import PlannerConfig
from nextevent.pipeline.prompts import Prompts
from nextevent.pipeline.stages import BuildConfig, VideoResult, VideoTask, process_video
from nextevent.records import (
    CutMode,
    Event,
    Failure,
    NEPRecord,
    NextEventError,
    Segment,
    SplitPlan,
    Video,
    VideoAnnotation,
)
from nextevent.sources.resolve import VIDEO_EXTENSIONS, VideoIndex
from nextevent.store import RunStore, safe_name

RAW_SOURCE = "raw"
"""``NEPRecord.source`` of records built from raw videos by the models."""


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class ModelBuildConfig:
    """Settings of ``nextevent build --llm-config``.

    Attributes:
        run_dir: the run directory (records, failures, state, clips, call cache).
        stages: stages to run (`nextevent.pipeline.model_stages.STAGES`); see
            `select_stages`.
        prompts_dir: folder of prompt overrides (``--prompts``), or None.
        cut_mode: ``accurate`` or ``fast``.
        planner: split constraints: ``snap_tolerance_s``, ``min_past_s``, ``min_future_s``
            for grounded splits; all of it for annotated videos.
        detect_shots: detect shot boundaries to snap grounded splits onto.
        shot_threshold: PySceneDetect content threshold; None for its default.
        shot_downscale_width: width in pixels of the stream the shot detector sees.
        workers: processes for decoding and cutting.
        max_scenes: most scenes the planner may list (step 2).
        rewrite_min_ratio: least similarity of a rewrite to its original (step 7).
        max_videos_in_flight: videos walking the stages at once (bounds memory: frames
            are kept per video until grounding).
    """

    run_dir: Path
    stages: frozenset[str] = frozenset(STAGES)
    prompts_dir: Path | None = None
    cut_mode: CutMode = "accurate"
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    detect_shots: bool = True
    shot_threshold: float | None = None
    shot_downscale_width: int = 256
    workers: int = 2
    max_scenes: int = 12
    rewrite_min_ratio: float = REWRITE_MIN_RATIO
    max_videos_in_flight: int = 256

    def build_config(self) -> BuildConfig:
        """The media-path settings for annotated videos."""
        return BuildConfig(run_dir=self.run_dir, cut_mode=self.cut_mode, planner=self.planner,
                           detect_shots=self.detect_shots, shot_threshold=self.shot_threshold,
                           shot_downscale_width=self.shot_downscale_width)


def select_stages(stages: str | None = None, skip: str | None = None) -> frozenset[str]:
    """The stage set of ``--stages a,b,c`` minus ``--skip-stage d,e`` (default: all).

    Raises:
        NextEventError: stage ``config``, naming an unknown stage and listing the known.
    """
    def names(text: str | None) -> list[str]:
        out = [n.strip().lower() for n in (text or "").split(",") if n.strip()]
        bad = [n for n in out if n not in STAGES]
        if bad:
            raise NextEventError("config", f"unknown stage(s) {', '.join(bad)}",
                                 f"stages are {', '.join(STAGES)}")
        return out

    chosen = set(names(stages)) if stages else set(STAGES)
    return frozenset(chosen - set(names(skip)))


def roles_needed(stages: frozenset[str], raw: bool) -> list[str]:
    """Roles the selected stages call (raw videos: all steps; annotated: steps 6-8)."""
    usable = stages if raw else stages & set(REASONING_STAGES)
    return sorted({ROLE_OF[s] for s in usable if s in ROLE_OF})


# --------------------------------------------------------------------------- media
@dataclass
class Prepared:
    """A raw video after the media stages that come before the models.

    Attributes:
        video: the probe.
        shots_s: shot boundaries in seconds (empty without shot detection).
        frames: sampled frames per `VideoInput` (JSON of the input as key).
    """

    video: Video
    shots_s: list[float]
    frames: dict[str, list[EncodedFrame]]


def prepare_media(path: Path, detect: bool, threshold: float | None, downscale_width: int,
                  inputs: list[VideoInput]) -> Prepared:
    """Probe, detect shots, and sample frames for each frames-mode input (one process).

    Raises:
        NextEventError: stage ``probe``, ``shots`` or ``frames``.
    """
    from nextevent.media.probe import probe
    from nextevent.media.shots import detect_shots

    video = probe(path)
    shots: list[float] = []
    if detect:
        extra = {"threshold": threshold} if threshold is not None else {}
        shots = detect_shots(path, downscale_width=downscale_width, **extra)
    frames = {vi.model_dump_json(): encode_frames(path, vi) for vi in inputs}
    return Prepared(video=video, shots_s=shots, frames=frames)


def cut_media(video: Video, split_s: float, out_dir: Path,
              mode: CutMode) -> tuple[Segment, Segment]:
    """`nextevent.media.cut.cut` (imported in the worker)."""
    from nextevent.media.cut import cut

    return cut(video, split_s, out_dir, mode)


class MediaBackend(Protocol):
    """Where media work runs; `MediaPool` by default (benchmarks may swap it)."""

    async def prepare(self, path: Path, config: ModelBuildConfig,
                      inputs: list[VideoInput]) -> Prepared: ...

    async def cut(self, video: Video, split_s: float, out_dir: Path,
                  mode: CutMode) -> tuple[Segment, Segment]: ...

    async def process(self, task: VideoTask, config: BuildConfig) -> VideoResult: ...

    def close(self) -> None: ...


class MediaPool:
    """Media work in a process pool of ``workers`` processes (spawned, not forked: the
    parent holds SQLite handles and the event loop).

    Args:
        workers: processes (>= 1).
    """

    def __init__(self, workers: int) -> None:
        self._pool: Executor = ProcessPoolExecutor(
            max_workers=max(1, workers), mp_context=multiprocessing.get_context("spawn"))

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def prepare(self, path: Path, config: ModelBuildConfig,
                      inputs: list[VideoInput]) -> Prepared:
        """`prepare_media` in the pool."""
        return await self._run(prepare_media, path, config.detect_shots,
                               config.shot_threshold, config.shot_downscale_width, inputs)

    async def cut(self, video: Video, split_s: float, out_dir: Path,
                  mode: CutMode) -> tuple[Segment, Segment]:
        """`nextevent.media.cut.cut` in the pool."""
        return await self._run(cut_media, video, split_s, out_dir, mode)

    async def process(self, task: VideoTask, config: BuildConfig) -> VideoResult:
        """`nextevent.pipeline.stages.process_video` in the pool."""
        return await self._run(process_video, task, config)

    def close(self) -> None:
        """Stop the worker processes."""
        self._pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- summary
@dataclass
class ModelBuildSummary:
    """What a model-backed build did.

    Attributes:
        run_dir: the run directory.
        videos: videos in the input (files, or annotated videos).
        skipped: videos finished by an earlier run.
        videos_done, videos_failed, videos_unsuitable: outcomes of this run (unsuitable:
            judged not predictable by step 3; a line in failures.jsonl, not retried).
        records_new, records_total: records written by this run / in the run directory.
        failures_by_stage: failures met by this run, per stage.
        stage_outcomes: per stage, how many videos or records passed it (``ok``), failed
            in it (``failed``) or skipped it (``skipped``: not selected or not needed).
        usage: requests, cache hits and tokens per role.
        wall_s: seconds this run took.
    """

    run_dir: Path
    videos: int = 0
    skipped: int = 0
    videos_done: int = 0
    videos_failed: int = 0
    videos_unsuitable: int = 0
    records_new: int = 0
    records_total: int = 0
    failures_by_stage: Counter[str] = field(default_factory=Counter)
    stage_outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    wall_s: float = 0.0


# --------------------------------------------------------------------------- runner
def list_videos(videos_dir: Path) -> tuple[list[tuple[str, Path]], list[Failure]]:
    """Every video file under ``videos_dir`` as ``(video_id, path)``, sorted by id.

    The video id is the path under ``videos_dir`` without its extension (POSIX
    separators). Hidden files and folders are skipped; of two files with the same id the
    extension earlier in `VIDEO_EXTENSIONS` wins and the other is reported.

    Raises:
        NextEventError: stage ``resolve``, when ``videos_dir`` is not a folder.
    """
    root = VideoIndex(videos_dir).root  # checks the folder, resolves it
    rank = {ext: i for i, ext in enumerate(VIDEO_EXTENSIONS)}
    found: dict[str, list[Path]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            stem, dot, ext = name.rpartition(".")
            if name.startswith(".") or not dot or ext.lower() not in rank:
                continue
            rel = (Path(dirpath) / stem).relative_to(root).as_posix()
            found.setdefault(rel, []).append(Path(dirpath) / name)
    videos, failures = [], []
    for vid in sorted(found):
        paths = sorted(found[vid], key=lambda p: rank[p.suffix[1:].lower()])
        videos.append((vid, paths[0]))
        for other in paths[1:]:
            failures.append(Failure(
                input=str(other), stage="resolve",
                error=f"{other.name} has the same video id {vid!r} as {paths[0].name}; "
                f"only {paths[0].name} is used", hint="rename one of the two files"))
    return videos, failures


class StoreWriter:
    """The run store on a thread of its own.

    Every write of `RunStore` is flushed and fsynced; on the event loop a burst of
    records finishing together would stall all model calls for as long. Writes are
    queued here in order and run on one thread (the one that opened the store, as SQLite
    wants); reads block, and are only done while setting up.

    Args:
        run_dir: the run directory.
    """

    def __init__(self, run_dir: Path) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(1, thread_name_prefix="nextevent-store")
        self.store: RunStore = self._pool.submit(RunStore, run_dir).result()
        self._pending: list[Any] = []

    def read(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on the store thread, waiting for the result."""
        return self._pool.submit(fn, *args).result()

    def write(self, fn: Any, *args: Any) -> None:
        """Queue ``fn(*args)`` on the store thread, after every earlier write."""
        self._pending = [f for f in self._pending if not f.done() or f.exception()]
        self._pending.append(self._pool.submit(fn, *args))

    def close(self) -> None:
        """Finish the queued writes, close the store, and raise the first write error."""
        errors = [f.exception() for f in self._pending]
        self._pool.submit(self.store.close).result()
        self._pool.shutdown(wait=True)
        for error in errors:
            if error is not None:
                raise error


class _Run:
    """State of one model-backed build (one event loop)."""

    def __init__(self, config: ModelBuildConfig, llm: LLMConfig, writer: StoreWriter,
                 client: LLMClient, media: MediaBackend, summary: ModelBuildSummary,
                 progress: Any, prompts: Prompts) -> None:
        self.config = config
        self.llm = llm
        self.writer = writer
        self.store = writer.store  # only through `writer` once the run has started
        self.client = client
        self.media = media
        self.summary = summary
        self.progress = progress
        self.tasks: dict[str, Any] = {}
        self.totals: Counter[str] = Counter()
        structured = frozenset(r for r, c in llm.roles.items() if c.structured != "none")
        self.ctx = StageContext(client=client, prompts=prompts,
                                structured_roles=structured, max_scenes=config.max_scenes,
                                rewrite_min_ratio=config.rewrite_min_ratio)
        self.slots = asyncio.Semaphore(config.max_videos_in_flight)

    # ---------------------------------------------------------------- bookkeeping
    def add_bars(self, names: list[str], total: int) -> None:
        for name in names:
            self.tasks[name] = self.progress.add_task(name, total=total)
            self.totals[name] = total
            self.summary.stage_outcomes[name] = Counter()

    def mark(self, stage: str, outcome: str, n: int = 1) -> None:
        if stage in self.tasks:
            self.progress.advance(self.tasks[stage], n)
            self.summary.stage_outcomes[stage][outcome] += n

    def fail(self, failure: Failure, item: str | None) -> None:
        self.writer.write(self.store.add_failure, failure, item)
        self.summary.failures_by_stage[failure.stage] += 1

    def store_record(self, record: NEPRecord) -> None:
        def add() -> None:
            if self.store.add_record(record):
                self.summary.records_new += 1

        self.writer.write(add)

    # ---------------------------------------------------------------- raw videos
    def vision_inputs(self) -> dict[str, VideoInput]:
        """Frames-mode video inputs of the vision roles the stages use, by role."""
        used = {ROLE_OF[s] for s in ("caption", "ground") if s in self.config.stages}
        return {role: self.llm.role(role).video for role in sorted(used & VISION_ROLES)
                if self.llm.role(role).video.mode == "frames"}

    def visual(self, role: str, path: Path,
               prepared: Prepared) -> tuple[list[dict[str, Any]], int | None]:
        video_input = self.llm.role(role).video
        if video_input.mode == "video_url":
            return video_content(path, video_input), None
        frames = prepared.frames[video_input.model_dump_json()]
        if not frames:
            raise NextEventError("frames", f"{path}: no frame could be sampled",
                                 "check the file plays; re-encode it")
        return frame_content(frames), len(frames)

    async def raw_video(self, vid: str, path: Path) -> None:
        order = ["media", *[s for s in STAGES if s in self.tasks and s != "media"]]
        passed: list[str] = []
        stage = "media"

        def ok(name: str, outcome: str = "ok") -> None:
            passed.append(name)
            self.mark(name, outcome)

        try:
            async with self.slots:
                stage = "probe"
                inputs = list({vi.model_dump_json(): vi
                               for vi in self.vision_inputs().values()}.values())
                prepared = await self.media.prepare(path, self.config, inputs)
                ok("media")
                stage = "caption"
                visual, count = self.visual("captioner", path, prepared)
                caption = await caption_video(self.ctx, visual, prepared.video.duration_s,
                                              count)
                ok("caption")
                stage = "events"
                scenes = await extract_events(self.ctx, caption)
                ok("events")
                stage = "causal"
                causal = await analyse_causality(self.ctx, caption, scenes)
                if not causal.suitable:
                    ok("causal")
                    self.unsuitable(vid, causal.reasoning, [s for s in order
                                                            if s not in passed])
                    return
                x, y = causal.scenes(len(scenes))
                ok("causal")
                stage = "split"
                if "split" in self.config.stages:
                    part1, part2 = await split_caption(self.ctx, caption, scenes, x, y)
                    ok("split")
                else:
                    part1, part2 = split_caption_from_scenes(scenes, x)
                rid = f"{vid}#0"
                cfg = self.config
                limits = GroundingLimits(
                    duration_s=prepared.video.duration_s, shots_s=prepared.shots_s,
                    keyframes_s=(prepared.video.keyframes_s if cfg.cut_mode == "fast"
                                 else None),
                    snap_tolerance_s=cfg.planner.snap_tolerance_s,
                    min_past_s=cfg.planner.min_past_s, min_future_s=cfg.planner.min_future_s)

                async def media_branch() -> tuple[Any, Any]:
                    if "ground" in cfg.stages:
                        visual, count = self.visual("grounder", path, prepared)
                        grounding = await ground_split(self.ctx, visual, count, scenes, x, y,
                                                       limits)
                        ok("ground")
                    else:
                        grounding = proportional_split(len(scenes), x, limits)
                    prepared.frames.clear()  # no model needs the frames any more
                    segments = None
                    if "cut" in cfg.stages:
                        segments = await self.media.cut(
                            prepared.video, grounding.split_s,
                            cfg.run_dir / "clips" / safe_name(rid), cfg.cut_mode)
                        ok("cut")
                    return grounding, segments

                async def text_branch() -> Any:
                    result = await reason_steps(self.ctx, part1, part2, cfg.stages)
                    for name in REASONING_STAGES:
                        if name in cfg.stages:
                            ok(name)
                    return result

                stage = "ground"
                (grounding, segments), (reasoning, critique, warnings) = await run_both(
                    media_branch(), text_branch())
                past, future = segments if segments else (None, None)
                record = NEPRecord(
                    id=rid, source=RAW_SOURCE, video_id=vid, video=prepared.video,
                    events=[Event(text=s.description) for s in scenes],
                    split=SplitPlan(
                        split_s=grounding.split_s, split_index=0, last_past_event=x - 1,
                        event_boundary_s=grounding.grounded_s, snapped_to=grounding.snapped_to,
                        reason=f"between Scene {x} and Scene {y}: {causal.reasoning}"),
                    cut_mode=cfg.cut_mode if segments else None,
                    past=self._relative(past), future=self._relative(future),
                    caption=caption, caption_part1=part1, caption_part2=part2,
                    reasoning=reasoning, critique=critique,
                    extra={"model_pipeline": {
                        "stages": sorted(cfg.stages),
                        "grounding": {"answer": grounding.answer,
                                      "grounded_s": grounding.grounded_s}}})
                self.store_record(record)
                for warning in warnings:
                    self.fail(Failure(input=rid, stage="rewrite", error=warning,
                                      hint="the record keeps the original reasoning; lower "
                                      "rewrite_min_ratio or use a stronger rewriter"), None)
                self.writer.write(self.store.set_status, vid, "done", "model", "1 record")
                self.summary.videos_done += 1
        except NextEventError as err:
            failure = Failure(input=vid, stage=err.stage, error=self.client.redact(str(err)),
                              hint=err.hint)
            self.video_failed(vid, failure, order, passed)
        except Exception as err:  # a library bug must not stop the run
            tb = traceback.format_exception_only(type(err), err)[-1].strip()
            failure = Failure(input=vid, stage=stage,
                              error=self.client.redact(f"unexpected error on {path.name}: {tb}"),
                              hint="rerun with --workers 1 and report it with the file")
            self.video_failed(vid, failure, order, passed)

    def _relative(self, segment: Segment | None) -> Segment | None:
        if segment is None:
            return None
        rel = Path(segment.path).relative_to(self.config.run_dir).as_posix()
        return segment.model_copy(update={"path": rel})

    def unsuitable(self, vid: str, reasoning: str, rest: list[str]) -> None:
        failure = Failure(input=vid, stage="causal",
                          error=f"judged unsuitable for next-event prediction: {reasoning}",
                          hint="nothing to fix: the later part of this video does not follow "
                          "from the earlier part; it is left out")
        self.writer.write(self.store.add_failure, failure)
        self.summary.failures_by_stage["causal"] += 1
        self.writer.write(self.store.set_status, vid, "skipped", "causal", "unsuitable")
        self.summary.videos_unsuitable += 1
        for name in rest:
            self.mark(name, "skipped")

    def video_failed(self, vid: str, failure: Failure, order: list[str],
                     passed: list[str]) -> None:
        self.fail(failure, vid)
        self.summary.videos_failed += 1
        failed_at = failure.stage if failure.stage in order else None
        for name in order:
            if name not in passed:
                outcome = "failed" if name == failed_at or (
                    failed_at is None and name == "media") else "skipped"
                self.mark(name, outcome)

    # ---------------------------------------------------------------- annotated videos
    async def annotated_video(self, task: VideoTask) -> None:
        vid = task.annotation.video_id
        stages = self.config.stages
        try:
            async with self.slots:
                result = await self.media.process(task, self.config.build_config())
        except Exception as err:  # the pool itself broke (a worker was killed)
            self.fail(Failure(input=vid, stage="media", error=str(err),
                              hint="rerun; if it repeats, run with --workers 1"), vid)
            self.summary.videos_failed += 1
            return
        self.mark("media", "ok" if result.ok else "failed")
        for name in REASONING_STAGES:
            if name in self.tasks:
                self.totals[name] += len(result.records)
                self.progress.update(self.tasks[name], total=self.totals[name])
        for failure in result.failures + result.warnings:
            split_item = failure.input if failure.input != vid else None
            self.fail(failure, split_item)

        async def one(record: NEPRecord) -> bool:
            try:
                done, warnings = await reason_about_record(self.ctx, record, stages)
            except NextEventError as err:
                self.fail(Failure(input=record.id, stage=err.stage,
                                  error=self.client.redact(str(err)), hint=err.hint), record.id)
                for name in REASONING_STAGES:
                    self.mark(name, "failed" if name == err.stage else "skipped")
                return False
            for name in REASONING_STAGES:
                self.mark(name, "ok" if name in stages else "skipped")
            self.store_record(done)
            for warning in warnings:
                self.fail(Failure(input=record.id, stage="rewrite", error=warning,
                                  hint="the record keeps the original reasoning"), None)
            return True

        results = await asyncio.gather(*(one(r) for r in result.records))
        if result.ok and all(results):
            self.writer.write(self.store.set_status, vid, "done", "model",
                              f"{len(results)} new records")
            self.summary.videos_done += 1
        else:
            first = result.failures[0] if result.failures else None
            self.writer.write(self.store.set_status, vid, "failed",
                              first.stage if first else "model",
                              first.error if first else "a record failed a model stage")
            self.summary.videos_failed += 1


def _progress(enabled: bool) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(TextColumn("[bold]{task.description:>8}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), disable=not enabled)


async def run_model_build_async(
    videos_dir: Path,
    config: ModelBuildConfig,
    llm: LLMConfig,
    *,
    annotations: Iterable[VideoAnnotation] | None = None,
    import_failures: Iterable[Failure] = (),
    show_progress: bool = True,
    media: MediaBackend | None = None,
) -> ModelBuildSummary:
    """Async form of `run_model_build` (for callers that already run an event loop)."""
    started = time.perf_counter()
    raw = annotations is None
    for role in roles_needed(config.stages, raw):  # fail early, naming the role
        llm.role(role, next(s for s in STAGES if ROLE_OF.get(s) == role))
    if raw and not {"caption", "events", "causal"} <= config.stages:
        missing = sorted({"caption", "events", "causal"} - config.stages)
        raise NextEventError(
            "config", f"raw videos need the stages caption, events and causal (skipped: "
            f"{', '.join(missing)})", "give --annotations to build from annotated events, "
            "or keep those stages")
    summary = ModelBuildSummary(run_dir=config.run_dir)
    cache_path = llm.cache or (config.run_dir / "llm_cache.sqlite")
    writer = StoreWriter(config.run_dir)
    store = writer.store
    try:
        for failure in import_failures:
            writer.write(store.add_failure, failure)
            summary.failures_by_stage[failure.stage] += 1
        prompts = Prompts(config.prompts_dir)
        cache = CallCache(cache_path)
        client = LLMClient(llm, cache, summary.usage,
                           repair=lambda error: prompts["repair"].render(error=error)[1])
        own_media = media is None
        backend: MediaBackend = media if media is not None else MediaPool(config.workers)
        try:
            with _progress(show_progress) as progress:
                run = _Run(config, llm, writer, client, backend, summary, progress, prompts)
                jobs = _jobs(run, videos_dir, annotations, summary)
                await asyncio.gather(*jobs)
        finally:
            await client.aclose()
            cache.close()
            if own_media:
                backend.close()
        summary.records_total = writer.read(lambda: sum(1 for _ in store.records()))
    finally:
        writer.close()
    summary.wall_s = time.perf_counter() - started
    _write_usage(config.run_dir, summary)
    return summary


def _jobs(run: _Run, videos_dir: Path, annotations: Iterable[VideoAnnotation] | None,
          summary: ModelBuildSummary) -> list[Any]:
    store, stages = run.store, run.config.stages

    def statuses(ids: list[str]) -> dict[str, str | None]:
        return run.writer.read(lambda: {vid: store.status(vid) for vid in ids})
    if annotations is None:
        videos, failures = list_videos(videos_dir)
        for failure in failures:
            run.fail(failure, None)
        summary.videos = len(videos)
        todo = []
        status = statuses([vid for vid, _ in videos])
        for vid, path in videos:
            if status[vid] in ("done", "skipped"):
                summary.skipped += 1
            else:
                todo.append((vid, path))
        names = ["media", *[s for s in STAGES if s in stages]]
        run.add_bars(names, len(todo))
        return [run.raw_video(vid, path) for vid, path in todo]
    anns = list(annotations)
    summary.videos = len(anns)
    index = VideoIndex(videos_dir)
    done_ids: dict[str, set[str]] = {}
    for record in run.writer.read(lambda: list(store.records())):
        done_ids.setdefault(record.video_id, set()).add(record.id)
    tasks = []
    status = statuses([ann.video_id for ann in anns])
    for ann in anns:
        if status[ann.video_id] == "done":
            summary.skipped += 1
            continue
        try:
            path = index.resolve(ann)
        except NextEventError as err:
            run.fail(err.to_failure(ann.video_id), ann.video_id)
            summary.videos_failed += 1
            continue
        tasks.append(VideoTask(ann, path, frozenset(done_ids.get(ann.video_id, ()))))
    run.add_bars(["media"], len(tasks))
    run.add_bars([s for s in REASONING_STAGES if s in stages], 0)  # grows per record
    return [run.annotated_video(task) for task in tasks]


def _write_usage(run_dir: Path, summary: ModelBuildSummary) -> None:
    """Append this run's usage per role to ``RUN_DIR/usage.jsonl`` (no keys, no URLs)."""
    line = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "wall_s": round(summary.wall_s, 3),
            "records_new": summary.records_new, "roles": summary.usage.as_dict()}
    with (run_dir / "usage.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def run_model_build(
    videos_dir: Path,
    config: ModelBuildConfig,
    llm: LLMConfig,
    *,
    annotations: Iterable[VideoAnnotation] | None = None,
    import_failures: Iterable[Failure] = (),
    show_progress: bool = True,
    media: MediaBackend | None = None,
) -> ModelBuildSummary:
    """Build NEP records with models into ``config.run_dir`` (see the module docstring).

    Args:
        videos_dir: folder of video files; nothing outside it is read.
        config: build settings (stages, prompts, cut mode, split constraints, workers).
        llm: the model roles (`nextevent.llm.load_llm_config`).
        annotations: annotated videos; None for raw videos (every file in ``videos_dir``).
        import_failures: failures from the importer, stored with the run's failures.
        show_progress: draw one rich progress bar per stage.
        media: where decoding and cutting run; a `MediaPool` of ``config.workers`` when None.

    Returns:
        A `ModelBuildSummary`; usage per role is also appended to ``usage.jsonl``.

    Raises:
        NextEventError: stage ``config`` / ``prompts`` / ``resolve`` for a bad setup (a
            role the stages need is missing, an API key variable is unset, a prompt
            override does not parse, ``videos_dir`` is not a folder). Problems with single
            videos or calls never raise: they become lines in ``failures.jsonl``.
    """
    coro = run_model_build_async(
        videos_dir, config, llm, annotations=annotations, import_failures=import_failures,
        show_progress=show_progress, media=media)
    try:  # uvloop, when installed, runs the same event loop with less CPU per callback
        import uvloop
    except ImportError:
        uvloop = None
    if uvloop is not None and hasattr(uvloop, "run"):
        return uvloop.run(coro)
    return asyncio.run(coro)


def summary_table(summary: ModelBuildSummary, title: str) -> Any:
    """A rich table of a model-backed build: outcomes, stages, failures, usage per role."""
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_row("videos in input", str(summary.videos))
    table.add_row("videos done / failed / unsuitable / already done",
                  f"{summary.videos_done} / {summary.videos_failed} / "
                  f"{summary.videos_unsuitable} / {summary.skipped}")
    table.add_row("records new / total", f"{summary.records_new} / {summary.records_total}")
    for stage, outcomes in summary.stage_outcomes.items():
        table.add_row(f"stage {stage}", ", ".join(f"{k} {v}" for k, v in
                                                  sorted(outcomes.items())) or "-")
    for stage, n in sorted(summary.failures_by_stage.items()):
        table.add_row(f"failures: {stage}", str(n))
    for role, usage in summary.usage.as_dict().items():
        table.add_row(
            f"model {role}",
            f"{usage['requests']} requests ({usage['retries']} retries, {usage['repairs']} "
            f"repairs), {usage['cache_hits']} cached; tokens {usage['prompt_tokens']} in / "
            f"{usage['completion_tokens']} out, {usage['cached_tokens']} saved by the cache")
    table.add_row("wall time", f"{summary.wall_s:.1f} s")
    return table


def build_with_models(
    build: BuildConfig, videos_dir: Path, imported: Any, *, llm_config: Path,
    prompts: Path | None, stages: str | None, skip_stage: str | None, workers: int,
    show_progress: bool, console: Any,
) -> ModelBuildSummary:
    """``nextevent build --llm-config``: load the roles, run, print the summary.

    Args:
        build: the media settings of the build command.
        videos_dir: ``--videos``.
        imported: the `nextevent.sources.ImportResult` of ``--annotations``, or None for
            raw videos.
        llm_config, prompts, stages, skip_stage, workers, show_progress: the options.
        console: a rich console to print to.

    Raises:
        NextEventError: for a bad config, prompt folder or stage list (stage ``config`` /
            ``prompts``).
    """
    from nextevent.llm.config import load_llm_config

    llm = load_llm_config(llm_config)
    config = ModelBuildConfig(
        run_dir=build.run_dir, stages=select_stages(stages, skip_stage), prompts_dir=prompts,
        cut_mode=build.cut_mode, planner=build.planner, detect_shots=build.detect_shots,
        shot_threshold=build.shot_threshold, shot_downscale_width=build.shot_downscale_width,
        workers=workers)
    summary = run_model_build(
        videos_dir, config, llm,
        annotations=imported.annotations if imported is not None else None,
        import_failures=imported.failures if imported is not None else (),
        show_progress=show_progress)
    console.print(summary_table(summary, f"nextevent build --llm-config -> {build.run_dir}"))
    run = build.run_dir
    console.print(f"records:  {run / 'records.jsonl'}\nfailures: {run / 'failures.jsonl'}\n"
                  f"usage:    {run / 'usage.jsonl'}\nclips:    {run / 'clips'}")
    return summary
