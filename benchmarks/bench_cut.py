"""nextevent's cut (accurate, smart, fast) against the ``ffmpeg`` command line doing the same cut.

For each input (bikes.mp4 and bigbuckbunny.mp4 from the samples, and a synthetic 720p
video from `make_videos.py`, ``natural`` style: libx264 defaults, keyframes on most hard
cuts and at most 250 frames apart) both tools write a past clip (frames before the split)
and a future clip (frames from the split on), video only:

* accurate: `nextevent.media.cut.cut(..., "accurate")` vs
  ``ffmpeg -i SRC -t S -an -c:v libx264 -preset superfast -crf 20`` (past) and
  ``ffmpeg -ss S -i SRC -an -c:v libx264 -preset superfast -crf 20`` (future; input
  seeking decodes from the keyframe before S, so the cut is frame-exact), the same x264
  settings as nextevent's accurate mode;
* smart: `cut(..., "smart")` at the same split S (frame-exact; re-encodes the partial
  GOPs next to S with `SMART_X264_OPTIONS`, copies the rest), against the same two
  re-encoding ffmpeg commands and against nextevent's accurate cut;
* fast: `cut(..., "fast")` vs ``ffmpeg -i SRC -t K -an -c copy`` and
  ``ffmpeg -ss K -i SRC -an -c copy`` at the keyframe K (skipped without a keyframe in
  the middle half of the video).

S is 0.47 of the duration (wherever that falls in its GOP). The probe
(`nextevent.media.probe.probe`) runs once outside the timing, as the build reuses it.
Prints median seconds of ``--repeats`` runs, ratios, clip sizes (past + future bytes,
and the source's), and for nextevent's accurate and smart clips the quality of the
re-encoded frames: PSNR against the source frame at the same time (dB, over the Y, U and
V samples of the yuv420p picture together; min and mean over frames), and how many
copied frames decode bit-identical to the source. Installs Debian's ffmpeg
(``apt-get install -y ffmpeg``) when the command is missing.

    python benchmarks/bench_cut.py --seconds 120 --repeats 3
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from bench_build import long_video

from nextevent.media.cut import X264_OPTIONS, Clips, cut
from nextevent.media.frames import frame_times
from nextevent.media.probe import probe
from nextevent.media.smart_cut import SMART_X264_OPTIONS
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


def _median_time(fn, repeats: int) -> tuple[float, object]:
    """Median seconds of ``repeats`` calls of ``fn`` and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _frames(path: Path) -> Iterator[tuple[float, np.ndarray]]:
    """(time s, yuv420p array) of every frame of ``path``, in display order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield float(frame.time or 0.0), frame.to_ndarray(format="yuv420p")


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.int32) - b.astype(np.int32)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def quality(src: Path, clips: Clips, fps: float) -> dict:
    """Re-encoded frames of ``clips`` against the source: PSNR (dB, yuv420p Y+U+V, min
    and mean) and how many copied frames decode bit-identical to the source.

    The past clip holds the source's first ``past.frame_count`` frames, the future clip
    the rest; a smart cut re-encodes the last ``past.reencoded_frames`` of the past clip
    and the first ``future.reencoded_frames`` of the future clip. Frame times are checked
    too (past: the source's; future: the source's less its first frame's)."""
    past, future = clips.past, clips.future
    n_past = past.frame_count
    reenc = set(range(n_past - (past.reencoded_frames or 0), n_past))
    reenc |= set(range(n_past, n_past + (future.reencoded_frames or 0)))
    clip_frames = itertools.chain(_frames(Path(past.path)), _frames(Path(future.path)))
    psnrs, copied, identical, misaligned, n = [], 0, 0, 0, 0
    offset = 0.0
    for (t_src, a), (t_clip, b) in itertools.zip_longest(_frames(src), clip_frames,
                                                        fillvalue=(None, None)):
        if a is None or b is None:
            raise SystemExit(f"{src}: the clips have {'more' if a is None else 'fewer'} "
                             "frames than the source")
        if n == n_past:
            offset = t_src - t_clip
        if abs(t_src - t_clip - offset) > 0.5 / fps:
            misaligned += 1
        if n in reenc:
            psnrs.append(_psnr(a, b))
        else:
            copied += 1
            identical += bool(np.array_equal(a, b))
        n += 1
    finite = [p for p in psnrs if math.isfinite(p)]
    return {"frames": n, "reencoded": len(psnrs), "copied": copied,
            "copied_bit_identical": identical, "misaligned_frames": misaligned,
            "future_first_s": round(offset, 3),
            "psnr_min_db": round(min(finite), 2) if finite else None,
            "psnr_mean_db": round(statistics.mean(finite), 2) if finite else None}


def _bytes(folder: Path) -> int:
    return sum((folder / c).stat().st_size for c in ("past.mp4", "future.mp4"))


def _counts(folder: Path) -> list[int]:
    return [len(frame_times(folder / c)) for c in ("past.mp4", "future.mp4")]


def measure(name: str, src: Path, work: Path, ffmpeg: str, repeats: int) -> list[dict]:
    video = probe(src)
    split_s = video.duration_s * 0.47
    inner = [k for k in video.keyframes_s if 0.25 * video.duration_s < k < 0.75 * video.duration_s]
    plans = [("accurate", split_s, "accurate"), ("smart", split_s, "accurate")]
    if inner:
        plans.append(("fast", inner[0], "fast"))
    base = {"input": name, "video_s": round(video.duration_s, 2),
            "source_bytes": src.stat().st_size}
    ff_times: dict[str, float] = {}
    rows = []
    for mode, at, ff_mode in plans:
        ours, clips = _median_time(lambda m=mode, s=at: cut(video, s, work / f"ne_{m}", m),
                                   repeats)
        assert isinstance(clips, Clips)
        if ff_mode not in ff_times:
            ff_times[ff_mode], _ = _median_time(
                lambda m=ff_mode, s=at: ffmpeg_cut(ffmpeg, src, s, work / f"ff_{m}", m),
                repeats)
        theirs = ff_times[ff_mode]
        row = {**base, "mode": mode, "mode_used": clips.mode, "note": clips.note,
               "split_s": round(at, 3), "nextevent_s": round(ours, 3),
               "ffmpeg_s": round(theirs, 3), "ffmpeg_mode": ff_mode,
               "ratio_ffmpeg": round(ours / theirs, 2),
               "nextevent_bytes": _bytes(work / f"ne_{mode}"),
               "ffmpeg_bytes": _bytes(work / f"ff_{ff_mode}"),
               "frames_past_future": {"ne": _counts(work / f"ne_{mode}"),
                                      "ff": _counts(work / f"ff_{ff_mode}")},
               "reencoded_past_future": [clips.past.reencoded_frames,
                                         clips.future.reencoded_frames]}
        if mode == "smart":
            row["ratio_accurate"] = round(ours / rows[0]["nextevent_s"], 2)
        if mode in ("accurate", "smart"):
            row["quality"] = quality(src, clips, video.fps)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0,
                        help="length of the synthetic 720p video, seconds")
    parser.add_argument("--shot-seconds", type=float, default=8.0,
                        help="its mean shot length, seconds")
    parser.add_argument("--repeats", type=int, default=3, help="median of this many runs")
    parser.add_argument("--video-dir", type=Path, default=None,
                        help="keep the synthetic video here and reuse it (default: a "
                        "temporary folder)")
    args = parser.parse_args()
    ffmpeg = ensure_ffmpeg()
    version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout
    print(version.splitlines()[0])
    print(f"accurate x264 {X264_OPTIONS}, smart splice x264 {SMART_X264_OPTIONS}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        samples = work / "samples"
        copy_samples(samples)
        # the 2-slice video of bench_build.py, in the same folder
        folder, _ = long_video(args.video_dir or work, args.seconds, args.shot_seconds, 2)
        rows = measure("bikes 640x272 10 s", samples / "bikes.mp4", work / "b", ffmpeg,
                       args.repeats)
        rows += measure("bunny 1280x720 5.3 s (one GOP)", samples / "bigbuckbunny.mp4",
                        work / "u", ffmpeg, args.repeats)
        rows += measure(f"synthetic 1280x720 {args.seconds:g} s", folder / "synth_0000.mp4",
                        work / "s", ffmpeg, args.repeats)
    print(json.dumps(rows, indent=1))
    print("\ninput | mode | nextevent s | ffmpeg CLI s | / ffmpeg | / our accurate | "
          "nextevent bytes | ffmpeg bytes | source bytes | re-encoded past+future")
    for r in rows:
        vs_acc = f"{r['ratio_accurate']}x" if "ratio_accurate" in r else "-"
        print(f"{r['input']} | {r['mode']} | {r['nextevent_s']} | {r['ffmpeg_s']} "
              f"({r['ffmpeg_mode']}) | {r['ratio_ffmpeg']}x | {vs_acc} | "
              f"{r['nextevent_bytes']} | {r['ffmpeg_bytes']} | {r['source_bytes']} | "
              f"{r['reencoded_past_future']}")
    print("\ninput | mode | re-encoded | PSNR min / mean dB | copied bit-identical")
    for r in rows:
        if "quality" in r:
            q = r["quality"]
            print(f"{r['input']} | {r['mode']} | {q['reencoded']} of {q['frames']} | "
                  f"{q['psnr_min_db']} / {q['psnr_mean_db']} | "
                  f"{q['copied_bit_identical']} of {q['copied']}")


if __name__ == "__main__":
    main()
