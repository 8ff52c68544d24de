"""What every importer returns, and the file-reading helpers they share.

An importer reads one annotation file and returns an `ImportResult`: the videos it could
read (`VideoAnnotation`, events cleaned by `nextevent.sources.clean`), one `Failure` per
entry, line or event it could not use, and counts. Bad entries never stop an import; a
file that is missing, unreadable or not in the declared format raises `NextEventError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nextevent.records import Failure, NextEventError, VideoAnnotation
from nextevent.sources.clean import CleanStats, clean_events

FORMAT_NAMES: tuple[str, ...] = ("activitynet", "charades-sta", "jsonl", "tacos", "youcook2")
"""The ``--format`` choices, as `nextevent.sources.FORMATS` registers them."""

FORMAT_HINT = "check --format; the choices are: " + ", ".join(FORMAT_NAMES)

_CHARADES_LINE = re.compile(r"^\S+\s+\S+\s+\S+##")


@dataclass
class ImportResult:
    """What an importer read from one annotation file.

    Attributes:
        annotations: one `VideoAnnotation` per usable video, in file order.
        failures: one `Failure` (stage ``import``) per line, entry or event left out.
        stats: counts: ``videos``, ``events`` (kept), ``entries`` (video entries or
            lines seen), ``malformed`` (entries or lines that could not be read),
            ``videos_failed`` (read, but no usable event), ``bad_events`` (events whose
            shape the reader could not read, e.g. a timestamp that is not a pair), and
            the cleaning counts of `nextevent.sources.clean.CleanStats`; ``events_in``
            counts every event listed by the readable entries, ``bad_events`` included.
    """

    annotations: list[VideoAnnotation] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)


class ResultBuilder:
    """Collects one file's videos, failures and counts into an `ImportResult`.

    Args:
        path: the annotation file being read.
        fmt: its declared format (a `FORMAT_NAMES` entry), for error messages.
        source: the ``VideoAnnotation.source`` of its videos.
    """

    def __init__(self, path: Path, fmt: str, source: str) -> None:
        self.path = path
        self.fmt = fmt
        self.source = source
        self.clean = CleanStats()
        self.result = ImportResult()
        self.entries = 0
        self.malformed = 0
        self.videos_failed = 0
        self.bad_events = 0

    def bad_entry(self, failure: Failure) -> None:
        """Record an entry or line that could not be read at all."""
        self.entries += 1
        self.malformed += 1
        self.result.failures.append(failure)

    def add_video(
        self,
        video_id: str,
        raw: list[tuple[Any, Any, Any]],
        duration_s: float | None,
        *,
        labels: list[str] | None = None,
        extra_failures: list[Failure] | None = None,
        keep_without_events: bool = False,
        video_ref: str | None = None,
        caption: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Clean one video's raw ``(start_s, end_s, text)`` events (seconds) and keep it.

        A video left with no event becomes a `Failure` instead, unless
        ``keep_without_events`` (it listed none, and a captioner may supply them).
        ``extra_failures`` are the reader's own per-event failures for this video.
        """
        self.entries += 1
        self.bad_events += len(extra_failures or [])
        events, failures = clean_events(raw, duration_s, str(self.path), video_id=video_id,
                                        labels=labels, stats=self.clean)
        self.result.failures.extend(extra_failures or [])
        self.result.failures.extend(failures)
        if not events and not (keep_without_events and not raw and not extra_failures):
            self.videos_failed += 1
            why = ("lists no events" if not raw and not extra_failures
                   else "has no usable event left after cleaning (see its other failures)")
            self.result.failures.append(entry_failure(
                self.path, video_id, why,
                "add timed, described events for this video, or leave it out"))
            return
        self.result.annotations.append(VideoAnnotation(
            video_id=video_id, source=self.source, events=events, duration_s=duration_s,
            video_ref=video_ref, caption=caption, extra=extra or {}))

    def finish(self) -> ImportResult:
        """The `ImportResult`, with ``stats`` filled in.

        Raises:
            NextEventError: stage ``import``, when the file held no entry at all, or no
                entry could be read (then it is not in the declared format).
        """
        if self.entries == 0:
            raise format_error(self.path, self.fmt, "it holds no videos")
        if self.malformed == self.entries:
            first = self.result.failures[0].error if self.result.failures else ""
            raise format_error(self.path, self.fmt,
                               f"none of its {self.entries} entries could be read; the "
                               f"first: {first}")
        anns = self.result.annotations
        self.result.stats = {
            "videos": len(anns),
            "events": sum(len(a.events) for a in anns),
            "entries": self.entries,
            "malformed": self.malformed,
            "videos_failed": self.videos_failed,
            **self.clean.as_dict(),
            "bad_events": self.bad_events,
        }
        self.result.stats["events_in"] += self.bad_events
        return self.result


def format_error(path: Path, fmt: str, why: str) -> NextEventError:
    """A `NextEventError` (stage ``import``) for a file that is not in format ``fmt``.

    The hint names the ``--format`` choices and, when the file looks like another known
    format, that format.
    """
    guess = guess_format(path)
    hint = FORMAT_HINT
    if guess and guess != fmt:
        hint = f"{path.name} looks like a {guess} file: pass --format {guess}; " + hint
    return NextEventError("import", f"{path} is not a {fmt} annotation file: {why}", hint)


def read_text(path: Path, fmt: str) -> str:
    """The whole text of an annotation file (UTF-8, a byte-order mark is skipped).

    Raises:
        NextEventError: stage ``import``, when the file does not exist, is a folder,
            cannot be read, or is not UTF-8 text.
    """
    path = Path(path)
    if not path.exists():
        raise NextEventError("import", f"annotation file {path} does not exist",
                             f"check the annotation path; {FORMAT_HINT}")
    if not path.is_file():
        raise NextEventError("import", f"annotation path {path} is not a file",
                             f"pass the annotation file itself, not a folder; {FORMAT_HINT}")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise NextEventError("import", f"{path} is not UTF-8 text ({err.reason} at byte "
                             f"{err.start}), so it is not a {fmt} annotation file",
                             FORMAT_HINT) from err
    except OSError as err:
        raise NextEventError("import", f"cannot read annotation file {path}: {err.strerror}",
                             "check the file's permissions") from err


def load_json(path: Path, fmt: str) -> Any:
    """Parse a whole-file JSON annotation file.

    Raises:
        NextEventError: stage ``import``, as `read_text`, or when the text is not JSON
            (or nests too deeply to parse).
    """
    text = read_text(path, fmt)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise format_error(path, fmt, f"invalid JSON at line {err.lineno}, column {err.colno}"
                                      f" ({err.msg})") from err
    except ValueError as err:  # an integer of more digits than Python converts
        why = str(err).split(";")[0]  # not the set_int_max_str_digits advice
        raise format_error(path, fmt, f"it holds an integer too long to read ({why})"
                           ) from None
    except RecursionError:
        raise NextEventError("import", f"{path} nests JSON arrays or objects too deeply to "
                             f"read, so it is not a {fmt} annotation file",
                             FORMAT_HINT) from None


def as_number(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is not a finite JSON number.

    Booleans and strings are not numbers here.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range (JSON allows any digits)
        return None
    return number if math.isfinite(number) else None


def entry_failure(path: Path, video_id: str, error: str, hint: str) -> Failure:
    """A `Failure` for one video entry of ``path`` that could not be read."""
    return Failure(input=video_id, stage="import", error=f"{path}: video {video_id}: {error}",
                   hint=hint, key=f"import:{path}:{video_id}")


def guess_format(path: Path) -> str | None:
    """Guess the annotation format of ``path`` from its content, or None.

    Looks at the JSON structure (whole-file formats) or the first non-blank line (line
    formats). Never raises: an unreadable file gives None. ``v1`` means a V1-33K
    ``next_event_prediction.json`` (records, read by `nextevent.sources.v1.import_v1`).
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # ValueError: JSONDecodeError, huge ints
        data = None
    if isinstance(data, dict):
        if isinstance(data.get("database"), dict):
            return "youcook2"
        if "video_id" in data:
            return "jsonl"
        sample = next(iter(data.values()), None)
        if isinstance(sample, dict):
            if {"fps", "num_frames", "timestamps"} <= sample.keys():
                return "tacos"
            if {"duration", "timestamps", "sentences"} <= sample.keys():
                return "activitynet"
    if (isinstance(data, list) and data and isinstance(data[0], dict)
            and ("video_split" in data[0] or "full_video_path" in data[0])):
        return "v1"
    if data is None and first:
        try:
            line = json.loads(first)
        except (ValueError, RecursionError):  # ValueError: JSONDecodeError, huge ints
            line = None
        if isinstance(line, dict) and "video_id" in line:
            return "jsonl"
        if _CHARADES_LINE.match(first):
            return "charades-sta"
    return None


def object_problem(entry: Any, keys: Sequence[str]) -> str | None:
    """Why a video entry is not a JSON object holding every key in ``keys``, or None."""
    if not isinstance(entry, dict):
        return f"the entry is a JSON {type(entry).__name__}, not an object"
    missing = [key for key in keys if key not in entry]
    return "missing " + ", ".join(repr(k) for k in missing) if missing else None


def paired_lists_problem(entry: dict[str, Any]) -> str | None:
    """Why an entry's ``timestamps`` and ``sentences`` are not two lists of one length
    (ActivityNet Captions and TACoS pair them by index), or None."""
    if not isinstance(entry["timestamps"], list) or not isinstance(entry["sentences"], list):
        return "'timestamps' and 'sentences' must be lists"
    if len(entry["timestamps"]) != len(entry["sentences"]):
        return (f"{len(entry['timestamps'])} timestamps but {len(entry['sentences'])} "
                "sentences")
    return None
