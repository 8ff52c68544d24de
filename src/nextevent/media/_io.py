"""Opening a video file with PyAV, with every failure turned into a `NextEventError`.

Shared by `probe`, `shots`, `cut` and `frames` so that a missing, empty, corrupt or
audio-only file gives the same message whichever stage meets it first, and every decode
uses the decoder threads that suit the file (`threaded`, `decode`).

Time origin: all media functions report times in seconds from the video stream's start
time (``stream.start_time``, the first presented frame), so a file whose timestamps do
not start at zero (e.g. MPEG-TS) still has its first frame at 0.0 s.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.container import InputContainer
from av.packet import Packet
from av.stream import Disposition
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from nextevent.media import h264
from nextevent.records import NextEventError

HINT_REENCODE = (
    "check that the file plays; re-download it or re-encode it to H.264 MP4 "
    "(e.g. ffmpeg -i IN -c:v libx264 -pix_fmt yuv420p OUT.mp4)"
)

HINT_PERMISSION = ("check the file's permissions: the user running the build must be able "
                   "to read it (e.g. chmod a+r FILE)")


def check_file(path: Path, stage: str) -> Path:
    """Return the absolute path of an existing, non-empty regular file.

    Raises:
        NextEventError: (``stage``) when the path is missing, not a file, or 0 bytes.
    """
    path = Path(path).expanduser().absolute()
    if not path.exists():
        raise NextEventError(stage, f"{path}: file not found",
                             "check the path, or the --videos folder and the video id")
    if not path.is_file():
        raise NextEventError(stage, f"{path}: not a regular file", "give a video file path")
    if path.stat().st_size == 0:
        raise NextEventError(stage, f"{path}: file is empty (0 bytes)",
                             "the download or copy probably failed; fetch the file again")
    return path


def open_video(path: Path, stage: str) -> tuple[InputContainer, VideoStream]:
    """Open ``path`` and return the container and its first real video stream.

    Cover art (an ``attached_pic`` stream, e.g. in an .m4a) does not count as video.
    The caller closes the container.

    Raises:
        NextEventError: (``stage``) for a missing, empty, unreadable or corrupt file, or
            one without a video stream.
    """
    path = check_file(path, stage)
    try:
        container = av.open(str(path), mode="r")
    except av.error.InvalidDataError as err:
        raise NextEventError(
            stage,
            f"{path}: not a readable media file (corrupt, truncated before its index, or "
            f"not a video): {err.strerror}",
            HINT_REENCODE) from err
    except PermissionError as err:  # av.error.PermissionError too: the file is fine
        raise NextEventError(stage, f"{path}: cannot be opened: permission denied",
                             HINT_PERMISSION) from err
    except (av.error.FFmpegError, OSError) as err:
        raise NextEventError(stage, f"{path}: cannot be opened: {err}", HINT_REENCODE) from err
    streams = [s for s in container.streams.video
               if not s.disposition & Disposition.attached_pic]
    if not streams:
        pictures = len(container.streams.video)
        kinds = sorted({s.type for s in container.streams if s.type != "video"}) or ["none"]
        container.close()
        # cover art is a video stream to FFmpeg, not to us: do not call it "video"
        found = f"streams found: {', '.join(kinds)}" + (
            f", and {pictures} attached picture (cover art)" if pictures else "")
        raise NextEventError(
            stage, f"{path}: no video stream ({found})",
            "give a video file; audio-only files cannot be cut into past/future clips")
    return container, streams[0]


DECODE_THREADS_ENV = "NEXTEVENT_DECODE_THREADS"
"""Decoder threads per worker; set by `nextevent.pipeline.engines.LocalEngine` in each
pool worker to its share of the cores (Ray tasks get theirs from ``OMP_NUM_THREADS``,
which Ray sets to the task's CPUs)."""


def decode_threads() -> int:
    """Decoder threads for this process: ``NEXTEVENT_DECODE_THREADS``, else
    ``OMP_NUM_THREADS``, else 0 (FFmpeg picks one per core)."""
    for name in (DECODE_THREADS_ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 0


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threaded(stream: VideoStream, first: Packet | None = None) -> VideoStream:
    """``stream`` set, before it decodes its first packet, to the decoder threading that
    uses the worker's `decode_threads` cores best.

    H.264 pictures of at least one slice per thread (``first``, the stream's first packet,
    tells; x264's sliced threads, many camera encoders) get slice threads: they decode
    each picture on every core with no frame delay, where frame threads wait on
    reference rows and copy decoder state per frame (a 2-slice 720p video on 2 cores:
    2.3 s against 2.8 s, benchmarks/bench_build.py). Any other stream gets frame and slice
    threads (FFmpeg picks frame threading: the only kind single-slice pictures can use).
    """
    if stream.codec_context.is_open:  # decoding began (a seek): the threading stays
        return stream
    threads = decode_threads() or cores()
    stream.thread_type = "SLICE" if _slices(stream, first) >= max(2, threads) else "AUTO"
    stream.codec_context.thread_count = decode_threads()
    return stream


def _slices(stream: VideoStream, first: Packet | None) -> int:
    ctx = stream.codec_context
    if first is None or ctx.name != "h264" or not first.size:
        return 0
    try:
        length_size: int | None = h264.parse_avcc(ctx.extradata).length_size
    except h264.BitstreamError:  # no avcC: Annex B packets (MPEG-TS, raw H.264)
        length_size = None
    return h264.slice_count(bytes(first), length_size)


def decode(container: InputContainer, stream: VideoStream) -> Iterator[VideoFrame]:
    """Every frame of ``stream`` in presentation order, as ``container.decode(stream)``,
    with `threaded` set from its first packet (call before the stream decodes anything).

    Raises:
        av.error.FFmpegError: as ``container.decode``.
    """
    for packet in container.demux(stream):
        threaded(stream, packet)  # sets the threads once: a no-op after the first packet
        yield from stream.decode(packet)


def time_base(stream: VideoStream) -> Fraction:
    """The stream's time base as a Fraction (seconds per pts tick)."""
    tb = stream.time_base
    if tb is None:  # pragma: no cover - demuxers always set one
        raise ValueError("stream without a time base")
    return Fraction(tb.numerator, tb.denominator)


def origin_pts(stream: VideoStream) -> int:
    """The pts (in stream ticks) that counts as 0.0 s: the stream's start time, else 0."""
    return stream.start_time if stream.start_time is not None else 0


def to_seconds(pts: int, origin: int, tb: Fraction) -> float:
    """Seconds from the stream origin of a pts in ticks; the nearest float to the exact value."""
    return float((pts - origin) * tb)
