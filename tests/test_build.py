"""`nextevent build` end to end on the real sample videos: records, no leak, kill and rerun."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.media.frames import frame_times
from nextevent.store import read_records

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sample_events.jsonl"


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("run") / "sample"
    run_cli("build", "--videos", str(sample_dir), "--annotations", str(EXAMPLES),
            "--format", "jsonl", "--out", str(out), "--splits-per-video", "2",
            "--workers", "1", "--no-progress")
    return out


def test_sample_build_writes_records_without_future_frames_in_the_past(sample_run: Path) -> None:
    records = list(read_records(sample_run / "records.jsonl"))
    assert {r.video_id for r in records} == {"bigbuckbunny", "bikes"}
    assert len(records) == 4  # two splits per video
    for r in records:
        assert r.past and r.future and r.video
        past_times = frame_times(sample_run / r.past.path)
        future_times = frame_times(sample_run / r.future.path)
        source_times = frame_times(Path(r.video.path))
        n_past = sum(t < r.split.split_s for t in source_times)
        assert len(past_times) == n_past  # every source frame before the split, no more
        assert len(future_times) == len(source_times) - n_past
        k = r.split.last_past_event
        assert r.caption_part1 == " ".join(e.text for e in r.events[: k + 1])
        assert r.caption_part2 == " ".join(e.text for e in r.events[k + 1 :])
    bikes = [r for r in records if r.video_id == "bikes"]
    assert all(r.split.snapped_to == "shot_boundary" for r in bikes)


def test_rerun_adds_nothing(sample_run: Path, sample_dir: Path) -> None:
    before = (sample_run / "records.jsonl").read_bytes()
    output = run_cli("build", "--videos", str(sample_dir), "--annotations", str(EXAMPLES),
                     "--out", str(sample_run), "--splits-per-video", "2", "--workers", "1",
                     "--no-progress")
    assert (sample_run / "records.jsonl").read_bytes() == before
    assert "0 / 4" in output  # records new / total


def test_export_llamafactory_from_the_sample_run(sample_run: Path, tmp_path: Path) -> None:
    run_cli("export", str(sample_run), "--target", "llamafactory", "--out", str(tmp_path))
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    (name, entry), = info.items()
    rows = json.loads((tmp_path / entry["file_name"]).read_text())
    assert len(rows) == 4
    for row in rows:
        assert row["messages"][0]["content"].count("<video>") == 1
        assert Path(row["videos"][0]).exists()


def _many_videos(src: Path, dest: Path, copies: int) -> Path:
    """A folder of real videos under distinct ids and a jsonl annotating them all."""
    dest.mkdir()
    rows = [json.loads(line) for line in EXAMPLES.read_text().splitlines()]
    lines = []
    for i in range(copies):
        for row in rows:
            vid = f"{row['video_id']}_{i}"
            shutil.copyfile(src / row["video"], dest / f"{vid}.mp4")
            lines.append(json.dumps({**row, "video_id": vid, "video": None}))
    ann = dest / "events.jsonl"
    ann.write_text("\n".join(lines) + "\n")
    return ann


def _record_set(run: Path) -> list[tuple]:
    records = list(read_records(run / "records.jsonl"))
    ids = [r.id for r in records]
    assert len(ids) == len(set(ids)), "duplicate records"
    for r in records:
        assert r.past and (run / r.past.path).stat().st_size > 0
    return sorted((r.id, r.split.split_s, r.caption_part1, r.caption_part2,
                   r.past.frame_count if r.past else 0) for r in records)


@pytest.mark.slow
def test_sigkill_and_rerun_gives_the_same_records(tmp_path: Path, sample_dir: Path) -> None:
    ann = _many_videos(sample_dir, tmp_path / "videos", copies=3)
    args = ["--videos", str(tmp_path / "videos"), "--annotations", str(ann),
            "--splits-per-video", "2", "--workers", "1", "--no-progress", "--no-shots"]
    whole = tmp_path / "whole"
    run_cli("build", *args, "--out", str(whole))

    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "nextevent.cli", "build", *args, "--out", str(killed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = killed / "records.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill once some but not all records are written
        if records.exists() and records.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = records.read_text().count("\n")
    assert 0 < partial < 12, f"kill landed after {partial} records; the test needs a partial run"
    run_cli("build", *args, "--out", str(killed))
    assert _record_set(killed) == _record_set(whole)
    assert not list(killed.rglob("*.tmp*")), "temporary clip left behind"


def test_module_entry_point_exists() -> None:
    # the kill test runs the CLI as `python -m nextevent.cli`
    out = subprocess.run([sys.executable, "-m", "nextevent.cli", "--help"], capture_output=True,
                         text=True, env={**os.environ, "COLUMNS": "120"}, check=True)
    assert "build" in out.stdout
