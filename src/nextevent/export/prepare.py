"""The steps every target shares: records -> strategy samples -> train/validation split,
and media paths as the target writes them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from nextevent.export.base import media_path
from nextevent.export.options import ExportOptions
from nextevent.export.selection import build_samples
from nextevent.export.split import split_by_video
from nextevent.export.strategies import Sample
from nextevent.records import Failure, NEPRecord, NextEventError

T = TypeVar("T")


@dataclass
class Prepared(Generic[T]):
    """Items ready to write.

    Attributes:
        parts: ``(part, items)`` in writing order: ``("train", ...)`` and, when asked for,
            ``("validation", ...)``; the items are samples, or records for ``v1``.
        failures: records the strategy could not use, one `Failure` each.
        report: strategy facts (counts, CFT ratio, mix quotas) plus ``train``,
            ``validation`` and ``validation_videos``; empty for ``v1``.
        difficulty: per-record difficulty rows (pass rate, mean reward) when a
            difficulty option was given; written as ``difficulty.jsonl``.
    """

    parts: list[tuple[str, Iterable[T]]]
    failures: list[Failure]
    report: dict[str, Any]
    difficulty: list[dict[str, Any]] = field(default_factory=list)


def prepare(records: Iterable[NEPRecord], run_dir: Path, options: ExportOptions
            ) -> Prepared[Sample]:
    """Build the strategy's samples (`build_samples`) and split them by video
    (`split_by_video`), with the strategy fields of ``options``; see those for the errors
    (``ValueError`` for a bad option, `NextEventError` for a split that needs more videos).
    """
    o = options
    result = build_samples(records, o.strategy, Path(run_dir), seed=o.seed,
                           media_root=o.media_root, max_samples=o.max_samples,
                           cft_ratio=o.cft_ratio, mix=o.mix, min_pass_rate=o.min_pass_rate,
                           max_pass_rate=o.max_pass_rate, curriculum=o.curriculum,
                           sample_reward=o.sample_reward, dpo_pairs=o.dpo_pairs,
                           dpo_max_pairs=o.dpo_max_pairs)
    split = split_by_video(result.samples, o.val_fraction, o.seed)
    report = dict(result.report)
    report.update(train=len(split.train), validation=len(split.validation))
    if split.validation_videos:
        report["validation_videos"] = split.validation_videos
    return Prepared(list(split.parts()), result.failures, report, result.difficulty)


def sample_media(sample: Sample, run_dir: Path, media_root: Path | None) -> list[str]:
    """The sample's video paths as written: absolute, or relative to ``media_root``.

    Raises:
        NextEventError: (stage ``export``) when a video lies outside ``media_root``.
    """
    return [media_path(v, run_dir, media_root) for v in sample.videos]


def sample_failure(err: NextEventError, target: str, sample: Sample) -> Failure:
    """A `Failure` for one sample a target could not write (keyed per target and sample)."""
    return err.to_failure(sample.record_id, key=sample_failure_key(target, sample))


def sample_failure_key(target: str, sample: Sample) -> str:
    """The `Failure` key of one sample a target could not write."""
    return f"export:{target}:{sample.key}"


def part_file_name(stem: str, part: str, suffix: str) -> str:
    """``<stem><suffix>`` for the train part, ``<stem>_validation<suffix>`` otherwise."""
    return f"{stem}{suffix}" if part == "train" else f"{stem}_{part}{suffix}"


def report_facts(report: dict[str, Any]) -> dict[str, Any]:
    """The strategy report's facts for an export summary (``records``, ``train``,
    ``validation``, CFT ratio, mix quotas), leaving out what the summary says itself."""
    return {k: v for k, v in report.items() if k not in ("strategy", "samples")}
