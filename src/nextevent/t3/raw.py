"""The events of an annotation file as found, before the importer cleans them.

The importers (`nextevent.sources`) trim overlaps, clip ends to the duration and drop
repeats (`nextevent.sources.clean`); a `VideoAnnotation` keeps only the cleaned events.
Two T3 needs look behind that:

* the raw-overlap rule of `nextevent.t3.similar` needs each kept event's span *as
  annotated* (the cleaning moves only ends, so the raw end is what is missing);
* nothing may be dropped or trimmed in silence: trimmed and clipped ends and silently
  dropped repeats are listed as `Failure` lines (the importer already lists the events it
  drops for other reasons).

So `raw_events` reads the file again, lightly (the five ``--format`` layouts, without
their checks: an entry the importer refused is simply not matched), and `match_raw`
pairs every cleaned event with its raw line: same whitespace-normalised text, start
within `nextevent.sources.clean.TOLERANCE_S`; among several such lines the one ending
last (the one step 6 keeps) is its raw line, the others are repeats. When an annotation
carries ``extra["raw_spans"]`` (``[[start_s, end_s], ...]`` per kept event, in event
order) that is used instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nextevent.records import Failure, VideoAnnotation
from nextevent.sources.clean import TOLERANCE_S

RAW_FORMATS: tuple[str, ...] = ("activitynet", "charades-sta", "jsonl", "tacos", "youcook2")
"""Formats `raw_events` can read again."""


@dataclass(frozen=True)
class RawEvent:
    """One event line as the file gives it.

    Attributes:
        start_s, end_s: seconds as annotated (TACoS frames divided by fps); None when the
            file gives none or they are not numbers.
        text: the text with whitespace normalised (as `nextevent.sources.clean` step 1).
        label: where it is in the file, spelled as the importer spells it (``event 3 of
            7``, ``line 120``, ``annotation 2 of 9 (id 4)``).
    """

    start_s: float | None
    end_s: float | None
    text: str
    label: str


@dataclass
class RawMatch:
    """Raw spans of a set of annotations and what the cleaning did to them.

    Attributes:
        raw_ends: video id -> per cleaned event (in event order) its raw end in seconds,
            or None when no raw line matched.
        failures: one `Failure` (stage ``import``) per event whose end was trimmed or
            clipped, and per raw line dropped silently as a repeat.
        counts: ``matched``, ``unmatched`` (cleaned events without a raw line),
            ``trimmed``, ``clipped``, ``repeats``.
    """

    raw_ends: dict[str, list[float | None]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _paired(entry: Any, scale: float = 1.0) -> list[RawEvent]:
    spans, texts = entry.get("timestamps"), entry.get("sentences")
    if not isinstance(spans, list) or not isinstance(texts, list) or len(spans) != len(texts):
        return []
    out, n = [], len(texts)
    for i, (span, text) in enumerate(zip(spans, texts, strict=True)):
        if not isinstance(span, list) or len(span) != 2:
            continue
        s, e = _number(span[0]), _number(span[1])
        out.append(RawEvent(None if s is None else s / scale, None if e is None else e / scale,
                            _text(text), f"event {i + 1} of {n}"))
    return out


def raw_events(path: Path, fmt: str) -> dict[str, list[RawEvent]] | None:
    """Every video's event lines in ``path`` as found, or None when ``fmt`` is not one
    of `RAW_FORMATS` or the file cannot be read again (then raw spans are unknown).

    Never raises for content: entries it cannot read are left out.
    """
    name = fmt.strip().lower().replace("_", "-")
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    out: dict[str, list[RawEvent]] = {}
    if name == "charades-sta":
        for lineno, line in enumerate(text.splitlines(), start=1):
            head, sep, sentence = line.partition("##")
            fields = head.split()
            if not sep or len(fields) != 3:
                continue
            try:
                s, e = float(fields[1]), float(fields[2])
            except ValueError:
                continue
            out.setdefault(fields[0], []).append(
                RawEvent(s, e, _text(sentence), f"line {lineno}"))
        return out
    if name == "jsonl":
        for lineno, line in enumerate(text.splitlines(), start=1):
            try:
                obj = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("video_id"), str):
                continue
            events = obj.get("events") or []
            if not isinstance(events, list) or obj["video_id"] in out:
                continue
            rows = out.setdefault(obj["video_id"], [])
            for i, ev in enumerate(events):
                if isinstance(ev, dict):
                    rows.append(RawEvent(_number(ev.get("start", ev.get("start_s"))),
                                         _number(ev.get("end", ev.get("end_s"))),
                                         _text(ev.get("text")),
                                         f"line {lineno} event {i + 1} of {len(events)}"))
        return out
    if name not in RAW_FORMATS:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    if name == "youcook2":
        database = data.get("database")
        for video_id, entry in (database.items() if isinstance(database, dict) else ()):
            items = entry.get("annotations") if isinstance(entry, dict) else None
            if not isinstance(items, list):
                continue
            rows = out.setdefault(video_id, [])
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    continue
                label = f"annotation {i + 1} of {len(items)}"
                if "id" in item:
                    label += f" (id {item['id']!r})"
                seg = item.get("segment")
                if isinstance(seg, list) and len(seg) == 2:
                    rows.append(RawEvent(_number(seg[0]), _number(seg[1]),
                                         _text(item.get("sentence")), label))
        return out
    for video_id, entry in data.items():
        if not isinstance(entry, dict):
            continue
        scale = 1.0
        if name == "tacos":
            fps = _number(entry.get("fps"))
            if not fps or fps <= 0:
                continue
            scale = fps
        out[video_id] = _paired(entry, scale)
    return out


def match_raw(annotations: Iterable[VideoAnnotation],
              raw: dict[str, list[RawEvent]] | None, input_name: str,
              import_failures: Sequence[Failure] = ()) -> RawMatch:
    """Pair each cleaned event with its raw line (module docstring).

    Args:
        annotations: the imported videos (cleaned events).
        raw: `raw_events` of the same file, or None (then only ``extra["raw_spans"]``
            is used).
        input_name: the annotation file as the importer named it in failure keys.
        import_failures: the importer's failures, so a raw line it already reported is
            not reported again as a repeat.

    Returns:
        The raw ends per video, the failures for trimmed, clipped and repeated events,
        and counts.
    """
    reported = {f.key for f in import_failures}
    result = RawMatch()
    counts = dict.fromkeys(("matched", "unmatched", "trimmed", "clipped", "repeats"), 0)
    for ann in annotations:
        given = ann.extra.get("raw_spans")
        if isinstance(given, list) and len(given) == len(ann.events):
            ends = [_number(span[1]) if isinstance(span, list) and len(span) == 2 else None
                    for span in given]
            result.raw_ends[ann.video_id] = ends
            counts["matched"] += sum(e is not None for e in ends)
            counts["unmatched"] += sum(e is None for e in ends)
            continue
        lines = (raw or {}).get(ann.video_id, [])
        used: set[int] = set()
        ends_out: list[float | None] = []
        for j, ev in enumerate(ann.events):
            if ev.start_s is None or ev.end_s is None:
                ends_out.append(None)
                continue
            same = [n for n, r in enumerate(lines) if r.text == ev.text and r.start_s is not None
                    and r.end_s is not None and abs(r.start_s - ev.start_s) <= TOLERANCE_S]
            if not same:
                counts["unmatched"] += 1
                ends_out.append(None)
                continue
            keep = max(same, key=lambda n: (lines[n].end_s, -n))
            for n in same:
                if n == keep or n in used:
                    continue
                used.add(n)
                key = f"import:{input_name}:{ann.video_id}:{lines[n].label}"
                if key in reported:
                    continue
                counts["repeats"] += 1
                result.failures.append(Failure(
                    input=ann.video_id, stage="import", key=key + ":repeat",
                    error=f"{input_name}: video {ann.video_id}: {lines[n].label} "
                          f"({_short(ev.text)}) repeats an event with the same text and start "
                          f"({lines[keep].label}); the cleaning kept one of them",
                    hint="expected when several annotators describe one moment (TACoS)"))
            used.add(keep)
            counts["matched"] += 1
            raw_end = lines[keep].end_s
            assert raw_end is not None
            ends_out.append(raw_end)
            clip = ann.duration_s if ann.duration_s is not None else float("inf")
            label = lines[keep].label
            if raw_end > clip + TOLERANCE_S and ev.end_s >= clip - TOLERANCE_S:
                counts["clipped"] += 1
                result.failures.append(Failure(
                    input=ann.video_id, stage="import",
                    key=f"import:{input_name}:{ann.video_id}:{label}:clipped",
                    error=f"{input_name}: video {ann.video_id}: {label} ({_short(ev.text)}) "
                          f"ends at {raw_end:.3f} s, after the video's {clip:.3f} s; its end "
                          "was clipped to the duration",
                    hint="check the annotation's timestamps; the text video shows the "
                         "clipped span"))
            elif min(raw_end, clip) - ev.end_s > TOLERANCE_S:
                nxt = ann.events[j + 1].text if j + 1 < len(ann.events) else ""
                counts["trimmed"] += 1
                result.failures.append(Failure(
                    input=ann.video_id, stage="import",
                    key=f"import:{input_name}:{ann.video_id}:{label}:trimmed",
                    error=f"{input_name}: video {ann.video_id}: {label} ({_short(ev.text)}) "
                          f"ends at {raw_end:.3f} s, after the next event "
                          f"({_short(nxt)}) starts at {ev.end_s:.3f} s; its end was trimmed "
                          f"to {ev.end_s:.3f} s",
                    hint="expected for overlapping dense captions; T3 never pairs events "
                         "whose raw spans overlap by IoU >= 0.5"))
        result.raw_ends[ann.video_id] = ends_out
    result.counts = counts
    return result


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
