"""A run's build options: stored by its first build in ``build_options.json``, compared
with every rerun's before anything is written (`claim_run_dir`), and the start-over that
``--force`` does (`clear_run`)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nextevent.atomic import atomic_path
from nextevent.records import NextEventError
from nextevent.rundir import BUILD_OUTPUTS, RunDir

DIGEST = "annotations-sha256"
"""The build option holding the annotation file's content digest (`file_digest`): the
path alone would let an annotation file edited in place mix old and new records."""
MODEL_STAGES = "model-stages"
"""The build option holding the model stages a build with ``--llm-config`` runs
(``--stages`` minus ``--skip-stage``, comma-joined in pipeline order; for annotated
videos only the reasoning stages, the others never run on them; None without a model
config)."""
RAISABLE: tuple[str, ...] = ("predictions",)
"""Options a rerun may raise above the stored value without starting over (the stored
records gain what the larger value adds); lowering one is a change like any other."""


def claim_run_dir(run_dir: Path, options: Mapping[str, Any], *, force: bool = False) -> bool:
    """Check a build's options against those the run directory's first build stored, and
    store them, before anything else is written.

    A rerun with the same options resumes the run; records cut with other options mixed
    into the same ``records.jsonl`` would silently disagree. A run without stored options
    (new, or older than stored options) takes ``options`` as its own.

    Args:
        run_dir: the run directory (created by the caller).
        options: CLI option name (without ``--``) -> JSON value, for every option that
            decides what the build writes; not those that only decide how fast.
        force: when the options differ, start the run over (`clear_run`)
            instead of stopping.

    Returns:
        True when the run was started over.

    Raises:
        NextEventError: stage ``options``, naming each option that differs (stored and
            given value), when ``force`` is False; or when the stored file is unreadable.
    """
    try:
        stored = read_build_options(run_dir)
    except ValueError as err:  # json.JSONDecodeError is a ValueError
        raise NextEventError(
            "options", f"the stored build options of {run_dir} cannot be read: {err}",
            "pass --force to start the run over, or pick a new --out") from None
    changes = [(name, old, new) for name, old, new in (
        changed_options(stored, options) if stored is not None else [])
        if not _raised(name, old, new)]
    if changes and not force:
        listed = "; ".join(_as_change(name, old, new, options) for name, old, new in changes)
        raisable = [name for name, _, _ in changes if name in RAISABLE]
        edited = [name for name, _, _ in changes] == [DIGEST]
        raise NextEventError(
            "options", f"run directory {run_dir} was built with other options: {listed}",
            ("the records of the first build came from the file as it was; pass --force to "
             "start the run over from the file as it is now (deletes its records, failures, "
             "state and clips), or pick a new --out") if edited else
            "rerun with the earlier options to resume this run, pass --force to start it "
            "over (deletes its records, failures, state and clips), or pick a new --out"
            + "".join(f"; --{name} may be raised on a rerun, not lowered" for name in raisable))
    if changes:
        clear_run(run_dir)
        stored = None
    write_build_options(run_dir, {**(stored or {}), **options})
    return bool(changes)


def _raised(name: str, old: Any, new: Any) -> bool:
    """True for a `RAISABLE` option given a larger whole number than the stored one."""
    return (name in RAISABLE and isinstance(old, int) and isinstance(new, int)
            and not isinstance(old, bool) and new > old)


def _as_change(name: str, old: Any, new: Any, options: Mapping[str, Any]) -> str:
    """One changed option for the listing: ``--cut fast before, --cut smart now``."""
    if name == MODEL_STAGES:
        return (f"model stages {old or 'none (no --llm-config)'} before, "
                f"{new or 'none (no --llm-config)'} now (the model call cache keeps every "
                "paid answer, so a start-over asks no call twice)")
    if name == DIGEST:
        return (f"--annotations {options.get('annotations')}: the file changed since the "
                f"first build (sha256 {str(old)[:12]} before, {str(new)[:12]} now)")
    return f"{_as_option(name, old)} before, {_as_option(name, new)} now"


def file_digest(path: str | Path) -> str:
    """The SHA-256 (hex) of a file's bytes (the annotation file's `DIGEST`), read in
    1 MiB blocks.

    Raises:
        NextEventError: stage ``import``, when the file cannot be read.
    """
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        raise NextEventError("import", f"cannot read annotation file {path}: "
                             f"{err.strerror or err}", "check the file's permissions") from None
    return digest.hexdigest()


def _as_option(name: str, value: Any) -> str:
    """How an option value is typed on the command line: ``--cut fast``, ``--no-shots``."""
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no-{name}"
    if value is None:
        return f"no --{name}"
    return f"--{name} {value if isinstance(value, str) else json.dumps(value)}"


def read_build_options(run_dir: str | Path) -> dict[str, Any] | None:
    """The build options stored in ``run_dir`` by its first build, or None when the run
    has none (a new folder, or a run written before options were stored).

    Raises:
        ValueError: when the file is not a JSON object (edited by hand).
    """
    path = RunDir(Path(run_dir)).build_options
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a JSON {type(data).__name__}, not an object")
    return data


def write_build_options(run_dir: str | Path, options: Mapping[str, Any]) -> Path:
    """Store ``options`` (name -> JSON value) in ``run_dir`` atomically; returns the file."""
    path = RunDir(Path(run_dir)).build_options
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
    clips = RunDir(run_dir).clips
    if clips.is_dir():
        shutil.rmtree(clips)
        removed.append(clips)
    return removed
