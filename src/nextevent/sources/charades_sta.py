"""Charades-STA importer (``--format charades-sta``).

File layout (``charades_sta_train.txt`` / ``charades_sta_test.txt``): one query a line,
``VIDEO_ID START_S END_S##sentence``, e.g. ``3MSZA 24.3 30.4##person turn a light on.``
Times are seconds. Lines of one video are grouped (first appearance order) into one
`VideoAnnotation`; the file gives no duration. Several queries often describe the same
moment; the overlap rule of `nextevent.sources.clean` keeps one of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nextevent.records import Failure
from nextevent.sources.base import ImportResult, ResultBuilder, read_text

FORMAT = "charades-sta"
_HINT = "each line must read 'VIDEO_ID START_S END_S##sentence', e.g. '3MSZA 24.3 30.4##...'"


def read_charades_sta(path: Path) -> ImportResult:
    """Read a Charades-STA query file (times in seconds, no duration).

    A line that does not read as ``VIDEO_ID START_S END_S##sentence`` with numeric times
    becomes a `Failure` naming its line number; blank lines are skipped; the rest of the
    file goes on. Event failures name the line of the event.

    Raises:
        NextEventError: stage ``import``, when the file is missing, not UTF-8 text, empty,
            or none of its lines can be read.
    """
    path = Path(path)
    text = read_text(path, FORMAT)
    builder = ResultBuilder(path, FORMAT, "charades-sta")
    videos: dict[str, tuple[list[tuple[Any, Any, Any]], list[str]]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parsed = _parse(line)
        if isinstance(parsed, str):
            builder.bad_entry(Failure(
                input=f"{path}:{lineno}", stage="import",
                error=f"{path}: line {lineno} {parsed}: {_clip(line)!r}", hint=_HINT,
                key=f"import:{path}:line {lineno}"))
            continue
        video_id, start, end, sentence = parsed
        raw, labels = videos.setdefault(video_id, ([], []))
        raw.append((start, end, sentence))
        labels.append(f"line {lineno}")
    for video_id, (raw, labels) in videos.items():
        builder.add_video(video_id, raw, None, labels=labels)
    return builder.finish()


def _parse(line: str) -> tuple[str, float, float, str] | str:
    """``(video_id, start_s, end_s, sentence)``, or why the line cannot be read."""
    head, sep, sentence = line.partition("##")
    if not sep:
        return "has no '##' before the sentence"
    fields = head.split()
    if len(fields) != 3:
        return f"has {len(fields)} fields before '##', not 3 (VIDEO_ID START_S END_S)"
    try:
        start, end = float(fields[1]), float(fields[2])
    except ValueError:
        return f"has times that are not numbers ({fields[1]!r}, {fields[2]!r})"
    return fields[0], start, end, sentence


def _clip(line: str, limit: int = 80) -> str:
    return line if len(line) <= limit else line[: limit - 3] + "..."
