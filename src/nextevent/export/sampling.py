"""The frame rate and frame size a training config samples the exported videos at.

A run built with ``nextevent build --clip-fps F --clip-max-pixels N`` holds clips already
at F frames per second and at most N pixels a frame (each record's ``clip_fps`` /
``clip_max_pixels``). The engine should then sample them at the same values, or it
subsamples or rescales the clips again: LLaMA-Factory takes ``min(frames, video_maxlen,
floor(duration_s * video_fps))`` frames spread over the clip (so ``video_fps: F`` keeps
every clip frame) and scales a frame above ``video_max_pixels`` down. The configs
(LLaMA-Factory's YAML, EasyR1's ``data.video_fps`` / ``data.max_pixels``) take the clips'
values; without them the templates' values (V1's: 2 fps, 16384 pixels) stay.

Each value is taken on its own. The written samples' clips decide; a sample's other
videos (the full source video of the caption strategy, V1-33K clips) carry no value, and
the engine samples them at the clips' values too. When the written clips disagree (records
of runs built with other values), the template's value stays and the summary says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nextevent.export.base import confined_path
from nextevent.records import NEPRecord, NextEventError

DEFAULT_VIDEO_FPS = 2.0
"""Frames per second the templates sample a video at when the clips do not say (V1's)."""
DEFAULT_VIDEO_MAX_PIXELS = 16384
"""Most pixels per video frame of the templates when the clips do not say (V1's)."""


@dataclass(frozen=True)
class VideoSampling:
    """What a training config samples each video at.

    Attributes:
        fps: frames per second (LLaMA-Factory ``video_fps``, EasyR1 ``data.video_fps``).
        max_pixels: most pixels (width x height) per frame (``video_max_pixels``,
            ``data.max_pixels``).
        fps_from_clips, max_pixels_from_clips: the value is the clips' own (written by
            ``nextevent build --clip-fps`` / ``--clip-max-pixels``), not the default.
        notes: why a default was kept although the clips carry values (they disagree).
    """

    fps: float = DEFAULT_VIDEO_FPS
    max_pixels: int = DEFAULT_VIDEO_MAX_PIXELS
    fps_from_clips: bool = False
    max_pixels_from_clips: bool = False
    notes: tuple[str, ...] = ()

    def facts(self, fps_key: str = "video_fps",
              pixels_key: str = "video_max_pixels") -> dict[str, object]:
        """Summary facts: the values taken from the clips, under the engine's key names,
        and the notes (none by default, so an export of plain clips prints as before)."""
        out: dict[str, object] = {}
        if self.fps_from_clips:
            out[fps_key] = f"{self.fps} (the clips' --clip-fps)"
        if self.max_pixels_from_clips:
            out[pixels_key] = f"{self.max_pixels} (the clips' --clip-max-pixels)"
        if self.notes:
            out["video sampling"] = "; ".join(self.notes)
        return out


class ClipSampling:
    """Collects the clip settings of the records an export reads and of the videos it
    writes, and decides the config's `VideoSampling`.

    Args:
        run_dir: the run directory the records' segment paths are relative to.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.by_file: dict[str, tuple[float | None, int | None]] = {}
        self.fps: set[float] = set()
        self.max_pixels: set[int] = set()

    def watch(self, records: Iterable[NEPRecord]) -> Iterator[NEPRecord]:
        """Yield ``records`` unchanged, noting the clip files of those with clip settings
        (by resolved path, as the strategies name them)."""
        for record in records:
            if record.clip_fps is not None or record.clip_max_pixels is not None:
                for which in ("past", "future"):
                    segment = getattr(record, which)
                    if segment is None:
                        continue
                    try:
                        path = confined_path(segment.path, self.run_dir, record.id, which)
                    except NextEventError:
                        continue  # the strategy reports the bad path when it needs it
                    self.by_file[str(path)] = (record.clip_fps, record.clip_max_pixels)
            yield record

    def note(self, videos: Iterable[str]) -> None:
        """Note the videos (absolute paths) of one written sample."""
        for video in videos:
            fps, max_pixels = self.by_file.get(str(video), (None, None))
            if fps is not None:
                self.fps.add(fps)
            if max_pixels is not None:
                self.max_pixels.add(max_pixels)

    def sampling(self) -> VideoSampling:
        """The config's values: each one the written clips' own when they all agree, else
        the default (with a note when they disagree)."""
        notes = []
        fps, max_pixels = DEFAULT_VIDEO_FPS, DEFAULT_VIDEO_MAX_PIXELS
        if len(self.fps) == 1:
            fps = next(iter(self.fps))
        elif self.fps:
            notes.append(f"the clips were written at different frame rates "
                         f"({', '.join(map(str, sorted(self.fps)))} fps), so video_fps stays "
                         f"{DEFAULT_VIDEO_FPS}; export one run at a time or set it by hand")
        if len(self.max_pixels) == 1:
            max_pixels = next(iter(self.max_pixels))
        elif self.max_pixels:
            notes.append(f"the clips were written at different sizes (at most "
                         f"{', '.join(map(str, sorted(self.max_pixels)))} pixels), so "
                         f"video_max_pixels stays {DEFAULT_VIDEO_MAX_PIXELS}; export one run "
                         "at a time or set it by hand")
        return VideoSampling(fps=fps, max_pixels=max_pixels,
                             fps_from_clips=len(self.fps) == 1,
                             max_pixels_from_clips=len(self.max_pixels) == 1,
                             notes=tuple(notes))
