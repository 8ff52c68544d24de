"""The run directory: records, failures and per-item state, safe to kill and rerun.

Layout of ``RUN_DIR``::

    records.jsonl   one NEPRecord per line, append-only, flushed and fsynced per record
    failures.jsonl  one Failure per line, append-only, never the same key twice
    state.sqlite    status per work item (``<video_id>#<split>`` or ``<video_id>``)
    clips/          cut segments, written under a temporary name and renamed when whole
    build_options.json  the options of the first build (`nextevent build` compares a
                    rerun's options with them; see `read_build_options`)

``records.jsonl`` is the source of truth. A record line is written before the state row
says ``done``; if the process dies between the two, opening the store again reads the
ids already in ``records.jsonl`` and marks them done, so a rerun never writes a record
twice. A partial last line (killed mid-write) is truncated on open.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from nextevent.records import Failure, NEPRecord
from nextevent.rundir import (  # noqa: F401  (names re-exported for older imports)
    BUILD_OPTIONS_NAME,
    BUILD_OUTPUTS,
    CLIPS_NAME,
    FAILURES_NAME,
    RECORDS_NAME,
    STATE_NAME,
    USAGE_NAME,
    RunDir,
    safe_name,
)

Status = Literal["done", "failed", "skipped"]

class RunStore:
    """Append-only store for one run directory.

    Args:
        run_dir: the run directory; created if missing.

    Raises:
        NotADirectoryError: when ``run_dir`` exists and is a file.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise NotADirectoryError(f"run directory {self.run_dir} is a file; pass a folder")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.records_path = self.run_dir / RECORDS_NAME
        self.failures_path = self.run_dir / FAILURES_NAME
        self.clips_dir = self.run_dir / CLIPS_NAME
        self._db = sqlite3.connect(self.run_dir / STATE_NAME)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS state (item TEXT PRIMARY KEY, status TEXT NOT NULL,"
            " stage TEXT, detail TEXT)"
        )
        self._db.commit()
        self._record_ids = self._recover(self.records_path, "id")
        self._failure_keys = self._recover(self.failures_path, "key")
        # A record that reached disk is done, whatever state.sqlite says.
        for rid in self._record_ids:
            self._db.execute(
                "INSERT INTO state(item, status, stage) VALUES (?, 'done', 'record')"
                " ON CONFLICT(item) DO UPDATE SET status='done', stage='record'",
                (rid,),
            )
        self._db.commit()
        self._records = self.records_path.open("a", encoding="utf-8")
        self._failures = self.failures_path.open("a", encoding="utf-8")

    @staticmethod
    def _recover(path: Path, key: str) -> set[str]:
        """Read the ``key`` of every whole line in ``path``; cut off a torn last line."""
        if not path.exists():
            return set()
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # killed mid-line: drop the partial line
            with path.open("r+b") as f:
                f.truncate(end)
            data = data[:end]
        keys: set[str] = set()
        for line in data.decode("utf-8").splitlines():
            if line.strip():
                keys.add(json.loads(line)[key])
        return keys

    @staticmethod
    def _append(handle, line: str) -> None:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())

    def has_record(self, record_id: str) -> bool:
        """True when a record with this id is already in ``records.jsonl``."""
        return record_id in self._record_ids

    def status(self, item: str) -> str | None:
        """The stored status of a work item, or None if it was never finished."""
        row = self._db.execute("SELECT status FROM state WHERE item = ?", (item,)).fetchone()
        return row[0] if row else None

    def set_status(self, item: str, status: Status, stage: str = "", detail: str = "") -> None:
        """Record that ``item`` ended with ``status`` at ``stage``."""
        self._db.execute(
            "INSERT INTO state(item, status, stage, detail) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(item) DO UPDATE SET status=excluded.status, stage=excluded.stage,"
            " detail=excluded.detail",
            (item, status, stage, detail),
        )
        self._db.commit()

    def add_record(self, record: NEPRecord) -> bool:
        """Append ``record`` (flushed and fsynced) and mark it done.

        Returns:
            False, writing nothing, when a record with the same id is already stored.
        """
        if record.id in self._record_ids:
            return False
        self._append(self._records, record.model_dump_json())
        self._record_ids.add(record.id)
        self.set_status(record.id, "done", "record")
        return True

    def add_failure(self, failure: Failure, item: str | None = None) -> bool:
        """Append ``failure`` unless its key is already stored; mark ``item`` failed.

        Returns:
            False when the same failure (same key) was already written by an earlier run.
        """
        if item is not None:
            self.set_status(item, "failed", failure.stage, failure.error)
        if failure.key in self._failure_keys:
            return False
        self._append(self._failures, failure.model_dump_json())
        self._failure_keys.add(failure.key)
        return True

    def records(self) -> Iterator[NEPRecord]:
        """Yield the stored records in the order they were written."""
        self._records.flush()
        yield from read_records(self.records_path)

    def failures(self) -> list[Failure]:
        """All failures written to this run, oldest first."""
        self._failures.flush()
        if not self.failures_path.exists():
            return []
        with self.failures_path.open(encoding="utf-8") as f:
            return [Failure.model_validate_json(line) for line in f if line.strip()]

    def counts(self) -> dict[str, int]:
        """Number of work items per status, e.g. ``{"done": 3, "failed": 2}``."""
        rows = self._db.execute("SELECT status, COUNT(*) FROM state GROUP BY status").fetchall()
        return {status: n for status, n in rows}

    def clip_dir(self, record_id: str) -> Path:
        """Folder for one record's clips, named safely whatever the video id holds."""
        return self.clips_dir / safe_name(record_id)

    def close(self) -> None:
        """Flush and close the files and the state database."""
        self._records.close()
        self._failures.close()
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_records(path: str | Path) -> Iterator[NEPRecord]:
    """Yield `NEPRecord` objects from a ``records.jsonl`` file.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        pydantic.ValidationError: when a line does not match the schema.
    """
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield NEPRecord.model_validate_json(line)


def read_build_options(run_dir: str | Path) -> dict[str, Any] | None:
    """The build options stored in ``run_dir`` by its first build, or None when the run
    has none (a new folder, or a run written before options were stored).

    Raises:
        ValueError: when the file is not a JSON object (edited by hand).
    """
    path = Path(run_dir) / BUILD_OPTIONS_NAME
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a JSON {type(data).__name__}, not an object")
    return data


def write_build_options(run_dir: str | Path, options: Mapping[str, Any]) -> Path:
    """Store ``options`` (name -> JSON value) in ``run_dir`` atomically; returns the file."""
    path = Path(run_dir) / BUILD_OPTIONS_NAME
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(dict(options), indent=2, sort_keys=True) + "\n",
                       encoding="utf-8")
    return path


def changed_options(stored: Mapping[str, Any], given: Mapping[str, Any]
                    ) -> list[tuple[str, Any, Any]]:
    """``(name, stored value, given value)`` for each option named in both whose value
    differs, in the order of ``given``. An option only one side names (added by a newer
    version) is not a change."""
    return [(k, stored[k], v) for k, v in given.items() if k in stored and stored[k] != v]


def clear_run(run_dir: str | Path) -> list[Path]:
    """Delete what a build wrote into ``run_dir`` so it can start over: records, failures,
    state (with its SQLite side files), clips, build options and model usage. Other files
    (a report, the model call cache, anything the user put there) stay.

    Returns:
        The paths removed.
    """
    run_dir = Path(run_dir)
    removed = []
    for name in BUILD_OUTPUTS:
        path = run_dir / name
        if path.is_file():
            path.unlink()
            removed.append(path)
    clips = run_dir / CLIPS_NAME
    if clips.is_dir():
        shutil.rmtree(clips)
        removed.append(clips)
    return removed


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A new empty temporary file beside ``path`` for the block to write; renamed onto
    ``path`` when the block ends without error, deleted when it raises, so a killed writer
    never leaves a half-written ``path``.

    The file is created with mode ``0o666`` minus the process umask (0644 under the usual
    umask 022), like any file ``open(path, "w")`` creates; ``tempfile.mkstemp`` would give
    0600. Every atomic writer of nextevent goes through here
    (`nextevent.export.base.atomic_writer`, Parquet files, the build options).

    Raises:
        OSError: when the folder cannot be created or written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
