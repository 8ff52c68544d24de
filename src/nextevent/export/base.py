"""What every exporter shares: the result type, media paths, safe writes, failures.

An exporter reads `NEPRecord` objects (usually from a run's ``records.jsonl``), writes one
or more files for a training engine, and returns an `ExportResult`. A record it cannot
write becomes a `Failure` (stage ``export``) and the export goes on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from nextevent.atomic import atomic_path
from nextevent.records import Failure, NEPRecord, NextEventError

#: Placeholders that multimodal trainers count and match against the media lists; a text
#: field holding one would break that count (LLaMA-Factory's mm_plugin checks it).
MEDIA_PLACEHOLDERS = ("<video>", "<image>", "<audio>")


@dataclass
class ExportResult:
    """What an export wrote.

    Attributes:
        files: the files written (or rewritten), absolute paths.
        count: number of samples written.
        failures: one `Failure` per record that was skipped.
        summary: small JSON-able facts for the CLI to print (target, dataset name,
            counts, the engine settings the user must set, ...).
        records: records read, when the export read a run directory
            (`nextevent.export.export_run`); None otherwise.
        written_keys: the `Failure` keys of the items written (`Target.written_keys`):
            an earlier export's failure with one of them is resolved
            (`nextevent.export.export_run`).
    """

    files: list[Path] = field(default_factory=list)
    count: int = 0
    failures: list[Failure] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    records: int | None = None
    written_keys: set[str] = field(default_factory=set)


def media_path(
    path: str | Path, run_dir: str | Path, media_root: str | Path | None = None
) -> str:
    """The path of a media file as written into an export.

    Args:
        path: a segment path as stored in a record (relative to the run directory, e.g.
            ``clips/<id>/past.mp4``) or an absolute path.
        run_dir: the run directory relative paths are resolved against.
        media_root: when given, the result is relative to this folder (the trainer then
            joins it back: LLaMA-Factory's ``media_dir``, EasyR1's ``data.image_dir``).

    Returns:
        The absolute, resolved path (POSIX separators on POSIX), or the path relative to
        ``media_root``.

    Raises:
        NextEventError: (stage ``export``) when ``media_root`` is given and the file does not
            lie under it, or the path holds a NUL or control character.
    """
    problem = unsafe_path_problem(path)
    if problem is not None:
        raise NextEventError("export", f"media path {str(path)!r} {problem}",
                             "fix or drop this record; the other records were exported")
    full = (Path(run_dir) / path).resolve()
    if media_root is None:
        return str(full)
    root = Path(media_root).resolve()
    try:
        return full.relative_to(root).as_posix()
    except ValueError:
        raise NextEventError(
            "export",
            f"media file {full} is not under --media-root {root}",
            "pass a --media-root that contains the run's clips folder, or leave it out "
            "to write absolute paths",
        ) from None


def unsafe_path_problem(path: str | Path) -> str | None:
    """Why a path string may not be opened at all (a NUL byte or another control
    character), or None."""
    bad = next((c for c in str(path) if ord(c) < 32 or ord(c) == 127), None)
    if bad is None:
        return None
    return "holds a NUL byte" if bad == "\0" else f"holds a control character ({bad!r})"


def confined_path(path: str | Path, base: str | Path, record_id: str, what: str,
                  option: str = "the run directory") -> Path:
    """``path`` (relative to ``base``, or absolute) resolved, once it is known to lie
    inside ``base``: an export never names a file outside the run directory or the media
    root because a record says so.

    The check is lexical (``..`` are folded, symbolic links inside ``base`` are the
    folder owner's and are followed only for the returned path).

    Args:
        path: the path as stored in the record.
        base: the folder it must stay in (the run directory, or ``--media-root``).
        record_id: the record, for the message.
        what: what the path is (``past segment``, ``V1 video_path``), for the message.
        option: how the message names ``base``.

    Raises:
        NextEventError: (stage ``export``) when the path holds a NUL or control character,
            or lies outside ``base``.
    """
    problem = unsafe_path_problem(path)
    if problem is None:
        root = os.path.abspath(base)
        full = os.path.abspath(os.path.join(root, path))
        if os.path.commonpath([root, full]) != root:
            problem = f"is {full}, outside {option} {root}"
    if problem is not None:
        raise NextEventError(
            "export", f"{what} of record {record_id} {problem}; the record was skipped",
            "fix or drop this record (a record's media paths must name files inside the "
            "run directory or --media-root); the other records were exported",
        )
    return Path(full).resolve()


def segment_file(record: NEPRecord, which: str, run_dir: str | Path) -> Path:
    """The on-disk file of a record's ``past`` or ``future`` segment.

    Raises:
        NextEventError: (stage ``export``) when the record has no such segment (a text-only
            record), its path lies outside the run directory or holds a NUL or control
            character (`confined_path`), or the file is missing.
    """
    segment = getattr(record, which)
    if segment is None:
        raise NextEventError(
            "export",
            f"record {record.id} has no {which} segment (text-only record)",
            "cut the clips first (run the pipeline with media), or export it with the "
            "v1 target, which keeps text-only records",
        )
    file = confined_path(segment.path, run_dir, record.id, f"{which} segment")
    if not file.is_file():
        raise NextEventError(
            "export",
            f"{which} segment of record {record.id} is missing: {file}",
            "the clip was moved or deleted after the build, and a build rerun keeps "
            "finished records as they are: put the file back, or build the videos again "
            "into a new --out and export that run",
        )
    return file


def check_no_placeholder(record: NEPRecord, *texts: str) -> None:
    """Refuse texts that hold a media placeholder (``<video>``, ``<image>``, ``<audio>``).

    Raises:
        NextEventError: (stage ``export``) naming the placeholder found.
    """
    for text in texts:
        for tag in MEDIA_PLACEHOLDERS:
            if tag in text:
                raise NextEventError(
                    "export",
                    f"record {record.id} has a literal {tag} in its text; the trainer would "
                    "count it as a media slot",
                    f"remove {tag} from the caption or event texts and export again",
                )


def export_failure(error: NextEventError, target: str, record_id: str) -> Failure:
    """A `Failure` for one record an exporter skipped, keyed per target."""
    return error.to_failure(record_id, key=export_key(target, record_id))


def export_key(target: str, record_id: str) -> str:
    """The `Failure` key of one record an exporter (or a strategy) skipped."""
    return f"export:{target}:{record_id}"


@contextmanager
def atomic_writer(path: Path) -> Iterator[IO[str]]:
    """Open a temporary file beside ``path``; rename it onto ``path`` when the block ends
    without error, so a killed export never leaves a half-written file. The file gets the
    usual permissions (0644 under umask 022; see `nextevent.atomic.atomic_path`)."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


class JsonListWriter:
    """Write a JSON list one item at a time (no need to hold every sample in memory).

    Use inside `atomic_writer`: ``w = JsonListWriter(handle); w.add(obj); ...; w.close()``.
    The output parses with ``json.load`` as a list, each item indented by two spaces.
    """

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self.count = 0
        handle.write("[")

    def add(self, item: dict[str, Any]) -> None:
        """Append one item."""
        text = json.dumps(item, ensure_ascii=False, indent=2)
        self._handle.write(("\n" if self.count == 0 else ",\n") + _indent(text))
        self.count += 1

    def close(self) -> None:
        """Close the list."""
        self._handle.write("\n]\n" if self.count else "]\n")


def write_json_list(path: Path, items: Iterable[dict[str, Any]]) -> Path:
    """Write ``items`` atomically to ``path`` as a JSON list (`JsonListWriter` layout,
    one item at a time); returns the resolved path."""
    with atomic_writer(path) as handle:
        writer = JsonListWriter(handle)
        for item in items:
            writer.add(item)
        writer.close()
    return path.resolve()


def _indent(text: str, pad: str = "  ") -> str:
    return "\n".join(pad + line for line in text.splitlines())
