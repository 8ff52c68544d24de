"""Media paths a V1 file or a run's records may not make nextevent read or export (issue
14, item 4), through the real CLI on the V1 fixture, the golden run's records and the
sample videos: an absolute path, a ``..`` escape, a NUL or control character is one
failure naming the entry (or record) and the field; the rest is imported or exported, and
nothing outside the run directory or ``--media-root`` is ever written into an export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.records import Failure
from nextevent.store import read_records

DATA = Path(__file__).parent / "data"
V1_FIXTURE = DATA / "export" / "next_event_prediction_v1.json"
GOLDEN_RECORDS = DATA / "golden_exports" / "run" / "records.jsonl"

#: (field, bad value, words of the failure) of each refused V1 entry.
BAD_PATHS = [
    ("video_path", "/etc/passwd", "is an absolute path"),
    ("full_video_path", "../../etc/shadow", "climbs out of --media-root"),
    ("video_path", "first_part_video/a\x00b.mp4", "holds a NUL byte"),
    ("full_video_path", "video_dataset/a\nb.mp4", "holds a control character"),
    ("video_path", "first_part_video/../../x.mp4", "climbs out of --media-root"),
]


def invoke(*args: str | Path) -> typer.testing.Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def failures(run: Path) -> list[Failure]:
    path = run / "failures.jsonl"
    if not path.exists():
        return []
    return [Failure.model_validate_json(line)
            for line in path.read_text(encoding="utf-8").splitlines()]


def entries() -> list[dict]:
    return json.loads(V1_FIXTURE.read_text(encoding="utf-8"))


def media_folder(root: Path, bunny: Path) -> Path:
    """The V1 fixture's videos laid out as in the release (copies of a sample video)."""
    for entry in entries():
        for key in ("video_path", "full_video_path"):
            (root / entry[key]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(bunny, root / entry[key])
    return root


def bad_v1_file(tmp_path: Path) -> Path:
    """The fixture's entries with one bad path each (`BAD_PATHS`), then the good ones."""
    good = entries()
    bad = []
    for i, (field, value, _) in enumerate(BAD_PATHS):
        entry = json.loads(json.dumps(good[i % len(good)]))
        entry[field] = value
        bad.append(entry)
    path = tmp_path / "bad_paths.json"
    path.write_text(json.dumps(bad + good), encoding="utf-8")
    return path


def assert_no_traceback(result: typer.testing.Result) -> None:
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception)


@pytest.mark.parametrize("with_root", [False, True])
def test_import_v1_refuses_paths_outside_the_release(tmp_path: Path, bunny: Path,
                                                     with_root: bool):
    src = bad_v1_file(tmp_path)
    run = tmp_path / "run"
    args = ["import", "v1", src, "--out", run]
    if with_root:
        args += ["--media-root", media_folder(tmp_path / "media", bunny)]
    result = invoke(*args)
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    good = len(entries())
    assert f"({good} read, {len(BAD_PATHS)} failures)" in result.output

    fails = failures(run)
    assert len(fails) == len(BAD_PATHS)
    for i, (failure, (field, _, words)) in enumerate(zip(fails, BAD_PATHS, strict=True)):
        assert failure.stage == "import"
        assert failure.input == f"{src}[{i}]"
        assert f"V1 entry {i} of {src.name}" in failure.error
        assert f"'{field}' {words}" in failure.error, failure.error
        # one printed line per refusal, naming the entry and the field
        (line,) = [x for x in result.output.splitlines() if x.startswith(
            f"skipped (import) {src}[{i}]:")]
        assert field in line
    records = list(read_records(run / "records.jsonl"))
    assert len(records) == good
    kept = {r.extra["video_path"] for r in records} | {r.extra["full_video_path"]
                                                       for r in records}
    assert not [p for p in kept if p.startswith("/") or ".." in p or "\x00" in p]


def test_import_v1_media_root_refuses_a_symlink_out_of_it(tmp_path: Path, bunny: Path):
    media = media_folder(tmp_path / "media", bunny)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(bunny, outside / "x.mp4")
    (media / "escape").symlink_to(outside)
    entry = entries()[0]
    entry["video_path"] = "escape/x.mp4"
    src = tmp_path / "symlink.json"
    src.write_text(json.dumps([entry, *entries()[1:]]), encoding="utf-8")

    result = invoke("import", "v1", src, "--out", tmp_path / "run", "--media-root", media)
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    (failure,) = failures(tmp_path / "run")
    assert failure.input == f"{src}[0]"
    assert "'video_path' resolves to" in failure.error
    assert f"outside --media-root {media.resolve()}" in failure.error
    # Without --media-root only the lexical check applies: the entry is imported.
    result = invoke("import", "v1", src, "--out", tmp_path / "lexical")
    assert result.exit_code == 0 and not failures(tmp_path / "lexical"), result.output


def test_import_v1_media_root_must_be_a_folder(tmp_path: Path):
    result = invoke("import", "v1", V1_FIXTURE, "--out", tmp_path / "run",
                    "--media-root", tmp_path / "nowhere")
    assert_no_traceback(result)
    assert result.exit_code == 2
    (error,) = [x for x in result.output.splitlines() if x.startswith("error (")]
    assert f"--media-root {tmp_path / 'nowhere'} is not a folder" in error
    assert not (tmp_path / "run").exists()


def test_import_v1_of_only_bad_entries_exits_1(tmp_path: Path):
    entry = entries()[0]
    entry["video_path"] = "/etc/passwd"
    src = tmp_path / "all_bad.json"
    src.write_text(json.dumps([entry]), encoding="utf-8")
    result = invoke("import", "v1", src, "--out", tmp_path / "run")
    assert_no_traceback(result)
    assert result.exit_code == 1, result.output
    (error,) = [x for x in result.output.splitlines() if x.startswith("error (")]
    assert f"no entry of {src} could be imported" in error


# ----------------------------------------------------------------------------- export


def tampered_v1_run(tmp_path: Path, media: Path) -> tuple[Path, dict[str, str]]:
    """A V1 run whose records.jsonl was edited by hand: record id -> the bad path."""
    run = tmp_path / "v1run"
    result = invoke("import", "v1", V1_FIXTURE, "--out", run, "--media-root", media)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    bad = {rows[0]["id"]: "/etc/passwd", rows[1]["id"]: "first_part_video/a\x00b.mp4"}
    for row in rows:
        if row["id"] in bad:
            row["extra"]["video_path"] = bad[row["id"]]
    (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run, bad


@pytest.mark.parametrize("target", ["llamafactory", "v1"])
def test_export_skips_records_naming_files_outside_the_media_root(
        tmp_path: Path, bunny: Path, target: str):
    media = media_folder(tmp_path / "media", bunny)
    run, bad = tampered_v1_run(tmp_path, media)
    out = tmp_path / "out"
    result = invoke("export", run, "--target", target, "--out", out, "--media-root", media)
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    assert "skipped 2" in result.output
    written = "".join(p.read_text(encoding="utf-8") for p in out.rglob("*") if p.is_file())
    assert "/etc/passwd" not in written and "a\\u0000b" not in written
    skipped = [f for f in failures(run) if f.stage == "export"]
    assert {f.input for f in skipped} == set(bad)
    for failure in skipped:
        assert f"video_path of record {failure.input}" in failure.error
        assert "the record was skipped" in failure.error
    data = next(p for p in out.glob("*.json") if p.name != "dataset_info.json")
    rows = json.loads(data.read_text(encoding="utf-8"))
    assert len(rows) == 1
    videos = rows[0].get("videos") or [rows[0]["video_path"]]
    for video in videos:  # relative to --media-root, inside it
        assert not Path(video).is_absolute() and (media / video).is_file()


def test_export_without_media_root_confines_v1_paths_to_the_run(tmp_path: Path, bunny: Path):
    media = media_folder(tmp_path / "media", bunny)
    run, _ = tampered_v1_run(tmp_path, media)
    result = invoke("export", run, "--target", "llamafactory", "--out", tmp_path / "out")
    assert_no_traceback(result)
    assert result.exit_code == 1  # the other record's video is not in the run: 0 samples
    assert "outside the run directory" in result.output
    assert not (tmp_path / "out" / "nextevent_nep_sft.json").exists()  # 0 samples: nothing written


def test_export_skips_segments_outside_the_run_directory(tmp_path: Path):
    """The golden run's records (past segments under clips/), three edited to point out of
    the run: each is one failure of its record, not an abort, and the rest is written."""
    run = tmp_path / "run"
    run.mkdir()
    rows = [json.loads(line) for line in GOLDEN_RECORDS.read_text().splitlines()]
    bad = {rows[0]["id"]: "../../../etc/passwd", rows[1]["id"]: "/etc/passwd",
           rows[2]["id"]: "clips/a\x00b/past.mp4"}
    for row in rows:
        row["video"]["path"] = row["video"]["path"].replace("{VIDEOS}", str(tmp_path))
        if row["id"] in bad:
            row["past"]["path"] = bad[row["id"]]
    (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for row in rows:  # the clips of the others are there: a missing clip is skipped too
        for which in ("past", "future"):
            if row["id"] not in bad and row.get(which):
                clip = run / row[which]["path"]
                clip.parent.mkdir(parents=True, exist_ok=True)
                clip.write_bytes(b"\x00\x00\x00\x18ftypmp42")

    out = tmp_path / "out"
    result = invoke("export", run, "--target", "v1", "--out", out)
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    entries_out = json.loads((out / "next_event_prediction.json").read_text())
    assert len(entries_out) == len(rows) - len(bad)
    for entry in entries_out:
        assert Path(entry["video_path"]).is_relative_to(run.resolve())
    skipped = {f.input: f.error for f in failures(run) if f.stage == "export"}
    assert set(skipped) == set(bad)
    assert "outside the run directory" in skipped[rows[0]["id"]]
    assert "outside the run directory" in skipped[rows[1]["id"]]
    assert "holds a NUL byte" in skipped[rows[2]["id"]]
