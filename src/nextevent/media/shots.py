"""Shot boundaries: PySceneDetect's `ContentDetector` score and flash filter, fed by one
cheap PyAV decode.

PySceneDetect's own path converts every decoded frame to a full-size BGR array, shrinks it
to 256 pixels wide (linear interpolation) and scores it with numpy. Here frames come from a
single PyAV decode pass (threads as `nextevent.media._io.threaded` chooses; the H.264/HEVC
in-loop deblocking filter skipped: it only smooths block edges, which a 256-pixel
thumbnail does not see). A 4:2:0 frame is shrunk plane by plane with the same linear
interpolation before the one colour conversion of the thumbnail, and the score is
computed with two OpenCV calls. The score is ContentDetector's ``content_val`` (mean HSV
change, default component weights: equal to the value ContentDetector computes from the
same thumbnail, which a test checks), and
PySceneDetect's `FlashFilter` (MERGE mode, ContentDetector's default) enforces the minimum
shot length, unchanged. About 1.5x less time than the numpy score over swscale thumbnails
(benchmarks/bench_build.py).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av.error
import cv2
import numpy as np
from av.video.frame import VideoFrame
from av.video.reformatter import ColorRange, Interpolation, VideoReformatter
from scenedetect.common import FrameTimecode, Timecode
from scenedetect.detector import FlashFilter
from scenedetect.detectors import ContentDetector

from nextevent.media._io import HINT_REENCODE, decode, open_video, origin_pts, time_base
from nextevent.records import NextEventError

STAGE = "shots"
DEFAULT_THRESHOLD = 27.0
"""ContentDetector's default score threshold (mean HSV change, 0-255 scale)."""
DEFAULT_MIN_SHOT_S = 0.6
"""Shortest shot reported, in seconds; quicker cuts (flashes) are merged."""
DECODE_OPTIONS = {"skip_loop_filter": "all"}
"""Decoder options for the detection pass (deblocking off: about 20 % less decode time)."""


def detect_shots(
    path: Path,
    *,
    downscale_width: int = 256,
    threshold: float = DEFAULT_THRESHOLD,
    min_shot_s: float = DEFAULT_MIN_SHOT_S,
) -> list[float]:
    """Find the hard cuts of a video.

    Args:
        path: the video file.
        downscale_width: width in pixels of the thumbnails the detector compares (height
            keeps the aspect ratio); never upscales.
        threshold: ContentDetector threshold on the mean HSV change between consecutive
            frames (0-255 scale; PySceneDetect's default 27).
        min_shot_s: shortest shot in seconds; boundaries closer than this are merged.

    Returns:
        Shot boundary times in seconds from the start of the video, ascending: the start
        time of every shot after the first (``[]`` for one continuous shot). Each is the
        presentation time of the first frame of the new shot.

    Raises:
        NextEventError: stage ``shots``, naming the file, when it cannot be opened, has no
            video stream, or fails to decode.

    Source: PySceneDetect ``ContentDetector`` (its score, `ContentScore`, and its flash
    filter) on a PyAV decode (one pass, all frames).
    """
    if downscale_width < 8:
        raise ValueError(f"downscale_width must be at least 8 pixels, got {downscale_width}")
    container, stream = open_video(path, STAGE)
    name = container.name
    try:
        stream.codec_context.options = dict(DECODE_OPTIONS)
        return _detect(container, stream, name, downscale_width, threshold, min_shot_s)
    finally:
        container.close()


def check_decodes(path: Path, stage: str = "cut") -> int:
    """Decode every frame of ``path`` once (deblocking off, no conversion) to prove that
    it decodes: the check a smart or fast cut needs when no shot detection decoded the
    source, since the packets those cuts copy are never decoded.

    Returns:
        The number of frames decoded.

    Raises:
        NextEventError: (``stage``) naming the file and the time (seconds) near which
            decoding failed, or as `open_video`.
    """
    container, stream = open_video(path, stage)
    name = container.name
    tb, origin = time_base(stream), origin_pts(stream)
    step = max(1, round(1 / (_rate(stream) * tb)))
    pts, count = origin - step, 0
    try:
        stream.codec_context.options = dict(DECODE_OPTIONS)
        for frame in decode(container, stream):
            pts = frame.pts if frame.pts is not None else pts + step
            count += 1
    except av.error.FFmpegError as err:
        raise NextEventError(
            stage, f"{name}: decoding failed near {float((pts - origin) * tb):.2f} s: {err}",
            HINT_REENCODE) from err
    finally:
        container.close()
    return count


def _rate(stream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate is not None and rate.denominator and rate > 0:
            return Fraction(rate.numerator, rate.denominator)
    return Fraction(25)


def thumbnail_size(width: int, height: int, downscale_width: int) -> tuple[int, int]:
    """(width, height) in pixels of the detector's thumbnail of a ``width`` x ``height``
    frame: ``downscale_width`` wide (never wider than the frame), the aspect ratio kept,
    both even (a 4:2:0 thumbnail)."""
    w = max(2, min(downscale_width, width) & ~1)
    return w, max(2, round(height * w / width) & ~1)


def thumbnail(frame: VideoFrame, size: tuple[int, int],
              scaler: VideoReformatter | None = None) -> np.ndarray:
    """The frame shrunk to ``size`` (width, height) pixels as a BGR array (height, width, 3),
    uint8, by linear interpolation (PySceneDetect's downscale).

    A limited-range 8-bit 4:2:0 frame is shrunk plane by plane (Y to ``size``, U and V to
    half of it) and converted once at the small size (BT.601, as swscale's default);
    any other pixel format (full range, 4:2:2, 4:4:4, 10-bit, ...) and frames under 2
    pixels a side go through swscale (``scaler``, reused when given).
    """
    width, height = size
    if (frame.format.name != "yuv420p" or getattr(frame, "color_range", 0) == ColorRange.JPEG
            or frame.width < 2 or frame.height < 2):
        scaler = scaler or VideoReformatter()
        return scaler.reformat(frame, width=width, height=height, format="bgr24",
                               interpolation=Interpolation.BILINEAR).to_ndarray()
    planes = frame.planes
    out = np.empty((height * 3 // 2, width), np.uint8)  # I420: Y, then U, then V
    chroma = out[height:].reshape(2, height // 2, width // 2)
    for plane, rows, cols, dst in ((planes[0], frame.height, frame.width, out[:height]),
                                   (planes[1], frame.height // 2, frame.width // 2, chroma[0]),
                                   (planes[2], frame.height // 2, frame.width // 2, chroma[1])):
        src = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:rows, :cols]
        factor = cols // dst.shape[1]
        if factor % 2 and (rows, cols) == (dst.shape[0] * factor, dst.shape[1] * factor):
            # an odd whole factor puts every linear sample on a source pixel (weight 1):
            # the same bytes as cv2.resize, from a third of the memory reads
            dst[...] = src[factor // 2::factor, factor // 2::factor]
        else:
            cv2.resize(src, (dst.shape[1], dst.shape[0]), dst=dst,
                       interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(out, cv2.COLOR_YUV2BGR_I420)


class ContentScore:
    """ContentDetector's frame score (``content_val``): the mean absolute change of hue,
    saturation and value (OpenCV HSV, 0-255 scale) from the previous thumbnail, weighted
    by ``ContentDetector.DEFAULT_COMPONENT_WEIGHTS`` (edges weigh 0, so none are found).

    Call it with each BGR thumbnail (height, width, 3) in display order; the first call
    returns 0.0. Source: PySceneDetect ``ContentDetector._calculate_frame_score``, computed
    with ``cv2.absdiff`` and ``cv2.sumElems`` (exact integer sums, so the same floats).
    """

    WEIGHTS = ContentDetector.DEFAULT_COMPONENT_WEIGHTS
    NORM = sum(abs(w) for w in WEIGHTS)
    """The weights' sum of magnitudes, which ContentDetector divides by."""

    def __init__(self) -> None:
        if self.WEIGHTS.delta_edges:  # pragma: no cover - PySceneDetect's default is 0
            raise ValueError("edge weights are not supported")
        self._last: np.ndarray | None = None

    def __call__(self, bgr: np.ndarray) -> float:
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
        last, self._last = self._last, hsv
        if last is None:
            return 0.0
        pixels = float(hsv.shape[0] * hsv.shape[1])
        sums = cv2.sumElems(cv2.absdiff(hsv, last))
        components = (sums[0] / pixels, sums[1] / pixels, sums[2] / pixels, 0.0)
        return sum(c * w for c, w in zip(components, self.WEIGHTS, strict=True)) / self.NORM


def _detect(container, stream, name: str, downscale_width: int, threshold: float,
            min_shot_s: float) -> list[float]:
    tb = time_base(stream)
    origin = origin_pts(stream)
    rate = _rate(stream)
    step = max(1, round(1 / (rate * tb)))  # ticks per frame, for frames without pts
    score = ContentScore()
    flash = FlashFilter(mode=FlashFilter.Mode.MERGE, length=float(min_shot_s))
    scaler = VideoReformatter()
    size: tuple[int, int] | None = None
    cuts: list[FrameTimecode] = []
    first = True
    pts = origin - step
    try:
        for frame in decode(container, stream):
            pts = frame.pts if frame.pts is not None else pts + step
            if pts < origin:
                continue
            if size is None:
                size = thumbnail_size(frame.width, frame.height, downscale_width)
            above = score(thumbnail(frame, size, scaler)) >= threshold
            # the filter returns nothing and keeps its state for a frame below the threshold
            # while it is not merging, except on the first frame (its length origin): the
            # timecodes (Fraction arithmetic) are built only for frames it must see
            if above or first or getattr(flash, "_merge_triggered", True):
                timecode = FrameTimecode(Timecode(pts=pts - origin, time_base=tb), fps=rate)
                cuts.extend(flash.filter(timecode, above))
                first = False
    except av.error.FFmpegError as err:
        at = float((pts - origin) * tb)
        raise NextEventError(STAGE, f"{name}: decoding failed near {at:.2f} s: {err}",
                             HINT_REENCODE) from err
    return sorted({float(c.seconds) for c in cuts if c.seconds > 0})
