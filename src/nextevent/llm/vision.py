"""What a vision role is sent: timestamped JPEG frames, or one ``video_url`` part.

Frames mode: each frame becomes a text part ``Frame at MM:SS.ss`` followed by an
``image_url`` part holding a ``data:image/jpeg;base64,...`` URL (the OpenAI chat format
for images, which vLLM, SGLang, Ollama and llama.cpp accept). Video mode: one
``{"type": "video_url", "video_url": {"url": ...}}`` part, the form vLLM's OpenAI server
takes for video models such as Qwen2.5-VL (vllm-project/vllm, docs
"Multimodal Inputs", online serving, video); the text then states the duration.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nextevent.llm.config import VideoInput
from nextevent.timecode import format_timestamp


@dataclass(frozen=True)
class EncodedFrame:
    """One sampled frame, ready to send.

    Attributes:
        time_s: presentation time of the frame in seconds from the start of the video.
        jpeg_b64: the frame as base64 JPEG (ASCII).
        width, height: size of the sent frame in pixels.
    """

    time_s: float
    jpeg_b64: str
    width: int
    height: int


def encode_frames(path: Path, video: VideoInput) -> list[EncodedFrame]:
    """Sample frames of ``path`` by ``video`` (fps, max_frames, max_pixels) as JPEG.

    CPU-bound (decode + encode): run it in a worker process.

    Raises:
        NextEventError: stage ``probe`` / ``frames`` from `nextevent.media.sample_frames`.
        RuntimeError: when OpenCV cannot encode a frame.
    """
    import cv2

    from nextevent.media.frames import sample_frames

    out = []
    for time_s, rgb in sample_frames(Path(path), fps=video.fps, max_frames=video.max_frames,
                                     max_pixels=video.max_pixels):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, video.jpeg_quality])
        if not ok:
            raise RuntimeError(f"OpenCV could not encode a frame of {path} as JPEG")
        out.append(EncodedFrame(time_s=float(time_s),
                                jpeg_b64=base64.b64encode(buf.tobytes()).decode("ascii"),
                                width=int(rgb.shape[1]), height=int(rgb.shape[0])))
    return out


def frame_content(frames: list[EncodedFrame]) -> list[dict[str, Any]]:
    """Chat content parts: ``Frame at MM:SS.ss`` text, then the frame's image, per frame."""
    parts: list[dict[str, Any]] = []
    for frame in frames:
        parts.append({"type": "text", "text": f"Frame at {format_timestamp(frame.time_s)}:"})
        parts.append({"type": "image_url",
                      "image_url": {"url": f"data:image/jpeg;base64,{frame.jpeg_b64}"}})
    return parts


def video_content(path: Path, video: VideoInput) -> list[dict[str, Any]]:
    """One ``video_url`` content part for ``path`` (``file://`` URL or base64 data URL).

    Raises:
        OSError: when ``url: data`` and the file cannot be read.
    """
    if video.url == "data":
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        url = f"data:video/mp4;base64,{data}"
    else:
        url = Path(path).resolve().as_uri()
    return [{"type": "video_url", "video_url": {"url": url}}]
