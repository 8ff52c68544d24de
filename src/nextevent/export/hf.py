"""Export samples as a Hugging Face dataset folder (Parquet, one file per split).

Layout ``<out>/data/train-00000-of-00001.parquet`` and
``<out>/data/validation-00000-of-00001.parquet``: the file names ``datasets`` infers
splits from (``datasets.data_files``, split patterns ``data/{split}-*``), so
``datasets.load_dataset("<out>")`` gives a ``DatasetDict`` with ``train`` (and
``validation``), and ``push_to_hub`` keeps the same layout. One row per sample, with the
strategy's texts and the video paths; engines with their own layout have their targets.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nextevent.export.base import ExportResult
from nextevent.export.driver import counts
from nextevent.export.parquet import ParquetTarget, _pyarrow
from nextevent.export.strategies import Sample

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


class HFTarget(ParquetTarget):
    """A ``datasets``-loadable Parquet folder of `hf_row` rows (every strategy works):
    ``out_dir/data/train-00000-of-00001.parquet`` and, with a validation part,
    ``validation-00000-of-00001.parquet``. `start` raises `NextEventError` when pyarrow
    is missing."""

    name = "hf"

    def arrow_schema(self) -> tuple[Any, None]:
        pa = _pyarrow()
        return pa.schema([(c, pa.list_(pa.string()) if c == "videos" else pa.string())
                          for c in COLUMNS]), None

    def row(self, item: Sample, part: str, index: int) -> dict[str, Any]:
        return hf_row(item, self.media(item))

    def part_path(self, part: str) -> Path:
        return self.out_dir / "data" / f"{part}-00000-of-00001.parquet"

    def facts(self, written: Mapping[str, Path], result: ExportResult) -> dict[str, Any]:
        return {**counts(result), "load": f"datasets.load_dataset({str(self.out_dir.resolve())!r})"}


export_hf = HFTarget.export
"""``export_hf(records, run_dir, out_dir, options=None, **fields)``: see `HFTarget` and
`Target.export`."""
