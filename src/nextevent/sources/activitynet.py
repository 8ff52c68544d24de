"""ActivityNet Captions importer (``--format activitynet``).

File layout (``train.json``, ``val_1.json``, ...; one JSON object for the whole file)::

    {"v_QOlSCBRmfWY": {"duration": 82.73,
                       "timestamps": [[0.83, 19.86], [17.37, 60.81], ...],
                       "sentences": ["A young woman is seen ...", " The girl ...", ...]},
     ...}

Times are seconds. The video id keeps its ``v_`` prefix; `nextevent.sources.resolve`
also finds the video file without it. Events are cleaned by `nextevent.sources.clean`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nextevent.records import Failure
from nextevent.sources.base import (
    ImportResult,
    ResultBuilder,
    as_number,
    entry_failure,
    format_error,
    load_json,
    object_problem,
    paired_lists_problem,
)
from nextevent.sources.clean import event_failure, short_repr

FORMAT = "activitynet"
_KEYS = ("duration", "timestamps", "sentences")
_HINT = ("each video needs 'duration' (seconds), 'timestamps' ([[start, end], ...] in "
         "seconds) and 'sentences' (one per timestamp)")


def read_activitynet(path: Path) -> ImportResult:
    """Read an ActivityNet Captions file (times in seconds).

    A video entry that cannot be read (missing key, duration not a positive number,
    timestamps and sentences of different lengths) becomes a `Failure` naming its video
    id; an event whose timestamp is not a ``[start, end]`` pair becomes a `Failure` naming
    its position; the rest of the file goes on.

    Raises:
        NextEventError: stage ``import``, when the file is missing, not JSON, not an
            object of video entries, or none of its entries can be read.
    """
    path = Path(path)
    data = load_json(path, FORMAT)
    builder = ResultBuilder(path, FORMAT, "activitynet")
    if not isinstance(data, dict):
        raise format_error(path, FORMAT, f"the top level is a JSON {type(data).__name__}, "
                                         "not an object of video entries")
    for video_id, entry in data.items():
        problem = _entry_problem(entry)
        if problem:
            builder.bad_entry(entry_failure(path, video_id, problem, _HINT))
            continue
        raw: list[tuple[Any, Any, Any]] = []
        labels: list[str] = []
        bad: list[Failure] = []
        n = len(entry["sentences"])
        for i, (span, text) in enumerate(zip(entry["timestamps"], entry["sentences"], strict=True)):
            label = f"event {i + 1} of {n}"
            if not isinstance(span, list) or len(span) != 2:
                bad.append(event_failure(str(path), video_id, label, text,
                                         f"has a timestamp that is not [start, end] ({span!r})",
                                         _HINT))
                continue
            raw.append((span[0], span[1], text))
            labels.append(label)
        builder.add_video(video_id, raw, float(entry["duration"]), labels=labels,
                          extra_failures=bad)
    return builder.finish()


def _entry_problem(entry: Any) -> str | None:
    """Why a video entry cannot be read, or None."""
    problem = object_problem(entry, _KEYS)
    if problem:
        return problem
    duration = as_number(entry["duration"])
    if duration is None or duration <= 0:
        return f"duration {short_repr(entry['duration'])} is not a positive number of seconds"
    return paired_lists_problem(entry)
