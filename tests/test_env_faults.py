"""Faults of the inputs and the disk (issue 14, item 5), through the real CLI on the sample
videos, the V1 fixture and the annotation subsets: a full disk, a read-only ``--out``, an
``--out`` that is a file (or lies under one), and input files that are missing, folders,
not UTF-8, unreadable or JSON nested 100,000 deep. Each is one error line naming the path,
a hint, a non-zero exit and never a traceback; a bad line of a JSONL annotation file is
one failure and the rest is built.

The disk faults need a size-limited or read-only folder: a 1 MiB tmpfs mounted for the
test (root only; skipped with the reason elsewhere). As root ``chmod 000`` does not stop
a read, so the unreadable-file case runs the CLI without the file-permission
capabilities (``setpriv``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.records import Failure

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "sample_events.jsonl"
V1_FIXTURE = Path(__file__).parent / "data" / "export" / "next_event_prediction_v1.json"
ACTIVITYNET = Path(__file__).parent / "data" / "annotations" / "activitynet_val_subset.json"
FAST = ("--no-shots", "--cut", "fast", "--workers", "1", "--no-progress")
DEEP = "[" * 100_000


def invoke(*args: str | Path) -> typer.testing.Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def error_line(output: str) -> str:
    """The one ``error (...)`` line of an output with a hint and no traceback."""
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error (")]
    assert len(errors) == 1, output
    assert "\nhint: " in output, output
    return errors[0]


def assert_one_error(result: typer.testing.Result, codes: tuple[int, ...], *named: str
                     ) -> str:
    assert result.exit_code in codes, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception)
    error = error_line(result.output)
    for text in named:
        assert text in error, result.output
    return error


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The inputs every command reads: the sample videos, a V1 run and a text benchmark."""
    base = tmp_path_factory.mktemp("env")
    assert invoke("samples", "--out", base / "videos").exit_code == 0
    assert invoke("import", "v1", V1_FIXTURE, "--out", base / "v1run").exit_code == 0
    result = invoke("bench", "build", "--annotations", ACTIVITYNET, "--out",
                    base / "bench.jsonl", "--no-gate", "--max-videos", "20")
    assert result.exit_code == 0, result.output
    return {"videos": base / "videos", "v1run": base / "v1run", "bench": base / "bench.jsonl"}


#: command -> its arguments, writing under ``out``.
COMMANDS: dict[str, Callable[[dict[str, Path], Path], list[str | Path]]] = {
    "build": lambda e, out: ["build", "--videos", e["videos"], "--annotations", EXAMPLES,
                             "--out", out, *FAST],
    "export": lambda e, out: ["export", e["v1run"], "--target", "v1", "--out", out],
    "import v1": lambda e, out: ["import", "v1", V1_FIXTURE, "--out", out],
    "bench eval": lambda e, out: ["bench", "eval", e["bench"], "--base-url",
                                  "http://127.0.0.1:9/v1", "--model", "m", "--out", out,
                                  "--text-only", "--timeout-s", "1"],
    "bench build": lambda e, out: ["bench", "build", "--annotations", ACTIVITYNET, "--out",
                                   out / "bench.jsonl", "--no-gate", "--max-videos", "5"],
    "t3 synth": lambda e, out: ["t3", "synth", "--from", EXAMPLES, "--format", "jsonl",
                                "--out", out / "t3.jsonl", "--gate", "off"],
    "report": lambda e, out: ["report", e["v1run"], "--out", out, "--samples", "0"],
}


def _run(*cmd: str | Path) -> bool:
    return subprocess.run([str(c) for c in cmd], capture_output=True).returncode == 0


@contextmanager
def small_disk(where: Path, fault: str) -> Iterator[Path]:
    """A 1 MiB tmpfs at ``where``, filled up (``full``) or read-only (``read-only``);
    yields an empty folder on it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    where.mkdir()
    if not _run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", where):
        pytest.skip("cannot mount a tmpfs here (no CAP_SYS_ADMIN?)")
    try:
        (where / "out").mkdir()
        if fault == "full":
            try:
                with (where / "filler").open("wb") as handle:
                    while True:
                        handle.write(b"\0" * 65536)
            except OSError:
                pass
        elif not _run("mount", "-o", "remount,ro", where):
            pytest.skip("cannot remount the tmpfs read-only here")
        yield where / "out"
    finally:
        _run("umount", "-l", where)


@pytest.mark.parametrize("fault", ["full", "read-only"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_full_or_read_only_disk_is_one_error_line(
        tmp_path: Path, env: dict[str, Path], command: str, fault: str):
    with small_disk(tmp_path / "disk", fault) as out:
        result = invoke(*COMMANDS[command](env, out))
    error = assert_one_error(result, (1, 2), str(out))
    words = ("no space left", "disk is full") if fault == "full" else (
        "read-only", "readonly", "cannot write", "unable to open")
    assert any(w in error.lower() for w in words), error


@pytest.mark.parametrize("under", [False, True])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_out_that_is_a_file_is_one_error_line(
        tmp_path: Path, env: dict[str, Path], command: str, under: bool):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder\n", encoding="utf-8")
    out = blocker / "sub" if under else blocker
    result = invoke(*COMMANDS[command](env, out))
    assert_one_error(result, (2,), str(blocker))
    assert blocker.read_text(encoding="utf-8") == "not a folder\n"


# ----------------------------------------------------------------------------- inputs

#: command -> its arguments reading ``path`` as the input under test.
READERS: dict[str, Callable[[dict[str, Path], Path, Path], list[str | Path]]] = {
    "import v1": lambda e, path, out: ["import", "v1", path, "--out", out],
    "bench eval": lambda e, path, out: ["bench", "eval", path, "--base-url",
                                        "http://127.0.0.1:9/v1", "--model", "m", "--out", out,
                                        "--text-only"],
    "report --bench": lambda e, path, out: ["report", e["v1run"], "--out", out, "--bench",
                                            path, "--samples", "0"],
    "build --annotations": lambda e, path, out: ["build", "--videos", e["videos"],
                                                 "--annotations", path, "--out", out, *FAST],
}


def bad_input(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"input_{kind}.json"
    if kind == "not-utf8":
        path.write_bytes(b'\xff\xfe{"video_id": "\xe9"}\n')
    elif kind == "deep":
        path.write_text(DEEP + "\n", encoding="utf-8")
    elif kind == "folder":
        path.mkdir()
    return path  # "missing": never made


@pytest.mark.parametrize("kind", ["missing", "folder", "not-utf8", "deep"])
@pytest.mark.parametrize("command", list(READERS))
def test_a_bad_input_file_is_one_error_line(
        tmp_path: Path, env: dict[str, Path], command: str, kind: str):
    path = bad_input(tmp_path, kind)
    out = tmp_path / "out"
    result = invoke(*READERS[command](env, path, out))
    error = assert_one_error(result, (2,), str(path))
    expected = {"missing": "does not exist", "folder": "folder", "not-utf8": "UTF-8",
                "deep": ("too deep", "recursion limit")}[kind]
    assert any(w in error for w in ((expected,) if isinstance(expected, str) else expected)
               ), error
    assert not (out / "records.jsonl").exists()


@pytest.mark.parametrize("command", list(READERS))
def test_an_unreadable_input_file_is_one_error_line(
        tmp_path: Path, env: dict[str, Path], command: str):
    source = {"import v1": V1_FIXTURE, "bench eval": env["bench"],
              "report --bench": env["bench"], "build --annotations": EXAMPLES}[command]
    path = tmp_path / f"locked{source.suffix}"
    shutil.copyfile(source, path)
    path.chmod(0)
    prefix: list[str] = []
    if os.geteuid() == 0:  # root reads any file: drop the capabilities that let it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("as root, an unreadable file needs setpriv to drop CAP_DAC_OVERRIDE")
        caps = "-dac_override,-dac_read_search"
        prefix = [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", "--"]
    args = [str(a) for a in READERS[command](env, path, tmp_path / "out")]
    proc = subprocess.run([*prefix, sys.executable, "-m", "nextevent", *args],
                          capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines()
             if line.startswith(("error (", "Error: "))]
    assert len(lines) == 1 and path.name in lines[0], output
    assert "not readable" in lines[0] or "permission" in lines[0].lower(), output


def test_a_deep_json_line_of_an_annotation_file_fails_alone(tmp_path: Path,
                                                            env: dict[str, Path]):
    src = tmp_path / "events.jsonl"
    lines = EXAMPLES.read_text(encoding="utf-8").splitlines()
    src.write_text("\n".join([DEEP, *lines, '{"video_id": "x", "e": ' + DEEP + "}"]) + "\n",
                   encoding="utf-8")
    out = tmp_path / "run"
    result = invoke("build", "--videos", env["videos"], "--annotations", src, "--out", out,
                    *FAST)
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 0, result.output
    failures = [Failure.model_validate_json(line) for line in
                (out / "failures.jsonl").read_text(encoding="utf-8").splitlines()]
    deep = [f for f in failures if "nested too deeply" in f.error]
    assert {f.input for f in deep} == {f"{src}:1", f"{src}:{len(lines) + 2}"}
    assert (out / "records.jsonl").read_text(encoding="utf-8").strip()


def test_a_deep_json_line_of_a_benchmark_names_its_line(tmp_path: Path,
                                                       env: dict[str, Path]):
    bench = tmp_path / "bench.jsonl"
    good = env["bench"].read_text(encoding="utf-8").splitlines()[:3]
    bench.write_text("\n".join([*good, DEEP]) + "\n", encoding="utf-8")
    result = invoke("bench", "eval", bench, "--base-url", "http://127.0.0.1:9/v1",
                    "--model", "m", "--out", tmp_path / "eval", "--text-only")
    assert_one_error(result, (2,), f"{bench} line 4")
    assert json.loads(good[0])  # the good lines are items the reader would take
