"""Export and V1-import faults a tester found (fault hunt ``export``), on a real build of
the sample videos (4 records, 2 videos) and on the V1-33K fixture:

* an export of 0 samples leaves an earlier export in the same --out whole;
* --cft-ratio inf / 1e308 / above the bound is one error line (exit 2), no traceback;
* an imported V1 entry whose id the run holds for another video is a failure line;
* a missing clip's failure has a hint that works and stays open until an export writes
  the record again; --target v1 skips the record like every other target;
* --curriculum turns shuffling off in the configs the export writes;
* a --media-root that is no folder is refused up front by every target;
* the hints say when the run has no verdicts or predictions.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from nextevent.cli import app
from nextevent.export import TARGETS
from nextevent.export.selection import cft_select
from nextevent.export.strategies import Sample
from nextevent.records import Critique, Failure, NEPRecord, PredictionSample, Reasoning
from nextevent.store import is_resolved, read_records, read_statuses

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sample_events.jsonl"
V1_FIXTURE = Path(__file__).parent / "data" / "export" / "next_event_prediction_v1.json"
EASYR1_CONFIG = (Path(__file__).parent / "data" / "vendor" / "easyr1" / "upstream" / "verl"
                 / "trainer" / "config.py")
SAMPLE_TARGETS = ("llamafactory", "easyr1", "verl", "trl", "hf")


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def error_line(result: Result, code: int) -> str:
    """The one ``error (...)`` line of a command that exited ``code`` without a traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("error (")]
    return line


def failures(run: Path) -> list[Failure]:
    path = run / "failures.jsonl"
    if not path.exists():
        return []
    return [Failure.model_validate_json(x) for x in path.read_text().splitlines()]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("faults") / "run"
    result = invoke("build", "--videos", sample_dir, "--annotations", EXAMPLES, "--out", out,
                    "--splits-per-video", "2", "--workers", "1", "--no-progress")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def run(sample_run: Path, tmp_path: Path) -> Path:
    """A copy of the sample run the test may change."""
    copy = tmp_path / "run"
    shutil.copytree(sample_run, copy)
    return copy


@pytest.fixture
def judged(run: Path) -> Path:
    """The run with 4 judged predictions per record (record n: n of them right)."""
    records = list(read_records(run / "records.jsonl"))
    lines = []
    for n, record in enumerate(records):
        samples = [PredictionSample(index=i, seed=i or None, reasoning=Reasoning(
            prediction_content=f"guess {i}"), critique=Critique(
            critique="c", conclusion="right" if i < n else "wrong")) for i in range(4)]
        lines.append(record.with_predictions(samples).model_dump_json() + "\n")
    (run / "records.jsonl").write_text("".join(lines))
    return run


def _past_clip(run: Path) -> tuple[NEPRecord, Path]:
    record = next(read_records(run / "records.jsonl"))
    assert record.past is not None
    return record, run / record.past.path


# ---------------------------------------------------------------------- 0 samples


@pytest.mark.parametrize("target", SAMPLE_TARGETS)
def test_an_export_of_0_samples_leaves_the_earlier_export_whole(run: Path, tmp_path: Path,
                                                                target: str) -> None:
    out = tmp_path / "out"
    first = invoke("export", run, "--target", target, "--out", out)
    assert first.exit_code == 0, first.output
    before = snapshot(out)
    assert before

    again = invoke("export", run, "--target", target, "--min-pass-rate", "0.5", "--out", out)
    line = error_line(again, 1)
    assert "wrote 0 samples" in line and f"{out} was left as it was" in line
    assert snapshot(out) == before


def test_hints_say_the_run_has_no_verdicts_or_predictions(run: Path, tmp_path: Path) -> None:
    result = invoke("export", run, "--target", "llamafactory", "--min-pass-rate", "0.5",
                    "--out", tmp_path / "p")
    assert "no record has a verdict" in error_line(result, 1)
    assert "hint: the run has no predictions" in result.output
    assert "--predictions K" in result.output and "--max-samples" not in result.output

    scored = invoke("export", run, "--target", "llamafactory", "--sample-reward", "rouge_l",
                    "--out", tmp_path / "r")
    assert scored.exit_code == 0, scored.output
    assert "nothing scored: the run has no predictions" in scored.output


def test_pass_rates_outside_the_bounds_say_so(judged: Path, tmp_path: Path) -> None:
    result = invoke("export", judged, "--target", "llamafactory", "--min-pass-rate", "0.9",
                    "--out", tmp_path / "p")
    assert "no record's pass rate is >= 0.9 (4 below" in error_line(result, 1)
    assert "hint: widen --min-pass-rate" in result.output


# ---------------------------------------------------------------------- --cft-ratio


@pytest.mark.parametrize("extra", [("--cft-ratio", "inf"), ("--cft-ratio", "1e308"),
                                   ("--cft-ratio", "5000"),
                                   ("--mix", "sft=1,cft=1", "--cft-ratio", "inf")])
def test_a_cft_ratio_out_of_bounds_is_one_error(judged: Path, tmp_path: Path,
                                                extra: tuple[str, ...]) -> None:
    strategy = ("--strategy", "mix") if "--mix" in extra else ("--strategy", "cft")
    result = invoke("export", judged, "--target", "llamafactory", *strategy, *extra,
                    "--out", tmp_path / "c")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "OverflowError" not in result.output
    assert "--cft-ratio must be a positive number of at most 1000" in result.output
    assert not (tmp_path / "c" / "nextevent_cft.json").exists()


def test_cft_select_refuses_an_infinite_ratio() -> None:
    pool = [Sample(record_id=f"v{i}#0", video_id=f"v{i}", strategy="cft", question="q",
                   target="t", videos=("x.mp4",),
                   extra={"conclusion": "wrong" if i % 2 else "right"}) for i in range(6)]
    with pytest.raises(ValueError, match="--cft-ratio"):
        cft_select(pool, float("inf"), 0)
    kept, report = cft_select(pool, 1000.0, 0)  # the bound: every wrong one, no right one
    assert [s.extra["conclusion"] for s in kept] == ["wrong"] * 3 and report["right"] == 0


# ---------------------------------------------------------------------- import v1 ids


def _v1_file(path: Path, **changes: str) -> Path:
    entry = json.loads(V1_FIXTURE.read_text(encoding="utf-8"))[0]
    entry.update(changes)
    path.write_text(json.dumps([entry]))
    return path


def test_an_imported_id_held_for_another_video_is_a_failure_line(tmp_path: Path) -> None:
    out = tmp_path / "v1run"
    good = _v1_file(tmp_path / "good.json")
    entry = json.loads(good.read_text())[0]
    stem = Path(entry["full_video_path"]).stem
    other = _v1_file(tmp_path / "other.json", video_path=f"first_part_video/c/{stem}.mp4",
                     full_video_path=f"video_dataset/c/{stem}.mp4")
    assert invoke("import", "v1", good, "--out", out).exit_code == 0

    result = invoke("import", "v1", other, "--out", out)
    assert result.exit_code == 0, result.output
    assert "imported 0 new records (1 read, 1 failures)" in result.output
    (line,) = [f for f in failures(out) if f.stage == "import"]
    assert line.input == f"first_part_video/c/{stem}.mp4"
    assert f"would be record {stem}#0" in line.error and entry["video_path"] in line.error
    assert "another --out" in line.hint

    # a rerun adds no second line; the same entry again is no failure
    assert invoke("import", "v1", other, "--out", out).exit_code == 0
    again = invoke("import", "v1", good, "--out", out)
    assert "imported 0 new records (1 read, 0 failures)" in again.output
    assert len(failures(out)) == 1
    assert len(list(read_records(out / "records.jsonl"))) == 1


def test_an_imported_id_held_by_a_built_record_is_a_failure_line(run: Path,
                                                                 tmp_path: Path) -> None:
    built = next(read_records(run / "records.jsonl"))
    stem = built.id.partition("#")[0]
    entry = _v1_file(tmp_path / "v.json", video_path=f"first_part_video/{stem}.mp4",
                     full_video_path=f"video_dataset/{stem}.mp4")
    before = len(failures(run))
    result = invoke("import", "v1", entry, "--out", run)
    assert "1 failures" in result.output, result.output
    (line,) = failures(run)[before:]
    assert f"a jsonl record of {built.video.path!r}" in line.error


# ---------------------------------------------------------------------- missing clips


def test_a_missing_clip_failure_stays_open_until_an_export_writes_it(run: Path,
                                                                     tmp_path: Path) -> None:
    record, clip = _past_clip(run)
    kept = tmp_path / "kept.mp4"
    shutil.move(clip, kept)
    result = invoke("export", run, "--target", "llamafactory", "--out", tmp_path / "a")
    assert result.exit_code == 0, result.output
    (line,) = [f for f in failures(run) if f.stage == "export"]
    assert line.input == record.id and "missing" in line.error
    assert "--run-dir" not in line.hint and "new --out" in line.hint
    assert not is_resolved(line, read_statuses(run))  # the record itself is done

    shutil.move(kept, clip)  # the clip is back: the next export writes it
    assert invoke("export", run, "--target", "llamafactory", "--out", tmp_path / "b"
                  ).exit_code == 0
    assert is_resolved(line, read_statuses(run))

    clip.unlink()  # gone again: the same line is open again, not written twice
    assert invoke("export", run, "--target", "llamafactory", "--out", tmp_path / "c"
                  ).exit_code == 0
    assert [f.key for f in failures(run) if f.stage == "export"] == [line.key]
    assert not is_resolved(line, read_statuses(run))


def test_the_v1_target_skips_a_record_whose_clip_is_missing(run: Path, tmp_path: Path) -> None:
    record, clip = _past_clip(run)
    clip.unlink()
    n = len(list(read_records(run / "records.jsonl")))
    result = invoke("export", run, "--target", "v1", "--out", tmp_path / "v1")
    assert result.exit_code == 0, result.output
    entries = json.loads((tmp_path / "v1" / "next_event_prediction.json").read_text())
    assert len(entries) == n - 1
    assert str(clip.resolve()) not in {e["video_path"] for e in entries}
    (line,) = [f for f in failures(run) if f.key == f"export:v1:{record.id}"]
    assert "past segment" in line.error and "missing" in line.error


# ---------------------------------------------------------------------- curriculum


def test_curriculum_turns_shuffling_off_in_the_written_configs(judged: Path,
                                                               tmp_path: Path) -> None:
    for curriculum in ((), ("--curriculum", "easy-to-hard")):
        lf, r1 = tmp_path / f"lf{len(curriculum)}", tmp_path / f"r1{len(curriculum)}"
        for target, out in (("llamafactory", lf), ("easyr1", r1)):
            result = invoke("export", judged, "--target", target, *curriculum, "--out", out)
            assert result.exit_code == 0, result.output
        configs = [yaml.safe_load(p.read_text()) for p in sorted(lf.glob("*.yaml"))]
        assert len(configs) == 2
        script = (r1 / "train_grpo.sh").read_text()
        if curriculum:
            assert all(c["disable_shuffling"] is True for c in configs)
            assert "    data.shuffle=false \\\n" in script
        else:
            assert not any("disable_shuffling" in c for c in configs)
            assert "data.shuffle" not in script
    # data.shuffle is a field of EasyR1's DataConfig (the vendored source)
    tree = ast.parse(EASYR1_CONFIG.read_text())
    (data_config,) = [n for n in tree.body if isinstance(n, ast.ClassDef)
                      and n.name == "DataConfig"]
    assert "shuffle" in {s.target.id for s in data_config.body
                         if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}


# ---------------------------------------------------------------------- --media-root


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_a_media_root_that_is_no_folder_is_refused_up_front(run: Path, tmp_path: Path,
                                                            target: str) -> None:
    before = failures(run)
    out = tmp_path / "out"
    result = invoke("export", run, "--target", target, "--media-root", tmp_path / "nowhere",
                    "--out", out)
    assert "--media-root" in error_line(result, 2) and "is not a folder" in result.output
    assert not out.exists()
    assert failures(run) == before
