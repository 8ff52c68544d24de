"""Shot detection precision/recall within 1 frame on synthetic videos with known hard cuts.

Writes ``--count`` videos with `make_videos.make_dataset` (exact boundaries in
``truth.json``), runs `nextevent.media.shots.detect_shots` with the build's settings on
each, and prints true/false positives, misses, precision and recall (tolerance 1 frame),
and the detector's RTF (seconds of video per wall second).

    python benchmarks/bench_shots.py --count 8 --seconds 30 --width 640 --height 360
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from make_videos import make_dataset, score_boundaries

from nextevent.media.shots import detect_shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8, help="videos")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each, seconds")
    parser.add_argument("--width", type=int, default=640, help="pixels")
    parser.add_argument("--height", type=int, default=360, help="pixels")
    parser.add_argument("--fps", type=int, default=25, help="frames per second")
    parser.add_argument("--shot-seconds", type=float, default=3.0, help="mean shot length, s")
    parser.add_argument("--tolerance-frames", type=int, default=1, help="frames")
    args = parser.parse_args()
    tp = fp = fn = 0
    wall = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        make_dataset(out, count=args.count, seconds=args.seconds, width=args.width,
                     height=args.height, fps=args.fps, shot_s=args.shot_seconds)
        truth = json.loads((out / "truth.json").read_text())
        for vid, bounds in truth.items():
            start = time.perf_counter()
            found = detect_shots(out / f"{vid}.mp4")
            wall += time.perf_counter() - start
            a, b, c = score_boundaries(bounds, found, args.fps, args.tolerance_frames)
            tp, fp, fn = tp + a, fp + b, fn + c
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    row = {"videos": args.count, "video_s": args.count * args.seconds,
           "size": f"{args.width}x{args.height}", "boundaries": tp + fn, "tp": tp, "fp": fp,
           "fn": fn, "precision": round(precision, 3), "recall": round(recall, 3),
           "tolerance_frames": args.tolerance_frames,
           "detect_rtf": round(args.count * args.seconds / wall, 1)}
    print(json.dumps(row))
    print(f"shot boundaries within {args.tolerance_frames} frame: precision {precision:.3f}, "
          f"recall {recall:.3f} ({tp} hits, {fp} false, {fn} missed of {tp + fn}); "
          f"detector RTF {row['detect_rtf']}")


if __name__ == "__main__":
    main()
