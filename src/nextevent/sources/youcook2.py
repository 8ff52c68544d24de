"""YouCook2 importer (``--format youcook2``).

File layout (``youcookii_annotations_trainval.json``; one JSON object)::

    {"database": {"<youtube id>": {"duration": 241.6, "subset": "training",
                                   "recipe_type": "113",
                                   "video_url": "https://www.youtube.com/watch?v=<youtube id>",
                                   "annotations": [{"segment": [90, 102], "id": 0,
                                                    "sentence": "spread butter on the bread"},
                                                   ...]},
                  ...}}

Times are seconds. The video id is the YouTube id; the released videos sit under
``raw_videos/<subset>/<recipe_type>/<id>.<ext>``, which `nextevent.sources.resolve`
finds by searching subfolders. ``subset``, ``recipe_type`` and ``video_url`` are kept in
``VideoAnnotation.extra``. Test-split entries carry no sentences and are reported as
failures.
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
)
from nextevent.sources.clean import event_failure, short_repr

FORMAT = "youcook2"
_HINT = ("each video needs 'duration' (seconds) and 'annotations': [{'segment': "
         "[start_s, end_s], 'sentence': ...}, ...]")
_KEEP = ("subset", "recipe_type", "video_url")
_TEST_NOTE = " (YouCook2 publishes no sentences for its test split)"


def read_youcook2(path: Path) -> ImportResult:
    """Read a YouCook2 annotation file (times in seconds).

    A video entry that cannot be read (no duration, no ``annotations`` list, or segments
    without sentences as in the test split) becomes a `Failure` naming its video id; an
    annotation without a ``[start, end]`` segment or a sentence becomes a `Failure`
    naming its position; the rest of the file goes on.

    Raises:
        NextEventError: stage ``import``, when the file is missing, not JSON, has no
            ``database`` object, or none of its entries can be read.
    """
    path = Path(path)
    data = load_json(path, FORMAT)
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise format_error(path, FORMAT, "it has no top-level 'database' object")
    builder = ResultBuilder(path, FORMAT, "youcook2")
    for video_id, entry in data["database"].items():
        problem = _entry_problem(entry)
        if problem:
            builder.bad_entry(entry_failure(path, video_id, problem, _HINT))
            continue
        raw: list[tuple[Any, Any, Any]] = []
        labels: list[str] = []
        bad: list[Failure] = []
        n = len(entry["annotations"])
        for i, item in enumerate(entry["annotations"]):
            label = f"annotation {i + 1} of {n}"
            if isinstance(item, dict) and "id" in item:
                label += f" (id {item['id']!r})"
            segment = item.get("segment") if isinstance(item, dict) else None
            text = item.get("sentence") if isinstance(item, dict) else None
            if not isinstance(segment, list) or len(segment) != 2:
                bad.append(event_failure(str(path), video_id, label, text,
                                         f"has no [start, end] segment ({segment!r})", _HINT))
                continue
            raw.append((segment[0], segment[1], text))
            labels.append(label)
        extra = {key: entry[key] for key in _KEEP if key in entry}
        builder.add_video(video_id, raw, float(entry["duration"]), labels=labels,
                          extra_failures=bad, extra=extra)
    return builder.finish()


def _entry_problem(entry: Any) -> str | None:
    """Why a video entry cannot be read, or None."""
    if not isinstance(entry, dict):
        return f"the entry is a JSON {type(entry).__name__}, not an object"
    duration = as_number(entry.get("duration"))
    if duration is None or duration <= 0:
        return f"duration {short_repr(entry.get('duration'))} is not a positive number of seconds"
    if not isinstance(entry.get("annotations"), list):
        subset = entry.get("subset")
        return "has no 'annotations' list" + (_TEST_NOTE if subset == "testing" else "")
    items = entry["annotations"]
    if items and not any(isinstance(item, dict) and "sentence" in item for item in items):
        return "has segments but no sentences" + _TEST_NOTE
    return None
