"""Concurrency limits for model calls: a semaphore that serves higher priorities first.

When slots are scarce, every free slot goes to the waiting call of highest priority,
ties in arrival order. The pipeline gives each stage its level in the stage graph
(`nextevent.pipeline.model_stages.PRIORITY`), Hu's highest-level-first list
scheduling, so the server is kept busy to the end of the run.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class PrioritySemaphore:
    """An asyncio semaphore whose waiters are woken highest ``priority`` first.

    Args:
        value: number of holders allowed at once (>= 1).

    Raises:
        ValueError: when ``value < 1``.
    """

    def __init__(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"a semaphore needs at least 1 slot, got {value}")
        self._free = value
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, priority: int = 0) -> None:
        """Wait for a slot; higher ``priority`` waiters are served first."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-priority, next(self._order), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # got the slot while being cancelled
                self.release()
            raise

    def release(self) -> None:
        """Give a slot back, to the best waiter if any."""
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
                return
        self._free += 1

    def locked(self) -> bool:
        """True when no slot is free."""
        return self._free == 0
