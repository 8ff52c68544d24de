"""``nextevent report``: the HTML report of a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nextevent.cli_errors import console, styled
from nextevent.cli_errors import fail as _fail
from nextevent.records import NextEventError


def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `nextevent build`.")],
    out: Annotated[Path, typer.Option(
        help="Folder for index.html, plots/ and sheets/ (created).")],
    bench: Annotated[Path | None, typer.Option(
        help="FutureBench JSONL (`nextevent bench build`): adds hop counts and "
        "answer-letter balance and its blind audit.")] = None,
    t3: Annotated[Path | None, typer.Option(
        "--t3", help="Video-T3 JSONL (`nextevent t3 synth`): adds the blind audit of its "
        "multiple-choice items.")] = None,
    eval: Annotated[Path | None, typer.Option(
        "--eval", help="Eval summary JSON (`nextevent bench eval`): adds accuracy per "
        "question type with 95% CIs.")] = None,
    samples: Annotated[int, typer.Option(
        min=0, help="Records (with clips) to draw contact sheets for.")] = 6,
    frames: Annotated[int, typer.Option(
        min=1, help="Frames per contact sheet from each of the past and future segments.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the choice of sampled records.")] = 0,
    screenshot: Annotated[Path | None, typer.Option(
        help="Also open the page in headless chromium, check that every image and clip "
        "loads, and save a PNG of it here.")] = None,
    screenshot_height: Annotated[int | None, typer.Option(
        min=200, help="Cut the screenshot to this many pixels from the top of the page "
        "(1280 pixels wide).")] = None,
) -> None:
    """Write an HTML report of a run: counts, failures, distributions, model usage,
    evaluation and contact sheets with the past and future clips.

    The page is static and opens from disk; it links the run's clips by relative paths,
    so keep the report and the run directory where they are.
    """
    from nextevent.report.build import build_report

    try:
        result = build_report(run_dir, out, bench_path=bench, eval_path=eval, t3_path=t3,
                              samples=samples, seed=seed, frames_per_side=frames)
    except NextEventError as err:
        _fail(err)
    console.print(f"report:  {result.html}\n         {result.records} records, "
                  f"{len(result.plots)} plots, {len(result.sheets)} contact sheets")
    for record_id, error in result.sheet_errors.items():
        console.print(styled(("no contact sheet", "yellow"), f" for {record_id}: {error}"))
    if screenshot is None:
        return
    from nextevent.report.browser import check_page

    try:
        check = check_page(result.html, screenshot=screenshot, max_height=screenshot_height)
    except NextEventError as err:
        _fail(err)
    console.print(f"screenshot: {screenshot} (page {check.size[0]}x{check.size[1]} px; "
                  f"{len(check.images)} images, {len(check.videos)} videos)")
    for problem in check.problems:
        console.print(styled((problem, "red")))
    if check.problems:
        raise typer.Exit(1)
