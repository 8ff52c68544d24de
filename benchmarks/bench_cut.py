"""nextevent's cut (accurate and fast) against the ``ffmpeg`` command line doing the same cut.

For each input (bikes.mp4 from the samples, and a synthetic 720p video from
`make_videos.py`) both tools write a past clip (frames before the split) and a future clip
(frames from the split on), video only:

* accurate: `nextevent.media.cut.cut(..., "accurate")` vs
  ``ffmpeg -i SRC -t S -an -c:v libx264 -preset superfast -crf 20`` (past) and
  ``ffmpeg -ss S -i SRC -an -c:v libx264 -preset superfast -crf 20`` (future; input
  seeking decodes from the keyframe before S, so the cut is frame-exact), the same x264
  settings as nextevent's accurate mode;
* fast: `cut(..., "fast")` vs ``ffmpeg -i SRC -t K -an -c copy`` and
  ``ffmpeg -ss K -i SRC -an -c copy`` at the same keyframe K.

The probe (`nextevent.media.probe.probe`) runs once outside the timing, as the build
reuses it. Prints median seconds of ``--repeats`` runs and nextevent / ffmpeg ratios.
Installs Debian's ffmpeg (``apt-get install -y ffmpeg``) when the command is missing.

    python benchmarks/bench_cut.py --seconds 30 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from make_videos import make_dataset

from nextevent.media.cut import X264_OPTIONS, cut
from nextevent.media.frames import frame_times
from nextevent.media.probe import probe
from nextevent.samples import copy_samples


def ensure_ffmpeg() -> str:
    """Path of ``ffmpeg``; installs Debian's package when missing (needs root)."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "ffmpeg"], check=False,
                   stdout=subprocess.DEVNULL)
    if not shutil.which("ffmpeg"):
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", "ffmpeg"], check=True,
                       stdout=subprocess.DEVNULL)
    found = shutil.which("ffmpeg")
    if not found:
        raise SystemExit("ffmpeg is missing and apt-get could not install it")
    return found


def ffmpeg_cut(ffmpeg: str, src: Path, split_s: float, out: Path, mode: str) -> None:
    """The same cut with two ffmpeg commands (past, future)."""
    out.mkdir(parents=True, exist_ok=True)
    codec = (["-c:v", "libx264", "-preset", X264_OPTIONS["preset"], "-crf",
              X264_OPTIONS["crf"]] if mode == "accurate" else ["-c", "copy"])
    base = [ffmpeg, "-v", "error", "-y"]
    subprocess.run([*base, "-i", str(src), "-t", f"{split_s:.6f}", "-an", *codec,
                    str(out / "past.mp4")], check=True)
    subprocess.run([*base, "-ss", f"{split_s:.6f}", "-i", str(src), "-an", *codec,
                    str(out / "future.mp4")], check=True)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(name: str, src: Path, work: Path, ffmpeg: str, repeats: int) -> list[dict]:
    video = probe(src)
    inner = [k for k in video.keyframes_s if 0.25 * video.duration_s < k < 0.75 * video.duration_s]
    if not inner:
        raise SystemExit(f"{src} has no keyframe in its middle half; fast cut needs one")
    key_s = inner[0]
    rows = []
    for mode, split_s in (("accurate", video.duration_s * 0.47), ("fast", key_s)):
        ours = statistics.median(
            _timed(lambda m=mode, s=split_s: cut(video, s, work / f"ne_{m}", m))
            for _ in range(repeats))
        theirs = statistics.median(
            _timed(lambda m=mode, s=split_s: ffmpeg_cut(ffmpeg, src, s, work / f"ff_{m}", m))
            for _ in range(repeats))
        frames = {tool: [len(frame_times(work / f"{tool}_{mode}" / c))
                         for c in ("past.mp4", "future.mp4")] for tool in ("ne", "ff")}
        rows.append({"input": name, "video_s": round(video.duration_s, 2), "mode": mode,
                     "split_s": round(split_s, 3), "nextevent_s": round(ours, 3),
                     "ffmpeg_s": round(theirs, 3), "ratio": round(ours / theirs, 2),
                     "frames_past_future": frames})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="length of the synthetic 720p video, seconds")
    parser.add_argument("--repeats", type=int, default=3, help="median of this many runs")
    args = parser.parse_args()
    ffmpeg = ensure_ffmpeg()
    version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout
    print(version.splitlines()[0])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        samples = work / "samples"
        copy_samples(samples)
        make_dataset(work / "synth", count=1, seconds=args.seconds, width=1280, height=720)
        rows = measure("bikes 640x272 10 s", samples / "bikes.mp4", work / "b", ffmpeg,
                       args.repeats)
        rows += measure(f"synthetic 1280x720 {args.seconds:.0f} s",
                        work / "synth" / "synth_0000.mp4", work / "s", ffmpeg, args.repeats)
    print(json.dumps(rows, indent=1))
    print("\ninput | mode | nextevent s | ffmpeg CLI s | ratio (nextevent / ffmpeg)")
    for r in rows:
        print(f"{r['input']} | {r['mode']} | {r['nextevent_s']} | {r['ffmpeg_s']} | "
              f"{r['ratio']}x")


if __name__ == "__main__":
    main()
