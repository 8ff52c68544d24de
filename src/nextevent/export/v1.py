"""Round trip with V1-33K's ``next_event_prediction.json`` (Wang et al., arXiv 2505.22457).

One V1 entry (field names as released, shapes as read by V1's ``video_data_generation.py``
in sail-sg/Video-Next-Event-Prediction, commit 7250875d)::

    {
      "video_path": "first_part_video/.../x.mp4",          # past segment
      "full_video_path": "video_dataset/.../x.mp4",
      "caption": "...",                                    # full-video caption
      "events": [{"scene": "Scene 1", "description": "..."}, ...],
      "video_split": {
        "scenes_timestep": [{"Scene 3": "00:13.30"}],     # last past scene: split time
        "split_caption": {"caption_part1": "...", "caption_part2": "..."}
      },
      "ds_reasoning": {"reasoning_content": ..., "prediction_content": ...,
                       "rewritten_reasoning_content": ..., "rewritten_prediction_content": ...},
      "o3_critique": {"Critique": "...", "Conclusion": "right" | "wrong"},
      "mc_qa": [{"from": "human", "value": "..."}, {"from": "gpt", "value": "..."}],
      "oe_qa": [...]
    }

V1's scripts index ``events[X - 1]`` with the number of the ``scenes_timestep`` key,
check that its ``scene`` equals the key, and ask "given that the video just showed <that
scene>, what happens next?" with ``caption_part2`` as the answer: scenes are numbered from
1 and the key names the last scene *before* the split (Scene X of "between Scene X and
Scene Y", step 3 of the data construction); its value is the split time. Keys whose
value is missing are left out, as in the release.

`import_v1` keeps what the typed record cannot hold (the original path strings, fields we
do not know, parts that do not validate, spellings such as ``"Right"``) in
``NEPRecord.extra``, so ``export_v1(import_v1(path))`` writes the entries back unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from nextevent.export.base import ExportResult, export_failure, write_json_list
from nextevent.export.driver import Target
from nextevent.export.prepare import Prepared
from nextevent.records import (
    Critique,
    Event,
    Failure,
    NEPRecord,
    NextEventError,
    QATurn,
    Reasoning,
    SplitPlan,
)
from nextevent.timecode import format_timestamp, parse_timestamp

FILE_NAME = "next_event_prediction.json"
V1_REASON = "V1-33K split"

#: V1 fields with a typed home in `NEPRecord`; any other top-level key goes to
#: ``extra["v1_other"]`` and is written back as it was.
KNOWN_FIELDS = (
    "video_path", "full_video_path", "caption", "events", "video_split",
    "ds_reasoning", "o3_critique", "mc_qa", "oe_qa",
)
#: Fields whose original value is kept in ``extra["v1_raw"]`` when the typed record would
#: not write it back identically (or could not hold it at all).
RAW_FIELDS = ("events", "video_split", "ds_reasoning", "o3_critique", "mc_qa", "oe_qa")

_SCENE_KEY = re.compile(r"^Scene (\d+)$")


# ----------------------------------------------------------------------------- parts


def _parse_events(raw: Any) -> list[Event]:
    if not isinstance(raw, list):
        raise ValueError("'events' is not a list")
    events = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("description"), str):
            raise ValueError(f"events[{i}] has no 'description' string")
        events.append(Event(text=item["description"]))
    if len(events) < 2:
        raise ValueError(f"{len(events)} event(s); a split needs at least 2")
    return events


def _parse_video_split(raw: Any) -> tuple[int, float, str, str]:
    """(first future scene number Y, split seconds, caption_part1, caption_part2)."""
    if not isinstance(raw, dict):
        raise ValueError("'video_split' is not an object")
    steps = raw.get("scenes_timestep")
    if not isinstance(steps, list) or not steps or not isinstance(steps[0], dict):
        raise ValueError("'video_split.scenes_timestep' is not a list of {scene: time}")
    if len(steps[0]) != 1:
        raise ValueError("'video_split.scenes_timestep[0]' must hold exactly one scene")
    ((key, time),) = steps[0].items()
    match = _SCENE_KEY.match(str(key).strip())
    if not match:
        raise ValueError(f"scene key {key!r} is not 'Scene N'")
    if not isinstance(time, str):
        raise ValueError(f"split time {time!r} is not a string")
    split_s = parse_timestamp(time)
    parts = raw.get("split_caption")
    if not isinstance(parts, dict):
        raise ValueError("'video_split.split_caption' is missing")
    part1, part2 = parts.get("caption_part1"), parts.get("caption_part2")
    if not isinstance(part1, str) or not isinstance(part2, str):
        raise ValueError("'split_caption' needs caption_part1 and caption_part2 strings")
    return int(match.group(1)), split_s, part1, part2


def _parse_reasoning(raw: Any) -> Reasoning:
    return Reasoning.model_validate(raw)


def _parse_critique(raw: Any) -> Critique:
    if not isinstance(raw, dict):
        raise ValueError("'o3_critique' is not an object")
    conclusion = raw.get("Conclusion")
    if isinstance(conclusion, str):
        conclusion = conclusion.strip().strip(".").strip().lower()
    return Critique(critique=raw.get("Critique"), conclusion=conclusion)


def _parse_qa(raw: Any) -> list[QATurn]:
    if not isinstance(raw, list):
        raise ValueError("QA turns are not a list")
    return [QATurn.model_validate(turn) for turn in raw]


# ----------------------------------------------------------------------------- export


def _written_path(path: str, run_dir: Path, media_root: Path | None) -> str:
    """Absolute path, or relative to ``media_root`` when the file lies under it."""
    full = (run_dir / path).resolve()
    if media_root is not None:
        try:
            return full.relative_to(Path(media_root).resolve()).as_posix()
        except ValueError:
            pass
    return str(full)


def _typed_parts(record: NEPRecord) -> dict[str, Any]:
    """The V1 parts built from the record's typed fields (None: leave the key out)."""
    x = record.split.last_past_event + 1
    if x >= len(record.events):
        raise NextEventError(
            "export",
            f"record {record.id}: last_past_event {record.split.last_past_event} leaves no "
            f"future event among {len(record.events)}",
            "re-plan the split so at least one event follows it",
        )
    reasoning = record.reasoning.model_dump(exclude_none=True) if record.reasoning else None
    return {
        "events": [
            {"scene": f"Scene {i}", "description": event.text}
            for i, event in enumerate(record.events, start=1)
        ],
        "video_split": {
            "scenes_timestep": [{f"Scene {x}": format_timestamp(record.split.split_s)}],
            "split_caption": {
                "caption_part1": record.caption_part1,
                "caption_part2": record.caption_part2,
            },
        },
        "ds_reasoning": reasoning or None,
        "o3_critique": (
            {"Critique": record.critique.critique, "Conclusion": record.critique.conclusion}
            if record.critique
            else None
        ),
        "mc_qa": _dump_qa(record.mc_qa),
        "oe_qa": _dump_qa(record.oe_qa),
    }


def _dump_qa(turns: list[QATurn] | None) -> list[dict[str, Any]] | None:
    if turns is None:
        return None
    return [turn.model_dump(by_alias=True) for turn in turns]


def _raw_agrees(name: str, raw: Any, record: NEPRecord) -> bool:
    """True when a kept original value still describes the record (so it may be written
    instead of the typed value); False once a later stage changed that part."""
    try:
        if name == "events":
            return [e.text for e in _parse_events(raw)] == [e.text for e in record.events]
        if name == "video_split":
            x, split_s, part1, part2 = _parse_video_split(raw)
            return (
                x == record.split.last_past_event + 1
                and abs(split_s - record.split.split_s) < 0.005
                and (part1, part2) == (record.caption_part1, record.caption_part2)
            )
        typed: dict[str, Callable[[Any], Any]] = {
            "ds_reasoning": _parse_reasoning,
            "o3_critique": _parse_critique,
            "mc_qa": _parse_qa,
            "oe_qa": _parse_qa,
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
            kept ``video_path``, or its split leaves no future event.
    """
    extra = record.extra
    entry: dict[str, Any] = {}
    if record.past is not None:
        entry["video_path"] = _written_path(record.past.path, run_dir, media_root)
    elif isinstance(extra.get("video_path"), str):
        entry["video_path"] = extra["video_path"]
    else:
        raise NextEventError(
            "export",
            f"record {record.id} has no past segment and no V1 video_path",
            "cut the clips first, or import the record from a V1 file",
        )
    if record.video is not None:
        entry["full_video_path"] = _written_path(record.video.path, run_dir, media_root)
    elif isinstance(extra.get("full_video_path"), str):
        entry["full_video_path"] = extra["full_video_path"]
    if record.caption is not None:
        entry["caption"] = record.caption

    parts = _typed_parts(record)
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


# ----------------------------------------------------------------------------- import


def import_v1(path: Path, *, source: str = "v1") -> tuple[list[NEPRecord], list[Failure]]:
    """Read a V1-33K ``next_event_prediction.json`` into text-only `NEPRecord` objects.

    Each entry becomes a record with untimed events (V1 gives scene order, not times),
    ``video=None``, ``past=future=None`` and ``split = SplitPlan(split_s=<scenes_timestep
    time>, last_past_event=X-1, event_boundary_s=split_s, snapped_to="event_boundary",
    reason="V1-33K split")`` where ``Scene X`` is the last past scene. The id is the
    stem of ``full_video_path`` (else of ``video_path``) plus ``#<n>``, ``n`` counting
    repeats of the same video from 0. The original ``video_path`` / ``full_video_path``
    strings are kept in ``extra``; so are unknown keys (``extra["v1_other"]``) and any part
    the typed record would not write back identically (``extra["v1_raw"]``).

    Optional parts that do not validate (``ds_reasoning``, ``o3_critique``, ``mc_qa``,
    ``oe_qa``) are kept raw, with the typed field None; they do not fail the entry.

    Args:
        path: the JSON file (a list of entries).
        source: the records' ``source`` name.

    Returns:
        ``(records, failures)``: one `Failure` (stage ``import``, input ``<path>[<index>]``)
        per malformed entry: not an object, no ``video_path`` string, fewer than two
        events, a bad ``video_split`` (scene key, time, captions), a first future scene
        outside ``2..len(events)``, or a split time of 0.

    Raises:
        NextEventError: (stage ``import``) when the file does not exist, cannot be read,
            is not JSON or not a list.
    """
    path = Path(path)
    if not path.is_file():
        raise NextEventError(
            "import", f"{path} " + ("is a folder, not a file" if path.is_dir() else
                                    "does not exist"),
            "pass the path of V1-33K's next_event_prediction.json (a JSON list of entries)",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise NextEventError(
            "import", f"{path} cannot be read as UTF-8 text: {err}",
            "pass V1-33K's next_event_prediction.json (a JSON list of entries)",
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise NextEventError(
            "import", f"{path} is not valid JSON ({err})",
            "pass V1-33K's next_event_prediction.json (a JSON list of entries)",
        ) from None
    if not isinstance(data, list):
        raise NextEventError(
            "import", f"{path} holds a JSON {type(data).__name__}, not a list of entries",
            "pass V1-33K's next_event_prediction.json (a JSON list of entries)",
        )
    records: list[NEPRecord] = []
    failures: list[Failure] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(data):
        name = f"{path}[{index}]"
        try:
            record = _record_from_entry(entry, source, seen)
        except (ValueError, ValidationError) as err:
            reason = _one_line(err)
            failures.append(Failure(
                input=name, stage="import",
                error=f"V1 entry {index} of {path.name} is malformed: {reason}",
                hint="fix or drop this entry; the other entries were imported",
            ))
            continue
        records.append(record)
    return records, failures


def _record_from_entry(entry: Any, source: str, seen: dict[str, int]) -> NEPRecord:
    if not isinstance(entry, dict):
        raise ValueError(f"entry is a {type(entry).__name__}, not an object")
    video_path = entry.get("video_path")
    if not isinstance(video_path, str) or not video_path.strip():
        raise ValueError("no 'video_path' string (the past segment)")
    full_path = entry.get("full_video_path")
    if full_path is not None and not isinstance(full_path, str):
        raise ValueError("'full_video_path' is not a string")
    caption = entry.get("caption")
    if caption is not None and not isinstance(caption, str):
        raise ValueError("'caption' is not a string")

    events = _parse_events(entry.get("events"))
    x, split_s, part1, part2 = _parse_video_split(entry.get("video_split"))
    if not 1 <= x < len(events):
        raise ValueError(
            f"last past scene 'Scene {x}' is outside Scene 1..Scene {len(events) - 1}"
        )
    if split_s <= 0:
        raise ValueError("split time is 0; the past segment would be empty")

    optional: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    for name, parse, field in (
        ("ds_reasoning", _parse_reasoning, "reasoning"),
        ("o3_critique", _parse_critique, "critique"),
        ("mc_qa", _parse_qa, "mc_qa"),
        ("oe_qa", _parse_qa, "oe_qa"),
    ):
        if name in entry and entry[name] is not None:
            try:
                optional[field] = parse(entry[name])
            except (ValueError, ValidationError):
                raw[name] = entry[name]

    video_id = PurePosixPath(full_path or video_path).stem or "video"
    split_index = seen.get(video_id, 0)
    seen[video_id] = split_index + 1
    extra: dict[str, Any] = {"video_path": video_path}
    if full_path is not None:
        extra["full_video_path"] = full_path
    other = {k: v for k, v in entry.items() if k not in KNOWN_FIELDS}
    if other:
        extra["v1_other"] = other

    record = NEPRecord(
        id=f"{video_id}#{split_index}",
        source=source,
        video_id=video_id,
        video=None,
        events=events,
        split=SplitPlan(
            split_s=split_s, split_index=split_index, last_past_event=x - 1,
            event_boundary_s=split_s, snapped_to="event_boundary", reason=V1_REASON,
        ),
        caption=caption,
        caption_part1=part1,
        caption_part2=part2,
        extra=extra,
        **optional,
    )
    # Keep the original of every part the typed record would not write back as it was.
    parts = _typed_parts(record)
    for name in RAW_FIELDS:
        if name in entry and entry[name] is not None and parts[name] != entry[name]:
            raw[name] = entry[name]
    if raw:
        record.extra["v1_raw"] = raw
    return record


def _one_line(err: Exception) -> str:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(err)
