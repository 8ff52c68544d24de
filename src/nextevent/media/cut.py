"""Cut a video at a split point into ``past.mp4`` and ``future.mp4`` (PyAV).

Three modes (`nextevent.records.CutMode`):

* ``smart`` (default): frame-exact like ``accurate``, but only the partial GOPs next to
  the split are re-encoded and every other packet is copied (`nextevent.media.smart_cut`).
  Files it cannot splice (any codec but H.264, Annex B tracks, 10-bit, odd sizes, pre-roll)
  get the accurate cut, and `Clips.note` says why.
* ``accurate``: one decode pass; every frame whose time is ``< split_s`` goes to the past
  encoder, every other frame to the future encoder (libx264, yuv420p, `X264_OPTIONS`).
  Frame-exact: no future frame can reach the past segment. Frame rate, timestamps
  (so VFR stays VFR), size and sample aspect ratio are kept; an odd width or height is
  cropped by one pixel (4:2:0 H.264 needs even sizes). The display rotation is carried
  over as the same display matrix, not burnt into the pixels.
* ``fast``: stream copy, no decode. The cut moves to the keyframe nearest ``split_s``
  (ties go to the earlier one); the past segment is every packet before that keyframe in
  decode order, the future segment every packet from it on. Packets that an open GOP
  places after the keyframe in decode order but before it in display order are dropped
  from both (they belong to the past but cannot be decoded without the keyframe).

Both modes shift the future segment's timestamps so that its first frame is at 0 s, and
write only the video stream. Audio is dropped on purpose: the training engines this
feeds (LLaMA-Factory, EasyR1, lmms-eval video loaders) sample frames only, and an audio
track cut at a video frame boundary would carry up to one AAC frame (about 21 ms) of the
future into the past.

Training-ready clips (``fps`` / ``max_pixels``, ``nextevent build --clip-fps`` /
``--clip-max-pixels``): the accurate cut keeps fewer, smaller frames, at the rate and size
a training engine samples (LLaMA-Factory's ``video_fps`` / ``video_max_pixels``):

* frame rate: each clip keeps the first source frame at or after each grid time
  ``start + k / fps`` (k = 0, 1, ...), each source frame at most once, so a source slower
  than ``fps`` keeps every frame (never duplicated). ``start`` is the clip's first frame:
  0 s for the past, for the future the first source frame at or after ``split_s``, which
  is always kept. So both grids run in clip time (``k / fps`` from the clip's 0 s, what the
  engine sees), and a float ``split_s`` never moves the grid off the source's exact frame
  times. Kept frames keep their source times (shifted as above), so the split rule holds
  and the gaps are ``1 / fps`` up to one source frame. Grid times are exact fractions; the
  split test is the same as without these options.
  The encoder is given ``fps`` as the frame rate, and the last frame lasts one grid step
  plus one source frame, so the clip lasts at least (frame count) / ``fps`` seconds and an
  engine sampling ``floor(duration x fps)`` frames takes every one.
* size: `clip_size`: scaled down (never up) so that width x height <= ``max_pixels``,
  keeping the aspect ratio within a pixel, both sides even; swscale area resampling.

``smart`` cannot change either (it copies the source's packets), so a smart cut with these
options is an accurate cut and `Clips.note` says so; ``fast`` (no decode at all) refuses
them with ``ValueError``.

Each clip is written under a temporary name in ``out_dir`` and moved onto its final name
(``os.replace``) only once complete, so a killed run never leaves a partial clip under
``past.mp4`` / ``future.mp4``.
"""

from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import av.error
from av.container import OutputContainer
from av.packet import Packet
from av.video.frame import PictureType, VideoFrame
from av.video.reformatter import Interpolation, VideoReformatter
from av.video.stream import VideoStream

from nextevent.media._io import (
    HINT_REENCODE,
    decode,
    open_video,
    origin_pts,
    time_base,
    to_seconds,
)
from nextevent.media.smart_cut import SmartCutUnsupported, smart_cut
from nextevent.records import CutMode, NextEventError, Segment, Video

STAGE = "cut"
X264_OPTIONS = {"preset": "superfast", "crf": "20"}
"""libx264 settings of the accurate mode. Measured on 2 shared cores, a whole accurate cut
(decode + encode of both clips) costs 3.5-6x one plain decode; ``ultrafast`` halves that
at 720p but writes about 2.5x larger clips. crf 20 keeps a mean absolute pixel error of
about 1.4-2 (0-255) against the source frame."""
MUXER_OPTIONS = {"movflags": "+faststart"}
"""MP4 index first, so clips stream and open fast from object storage."""
PAST_NAME, FUTURE_NAME = "past.mp4", "future.mp4"
MODES = ("smart", "accurate", "fast")
MIN_CLIP_PIXELS = 64 * 64
"""Least ``max_pixels`` (pixels per frame) a resampled clip may be asked for."""


class Clips(NamedTuple):
    """What `cut` wrote.

    Attributes:
        past, future: the two clips (`Segment`).
        mode: the mode actually used (``accurate`` when a smart cut fell back or was asked
            for a frame rate or size).
        note: why the mode used differs from the one asked for, else None.
    """

    past: Segment
    future: Segment
    mode: CutMode
    note: str | None = None


def check_resample(fps: float | None, max_pixels: int | None) -> None:
    """Check the training-ready clip settings of `cut` (None: keep the source's).

    Args:
        fps: frames per second a clip keeps; must be > 0 (and finite).
        max_pixels: most pixels (width x height) per frame; at least `MIN_CLIP_PIXELS`.

    Raises:
        ValueError: naming the bad value.
    """
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a frame rate > 0 (frames per second), got {fps}")
    if max_pixels is not None and max_pixels < MIN_CLIP_PIXELS:
        raise ValueError(f"max_pixels must be at least {MIN_CLIP_PIXELS} (64 x 64 pixels per "
                         f"frame), got {max_pixels}")


def clip_size(width: int, height: int, max_pixels: int | None = None) -> tuple[int, int]:
    """The size (pixels) the accurate cut writes a ``width`` x ``height`` source at.

    Both sides even (4:2:0). Without ``max_pixels``, or when the even-cropped source already
    fits it, the source size with an odd side cropped by one pixel (never rescaled).
    Otherwise scaled down so that ``w * h <= max_pixels``: the largest even ``w`` for which
    ``h``, the even height nearest ``w * height / width``, fits; so the aspect ratio is kept
    within a pixel (``|h - w * height / width| <= 1``). Never larger than the source.

    Raises:
        ValueError: when no even size of at least 2 x 2 fits ``max_pixels``.
    """
    even = (width & ~1, height & ~1)
    if max_pixels is None or even[0] * even[1] <= max_pixels:
        return even
    w = even[0]
    while w >= 2:  # at most width / 2 tries, once per cut
        h = min(even[1], 2 * round(w * height / width / 2))
        if h >= 2 and w * h <= max_pixels:
            return w, h
        w -= 2
    raise ValueError(f"no even frame size of a {width}x{height} video fits in {max_pixels} "
                     "pixels")


def cut(video: Video, split_s: float, out_dir: Path, mode: CutMode, *,
        fps: float | None = None, max_pixels: int | None = None) -> Clips:
    """Cut ``video`` at ``split_s`` into ``out_dir/past.mp4`` and ``out_dir/future.mp4``.

    Args:
        video: the probed source (`nextevent.media.probe.probe`).
        split_s: split point in seconds from the start of the video,
            ``0 < split_s < video.duration_s``. The past segment holds the frames before
            it, the future segment the frames at or after it.
        out_dir: folder for the two clips (created if missing; existing clips replaced).
        mode: ``smart`` (frame-exact, re-encodes only next to the split), ``accurate``
            (re-encodes both clips, frame-exact) or ``fast`` (stream copy, cut at the
            keyframe nearest ``split_s``).
        fps: training-ready clips: frames per second each clip keeps (the first source
            frame at or after each grid time, see the module doc); None keeps every frame.
        max_pixels: training-ready clips: most pixels (width x height) per frame
            (`clip_size`); None keeps the source size. With either, ``smart`` becomes an
            accurate cut (noted in `Clips.note`).

    Returns:
        `Clips`: ``past`` / ``future`` segments (``path`` is the absolute clip path;
        ``start_s`` / ``end_s`` the span of the source in seconds, for ``fast`` the
        keyframe time replaces ``split_s``; ``duration_s`` (seconds), ``frame_count`` and
        ``reencoded_frames`` (frames) are measured from the written files), the mode used
        and the note on why the mode used differs from ``mode``.

    Raises:
        ValueError: for an unknown mode, a bad ``fps`` / ``max_pixels``
            (`check_resample`), or either with ``fast`` (a stream copy cannot change them).
        NextEventError: stage ``cut``, naming the file, when ``split_s`` is outside the
            video, one side would have no frames, ``fast`` finds no keyframe strictly
            inside the video (hint: use ``--cut accurate``), or the source fails to read.

    Source: PyAV (FFmpeg libavformat/libavcodec, libx264 for ``accurate``).
    """
    if not 0 < split_s < video.duration_s:
        raise NextEventError(
            STAGE,
            f"{video.path}: split point {split_s:.3f} s is outside the video "
            f"(0 to {video.duration_s:.3f} s, both ends excluded)",
            "choose a split point strictly inside the video")
    if mode not in MODES:
        raise ValueError(f"unknown cut mode {mode!r}; use one of {', '.join(MODES)}")
    check_resample(fps, max_pixels)
    resample = fps is not None or max_pixels is not None
    if resample and mode == "fast":
        raise ValueError("the fast cut copies the source's packets, so it cannot change the "
                         "frame rate or size; use mode smart or accurate with fps/max_pixels")
    key_s = _nearest_keyframe(video, split_s) if mode == "fast" else None
    out_dir = Path(out_dir).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}.{uuid.uuid4().hex[:8]}"
    tmp_past = out_dir / f".{PAST_NAME}.{tag}.part"
    tmp_future = out_dir / f".{FUTURE_NAME}.{tag}.part"
    used, note, reencoded = mode, None, (0, 0)
    if resample and mode == "smart":
        used, note = "accurate", ("smart cut replaced by accurate: a clip frame rate or size "
                                  "(--clip-fps/--clip-max-pixels) re-encodes every frame")
    try:
        if used == "smart":
            try:
                smart = smart_cut(video, split_s, tmp_past, tmp_future)
                cut_s, reencoded = smart.cut_s, (smart.past_reencoded, smart.future_reencoded)
            except SmartCutUnsupported as why:
                used, note = "accurate", f"smart cut fell back to accurate: {why}"
        if used == "accurate":
            cut_s = _cut_accurate(video, split_s, tmp_past, tmp_future, fps, max_pixels)
        elif used == "fast":
            assert key_s is not None
            cut_s = _cut_fast(video, key_s, tmp_past, tmp_future)
        past_dur, past_n = _measure(tmp_past)
        future_dur, future_n = _measure(tmp_future)
        past_path, future_path = out_dir / PAST_NAME, out_dir / FUTURE_NAME
        os.replace(tmp_past, past_path)
        os.replace(tmp_future, future_path)
    finally:
        for tmp in (tmp_past, tmp_future):
            tmp.unlink(missing_ok=True)
    if used == "accurate":
        reencoded = (past_n, future_n)
    past = Segment(path=str(past_path), start_s=0.0, end_s=cut_s, duration_s=past_dur,
                   frame_count=past_n, reencoded_frames=reencoded[0])
    future = Segment(path=str(future_path), start_s=cut_s, end_s=video.duration_s,
                     duration_s=future_dur, frame_count=future_n,
                     reencoded_frames=reencoded[1])
    return Clips(past, future, used, note)


def _open_output(path: Path) -> OutputContainer:
    return av.open(str(path), "w", format="mp4", options=dict(MUXER_OPTIONS))


class _Grid:
    """Which frames a clip keeps at ``fps``: the first at or after each ``origin + k / fps``,
    where ``origin`` is the time of the first frame offered (always kept).

    Times are exact fractions of a second; a frame is kept at most once, so a source slower
    than ``fps`` keeps every frame. None keeps every frame.
    """

    def __init__(self, fps: Fraction | None) -> None:
        self.step = None if fps is None else 1 / fps
        self.origin: Fraction | None = None
        self.next = Fraction(0)

    def keep(self, t: Fraction) -> bool:
        if self.step is None:
            return True
        if self.origin is None:
            self.origin = t
        elif t < self.next:
            return False
        k = math.floor((t - self.origin) / self.step) + 1
        self.next = self.origin + k * self.step
        return True


@dataclass
class _Encoder:
    """One output clip of the accurate mode, opened on its first frame.

    ``size`` is the written size (`clip_size`); ``scale`` says it is a downscale (swscale
    area resampling) rather than at most a one-pixel crop of an odd side. ``rate`` is the
    nominal frame rate (frames per second) given to the encoder; ``frame_ticks``, when
    set, the duration (stream ticks) of each written packet (see `_cut_accurate`).
    """

    path: Path
    source: VideoStream
    rotation_deg: int
    size: tuple[int, int]
    scale: bool
    rate: Fraction
    frame_ticks: int | None = None
    container: OutputContainer | None = None
    stream: VideoStream | None = None
    scaler: VideoReformatter | None = None
    offset: int = 0
    frames: int = 0
    closed: bool = False

    def add(self, frame: VideoFrame, pts: int, tb: Fraction) -> None:
        if self.closed:
            raise NextEventError(
                STAGE, f"{self.source.container.name}: frame timestamps go backwards across "
                "the split point", HINT_REENCODE)
        if self.container is None:
            self._open(pts)
        assert self.stream is not None and self.container is not None
        if self.scale:
            if self.scaler is None:
                self.scaler = VideoReformatter()
            frame = self.scaler.reformat(frame, width=self.size[0], height=self.size[1],
                                         format="yuv420p", interpolation=Interpolation.AREA)
        elif (frame.width, frame.height) != self.size:  # odd size: crop, never rescale
            rgb = frame.to_ndarray(format="rgb24")[: self.size[1], : self.size[0]]
            frame = VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = pts - self.offset
        frame.time_base = tb
        frame.pict_type = PictureType.NONE  # let x264 place its own keyframes
        self._mux(self.stream.encode(frame))
        self.frames += 1

    def _mux(self, packets: list[Packet]) -> None:
        assert self.container is not None
        if self.frame_ticks is not None:  # the MP4 muxer times only the last one by it
            for packet in packets:
                packet.duration = self.frame_ticks
        self.container.mux(packets)

    def _open(self, pts: int) -> None:
        self.offset = pts
        src = self.source
        self.container = _open_output(self.path)
        stream = self.container.add_stream("libx264", rate=self.rate,
                                           options=dict(X264_OPTIONS))
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = src.time_base
        if src.sample_aspect_ratio:
            stream.codec_context.sample_aspect_ratio = src.sample_aspect_ratio
        if self.rotation_deg:
            stream.set_display_rotation(self.rotation_deg)
        self.stream = stream

    def close(self) -> None:
        if self.container is None:
            return
        assert self.stream is not None
        self._mux(self.stream.encode(None))
        self.container.close()
        self.container = None
        self.closed = True


def _cut_accurate(video: Video, split_s: float, tmp_past: Path, tmp_future: Path,
                  fps: float | None = None, max_pixels: int | None = None) -> float:
    container, stream = open_video(Path(video.path), STAGE)
    encoders: list[_Encoder] = []
    try:
        tb = time_base(stream)
        origin = origin_pts(stream)
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        step = max(1, round(1 / (rate * tb)))
        src_size = (stream.codec_context.width, stream.codec_context.height)
        size = clip_size(*src_size, max_pixels)
        scale = size != (src_size[0] & ~1, src_size[1] & ~1)
        grid_fps = None if fps is None else Fraction(str(fps))
        frame_ticks = None
        if grid_fps is not None and grid_fps < rate:
            # A kept frame lasts one grid step plus one source frame: a kept frame lies
            # less than a source frame after its grid time, so the clip then lasts at least
            # (frame count) / fps, and an engine that takes floor(duration x fps) frames
            # (LLaMA-Factory, capped at the frame count) takes every clip frame.
            rate, frame_ticks = grid_fps, max(1, round(1 / (grid_fps * tb))) + step
        encoders.extend(_Encoder(tmp, stream, video.rotation_deg, size, scale, rate,
                                 frame_ticks) for tmp in (tmp_past, tmp_future))
        past, future = encoders
        grids = (_Grid(grid_fps), _Grid(grid_fps))
        pts = origin - step
        try:
            for frame in decode(container, stream):
                pts = frame.pts if frame.pts is not None else pts + step
                if pts < origin:
                    continue  # pre-roll before the stream's start time
                t = (pts - origin) * tb
                if to_seconds(pts, origin, tb) < split_s:
                    if past.closed or grids[0].keep(t):  # add raises when closed
                        past.add(frame, pts, tb)
                else:
                    if past.container is not None:
                        past.close()  # the past is complete once a future frame appears
                    if grids[1].keep(t):
                        future.add(frame, pts, tb)
        except av.error.FFmpegError as err:
            raise NextEventError(
                STAGE, f"{video.path}: decoding failed near "
                f"{to_seconds(pts, origin, tb):.2f} s: {err}", HINT_REENCODE) from err
        for side, enc in (("past", past), ("future", future)):
            if enc.frames == 0:
                raise NextEventError(
                    STAGE, f"{video.path}: a split at {split_s:.3f} s leaves the {side} "
                    "segment without frames", "choose a split point between two frames "
                    "inside the video")
        past.close()
        future.close()
    finally:
        for enc in encoders:
            if enc.container is not None:
                enc.container.close()
        container.close()
    return float(split_s)


def _nearest_keyframe(video: Video, split_s: float) -> float:
    """The keyframe time (s) strictly inside the video nearest ``split_s``; ties go earlier."""
    inside = [k for k in video.keyframes_s if 0 < k < video.duration_s]
    if not inside:
        raise NextEventError(
            STAGE,
            f"{video.path}: no keyframe strictly inside the video, so a stream copy cannot "
            f"split it near {split_s:.3f} s (keyframes at "
            f"{', '.join(f'{k:.2f}' for k in video.keyframes_s) or 'none'} s)",
            "use --cut accurate")
    return min(inside, key=lambda k: (abs(k - split_s), k))


def _cut_fast(video: Video, key_s: float, tmp_past: Path, tmp_future: Path) -> float:
    container, stream = open_video(Path(video.path), STAGE)
    try:
        tb = time_base(stream)
        origin = origin_pts(stream)
        with _open_output(tmp_past) as out_past, _open_output(tmp_future) as out_future:
            o_past = out_past.add_stream_from_template(stream)
            o_future = out_future.add_stream_from_template(stream)
            for o in (o_past, o_future):
                o.time_base = stream.time_base
            key_pts: int | None = None
            counts = {"past": 0, "future": 0}
            try:
                for packet in container.demux(stream):
                    if packet.size == 0 or packet.dts is None:
                        continue
                    ts = packet.pts if packet.pts is not None else packet.dts
                    if (key_pts is None and packet.is_keyframe
                            and to_seconds(ts, origin, tb) == key_s):
                        key_pts = ts
                    if key_pts is None:
                        if to_seconds(ts, origin, tb) >= key_s:
                            continue  # cannot happen in a sane stream; never leak it
                        shift, out, ostream, side = origin, out_past, o_past, "past"
                    else:
                        if ts < key_pts:
                            continue  # open-GOP leading frame: past content, undecodable
                        shift, out, ostream, side = key_pts, out_future, o_future, "future"
                    packet.pts = None if packet.pts is None else packet.pts - shift
                    packet.dts = packet.dts - shift
                    packet.stream = ostream
                    out.mux(packet)
                    counts[side] += 1
            except av.error.FFmpegError as err:
                raise NextEventError(STAGE, f"{video.path}: stream copy failed: {err}",
                                     HINT_REENCODE) from err
            if key_pts is None or not counts["past"] or not counts["future"]:
                raise NextEventError(
                    STAGE, f"{video.path}: the keyframe at {key_s:.3f} s was not found "
                    "while copying; the probe and the file disagree", "probe the file again "
                    "or use --cut accurate")
    finally:
        container.close()
    return float(key_s)


def _measure(path: Path) -> tuple[float, int]:
    """Duration (seconds, first frame to end of last) and frame count of a written clip."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        tb = time_base(stream)
        first: int | None = None
        end: int | None = None
        count = 0
        last_gap = 0
        prev: int | None = None
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None or packet.is_discard:
                continue
            count += 1
            first = packet.pts if first is None else min(first, packet.pts)
            stop = packet.pts + (packet.duration or 0)
            end = stop if end is None else max(end, stop)
            if prev is not None:
                last_gap = abs(packet.pts - prev)
            prev = packet.pts
        if first is None or end is None:
            return 0.0, 0
        if end == first:  # no packet durations: count the last frame as one gap long
            end += last_gap
        return float((end - first) * tb), count
