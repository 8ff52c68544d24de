"""What a newcomer meets first on the command line (issue 11, item 5), through the real CLI
on the sample videos, examples/sample_events.jsonl and the annotation subsets: text printed
as given, one error line instead of a traceback, a run directory that refuses other
options, non-zero exits when nothing was made, normal file modes, clipped events reported
alike, no wrapped paths and whole option names in the help."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.records import Failure
from nextevent.sources.clean import TOLERANCE_S
from nextevent.store import BUILD_OPTIONS_NAME, read_records

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sample_events.jsonl"
V1_FIXTURE = Path(__file__).parent / "data" / "export" / "next_event_prediction_v1.json"
FAST = ("--no-shots", "--cut", "fast", "--workers", "1", "--no-progress")


def invoke(*args: str | Path) -> typer.testing.Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def build_args(videos: Path, out: Path, *extra: str, annotations: Path = EXAMPLES) -> list:
    return ["build", "--videos", videos, "--annotations", annotations, "--out", out, *extra]


def failures(run: Path) -> list[Failure]:
    lines = (run / "failures.jsonl").read_text(encoding="utf-8").splitlines()
    return [Failure.model_validate_json(line) for line in lines]


def assert_one_error(result: typer.testing.Result, code: int, *named: str) -> None:
    """Exit ``code`` with an ``error`` and a ``hint`` line naming ``named``, no traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("error (")]
    for text in named:
        assert text in error, result.output
    assert "\nhint: " in result.output


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    """The two sample videos built once (stream-copy cut, no shot detection: quick). Only
    bikes gives a record: bigbuckbunny has no keyframe near an event boundary."""
    out = tmp_path_factory.mktemp("newcomer") / "run"
    result = invoke(*build_args(sample_dir, out, *FAST))
    assert result.exit_code == 0, result.output
    return out


# ------------------------------------------------------------------ 1. text as given


def test_brackets_in_paths_and_install_hints_are_printed(
    tmp_path: Path, sample_dir: Path, sample_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a --videos path with [...] in the error line
    shoot = tmp_path / "shoot[day1]"
    assert_one_error(invoke(*build_args(shoot, tmp_path / "r")), 2, f"{shoot} is not a folder")

    # a run directory with [...] in the build summary
    out = tmp_path / "run[v2]"
    result = invoke(*build_args(sample_dir, out, *FAST))
    assert result.exit_code == 0, result.output
    assert f"records:  {out / 'records.jsonl'}" in result.output
    assert f"failures: {out / 'failures.jsonl'}" in result.output

    # an install hint keeps its extra: the Parquet targets without pyarrow importable
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` raises ImportError
    result = invoke("export", sample_run, "--target", "verl", "--out", tmp_path / "verl")
    assert_one_error(result, 2, "needs pyarrow")
    assert "hint: pip install 'nextevent[export]' (or pip install pyarrow)" in result.output


# ------------------------------------------------------------------ 2. --out that cannot be


def test_out_that_is_a_file_or_cannot_be_created_is_one_error_line(
    tmp_path: Path, sample_dir: Path, sample_run: Path
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    under_file = a_file / "run"
    for out in (a_file, under_file):
        assert_one_error(invoke(*build_args(sample_dir, out)), 2, f"--out {out}", str(a_file))
        assert_one_error(invoke("export", sample_run, "--target", "llamafactory", "--out", out),
                         2, f"--out {out}")
        assert_one_error(invoke("samples", "--out", out), 2, f"--out {out}")
        assert_one_error(invoke("import", "v1", V1_FIXTURE, "--out", out), 2, f"--out {out}")
    assert a_file.read_text() == "mine\n"

    missing = tmp_path / "next_event_prediction.json"
    assert_one_error(invoke("import", "v1", missing, "--out", tmp_path / "v1run"), 2,
                     f"{missing} does not exist")
    assert not (tmp_path / "v1run").exists()


# ------------------------------------------------------------------ 3. one run, one set of options


def test_rerun_with_other_options_stops_force_starts_over_same_options_resume(
    tmp_path: Path, sample_dir: Path
) -> None:
    out = tmp_path / "run"
    first = invoke(*build_args(sample_dir, out, *FAST))
    assert first.exit_code == 0, first.output
    stored = json.loads((out / BUILD_OPTIONS_NAME).read_text())
    assert stored["cut"] == "fast" and stored["shots"] is False
    assert stored["annotations"] == str(EXAMPLES.resolve()) and stored["format"] == "jsonl"
    records = (out / "records.jsonl").read_bytes()
    assert [f.input for f in failures(out)] == ["bigbuckbunny"]  # no keyframe for --cut fast
    clips = sorted(p.relative_to(out) for p in (out / "clips").rglob("*"))
    (out / "notes.txt").write_text("mine\n")  # not the run's: --force must keep it

    other = ["--cut", "accurate", "--splits-per-video", "2", "--min-past", "0.5", "--seed", "3",
             "--no-shots", "--workers", "1", "--no-progress"]
    refused = invoke(*build_args(sample_dir, out, *other))
    assert_one_error(refused, 2, str(out), "--cut fast before, --cut accurate now",
                     "--splits-per-video 1 before, --splits-per-video 2 now",
                     "--min-past 1.0 before, --min-past 0.5 now", "--seed 0 before, --seed 3 now")
    assert "--no-shots" not in refused.output.splitlines()[0]  # unchanged: not listed
    assert "--force" in refused.output
    assert (out / "records.jsonl").read_bytes() == records  # nothing written
    assert json.loads((out / BUILD_OPTIONS_NAME).read_text()) == stored

    again = invoke(*build_args(sample_dir, out, *FAST))  # same options: resumes as before
    assert again.exit_code == 0, again.output
    assert (out / "records.jsonl").read_bytes() == records
    assert sorted(p.relative_to(out) for p in (out / "clips").rglob("*")) == clips

    forced = invoke(*build_args(sample_dir, out, *other, "--force"))
    assert forced.exit_code == 0, forced.output
    assert "started over" in forced.output
    new = list(read_records(out / "records.jsonl"))
    assert new and {r.cut_mode for r in new} == {"accurate"}
    assert {r.id for r in new} > {"bikes#0", "bikes#1"}  # two splits per video now
    assert "bigbuckbunny#0" in {r.id for r in new}  # an accurate cut has no keyframe limit
    assert not (out / "failures.jsonl").read_text()  # the old run's failure is gone
    on_disk = {p.parent.name for p in (out / "clips").rglob("past.mp4")}
    assert len(on_disk) == len(new)  # each new record has its own clips, nothing else
    assert all((out / r.past.path).is_file() for r in new)
    assert json.loads((out / BUILD_OPTIONS_NAME).read_text())["cut"] == "accurate"
    assert (out / "notes.txt").read_text() == "mine\n"


# ------------------------------------------------------------------ 4. every video failed


def test_build_where_every_video_failed_exits_non_zero(tmp_path: Path, sample_dir: Path) -> None:
    out = tmp_path / "run"
    # the sample videos are 5.3 s and 10 s: no split leaves 60 s of past
    result = invoke(*build_args(sample_dir, out, "--min-past", "60", *FAST))
    assert_one_error(result, 1, "every video failed (2 of 2)")
    assert "videos done / failed / already done" in result.output  # the summary came first
    assert {f.input for f in failures(out)} == {"bigbuckbunny", "bikes"}
    assert {f.stage for f in failures(out)} == {"plan"}

    some = tmp_path / "some"  # one video that fails among good ones is not an error
    ann = tmp_path / "events.jsonl"
    rows = [json.loads(line) for line in EXAMPLES.read_text().splitlines()]
    rows.append({"video_id": "missing", "events": rows[0]["events"]})
    ann.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = invoke(*build_args(sample_dir, some, *FAST, annotations=ann))
    assert result.exit_code == 0, result.output
    assert "missing" in {f.input for f in failures(some)}
    assert [r.video_id for r in read_records(some / "records.jsonl")] == ["bikes"]


# ------------------------------------------------------------------ 5. an export of 0 samples


def test_export_of_zero_samples_says_why_and_exits_non_zero(
    tmp_path: Path, sample_run: Path
) -> None:
    n_records = len(list(read_records(sample_run / "records.jsonl")))
    result = invoke("export", sample_run, "--target", "llamafactory", "--strategy", "distill",
                    "--out", tmp_path / "lf")
    assert_one_error(result, 1, "wrote 0 samples for llamafactory --strategy distill",
                     f"all {n_records} records were skipped ({n_records} skips)",
                     "no reasoning; distill needs them")
    assert f"  {n_records} x record has no reasoning; distill needs them" in result.output
    assert "hint: run the reasoning and rewrite stages" in result.output

    # a strategy the records serve writes samples and exits 0
    ok = invoke("export", sample_run, "--target", "llamafactory", "--out", tmp_path / "sft")
    assert ok.exit_code == 0, ok.output
    assert f"wrote {n_records} samples" in ok.output


# ------------------------------------------------------------------ 6. file modes


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_exported_files_honour_the_umask(
    tmp_path: Path, sample_run: Path, mask: int, mode: int
) -> None:
    with umask(mask):
        for target in ("llamafactory", "verl", "v1"):
            result = invoke("export", sample_run, "--target", target, "--out", tmp_path / target)
            assert result.exit_code == 0, result.output
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.suffix for p in written} >= {".json", ".yaml", ".parquet"}
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    assert not list(tmp_path.rglob("*.tmp"))


# ------------------------------------------------------------------ 7. clipped events


def test_event_clipped_to_the_annotated_duration_is_a_failure_line_like_the_probed_one(
    tmp_path: Path, bikes: Path
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "bikes.mp4").write_bytes(bikes.read_bytes())  # 10 s
    events = [{"start": 0.0, "end": 3.04, "text": "A man walks between cars in traffic."},
              {"start": 3.04, "end": 12.0, "text": "A cyclist rides past a grey van."}]
    ann = tmp_path / "events.jsonl"
    ann.write_text(
        json.dumps({"video_id": "annotated", "video": "bikes.mp4", "duration": 10.0,
                    "events": events}) + "\n"  # clipped by the importer, at 10 s
        + json.dumps({"video_id": "probed", "video": "bikes.mp4", "events": events})
        + "\n")  # clipped by the build at the probed 10 s
    out = tmp_path / "run"
    result = invoke(*build_args(videos, out, *FAST, annotations=ann))
    assert result.exit_code == 0, result.output
    by_input = {f.input: f for f in failures(out)}
    assert set(by_input) == {"annotated", "probed"}
    imported, probed = by_input["annotated"], by_input["probed"]
    assert imported.stage == probed.stage == "events"
    assert imported.hint == probed.hint
    clipped = "goes beyond: clipped 1 event(s) to the end: 'A cyclist rides past a grey van.' "\
              "ending 12.00s"
    assert clipped in imported.error and clipped in probed.error
    assert "lasts 10.00s" in imported.error and str(ann) in imported.error
    assert {r.video_id for r in read_records(out / "records.jsonl")} == {"annotated", "probed"}
    assert "failures: events" in result.output


def test_activitynet_events_clipped_at_import_reach_the_run_failures(
    tmp_path: Path, annotations: Path
) -> None:
    src = annotations / "activitynet_val_subset.json"
    raw = json.loads(src.read_text())
    over = {vid: sum(end - v["duration"] > TOLERANCE_S for _, end in v["timestamps"])
            for vid, v in raw.items()}
    over = {vid: n for vid, n in over.items() if n}
    assert over  # the subset has events ending after the video's duration
    empty = tmp_path / "videos"
    empty.mkdir()  # no ActivityNet video here: every video fails, the import lines remain
    out = tmp_path / "run"
    result = invoke("build", "--videos", empty, "--annotations", src, "--format", "activitynet",
                    "--out", out, *FAST)
    assert result.exit_code == 1, result.output
    lines = {f.input: f for f in failures(out) if f.stage == "events"}
    assert {vid: int(re.search(r"clipped (\d+) event", f.error)[1])
            for vid, f in lines.items()} == over
    assert all(f.hint == "check that the annotation belongs to this file and uses seconds"
               for f in lines.values())


# ------------------------------------------------------------------ 8. piped output


def run_piped(*args: str | Path) -> subprocess.CompletedProcess:
    """The CLI in a subprocess with stdout piped and an 80-column COLUMNS."""
    return subprocess.run([sys.executable, "-m", "nextevent.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "80"})


def test_piped_output_never_wraps_a_path(tmp_path: Path, sample_dir: Path) -> None:
    out = tmp_path / ("a-run-directory-with-a-long-name-" * 3) / "run"
    proc = run_piped(*build_args(sample_dir, out, *FAST))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert f"records:  {out / 'records.jsonl'}" in lines
    assert f"clips:    {out / 'clips'}" in lines
    assert any("videos done / failed / already done" in line for line in lines)  # the table

    export = out.parent / "export-folder-with-a-long-name"
    proc = run_piped("export", out, "--target", "llamafactory", "--out", export)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    written = [p for p in export.iterdir() if p.is_file()]
    assert written
    for path in written:
        assert f"  {path}" in lines  # one whole line per file
    (configs,) = [line for line in lines if line.startswith("  configs: ")]
    assert configs.endswith("]") and all(str(p) in configs for p in written
                                         if p.suffix == ".yaml")


def test_help_in_80_columns_shows_every_option_name_whole() -> None:
    command = typer.main.get_command(app)
    for name in ("build", "export"):
        proc = run_piped(name, "--help")
        assert proc.returncode == 0, proc.stderr
        text = proc.stdout
        params = command.commands[name].params
        opts = [o for p in params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")]
        assert "--splits-per-video" in opts or name != "build"
        for opt in opts:
            assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w\-…])", text), (opt, text)
        assert "…" not in text
        assert not re.search(r"\w-\n", text), text  # no word broken at a hyphen
        assert max(len(line) for line in text.splitlines()) <= 80
