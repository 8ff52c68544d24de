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
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nextevent.export.base import ExportResult
from nextevent.export.parquet import (
    HF_FLOATS,
    HF_IMAGES,
    HF_MESSAGES,
    HF_STRING,
    _pyarrow,
    pa_messages,
    write_parquet,
)
from nextevent.export.prepare import prepare, report_facts, sample_failure
from nextevent.export.strategies import DEFAULT_CFT_RATIO, Sample
from nextevent.records import NEPRecord, NextEventError

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


def export_trl(
    records: Iterable[NEPRecord],
    run_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    media_root: Path | None = None,
    strategy: str = "sft",
    max_samples: int | None = None,
    cft_ratio: float = DEFAULT_CFT_RATIO,
    mix: Mapping[str, float] | None = None,
    val_fraction: float = 0.0,
    frames: int = 8,
    frame_fps: float = 2.0,
    frame_max_pixels: int = 50176,
) -> ExportResult:
    """Write ``out_dir/train.parquet`` (and ``validation.parquet``) and the frames for TRL.

    Args:
        records, run_dir, out_dir, seed, strategy, max_samples, cft_ratio, mix,
            val_fraction: as `nextevent.export.llamafactory.export_llamafactory`.
        media_root: where V1-33K relative video paths live (frame paths are absolute).
        frames: most frames per video.
        frame_fps: frames sampled per second of video.
        frame_max_pixels: most pixels per frame (50176 = 224 x 224).

    Returns:
        `ExportResult` with the Parquet files and one `Failure` per skipped record or
        sample (including videos that do not decode).

    Raises:
        NextEventError: (stage ``export``) when pyarrow is missing or the split needs
            more videos.
        ValueError: for a bad option.
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    schema, features = _schema(strategy == "dpo")
    writer = FrameWriter(out_dir / "frames", frames, frame_fps, frame_max_pixels)
    prepared = prepare(records, run_dir, strategy=strategy, seed=seed, media_root=media_root,
                       max_samples=max_samples, cft_ratio=cft_ratio, mix=mix,
                       val_fraction=val_fraction)
    result = ExportResult(failures=list(prepared.failures),
                          summary={"target": "trl", "strategy": strategy, "seed": seed})
    for part, samples in prepared.split.parts():
        rows = []
        for sample in samples:
            try:
                images: list[str] = []
                times: list[float] = []
                for video in sample.videos:
                    paths, stamps = writer(video)
                    images += paths
                    times += stamps
                rows.append(trl_row(sample, images, times))
            except NextEventError as err:
                result.failures.append(sample_failure(err, "trl", sample))
        result.files.append(write_parquet(out_dir / f"{part}.parquet", rows, schema, features))
        result.count += len(rows)
    if not prepared.split.validation:
        (out_dir / "validation.parquet").unlink(missing_ok=True)
    result.summary.update(report_facts(prepared.report))
    result.summary.update(
        samples=result.count, skipped=len(result.failures),
        frames=f"at most {frames} per video at {frame_fps} fps, <= {frame_max_pixels} px",
        load=f"datasets.load_dataset('parquet', data_files={str(result.files[0])!r})",
        rewards="nextevent.rewards.engines.trl_rewards: nep_reward, format_reward "
                "(read the ground_truth column)",
    )
    return result
