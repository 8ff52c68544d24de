"""Ray runner: the media stages of `nextevent build` on a Ray cluster.

The same stage function as the local runner, `process_video`, runs as Ray Data ``map``
tasks (one CPU each, at most ``workers`` at once); the driver (this process) is the only
writer of the run store, exactly as in `nextevent.pipeline.runner.run_build`, so the run
directory is the same and a killed run resumes the same way. Ray Data streams results back
as videos finish, so the driver holds one result at a time, not the whole dataset.

Every Ray node must see ``videos_dir`` and ``config.run_dir`` under the same paths (a
shared file system), since workers read the sources and write clips there directly.

Interface used (Ray 2.x): ``ray.data.from_items``, ``Dataset.map(fn, num_cpus=,
compute=TaskPoolStrategy(size=))`` (``concurrency=`` before 2.51),
``Dataset.iter_rows()``; see ray-project/ray python/ray/data/dataset.py.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nextevent.pipeline.runner import BuildSummary, drive_build
from nextevent.pipeline.stages import BuildConfig, VideoResult, VideoTask, process_video
from nextevent.records import Failure, NextEventError, VideoAnnotation


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


def _process_row(row: dict[str, Any]) -> dict[str, Any]:
    """Ray Data map function: one pickled (task, config) in, one pickled result out."""
    task, config = pickle.loads(row["task"])
    return {"result": pickle.dumps(process_video(task, config))}


def _execute_ray(tasks: list[VideoTask], config: BuildConfig,
                 workers: int) -> Iterable[VideoResult]:
    """Yield one `VideoResult` per task as Ray finishes them (order not kept)."""
    if not tasks:
        return
    import ray

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = False
    # One video per block, so videos spread over workers instead of riding in one block.
    items = [{"task": pickle.dumps((t, config))} for t in tasks]
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    size = max(1, workers)
    # Ray >= 2.51 takes the task-pool size as ``compute``; older releases as ``concurrency``.
    limit = ({"compute": ray.data.TaskPoolStrategy(size=size)}
             if hasattr(ray.data, "TaskPoolStrategy") else {"concurrency": size})
    ds = ds.map(_process_row, num_cpus=1, **limit)
    for row in ds.iter_rows():
        yield pickle.loads(row["result"])


def run_build_ray(
    annotations: Iterable[VideoAnnotation],
    videos_dir: Path,
    config: BuildConfig,
    *,
    import_failures: Iterable[Failure] = (),
    workers: int = 2,
    address: str | None = None,
    show_progress: bool = True,
) -> BuildSummary:
    """Build NEP records like `run_build`, with decode/cut as Ray tasks.

    Resume, skip and failure rules are those of `run_build`; the records written are the
    same (the test `tests/test_ray.py` compares both engines).

    Args:
        annotations: imported annotations (see `nextevent.sources.load_annotations`).
        videos_dir: folder holding the video files (same path on every node).
        config: build settings; ``config.run_dir`` must be on storage every node shares.
        import_failures: failures from the importer, stored with the run's failures.
        workers: most videos processed at once (one CPU each); with no address, the CPUs
            of the local Ray instance.
        address: Ray cluster address; None starts (and stops) a local instance.
        show_progress: draw a rich progress bar.

    Returns:
        A `BuildSummary` of this run.

    Raises:
        NextEventError: (stage ``engine``) Ray is missing or unreachable.
    """
    ray = _import_ray()
    started = connect(address, workers)
    try:
        return drive_build(annotations, videos_dir, config,
                           lambda tasks: _execute_ray(tasks, config, workers),
                           import_failures=import_failures, show_progress=show_progress,
                           label="cutting videos (ray)")
    finally:
        if started:
            ray.shutdown()
