"""Peak memory of a build for 10 vs 1,000 records (target: flat, ratio <= 1.1x).

Makes a few tiny synthetic videos (`make_videos.py`, 64x64 pixels), copies them under
distinct ids up to the largest count, and for each count runs ``run_build`` (one worker,
in process, so the store writer and the stages share one peak) in a fresh Python
subprocess, which reports its peak resident set size (``ru_maxrss``, KiB on Linux). One
record per video. Prints peak RSS per count and the ratio largest / smallest.

    python benchmarks/bench_memory.py --counts 10 1000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from make_videos import make_dataset

CHILD = """
import json, resource, sys
from pathlib import Path
from nextevent.pipeline.driver import run_build
from nextevent.pipeline.config import BuildConfig
from nextevent.sources import load_annotations
ann, videos, run, mode = sys.argv[1:5]
imported = load_annotations(Path(ann), "jsonl")
s = run_build(imported.annotations, Path(videos), BuildConfig(run_dir=Path(run), cut_mode=mode),
              workers=1, show_progress=False)
print(json.dumps({"records": s.records_total, "failed": s.videos_failed,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def videos_for(count: int, base: Path, out: Path) -> Path:
    """``count`` annotated copies of the base videos in ``out``; returns the jsonl."""
    out.mkdir(parents=True)
    rows = [json.loads(line) for line in (base / "events.jsonl").read_text().splitlines()]
    lines = []
    for i in range(count):
        row = rows[i % len(rows)]
        vid = f"{row['video_id']}_{i:05d}"
        (out / f"{vid}.mp4").hardlink_to(base / f"{row['video_id']}.mp4")
        lines.append(json.dumps({**row, "video_id": vid}))
    ann = out / "events.jsonl"
    ann.write_text("\n".join(lines) + "\n")
    return ann


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 1000],
                        help="records (videos) per build")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each video, s")
    parser.add_argument("--cut", default="accurate", choices=["accurate", "fast"])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_dataset(work / "base", count=4, seconds=args.seconds, width=64, height=64,
                     shot_s=1.0)
        for count in args.counts:
            ann = videos_for(count, work / "base", work / f"v{count}")
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(ann), str(work / f"v{count}"),
                 str(work / f"run{count}"), args.cut],
                check=True, capture_output=True, text=True).stdout
            res = json.loads(out.strip().splitlines()[-1])
            res.update(count=count, wall_s=round(time.perf_counter() - start, 1),
                       peak_rss_mib=round(res.pop("maxrss_kib") / 1024, 1))
            rows.append(res)
            shutil.rmtree(work / f"run{count}")
    print(json.dumps(rows, indent=1))
    ratio = rows[-1]["peak_rss_mib"] / rows[0]["peak_rss_mib"]
    print(f"\npeak RSS {rows[0]['records']} records: {rows[0]['peak_rss_mib']} MiB; "
          f"{rows[-1]['records']} records: {rows[-1]['peak_rss_mib']} MiB; ratio {ratio:.3f}x "
          f"(target <= 1.1x)")


if __name__ == "__main__":
    main()
