"""Local engine (process pool) vs Ray engine (Ray tasks), both on 2 workers, one driver.

Builds the same synthetic videos (`make_videos.py`) into fresh run directories with
``run_build(engine="local", workers=2)`` and ``run_build(engine="ray", workers=2)`` on a
local 2-CPU Ray instance (started once before timing; its start-up time is printed
apart), checks both wrote the same records, and prints wall seconds, RTF (seconds of
video per wall second) and the ratio Ray / local.

``--models``: the model-backed build of raw videos instead (V1 steps 1-8: frames, shots
and cuts on the engine; every call to the scripted OpenAI-protocol server of the tests,
answering after ``--latency`` seconds), each engine with its own run and cache.

    python benchmarks/bench_engines.py --count 8 --seconds 20 --width 640 --height 360
    python benchmarks/bench_engines.py --models --count 8 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import ray
from make_videos import make_dataset

from nextevent.llm.config import LLMConfig, RoleConfig, VideoInput
from nextevent.pipeline.config import BuildConfig
from nextevent.pipeline.driver import run_build
from nextevent.pipeline.planner import PlannerConfig
from nextevent.sources import load_annotations
from nextevent.store import read_records

ROLES = ("captioner", "grounder", "planner", "reasoner", "rewriter", "critic")


def scripted_llm(url: str) -> LLMConfig:
    """Every role on the scripted server; the reasoner in tags, the others in JSON."""
    return LLMConfig(roles={role: RoleConfig(
        base_url=url, model=f"scripted-{role}", concurrency=16, timeout_s=60,
        structured="none" if role == "reasoner" else "json_schema",
        video=VideoInput(fps=1, max_frames=8, max_pixels=160 * 96)) for role in ROLES})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8, help="videos")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each, seconds")
    parser.add_argument("--width", type=int, default=640, help="pixels")
    parser.add_argument("--height", type=int, default=360, help="pixels")
    parser.add_argument("--workers", type=int, default=2, help="processes / Ray CPUs")
    parser.add_argument("--models", action="store_true",
                        help="model-backed build of raw videos on the scripted server")
    parser.add_argument("--latency", type=float, default=0.2,
                        help="--models: seconds per scripted answer")
    args = parser.parse_args()
    server = None
    if args.models:
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from scripted_server import ScriptedServer
        from scripted_v1 import stage_of, v1_answer

        def answer(request: dict) -> object:  # every video suitable: 8 calls each
            if stage_of(request) == "causal":
                return json.dumps({"reasoning": "It follows.", "suitable": True,
                                   "split": "between Scene 2 and Scene 3"})
            return v1_answer(request)

        server = ScriptedServer(answer, latency_s=args.latency).__enter__()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ann = make_dataset(work / "videos", count=args.count, seconds=args.seconds,
                           width=args.width, height=args.height)
        start = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False, logging_level="ERROR")
        ray_start = time.perf_counter() - start
        walls, ids = {}, {}
        for engine in ("local", "ray", "local", "ray"):  # second round: warm caches
            run = work / f"run_{engine}"
            shutil.rmtree(run, ignore_errors=True)
            config = BuildConfig(run_dir=run, planner=PlannerConfig(min_past_s=0.5,
                                                                    min_future_s=0.5))
            anns = None if server else load_annotations(ann, "jsonl").annotations
            start = time.perf_counter()
            summary = run_build(anns, work / "videos", config, engine=engine,
                                workers=args.workers, show_progress=False,
                                llm=scripted_llm(server.url) if server else None)
            walls.setdefault(engine, []).append(time.perf_counter() - start)
            if summary.videos_failed:
                raise SystemExit(f"{engine}: {summary.videos_failed} videos failed: "
                                 f"{(run / 'failures.jsonl').read_text()[:500]}")
            ids[engine] = sorted(r.model_dump_json() for r in read_records(run / "records.jsonl"))
        ray.shutdown()
        if server:
            server.__exit__(None, None, None)
    if ids["local"] != ids["ray"] or not ids["local"]:
        raise SystemExit(f"engines disagree: {ids}")
    video_s = args.count * args.seconds
    local, on_ray = min(walls["local"]), min(walls["ray"])
    row = {"build": "models (raw videos)" if args.models else "media (annotated)",
           "videos": args.count, "video_s": video_s, "size": f"{args.width}x{args.height}",
           "workers": args.workers, "records": len(ids["local"]),
           "local_s": round(local, 2), "ray_s": round(on_ray, 2),
           "local_rtf": round(video_s / local, 1), "ray_rtf": round(video_s / on_ray, 1),
           "ray_over_local": round(on_ray / local, 2), "ray_startup_s": round(ray_start, 1),
           "all_walls_s": {k: [round(x, 2) for x in v] for k, v in walls.items()}}
    print(json.dumps(row, indent=1))
    print(f"\nlocal {local:.2f} s (RTF {row['local_rtf']}) | ray {on_ray:.2f} s "
          f"(RTF {row['ray_rtf']}) | ray / local {row['ray_over_local']}x "
          f"(+ {row['ray_startup_s']} s to start Ray, once)")


if __name__ == "__main__":
    main()
