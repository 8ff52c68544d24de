"""Writers of bad and edge-case input videos, made with PyAV only (no ffmpeg CLI).

Importable from any test as ``from badvideos import ...`` (pytest puts ``tests/`` on
``sys.path`` because it holds the rootdir ``conftest.py`` and no ``__init__.py``).
Every function writes one file into ``out_dir`` and returns its path.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.frame import PictureType

__all__ = [
    "audio_only_mp4",
    "corrupt_mp4",
    "empty_mp4",
    "gop_mp4",
    "mpegts_copy",
    "non_ascii_copy",
    "odd_size_mp4",
    "reencoded_mp4",
    "rotated_mp4",
    "synthetic_shots_mp4",
    "truncated_faststart_mp4",
    "truncated_mp4",
    "vfr_mp4",
]


def truncated_mp4(src: Path, out_dir: Path, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of ``src``'s bytes. For an MP4 with its index (``moov``) at
    the end, as both samples have, the result cannot even be opened."""
    data = Path(src).read_bytes()
    out = Path(out_dir) / f"truncated_{Path(src).stem}.mp4"
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def truncated_faststart_mp4(src: Path, out_dir: Path, fraction: float = 0.6) -> Path:
    """``src`` remuxed with its index first (``movflags=faststart``), then cut to the
    first ``fraction`` of its bytes: the header opens and promises every frame, but the
    packets stop early."""
    full = Path(out_dir) / f"faststart_{Path(src).stem}.mp4"
    with av.open(str(src)) as inp, av.open(str(full), "w",
                                           options={"movflags": "faststart"}) as out:
        ins = inp.streams.video[0]
        outs = out.add_stream_from_template(ins)
        for packet in inp.demux(ins):
            if packet.dts is None:
                continue
            packet.stream = outs
            out.mux(packet)
    data = full.read_bytes()
    full.unlink()
    out_path = Path(out_dir) / f"truncated_faststart_{Path(src).stem}.mp4"
    out_path.write_bytes(data[: int(len(data) * fraction)])
    return out_path


def corrupt_mp4(out_dir: Path, size: int = 64_000, seed: int = 0) -> Path:
    """``size`` random bytes under an ``.mp4`` name."""
    out = Path(out_dir) / "corrupt.mp4"
    out.write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return out


def empty_mp4(out_dir: Path) -> Path:
    """A zero-length ``.mp4`` file."""
    out = Path(out_dir) / "empty.mp4"
    out.write_bytes(b"")
    return out


def audio_only_mp4(out_dir: Path, seconds: float = 2.0, rate: int = 44_100) -> Path:
    """A 440 Hz sine encoded to AAC in an MP4 with no video stream."""
    out = Path(out_dir) / "audio_only.mp4"
    with av.open(str(out), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        samples = int(seconds * rate)
        t = np.arange(samples) / rate
        wave = (0.3 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)
        chunk = 1024
        for start in range(0, samples, chunk):
            part = wave[start:start + chunk]
            frame = av.AudioFrame.from_ndarray(part[None, :], format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out


def _marker_frames(n: int, width: int, height: int) -> Iterator[np.ndarray]:
    """RGB frames: grey ramp by frame index with a red block in the top-left corner, so
    orientation and frame order can be read back from pixels."""
    for i in range(n):
        img = np.full((height, width, 3), (i * 7) % 200 + 20, np.uint8)
        img[: height // 4, : width // 4] = (255, 0, 0)
        yield img


def _encode(out: Path, frames: Iterator[np.ndarray], *, width: int, height: int,
            rate: int = 25, codec: str = "libx264", pix_fmt: str = "yuv420p",
            pts: list[int] | None = None, time_base: Fraction | None = None,
            rotation: int = 0, options: dict[str, str] | None = None) -> Path:
    with av.open(str(out), "w") as container:
        stream = container.add_stream(codec, rate=rate, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if time_base is not None:
            stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out


def rotated_mp4(out_dir: Path, degrees: int = 90, n: int = 25) -> Path:
    """A 64x48 H.264 MP4 whose display matrix says: rotate ``degrees`` counter-clockwise
    (PyAV ``set_display_rotation``, FFmpeg's convention; ffprobe shows the same angle).
    The top-left quarter of every coded frame is red."""
    out = Path(out_dir) / f"rotated_{degrees}.mp4"
    return _encode(out, _marker_frames(n, 64, 48), width=64, height=48, rotation=degrees)


VFR_DURATIONS_MS = [40, 40, 40, 80, 20, 20, 40, 120, 40, 40, 33, 33, 34, 40, 40, 100]
"""Frame durations (ms) of `vfr_mp4`: irregular, as a phone or screen recorder writes."""


def vfr_mp4(out_dir: Path) -> Path:
    """A variable-frame-rate H.264 MP4: 1/1000 time base, frame gaps `VFR_DURATIONS_MS`."""
    pts = [0]
    for d in VFR_DURATIONS_MS[:-1]:
        pts.append(pts[-1] + d)
    out = Path(out_dir) / "vfr.mp4"
    return _encode(out, _marker_frames(len(pts), 64, 48), width=64, height=48,
                   pts=pts, time_base=Fraction(1, 1000), options={"bf": "0"})


def odd_size_mp4(out_dir: Path, width: int = 65, height: int = 49, n: int = 20) -> Path:
    """An MPEG-4 Part 2 MP4 of odd width and height (H.264 4:2:0 cannot be odd)."""
    out = Path(out_dir) / f"odd_{width}x{height}.mp4"
    return _encode(out, _marker_frames(n, width, height), width=width, height=height,
                   codec="mpeg4")


def mpegts_copy(src: Path, out_dir: Path) -> Path:
    """``src``'s video stream copied into MPEG-TS, whose timestamps start above zero
    (the muxer's default delay), to check that times count from the first frame."""
    out = Path(out_dir) / f"{Path(src).stem}.ts"
    with av.open(str(src)) as inp, av.open(str(out), "w") as container:
        ins = inp.streams.video[0]
        outs = container.add_stream_from_template(ins)
        for packet in inp.demux(ins):
            if packet.dts is None:
                continue
            packet.stream = outs
            container.mux(packet)
    return out


def non_ascii_copy(src: Path, out_dir: Path, name: str = "видео_ß.mp4") -> Path:
    """A byte copy of ``src`` under a non-ASCII file name."""
    out = Path(out_dir) / name
    shutil.copyfile(src, out)
    return out


def gop_mp4(src: Path, out_dir: Path, gop: int = 25) -> Path:
    """``src`` re-encoded to H.264 with a keyframe every ``gop`` frames (and no scene-cut
    keyframes), so a fast cut has keyframes strictly inside the video."""
    out = Path(out_dir) / f"gop{gop}_{Path(src).stem}.mp4"
    with av.open(str(src)) as inp, av.open(str(out), "w") as container:
        ins = inp.streams.video[0]
        stream = container.add_stream(
            "libx264", rate=ins.average_rate,
            options={"preset": "ultrafast", "crf": "18", "g": str(gop),
                     "keyint_min": str(gop), "sc_threshold": "0"})
        stream.width, stream.height = ins.codec_context.width, ins.codec_context.height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = ins.time_base
        for frame in inp.decode(ins):
            frame.pict_type = PictureType.NONE  # else libx264 keeps the source's I frames
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out


def reencoded_mp4(src: Path, out_dir: Path, name: str, *, codec: str = "libx264",
                  options: dict[str, str] | None = None, start_s: float = 0.0,
                  vfr: bool = False, rotation: int = 0, pix_fmt: str = "yuv420p") -> Path:
    """``src``'s frames (real content) re-encoded into an MP4 with the GOP structure a test
    needs: ``options`` go to the encoder (e.g. ``{"bf": "3", "g": "30"}`` for B-frames and
    closed GOPs, ``x264-params`` ``open-gop=1`` for open GOPs); ``start_s`` shifts every
    timestamp so the stream starts there (an MP4 edit list); ``vfr`` spaces the frames by
    `VFR_DURATIONS_MS` (cycled, scaled to the source's frame duration); ``rotation`` is a
    display rotation in degrees; ``pix_fmt`` e.g. ``yuvj420p`` for full-range video."""
    out = Path(out_dir) / name
    with av.open(str(src)) as inp, av.open(str(out), "w") as container:
        ins = inp.streams.video[0]
        tb = ins.time_base
        stream = container.add_stream(codec, rate=ins.average_rate, options=options or {})
        stream.width, stream.height = ins.codec_context.width, ins.codec_context.height
        stream.pix_fmt = pix_fmt
        stream.codec_context.time_base = tb
        if rotation:
            stream.set_display_rotation(rotation)
        pts = round(start_s / tb)
        step = round(1 / (ins.average_rate * tb))
        for i, frame in enumerate(inp.decode(ins)):
            frame.pict_type = PictureType.NONE  # else the encoder keeps the source's I frames
            frame = frame.reformat(format=pix_fmt) if frame.format.name != pix_fmt else frame
            frame.pts, frame.time_base = pts, tb
            gap = VFR_DURATIONS_MS[i % len(VFR_DURATIONS_MS)] / 40 if vfr else 1
            pts += max(1, round(step * gap))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out


SHOT_PALETTE = [(200, 40, 40), (40, 160, 60), (30, 60, 200), (220, 200, 40), (150, 40, 160)]


def synthetic_shots_mp4(out_dir: Path, *, seconds: float = 6.0, width: int = 320,
                        height: int = 180, rate: int = 25, shot_s: float = 2.0,
                        name: str | None = None) -> Path:
    """A synthetic video with hard cuts every ``shot_s`` seconds (a new colour and
    pattern per shot, a square moving inside each shot). Shot boundaries lie at the
    frames ``k * round(shot_s * rate)``, k >= 1."""
    n = int(round(seconds * rate))
    per_shot = int(round(shot_s * rate))
    yy, xx = np.mgrid[0:height, 0:width]

    def frames() -> Iterator[np.ndarray]:
        base = None
        for i in range(n):
            shot, j = divmod(i, per_shot)
            if j == 0 or base is None:
                colour = np.array(SHOT_PALETTE[shot % len(SHOT_PALETTE)], np.uint8)
                stripes = (((xx // (8 + 4 * (shot % 5))) + (yy // 16) * (shot % 2)) % 2)
                base = (colour[None, None, :] * (0.5 + 0.5 * stripes[..., None])).astype(np.uint8)
            img = base.copy()
            size = max(4, height // 6)
            x = (j * 4) % max(1, width - size)
            y = (height - size) // 2
            img[y:y + size, x:x + size] = 255
            yield img

    out = Path(out_dir) / (name or f"synthetic_{width}x{height}_{seconds:g}s.mp4")
    return _encode(out, frames(), width=width, height=height, rate=rate,
                   options={"preset": "ultrafast", "crf": "20"})
