"""Decoded frames: every frame's time (for checks) and sampled RGB frames (for models)."""

from __future__ import annotations

import bisect
import math
from pathlib import Path

import av.error
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from nextevent.media._io import (
    HINT_REENCODE,
    decode,
    open_video,
    origin_pts,
    time_base,
    to_seconds,
)
from nextevent.media.probe import probe
from nextevent.records import NextEventError

STAGE = "frames"
SEEK_GAP_S = 2.0
"""Between two samples further apart than this (seconds), seek to the keyframe before the
next sample instead of decoding every frame in between."""
_EPS_S = 1e-6


def frame_times(path: Path) -> list[float]:
    """Presentation time of every decoded frame of a video, in decode output order.

    Args:
        path: the video file.

    Returns:
        Seconds from the stream's start time (see `nextevent.media._io`), one per decoded
        frame; ascending for any well-formed file.

    Raises:
        NextEventError: stage ``frames``, naming the file, when it cannot be opened, has
            no video stream, or fails to decode.

    Source: a full PyAV decode (threaded as `nextevent.media._io.threaded` says).
    """
    container, stream = open_video(path, STAGE)
    name = container.name
    times: list[float] = []
    try:
        tb = time_base(stream)
        origin = origin_pts(stream)
        for frame in decode(container, stream):
            if frame.pts is not None:
                times.append(to_seconds(frame.pts, origin, tb))
    except av.error.FFmpegError as err:
        raise NextEventError(STAGE, f"{name}: decoding failed after {len(times)} frames: {err}",
                             HINT_REENCODE) from err
    finally:
        container.close()
    return times


def sample_times(duration_s: float, fps: float, max_frames: int) -> list[float]:
    """Target times (seconds) for sampling ``fps`` frames per second, at most ``max_frames``.

    ``k / fps`` for every k with ``k / fps < duration_s``; when that is more than
    ``max_frames``, ``max_frames`` evenly spaced times ``i * duration_s / max_frames``.
    """
    n = max(1, math.ceil(duration_s * fps - 1e-9))
    if n <= max_frames:
        return [k / fps for k in range(n)]
    return [i * duration_s / max_frames for i in range(max_frames)]


def sample_frames(
    path: Path, *, fps: float, max_frames: int, max_pixels: int
) -> list[tuple[float, np.ndarray]]:
    """Sample upright RGB frames from a video for a vision model.

    Args:
        path: the video file.
        fps: samples per second of video.
        max_frames: most frames returned; beyond it the samples spread evenly over the
            whole video instead.
        max_pixels: most pixels (height x width) of each returned frame; larger frames are
            scaled down keeping the aspect ratio (never up).

    Returns:
        ``(time_s, rgb)`` pairs in time order: ``time_s`` is the presentation time in
        seconds of the frame shown (the first frame at or after each target time that was
        not already returned for an earlier target, see `sample_times`); ``rgb`` is an
        ``H x W x 3`` uint8 array with ``H * W <= max_pixels``, already turned by the
        video's display rotation. Targets past the last frame yield nothing, so fewer
        frames can come back.

    Raises:
        ValueError: when ``fps``, ``max_frames`` or ``max_pixels`` is not positive.
        NextEventError: stage ``probe`` for an unreadable file (see `probe`), stage
            ``frames`` when decoding fails.

    Source: PyAV decode with seeks between distant samples; swscale area resampling.
    """
    if fps <= 0 or max_frames < 1 or max_pixels < 1:
        raise ValueError(f"fps, max_frames and max_pixels must be positive "
                         f"(got {fps}, {max_frames}, {max_pixels})")
    video = probe(path)
    targets = sample_times(video.duration_s, fps, max_frames)
    width, height = video.width, video.height
    if width * height > max_pixels:
        scale = math.sqrt(max_pixels / (width * height))
        width, height = max(1, int(width * scale)), max(1, int(height * scale))
        while width * height > max_pixels:  # float rounding guard
            width, height = max(1, width - 1), max(1, height - 1)
    turns = video.rotation_deg // 90
    keyframes = video.keyframes_s

    container, stream = open_video(Path(video.path), STAGE)
    out: list[tuple[float, np.ndarray]] = []
    scaler = VideoReformatter()
    try:
        tb = time_base(stream)
        origin = origin_pts(stream)
        frames = None
        current = -math.inf
        for target in targets:
            if frames is None or (
                target - current > SEEK_GAP_S
                and bisect.bisect_right(keyframes, target) > bisect.bisect_right(keyframes,
                                                                                 current)
            ):
                if frames is not None:
                    container.seek(origin + int(target / tb), stream=stream, backward=True)
                frames = decode(container, stream)
            for frame in frames:
                if frame.pts is None:
                    continue
                current = to_seconds(frame.pts, origin, tb)
                if current + _EPS_S >= target:
                    rgb = scaler.reformat(frame, width=width, height=height, format="rgb24",
                                          interpolation=Interpolation.AREA).to_ndarray()
                    if turns:
                        rgb = np.ascontiguousarray(np.rot90(rgb, k=turns))
                    out.append((current, rgb))
                    break
            else:
                break  # no frame at or after this target: the video has ended
    except av.error.FFmpegError as err:
        raise NextEventError(STAGE, f"{video.path}: decoding failed after {len(out)} samples: "
                             f"{err}", HINT_REENCODE) from err
    finally:
        container.close()
    return out
