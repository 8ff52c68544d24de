"""Parquet writing for the verl, TRL and Hugging Face targets (pyarrow).

``pip install 'nextevent[export]'`` brings pyarrow. When ``hf_features`` is given it is
stored as the schema's ``huggingface`` metadata, the way ``datasets`` itself writes Parquet
(``{"info": {"features": ...}}``, as ``datasets.Dataset.to_parquet`` does in datasets
4.x/5.x), so ``datasets.load_dataset("parquet", ...)`` restores feature types such as
``Image`` (decoded to PIL images from the stored paths).
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nextevent.atomic import atomic_path
from nextevent.export.driver import SampleTarget
from nextevent.records import NextEventError


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise NextEventError(
            "export", "this target writes Parquet and needs pyarrow, which is not installed",
            "pip install 'nextevent[export]' (or pip install pyarrow)",
        ) from None
    return pyarrow


def write_parquet(path: Path, rows: Sequence[dict[str, Any]], schema: Any,
                  hf_features: dict[str, Any] | None = None) -> Path:
    """Write ``rows`` to ``path`` atomically as one Parquet file.

    Args:
        path: the file to write (its folder is created).
        rows: one dict per row, keys = the schema's fields.
        schema: a ``pyarrow.Schema`` (given explicitly so an empty file has its columns).
        hf_features: ``datasets`` feature dicts per column, stored as metadata.

    Returns:
        The resolved path.

    Raises:
        NextEventError: (stage ``export``) when pyarrow is missing.
    """
    pa = _pyarrow()
    if hf_features is not None:
        meta = {b"huggingface": json.dumps({"info": {"features": hf_features}}).encode()}
        schema = schema.with_metadata(meta)
    table = pa.Table.from_pylist(list(rows), schema=schema)
    path = Path(path)
    with atomic_path(path) as tmp:
        pa.parquet.write_table(table, str(tmp))
    return path.resolve()


class ParquetTarget(SampleTarget):
    """A target that writes each part as one Parquet file (verl, TRL, Hugging Face).

    `start` builds the table schema (`arrow_schema`), so a missing pyarrow fails before
    anything is read or written (`NextEventError`, stage ``export``).
    """

    def start(self) -> None:
        super().start()
        self.schema, self.features = self.arrow_schema()

    @abstractmethod
    def arrow_schema(self) -> tuple[Any, dict[str, Any] | None]:
        """The ``pyarrow.Schema`` of the rows and the ``datasets`` features to store with
        it (None: none)."""

    def part_path(self, part: str) -> Path:
        """``out_dir/<part>.parquet`` unless the target lays its files out otherwise."""
        return self.out_dir / f"{part}.parquet"

    def _write(self, part: str, rows: Iterable[dict[str, Any]]) -> Path:
        return write_parquet(self.part_path(part), list(rows), self.schema, self.features)


def pa_messages() -> Any:
    """Arrow type of a chat: ``list<struct<role: string, content: string>>``."""
    pa = _pyarrow()
    return pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


HF_STRING = {"dtype": "string", "_type": "Value"}
HF_MESSAGES = {"feature": {"role": HF_STRING, "content": HF_STRING}, "_type": "List"}
HF_IMAGES = {"feature": {"_type": "Image"}, "_type": "List"}
HF_FLOATS = {"feature": {"dtype": "float64", "_type": "Value"}, "_type": "List"}
HF_STRINGS = {"feature": HF_STRING, "_type": "List"}
