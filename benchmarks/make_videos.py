"""Synthetic videos with known shot boundaries, and a matching annotation file.

Each video is a sequence of shots; every shot pans slowly over its own random texture
(distinct colours, so each cut is a hard cut), encoded as H.264 with PyAV. Shot
boundaries sit on frame starts, so their times are exact: ``k / fps``. The annotation file
(nextevent's generic JSONL, ``--format jsonl``) has one event per shot.

    python benchmarks/make_videos.py --out DIR --count 4 --seconds 60 --width 1280 --height 720
"""

from __future__ import annotations

import argparse
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth colour texture twice the frame width, so a shot can pan across it."""
    small = rng.integers(0, 256, size=(max(2, height // 16), max(4, width // 8), 3),
                         dtype=np.uint8)
    big = small.repeat(16, axis=0).repeat(16, axis=1)[:height, : 2 * width]
    tint = rng.integers(0, 256, size=3, dtype=np.uint8)
    return ((big.astype(np.uint16) + tint) // 2).astype(np.uint8)


def make_video(
    path: Path, *, seconds: float, width: int, height: int, fps: int = 25,
    shot_s: float = 4.0, seed: int = 0, gop: int = 250,
) -> list[float]:
    """Write one synthetic H.264 MP4 and return its shot boundary times in seconds.

    Args:
        path: output file.
        seconds: duration in seconds.
        width, height: frame size in pixels (even numbers).
        fps: frames per second.
        shot_s: mean shot length in seconds (lengths vary +-50%, seeded).
        seed: seed of shot lengths and textures.
        gop: keyframe interval in frames (x264 also puts keyframes on scene cuts).
    """
    rng = np.random.default_rng(seed)
    total = int(round(seconds * fps))
    bounds, frame = [], 0
    while True:
        frame += max(fps // 2, int(rng.uniform(0.5, 1.5) * shot_s * fps))
        if frame >= total - fps // 2:
            break
        bounds.append(frame)
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.gop_size = gop
    # Real encoders put keyframes on hard cuts (bikes.mp4 has one on every shot change);
    # force an IDR frame at each shot start to match.
    stream.options = {"preset": "veryfast", "crf": "23", "forced-idr": "1"}
    stream.time_base = Fraction(1, fps)
    starts = [0, *bounds]
    shot, texture = -1, None
    for i in range(total):
        if shot + 1 < len(starts) and i >= starts[shot + 1]:
            shot += 1
            texture = _texture(rng, height, width)
        assert texture is not None
        # Pan 2 pixels a frame and back (a triangle wave): a wrap-around would jump the
        # picture and put a cut inside the shot that truth.json does not list.
        offset = (i - starts[shot]) * 2 % (2 * width)
        offset = offset if offset <= width else 2 * width - offset
        img = np.ascontiguousarray(texture[:, offset : offset + width])
        out = av.VideoFrame.from_ndarray(img, format="rgb24")
        out.pts = i
        if i in starts:
            out.pict_type = av.video.frame.PictureType.I
        for packet in stream.encode(out):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return [b / fps for b in bounds]


def make_dataset(
    out: Path, *, count: int, seconds: float, width: int, height: int, fps: int = 25,
    shot_s: float = 4.0, seed: int = 0,
) -> Path:
    """Write ``count`` synthetic videos and ``events.jsonl`` (one event per shot) into
    ``out``; returns the annotation path. ``truth.json`` holds the shot boundaries."""
    out.mkdir(parents=True, exist_ok=True)
    lines, truth = [], {}
    for k in range(count):
        vid = f"synth_{k:04d}"
        bounds = make_video(out / f"{vid}.mp4", seconds=seconds, width=width, height=height,
                            fps=fps, shot_s=shot_s, seed=seed + k)
        edges = [0.0, *bounds, seconds]
        events = [{"start": a, "end": b, "text": f"Shot {j + 1} pans across pattern {j + 1}."}
                  for j, (a, b) in enumerate(zip(edges, edges[1:], strict=False))]
        lines.append(json.dumps({"video_id": vid, "duration": seconds, "events": events}))
        truth[vid] = bounds
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    ann = out / "events.jsonl"
    ann.write_text("\n".join(lines) + "\n")
    return ann


def score_boundaries(
    truth_s: list[float], detected_s: list[float], fps: float, tolerance_frames: int = 1,
) -> tuple[int, int, int]:
    """Match detected shot boundaries to true ones, one to one, within a tolerance.

    Args:
        truth_s: true boundary times in seconds (``truth.json``).
        detected_s: detected boundary times in seconds.
        fps: frames per second of the video.
        tolerance_frames: largest distance, in frames, of a match.

    Returns:
        ``(true_positives, false_positives, false_negatives)``; precision is
        ``tp / (tp + fp)``, recall ``tp / (tp + fn)``. Greedy matching in time order,
        each true boundary used at most once (the usual shot-boundary-detection scoring,
        TRECVID SBD: a cut counts when within the tolerance of a reference cut).
    """
    tol = (tolerance_frames + 0.5) / fps  # half a frame of timestamp rounding
    unused = sorted(truth_s)
    tp = 0
    for d in sorted(detected_s):
        best = min(unused, key=lambda t: abs(t - d), default=None)
        if best is not None and abs(best - d) <= tol:
            unused.remove(best)
            tp += 1
    return tp, len(detected_s) - tp, len(unused)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--shot-seconds", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ann = make_dataset(args.out, count=args.count, seconds=args.seconds, width=args.width,
                       height=args.height, fps=args.fps, shot_s=args.shot_seconds,
                       seed=args.seed)
    print(f"wrote {args.count} videos and {ann}")


if __name__ == "__main__":
    main()
