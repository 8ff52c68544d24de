"""Export NEP records as an EasyR1 (GRPO) dataset: JSON Lines or Parquet, videos or frames.

Contract, as checked against hiyouga/EasyR1 at commit b44b311b (``verl/utils/dataset.py``
last changed in 6842bb21; ``examples/config.yaml``, ``verl/trainer/config.py``,
``verl/trainer/data_loader.py``) with qwen-vl-utils 0.0.14, the version a fresh EasyR1
install gets: ``RLHFDataset`` loads a file with ``datasets.load_dataset(<extension>)``
(``.jsonl`` as ``json``, ``.parquet`` as ``parquet``); the prompt column is ``prompt_key``,
the reference answer column ``answer_key`` (handed to the reward as ``ground_truth``), the
video column ``video_key`` (a list of paths, joined onto ``image_dir`` when that is set) and
the image column ``image_key``; a row that has the image column takes the image branch
(prompt split on ``<image>``), else one with the video column the video branch (split on
``<video>``). EasyR1's ``examples/config.yaml`` names its prompt column ``problem``; so do
we. ``_build_messages`` renders ``data.format_prompt`` (a jinja file) with
``Template(text.strip()).render(content=prompt)`` before splitting; the export writes one
(``nep_format.jinja``) asking for ``<think>``/``<answer>``.

Every pixel and frame setting of the launch script (``train_grpo.sh``) agrees with the
export (`launch_settings`): ``data.video_fps`` and ``data.max_pixels`` are the clips' own
(``nextevent build --clip-fps/--clip-max-pixels``, `nextevent.export.sampling`; else V1's
2 fps and 16384 pixels) and ``data.min_pixels`` is at most ``data.max_pixels``. EasyR1's
config keeps ``min_pixels: 262144`` otherwise, and qwen-vl-utils' ``fetch_video`` then
fails in ``smart_resize`` ("The max_pixels of image must be greater than or equal to
min_pixels") while the dataset is built, before training starts.

Three layouts (``data_format``, ``nextevent export --format``):

* ``jsonl`` (default): ``nep_train.jsonl`` of `easyr1_row` (``problem``, ``answer``,
  ``videos``);
* ``parquet``: the same rows as ``nep_train.parquet``;
* ``frames``: ``nep_train.parquet`` of `easyr1_frames_row`: each video as its sampled
  frames (``<image>`` per frame, JPEG bytes inside the file as a ``datasets``
  ``List(Image())`` column ``images``; at the clips' frame rate and size, at most
  ``options.frames`` per video). The V1 (NEP) EasyR1 fork (sail-sg/Video-Next-Event-
  Prediction ``EasyR1/verl/utils/dataset.py``) reads Parquet only and images only (its
  ``process_image`` takes ``{"bytes": ...}`` or PIL images); upstream EasyR1 reads the file
  through its image branch.

GRPO on NEP follows V1 (Wang et al., arXiv 2505.22457, Sec. 4): the strategy's video is the
input and its reference (``caption_part2`` for next-event prediction) is what the reward
scores the ``<answer>`` against. Strategies without a reference to score (``cft``,
``dpo``) are refused. A strategy's system prompt is not written: EasyR1 takes the
instruction from the format prompt.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from nextevent.export.base import ExportResult, atomic_writer
from nextevent.export.driver import SampleTarget, counts
from nextevent.export.options import ExportOptions
from nextevent.export.parquet import HF_IMAGES, HF_STRING, HF_STRINGS, _pyarrow, write_parquet
from nextevent.export.prepare import part_file_name
from nextevent.export.sampling import DEFAULT_VIDEO_FPS, DEFAULT_VIDEO_MAX_PIXELS, VideoSampling
from nextevent.export.strategies import Sample
from nextevent.records import NEPRecord, NextEventError

FILE_STEM = "nep_train"
FORMAT_PROMPT = "nep_format.jinja"
LAUNCH_SCRIPT = "train_grpo.sh"
TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMATS = ("jsonl", "parquet", "frames")
"""The layouts of `EasyR1Options.data_format` (see the module doc)."""
SUFFIXES = {"jsonl": ".jsonl", "parquet": ".parquet", "frames": ".parquet"}
MIN_PIXELS = 3136
"""``data.min_pixels`` of the launch script (56 x 56: Qwen2.5-VL's own processor minimum
and the V1 fork's ``data.min_pixels``), lowered to ``data.max_pixels`` when that is
smaller. EasyR1 scales every frame and image up to at least this many pixels."""


@dataclass(frozen=True)
class EasyR1Options(ExportOptions):
    """`ExportOptions` plus the EasyR1 layout.

    Attributes:
        data_format: ``jsonl``, ``parquet`` or ``frames`` (see `FORMATS` and the module
            doc); ``frames`` takes ``frames`` (most frames per video) from the base options.
    """

    data_format: str = "jsonl"


def easyr1_options(options: ExportOptions | None, **fields: Any) -> EasyR1Options:
    """``options`` as `EasyR1Options`: every field kept (``data_format`` ``jsonl`` when
    the options are plain `ExportOptions`), ``fields`` replaced.

    Raises:
        TypeError: for a keyword that is no `EasyR1Options` field.
    """
    options = options or ExportOptions()
    if not isinstance(options, EasyR1Options):
        options = EasyR1Options(**{f.name: getattr(options, f.name)
                                   for f in dataclasses.fields(options)})
    return dataclasses.replace(options, **fields)


def easyr1_row(sample: Sample, videos: list[str]) -> dict[str, Any]:
    """One EasyR1 row: ``{"problem": "<video>" * n + question, "answer": reference,
    "videos": paths}``."""
    return {
        "problem": "<video>" * len(videos) + sample.question,
        "answer": sample.reference,
        "videos": videos,
    }


def easyr1_frames_row(sample: Sample, frames: list[bytes]) -> dict[str, Any]:
    """One EasyR1 row of frames: ``{"problem": "<image>" * n + question, "answer":
    reference, "images": [{"bytes": jpeg, "path": None}, ...]}`` (the frames of every
    video of the sample, in order)."""
    return {
        "problem": "<image>" * len(frames) + sample.question,
        "answer": sample.reference,
        "images": [{"bytes": jpeg, "path": None} for jpeg in frames],
    }


@dataclass(frozen=True)
class LaunchSettings:
    """The pixel and frame settings of ``train_grpo.sh`` (EasyR1's ``data.*`` keys).

    Attributes:
        video_fps: ``data.video_fps``, frames per second qwen-vl-utils samples a video at.
        min_pixels, max_pixels: ``data.min_pixels`` <= ``data.max_pixels``, per frame or
            image.
    """

    video_fps: float
    min_pixels: int
    max_pixels: int

    def __post_init__(self) -> None:
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ValueError(f"data.min_pixels {self.min_pixels} must be in "
                             f"(0, data.max_pixels {self.max_pixels}]")


def launch_settings(sampling: VideoSampling | None = None) -> LaunchSettings:
    """The launch script's settings for videos sampled as ``sampling`` says (None: V1's
    2 fps and 16384 pixels): the same fps and most pixels, and `MIN_PIXELS` or less."""
    sampling = sampling or VideoSampling()
    return LaunchSettings(video_fps=float(sampling.fps),
                          min_pixels=min(MIN_PIXELS, sampling.max_pixels),
                          max_pixels=sampling.max_pixels)


class FrameBytes:
    """Sample a video's frames once (`nextevent.media.frames.sample_frames`) as JPEG bytes.

    Args:
        max_frames: most frames per video.
    """

    def __init__(self, max_frames: int) -> None:
        if max_frames < 1:
            raise ValueError(f"frames must be positive (got {max_frames})")
        self.max_frames = max_frames
        self._done: dict[tuple[str, float, int], list[bytes]] = {}

    def __call__(self, video: str, fps: float, max_pixels: int) -> list[bytes]:
        """The frames of ``video`` at ``fps``, at most ``max_pixels`` each.

        Raises:
            NextEventError: (stage ``probe`` or ``frames``) when the video cannot be
                decoded, or (stage ``export``) when it yields no frame.
        """
        key = (video, fps, max_pixels)
        if key not in self._done:
            import cv2

            from nextevent.media.frames import sample_frames

            sampled = sample_frames(Path(video), fps=fps, max_frames=self.max_frames,
                                    max_pixels=max_pixels)
            if not sampled:
                raise NextEventError("export", f"no frame could be sampled from {video}",
                                     "check the clip plays; re-cut it if it is empty")
            jpegs = []
            for _, rgb in sampled:
                ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                        [cv2.IMWRITE_JPEG_QUALITY, 90])
                if not ok:
                    raise NextEventError("export", f"a frame of {video} did not encode as JPEG",
                                         "check the clip plays; re-cut it")
                jpegs.append(data.tobytes())
            self._done[key] = jpegs
        return self._done[key]


class EasyR1Target(SampleTarget):
    """EasyR1 GRPO: ``out_dir/nep_train.jsonl`` or ``.parquet`` (and
    ``nep_train_validation.*``), with ``nep_format.jinja`` and ``train_grpo.sh`` beside it.

    Rows are `easyr1_row` (``jsonl``, ``parquet``) or `easyr1_frames_row` (``frames``);
    video paths are absolute, or relative to ``media_root`` (EasyR1's ``data.image_dir``).
    `start` raises ``ValueError`` for ``cft``/``dpo`` (see `check_rl_strategy`) and for an
    unknown ``data_format``, and `NextEventError` for a Parquet layout without pyarrow.
    """

    name = "easyr1"
    rl = True
    options: EasyR1Options

    def __init__(self, run_dir: Path, out_dir: Path, options: ExportOptions) -> None:
        super().__init__(run_dir, out_dir, easyr1_options(options))

    @classmethod
    def export(cls, records: Iterable[NEPRecord], run_dir: Path, out_dir: Path,
               options: ExportOptions | None = None, **fields: Any) -> ExportResult:
        """As `Target.export`; ``fields`` may also set ``data_format``."""
        return super().export(records, run_dir, out_dir, easyr1_options(options), **fields)

    @property
    def data_format(self) -> str:
        return self.options.data_format

    def start(self) -> None:
        super().start()
        if self.data_format not in FORMATS:
            raise ValueError(f"--format {self.data_format} is not an EasyR1 layout; choose "
                             f"one of {', '.join(FORMATS)}")
        if self.data_format != "jsonl":
            pa = _pyarrow()
            if self.data_format == "frames":
                self.frame_bytes = FrameBytes(self.options.frames)
                media = pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
            else:
                media = pa.list_(pa.string())
            column = "images" if self.data_format == "frames" else "videos"
            self.schema = pa.schema([("problem", pa.string()), ("answer", pa.string()),
                                     (column, media)])
            self.features = {"problem": HF_STRING, "answer": HF_STRING,
                             column: HF_IMAGES if column == "images" else HF_STRINGS}

    def row(self, item: Sample, part: str, index: int) -> dict[str, Any]:
        videos = self.media(item)
        if self.data_format != "frames":
            for video in item.videos:
                _check_two_frames(Path(video))
            return easyr1_row(item, videos)
        frames: list[bytes] = []
        for video in item.videos:
            fps, max_pixels = self.clips.by_file.get(str(video), (None, None))
            frames += self.frame_bytes(str(video), fps or DEFAULT_VIDEO_FPS,
                                       max_pixels or DEFAULT_VIDEO_MAX_PIXELS)
        return easyr1_frames_row(item, frames)

    def part_path(self, part: str, data_format: str | None = None) -> Path:
        suffix = SUFFIXES[data_format or self.data_format]
        return self.out_dir / part_file_name(FILE_STEM, part, suffix)

    def _write(self, part: str, rows: Iterable[dict[str, Any]]) -> Path:
        path = self.part_path(part)
        if self.data_format == "jsonl":
            with atomic_writer(path) as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            write_parquet(path, list(rows), self.schema, self.features)
        for other in set(SUFFIXES.values()) - {path.suffix}:  # no stale file of another layout
            path.with_suffix(other).unlink(missing_ok=True)
        return path.resolve()

    def drop_part(self, part: str) -> None:
        for data_format in FORMATS:
            self.part_path(part, data_format).unlink(missing_ok=True)

    def settings(self) -> LaunchSettings:
        """The launch script's pixel and frame settings (`launch_settings`)."""
        return launch_settings(self.sampling())

    def finish(self, written: Mapping[str, Path], result: ExportResult) -> list[Path]:
        self.format_prompt = self.out_dir / FORMAT_PROMPT
        with atomic_writer(self.format_prompt) as handle:
            handle.write((TEMPLATES / "easyr1_nep_format.jinja").read_text(encoding="utf-8"))
        self.script = write_launch_script(self.out_dir, written, self.format_prompt.resolve(),
                                          self.options.strategy, result.count,
                                          self.options.media_root, self.sampling(),
                                          keep_order=self.options.curriculum is not None)
        return [self.format_prompt.resolve(), self.script]

    def facts(self, written: Mapping[str, Path], result: ExportResult) -> dict[str, Any]:
        media_root = self.options.media_root
        settings = self.settings()
        frames = self.data_format == "frames"
        out: dict[str, Any] = {
            **counts(result),
            "train_files": str(written["train"]),
            "val_files": str(written.get("validation", written["train"])),
            "prompt_key": "problem",
            "answer_key": "answer",
            ("image_key" if frames else "video_key"): "images" if frames else "videos",
            "format_prompt": str(self.format_prompt.resolve()),
            "launch": str(self.script),
            "image_dir": str(Path(media_root).resolve()) if media_root is not None else None,
            **self.sampling().facts("data.video_fps", "data.max_pixels"),
            "data.min_pixels": settings.min_pixels,
        }
        if frames:
            out["frames"] = (f"at most {self.options.frames} per video, "
                             f"{settings.video_fps} per second, at most "
                             f"{settings.max_pixels} pixels each")
        return out


export_easyr1 = EasyR1Target.export
"""``export_easyr1(records, run_dir, out_dir, options=None, **fields)``: see
`EasyR1Target` and `Target.export` (``data_format="parquet"`` or ``"frames"`` among the
fields)."""


def write_launch_script(out_dir: Path, paths: Mapping[str, Path], format_prompt: Path,
                        strategy: str, samples: int, media_root: Path | None,
                        sampling: VideoSampling | None = None, *,
                        keep_order: bool = False) -> Path:
    """Write ``out_dir/train_grpo.sh`` (executable) from the EasyR1 launch template.

    ``keep_order`` (``--curriculum``) adds ``data.shuffle=false`` (EasyR1's
    ``DataConfig.shuffle``, read by ``verl/trainer/data_loader.py``), so GRPO reads the
    samples in the order written.

    ``sampling`` gives ``data.video_fps`` (frames per second) and ``data.max_pixels``
    (pixels per frame): the clips' own when ``nextevent build --clip-fps/--clip-max-pixels``
    wrote them so (`nextevent.export.sampling`); None: V1's 2.0 and 16384;
    ``data.min_pixels`` is `MIN_PIXELS` or ``data.max_pixels`` if smaller
    (`launch_settings`).
    """
    settings = launch_settings(sampling)
    from nextevent.rewards.engines import adapter_path

    function = "compute_score_mcq" if strategy == "mcqa" else "compute_score"
    image_dir = (f"    data.image_dir=\"{Path(media_root).resolve()}\" \\\n"
                 if media_root is not None else "")
    text = Template((TEMPLATES / "easyr1_grpo.sh").read_text(encoding="utf-8")).substitute(
        strategy=strategy, samples=samples, train_files=paths["train"],
        val_files=paths.get("validation", paths["train"]), format_prompt=format_prompt,
        image_dir=image_dir, shuffle="    data.shuffle=false \\\n" if keep_order else "",
        reward_function=f"{adapter_path('easyr1')}:{function}",
        video_fps=repr(settings.video_fps), max_pixels=settings.max_pixels,
        min_pixels=settings.min_pixels,
    )
    path = Path(out_dir) / LAUNCH_SCRIPT
    with atomic_writer(path) as handle:
        handle.write(text)
    os.chmod(path, 0o755)
    return path.resolve()


MIN_VIDEO_FRAMES = 2
"""Fewest frames qwen-vl-utils (``fetch_video``, what EasyR1 reads videos with) accepts:
it raises ``nframes should in interval [2, ...]`` on a one-frame clip while EasyR1 builds
its dataset, before training starts."""


def _check_two_frames(path: Path) -> None:
    """Raise when the clip at ``path`` has fewer than `MIN_VIDEO_FRAMES` frames.

    Raises:
        NextEventError: stage ``export``, naming the clip and what to do.
    """
    import av

    try:
        with av.open(str(path)) as container:
            frames = container.streams.video[0].frames
    except (av.error.FFmpegError, IndexError, OSError):
        return  # unreadable clips are the media check's to report
    if 0 < frames < MIN_VIDEO_FRAMES:
        raise NextEventError(
            "export", f"{path}: {frames} frame; EasyR1's video reader (qwen-vl-utils) "
            f"needs at least {MIN_VIDEO_FRAMES}", "build with a higher --clip-fps or a "
            "longer --min-past, or export with --format frames")
