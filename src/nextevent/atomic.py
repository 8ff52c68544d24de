"""Atomic file writes: a temporary name beside the target, renamed onto it when whole.

Every atomic writer of nextevent goes through `atomic_path` (the store, export files,
Parquet, the build options), so a killed writer never leaves a half-written file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def sync_folder(folder: Path) -> None:
    """fsync a folder, so a rename inside it survives a power loss (POSIX; a no-op where
    folders cannot be opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
