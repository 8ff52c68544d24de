"""Exporters from run records to training-engine formats.

Every target runs the one loop of `nextevent.export.driver` (records -> strategy samples
-> train/validation parts -> rows -> files) with the options of one `ExportOptions`::

    result = export("llamafactory", records, run_dir, out_dir, ExportOptions(seed=3))

and returns an `ExportResult` (files written, sample count, one `Failure` per skipped
record or sample, a summary for the CLI). Each target also has its function, called
alike: ``export_llamafactory(records, run_dir, out_dir, options=None, **fields)``, where
``fields`` override fields of ``options``. Targets (`TARGETS`):

* ``llamafactory``: sharegpt video data + ``dataset_info.json`` + Qwen2.5-VL-7B training
  configs (`LlamaFactoryTarget`).
* ``easyr1``: JSON Lines, format prompt and launch script for EasyR1 GRPO (`EasyR1Target`).
* ``verl``: Parquet for verl RL (`VerlTarget`).
* ``trl``: Parquet with sampled frames for TRL SFT / GRPO / DPO (`TRLTarget`).
* ``hf``: a Hugging Face ``datasets`` Parquet folder (`HFTarget`).
* ``v1``: V1-33K's ``next_event_prediction.json`` (`V1Target`; `nextevent.sources.v1`
  reads it back).

All but ``v1`` use the strategy fields (``strategy``, ``max_samples``, ``cft_ratio``,
``mix``, ``val_fraction``; see `nextevent.export.strategies` and
`nextevent.export.split`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nextevent.export.base import ExportResult, media_path
from nextevent.export.driver import SampleTarget, Target, run_export
from nextevent.export.easyr1 import EasyR1Target, export_easyr1
from nextevent.export.hf import HFTarget, export_hf
from nextevent.export.llamafactory import LlamaFactoryTarget, export_llamafactory
from nextevent.export.options import ExportOptions
from nextevent.export.questions import NEP_QUESTIONS, PREV_QUESTIONS, nep_question, prev_question
from nextevent.export.split import SplitSamples, split_by_video
from nextevent.export.strategies import STRATEGIES, Sample, StrategyResult, build_samples, parse_mix
from nextevent.export.trl import TRLTarget, export_trl
from nextevent.export.v1 import V1Target, export_v1
from nextevent.export.verl import VerlTarget, export_verl
from nextevent.records import NEPRecord

TARGETS: dict[str, type[Target[Any]]] = {
    target.name: target
    for target in (LlamaFactoryTarget, EasyR1Target, VerlTarget, TRLTarget, HFTarget, V1Target)
}
"""Every target by its ``--target`` name."""

#: Targets that take the strategy options (``v1`` writes records as they are).
STRATEGY_TARGETS = tuple(name for name, target in TARGETS.items() if target.takes_strategy)


def export(target: str, records: Iterable[NEPRecord], run_dir: Path, out_dir: Path,
           options: ExportOptions | None = None) -> ExportResult:
    """Export ``records`` (e.g. ``RunStore(run_dir).records()``) of the run in ``run_dir``
    to ``target``, writing into ``out_dir``.

    Raises:
        ValueError: for an unknown target or a bad option.
        NextEventError: (stage ``export``) as the target's checks (missing pyarrow, an
            unreadable ``dataset_info.json``, a split that needs more videos).
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    return run_export(TARGETS[target](run_dir, out_dir, options or ExportOptions()), records)


__all__ = [
    "NEP_QUESTIONS",
    "PREV_QUESTIONS",
    "STRATEGIES",
    "STRATEGY_TARGETS",
    "TARGETS",
    "EasyR1Target",
    "ExportOptions",
    "ExportResult",
    "HFTarget",
    "LlamaFactoryTarget",
    "Sample",
    "SampleTarget",
    "SplitSamples",
    "StrategyResult",
    "TRLTarget",
    "Target",
    "V1Target",
    "VerlTarget",
    "build_samples",
    "export",
    "export_easyr1",
    "export_hf",
    "export_llamafactory",
    "export_trl",
    "export_v1",
    "export_verl",
    "media_path",
    "nep_question",
    "parse_mix",
    "prev_question",
    "split_by_video",
]
