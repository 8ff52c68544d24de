"""V1-33K's ``next_event_prediction.json`` (Wang et al., arXiv 2505.22457) read into records.

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
Scene Y", step 3 of the data construction); its value is the split time (``MM:SS.ss``,
`nextevent.timecode`). Keys whose value is missing are left out, as in the release.

This module reads the parts (``parse_*``) and builds them from a record (`v1_parts`);
`import_v1` reads a file. It keeps what the typed record cannot hold (the original path
strings, fields we do not know, parts that do not validate, spellings such as
``"Right"``) in ``NEPRecord.extra``, so `nextevent.export.v1` writes the entries back
unchanged (``export_v1(import_v1(path))``).
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

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

#: The V1 fields that name a media file; `check_media_path` confines each of them.
PATH_FIELDS = ("video_path", "full_video_path")


# ----------------------------------------------------------------------------- paths


def path_problem(value: str) -> str | None:
    """Why a media path string from a V1 entry may not be used, or None when it may.

    A V1 path is relative to the release folder (``--media-root``): it may not be empty,
    hold a NUL or another control character, be absolute (``/etc/passwd``, ``C:\\x``,
    ``\\\\server\\share``) or climb out of that folder with ``..``
    (``../../etc/shadow``; ``a/../b`` is fine). The check is lexical: it needs no file.
    """
    if not value.strip():
        return "is empty"
    bad = next((c for c in value if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        name = "a NUL byte" if bad == "\0" else f"a control character ({bad!r})"
        return f"holds {name}"
    if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
        return f"is an absolute path ({value!r}); V1 paths are relative to --media-root"
    parts = re.split(r"[/\\]", value)
    depth = 0
    for part in parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return f"climbs out of --media-root with '..' ({value!r})"
        elif part not in ("", "."):
            depth += 1
    return None


def check_media_path(value: str, field: str, media_root: Path | None = None) -> None:
    """Refuse a V1 media path that would name a file outside the release folder.

    Args:
        value: the path string of the entry.
        field: its field name (``video_path``, ``full_video_path``), for the message.
        media_root: the release folder; when given, the path is also resolved against it
            (symbolic links followed) and must stay inside it.

    Raises:
        ValueError: naming ``field`` and why (see `path_problem`).
    """
    problem = path_problem(value)
    if problem is None and media_root is not None:
        root = Path(os.path.realpath(media_root))
        full = Path(os.path.realpath(root / value))
        if full != root and root not in full.parents:
            problem = f"resolves to {full}, outside --media-root {root}"
    if problem is not None:
        raise ValueError(f"'{field}' {problem}")


# ----------------------------------------------------------------------------- parts


def parse_events(raw: Any) -> list[Event]:
    """V1 ``events`` (``[{"scene", "description"}, ...]``) as untimed `Event` objects, in
    scene order.

    Raises:
        ValueError: when ``raw`` is not a list, an item has no ``description`` string, or
            there are fewer than 2 events; pydantic's ``ValidationError`` (a ValueError)
            for an empty description.
    """
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


def parse_video_split(raw: Any) -> tuple[int, float, str, str]:
    """V1 ``video_split`` as ``(X, split seconds, caption_part1, caption_part2)``, where
    ``Scene X`` (the ``scenes_timestep`` key) is the last scene before the split.

    Raises:
        ValueError: when a part is missing or has the wrong type, the key is not
            ``Scene N``, or the time is not ``MM:SS.ss`` (`parse_timestamp`).
    """
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


def parse_reasoning(raw: Any) -> Reasoning:
    """V1 ``ds_reasoning`` as `Reasoning`.

    Raises:
        pydantic.ValidationError: when it does not validate.
    """
    return Reasoning.model_validate(raw)


def parse_critique(raw: Any) -> Critique:
    """V1 ``o3_critique`` as `Critique`; the conclusion is read case- and
    full-stop-insensitively (``"Right."`` is ``right``).

    Raises:
        ValueError: when ``raw`` is not an object, or it does not validate.
    """
    if not isinstance(raw, dict):
        raise ValueError("'o3_critique' is not an object")
    conclusion = raw.get("Conclusion")
    if isinstance(conclusion, str):
        conclusion = conclusion.strip().strip(".").strip().lower()
    return Critique(critique=raw.get("Critique"), conclusion=conclusion)


def parse_qa(raw: Any) -> list[QATurn]:
    """V1 ``mc_qa`` / ``oe_qa`` (``[{"from", "value"}, ...]``) as `QATurn` objects.

    Raises:
        ValueError: when ``raw`` is not a list, or a turn does not validate.
    """
    if not isinstance(raw, list):
        raise ValueError("QA turns are not a list")
    return [QATurn.model_validate(turn) for turn in raw]


def v1_parts(record: NEPRecord) -> dict[str, Any]:
    """The V1 parts (the `RAW_FIELDS`) built from the record's typed fields; None: the
    record has no such part (the key is left out).

    The record's split must leave a future event (``last_past_event + 1 <
    len(events)``); `import_v1` ensures it and `nextevent.export.v1.v1_entry` checks it.
    """
    x = record.split.last_past_event + 1
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


# ----------------------------------------------------------------------------- import


def import_v1(path: Path, *, source: str = "v1", media_root: Path | None = None
              ) -> tuple[list[NEPRecord], list[Failure]]:
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
        media_root: the release folder the entries' ``video_path`` and
            ``full_video_path`` are relative to; when given they must also resolve inside
            it (`check_media_path`). Without it they are checked lexically only.

    Returns:
        ``(records, failures)``: one `Failure` (stage ``import``, input ``<path>[<index>]``)
        per malformed entry: not an object, no ``video_path`` string, a media path that
        is absolute, climbs out with ``..``, holds a NUL or control character (or, with
        ``media_root``, resolves outside it), fewer than two events, a bad
        ``video_split`` (scene key, time, captions), a first future scene outside
        ``2..len(events)``, or a split time of 0.

    Raises:
        NextEventError: (stage ``import``) when the file does not exist, cannot be read,
            is not UTF-8, is not JSON (or nests too deep to parse) or not a list.
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
    except UnicodeDecodeError as err:
        raise NextEventError(
            "import", f"{path} is not UTF-8 text ({err.reason} at byte {err.start})",
            "pass V1-33K's next_event_prediction.json (a JSON list of entries)",
        ) from None
    except OSError as err:
        raise NextEventError(
            "import", f"cannot read {path}: {err.strerror or err}",
            "check the file's permissions (it must be readable), or pass another file",
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise NextEventError(
            "import", f"{path} is not valid JSON ({err})",
            "pass V1-33K's next_event_prediction.json (a JSON list of entries)",
        ) from None
    except RecursionError:
        raise NextEventError(
            "import", f"{path} nests JSON arrays or objects too deeply to read",
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
            record = _record_from_entry(entry, source, seen, media_root)
        except (ValueError, ValidationError, RecursionError) as err:
            reason = _one_line(err)
            failures.append(Failure(
                input=name, stage="import",
                error=f"V1 entry {index} of {path.name} is malformed: {reason}",
                hint="fix or drop this entry; the other entries were imported",
            ))
            continue
        records.append(record)
    return records, failures


def _record_from_entry(entry: Any, source: str, seen: dict[str, int],
                       media_root: Path | None = None) -> NEPRecord:
    if not isinstance(entry, dict):
        raise ValueError(f"entry is a {type(entry).__name__}, not an object")
    video_path = entry.get("video_path")
    if not isinstance(video_path, str) or not video_path.strip():
        raise ValueError("no 'video_path' string (the past segment)")
    check_media_path(video_path, "video_path", media_root)
    full_path = entry.get("full_video_path")
    if full_path is not None and not isinstance(full_path, str):
        raise ValueError("'full_video_path' is not a string")
    if full_path is not None:
        check_media_path(full_path, "full_video_path", media_root)
    caption = entry.get("caption")
    if caption is not None and not isinstance(caption, str):
        raise ValueError("'caption' is not a string")

    events = parse_events(entry.get("events"))
    x, split_s, part1, part2 = parse_video_split(entry.get("video_split"))
    if not 1 <= x < len(events):
        raise ValueError(
            f"last past scene 'Scene {x}' is outside Scene 1..Scene {len(events) - 1}"
        )
    if split_s <= 0:
        raise ValueError("split time is 0; the past segment would be empty")

    optional: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    for name, parse, field in (
        ("ds_reasoning", parse_reasoning, "reasoning"),
        ("o3_critique", parse_critique, "critique"),
        ("mc_qa", parse_qa, "mc_qa"),
        ("oe_qa", parse_qa, "oe_qa"),
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
    parts = v1_parts(record)
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


def store_import(run_dir: Path, records: list[NEPRecord], failures: list[Failure]) -> int:
    """Store what `import_v1` read in the run ``run_dir`` (``nextevent import v1``).

    Holds the run's `nextevent.rundir.RunLock` while writing, so it never mixes with a
    build writing the same run; a record already there from the same V1 entry (same id,
    same ``video_path`` and ``full_video_path``) is not written twice. A record whose id
    the run already holds for another video (ids are the file stem plus ``#n``: another
    folder's ``x.mp4``, or a build's record) is not written either; a `Failure` (stage
    ``import``) saying so is appended to ``failures``. The failures become lines of the
    run's ``failures.jsonl``.

    Returns:
        The number of records newly written.

    Raises:
        NextEventError: stage ``lock`` when another process writes the run; stage
            ``store`` when the run directory cannot be written.
    """
    from nextevent.rundir import RunDir, RunLock
    from nextevent.store import RunStore

    with RunLock(RunDir(run_dir), "import v1"), RunStore(run_dir) as store:
        held = {r.id for r in records if store.has_record(r.id)}
        stored = {r.id: r for r in store.records() if r.id in held} if held else {}
        new = 0
        for record in records:
            if record.id not in held:
                new += store.add_record(record)
            elif _entry_paths(stored[record.id]) != _entry_paths(record):
                failures.append(_collision(record, stored[record.id]))
        for failure in failures:
            store.add_failure(failure)
    return new


def _entry_paths(record: NEPRecord) -> tuple[Any, Any]:
    """What tells V1 entries apart: their ``video_path`` and ``full_video_path``."""
    return record.extra.get("video_path"), record.extra.get("full_video_path")


def _collision(record: NEPRecord, held: NEPRecord) -> Failure:
    """The `Failure` of an imported record whose id the run holds for another video."""
    video_path = record.extra.get("video_path")
    kept = _entry_paths(held)[0] or (held.video.path if held.video else None)
    what = (f"the V1 entry of {kept!r}" if held.source == record.source and kept
            else f"a {held.source} record of {kept or held.video_id!r}")
    return Failure(
        input=str(video_path), stage="import", key=f"import:collision:{record.id}:{video_path}",
        error=f"V1 entry of {video_path!r} would be record {record.id}, which the run "
              f"already holds for {what} (ids are the file stem plus #n); it was not "
              "imported",
        hint="import this file into another --out (a run can hold one video per file "
             "stem); the other entries were imported")
