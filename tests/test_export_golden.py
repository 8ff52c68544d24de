"""Golden exports: every target's files, byte for byte, from the README quickstart run.

The run is built as the README quickstart builds it (``nextevent samples``, then ``nextevent
build ... --format jsonl --splits-per-video 2``, with ``--workers 1`` so the records come in
one order), plus the V1-33K fixture imported with
``nextevent import v1`` (its videos laid out as in the release) for the strategies that
need reasoning and a critique. Each case runs ``nextevent export`` through the CLI and
compares what it wrote with ``tests/data/golden_exports/<target>/<case>/``:

* text files (JSON, JSONL, YAML, the launch script and format prompt): byte for byte after
  the temporary folders are replaced by placeholders (`Placeholders`), and the ``time``
  of a failures line by ``{TIME}``;
* Parquet files: their schema (metadata included) and rows (``pyarrow`` ``to_pylist``),
  stored as ``<name>.parquet.json``. The bytes are deterministic for one table, but the
  rows hold absolute paths, so the bytes of two runs in two folders differ;
* binary files (TRL's JPEG frames): their SHA-256, one line each in ``binary.sha256``;
* ``cli_output.txt``: what the command printed; ``failures_added.jsonl``: the lines it
  added to the run's ``failures.jsonl``.

The run itself is golden too (``golden_exports/run/``: the ``records.jsonl``,
``failures.jsonl`` and ``build_options.json`` the build wrote), so a change of the record
schema or of the build shows here, and the committed run must still read back whole.

To rewrite the golden files after an intended change: ``NEXTEVENT_UPDATE_GOLDEN=1 python
-m pytest -q tests/test_export_golden.py``, then review ``git diff tests/data/golden_exports``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import nextevent
from nextevent.cli import app
from nextevent.store import read_records

pa_parquet = pytest.importorskip("pyarrow.parquet")

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "data" / "golden_exports"
EXAMPLES = ROOT / "examples" / "sample_events.jsonl"
V1_FIXTURE = Path(__file__).parent / "data" / "export" / "next_event_prediction_v1.json"
UPDATE = os.environ.get("NEXTEVENT_UPDATE_GOLDEN") == "1"
RUN_FILES = ("records.jsonl", "failures.jsonl", "build_options.json")

# case -> (run, export options); the case name is the golden folder <target>/<variant>.
CASES: dict[str, tuple[str, list[str]]] = {
    "llamafactory/sft": ("sample", ["--target", "llamafactory"]),
    "llamafactory/prev": ("sample", ["--target", "llamafactory", "--strategy", "prev"]),
    "llamafactory/mix": ("sample", ["--target", "llamafactory", "--strategy", "mix",
                                    "--mix", "sft=2,distill=1,prev=1", "--seed", "3"]),
    "llamafactory/media-root-validation": (
        "sample", ["--target", "llamafactory", "--media-root", "{RUN}", "--val-fraction", "0.5"]),
    "llamafactory/v1-distill": ("v1", ["--target", "llamafactory", "--strategy", "distill",
                                       "--media-root", "{MEDIA}"]),
    "llamafactory/v1-cft": ("v1", ["--target", "llamafactory", "--strategy", "cft",
                                   "--media-root", "{MEDIA}"]),
    "llamafactory/v1-dpo": ("v1", ["--target", "llamafactory", "--strategy", "dpo",
                                   "--dpo-pairs", "reference", "--media-root", "{MEDIA}"]),
    "easyr1/sft": ("sample", ["--target", "easyr1"]),
    "easyr1/whats-next-validation": (
        "sample", ["--target", "easyr1", "--strategy", "whats-next", "--val-fraction", "0.5"]),
    "easyr1/v1-mcqa": ("v1", ["--target", "easyr1", "--strategy", "mcqa",
                              "--media-root", "{MEDIA}"]),
    "verl/sft": ("sample", ["--target", "verl"]),
    "verl/validation": ("sample", ["--target", "verl", "--val-fraction", "0.5"]),
    "verl/v1-mcqa": ("v1", ["--target", "verl", "--strategy", "mcqa", "--media-root", "{MEDIA}"]),
    "trl/sft": ("sample", ["--target", "trl", "--frames", "4"]),
    "trl/v1-dpo": ("v1", ["--target", "trl", "--strategy", "dpo", "--dpo-pairs", "reference",
                          "--frames", "2", "--media-root", "{MEDIA}"]),
    "hf/sft": ("sample", ["--target", "hf"]),
    "hf/mix-validation": ("sample", ["--target", "hf", "--strategy", "mix", "--mix",
                                     "sft=1,prev=1", "--val-fraction", "0.5"]),
    "hf/v1-oeqa": ("v1", ["--target", "hf", "--strategy", "oeqa", "--media-root", "{MEDIA}"]),
    "v1/records": ("sample", ["--target", "v1"]),
    "v1/media-root": ("sample", ["--target", "v1", "--media-root", "{RUN}"]),
    "v1/v1-round-trip": ("v1", ["--target", "v1", "--media-root", "{MEDIA}"]),
}


@dataclass
class Placeholders:
    """Folder paths that depend on the temporary folder, each replaced by a token such as
    ``{RUN}``; longer paths are replaced first, so a folder inside another keeps its own
    token. ``hashed`` files also have the 16-hex-digit SHA-256 of their path (TRL's frame
    folder names) replaced by ``frames-of-<token path>``."""

    folders: dict[str, Path] = field(default_factory=dict)
    hashed: list[Path] = field(default_factory=list)

    def pairs(self) -> list[tuple[str, str]]:
        pairs = [(str(path.resolve()), f"{{{name}}}") for name, path in self.folders.items()]
        for file in self.hashed:
            digest = hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:16]
            pairs.append((digest, "frames-of-" + self.text(str(file)).replace("/", "_")))
        return sorted(pairs, key=lambda p: -len(p[0]))

    def text(self, text: str) -> str:
        folders = sorted(((str(p.resolve()), n) for n, p in self.folders.items()),
                         key=lambda p: -len(p[0]))
        for real, name in folders:
            text = text.replace(real, f"{{{name}}}")
        return text

    def all(self, text: str) -> str:
        for real, token in self.pairs():
            text = text.replace(real, token)
        return text

    def fill(self, text: str) -> str:
        """The inverse of `text` for folder tokens (``{RUN}`` -> the real path)."""
        for name, path in self.folders.items():
            text = text.replace(f"{{{name}}}", str(path.resolve()))
        return text

    def value(self, obj: Any) -> Any:
        """`all` applied to every string inside a JSON-able value."""
        if isinstance(obj, str):
            return self.all(obj)
        if isinstance(obj, list):
            return [self.value(v) for v in obj]
        if isinstance(obj, dict):
            return {k: self.value(v) for k, v in obj.items()}
        return obj


@dataclass
class Runs:
    """The two runs the cases export, and the placeholders of their folders."""

    dirs: dict[str, Path]
    places: Placeholders
    out_root: Path


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, bunny: Path, bikes: Path) -> Runs:
    base = tmp_path_factory.mktemp("golden")
    videos, run, media, v1run = base / "videos", base / "run", base / "media", base / "v1run"
    cli("samples", "--out", str(videos))
    cli("build", "--videos", str(videos), "--annotations", str(EXAMPLES), "--format", "jsonl",
        "--out", str(run), "--splits-per-video", "2", "--workers", "1", "--no-progress")
    for n, entry in enumerate(json.loads(V1_FIXTURE.read_text(encoding="utf-8"))):
        for key in ("video_path", "full_video_path"):
            (media / entry[key]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(bunny if n % 2 == 0 else bikes, media / entry[key])
    cli("import", "v1", str(V1_FIXTURE), "--out", str(v1run))
    places = Placeholders(
        folders={"VIDEOS": videos, "RUN": run, "MEDIA": media, "V1RUN": v1run,
                 "OUT": base / "out", "REPO": ROOT,
                 "PACKAGE": Path(nextevent.__file__).parent},
        hashed=sorted([*run.rglob("*.mp4"), *videos.glob("*.mp4"), *media.rglob("*.mp4")]),
    )
    return Runs({"sample": run, "v1": v1run}, places, base / "out")


# ----------------------------------------------------------------------------- snapshots


def parquet_json(path: Path, places: Placeholders) -> str:
    """A Parquet file's schema, schema metadata (the ``datasets`` features) and rows."""
    table = pa_parquet.read_table(path)
    metadata = {key.decode(): json.loads(value)
                for key, value in (table.schema.metadata or {}).items()}
    doc = {"schema": table.schema.remove_metadata().to_string().splitlines(),
           "metadata": metadata, "rows": places.value(table.to_pylist())}
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def snapshot(out: Path, places: Placeholders) -> dict[str, bytes]:
    """The golden form of every file under ``out``: ``{relative golden path: bytes}``."""
    files: dict[str, bytes] = {}
    binaries: list[tuple[str, str]] = []  # (golden path, manifest line)
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = places.all(path.relative_to(out).as_posix())
        data = path.read_bytes()
        if path.suffix == ".parquet":
            files[rel + ".json"] = parquet_json(path, places).encode()
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            binaries.append((rel, f"{hashlib.sha256(data).hexdigest()}  {len(data):>7}  {rel}"))
            continue
        files[rel] = places.all(text).encode()
    if binaries:
        files["binary.sha256"] = "".join(line + "\n" for _, line in sorted(binaries)).encode()
    return files


def golden_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def write_golden(folder: Path, files: dict[str, bytes]) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)


def assert_same(folder: Path, files: dict[str, bytes]) -> None:
    """``files`` equal the golden copy in ``folder`` (or rewrite it when updating)."""
    if UPDATE:
        write_golden(folder, files)
        pytest.skip(f"golden files rewritten: {folder}")
    expected = golden_files(folder)
    assert sorted(files) == sorted(expected), f"files differ from {folder}"
    for rel, data in files.items():
        if data != expected[rel]:
            diff = difflib.unified_diff(
                expected[rel].decode(errors="replace").splitlines(),
                data.decode(errors="replace").splitlines(),
                f"golden/{rel}", f"written/{rel}", lineterm="", n=1)
            pytest.fail(f"{folder / rel} differs:\n" + "\n".join(list(diff)[:40]))


# ----------------------------------------------------------------------------- tests


def test_the_quickstart_run_matches_the_committed_run(runs: Runs):
    files = {name: runs.places.all((runs.dirs["sample"] / name).read_text(encoding="utf-8"))
             .encode() for name in RUN_FILES}
    assert_same(GOLDEN / "run", files)


def test_the_committed_run_still_reads_whole(runs: Runs, tmp_path: Path):
    """A run written before a change reads back with the current schema, losing nothing."""
    text = runs.places.fill((GOLDEN / "run" / "records.jsonl").read_text(encoding="utf-8"))
    (tmp_path / "records.jsonl").write_text(text, encoding="utf-8")
    records = list(read_records(tmp_path / "records.jsonl"))
    assert sorted(r.id for r in records) == ["bigbuckbunny#0", "bigbuckbunny#1", "bikes#0",
                                             "bikes#1"]
    assert [r.model_dump_json() for r in records] == text.splitlines()
    assert all((runs.dirs["sample"] / r.past.path).is_file() for r in records)


@pytest.fixture
def fresh_state(runs: Runs) -> Iterator[None]:
    """Each case sees the runs' failures and state as the build left them: an export adds
    its skips there, and the run store keeps one line per failure key, so a case must not
    depend on which cases ran before it."""
    kept = {p: p.read_bytes() for run in runs.dirs.values()
            for p in (run / "failures.jsonl", run / "state.sqlite") if p.exists()}
    yield
    for path, data in kept.items():
        path.write_bytes(data)


@pytest.mark.parametrize("case", list(CASES))
def test_export_matches_golden(runs: Runs, case: str, fresh_state: None):
    run_name, options = CASES[case]
    run = runs.dirs[run_name]
    out = runs.out_root / case.replace("/", "-")
    failures = run / "failures.jsonl"
    before = len(failures.read_bytes()) if failures.exists() else 0
    output = cli("export", str(run), "--out", str(out),
                 *(runs.places.fill(o) for o in options))

    files = snapshot(out, runs.places)
    assert files, f"{case} wrote nothing"
    files["cli_output.txt"] = runs.places.all(output).encode()
    added = failures.read_bytes()[before:].decode() if failures.exists() else ""
    if added:  # the time a failure was written is the one field that may differ
        added = re.sub(r'"time":"[^"]*"', '"time":"{TIME}"', runs.places.all(added))
        files["failures_added.jsonl"] = added.encode()
    assert_same(GOLDEN / case, files)
