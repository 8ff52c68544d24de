"""Scheduling efficiency of the model-backed pipeline against an ideal schedule.

A scripted OpenAI-protocol server (``tests/scripted_server.py``, in its own process so it
does not share the GIL with the runner) answers every call after a fixed latency. The
pipeline runs every model stage (caption, events, causal, split, ground, predict,
rewrite, critique) over small synthetic videos (distinct textures, 2 s, 96x64, made by
``make_videos.py``); cutting is skipped and frames are few, so what is measured is the
scheduling of model calls, not media work. Two media modes (``--media``, both by default):
``precomputed`` probes and samples frames of every video before timing (the schedule
alone); ``pool`` does it during the run in the process pool, as a real build does (on two
cores the pool, the server and the runner share the CPU).

Ideal time, from the calls the server actually answered (``calls``) and the per-video
step list ``caption -> events -> causal -> split -> ground -> predict -> {rewrite |
critique}`` (critical path: 7 calls)::

    ideal = max(calls * latency / concurrency, 7 * latency)

Efficiency = ideal / measured wall time of the build (process pool started beforehand).
Also printed: CPU time of the runner's process per call (the event loop, the ``openai``
SDK and its HTTP stack) and how busy that process was; near 100% busy, the efficiency is
bounded by CPU, not by the schedule (raise ``--latency`` to see the schedule alone).
Target: >= 0.9 at concurrency 64 with 200 videos; the same is printed for concurrency 1
(on fewer videos, as it takes calls x latency seconds).

    python benchmarks/bench_llm_schedule.py
    python benchmarks/bench_llm_schedule.py --videos 200 --concurrency 64 --latency 0.2 \
        --serial-videos 10
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import openai  # noqa: E402  (imported before timing: a one-time start-up cost)
from make_videos import make_video  # noqa: E402
from scripted_server import ScriptedServer  # noqa: E402
from scripted_v1 import stage_of, v1_answer  # noqa: E402

from nextevent.llm.config import LLMConfig, RoleConfig, VideoInput  # noqa: E402
from nextevent.pipeline.config import BuildConfig, select_stages  # noqa: E402
from nextevent.pipeline.driver import run_build  # noqa: E402
from nextevent.pipeline.engines import LocalEngine  # noqa: E402
from nextevent.pipeline.media_steps import run_media_steps  # noqa: E402
from nextevent.pipeline.planner import PlannerConfig  # noqa: E402
from nextevent.pipeline.state import VideoState  # noqa: E402

ROLES = ("captioner", "grounder", "planner", "reasoner", "rewriter", "critic")
CRITICAL_PATH_CALLS = 7  # caption, events, causal, split, ground, predict, critique


def bench_answer(request: dict[str, Any]) -> Any:
    """`v1_answer`, with every video judged suitable (so every video makes 8 calls)."""
    if stage_of(request) == "causal":
        return json.dumps({"reasoning": "Unlocking leads to riding.", "suitable": True,
                           "split": "between Scene 2 and Scene 3"})
    return v1_answer(request)


def _serve(latency_s: float, queue: Any, stop: Any) -> None:
    with ScriptedServer(bench_answer, latency_s=latency_s) as server:
        queue.put(server.url)
        stop.wait()
        queue.put(len(server.calls))


def make_inputs(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = folder / f"v{i:04d}.mp4"
        if not path.exists():
            make_video(path, seconds=2, width=96, height=64, fps=25, shot_s=1.0, seed=i)
    return folder


class PrecomputedMedia:
    """Engine whose probes and frames were made before timing (``--media precomputed``):
    the run then measures the scheduling of model calls only."""

    def __init__(self, prepared: dict[Path, VideoState]) -> None:
        self.prepared = prepared

    async def media(self, names: tuple[str, ...], state: VideoState, config: Any) -> Any:
        if "cut" in names:  # the cut stage is skipped: this only makes the record
            return run_media_steps(names, state, config)
        done = self.prepared[state.path]
        state.video, state.shots_s, state.frames = done.video, done.shots_s, dict(done.frames)
        return state

    def close(self) -> None:
        pass


def run_once(videos: Path, run_dir: Path, url: str, concurrency: int,
             workers: int, media: str = "pool") -> tuple[float, float]:
    """Wall seconds of one build, and CPU seconds of this (the event loop's) process."""
    roles = {role: RoleConfig(base_url=url, model=f"scripted-{role}", concurrency=concurrency,
                              timeout_s=60, max_retries=2,
                              structured="none" if role == "reasoner" else "json_schema",
                              video=VideoInput(fps=1, max_frames=2, max_pixels=96 * 64))
             for role in ROLES}
    llm = LLMConfig(roles=roles, max_concurrency=concurrency)
    config = BuildConfig(run_dir=run_dir, stages=select_stages(skip="cut"),
                         detect_shots=False,
                         planner=PlannerConfig(min_past_s=0.2, min_future_s=0.2),
                         max_videos_in_flight=100_000)
    openai.AsyncOpenAI(base_url=url, api_key="EMPTY")  # the SDK's lazy imports, untimed
    pool = LocalEngine(workers)
    paths = sorted(videos.glob("*.mp4"))
    prep = dataclasses.replace(config, video_inputs=(roles["captioner"].video,))

    async def prepare(chosen: list[Path]) -> list[VideoState]:
        return list(await asyncio.gather(*(pool.media(
            ("probe", "shots", "frames"), VideoState(p.stem, p, "raw", raw=True), prep)
            for p in chosen)))

    try:  # start the worker processes before timing
        asyncio.run(prepare([paths[0]] * (2 * workers)))
        backend: Any = pool
        if media == "precomputed":
            backend = PrecomputedMedia(dict(zip(paths, asyncio.run(prepare(paths)),
                                                strict=True)))
        start, cpu = time.perf_counter(), time.process_time()
        summary = run_build(None, videos, config, llm=llm, engine=backend,
                            show_progress=False)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        pool.close()
    if summary.videos_failed or summary.records_new != summary.videos:
        first = (run_dir / "failures.jsonl").read_text().splitlines()[:2]
        raise RuntimeError(f"benchmark run incomplete: {summary.videos_failed} failed, "
                           f"{summary.records_new}/{summary.videos} records; {first}")
    return wall, cpu


def measure(count: int, concurrency: int, latency: float, workers: int,
            tmp: Path, media: str) -> dict[str, Any]:
    videos = make_inputs(tmp / f"videos_{count}", count)
    ctx = multiprocessing.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(latency, queue, stop), daemon=True)
    server.start()
    try:
        url = queue.get(timeout=60)
        wall, cpu = run_once(videos, tmp / f"run_{count}_{concurrency}_{media}", url,
                             concurrency, workers, media)
        stop.set()
        calls = queue.get(timeout=60)
    finally:
        stop.set()
        server.join(timeout=10)
    ideal = max(calls * latency / concurrency, CRITICAL_PATH_CALLS * latency)
    return {"videos": count, "concurrency": concurrency, "media": media, "calls": calls,
            "ideal_s": ideal,
            "measured_s": wall, "efficiency": ideal / wall,
            "loop_cpu_ms_per_call": 1000 * cpu / calls, "loop_busy": cpu / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=200, help="videos at full concurrency")
    parser.add_argument("--concurrency", type=int, default=64, help="calls in flight")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per answer")
    parser.add_argument("--serial-videos", type=int, default=10,
                        help="videos for the concurrency-1 run (it takes calls x latency s)")
    parser.add_argument("--workers", type=int, default=2, help="media processes")
    parser.add_argument("--media", default="both", choices=["precomputed", "pool", "both"],
                        help="precomputed: probes and frames made before timing (schedule "
                        "only); pool: probe and frame sampling in the process pool, timed")
    args = parser.parse_args()
    modes = ["precomputed", "pool"] if args.media == "both" else [args.media]
    with tempfile.TemporaryDirectory(prefix="bench_llm_") as tmp:
        rows = []
        for media in modes:
            rows.append(measure(args.videos, args.concurrency, args.latency, args.workers,
                                Path(tmp), media))
            rows.append(measure(args.serial_videos, 1, args.latency, args.workers,
                                Path(tmp), media))
    print(f"latency {args.latency * 1000:.0f} ms per call; ideal = max(calls x latency / "
          f"concurrency, {CRITICAL_PATH_CALLS} x latency)")
    print(f"{'media':>11} {'videos':>7} {'conc':>5} {'calls':>6} {'ideal s':>8} {'measured s':>11} "
          f"{'efficiency':>10} {'loop CPU/call':>13} {'loop busy':>9}")
    for r in rows:
        print(f"{r['media']:>11} {r['videos']:>7} {r['concurrency']:>5} {r['calls']:>6} "
              f"{r['ideal_s']:>8.2f} "
              f"{r['measured_s']:>11.2f} {r['efficiency']:>10.3f} "
              f"{r['loop_cpu_ms_per_call']:>10.2f} ms {r['loop_busy']:>9.0%}")


if __name__ == "__main__":
    main()
