"""Real video durations for annotations that give none (Charades-STA), from a CSV file.

Charades-STA lists queries only; the video lengths are in Charades' own
``Charades_v1_train.csv`` / ``Charades_v1_test.csv`` (Sigurdsson et al., ECCV 2016), whose
``id`` and ``length`` (seconds) columns `read_durations` reads (other columns are
ignored). `apply_durations` sets ``duration_s`` of the videos it lists and reports, as
`Failure` lines (stage ``t3``), the events that start at or after that length (never
shown) or end after it (shown up to the length). A video it does not list keeps no
duration: its text video spans up to its last annotated end, and prompts say so.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nextevent.records import Failure, NextEventError, VideoAnnotation
from nextevent.sources.clean import TOLERANCE_S

HINT = ("pass Charades' own Charades_v1_test.csv (or train), or a CSV with the columns "
        "id,length (length in seconds)")


def read_durations(path: Path) -> dict[str, float]:
    """Video id -> duration in seconds from a CSV with ``id`` and ``length`` columns.

    Raises:
        NextEventError: stage ``t3``, when the file is missing or unreadable, lacks the
            columns, or a length is not a positive number (naming the line).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise NextEventError("t3", f"durations file {path} does not exist", HINT) from None
    except (OSError, UnicodeDecodeError) as err:
        raise NextEventError("t3", f"cannot read durations file {path}: {err}", HINT) from err
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"id", "length"} <= set(reader.fieldnames):
        raise NextEventError("t3", f"durations file {path} has no 'id' and 'length' columns "
                             f"(it has {reader.fieldnames})", HINT)
    out: dict[str, float] = {}
    for row in reader:
        vid, raw = (row.get("id") or "").strip(), (row.get("length") or "").strip()
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not vid or not math.isfinite(value) or value <= 0:
            raise NextEventError("t3", f"{path}: line {reader.line_num}: length {raw!r} of "
                                 f"video {vid!r} is not a positive number of seconds", HINT)
        out[vid] = value
    return out


@dataclass
class DurationReport:
    """What `apply_durations` did.

    Attributes:
        annotations: the videos, with ``duration_s`` set where the file lists them.
        failures: events past the length (stage ``t3``).
        counts: ``videos_with_length`` (set from the file), ``videos_own_duration``
            (the annotation gave one; kept), ``videos_without_length`` (neither),
            ``events_after_end`` (start at or after the length), ``events_cut`` (end
            after it).
    """

    annotations: list[VideoAnnotation] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def apply_durations(annotations: Iterable[VideoAnnotation],
                    durations: dict[str, float]) -> DurationReport:
    """Set each listed video's ``duration_s`` (module docstring); an annotation that
    already has a duration keeps it."""
    out = DurationReport()
    counts = dict.fromkeys(("videos_with_length", "videos_own_duration",
                            "videos_without_length", "events_after_end", "events_cut"), 0)
    for ann in annotations:
        length = durations.get(ann.video_id)
        if ann.duration_s is not None or length is None:
            counts["videos_without_length" if ann.duration_s is None
                   else "videos_own_duration"] += 1
            out.annotations.append(ann)
            continue
        counts["videos_with_length"] += 1
        for i, ev in enumerate(ann.events):
            if ev.start_s is None or ev.end_s is None:
                continue
            where = f"video {ann.video_id}: event {i + 1} of {len(ann.events)} ({ev.text!r})"
            if ev.start_s >= length - TOLERANCE_S:
                counts["events_after_end"] += 1
                out.failures.append(Failure(
                    input=ann.video_id, stage="t3", key=f"t3:{ann.video_id}:{i}:after_end",
                    error=f"{where} starts at {ev.start_s:.2f} s, at or after the video's "
                          f"length {length:.2f} s (durations file); no frame shows it",
                    hint="check the annotation or the durations file"))
            elif ev.end_s > length + TOLERANCE_S:
                counts["events_cut"] += 1
                out.failures.append(Failure(
                    input=ann.video_id, stage="t3", key=f"t3:{ann.video_id}:{i}:cut",
                    error=f"{where} ends at {ev.end_s:.2f} s, after the video's length "
                          f"{length:.2f} s (durations file); frames show it up to the length",
                    hint="check the annotation or the durations file"))
        out.annotations.append(ann.model_copy(update={
            "duration_s": length, "extra": {**ann.extra, "duration_from": "durations_file"}}))
    out.counts = counts
    return out
