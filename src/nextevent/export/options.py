"""The options of one export, as one value the CLI builds once and every target reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nextevent.export.dpo import DEFAULT_DPO_MAX_PAIRS
from nextevent.export.strategies import DEFAULT_CFT_RATIO


@dataclass(frozen=True)
class ExportOptions:
    """How to export a run's records (``nextevent export`` options).

    Attributes:
        seed: question wording, sample choice and validation split seed.
        media_root: write media paths relative to this folder instead of absolute (the
            trainer joins them back: LLaMA-Factory's ``media_dir``, EasyR1's
            ``data.image_dir``); for V1-33K records, the release folder their relative
            paths start from.
        strategy: one of `nextevent.export.strategies.STRATEGIES` (not used by ``v1``).
        mix: for ``strategy="mix"``: strategy -> weight (see `parse_mix`).
        max_samples: most samples to write (train + validation), chosen by seeded record
            rank; None: all.
        cft_ratio: wrong:right ratio of CFT samples (V1's 2.1 by default).
        val_fraction: share of the videos (in [0, 1)) held out for validation.
        dataset_name: ``llamafactory`` only: the dataset's name in ``dataset_info.json``
            and its file stem (None: ``nextevent_nep_sft`` for ``sft``, else
            ``nextevent_<strategy>``).
        frames: ``trl`` only: most frames sampled per video.
        frame_fps: ``trl`` only: frames sampled per second of video.
        frame_max_pixels: ``trl`` only: most pixels (height x width) per frame; 50176 is
            224 x 224.
        layout: ``v1`` only (`nextevent.export.v1.LAYOUTS`): ``run`` names the run's own
            files; ``v1`` lays out the V1-33K release's tree (``first_part_video/``,
            ``second_part_video/``, ``video_dataset/``) in the export folder, for V1's
            official converters. Every other target takes only ``run``.
        min_pass_rate, max_pass_rate: keep only records whose pass rate (predictions
            judged right / judged, 0 to 1) lies within these inclusive bounds; records
            without a verdict are left out when either is set; None: no bound
            (`nextevent.export.selection.filter_pass_rate`).
        curriculum: ``easy-to-hard`` writes the samples by pass rate, highest first;
            None keeps the record order.
        sample_reward: ``rouge_l`` or ``similarity``: score each record's predictions
            against ``caption_part2`` and report the mean per record (``difficulty.jsonl``).
        dpo_pairs: ``dpo`` only: ``verdicts`` pairs a prediction judged right (chosen)
            with one judged wrong (rejected) of the same split; ``reference`` pairs
            ``caption_part2`` (chosen) with a prediction judged wrong.
        dpo_max_pairs: ``dpo`` only: most pairs per split.

    The values are checked where they are used (`build_samples`, `split_by_video`, the
    targets), which raise ``ValueError`` for a bad one.
    """

    seed: int = 0
    media_root: Path | None = None
    strategy: str = "sft"
    mix: Mapping[str, float] | None = None
    max_samples: int | None = None
    cft_ratio: float = DEFAULT_CFT_RATIO
    val_fraction: float = 0.0
    dataset_name: str | None = None
    frames: int = 8
    frame_fps: float = 2.0
    frame_max_pixels: int = 50176
    layout: str = "run"
    min_pass_rate: float | None = None
    max_pass_rate: float | None = None
    curriculum: str | None = None
    sample_reward: str | None = None
    dpo_pairs: str = "verdicts"
    dpo_max_pairs: int = DEFAULT_DPO_MAX_PAIRS

