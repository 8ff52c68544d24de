"""Probe a video file: duration, frame rate, size, rotation, keyframes (PyAV).

One demux pass over the video stream's packets (no full decode; only the first frame is
decoded, to prove the stream decodes and to read the display rotation).

Rules (documented here because downstream stages rely on them):

* **Times** are seconds from the stream's start time (see `nextevent.media._io`).
* **Duration** is what the packets cover: ``max(pts + packet duration) - start``, so it is
  measured, not copied from the header.
* **Frame count** is the number of demuxed (non-discarded) video packets; for MP4 this is
  the container's sample count.
* **Truncation**: a file whose header promises more frames than its packets deliver (or,
  when the header gives no frame count, a stream duration more than
  ``max(2 frames, 1 %)`` longer than what the packets cover), or whose last packet runs
  past the end of the file, is rejected with stage ``probe``. A file cut before its
  index (MP4 with ``moov`` at the end, the common case) cannot be opened at all and is
  rejected the same way. Partial files are never accepted with a shorter duration: their
  annotation times would not match, and decoders fail on the cut-off last packet.
* **Variable frame rate**: frame durations are the gaps between the sorted packet pts;
  the video is VFR when any gap differs from the median gap by more than
  ``max(1 tick, 5 % of the median)`` (one tick of rounding is tolerated, so 29.97 fps in
  a 1/1000 time base is still constant).
* **Rotation** is the display-matrix rotation FFmpeg attaches to decoded frames (from the
  container's side data), counter-clockwise degrees as FFmpeg and ``ffprobe`` report it
  (a phone's portrait clip shows ``-90`` there, 270 here), normalised to 0/90/180/270.
  A legacy ``rotate`` tag (clockwise) is used only when no display matrix is present.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av.error
import numpy as np
from av.container import InputContainer
from av.video.stream import VideoStream

from nextevent.media._io import HINT_REENCODE, open_video, origin_pts, time_base
from nextevent.records import NextEventError, Video

STAGE = "probe"
VFR_REL_TOLERANCE = 0.05
"""Frame-duration deviation (fraction of the median) above which a video counts as VFR."""
TRUNCATION_REL_TOLERANCE = 0.01
"""Missing fraction of the header's stream duration tolerated when it gives no frame count."""
HINT_TRUNCATED = (
    "the download or copy was cut short; fetch the file again (partial files are not "
    "used, since their annotation times would not match)"
)


def probe(path: Path) -> Video:
    """Read what a video file holds, without decoding more than its first frame.

    Args:
        path: the video file (any container/codec FFmpeg reads).

    Returns:
        A `Video`: ``duration_s`` (seconds, measured from the packets), ``fps`` (average,
        frames per second), ``frame_count`` (frames), ``width``/``height`` (coded size in
        pixels, before rotation), ``codec`` (decoder name), ``rotation_deg``
        (counter-clockwise display rotation, 0/90/180/270), ``variable_frame_rate`` and
        ``keyframes_s`` (keyframe times in seconds). ``path`` is absolute.

    Raises:
        NextEventError: stage ``probe``, naming the file, when it is missing, empty, not
            a media file, corrupt, truncated, has no video stream, or no decodable frame.

    Source: PyAV demuxing (FFmpeg ``libavformat``) plus one decoded frame for rotation.
    """
    container, stream = open_video(path, STAGE)
    abs_path = Path(container.name)
    try:
        return _scan(container, stream, abs_path)
    finally:
        container.close()


def _rotation(frame_rotation: float, stream: VideoStream) -> int:
    """Counter-clockwise display rotation in degrees, snapped to 0/90/180/270."""
    degrees = float(frame_rotation)
    if not degrees:
        tag = stream.metadata.get("rotate")
        if tag:
            try:
                degrees = -float(tag)  # legacy tag is clockwise
            except ValueError:
                degrees = 0.0
    return int(round(degrees / 90.0)) * 90 % 360


def _scan(container: InputContainer, stream: VideoStream, path: Path) -> Video:
    tb = time_base(stream)
    origin = origin_pts(stream)
    file_size = path.stat().st_size
    pts: list[int] = []
    keyframes: list[int] = []
    end_ticks: int | None = None
    packets_all = 0
    max_byte = 0
    first_frame = None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # end-of-stream flush packet
                continue
            packets_all += 1
            if packet.pos is not None and packet.pos >= 0:
                max_byte = max(max_byte, packet.pos + packet.size)
            if first_frame is None:
                frames = stream.decode(packet)
                if frames:
                    first_frame = frames[0]
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None or packet.is_discard:
                continue
            pts.append(ts)
            end = ts + (packet.duration or 0)
            end_ticks = end if end_ticks is None else max(end_ticks, end)
            if packet.is_keyframe:
                keyframes.append(ts)
        if first_frame is None and packets_all:
            frames = stream.decode(None)
            first_frame = frames[0] if frames else None
    except av.error.FFmpegError as err:
        found = float((max(pts) - origin) * tb) if pts else 0.0
        raise NextEventError(
            STAGE,
            f"{path}: corrupt or truncated: reading failed after {len(pts)} frames "
            f"({found:.2f} s): {err}",
            HINT_REENCODE) from err

    if not pts:
        raise NextEventError(STAGE, f"{path}: the video stream holds no frames",
                             HINT_REENCODE)
    if first_frame is None:
        raise NextEventError(STAGE, f"{path}: no frame of the video stream can be decoded",
                             HINT_REENCODE)

    pts.sort()
    gaps = np.diff(np.asarray(pts, dtype=np.int64))
    median_gap = float(np.median(gaps)) if len(gaps) else 0.0
    fps = _fps(stream, len(pts), median_gap, tb)
    assert end_ticks is not None
    if end_ticks <= pts[-1]:  # packets carry no durations: assume one more frame
        end_ticks = pts[-1] + (round(median_gap) if median_gap > 0 else round(1 / (fps * tb)))
    duration_s = float((end_ticks - origin) * tb)
    if duration_s <= 0:
        raise NextEventError(STAGE, f"{path}: the video stream has no duration",
                             HINT_REENCODE)

    _check_truncation(path, stream, tb, fps, packets_all, duration_s, max_byte, file_size)

    variable = False
    if len(gaps) >= 2:
        tolerance = max(1.0, VFR_REL_TOLERANCE * median_gap)
        variable = bool(np.max(np.abs(gaps - median_gap)) > tolerance)

    ctx = stream.codec_context
    return Video(
        path=str(path),
        duration_s=duration_s,
        fps=fps,
        frame_count=len(pts),
        width=ctx.width or first_frame.width,
        height=ctx.height or first_frame.height,
        codec=ctx.name,
        rotation_deg=_rotation(first_frame.rotation, stream),
        variable_frame_rate=variable,
        keyframes_s=[t for t in (float((k - origin) * tb) for k in sorted(set(keyframes)))
                     if t >= 0.0],
    )


def _fps(stream: VideoStream, count: int, median_gap: float, tb: Fraction) -> float:
    """Average frame rate: the stream's ``avg_frame_rate``, else guessed, else measured."""
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate is not None and rate.denominator and float(rate) > 0:
            return float(rate)
    if median_gap > 0:
        return float(1 / (median_gap * tb))
    return 25.0  # a single frame with no rate anywhere: any positive rate is consistent


def _check_truncation(path: Path, stream: VideoStream, tb: Fraction, fps: float,
                      packets: int, duration_s: float, max_byte: int, file_size: int) -> None:
    """Raise when the packets found fall short of what the header promises."""
    claimed_frames = stream.frames or 0
    claimed_s = float(stream.duration * tb) if stream.duration else None
    short = False
    if claimed_frames > 0:
        short = packets < claimed_frames
    elif claimed_s is not None:
        short = duration_s < claimed_s - max(2.0 / fps, TRUNCATION_REL_TOLERANCE * claimed_s)
    if short:
        promised = (f"{claimed_frames} frames" if claimed_frames else "") + (
            f" ({claimed_s:.2f} s)" if claimed_s is not None else "")
        raise NextEventError(
            STAGE,
            f"{path}: truncated: the header promises {promised.strip()} but the file holds "
            f"{packets} frames ({duration_s:.2f} s)",
            HINT_TRUNCATED)
    if max_byte > file_size:
        raise NextEventError(
            STAGE,
            f"{path}: truncated: the last video packet ends at byte {max_byte} but the file "
            f"has {file_size} bytes",
            HINT_TRUNCATED)
