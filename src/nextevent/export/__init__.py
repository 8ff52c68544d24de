"""Exporters from run records to training-engine formats.

Every target is called alike::

    result = TARGETS[name](records, run_dir, out_dir, seed=seed, media_root=media_root)

and returns an `ExportResult` (files written, sample count, one `Failure` per skipped
record, a summary for the CLI). Targets:

* ``llamafactory``: sharegpt video data + ``dataset_info.json`` + Qwen2.5-VL-7B training
  configs (`export_llamafactory`).
* ``easyr1``: JSON Lines, format prompt and launch script for EasyR1 GRPO (`export_easyr1`).
* ``verl``: Parquet for verl RL (`export_verl`).
* ``trl``: Parquet with sampled frames for TRL SFT / GRPO / DPO (`export_trl`).
* ``hf``: a Hugging Face ``datasets`` Parquet folder (`export_hf`).
* ``v1``: V1-33K's ``next_event_prediction.json`` (`export_v1`; `import_v1` reads it back).

All but ``v1`` also take ``strategy=``, ``max_samples=``, ``cft_ratio=``, ``mix=`` and
``val_fraction=`` (see `nextevent.export.strategies` and `nextevent.export.split`).
"""

from __future__ import annotations

from collections.abc import Callable

from nextevent.export.base import ExportResult, media_path
from nextevent.export.easyr1 import export_easyr1
from nextevent.export.hf import export_hf
from nextevent.export.llamafactory import export_llamafactory
from nextevent.export.questions import NEP_QUESTIONS, PREV_QUESTIONS, nep_question, prev_question
from nextevent.export.split import SplitSamples, split_by_video
from nextevent.export.strategies import STRATEGIES, Sample, StrategyResult, build_samples, parse_mix
from nextevent.export.trl import export_trl
from nextevent.export.v1 import export_v1, import_v1
from nextevent.export.verl import export_verl

TARGETS: dict[str, Callable[..., ExportResult]] = {
    "llamafactory": export_llamafactory,
    "easyr1": export_easyr1,
    "verl": export_verl,
    "trl": export_trl,
    "hf": export_hf,
    "v1": export_v1,
}

#: Targets that take the strategy options (``v1`` writes records as they are).
STRATEGY_TARGETS = ("llamafactory", "easyr1", "verl", "trl", "hf")

__all__ = [
    "NEP_QUESTIONS",
    "PREV_QUESTIONS",
    "STRATEGIES",
    "STRATEGY_TARGETS",
    "TARGETS",
    "ExportResult",
    "Sample",
    "SplitSamples",
    "StrategyResult",
    "build_samples",
    "export_easyr1",
    "export_hf",
    "export_llamafactory",
    "export_trl",
    "export_v1",
    "export_verl",
    "import_v1",
    "media_path",
    "nep_question",
    "parse_mix",
    "prev_question",
    "split_by_video",
]
