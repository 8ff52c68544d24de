"""Media: probing (PyAV), shot boundaries (PySceneDetect), cutting (PyAV), frame sampling.

Public API::

    probe(path) -> Video
    detect_shots(path, *, downscale_width=256, threshold=27.0, min_shot_s=0.6) -> list[float]
    cut(video, split_s, out_dir, mode) -> Clips(past, future, mode, note)
    frame_times(path) -> list[float]
    sample_frames(path, *, fps, max_frames, max_pixels) -> list[tuple[float, ndarray]]

Times are seconds from the video stream's first frame, sizes pixels, counts frames.
Every input problem raises `nextevent.records.NextEventError` with the stage
(``probe``, ``shots``, ``cut``, ``frames``), a message naming the file, and a hint.
"""

from nextevent.media.cut import cut
from nextevent.media.frames import frame_times, sample_frames
from nextevent.media.probe import probe
from nextevent.media.shots import detect_shots

__all__ = ["cut", "detect_shots", "frame_times", "probe", "sample_frames"]
