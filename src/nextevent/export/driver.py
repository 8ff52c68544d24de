"""The one export loop every target runs: records -> items -> parts -> rows -> files.

A target says only how an item becomes a row (`Target.row`) and how a part's rows are
written (`Target._write`), the shape of datatrove's writers (huggingface/datatrove,
``src/datatrove/pipeline/writers/disk_base.py``: a ``DiskWriter`` subclass overrides one
``_write``). `run_export` does the rest, once for all targets:

1. `Target.start`: checks that fail before anything is read or written (and, for every
   target, that it has the layout asked for: `Target.layouts`);
2. `Target.prepare`: the items to write, split into parts (for `SampleTarget`: the
   strategy's samples, train and validation split by video; for ``v1``: the records);
3. per part, `Target.row` for each item; an item it cannot write (`NextEventError`)
   becomes a `Failure` and the export goes on; `Target._write` writes the rows. Each
   part's first row is made before anything is written: when no part has a row, nothing
   is written, dropped or finished, so an earlier export in ``out_dir`` stays whole;
4. a part not written this time is dropped (`Target.drop_part`: no stale validation
   file from an earlier run), `Target.finish` writes what goes beside the data (configs,
   launch scripts), and the summary is the target's name, the strategy report and
   `Target.facts`. With a difficulty option (``--min-pass-rate``, ``--max-pass-rate``,
   ``--curriculum``, ``--sample-reward``) `DIFFICULTY_FILE` lists every record's pass
   rate (and mean reward) beside the data.
"""

from __future__ import annotations

import dataclasses
import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from nextevent.export.base import ExportResult, export_key
from nextevent.export.options import ExportOptions
from nextevent.export.prepare import (
    Prepared,
    prepare,
    report_facts,
    sample_failure,
    sample_failure_key,
    sample_media,
)
from nextevent.export.sampling import ClipSampling, VideoSampling
from nextevent.export.strategies import Sample
from nextevent.records import Failure, NEPRecord, NextEventError

Item = TypeVar("Item")

DIFFICULTY_FILE = "difficulty.jsonl"
"""One line per record read (`nextevent.export.selection.difficulty_rows`): its pass
rate, verdict counts, mean sample reward and whether the pass-rate bounds kept it."""

KEEP_ORDER = ("the trainers shuffle by default: the LLaMA-Factory YAMLs and EasyR1's "
              "train_grpo.sh written here turn it off (disable_shuffling: true, "
              "data.shuffle=false); for verl set data.shuffle=False, for TRL GRPOConfig("
              "shuffle_dataset=False)")
"""What the summary says with ``--curriculum``."""

RL_REFUSED = ("cft", "dpo")
"""Strategies an RL target cannot take: their targets are no reference a reward scores."""


class Target(ABC, Generic[Item]):
    """One export format: how an item becomes a row and how a part's rows are written.

    Args:
        run_dir: the run directory the records' segment paths are relative to.
        out_dir: the folder to write into (created by the writes if missing).
        options: the export's options.

    Subclasses set `name` and implement `prepare`, `row`, `failure`, `part_path`, `_write`
    and `facts`; `start`, `drop_part`, `finish`, `head` and `written_keys` have defaults.
    """

    name: ClassVar[str]
    """The target's name (``--target``), in the summary and the failure keys."""

    parts: ClassVar[tuple[str, ...]] = ("train", "validation")
    """Every part the target can write; one not written this time is dropped."""

    takes_strategy: ClassVar[bool] = True
    """Whether the target takes the strategy options (``v1`` writes records as they are)."""

    layouts: ClassVar[tuple[str, ...]] = ("run",)
    """The ``options.layout`` values the target takes (`run_export` refuses others)."""

    def __init__(self, run_dir: Path, out_dir: Path, options: ExportOptions) -> None:
        self.run_dir, self.out_dir, self.options = Path(run_dir), Path(out_dir), options

    @classmethod
    def export(cls, records: Iterable[NEPRecord], run_dir: Path, out_dir: Path,
               options: ExportOptions | None = None, **fields: Any) -> ExportResult:
        """Export ``records`` to this target; ``fields`` override fields of ``options``
        (see `ExportOptions`), e.g. ``export_llamafactory(records, run, out, seed=3)``.

        Raises:
            TypeError: for a keyword that is no `ExportOptions` field.
            ValueError, NextEventError: as the target's `start` and `prepare`.
        """
        options = dataclasses.replace(options or ExportOptions(), **fields)
        return run_export(cls(run_dir, out_dir, options), records)

    def start(self) -> None:
        """Checks that fail before anything is read or written (bad options, a missing
        library, a file the export would have to overwrite but cannot read)."""

    @abstractmethod
    def prepare(self, records: Iterable[NEPRecord]) -> Prepared[Item]:
        """The items to write, in parts, with the failures met making them."""

    @abstractmethod
    def row(self, item: Item, part: str, index: int) -> dict[str, Any]:
        """The row ``item`` is written as; ``index`` counts the part's rows from 0.

        Raises:
            NextEventError: (stage ``export``) when the item cannot be written; it is then
                skipped with a `Failure`.
        """

    @abstractmethod
    def part_path(self, part: str) -> Path:
        """The data file of ``part``."""

    @abstractmethod
    def _write(self, part: str, rows: Iterable[dict[str, Any]]) -> Path:
        """Write ``rows`` (consumed once, in order) as ``part``'s data file, atomically.

        Returns:
            The resolved path written.
        """

    def drop_part(self, part: str) -> None:
        """Forget a part this export did not write (by default: delete its stale file)."""
        self.part_path(part).unlink(missing_ok=True)

    def finish(self, written: Mapping[str, Path], result: ExportResult) -> list[Path]:
        """Write what goes beside the data (``written``: part -> data file); returns the
        files written."""
        return []

    @abstractmethod
    def facts(self, written: Mapping[str, Path], result: ExportResult) -> dict[str, Any]:
        """The target's summary facts (after the strategy report)."""

    def head(self) -> dict[str, Any]:
        """The summary's first facts."""
        return {"target": self.name}

    @abstractmethod
    def failure(self, err: NextEventError, item: Item) -> Failure:
        """The `Failure` for an item `row` could not write."""

    def written_keys(self, item: Item) -> list[str]:
        """The `Failure` keys an earlier export may have given ``item`` that writing it
        now answers (`nextevent.store.is_resolved`); by default none."""
        return []


class SampleTarget(Target[Sample]):
    """A target that writes the strategy's samples (every target but ``v1``).

    `prepare` builds the samples of ``options.strategy`` and splits them by video;
    a target with ``rl = True`` refuses strategies whose target is no reference a
    reward can score (see `check_rl_strategy`).
    """

    rl: ClassVar[bool] = False
    """Whether the target trains with a reward against the sample's reference."""

    def __init__(self, run_dir: Path, out_dir: Path, options: ExportOptions) -> None:
        super().__init__(run_dir, out_dir, options)
        self.clips = ClipSampling(self.run_dir)
        """The clip settings of the records read and the videos written (`sampling`)."""

    def start(self) -> None:
        if self.rl:
            check_rl_strategy(self.options.strategy, self.options.mix, self.name)

    def prepare(self, records: Iterable[NEPRecord]) -> Prepared[Sample]:
        return prepare(self.clips.watch(records), self.run_dir, self.options)

    def sampling(self) -> VideoSampling:
        """The frame rate and size a training config should sample the written videos at:
        the clips' own when they were written so (`nextevent.export.sampling`)."""
        return self.clips.sampling()

    def head(self) -> dict[str, Any]:
        return {"target": self.name, "strategy": self.options.strategy,
                "seed": self.options.seed}

    def failure(self, err: NextEventError, item: Sample) -> Failure:
        return sample_failure(err, self.name, item)

    def written_keys(self, item: Sample) -> list[str]:
        # the sample's own key (`sample_failure`) and its record's for the strategy
        # (`nextevent.export.selection`: a record that gave that strategy no sample)
        return [sample_failure_key(self.name, item), export_key(item.strategy, item.record_id)]

    def media(self, sample: Sample) -> list[str]:
        """The sample's video paths as written (see `sample_media`).

        Raises:
            NextEventError: (stage ``export``) when a video lies outside ``media_root``.
        """
        paths = sample_media(sample, self.run_dir, self.options.media_root)
        self.clips.note(sample.videos)
        return paths


def check_rl_strategy(strategy: str, mix: Mapping[str, float] | None, target: str) -> None:
    """Refuse strategies without a scorable reference for an RL target.

    Raises:
        ValueError: for ``cft`` or ``dpo`` (or a mix holding ``cft``), naming the target.
    """
    bad = [s for s in [strategy, *(mix or {})] if s in RL_REFUSED]
    if bad:
        raise ValueError(
            f"--target {target} trains with a reward against a reference answer; "
            f"--strategy {bad[0]} has none. Export {bad[0]} with --target llamafactory "
            "(or trl/hf), and use sft, distill, prev, caption, mcqa, oeqa or whats-next here"
        )


def counts(result: ExportResult) -> dict[str, int]:
    """``{"samples": rows written, "skipped": failures}`` for a summary."""
    return {"samples": result.count, "skipped": len(result.failures)}


def run_export(target: Target[Any], records: Iterable[NEPRecord]) -> ExportResult:
    """Run one export (see the module doc for the steps).

    Returns:
        `ExportResult`: the data files (train, then validation) and the files beside
        them, the row count, one `Failure` per record or sample skipped, the summary.

    Raises:
        ValueError: for a layout the target does not have (`Target.layouts`), or a
            ``media_root`` that is not a folder (`check_media_root`).
        ValueError, NextEventError: as the target's `start` and `prepare` (bad options,
            a split that needs more videos, ...).
    """
    layout = target.options.layout
    if layout not in target.layouts:
        raise ValueError(f"--layout {layout} is not a layout of --target {target.name} "
                         f"(it has: {', '.join(target.layouts)}); --layout v1 is for "
                         "--target v1")
    check_media_root(target.options.media_root)
    target.start()
    prepared = target.prepare(records)
    result = ExportResult(failures=list(prepared.failures), summary=target.head())
    streams = _peeked(target, prepared.parts, result)
    if streams is None:
        # Not one row: an earlier export in out_dir stays whole (nothing written, dropped
        # or finished), and the caller reports the 0 samples.
        result.summary.update(report_facts(prepared.report))
        result.summary.update(counts(result))
        result.summary["written"] = f"nothing; {target.out_dir} was left as it was"
        return result
    written: dict[str, Path] = {}
    for part, rows in streams:
        written[part] = target._write(part, rows)
    for part in target.parts:
        if part not in written:
            target.drop_part(part)
    result.files = [*written.values(), *target.finish(written, result)]
    if prepared.difficulty:
        result.files.append(write_difficulty(target.out_dir, prepared.difficulty))
    result.summary.update(report_facts(prepared.report))
    if prepared.report.get("curriculum"):
        result.summary["order"] = KEEP_ORDER
    result.summary.update(target.facts(written, result))
    return result


MEDIA_ROOT_HINT = ("pass the folder the media paths should be relative to (one holding "
                   "the run's clips), or leave it out for absolute paths")
"""What to do about a ``--media-root`` that `check_media_root` refuses."""


def check_media_root(media_root: Path | None) -> None:
    """Refuse a ``--media-root`` that is not an existing folder, before anything is read
    or written (every path would otherwise fail, or be written unchecked).

    Raises:
        ValueError: naming the folder (``--media-root X is not a folder``), then
            `MEDIA_ROOT_HINT`.
    """
    if media_root is not None and not Path(media_root).is_dir():
        raise ValueError(f"--media-root {media_root} is not a folder; {MEDIA_ROOT_HINT}")


def _peeked(target: Target[Item], parts: Iterable[tuple[str, Iterable[Item]]],
            result: ExportResult) -> list[tuple[str, Iterator[dict[str, Any]]]] | None:
    """Each part's row stream, once some part is known to yield a row (its first row is
    pulled ahead, the rest stays lazy); None when no part yields one."""
    streams: list[tuple[str, Iterator[dict[str, Any]]]] = []
    found = False
    for part, items in parts:
        rows = _rows(target, part, items, result)
        if not found:
            first = next(rows, None)
            if first is not None:
                found = True
                rows = itertools.chain([first], rows)
        streams.append((part, rows))
    return streams if found else None


def write_difficulty(out_dir: Path, rows: list[dict[str, Any]]) -> Path:
    """Write `DIFFICULTY_FILE` in ``out_dir`` atomically; returns its resolved path.

    Raises:
        OSError: when the folder cannot be written.
    """
    from nextevent.jsonl import write_jsonl

    path = Path(out_dir) / DIFFICULTY_FILE
    write_jsonl(path, rows)
    return path.resolve()


def _rows(target: Target[Item], part: str, items: Iterable[Item], result: ExportResult
          ) -> Iterator[dict[str, Any]]:
    """The rows of ``items``, counting each in ``result`` and recording a `Failure` for
    each item the target cannot write."""
    index = 0
    for item in items:
        try:
            row = target.row(item, part, index)
        except NextEventError as err:
            result.failures.append(target.failure(err, item))
            continue
        index += 1
        result.count += 1
        result.written_keys.update(target.written_keys(item))
        yield row
