"""Local engine (process pool) vs Ray engine (Ray Data tasks), both on 2 workers.

Builds the same synthetic videos (`make_videos.py`) into fresh run directories with
``run_build(workers=2)`` and ``run_build_ray(workers=2)`` on a local 2-CPU Ray instance
(started once before timing; its start-up time is printed apart), checks both wrote the
same record ids, and prints wall seconds, RTF (seconds of video per wall second) and the
ratio Ray / local.

    python benchmarks/bench_engines.py --count 8 --seconds 20 --width 640 --height 360
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

from nextevent.pipeline.ray_runner import run_build_ray
from nextevent.pipeline.runner import run_build
from nextevent.pipeline.stages import BuildConfig
from nextevent.sources import load_annotations
from nextevent.store import read_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8, help="videos")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each, seconds")
    parser.add_argument("--width", type=int, default=640, help="pixels")
    parser.add_argument("--height", type=int, default=360, help="pixels")
    parser.add_argument("--workers", type=int, default=2, help="processes / Ray CPUs")
    args = parser.parse_args()
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
            config = BuildConfig(run_dir=run)
            anns = load_annotations(ann, "jsonl").annotations
            start = time.perf_counter()
            if engine == "local":
                run_build(anns, work / "videos", config, workers=args.workers,
                          show_progress=False)
            else:
                run_build_ray(anns, work / "videos", config, workers=args.workers,
                              show_progress=False)
            walls.setdefault(engine, []).append(time.perf_counter() - start)
            ids[engine] = sorted(r.id for r in read_records(run / "records.jsonl"))
        ray.shutdown()
    if ids["local"] != ids["ray"] or not ids["local"]:
        raise SystemExit(f"engines disagree: {ids}")
    video_s = args.count * args.seconds
    local, on_ray = min(walls["local"]), min(walls["ray"])
    row = {"videos": args.count, "video_s": video_s, "size": f"{args.width}x{args.height}",
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
