"""Exporters from run records to training-engine formats.

Every target runs the one loop of `nextevent.export.driver` (records -> strategy samples
-> train/validation parts -> rows -> files) with the options of one `ExportOptions`::

    result = export("llamafactory", records, run_dir, out_dir, ExportOptions(seed=3))

or, for a whole run directory (what ``nextevent export`` does: the records read through
`nextevent.rundir.RunDir`, the skipped ones added to the run's ``failures.jsonl``)::

    result = export_run(run_dir, "llamafactory", out_dir, ExportOptions(seed=3))

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

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from nextevent.export.base import ExportResult, media_path
from nextevent.export.driver import SampleTarget, Target, run_export
from nextevent.export.easyr1 import EasyR1Target, export_easyr1
from nextevent.export.hf import HFTarget, export_hf
from nextevent.export.llamafactory import LlamaFactoryTarget, export_llamafactory
from nextevent.export.options import ExportOptions
from nextevent.export.questions import NEP_QUESTIONS, PREV_QUESTIONS, nep_question, prev_question
from nextevent.export.selection import build_samples, parse_mix
from nextevent.export.split import SplitSamples, split_by_video
from nextevent.export.strategies import STRATEGIES, Sample, StrategyResult
from nextevent.export.trl import TRLTarget, export_trl
from nextevent.export.v1 import V1Target, export_v1
from nextevent.export.verl import VerlTarget, export_verl
from nextevent.records import NEPRecord, NextEventError
from nextevent.rundir import RunDir

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


def check_run(run_dir: str | Path) -> RunDir:
    """The paths of a run directory an export can read: one with a ``records.jsonl``.

    Raises:
        NextEventError: stage ``export``, when ``run_dir`` has no ``records.jsonl``.
    """
    run = RunDir(Path(run_dir))
    if not run.records.exists():
        raise NextEventError("export", f"{run.records} does not exist",
                             "run `nextevent build` (or `nextevent import`) into it first")
    return run


def export_run(run_dir: str | Path, target: str, out_dir: str | Path,
               options: ExportOptions | None = None) -> ExportResult:
    """Export the records of the run in ``run_dir`` to ``target`` in ``out_dir``, and add
    a `Failure` for each record or sample skipped to the run's ``failures.jsonl`` (keyed,
    so a rerun adds none twice).

    Args:
        run_dir: the run directory (`check_run`); segment paths are resolved against it.
        target: a `TARGETS` name.
        out_dir: the folder to write into.
        options: the export's options; None takes the defaults.

    An earlier export failure whose item this export wrote is marked resolved (its key
    ``done`` in ``state.sqlite``; `nextevent.store.is_resolved`); one that fails again
    is marked failed.

    Returns:
        The `ExportResult`, with ``records`` set to the number of records read.

    Raises:
        NextEventError: stage ``export`` when the run has no ``records.jsonl``, a line of
            it is not a NEP record, or as `export`.
        ValueError: for an unknown target or a bad option.
    """
    from nextevent.rundir import RunLock, held_by_other
    from nextevent.store import RunStore, read_records

    run = check_run(run_dir)
    seen = 0

    def counted() -> Iterator[NEPRecord]:
        nonlocal seen
        for record in read_records(run.records, stage="export", hint=(
                "export a run written by `nextevent build` or `nextevent import`, and not "
                "while a build writes to it")):
            seen += 1
            yield record

    result = export(target, counted(), run.root.resolve(), Path(out_dir), options)
    result.records = seen
    answered = _answered_failures(run, result)
    if not result.failures and not answered:
        return result
    if held_by_other(run):
        # export only reads the run; a build writing it now is the run's one writer
        if result.failures:
            result.summary["failures not added to the run"] = (
                f"{run.failures} is being written by a build; rerun the export after it "
                "ends to record the skipped records there")
        return result
    with RunLock(run, "export"), RunStore(run.root) as store:
        for failure in result.failures:
            # item = the key: the failure stays open until an export writes that item
            store.add_failure(failure, item=failure.key)
        for key in answered:
            store.set_status(key, "done", "export")
    return result


def _answered_failures(run: RunDir, result: ExportResult) -> list[str]:
    """The keys of the run's export failures not yet resolved whose item this export
    wrote (`ExportResult.written_keys`), in file order."""
    from nextevent.store import read_failures, read_statuses

    if not result.written_keys or not run.failures.is_file():
        return []
    statuses = read_statuses(run.root)
    try:
        return [f.key for f in read_failures(run.failures)
                if f.key in result.written_keys and statuses.get(f.key) != "done"]
    except NextEventError:
        return []  # a line that does not read back: the store reports it when opened


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
    "check_run",
    "export",
    "export_easyr1",
    "export_hf",
    "export_llamafactory",
    "export_run",
    "export_trl",
    "export_v1",
    "export_verl",
    "media_path",
    "nep_question",
    "parse_mix",
    "prev_question",
    "split_by_video",
]
