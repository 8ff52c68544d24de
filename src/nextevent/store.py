"""The run directory: records, failures and per-item state, safe to kill and rerun.

Layout of ``RUN_DIR``::

    records.jsonl   one NEPRecord per line, append-only, flushed and fsynced per record
    failures.jsonl  one Failure per line, append-only, never the same key twice
    state.sqlite    status per work item (``<video_id>#<split>`` or ``<video_id>``)
    clips/          cut segments, written under a temporary name and renamed when whole
    build_options.json  the options of the first build (`nextevent build` compares a
                    rerun's options with them; see `nextevent.pipeline.build_options`)

``records.jsonl`` is the source of truth. A record line is written before the state row
says ``done``; if the process dies between the two, opening the store again reads the
ids already in ``records.jsonl`` and marks them done, so a rerun never writes a record
twice. A partial last line (killed mid-write) is truncated on open.

One change is not an append: a rerun with more predictions per record (``build
--predictions K``) puts each upgraded record in place of its old line
(`RunStore.replace_record`). Upgrades are gathered and written together, by rewriting
the whole file under a temporary name, synced, then renamed over ``records.jsonl``: a
process killed at any point leaves the old file or the new one, so each record is there
exactly once, old or new (the rename is atomic; the old file is never edited).
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel

from nextevent.atomic import atomic_path, sync_folder
from nextevent.jsonl import (
    JSONLError,
    append_jsonl,
    cut_torn_tail,
    decode_line,
    dump_line,
    iter_lines,
    read_jsonl,
)
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
REPLACE_BATCH = 256
"""Fewest upgraded records (`RunStore.replace_record`) gathered before ``records.jsonl``
is rewritten with them; the batch grows to a tenth of the stored records, so upgrading a
whole run rewrites the file about ten times, not once per record."""
STORE_HINT = ("the run directory holds a file nextevent did not write; move the run away "
              "and build it again, or delete the line")
"""The hint of an error for a line of a run's own files that does not read back."""


class RunStore:
    """Append-only store for one run directory.

    Args:
        run_dir: the run directory; created if missing.

    Raises:
        NotADirectoryError: when ``run_dir`` exists and is a file.
        JSONLError: (stage ``store``) when ``records.jsonl`` or ``failures.jsonl`` holds a
            whole line that is not a JSON object with its ``id`` / ``key``.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise NotADirectoryError(f"run directory {self.run_dir} is a file; pass a folder")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.paths = RunDir(self.run_dir)
        self.records_path = self.paths.records
        self.failures_path = self.paths.failures
        self.clips_dir = self.paths.clips
        self.recovered: list[Failure] = []
        """What opening the run repaired (quarantined lines, a rebuilt state, videos whose
        records were lost), each also a line in ``failures.jsonl`` (stage ``store``)."""
        self._db = self._open_state()
        self._predictions: dict[str, int] = {}
        self._pending: dict[str, NEPRecord] = {}
        self._record_ids = self._recover_records()
        self._failure_keys = self._recover(self.failures_path, "key")
        # A record that reached disk is done, whatever state.sqlite says.
        for rid in self._record_ids:
            self._db.execute(
                "INSERT INTO state(item, status, stage) VALUES (?, 'done', 'record')"
                " ON CONFLICT(item) DO UPDATE SET status='done', stage='record'",
                (rid,),
            )
        self._forget_lost_records()
        self._db.commit()
        self._records = self.records_path.open("a", encoding="utf-8")
        self._failures = self.failures_path.open("a", encoding="utf-8")
        for failure in self.recovered:
            self.add_failure(failure)

    def _note(self, what: str, error: str, hint: str) -> None:
        stamp = uuid.uuid4().hex[:8]  # each repair is its own event
        self.recovered.append(Failure(input=str(self.run_dir), stage="store", error=error,
                                      hint=hint, key=f"store:{what}:{stamp}"))

    def _open_state(self) -> sqlite3.Connection:
        """``state.sqlite``, or a new one when it is not a database (moved aside, then
        rebuilt from ``records.jsonl``: its records are done, every other video is
        walked again and skips the records it has)."""
        path = self.paths.state
        for attempt in (1, 2):
            db = sqlite3.connect(path)
            try:
                db.execute("CREATE TABLE IF NOT EXISTS state (item TEXT PRIMARY KEY, status"
                           " TEXT NOT NULL, stage TEXT, detail TEXT)")
                db.execute("SELECT COUNT(*) FROM state").fetchone()
                db.commit()
                return db
            except sqlite3.DatabaseError as err:
                db.close()
                if attempt == 2:
                    raise
                aside = path.with_name(f"{path.name}.corrupt-{uuid.uuid4().hex[:8]}")
                os.replace(path, aside)
                for suffix in ("-journal", "-wal", "-shm"):
                    path.with_name(path.name + suffix).unlink(missing_ok=True)
                self._note("state", f"{path} was not a readable SQLite database ({err}); "
                           f"moved to {aside.name} and rebuilt from records.jsonl",
                           "nothing to do: finished records are kept; videos without a "
                           "finished state are built again on this run")
        raise AssertionError("unreachable")  # pragma: no cover

    def _recover_records(self) -> dict[str, str]:
        """Record id -> video id of the whole, valid lines of ``records.jsonl``; a torn
        last line is cut,
        and any other line that is not a `NEPRecord` is moved to the quarantine file
        (``records.quarantine.jsonl``, with its line number) so the rest reads back."""
        path = self.records_path
        if not path.exists():
            return {}
        if cut_torn_tail(path):
            self._note("torn", f"{path.name} ended in a partial line (a writer was killed "
                       "mid-write); the line was cut", "nothing to do: its video is built "
                       "again on this run")
        ids: dict[str, str] = {}
        bad: list[tuple[int, bytes, str]] = []
        for number, raw in iter_lines(path):
            try:
                record = decode_line(raw, NEPRecord, path=path, number=number,
                                     what="a NEP record", stage="store", hint=STORE_HINT)
            except JSONLError as err:
                bad.append((number, raw, str(err)))
                continue
            ids[record.id] = record.video_id
            self._predictions[record.id] = len(record.predictions)
        if bad:
            self._quarantine(bad)
        return ids

    def _quarantine(self, bad: list[tuple[int, bytes, str]]) -> None:
        from nextevent.rundir import quarantine_path

        path, aside = self.records_path, quarantine_path(self.paths)
        numbers = {number for number, _, _ in bad}
        with aside.open("a", encoding="utf-8") as f:
            for number, raw, error in bad:
                f.write(json.dumps({"line": number, "error": error,
                                    "text": raw.decode("utf-8", "replace").rstrip("\n")})
                        + "\n")
        kept = [raw for number, raw in iter_lines(path) if number not in numbers]
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"".join(r if r.endswith(b"\n") else r + b"\n" for r in kept))
        listed = ", ".join(str(n) for n in sorted(numbers)[:10])
        self._note("quarantine", f"{path.name} line(s) {listed} did not read back as NEP "
                   f"records ({bad[0][2]}); moved to {aside.name}, the other lines kept",
                   f"nothing to do: their videos are built again on this run; {aside.name} "
                   "keeps the lines as they were")

    def _forget_lost_records(self) -> None:
        """A record marked done whose line is gone (cut, quarantined, deleted) is no
        longer done, and neither is its video, so a rerun makes it again."""
        rows = self._db.execute(
            "SELECT item FROM state WHERE status = 'done' AND stage = 'record'").fetchall()
        lost = [item for (item,) in rows if item not in self._record_ids]
        for item in lost:
            video = item.rpartition("#")[0] or item
            self._db.execute("DELETE FROM state WHERE item IN (?, ?)", (item, video))

    @staticmethod
    def _recover(path: Path, key: str) -> set[str]:
        """Read the ``key`` of every whole line in ``path``; cut off a torn last line.

        Raises:
            JSONLError: (stage ``store``) for a line that is not a JSON object with ``key``.
        """
        if not path.exists():
            return set()
        cut_torn_tail(path)  # killed mid-line: drop the partial line
        keys: set[str] = set()
        what = f"a JSON object with a string {key!r}"
        for number, raw in iter_lines(path):
            value = decode_line(raw, path=path, number=number, what=what, stage="store",
                                hint=STORE_HINT).get(key)
            if not isinstance(value, str):
                raise JSONLError("store", f"{path} line {number} is not {what}", STORE_HINT,
                                 path, number)
            keys.add(value)
        return keys

    @staticmethod
    def _append(handle: IO[str], obj: BaseModel) -> None:
        append_jsonl(handle, obj)

    def has_record(self, record_id: str) -> bool:
        """True when a record with this id is already in ``records.jsonl``."""
        return record_id in self._record_ids

    def records_short_of(self, predictions: int) -> list[NEPRecord]:
        """The stored records with at least one prediction and fewer than
        ``predictions`` (`NEPRecord.predictions`), in file order: what a rerun with a
        larger ``--predictions`` upgrades. Records without any prediction (built without
        the predict stage) are not among them."""
        short = {rid for rid, n in self._predictions.items() if 0 < n < predictions}
        if not short:
            return []
        return [r for r in self.records() if r.id in short]

    def prediction_count(self, record_id: str) -> int:
        """Predictions of the stored record ``record_id`` (0 when it has none or is not
        stored), as the store knows it (upgrades not yet written included)."""
        return self._predictions.get(record_id, 0)

    def replace_record(self, record: NEPRecord) -> bool:
        """Put ``record`` in place of the stored record with its id (an upgrade with more
        predictions). Upgrades are gathered and written together (`flush_replacements`;
        at `REPLACE_BATCH` or a tenth of the records, whichever is more, and on `close`);
        one that is lost to a crash before that leaves the old record, which a rerun
        upgrades again.

        Returns:
            False, changing nothing, when no record with that id is stored.

        Raises:
            OSError: when a due rewrite of ``records.jsonl`` fails (the old file stays).
        """
        if record.id not in self._record_ids:
            return False
        self._pending[record.id] = record
        self._predictions[record.id] = len(record.predictions)
        if len(self._pending) >= max(REPLACE_BATCH, len(self._record_ids) // 10):
            self.flush_replacements()
        return True

    def flush_replacements(self) -> int:
        """Write the gathered upgrades: ``records.jsonl`` rewritten under a temporary
        name with each upgraded record on its old line, synced, renamed over the old file,
        and the folder synced (see the module docstring).

        Returns:
            The number of records replaced.

        Raises:
            OSError: when the file cannot be written; the old file and the gathered
                upgrades stay.
        """
        if not self._pending:
            return 0
        path, pending = self.records_path, self._pending
        self._records.flush()
        with atomic_path(path) as tmp, tmp.open("wb") as out:
            for _, raw in iter_lines(path):
                record = pending.get(json.loads(raw).get("id"))
                out.write((dump_line(record) + "\n").encode("utf-8") if record is not None
                          else raw if raw.endswith(b"\n") else raw + b"\n")
            out.flush()
            os.fsync(out.fileno())
        sync_folder(path.parent)
        self._records.close()
        self._records = path.open("a", encoding="utf-8")
        self._pending = {}
        return len(pending)

    def record_ids_by_video(self) -> dict[str, set[str]]:
        """Ids of the stored records per video id (read once when the store opened)."""
        by_video: dict[str, set[str]] = {}
        for rid, video_id in self._record_ids.items():
            by_video.setdefault(video_id, set()).add(rid)
        return by_video

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
        self._append(self._records, record)
        self._record_ids[record.id] = record.video_id
        self._predictions[record.id] = len(record.predictions)
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
        self._append(self._failures, failure)
        self._failure_keys.add(failure.key)
        return True

    def records(self) -> Iterator[NEPRecord]:
        """Yield the stored records in the order they were written (gathered upgrades
        are written first)."""
        self.flush_replacements()
        self._records.flush()
        yield from read_records(self.records_path)

    def failures(self) -> list[Failure]:
        """All failures written to this run, oldest first.

        Raises:
            JSONLError: (stage ``store``) for a line that is not a `Failure`.
        """
        self._failures.flush()
        if not self.failures_path.exists():
            return []
        return list(read_failures(self.failures_path, stage="store"))

    def statuses(self) -> dict[str, str]:
        """Status per work item (``item -> done | failed | skipped``)."""
        return dict(self._db.execute("SELECT item, status FROM state").fetchall())

    def counts(self) -> dict[str, int]:
        """Number of work items per status, e.g. ``{"done": 3, "failed": 2}``."""
        rows = self._db.execute("SELECT status, COUNT(*) FROM state GROUP BY status").fetchall()
        return {status: n for status, n in rows}

    def clip_dir(self, record_id: str) -> Path:
        """Folder for one record's clips, named safely whatever the video id holds."""
        return self.paths.clip_dir(record_id)

    def close(self) -> None:
        """Write the gathered upgrades, flush and close the files and the state database."""
        try:
            self.flush_replacements()
        finally:
            self._records.close()
            self._failures.close()
            self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_records(path: str | Path, *, stage: str = "store", hint: str = STORE_HINT,
                 name: str | None = None) -> Iterator[NEPRecord]:
    """Yield `NEPRecord` objects from a ``records.jsonl`` file, in file order.

    Args:
        path: the file (`nextevent.rundir.RunDir.records`).
        stage, hint: of the error for a bad line (the caller's stage, what to do).
        name: the file as the error names it; default the path.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        JSONLError: (a `NextEventError` and a ``ValueError``, as pydantic's
            ``ValidationError`` is) naming the file and the line, when a line is not
            UTF-8 JSON or does not match the schema.
    """
    yield from read_jsonl(path, NEPRecord, what="a NEP record", stage=stage, hint=hint,
                          name=name)


def read_failures(path: str | Path, *, stage: str = "store", hint: str = STORE_HINT,
                  name: str | None = None) -> Iterator[Failure]:
    """Yield the `Failure` lines of a ``failures.jsonl`` file (a run's, or one beside a
    benchmark or T3 file), in file order.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        JSONLError: naming the file and the line, for a line that is not a failure.
    """
    yield from read_jsonl(path, Failure, what="a failure", stage=stage, hint=hint, name=name)


def _read_state(run_dir: str | Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on a run's ``state.sqlite`` opened read-only (nothing is created
    or changed; a build may be running); none when the file is absent or unreadable."""
    path = RunDir(Path(run_dir)).state
    if not path.is_file():
        return []
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        return db.execute(sql).fetchall()
    except sqlite3.DatabaseError:
        return []  # an older or foreign state file: what is read from it is optional
    finally:
        db.close()


def read_state_counts(run_dir: str | Path) -> dict[tuple[str, str], int]:
    """Work items per ``(status, stage)`` in a run's ``state.sqlite``, opened read-only.
    ``stage`` is ``""`` where none was stored.

    Returns:
        ``{("done", "record"): 3, ("failed", "cut"): 1, ...}``; empty when the run has no
        state file or the file is not a state database this version reads.
    """
    rows = _read_state(run_dir, "SELECT status, COALESCE(stage, ''), COUNT(*) FROM state"
                                " GROUP BY status, stage")
    return {(status, stage): n for status, stage, n in rows}


def read_statuses(run_dir: str | Path) -> dict[str, str]:
    """Status per work item (``item -> done | failed | skipped``) of a run's
    ``state.sqlite``, opened read-only; empty when absent or unreadable."""
    return dict(_read_state(run_dir, "SELECT item, status FROM state"))


def upgrade_key(predictions: int, item: str) -> str:
    """The state key of ``item`` (a record or video id) upgraded to ``predictions``
    samples by a rerun with a larger ``--predictions``; the keys of that upgrade's
    failures start with it (`is_resolved`)."""
    return f"upgrade:{predictions}:{item}"


def is_resolved(failure: Failure, statuses: Mapping[str, str]) -> bool:
    """True when the input a failure names has since been finished (``done``): the
    video itself, or for a record's failure (``<video>#<split>``) that record or its
    video. Such a line stays in ``failures.jsonl`` (append-only) but is no longer wrong.

    An export failure (key ``export:...``) names a record that is done already; it is
    resolved only once a later export wrote that item (its key ``done``, see
    `nextevent.export.export_run`). So does a failure of a ``--predictions`` upgrade
    (key ``upgrade:K:...``): resolved once that record's upgrade to K is written.
    """
    if failure.key.startswith("export:"):
        return statuses.get(failure.key) == "done"
    if failure.key.startswith("upgrade:"):  # its record is done, but short of K samples
        k = (failure.key.split(":") + [""])[1]  # a hand-edited key stays open
        return k.isdigit() and statuses.get(upgrade_key(int(k), failure.input)) == "done"
    if statuses.get(failure.input) == "done":
        return True
    video, sep, split = failure.input.rpartition("#")
    return bool(sep and split.isdigit() and statuses.get(video) == "done")
