"""The run store on a thread of its own, so the event loop never waits on an fsync."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from nextevent.store import RunStore


class StoreWriter:
    """The driver's one handle on the run directory.

    Every write of `RunStore` is flushed and fsynced; on the event loop a burst of records
    finishing together would stall all model calls for as long. Writes are queued here in
    order and run on one thread (the one that opened the store, as SQLite wants); reads
    block, and are only done while setting up and at the end.

    Args:
        run_dir: the run directory.
    """

    def __init__(self, run_dir: Path) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="nextevent-store")
        self.store: RunStore = self._pool.submit(RunStore, run_dir).result()
        self._pending: list[Future[Any]] = []

    def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the store thread, waiting for the result."""
        return self._pool.submit(fn, *args).result()

    def write(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` on the store thread, after every earlier write."""
        self._pending = [f for f in self._pending if not f.done() or f.exception()]
        self._pending.append(self._pool.submit(fn, *args))

    def close(self) -> None:
        """Finish the queued writes, close the store, and raise the first write error."""
        errors = [f.exception() for f in self._pending]
        self._pool.submit(self.store.close).result()
        self._pool.shutdown(wait=True)
        for error in errors:
            if error is not None:
                raise error
