"""TACoS importer (``--format tacos``).

File layout (one JSON object for the whole file; times are FRAME numbers)::

    {"s30-d52.avi": {"num_frames": 7346, "fps": 29.4,
                     "timestamps": [[141, 354], [361, 732], ...],
                     "sentences": ["She took out kiwi", ...]},
     ...}

Frames become seconds as ``frame / fps``; the video's duration is ``num_frames / fps``
seconds. Each video is described by several annotators one after another, so the same
moment is listed several times (exact repeats are dropped as duplicates; the rest go
through the overlap rule of `nextevent.sources.clean`). The video id is the file name
as given (``s30-d52.avi``); `nextevent.sources.resolve` also finds ``s30-d52.mp4``.
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
from nextevent.sources.clean import event_failure

FORMAT = "tacos"
_KEYS = ("num_frames", "fps", "timestamps", "sentences")
_HINT = ("each video needs 'num_frames', 'fps' (frames per second), 'timestamps' "
         "([[start_frame, end_frame], ...]) and 'sentences' (one per timestamp)")


def read_tacos(path: Path) -> ImportResult:
    """Read a TACoS file; frame numbers become seconds (``frame / fps``).

    ``VideoAnnotation.duration_s`` is ``num_frames / fps`` seconds. A video entry that
    cannot be read (missing key, ``fps`` or ``num_frames`` not a positive number,
    timestamps and sentences of different lengths) becomes a `Failure` naming its video
    id; an event whose timestamp is not a pair of frame numbers becomes a `Failure` naming
    its position; the rest of the file goes on.

    Raises:
        NextEventError: stage ``import``, when the file is missing, not JSON, not an
            object of video entries, or none of its entries can be read.
    """
    path = Path(path)
    data = load_json(path, FORMAT)
    if not isinstance(data, dict):
        raise format_error(path, FORMAT, f"the top level is a JSON {type(data).__name__}, "
                                         "not an object of video entries")
    builder = ResultBuilder(path, FORMAT, "tacos")
    for video_id, entry in data.items():
        problem = _entry_problem(entry)
        if problem:
            builder.bad_entry(entry_failure(path, video_id, problem, _HINT))
            continue
        fps = float(entry["fps"])
        raw: list[tuple[Any, Any, Any]] = []
        labels: list[str] = []
        bad: list[Failure] = []
        n = len(entry["sentences"])
        for i, (span, text) in enumerate(zip(entry["timestamps"], entry["sentences"], strict=True)):
            label = f"event {i + 1} of {n}"
            frames = ([as_number(v) for v in span]
                      if isinstance(span, list) and len(span) == 2 else [None, None])
            if frames[0] is None or frames[1] is None:
                bad.append(event_failure(str(path), video_id, label, text,
                                         f"has a timestamp that is not two frame numbers "
                                         f"({span!r})", _HINT))
                continue
            raw.append((frames[0] / fps, frames[1] / fps, text))
            labels.append(label)
        builder.add_video(video_id, raw, float(entry["num_frames"]) / fps, labels=labels,
                          extra_failures=bad, extra={"fps": fps,
                                                     "num_frames": entry["num_frames"]})
    return builder.finish()


def _entry_problem(entry: Any) -> str | None:
    """Why a video entry cannot be read, or None."""
    problem = object_problem(entry, _KEYS)
    if problem:
        return problem
    for key in ("fps", "num_frames"):
        value = as_number(entry[key])
        if value is None or value <= 0:
            return f"{key} {entry[key]!r} is not a positive number"
    return paired_lists_problem(entry)
