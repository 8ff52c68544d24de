"""Cached virtual environments for training engines whose pins differ from ours.

An engine (LLaMA-Factory, TRL) is installed once into ``.cache/venvs/<name>`` (git-ignored)
and reused while its requirement list is unchanged. The venvs see the system site-packages,
so torch 2.13.0 CPU, transformers, sentence-transformers and nextevent itself (editable)
come from the main environment; only what the engine needs beyond that is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".cache" / "venvs"


def ensure_venv(name: str, installs: Sequence[Sequence[str]], *, timeout_s: float = 900) -> Path:
    """The python of ``.cache/venvs/<name>``, created with ``installs`` if missing or stale.

    Args:
        name: the venv folder name.
        installs: ``pip install`` argument lists, run in order (e.g.
            ``[["--no-deps", "llamafactory==0.9.5"], ["datasets==4.0.0"]]``).
        timeout_s: limit for each pip run, in seconds.

    Raises:
        RuntimeError: when venv creation or a pip install fails (with pip's output tail).
    """
    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / "nextevent-installs.json"
    wanted = json.dumps([list(i) for i in installs])
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], timeout_s)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    for args in installs:
        _run([str(python), "-m", "pip", "install", "-q", *args], timeout_s, env)
    stamp.write_text(wanted)
    return python


def _run(cmd: list[str], timeout_s: float, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                           f"{(proc.stdout + proc.stderr)[-3000:]}")
