"""Cached virtual environments for training engines whose pins differ from ours.

An engine (LLaMA-Factory, TRL, verl, lmms-eval) is installed once into
``.cache/venvs/<name>`` (git-ignored) and reused while its requirement list is unchanged.

Each venv sees the environment pytest runs in, whether that is a venv or a base Python:
a ``.pth`` file adds the running interpreter's site-packages *after* the venv's own
(``site.addsitedir``, so their ``.pth`` files, the editable nextevent install among them,
apply too). So torch (the CPU build), transformers, sentence-transformers and nextevent
come from the test environment, nothing is installed twice, and only what the engine pins
beyond that goes into the venv. A plain ``--system-site-packages`` venv would see the
*base* interpreter's packages instead, which lack nextevent when pytest runs in a venv.
A constraint file pins torch to the running version so no engine pulls a CUDA build.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".cache" / "venvs"


def parent_site_dirs() -> list[str]:
    """The running interpreter's site-packages folders (venv or base), in sys.path order."""
    dirs = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
            *site.getsitepackages()]
    return [d for d in dict.fromkeys(dirs) if Path(d).is_dir()]


def _constraints(venv: Path) -> Path:
    """A pip constraint file pinning torch to the running version (when installed)."""
    lines = []
    with contextlib.suppress(metadata.PackageNotFoundError):
        lines.append(f"torch=={metadata.version('torch')}")
    path = venv / "nextevent-constraints.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def ensure_venv(name: str, installs: Sequence[Sequence[str]], *, timeout_s: float = 900,
                remove: Sequence[str] = ()) -> Path:
    """The python of ``.cache/venvs/<name>``, created with ``installs`` if missing or stale.

    The venv is keyed by ``installs`` and by the site-packages it borrows, so running the
    tests from another environment rebuilds it rather than mixing two.

    Args:
        name: the venv folder name.
        installs: ``pip install`` argument lists, run in order (e.g.
            ``[["--no-deps", "llamafactory==0.9.5"], ["datasets==4.0.0"]]``).
        timeout_s: limit for each pip run, in seconds.
        remove: distributions to uninstall from the venv after the installs: e.g.
            ``torchvision``, whose PyPI (CUDA) build pulled in by an engine does not import
            beside the CPU torch ("operator torchvision::nms does not exist"), while
            transformers runs without it.

    Raises:
        RuntimeError: when venv creation or a pip install fails (with pip's output tail).
    """
    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / "nextevent-installs.json"
    parents = parent_site_dirs()
    wanted = json.dumps({"installs": [list(i) for i in installs], "parents": parents,
                         "remove": list(remove)})
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", str(venv)], timeout_s)
    own_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    (Path(own_site) / "_nextevent_parent_env.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({d!r})" for d in parents) + "\n")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1",
           "PIP_CONSTRAINT": " ".join(filter(None, [os.environ.get("PIP_CONSTRAINT", ""),
                                                    str(_constraints(venv))]))}
    for args in installs:
        _run([str(python), "-m", "pip", "install", "-q", *args], timeout_s, env)
    if remove:
        _run([str(python), "-m", "pip", "uninstall", "-q", "-y", *remove], timeout_s, env)
    stamp.write_text(wanted)
    return python


def _run(cmd: list[str], timeout_s: float, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                           f"{(proc.stdout + proc.stderr)[-3000:]}")
