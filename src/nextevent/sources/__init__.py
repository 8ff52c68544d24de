"""Importers: one module per annotation format, each yielding `VideoAnnotation` records.

Use `load_annotations(path, fmt)`; `FORMATS` maps each ``--format`` name to its reader.
Every reader cleans events by the one rule of `nextevent.sources.clean` and returns an
`ImportResult`. V1-33K ``next_event_prediction.json`` files hold records, not
annotations: `nextevent.sources.v1.import_v1` reads them. Video files are found by
`nextevent.sources.resolve`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nextevent.records import NextEventError
from nextevent.sources.activitynet import read_activitynet
from nextevent.sources.base import FORMAT_HINT, FORMAT_NAMES, ImportResult, guess_format
from nextevent.sources.charades_sta import read_charades_sta
from nextevent.sources.jsonl import read_jsonl
from nextevent.sources.tacos import read_tacos
from nextevent.sources.youcook2 import read_youcook2

FORMATS: dict[str, Callable[[Path], ImportResult]] = {
    "activitynet": read_activitynet,
    "charades-sta": read_charades_sta,
    "jsonl": read_jsonl,
    "tacos": read_tacos,
    "youcook2": read_youcook2,
}
"""``--format`` name -> reader. Names are `nextevent.sources.base.FORMAT_NAMES`."""

assert tuple(sorted(FORMATS)) == FORMAT_NAMES

__all__ = ["FORMATS", "FORMAT_NAMES", "ImportResult", "guess_format", "load_annotations"]


def load_annotations(path: Path, fmt: str) -> ImportResult:
    """Read the annotation file ``path`` in format ``fmt`` (a `FORMATS` name).

    The name is matched case-insensitively, with ``_`` read as ``-`` (``charades_sta``).

    Returns:
        The videos read (events in seconds, cleaned), one failure per entry, line or
        event left out, and counts.

    Raises:
        NextEventError: stage ``import``, for an unknown format (the message lists the
            choices), or a file that is missing or not in that format.
    """
    name = fmt.strip().lower().replace("_", "-")
    reader = FORMATS.get(name)
    if reader is None:
        guess = guess_format(Path(path))
        hint = FORMAT_HINT + (f"; {Path(path).name} looks like {guess}" if guess else "")
        raise NextEventError("import", f"unknown annotation format {fmt!r} for {path}; "
                             f"known formats: {', '.join(FORMAT_NAMES)}", hint)
    return reader(Path(path))
