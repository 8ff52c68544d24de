"""Synthetic videos with known shot boundaries, and a matching annotation file.

Each video is a sequence of shots; every shot pans over its own random texture (distinct
colours, so each cut is a hard cut), encoded as H.264 with PyAV. Shot boundaries sit on
frame starts, so their times are exact: ``k / fps``. The annotation file (nextevent's
generic JSONL, ``--format jsonl``) has one event per shot.

Two styles:

* ``blocks`` (default): a 2-pixel-a-frame pan over 16x16 colour blocks, libx264
  ``veryfast`` crf 23, an IDR frame forced on every shot start;
* ``natural``: closer to camera footage for the cut and build benchmarks: a 1/f
  ("pink") noise texture with correlated colour, a camera path that speeds up and slows
  down in x and y, a textured disc moving across the picture, light sensor grain, and
  libx264 with its default settings (preset ``medium``, crf 23, keyint 250, min-keyint
  25, scenecut 40, 3 B-frames): keyframes fall where x264 puts them (on most hard cuts,
  not on one less than min-keyint after the last keyframe; at most 250 frames apart).
  ``slices`` sets the slices per picture, with a fixed thread count so that the file is
  the same on every machine: 1 is what ``ffmpeg -c:v libx264`` writes (frame threads, so
  a decoder can only use frame threads), 2 or more what PyAV's encoder writes by default
  (sliced threads, one slice per encoder thread; the benchmarks' default, 2).

    python benchmarks/make_videos.py --out DIR --count 4 --seconds 60 --width 1280 --height 720
    python benchmarks/make_videos.py --out DIR --seconds 120 --style natural --shot-seconds 8
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
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


def _upsample(grid: np.ndarray, height: int, width: int, cell: int) -> np.ndarray:
    """Bilinear upsampling of ``grid`` (one value per ``cell`` pixels) to height x width."""
    ys = np.arange(height, dtype=np.float32) / cell
    xs = np.arange(width, dtype=np.float32) / cell
    y0, x0 = ys.astype(np.int64), xs.astype(np.int64)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _natural_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A pink-noise colour picture (like foliage, rock or crowds): octaves of smooth
    random fields from 256-pixel to 2-pixel detail (amplitude ~ sqrt(scale)), sharp-edged
    regions on top, luma-heavy, with low-frequency colour variation around a random base
    colour."""
    luma = np.zeros((height, width, 1), np.float32)
    for cell in (256, 128, 64, 32, 16, 8, 4, 2):
        grid = rng.standard_normal((height // cell + 2, width // cell + 2, 1))
        luma += cell ** 0.5 * _upsample(grid.astype(np.float32), height, width, cell)
    luma *= 35.0 / float(luma.std())
    # Sharp edges (object outlines): the sign of a mid-frequency field, as a step.
    grid = rng.standard_normal((height // 48 + 2, width // 48 + 2, 1)).astype(np.float32)
    luma += 30.0 * np.sign(_upsample(grid, height, width, 48))
    grid = rng.standard_normal((height // 128 + 2, width // 128 + 2, 3)).astype(np.float32)
    chroma = 25.0 * _upsample(grid, height, width, 128)
    base = rng.uniform(60, 190, size=3).astype(np.float32)
    return np.clip(base + luma + chroma, 0, 255).astype(np.uint8)


def _natural_frames(rng: np.random.Generator, starts: list[int], total: int, width: int,
                    height: int, fps: int):
    """Frames (rgb24 arrays) of the ``natural`` style; a new shot at each of ``starts``."""
    mx, my = width // 8, height // 8  # camera travel, pixels
    grain = [rng.normal(0, 2.5, (height, width, 1)).astype(np.int16) for _ in range(8)]
    r = max(8, height // 7)
    yy, xx = np.mgrid[-r:r, -r:r]
    disc = (xx * xx + yy * yy) < r * r
    shot = -1
    for i in range(total):
        if shot + 1 < len(starts) and i >= starts[shot + 1]:
            shot += 1
            texture = _natural_texture(rng, height + 2 * my, width + 2 * mx)
            sprite = _natural_texture(rng, 2 * r, 2 * r)
            px, py = rng.uniform(0, 2 * np.pi, 2)  # camera path phases
            tx, ty = rng.uniform(6, 12) * fps, rng.uniform(8, 16) * fps  # periods, frames
            pos = rng.uniform([r, r], [width - r, height - r])
            vel = rng.uniform(-6, 6, 2)
        t = i - starts[shot]
        ox = int(round(mx + mx * np.sin(2 * np.pi * t / tx + px)))
        oy = int(round(my + my * np.sin(2 * np.pi * t / ty + py)))
        img = texture[oy : oy + height, ox : ox + width].copy()
        pos = pos + vel
        for k, limit in ((0, width), (1, height)):  # bounce off the edges
            if not r <= pos[k] <= limit - r:
                vel[k] = -vel[k]
                pos[k] = min(max(pos[k], r), limit - r)
        x, y = int(pos[0]) - r, int(pos[1]) - r
        img[y : y + 2 * r, x : x + 2 * r][disc] = sprite[disc]
        noisy = img.astype(np.int16) + grain[i % len(grain)]
        yield np.clip(noisy, 0, 255).astype(np.uint8)


def make_video(
    path: Path, *, seconds: float, width: int, height: int, fps: int = 25,
    shot_s: float = 4.0, seed: int = 0, gop: int = 250, style: str = "blocks",
    slices: int = 2,
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
        style: ``blocks`` or ``natural`` (see the module docstring).
        slices: slices per picture of the ``natural`` style (see the module docstring).
    """
    if style not in ("blocks", "natural"):
        raise ValueError(f"unknown style {style!r}; use blocks or natural")
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
    if style == "natural":
        # x264's defaults, said aloud; threads fixed (the output depends on their count)
        sliced = slices > 1
        stream.codec_context.thread_type = "SLICE" if sliced else "FRAME"
        stream.codec_context.thread_count = slices if sliced else 2
        stream.options = {"preset": "medium", "crf": "23", "x264-params": (
            f"threads={slices}:sliced-threads=1" if sliced else "threads=2:sliced-threads=0")}
    else:
        # Real encoders put keyframes on hard cuts (bikes.mp4 has one on every shot
        # change); force an IDR frame at each shot start to match.
        stream.options = {"preset": "veryfast", "crf": "23", "forced-idr": "1"}
    stream.time_base = Fraction(1, fps)
    starts = [0, *bounds]
    frames = (_natural_frames(rng, starts, total, width, height, fps) if style == "natural"
              else _block_frames(rng, starts, total, width, height))
    keyframes = set(starts) if style == "blocks" else set()  # natural: x264 decides
    for i, img in enumerate(frames):
        out = av.VideoFrame.from_ndarray(img, format="rgb24")
        out.pts = i
        if i in keyframes:
            out.pict_type = av.video.frame.PictureType.I
        for packet in stream.encode(out):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return [b / fps for b in bounds]


def _block_frames(rng: np.random.Generator, starts: list[int], total: int, width: int,
                  height: int) -> Iterator[np.ndarray]:
    """The ``blocks`` style's RGB frames: a new random texture per shot, panned."""
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
        yield np.ascontiguousarray(texture[:, offset : offset + width])


def make_dataset(
    out: Path, *, count: int, seconds: float, width: int, height: int, fps: int = 25,
    shot_s: float = 4.0, seed: int = 0, style: str = "blocks", slices: int = 2,
) -> Path:
    """Write ``count`` synthetic videos and ``events.jsonl`` (one event per shot) into
    ``out``; returns the annotation path. ``truth.json`` holds the shot boundaries."""
    out.mkdir(parents=True, exist_ok=True)
    lines, truth = [], {}
    for k in range(count):
        vid = f"synth_{k:04d}"
        bounds = make_video(out / f"{vid}.mp4", seconds=seconds, width=width, height=height,
                            fps=fps, shot_s=shot_s, seed=seed + k, style=style,
                            slices=slices)
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
    parser.add_argument("--style", choices=("blocks", "natural"), default="blocks")
    parser.add_argument("--slices", type=int, default=2,
                        help="slices per picture, natural style (1: as ffmpeg's CLI writes)")
    args = parser.parse_args()
    ann = make_dataset(args.out, count=args.count, seconds=args.seconds, width=args.width,
                       height=args.height, fps=args.fps, shot_s=args.shot_seconds,
                       seed=args.seed, style=args.style, slices=args.slices)
    print(f"wrote {args.count} videos and {ann}")


if __name__ == "__main__":
    main()
