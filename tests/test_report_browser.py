"""The report in a real browser: Debian's chromium, headless, driven over the DevTools
protocol (`nextevent.report.browser`). Chromium comes from `.ci/setup.d/30-chromium.sh`;
without it these tests fail in CI and are skipped elsewhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from test_report import EVAL, SECTION_IDS, bench_from_run, report_run
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.records import NextEventError
from nextevent.report.browser import check_page, find_chromium
from nextevent.store import read_records


@pytest.fixture(scope="module")
def chromium() -> str:
    try:
        return find_chromium()
    except NextEventError as err:
        if os.environ.get("CI"):
            pytest.fail(f"{err} ({err.hint})")
        pytest.skip(f"{err} ({err.hint})")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    return report_run(tmp_path_factory.getbasetemp() / "report_run", sample_dir)


@pytest.fixture(scope="module")
def report_dir(run_dir: Path, chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report written by the command itself, which also checks it in chromium and
    takes a screenshot."""
    base = tmp_path_factory.mktemp("browser_report")
    bench = bench_from_run(run_dir, base / "bench.jsonl")
    eval_path = base / "eval.json"
    eval_path.write_text(json.dumps(EVAL), encoding="utf-8")
    result = CliRunner().invoke(app, [
        "report", str(run_dir), "--out", str(base / "report"), "--bench", str(bench),
        "--eval", str(eval_path), "--screenshot", str(base / "shot.png")])
    assert result.exit_code == 0, result.output  # exit 1 on a broken image or clip
    assert "screenshot:" in result.output
    return base / "report"


def test_every_section_image_and_clip_loads_without_console_errors(
        report_dir: Path, run_dir: Path, chromium: str) -> None:
    shot = report_dir.parent / "check.png"
    check = check_page(report_dir / "index.html", screenshot=shot, timeout_s=90,
                       chromium=chromium)
    assert check.section_ids == SECTION_IDS
    assert check.title == f"nextevent report: {run_dir.name}"
    assert check.images and check.broken_images == []
    sheets = [i for i in check.images if i["inSheet"]]
    assert len(sheets) == 4 and all(i["naturalWidth"] > 1000 for i in sheets)
    assert len(check.images) == 4 + 9  # sheets + plots
    assert check.console_errors == [] and check.external == [] and check.problems == []
    # every player loaded its clip: the browser's duration is the clip's
    durations = {}
    for record in read_records(run_dir / "records.jsonl"):
        for segment in (record.past, record.future):
            durations[(run_dir / segment.path).resolve()] = segment.duration_s
    assert len(check.videos) == 8
    for video in check.videos:
        clip = (report_dir / video["src"]).resolve()
        assert video["error"] is None and video["readyState"] >= 1, video
        assert video["duration"] == pytest.approx(durations[clip], abs=0.05)
    image = Image.open(shot)
    assert image.format == "PNG" and image.size == (1280, check.size[1])
    assert check.size[1] > 2000  # the whole page, not just the first screen
    # the shot shows the page: the dark header on top, a light page below
    assert sum(image.getpixel((5, 5))[:3]) < 200 and sum(image.getpixel((5, 400))[:3]) > 600
    assert (report_dir.parent / "shot.png").stat().st_size > 50_000


def test_a_broken_image_or_clip_is_reported(report_dir: Path, run_dir: Path, chromium: str,
                                            tmp_path: Path) -> None:
    broken = tmp_path / "report"
    shutil.copytree(report_dir, broken)
    sheet = sorted((broken / "sheets").glob("*.png"))[0]
    sheet.unlink()
    plot = broken / "plots" / "usage.png"
    plot.write_bytes(b"not a png")
    # a player pointing at a clip that is not there
    page = broken / "index.html"
    text = page.read_text(encoding="utf-8")
    first_clip = next(read_records(run_dir / "records.jsonl")).past.path
    assert first_clip in text
    page.write_text(text.replace(first_clip, first_clip.replace("past.mp4", "gone.mp4"), 1),
                    encoding="utf-8")
    check = check_page(page, timeout_s=90, chromium=chromium)
    assert sorted(check.broken_images) == sorted([f"sheets/{sheet.name}", "plots/usage.png"])
    assert [v["src"].rsplit("/", 1)[-1] for v in check.videos
            if v["error"] is not None] == ["gone.mp4"]
    assert check.broken_videos and check.broken_videos[0].endswith("gone.mp4")
    assert any("ERR_FILE_NOT_FOUND" in e and sheet.name in e for e in check.console_errors)
    assert len(check.problems) >= 3


def test_console_errors_and_exceptions_are_reported(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head><body>"
                    "<section id='s'><h2>S</h2></section><script>console.error('boom');"
                    "setTimeout(() => { throw new Error('bang'); }, 0);</script></body></html>",
                    encoding="utf-8")
    check = check_page(page, timeout_s=60, chromium=chromium)
    assert check.section_ids == ["s"]
    assert any("boom" in e for e in check.console_errors)
    assert any("bang" in e for e in check.console_errors)


def test_a_fresh_process_gets_the_pipe_and_a_short_timeout_ends_chromium(
        chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head>"
                    "<body><section id='only'><h2>Only</h2></section></body></html>",
                    encoding="utf-8")
    # in a new interpreter os.pipe() returns fds 3 and 4, the very numbers chromium reads
    script = ("import sys; from pathlib import Path; "
              "from nextevent.report.browser import check_page; "
              "c = check_page(Path(sys.argv[1]), timeout_s=60); print(c.section_ids, c.problems)")
    done = subprocess.run([sys.executable, "-c", script, str(page)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['only'] []"
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="did not answer in time"):
        check_page(page, timeout_s=0.05, chromium=chromium)  # chromium starts slower
    assert time.monotonic() - started < 10
