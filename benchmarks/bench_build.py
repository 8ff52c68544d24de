"""Build time against one plain decode pass of the same videos, measured in one run.

For each input set (the real sample videos, and a longer synthetic 720p video made by
`make_videos.py`) it times:

* reference: one plain PyAV decode pass over every frame of every video (default codec
  settings, frames discarded);
* ``nextevent build`` in accurate mode (probe + shot detection + planning + re-encoding
  cut) and in fast mode (probe + shots + planning + stream-copy cut), one worker, into a
  fresh run directory each time;

and prints build time / decode time (targets: accurate <= 2.0x, fast <= 1.3x) and RTF
(seconds of video per wall second).

    python benchmarks/bench_build.py                 # samples + a 300 s 720p video
    python benchmarks/bench_build.py --long-seconds 60
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import av

from nextevent.pipeline.config import BuildConfig
from nextevent.pipeline.driver import run_build
from nextevent.pipeline.planner import PlannerConfig
from nextevent.samples import copy_samples
from nextevent.sources import load_annotations

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples" / "sample_events.jsonl"


def decode_pass(paths: list[Path]) -> float:
    """Seconds for one plain PyAV decode of every frame of ``paths``."""
    start = time.perf_counter()
    for path in paths:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                pass
    return time.perf_counter() - start


def build_once(videos: Path, annotations: Path, run_dir: Path, mode: str) -> float:
    """Seconds for one ``nextevent build`` into a fresh ``run_dir``."""
    shutil.rmtree(run_dir, ignore_errors=True)
    imported = load_annotations(annotations, "jsonl")
    config = BuildConfig(run_dir=run_dir, cut_mode=mode,  # type: ignore[arg-type]
                         planner=PlannerConfig(splits_per_video=1))
    start = time.perf_counter()
    summary = run_build(imported.annotations, videos, config, workers=1, show_progress=False)
    elapsed = time.perf_counter() - start
    if summary.records_new == 0:
        failures = (run_dir / "failures.jsonl").read_text()
        raise SystemExit(f"{mode} build wrote no record:\n{failures}")
    return elapsed


def measure(name: str, videos: Path, annotations: Path, work: Path, repeats: int) -> dict:
    paths = sorted(p for p in videos.iterdir() if p.suffix == ".mp4")
    seconds = 0.0
    for p in paths:
        with av.open(str(p)) as c:
            seconds += float(c.duration or 0) / 1_000_000
    row: dict = {"input": name, "video_s": round(seconds, 2)}
    decode = statistics.median(decode_pass(paths) for _ in range(repeats))
    row["decode_s"] = round(decode, 3)
    for mode in ("accurate", "fast"):
        t = statistics.median(build_once(videos, annotations, work / f"run_{mode}", mode)
                              for _ in range(repeats))
        row[f"{mode}_s"] = round(t, 3)
        row[f"{mode}_ratio"] = round(t / decode, 2)
        row[f"{mode}_rtf"] = round(seconds / t, 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-seconds", type=float, default=300.0,
                        help="duration of the synthetic 720p video, seconds")
    parser.add_argument("--repeats", type=int, default=3, help="median of this many runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        samples = work / "samples"
        copy_samples(samples)
        synth = work / "synth"
        from make_videos import make_dataset  # benchmarks/ is on sys.path when run directly

        synth_ann = make_dataset(synth, count=1, seconds=args.long_seconds, width=1280,
                                 height=720)
        rows = [
            measure("samples (bunny 720p 5.3 s + bikes 272p 10 s)", samples, EXAMPLES, work,
                    args.repeats),
            measure(f"synthetic 720p {args.long_seconds:.0f} s", synth, synth_ann, work,
                    max(1, args.repeats // 3)),
        ]
    print(json.dumps(rows, indent=1))
    print("\ninput | video s | decode s | accurate s (ratio, RTF) | fast s (ratio, RTF)")
    for r in rows:
        print(f"{r['input']} | {r['video_s']} | {r['decode_s']} | {r['accurate_s']} "
              f"({r['accurate_ratio']}x, {r['accurate_rtf']}) | {r['fast_s']} "
              f"({r['fast_ratio']}x, {r['fast_rtf']})")
    print("targets: accurate <= 2.0x, fast <= 1.3x one decode pass")


if __name__ == "__main__":
    main()
