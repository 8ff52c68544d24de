"""Export samples for TRL (SFTTrainer, GRPOTrainer, DPOTrainer) as Parquet with frames.

Contract, checked against huggingface/trl 1.16.0:

* ``trl/trainer/sft_trainer.py`` (``DataCollatorForVisionLanguageModeling``) and
  ``trl/trainer/grpo_trainer.py`` (``_tokenize_prompts``) take vision input as an
  ``images`` column (a list of images per row) and conversational messages; neither takes
  video. ``trl/data_utils.py`` ``prepare_multimodal_messages`` inserts one
  ``{"type": "image"}`` per image before the first user turn's text. So a video becomes
  its sampled frames, in time order, as the row's images (the way TRL's own VLM examples
  feed several images).
* SFT: conversational prompt-completion rows (``prompt`` = [system,] user; ``completion``
  = [assistant]); the loss is on the completion. GRPO: the same ``prompt``; every other
  column reaches the reward functions as a keyword with one value per completion, so
  ``ground_truth`` (the sample's reference, e.g. ``caption_part2``) is what
  `nextevent.rewards.engines.trl_rewards` scores against. DPO: ``prompt``, ``chosen``,
  ``rejected``.

Frames are written as JPEG under ``<out>/frames/`` (``nextevent.media.frames.sample_frames``:
``frame_fps`` samples per second, at most ``frames`` per video, at most
``frame_max_pixels`` pixels each) and the ``images`` column is stored as a ``datasets``
``List(Image())`` feature, so ``datasets.load_dataset("parquet", data_files=...)`` hands
TRL PIL images with no glue.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nextevent.export.base import ExportResult
from nextevent.export.driver import counts
from nextevent.export.parquet import (
    HF_FLOATS,
    HF_IMAGES,
    HF_MESSAGES,
    HF_STRING,
    ParquetTarget,
    _pyarrow,
    pa_messages,
)
from nextevent.export.strategies import Sample
from nextevent.records import NextEventError

TEXT_COLUMNS = ("ground_truth", "task", "record_id", "video_id", "strategy")


class FrameWriter:
    """Sample a video's frames once and write them as JPEG files under ``root``.

    Args:
        root: folder for ``<video hash>/<n>.jpg``.
        frames: most frames per video.
        fps: frames sampled per second of video.
        max_pixels: most pixels (height x width) per frame.
    """

    def __init__(self, root: Path, frames: int, fps: float, max_pixels: int) -> None:
        if frames < 1 or fps <= 0 or max_pixels < 1:
            raise ValueError(f"frames, frame fps and frame pixels must be positive "
                             f"(got {frames}, {fps}, {max_pixels})")
        self.root, self.frames, self.fps, self.max_pixels = Path(root), frames, fps, max_pixels
        self._done: dict[str, tuple[list[str], list[float]]] = {}

    def __call__(self, video: str) -> tuple[list[str], list[float]]:
        """Frame file paths and their times (seconds) for ``video``.

        Raises:
            NextEventError: (stage ``probe`` or ``frames``) when the video cannot be
                decoded, or (stage ``export``) when it yields no frame.
        """
        if video not in self._done:
            import cv2

            from nextevent.media.frames import sample_frames

            folder = self.root / hashlib.sha256(video.encode()).hexdigest()[:16]
            folder.mkdir(parents=True, exist_ok=True)
            sampled = sample_frames(Path(video), fps=self.fps, max_frames=self.frames,
                                    max_pixels=self.max_pixels)
            if not sampled:
                raise NextEventError("export", f"no frame could be sampled from {video}",
                                     "check the clip plays; re-cut it if it is empty")
            paths, times = [], []
            for i, (time_s, rgb) in enumerate(sampled):
                path = folder / f"{i:03d}.jpg"
                cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 90])
                paths.append(str(path.resolve()))
                times.append(round(float(time_s), 6))
            self._done[video] = (paths, times)
        return self._done[video]


def trl_row(sample: Sample, images: list[str], frame_times: list[float]) -> dict[str, Any]:
    """One TRL row: ``prompt`` ([system,] user), ``completion`` or ``chosen``/``rejected``
    (one assistant message each), ``images`` (frame paths), ``frame_times`` (seconds) and
    the text columns ``ground_truth``, ``task``, ``record_id``, ``video_id``, ``strategy``."""
    prompt = []
    if sample.system:
        prompt.append({"role": "system", "content": sample.system})
    prompt.append({"role": "user", "content": sample.question})
    row: dict[str, Any] = {"prompt": prompt}
    if sample.rejected is not None:
        row["chosen"] = [{"role": "assistant", "content": sample.target}]
        row["rejected"] = [{"role": "assistant", "content": sample.rejected}]
    else:
        row["completion"] = [{"role": "assistant", "content": sample.target}]
    row.update(images=[{"bytes": None, "path": p} for p in images], frame_times=frame_times,
               ground_truth=sample.reference, task=sample.task, record_id=sample.record_id,
               video_id=sample.video_id, strategy=sample.strategy)
    return row


def _schema(dpo: bool) -> tuple[Any, dict[str, Any]]:
    pa = _pyarrow()
    answers = ("chosen", "rejected") if dpo else ("completion",)
    fields = [("prompt", pa_messages())] + [(a, pa_messages()) for a in answers]
    fields += [("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
               ("frame_times", pa.list_(pa.float64()))]
    fields += [(c, pa.string()) for c in TEXT_COLUMNS]
    features = {"prompt": HF_MESSAGES, **{a: HF_MESSAGES for a in answers},
                "images": HF_IMAGES, "frame_times": HF_FLOATS,
                **{c: HF_STRING for c in TEXT_COLUMNS}}
    return pa.schema(fields), features


class TRLTarget(ParquetTarget):
    """TRL: ``out_dir/train.parquet`` (and ``validation.parquet``) of `trl_row` rows, and
    the frames under ``out_dir/frames/`` (``options.frames`` per video at most, sampled at
    ``options.frame_fps``, at most ``options.frame_max_pixels`` pixels each; 50176 is
    224 x 224). ``media_root`` is where V1-33K relative video paths live; frame paths are
    absolute. A video that does not decode skips its sample with a `Failure`.

    `start` raises `NextEventError` when pyarrow is missing and ``ValueError`` for a frame
    option that is not positive.
    """

    name = "trl"

    def start(self) -> None:
        super().start()
        o = self.options
        self.frames = FrameWriter(self.out_dir / "frames", o.frames, o.frame_fps,
                                  o.frame_max_pixels)

    def arrow_schema(self) -> tuple[Any, dict[str, Any]]:
        return _schema(self.options.strategy == "dpo")

    def row(self, item: Sample, part: str, index: int) -> dict[str, Any]:
        images: list[str] = []
        times: list[float] = []
        for video in item.videos:
            paths, stamps = self.frames(video)
            images += paths
            times += stamps
        return trl_row(item, images, times)

    def facts(self, written: Mapping[str, Path], result: ExportResult) -> dict[str, Any]:
        o = self.options
        return {
            **counts(result),
            "frames": f"at most {o.frames} per video at {o.frame_fps} fps, "
                      f"<= {o.frame_max_pixels} px",
            "load": f"datasets.load_dataset('parquet', data_files={str(written['train'])!r})",
            "rewards": "nextevent.rewards.engines.trl_rewards: nep_reward, format_reward "
                       "(read the ground_truth column)",
        }


export_trl = TRLTarget.export
"""``export_trl(records, run_dir, out_dir, options=None, **fields)``: see `TRLTarget`
and `Target.export`."""
