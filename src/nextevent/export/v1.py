"""Export records as V1-33K's ``next_event_prediction.json`` (Wang et al., arXiv 2505.22457).

The entry shape, and how each part maps onto an `NEPRecord`, is in `nextevent.sources.v1`,
which reads such a file back (`import_v1`). An entry is built from the record's typed
fields (`nextevent.sources.v1.v1_parts`), except that a part the import kept as it was
(``extra["v1_raw"]``: an odd spelling, a part that did not validate) is written back
unchanged while it still describes the record, and unknown keys (``extra["v1_other"]``)
are written back too, so ``export_v1(import_v1(path))`` reproduces the file.

Two layouts (``ExportOptions.layout``, ``nextevent export --target v1 --layout``):

* ``run`` (default): the entries name the run's own files, absolute or relative to
  ``media_root``. V1's fields have no place for the future segment, so each entry of a
  record with one also carries ``future_video_path`` (a key of ours; V1's scripts do not
  read it, our import keeps it). V1's official converters (``video_data_generation.py`` in
  sail-sg/Video-Next-Event-Prediction) cannot use such an export: they drop the first
  folder of ``video_path`` and join the rest onto ``./V1-33K/first_part_video``, and their
  ``convert_to_prev_sft`` joins the same rest onto ``./V1-33K/second_part_video``; given
  one base folder for both, it would train previous-event prediction on ``past.mp4``. The
  summary says so.
* ``v1``: the release's tree under ``out_dir`` (`V1_DIRS`): the past segment at
  ``first_part_video/<source>/<record>.mp4``, the future segment at the same name under
  ``second_part_video/``, the source video at ``video_dataset/<source>/<video><suffix>``
  (hard links where the file system allows, else copies), and the entries name them
  relative to ``out_dir``. With ``out_dir`` named ``V1-33K``, the official script runs
  unchanged from its parent folder, and every converter, ``prev`` included, reads the
  right clip (``tests/test_v1_converters.py`` runs all eight).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nextevent.atomic import atomic_path
from nextevent.export.base import (
    ExportResult,
    export_failure,
    export_key,
    segment_file,
    unsafe_path_problem,
    write_json_list,
)
from nextevent.export.driver import Target
from nextevent.export.options import ExportOptions
from nextevent.export.prepare import Prepared
from nextevent.records import Failure, NEPRecord, NextEventError, PredictionSample
from nextevent.rundir import safe_name
from nextevent.sources.v1 import (
    RAW_FIELDS,
    import_v1,
    parse_critique,
    parse_events,
    parse_qa,
    parse_reasoning,
    parse_video_split,
    path_problem,
    v1_parts,
)

FILE_NAME = "next_event_prediction.json"

LAYOUTS = ("run", "v1")
"""``run``: entries name the run's files; ``v1``: the release's tree (see the module doc)."""

V1_DIRS = {"past": "first_part_video", "future": "second_part_video", "full": "video_dataset"}
"""The release's folders (V1 README, "Download the V1-33K dataset"; ``second_part_video``
is the default ``video_base_dir`` of the official ``convert_to_prev_sft``) by the video
each holds."""

FUTURE_FIELD = "future_video_path"
"""Our key for the future segment (V1's own fields have none); the official converters do
not read it."""

PREDICTIONS_FIELD = "more_predictions"
"""Our key for a record's predictions after the first (``build --predictions K``, K > 1):
a list, in sample order from 1, of ``{"index", "seed", "ds_reasoning", "o3_critique"}``
in V1's shapes (``o3_critique`` left out when the sample was not judged). V1's own
``ds_reasoning`` / ``o3_critique`` hold sample 0, so the entry keeps the published shape;
the official converters do not read this key, and `import_v1` keeps it as an unknown key
(written back unchanged), not as samples."""

__all__ = ["FILE_NAME", "FUTURE_FIELD", "LAYOUTS", "PREDICTIONS_FIELD", "V1_DIRS", "V1Target",
           "export_v1", "import_v1", "release_paths", "v1_entry"]
# import_v1 lives in nextevent.sources.v1; it is re-exported here only because
# tests/test_t3.py still imports it from this module.


def _written_path(path: str, run_dir: Path, media_root: Path | None, record_id: str,
                  what: str) -> str:
    """Absolute path, or relative to ``media_root`` when the file lies under it.

    Raises:
        NextEventError: (stage ``export``) when ``path`` holds a NUL or control character.
    """
    problem = unsafe_path_problem(path)
    if problem is not None:
        raise NextEventError("export", f"{what} of record {record_id} {problem}; the record "
                             "was skipped",
                             "fix or drop this record; the other records were exported")
    full = (run_dir / path).resolve()
    if media_root is not None:
        try:
            return full.relative_to(Path(media_root).resolve()).as_posix()
        except ValueError:
            pass
    return str(full)


def _kept_v1_path(record: NEPRecord, key: str) -> str:
    """The V1 path string the import kept, once it is a path inside the release folder
    (`nextevent.sources.v1.path_problem`: relative, no ``..`` out, no NUL or control
    character).

    Raises:
        NextEventError: (stage ``export``) naming the record and the field otherwise.
    """
    value = record.extra[key]
    problem = path_problem(value)
    if problem is not None:
        raise NextEventError(
            "export", f"V1 {key} of record {record.id} {problem}; the record was skipped",
            "fix or drop this record (V1 paths are relative to the release folder); the "
            "other records were exported")
    return value


def _raw_agrees(name: str, raw: Any, record: NEPRecord) -> bool:
    """True when a kept original value still describes the record (so it may be written
    instead of the typed value); False once a later stage changed that part."""
    try:
        if name == "events":
            return [e.text for e in parse_events(raw)] == [e.text for e in record.events]
        if name == "video_split":
            x, split_s, part1, part2 = parse_video_split(raw)
            return (
                x == record.split.last_past_event + 1
                and abs(split_s - record.split.split_s) < 0.005
                and (part1, part2) == (record.caption_part1, record.caption_part2)
            )
        typed: dict[str, Callable[[Any], Any]] = {
            "ds_reasoning": parse_reasoning,
            "o3_critique": parse_critique,
            "mc_qa": parse_qa,
            "oe_qa": parse_qa,
        }
        current = {"ds_reasoning": record.reasoning, "o3_critique": record.critique,
                   "mc_qa": record.mc_qa, "oe_qa": record.oe_qa}[name]
        # A part that never validated has no typed value: keep writing the original.
        return current is None or typed[name](raw) == current
    except (ValueError, ValidationError):
        return False


def _run_paths(record: NEPRecord, run_dir: Path, media_root: Path | None) -> dict[str, str]:
    """The media paths of a ``run`` layout entry (see `v1_entry`)."""
    extra = record.extra
    paths: dict[str, str] = {}
    if record.past is not None:
        segment_file(record, "past", run_dir)  # inside the run, and there: as every target
        paths["video_path"] = _written_path(record.past.path, run_dir, media_root,
                                            record.id, "past segment")
    elif isinstance(extra.get("video_path"), str):
        paths["video_path"] = _kept_v1_path(record, "video_path")
    else:
        raise NextEventError(
            "export",
            f"record {record.id} has no past segment and no V1 video_path",
            "cut the clips first, or import the record from a V1 file",
        )
    if record.video is not None:
        paths["full_video_path"] = _written_path(record.video.path, run_dir, media_root,
                                                 record.id, "full video")
    elif isinstance(extra.get("full_video_path"), str):
        paths["full_video_path"] = _kept_v1_path(record, "full_video_path")
    if record.future is not None:
        segment_file(record, "future", run_dir)
        paths[FUTURE_FIELD] = _written_path(record.future.path, run_dir, media_root,
                                            record.id, "future segment")
    return paths


def v1_entry(record: NEPRecord, run_dir: Path, media_root: Path | None = None, *,
             paths: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One ``next_event_prediction.json`` entry for ``record``.

    ``video_path`` is the past segment (absolute, or relative to ``media_root``), else the
    original V1 string kept in ``extra``; ``full_video_path`` likewise from the probed
    source video (relative to ``media_root`` only when it lies under it);
    ``future_video_path`` (`FUTURE_FIELD`) the future segment, when the record has one;
    V1's ``ds_reasoning`` / ``o3_critique`` its first prediction and `PREDICTIONS_FIELD`
    the others, when it has more than one.
    ``paths`` (``video_path``, ``full_video_path``, ``future_video_path`` -> string), when
    given, are written instead (the ``v1`` layout's `release_paths`).

    Raises:
        NextEventError: (stage ``export``) when the record has neither a past segment nor a
            kept ``video_path``, a media path holds a NUL or control character, the past
            or future segment lies outside the run directory or is missing
            (`segment_file`; ``run`` layout), or a kept V1 path is absolute
            or climbs out with ``..``, or its split leaves no future event.
    """
    extra = record.extra
    entry: dict[str, Any] = dict(paths) if paths is not None else _run_paths(
        record, run_dir, media_root)
    if record.caption is not None:
        entry["caption"] = record.caption

    if record.split.last_past_event + 1 >= len(record.events):
        raise NextEventError(
            "export",
            f"record {record.id}: last_past_event {record.split.last_past_event} leaves no "
            f"future event among {len(record.events)}",
            "re-plan the split so at least one event follows it",
        )
    parts = v1_parts(record)
    raw = extra.get("v1_raw") or {}
    for name in RAW_FIELDS:
        if name in raw and _raw_agrees(name, raw[name], record):
            entry[name] = raw[name]
        elif parts[name] is not None:
            entry[name] = parts[name]
    if len(record.samples) > 1:
        entry[PREDICTIONS_FIELD] = [_v1_sample(s) for s in record.samples[1:]]
    for key, value in (extra.get("v1_other") or {}).items():
        entry.setdefault(key, value)
    return entry


def _v1_sample(sample: PredictionSample) -> dict[str, Any]:
    """One entry of `PREDICTIONS_FIELD`: the sample in V1's part shapes."""
    out: dict[str, Any] = {"index": sample.index, "seed": sample.seed,
                           "ds_reasoning": sample.reasoning.model_dump(exclude_none=True)}
    if sample.critique is not None:
        out["o3_critique"] = {"Critique": sample.critique.critique,
                              "Conclusion": sample.critique.conclusion}
    return out


def _folder_name(text: str) -> str:
    """A plain folder name for a record's source (``activitynet``, ``jsonl``)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return name or "videos"


def release_paths(record: NEPRecord, run_dir: Path) -> dict[tuple[str, str], Path]:
    """Where the ``v1`` layout puts a record's videos: ``(field, path relative to the
    export folder) -> source file``, for ``video_path`` (the past segment under
    ``first_part_video/``), ``full_video_path`` (the source video under
    ``video_dataset/``) and, when the record has a future segment, `FUTURE_FIELD` (under
    ``second_part_video/``, with the same name as the past segment, which is where the
    official ``convert_to_prev_sft`` looks for it).

    Raises:
        NextEventError: (stage ``export``) when the record has no past segment or no
            source video, or a file is missing or lies outside the run directory.
    """
    if record.past is None:
        raise NextEventError(
            "export", f"record {record.id} has no past segment; --layout v1 lays out the "
            "clips as the V1-33K release does",
            "cut the clips first (nextevent build), or export it with --layout run, which "
            "keeps text-only and imported records")
    past = segment_file(record, "past", run_dir)
    if record.video is None:
        raise NextEventError(
            "export", f"record {record.id} has no source video; --layout v1 puts it under "
            f"{V1_DIRS['full']}/ for V1's full-video converters",
            "export a record built from a video (nextevent build), or use --layout run")
    problem = unsafe_path_problem(record.video.path)
    full = (run_dir / record.video.path).resolve() if problem is None else None
    if full is None or not full.is_file():
        raise NextEventError(
            "export", f"full video of record {record.id} "
            f"{problem or f'is missing: {full}'}; the record was skipped",
            "put the source video back where the build probed it, or use --layout run")
    folder = _folder_name(record.source)
    name = f"{folder}/{safe_name(record.id)}{past.suffix or '.mp4'}"
    files = {("video_path", f"{V1_DIRS['past']}/{name}"): past,
             ("full_video_path", f"{V1_DIRS['full']}/{folder}/{safe_name(record.video_id)}"
              f"{full.suffix}"): full}
    if record.future is not None:
        files[(FUTURE_FIELD, f"{V1_DIRS['future']}/{name}")] = segment_file(
            record, "future", run_dir)
    return files


def place_file(source: Path, dest: Path) -> str:
    """Put ``source`` at ``dest`` (replacing what is there): a hard link where the file
    system allows, else a copy, through a temporary name so ``dest`` is never half
    written. Returns ``"kept"`` (already that file), ``"linked"`` or ``"copied"``."""
    if dest.is_file() and os.path.samefile(source, dest):
        return "kept"
    with atomic_path(dest) as tmp:
        try:
            tmp.unlink()
            os.link(source, tmp)
            how = "linked"
        except OSError:
            shutil.copyfile(source, tmp)
            how = "copied"
    return how


class V1Target(Target[NEPRecord]):
    """V1-33K's ``out_dir/next_event_prediction.json`` (a JSON list of `v1_entry`), one
    entry per record; an existing file is replaced whole.

    Layout ``run`` (default): text-only records are kept (V1 is a data format, not a
    trainer input); a record whose clip file is missing is skipped with a `Failure`, as
    every target does; ``media_root`` writes media paths
    relative to it instead of absolute. Layout ``v1``: the release's tree (see the module
    doc); a record without clips or source video is skipped with a `Failure`, and files
    already in the tree that no entry names are left alone. The strategy options and
    ``seed`` are not used (V1 entries have no question).
    """

    name = "v1"
    parts = ("train",)
    takes_strategy = False
    layouts = LAYOUTS

    def __init__(self, run_dir: Path, out_dir: Path, options: ExportOptions) -> None:
        super().__init__(run_dir, out_dir, options)
        self._placed: dict[Path, Path] = {}  # dest -> source, this export
        self._how: dict[str, int] = {}
        self._futures = 0
        self._no_future = 0

    def start(self) -> None:
        if self.options.layout == "v1" and self.options.media_root is not None:
            raise ValueError("--layout v1 writes every media path relative to --out (the "
                             "release folder it lays out); drop --media-root")

    def prepare(self, records: Iterable[NEPRecord]) -> Prepared[NEPRecord]:
        return Prepared([("train", records)], [], {})

    def row(self, item: NEPRecord, part: str, index: int) -> dict[str, Any]:
        if self.options.layout != "v1":
            entry = v1_entry(item, self.run_dir, self.options.media_root)
            if item.future is not None:
                self._futures += 1
            return entry
        files = release_paths(item, self.run_dir)
        for (_, rel), source in files.items():
            dest = (self.out_dir / rel).resolve()
            if self._placed.get(dest, source) != source:
                raise NextEventError(
                    "export", f"record {item.id}: {rel} is already {self._placed[dest]} in "
                    f"this export, not {source}",
                    "give the two source videos different video ids; the other records were "
                    "exported")
        entry = v1_entry(item, self.run_dir, paths={k: rel for k, rel in files})
        for (_, rel), source in files.items():
            dest = (self.out_dir / rel).resolve()
            if dest not in self._placed:
                how = place_file(source, dest)
                self._how[how] = self._how.get(how, 0) + 1
                self._placed[dest] = source
        if item.future is None:
            self._no_future += 1
        return entry

    def failure(self, err: NextEventError, item: NEPRecord) -> Failure:
        return export_failure(err, self.name, item.id)

    def written_keys(self, item: NEPRecord) -> list[str]:
        return [export_key(self.name, item.id)]

    def part_path(self, part: str) -> Path:
        return self.out_dir / FILE_NAME

    def _write(self, part: str, rows: Iterable[dict[str, Any]]) -> Path:
        return write_json_list(self.part_path(part), rows)

    def head(self) -> dict[str, Any]:
        head: dict[str, Any] = {"target": self.name}
        if self.options.layout != "run":
            head["layout"] = self.options.layout
        return head

    def facts(self, written: Mapping[str, Path], result: ExportResult) -> dict[str, Any]:
        facts: dict[str, Any] = {"entries": result.count, "skipped": len(result.failures)}
        if self.options.layout == "v1":
            facts["videos"] = ", ".join(f"{n} {how}" for how, n in sorted(self._how.items())
                                        ) or "none"
            if self._no_future:
                facts["without a future segment"] = (
                    f"{self._no_future} (nothing under {V1_DIRS['future']}/: the official "
                    "convert_to_prev_sft skips them)")
        elif self._futures:
            facts["warning"] = (
                f"{self._futures} entries name their future segment only in {FUTURE_FIELD}, "
                "which V1's official converters do not read (their convert_to_prev_sft "
                f"looks under {V1_DIRS['future']}/ and, pointed at this run, would take "
                "past.mp4); for them export with --layout v1")
        return facts


export_v1 = V1Target.export
"""``export_v1(records, run_dir, out_dir, options=None, **fields)``: see `V1Target` and
`Target.export`."""
