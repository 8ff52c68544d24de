"""nextevent's generic dense-caption format (``--format jsonl``).

One JSON object per line, one line per video::

    {"video_id": "bikes", "video": "bikes.mp4", "duration": 10.0,
     "events": [{"start": 0.0, "end": 1.2, "text": "A street is seen from above."},
                {"start": 1.2, "end": 3.04, "text": "A man walks between cars."}],
     "caption": "A city street montage."}

Fields:
    video_id (str, required): the video's id; unique in the file.
    video (str, optional): the video file, relative to the ``--videos`` folder; without
        it the file is looked up as ``<video_id>.<ext>`` (see `nextevent.sources.resolve`).
    duration (number, optional): the video's duration in seconds; enables clipping.
    events (list, optional): ``{"start": s, "end": s, "text": str}`` in seconds
        (``start_s``/``end_s`` are accepted too); leave out both times for untimed scenes.
        A video with no ``events`` (or ``[]``) is kept with no events, for the
        captioning path to fill.
    caption (str, optional): a caption of the whole video.
    Any other key is kept in ``VideoAnnotation.extra``.

Blank lines are skipped. Events are cleaned by `nextevent.sources.clean`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nextevent.records import Failure
from nextevent.sources.base import ImportResult, ResultBuilder, as_number, read_text
from nextevent.sources.clean import event_failure, short_repr

FORMAT = "jsonl"
_KNOWN = {"video_id", "video", "duration", "events", "caption"}
_HINT = ('each line must be one JSON object like {"video_id": "abc", "events": '
         '[{"start": 0.0, "end": 2.5, "text": "..."}]}')


def read_jsonl(path: Path) -> ImportResult:
    """Read a generic JSONL dense-caption file (times in seconds).

    A line that is not a JSON object, lacks a ``video_id``, repeats an earlier line's
    ``video_id``, or has a field of the wrong type becomes a `Failure` naming its line
    number; an event that is not an object becomes a `Failure` naming the line and
    event; the rest of the file goes on.

    Raises:
        NextEventError: stage ``import``, when the file is missing, not UTF-8 text, empty,
            or none of its lines can be read.
    """
    path = Path(path)
    text = read_text(path, FORMAT)
    builder = ResultBuilder(path, FORMAT, "jsonl")
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        obj, problem = _parse(line)
        if obj is not None and problem is None and obj["video_id"] in seen:
            problem = (f"repeats video_id {obj['video_id']!r} of line {seen[obj['video_id']]};"
                       " this line is ignored")
        if obj is None or problem is not None:
            builder.bad_entry(Failure(input=where, stage="import",
                                      error=f"{path}: line {lineno} {problem}",
                                      hint=_HINT, key=f"import:{path}:line {lineno}"))
            continue
        video_id = obj["video_id"]
        seen[video_id] = lineno
        raw: list[tuple[Any, Any, Any]] = []
        labels: list[str] = []
        bad: list[Failure] = []
        events = obj.get("events") or []
        for i, event in enumerate(events):
            label = f"line {lineno} event {i + 1} of {len(events)}"
            if not isinstance(event, dict):
                bad.append(event_failure(str(path), video_id, label, None,
                                         f"is a JSON {type(event).__name__}, not an object",
                                         _HINT))
                continue
            start = event.get("start", event.get("start_s"))
            end = event.get("end", event.get("end_s"))
            raw.append((start, end, event.get("text")))
            labels.append(label)
        duration = obj.get("duration")
        builder.add_video(
            video_id, raw, None if duration is None else float(duration), labels=labels,
            extra_failures=bad, keep_without_events=True, video_ref=obj.get("video"),
            caption=obj.get("caption"),
            extra={k: v for k, v in obj.items() if k not in _KNOWN})
    return builder.finish()


def _parse(line: str) -> tuple[dict[str, Any] | None, str | None]:
    """The line's object, or None and why it cannot be read."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        return None, f"is not valid JSON ({err.msg} at column {err.colno})"
    except ValueError as err:  # an integer of more digits than Python converts
        return None, f"has an integer too long to read ({str(err).split(';')[0]})"
    except RecursionError:
        return None, "is JSON nested too deeply to read"
    if not isinstance(obj, dict):
        return None, f"is a JSON {type(obj).__name__}, not an object"
    video_id = obj.get("video_id")
    if not isinstance(video_id, str) or not video_id.strip():
        return None, "has no 'video_id' string"
    if obj.get("video") is not None and not (isinstance(obj["video"], str) and obj["video"]):
        return None, f"has a 'video' that is not a file name ({obj['video']!r})"
    if obj.get("duration") is not None:
        duration = as_number(obj["duration"])
        if duration is None or duration <= 0:
            return None, ("has a duration that is not a positive number "
                          f"({short_repr(obj['duration'])})")
    if obj.get("events") is not None and not isinstance(obj["events"], list):
        return None, "has 'events' that is not a list"
    if obj.get("caption") is not None and not isinstance(obj["caption"], str):
        return None, "has a 'caption' that is not a string"
    return obj, None
