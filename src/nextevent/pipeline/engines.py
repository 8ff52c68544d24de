"""Where media steps run: the only thing an engine decides (datatrove's executors).

The driver (`nextevent.pipeline.driver`) walks every video's steps on one event loop and
hands each run of consecutive media steps to its engine as one call,
``await engine.media(names, state, config)``; model calls stay on the loop, through the
one `nextevent.llm.LLMClient`, whatever the engine, so the answer cache is shared and a
rerun sends no call that already succeeded.

* `LocalEngine`: a process pool of ``workers`` spawned processes (a thread when
  ``workers`` is 1, so a one-worker build needs no second interpreter);
* `RayEngine`: each media call is a Ray task (``ray.remote``, one CPU, at most ``workers``
  at once) awaited from the loop (Ray's ``ObjectRef`` is awaitable). Every node must see
  the videos folder and the run directory under the same paths (a shared file system),
  since tasks read the sources and write clips there.

Interface used (Ray 2.x): ``ray.init``, ``ray.remote(num_cpus=)``, ``await ref``,
``ray.shutdown``; see ray-project/ray ``python/ray/_private/worker.py``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from nextevent.pipeline.config import BuildConfig
from nextevent.pipeline.media_steps import run_media_steps
from nextevent.pipeline.state import VideoState
from nextevent.records import NextEventError


class Engine(Protocol):
    """Runs media steps somewhere and hands the state back."""

    async def media(self, names: tuple[str, ...], state: VideoState,
                    config: BuildConfig) -> VideoState:
        """`nextevent.pipeline.media_steps.run_media_steps` on ``state``, somewhere."""
        ...

    def close(self) -> None:
        """Stop what the engine started."""
        ...


def _die_with_parent(parent_pid: int, decode_threads: int = 0) -> None:
    """Pool-worker initializer: the worker dies when the driver dies, SIGKILL included,
    and decodes on its share of the cores (``decode_threads``, 0 = FFmpeg's choice).

    Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``) kills the worker
    at once; a watchdog thread checking the parent pid every second covers systems
    without it and the race of a parent dying before the ``prctl``.
    """
    import ctypes
    import signal
    import threading
    import time

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the watchdog alone
        pass

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(1.0)

    if decode_threads:
        from nextevent.media._io import DECODE_THREADS_ENV

        os.environ[DECODE_THREADS_ENV] = str(decode_threads)
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, name="nextevent-parent-watch", daemon=True).start()


class LocalEngine:
    """Media steps in a local process pool (spawned, not forked: the parent holds SQLite
    handles and the event loop). Workers die with this process, on SIGKILL too
    (`_die_with_parent`).

    Args:
        workers: processes; 1 runs media steps on one thread of this process.
    """

    label = "local"

    def __init__(self, workers: int = 1) -> None:
        from nextevent.media._io import cores  # PyAV: imported once an engine starts

        self.workers = max(1, workers)
        self._pool: Executor = (
            ThreadPoolExecutor(1, thread_name_prefix="nextevent-media") if self.workers == 1
            else ProcessPoolExecutor(max_workers=self.workers,
                                     mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_die_with_parent,
                                     initargs=(os.getpid(), cores() // self.workers or 1)))

    async def media(self, names: tuple[str, ...], state: VideoState,
                    config: BuildConfig) -> VideoState:
        """The media steps ``names`` in the pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, run_media_steps, names, state, config)

    def close(self) -> None:
        """Stop the workers (queued work is cancelled)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise NextEventError(
            "engine", "--engine ray needs Ray, which is not installed",
            "pip install 'nextevent[ray]' (or pip install 'ray[data]')") from err
    return ray


def connect(address: str | None, workers: int) -> bool:
    """Connect to Ray unless already connected; returns True when this call started it.

    Args:
        address: a cluster address (``ray://host:10001``, ``host:6379``, ``auto``); None
            starts a local instance on loopback with ``workers`` CPUs and no dashboard.
        workers: CPUs of the local instance (ignored with an address).

    Raises:
        NextEventError: (stage ``engine``) Ray is missing or the address does not answer.
    """
    ray = _import_ray()
    if ray.is_initialized():
        return False
    # Workers import nextevent from the same tree as the driver (editable installs too).
    src = str(Path(__file__).resolve().parents[2])
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(
        p for p in (src, os.environ.get("PYTHONPATH", "")) if p)}}
    try:
        if address is None:
            ray.init(num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1",
                     runtime_env=env, log_to_driver=False, logging_level="ERROR")
        else:
            ray.init(address=address, runtime_env=env, log_to_driver=False,
                     logging_level="ERROR")
    except Exception as err:  # ConnectionError, RuntimeError, TimeoutError from ray.init
        raise NextEventError(
            "engine", f"cannot connect to Ray at {address or 'a new local instance'}: {err}",
            "start the head with `ray start --head` and pass its address to --ray-address",
        ) from err
    return True


class RayEngine:
    """Media steps as Ray tasks (one CPU each, at most ``workers`` at once).

    Args:
        workers: most media calls in flight; with no address, the CPUs of the local Ray
            instance this engine starts (and stops on `close`).
        address: Ray cluster address, or None.

    Raises:
        NextEventError: (stage ``engine``) Ray is missing or unreachable.
    """

    label = "ray"

    def __init__(self, workers: int = 2, address: str | None = None) -> None:
        self.workers = max(1, workers)
        self._ray = _import_ray()
        self._started = connect(address, self.workers)
        self._task = self._ray.remote(num_cpus=1)(run_media_steps)
        self._slots: asyncio.Semaphore | None = None

    async def media(self, names: tuple[str, ...], state: VideoState,
                    config: BuildConfig) -> VideoState:
        """The media steps ``names`` as one Ray task."""
        if self._slots is None:  # made on the loop that awaits it
            self._slots = asyncio.Semaphore(self.workers)
        async with self._slots:
            result: VideoState = await self._task.remote(names, state, config)
            return result

    def close(self) -> None:
        """Shut down the local Ray instance this engine started (a cluster stays up)."""
        if self._started:
            self._ray.shutdown()
            self._started = False


def make_engine(name: str, workers: int, ray_address: str | None = None) -> Engine:
    """The engine ``--engine NAME`` names.

    Raises:
        NextEventError: stage ``engine``, for an unknown name, or Ray missing/unreachable.
    """
    if name == "local":
        return LocalEngine(workers)
    if name == "ray":
        return RayEngine(workers, ray_address)
    raise NextEventError("engine", f"unknown engine {name!r}", "use --engine local or ray")
