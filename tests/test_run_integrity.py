"""One writer per run directory, no orphans, and a run that survives its own files being
torn, corrupted or full: real processes, real SIGKILLs, a real size-limited tmpfs."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nextevent.store import read_records

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "sample_events.jsonl"
sys.path.insert(0, str(ROOT / "benchmarks"))
from make_videos import make_dataset  # noqa: E402


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "nextevent.cli", *args], capture_output=True,
                         text=True, env={**os.environ, "COLUMNS": "200"}, timeout=600)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


RACE = ("--cut", "accurate")
"""Builds that a test races or kills re-encode whole clips: the smart cut splits these
videos on IDR shot boundaries and copies everything, too fast to catch mid-run."""


def build_args(videos: Path, ann: Path, out: Path, *extra: str) -> list[str]:
    return ["build", "--videos", str(videos), "--annotations", str(ann), "--out", str(out),
            "--no-progress", *extra]


def record_ids(run: Path) -> list[str]:
    return sorted(r.id for r in read_records(run / "records.jsonl"))


def children(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parent_of[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, p in parent_of.items() if p in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Six synthetic 8 s videos with annotations: long enough to race and kill a build."""
    folder = tmp_path_factory.mktemp("videos")
    ann = make_dataset(folder, count=6, seconds=8, width=320, height=180, shot_s=2.0)
    return folder, ann


def test_second_writer_stops_at_once_naming_the_first(dataset: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    videos, ann = dataset
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "nextevent.cli",
                              *build_args(videos, ann, out, "--workers", "1", *RACE)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out / ".nextevent.lock").exists():
        time.sleep(0.05)
    # the first build is paused while the second starts, so it still holds the lock
    # however fast it would have finished (no race against the machine's speed)
    first.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        second = cli(*build_args(videos, ann, out, "--workers", "1", *RACE), check=False)
        assert time.monotonic() - started < 30  # it stops, it does not wait
    finally:
        first.send_signal(signal.SIGCONT)
    first_out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, first_out
    assert second.returncode != 0
    text = second.stdout + second.stderr
    assert f"pid {first.pid}" in text and "being written by another" in text, text
    assert "Traceback" not in text
    ids = record_ids(out)
    assert len(ids) == len(set(ids)) == 6
    # reading commands do not need the lock; a later build resumes normally
    again = cli(*build_args(videos, ann, out, "--workers", "1", *RACE))
    assert "0 / 6" in again.stdout and record_ids(out) == ids


def test_sigkill_takes_the_workers_down_and_a_rerun_cleans_up(dataset: tuple[Path, Path],
                                                             tmp_path: Path) -> None:
    videos, ann = dataset
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "nextevent.cli",
                             *build_args(videos, ann, out, "--workers", "2", *RACE)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while time.monotonic() < deadline:  # wait for both workers to be cutting
        workers = children(proc.pid)
        if len(workers) >= 2 and (out / "clips").is_dir() and any((out / "clips").iterdir()):
            break
        time.sleep(0.05)
    assert len(workers) >= 2, "the pool never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)], "workers outlived the driver"
    # a leftover of the dead run is cleaned by the rerun, which finishes the run
    clip = next(p for p in (out / "clips").iterdir() if p.is_dir())
    (clip / ".past.mp4.deadbeef.part").write_bytes(b"half a clip")
    cli(*build_args(videos, ann, out, "--workers", "2", *RACE))
    assert not list(out.rglob("*.part")) and not list(out.rglob(".*.tmp"))
    assert len(record_ids(out)) == 6


@pytest.fixture()
def sample_run(sample_dir: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    out = tmp_path / "run"
    cli(*build_args(sample_dir, EXAMPLES, out, "--splits-per-video", "2", "--workers", "1"))
    return out, record_ids(out)


def test_torn_last_line_while_state_says_done_is_rebuilt(sample_dir: Path,
                                                        sample_run: tuple[Path, list[str]]
                                                        ) -> None:
    out, ids = sample_run
    records = out / "records.jsonl"
    data = records.read_bytes()
    records.write_bytes(data[: len(data) - 40])  # tear the last record, state says done
    again = cli(*build_args(sample_dir, EXAMPLES, out, "--splits-per-video", "2",
                            "--workers", "1"))
    assert record_ids(out) == ids, again.stdout
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert any(f["stage"] == "store" and "partial line" in f["error"] for f in failures)


def test_corrupt_middle_line_is_quarantined_and_its_record_made_again(
        sample_dir: Path, sample_run: tuple[Path, list[str]]) -> None:
    out, ids = sample_run
    records = out / "records.jsonl"
    lines = records.read_text().splitlines(keepends=True)
    lines[1] = '{"id": "broken", "this is": not json\n'
    records.write_text("".join(lines))
    again = cli(*build_args(sample_dir, EXAMPLES, out, "--splits-per-video", "2",
                            "--workers", "1"))
    assert record_ids(out) == ids, again.stdout
    (moved,) = [json.loads(x) for x in (out / "records.quarantine.jsonl").read_text()
                .splitlines()]
    assert moved["line"] == 2 and "not json" in moved["text"]
    assert "Traceback" not in again.stdout + again.stderr
    # the export reads the repaired run whole
    cli("export", str(out), "--target", "easyr1", "--out", str(out.parent / "exp"))


def test_garbage_state_is_rebuilt_from_the_records(sample_dir: Path,
                                                  sample_run: tuple[Path, list[str]]) -> None:
    out, ids = sample_run
    (out / "state.sqlite").write_bytes(os.urandom(4096))
    again = cli(*build_args(sample_dir, EXAMPLES, out, "--splits-per-video", "2",
                            "--workers", "1"))
    assert record_ids(out) == ids, again.stdout
    assert "records new / total │ 0 / 4" in again.stdout or "0 / 4" in again.stdout
    assert list(out.glob("state.sqlite.corrupt-*"))
    db = sqlite3.connect(out / "state.sqlite")
    assert db.execute("SELECT COUNT(*) FROM state WHERE status = 'done'").fetchone()[0] >= 4
    failures = (out / "failures.jsonl").read_text()
    assert "not a readable SQLite database" in failures


def test_disk_full_is_one_clear_error_and_the_rerun_finishes(sample_dir: Path,
                                                            tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a size-limited tmpfs here (needs root)")
    try:
        out = mount / "run"
        full = cli(*build_args(sample_dir, EXAMPLES, out, "--splits-per-video", "2",
                               "--workers", "1"), check=False)
        text = full.stdout + full.stderr
        assert "Traceback" not in text
        assert full.returncode != 0 or "failures: cut" in text, text
        failures = (out / "failures.jsonl").read_text() if (
            out / "failures.jsonl").exists() else text
        assert "No space left on device" in text + failures, text
        assert "free disk space" in text + failures
        moved = tmp_path / "moved"
        shutil.copytree(out, moved)  # more room: the same run goes on elsewhere
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    cli(*build_args(sample_dir, EXAMPLES, moved, "--splits-per-video", "2", "--workers", "1"))
    assert len(record_ids(moved)) == 4


def test_a_failure_later_fixed_is_listed_as_resolved(sample_dir: Path, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(sample_dir / "bikes.mp4", videos / "bikes.mp4")  # bigbuckbunny missing
    out = tmp_path / "run"
    first = cli(*build_args(videos, EXAMPLES, out, "--workers", "1"))
    assert re.search(r"open / resolved\s*│ 1 / 0", first.stdout), first.stdout
    shutil.copy(sample_dir / "bigbuckbunny.mp4", videos / "bigbuckbunny.mp4")
    second = cli(*build_args(videos, EXAMPLES, out, "--workers", "1"))
    assert re.search(r"open / resolved\s*│ 0 / 1", second.stdout), second.stdout
    lines = (out / "failures.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["input"] == "bigbuckbunny"
    cli("report", str(out), "--out", str(tmp_path / "report"))
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "No open failures" in page and "1 more failure(s)" in page


def test_a_build_writing_to_a_log_prints_progress_lines(dataset: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    """Where no live bar is drawn (output piped to a file), a line every few seconds
    shows the build is moving (``NEXTEVENT_HEARTBEAT_S``). The interval is far below the
    build's own time (about 0.4 s for these six videos), so lines must appear."""
    videos, ann = dataset
    out = subprocess.run([sys.executable, "-m", "nextevent.cli", "build", "--videos",
                          str(videos), "--annotations", str(ann), "--out",
                          str(tmp_path / "run"), "--workers", "1"],
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "NEXTEVENT_HEARTBEAT_S": "0.02"})
    assert out.returncode == 0, out.stdout + out.stderr
    beats = [line for line in out.stdout.splitlines() if line.startswith("build: ")]
    assert beats and "videos ended" in beats[-1], out.stdout


def test_import_into_a_run_being_written_stops_and_export_still_reads(
        sample_run: tuple[Path, list[str]], tmp_path: Path) -> None:
    """The lock as another writer holds it (this process plays the build): `import v1`
    into the run stops at once naming the holder; `export` (a reader) still works."""
    from nextevent.rundir import RunDir, RunLock

    out, ids = sample_run
    fixture = ROOT / "tests" / "data" / "export" / "next_event_prediction_v1.json"
    with RunLock(RunDir(out), "build"):
        refused = cli("import", "v1", str(fixture), "--out", str(out), check=False)
        exported = cli("export", str(out), "--target", "llamafactory", "--out",
                       str(tmp_path / "exp"))
    text = refused.stdout + refused.stderr
    assert refused.returncode != 0 and f"pid {os.getpid()}" in text and "build" in text, text
    assert "Traceback" not in text
    assert record_ids(out) == ids  # nothing imported
    assert "wrote" in exported.stdout
    after = cli("import", "v1", str(fixture), "--out", str(out))  # lock released: imports
    assert "imported" in after.stdout and len(record_ids(out)) > len(ids)
