"""Export samples as a Hugging Face dataset folder (Parquet, one file per split).

Layout ``<out>/data/train-00000-of-00001.parquet`` and
``<out>/data/validation-00000-of-00001.parquet``: the file names ``datasets`` infers
splits from (``datasets.data_files``, split patterns ``data/{split}-*``), so
``datasets.load_dataset("<out>")`` gives a ``DatasetDict`` with ``train`` (and
``validation``), and ``push_to_hub`` keeps the same layout. One row per sample, with the
strategy's texts and the video paths; engines with their own layout have their targets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nextevent.export.base import ExportResult
from nextevent.export.parquet import _pyarrow, write_parquet
from nextevent.export.prepare import prepare, report_facts, sample_failure, sample_media
from nextevent.export.strategies import DEFAULT_CFT_RATIO, Sample
from nextevent.records import NEPRecord, NextEventError

COLUMNS = ("id", "record_id", "video_id", "strategy", "system", "question", "answer",
           "rejected", "reference", "task", "videos")
"""Columns of the exported dataset; ``system`` and ``rejected`` may be null."""


def hf_row(sample: Sample, videos: list[str]) -> dict[str, Any]:
    """One row: the sample's fields under `COLUMNS` (``answer`` is the target)."""
    return {
        "id": sample.key, "record_id": sample.record_id, "video_id": sample.video_id,
        "strategy": sample.strategy, "system": sample.system, "question": sample.question,
        "answer": sample.target, "rejected": sample.rejected, "reference": sample.reference,
        "task": sample.task, "videos": videos,
    }


def export_hf(
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
) -> ExportResult:
    """Write the strategy's samples as a ``datasets``-loadable Parquet folder.

    Args: as `nextevent.export.llamafactory.export_llamafactory` (every strategy works).

    Returns:
        `ExportResult` with the Parquet files and one `Failure` per skipped record/sample.

    Raises:
        NextEventError: (stage ``export``) when pyarrow is missing or the split needs
            more videos.
        ValueError: for a bad strategy option.
    """
    pa = _pyarrow()
    schema = pa.schema([(c, pa.list_(pa.string()) if c == "videos" else pa.string())
                        for c in COLUMNS])
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    prepared = prepare(records, run_dir, strategy=strategy, seed=seed, media_root=media_root,
                       max_samples=max_samples, cft_ratio=cft_ratio, mix=mix,
                       val_fraction=val_fraction)
    result = ExportResult(failures=list(prepared.failures),
                          summary={"target": "hf", "strategy": strategy, "seed": seed})
    data = out_dir / "data"
    for part, samples in prepared.split.parts():
        rows = []
        for sample in samples:
            try:
                rows.append(hf_row(sample, sample_media(sample, run_dir, media_root)))
            except NextEventError as err:
                result.failures.append(sample_failure(err, "hf", sample))
        result.files.append(write_parquet(data / f"{part}-00000-of-00001.parquet", rows, schema))
        result.count += len(rows)
    if not prepared.split.validation:
        (data / "validation-00000-of-00001.parquet").unlink(missing_ok=True)
    result.summary.update(report_facts(prepared.report))
    result.summary.update(samples=result.count, skipped=len(result.failures),
                          load=f"datasets.load_dataset({str(out_dir.resolve())!r})")
    return result
