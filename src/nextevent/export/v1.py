"""Export records as V1-33K's ``next_event_prediction.json`` (Wang et al., arXiv 2505.22457).

The entry shape, and how each part maps onto an `NEPRecord`, is in `nextevent.sources.v1`,
which reads such a file back (`import_v1`). An entry is built from the record's typed
fields (`nextevent.sources.v1.v1_parts`), except that a part the import kept as it was
(``extra["v1_raw"]``: an odd spelling, a part that did not validate) is written back
unchanged while it still describes the record, and unknown keys (``extra["v1_other"]``)
are written back too, so ``export_v1(import_v1(path))`` reproduces the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nextevent.export.base import (
    ExportResult,
    confined_path,
    export_failure,
    unsafe_path_problem,
    write_json_list,
)
from nextevent.export.driver import Target
from nextevent.export.prepare import Prepared
from nextevent.records import Failure, NEPRecord, NextEventError
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

__all__ = ["FILE_NAME", "V1Target", "export_v1", "import_v1", "v1_entry"]
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


def v1_entry(record: NEPRecord, run_dir: Path, media_root: Path | None = None) -> dict[str, Any]:
    """One ``next_event_prediction.json`` entry for ``record``.

    ``video_path`` is the past segment (absolute, or relative to ``media_root``), else the
    original V1 string kept in ``extra``; ``full_video_path`` likewise from the probed
    source video (relative to ``media_root`` only when it lies under it).

    Raises:
        NextEventError: (stage ``export``) when the record has neither a past segment nor a
            kept ``video_path``, a media path holds a NUL or control character, the past
            segment lies outside the run directory or a kept V1 path is absolute or climbs
            out with ``..``, or its split leaves no future event.
    """
    extra = record.extra
    entry: dict[str, Any] = {}
    if record.past is not None:
        confined_path(record.past.path, run_dir, record.id, "past segment")
        entry["video_path"] = _written_path(record.past.path, run_dir, media_root,
                                            record.id, "past segment")
    elif isinstance(extra.get("video_path"), str):
        entry["video_path"] = _kept_v1_path(record, "video_path")
    else:
        raise NextEventError(
            "export",
            f"record {record.id} has no past segment and no V1 video_path",
            "cut the clips first, or import the record from a V1 file",
        )
    if record.video is not None:
        entry["full_video_path"] = _written_path(record.video.path, run_dir, media_root,
                                                 record.id, "full video")
    elif isinstance(extra.get("full_video_path"), str):
        entry["full_video_path"] = _kept_v1_path(record, "full_video_path")
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
    for key, value in (extra.get("v1_other") or {}).items():
        entry.setdefault(key, value)
    return entry


class V1Target(Target[NEPRecord]):
    """V1-33K's ``out_dir/next_event_prediction.json`` (a JSON list of `v1_entry`), one
    entry per record; an existing file is replaced whole.

    Text-only records are kept (V1 is a data format, not a trainer input); clip files are
    not checked. The strategy options and ``seed`` are not used (V1 entries have no
    question); ``media_root`` writes media paths relative to it instead of absolute.
    """

    name = "v1"
    parts = ("train",)
    takes_strategy = False

    def prepare(self, records: Iterable[NEPRecord]) -> Prepared[NEPRecord]:
        return Prepared([("train", records)], [], {})

    def row(self, item: NEPRecord, part: str, index: int) -> dict[str, Any]:
        return v1_entry(item, self.run_dir, self.options.media_root)

    def failure(self, err: NextEventError, item: NEPRecord) -> Failure:
        return export_failure(err, self.name, item.id)

    def part_path(self, part: str) -> Path:
        return self.out_dir / FILE_NAME

    def _write(self, part: str, rows: Iterable[dict[str, Any]]) -> Path:
        return write_json_list(self.part_path(part), rows)

    def facts(self, written: Mapping[str, Path], result: ExportResult) -> dict[str, Any]:
        return {"entries": result.count, "skipped": len(result.failures)}


export_v1 = V1Target.export
"""``export_v1(records, run_dir, out_dir, options=None, **fields)``: see `V1Target` and
`Target.export`."""
