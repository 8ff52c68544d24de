"""``nextevent bench``: FutureBench (V1, arXiv 2505.22457): ``build``, ``filter``,
``eval``, ``export`` (``--layout futurebench``: the official V1 task's data layout;
``--layout lmms-eval``: our lmms-eval tasks), ``export-lmms-eval`` (the latter, as before).
Heavy imports stay inside commands."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from nextevent.cli_checks import checked
from nextevent.cli_errors import fail as _fail
from nextevent.cli_errors import refuse_input_as_out
from nextevent.heartbeat import HEARTBEAT_S
from nextevent.records import NextEventError
from nextevent.rundir import (
    EvalDir,
    blind_report_beside,
    call_cache_beside,
    failed_attempt,
    failures_beside,
    quality_beside,
)

app = typer.Typer(help="FutureBench: build a next-event multiple-choice benchmark, filter "
                  "items a blind text model solves, evaluate a model, export to lmms-eval.",
                  no_args_is_help=True)
console = Console()


def _types(value: str) -> list[str]:
    from nextevent.bench.build import QUESTION_TYPES

    # a type named twice is built once (item ids are <record>:<type>, unique in a file)
    names = list(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    bad = [n for n in names if n not in QUESTION_TYPES]
    if bad or not names:
        raise typer.BadParameter(f"--types: unknown {', '.join(bad) or 'empty list'}; choose "
                                 f"from {', '.join(QUESTION_TYPES)} (comma-separated)")
    return names


def _print_summary(title: str, summary: dict, console: Console = console) -> None:
    """Accuracy per type and overall; with a ``consistency`` block (reasoning mode) its
    rate, CI, judged count and the items left out of it, beside the accuracy."""
    table = Table(title=title)
    cons = summary.get("consistency")
    cols = ["type", "accuracy (%)", "95% CI (%)", "n"]
    if cons:
        cols += ["consistent (%)", "95% CI (%)", "judged", "no conclusion", "no answer"]
    for col in cols:
        table.add_column(col)
    rows = [("overall", summary["overall"])] + list(summary["by_type"].items())
    for name, s in rows:
        lo, hi = s["ci95"]
        cells = [name, f"{100 * s['accuracy']:.1f}" if s["n"] else "-",
                 f"{100 * lo:.1f}-{100 * hi:.1f}" if s["n"] else "-", str(s["n"])]
        c = (cons["overall"] if name == "overall" else cons["by_type"].get(name)) if cons \
            else None
        if c is not None:
            clo, chi = c["ci95"]
            cells += [f"{100 * c['rate']:.1f}" if c["n"] else "-",
                      f"{100 * clo:.1f}-{100 * chi:.1f}" if c["n"] else "-", str(c["n"]),
                      str(c["no_conclusion"]), str(c["no_answer"])]
        elif cons:
            cells += ["-"] * 5
        table.add_row(*cells)
    console.print(table)


@contextmanager
def _item_progress(enabled: bool, total: int, what: str) -> Iterator[Callable[[bool], None]]:
    """An overall progress line on stderr (done / total, failed, elapsed), shown only when
    ``enabled`` and stderr is a terminal; yields ``step(failed)``, called once per unit."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    err = Console(stderr=True)
    failed = 0
    with Progress(TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                  console=err, disable=not (enabled and err.is_terminal)) as progress:
        task = progress.add_task(what, total=total, failed=0)
        done = 0

        def step(bad: bool) -> None:
            nonlocal failed, done
            failed += bool(bad)
            done += 1
            progress.update(task, advance=1, failed=failed)

        # where no live bar is drawn (a log file, CI), a line now and then shows a stall
        stop = threading.Event()
        started = time.perf_counter()

        def beat() -> None:
            while not stop.wait(HEARTBEAT_S):
                err.print(f"{what}: {done}/{total} done, {failed} failed, "
                          f"{time.perf_counter() - started:.0f} s", markup=False,
                          highlight=False)

        beating = threading.Thread(target=beat, daemon=True) if (
            enabled and not err.is_terminal) else None
        if beating is not None:
            beating.start()
        try:
            yield step
        finally:
            stop.set()


@app.command()
def build(
    run_dir: Annotated[Optional[Path], typer.Argument(  # noqa: UP045 (typer)
        help="A run directory written by `nextevent build` (its records.jsonl).")] = None,
    out: Annotated[Path, typer.Option(help="Output benchmark, JSON Lines, one item a "
                                      "line (BENCH.quality.json and BENCH.failures.jsonl "
                                      "are written next to it).")] = Path("bench.jsonl"),
    annotations: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        help="Text level instead of a run: an annotation file (no video paths).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Format of --annotations "
                                     "(activitynet, charades-sta, tacos, youcook2, "
                                     "jsonl).")] = "activitynet",
    types: Annotated[str, typer.Option(help="Question types, comma-separated "
                                       "(hop1,hop2,hop3,hop5,interp).")]
    = "hop1,hop2,hop3,hop5,interp",
    max_videos: Annotated[int, typer.Option(
        min=0, help="Use at most this many videos (count; 0: all), in file order.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of groups and answer letters "
                                      "(integer).")] = 0,
    gate: Annotated[bool, typer.Option("--gate/--no-gate", help="Run the blind audit at "
                                       "the end and drop (or refuse) what a baseline "
                                       "solves.")] = True,
    gate_min_items: Annotated[int, typer.Option(help="Fewest items of a type for the gate "
                                                "to apply (count).")] = 100,
    cf_base_url: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="OpenAI-compatible endpoint of a model writing counterfactual continuations "
        "that steer which videos are grouped (never options; none: caption "
        "similarity only).")] = None,
    cf_model: Annotated[str, typer.Option(help="Model name for --cf-base-url.")] = "",
    cf_concurrency: Annotated[int, typer.Option(help="Counterfactual requests in flight "
                                                "(count).")] = 4,
) -> None:
    """Build FutureBench items (extrapolation hop1/2/3/5, interpolation) in exchangeable
    option groups, gate them with the blind audit, and print the quality checks. A build
    that fails (the gate, or no item) over an earlier benchmark at --out keeps it with its
    .quality.json and .failures.jsonl; its own go to .failed.quality.json and
    .failed.failures.jsonl."""
    from nextevent.audit.embed import TextVectors
    from nextevent.bench.build import (
        LoadedStories,
        build_items,
        load_annotation_stories,
        quality,
        stories_from_run,
        write_failures,
        write_items,
    )
    from nextevent.bench.gate import gate as run_gate

    if (run_dir is None) == (annotations is None):
        raise typer.BadParameter("give either RUN_DIR or --annotations FILE (text level)")
    chosen = _types(types)
    failures_path, quality_path = failures_beside(out), quality_beside(out)
    failed_paths = (failed_attempt(out, failures_path), failed_attempt(out, quality_path))
    refuse_input_as_out(out, [run_dir, annotations], also=[
        failures_path, quality_path, call_cache_beside(out), *failed_paths])
    try:
        loaded = (LoadedStories(stories_from_run(run_dir)) if run_dir is not None
                  else load_annotation_stories(annotations, fmt))  # type: ignore[arg-type]
    except NextEventError as err:
        _fail(err)
    stories = loaded.stories[:max_videos] if max_videos else loaded.stories
    cfs = None
    if cf_base_url:
        import asyncio

        from nextevent.bench.counterfactual import counterfactuals
        from nextevent.bench.evaluate import model_config

        if not cf_model:
            raise typer.BadParameter("--cf-base-url needs --cf-model")
        config = checked(model_config, cf_base_url, cf_model, concurrency=cf_concurrency,
                          max_tokens=400, temperature=0.7,
                          options={"concurrency": "--cf-concurrency"})
        cfs, failed = asyncio.run(counterfactuals(
            stories, config, types=chosen,
            cache_path=call_cache_beside(out)))
        console.print(f"counterfactual continuations for {len(cfs)} items ({failed} failed); "
                      "they steer grouping only")
    vectors = TextVectors()
    result = build_items(stories, seed=seed, types=chosen, vectors=vectors,
                         counterfactuals=cfs)
    failures = list(loaded.failures) + result.failures
    report: dict = {"import": loaded.stats, "build": result.counts}
    items = result.items
    gate_error: NextEventError | None = None
    if gate and items:
        try:
            gated = run_gate(items, vectors=vectors, min_items=gate_min_items, seed=seed)
        except NextEventError as err:
            gate_error = err
            report["gate"] = {"passed": False, "error": str(err)}
        else:
            items = gated.items
            failures += gated.failures
            report["gate"] = gated.summary()
    elif not gate:
        report["gate"] = {"passed": None, "skipped": "--no-gate"}
    report = {**quality(items), **report, "failures": len(failures),
              "failures_by_stage": dict(Counter(f.stage for f in failures))}
    out.parent.mkdir(parents=True, exist_ok=True)
    if gate_error is not None or not items:
        if out.is_file():  # an earlier bench stays with the files that describe it
            failures_path, quality_path = failed_paths
        n_failures = write_failures(failures, failures_path)
        quality_path.write_text(json.dumps(report, indent=2))
        kept = (f"; the earlier {out} and its quality and failures files are kept, this "
                f"attempt's are {quality_path.name} and {failures_path.name}"
                if out.is_file() else "")
        if gate_error is not None:
            _fail(NextEventError(gate_error.stage, str(gate_error) + kept, gate_error.hint))
        _fail(NextEventError(
            "bench", f"no FutureBench item could be built from {len(stories)} video(s): "
            f"see the {n_failures} reasons in {failures_path}{kept}",
            "exchangeable groups need 4 different videos per question type with enough "
            "events; add videos or annotations"))
    n_failures = write_failures(failures, failures_path)
    write_items(items, out)
    quality_path.write_text(json.dumps(report, indent=2))
    for stale in failed_paths:  # a failed attempt's files, now superseded
        stale.unlink(missing_ok=True)
    gate_text = "gate: not run (--no-gate)"
    if report["gate"].get("passed"):
        small = sorted(t for t, n in report["by_type"].items() if n < gate_min_items)
        gate_text = "gate: passed" + (f"; {', '.join(small)} under {gate_min_items} items, "
                                      "reported, not gated" if small else "")
    console.print(f"wrote {len(items)} items in {sum(report['groups'].values())} groups to "
                  f"{out} (by type {report['by_type']}; letters {report['letters']}; "
                  f"duplicate options {report['duplicate_options']}, near-duplicate options "
                  f"{report['near_duplicate_options']}, duplicate items "
                  f"{report['duplicate_items']}; {gate_text}); {n_failures} left out, "
                  f"reasons in {failures_path}")
    if report["gate"].get("best"):
        for qtype, best in report["gate"]["best"].items():
            if best:
                console.print(f"  {qtype}: best blind baseline {best['baseline']} "
                              f"({best['family']}) {100 * best['accuracy']:.1f}% of "
                              f"{best['n']} (chance {100 * best['chance']:.0f}%"
                              + (", not gated" if best["n"] < gate_min_items else "") + ")")


@app.command("eval")
def eval_(
    bench: Annotated[Path, typer.Argument(help="Benchmark JSONL (from `bench build`).")],
    base_url: Annotated[str, typer.Option(help="OpenAI-compatible endpoint, e.g. "
                                          "http://127.0.0.1:8000/v1.")],
    model: Annotated[str, typer.Option(help="Model name the server knows.")],
    out: Annotated[Path, typer.Option(help="Output folder: responses.jsonl (every raw "
                                      "response), results.json, call cache.")]
    = Path("bench_eval"),
    mode: Annotated[str, typer.Option(help="Prompt mode: direct (letter only) or "
                                      "reasoning (<answer> block).")] = "direct",
    text_only: Annotated[bool, typer.Option(help="Send the past caption as text instead "
                                            "of the video (decoder probe).")] = False,
    video_mode: Annotated[str, typer.Option(help="frames (sampled JPEG frames) or "
                                            "video_url.")] = "frames",
    fps: Annotated[float, typer.Option(help="Frames sampled per second of video.")] = 1.0,
    max_frames: Annotated[int, typer.Option(help="Most frames per item (count).")] = 32,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once "
                                             "(count).")] = 4,
    max_tokens: Annotated[int, typer.Option(help="Most tokens generated per answer "
                                            "(tokens; reasoning mode needs more).")] = 0,
    api_key_env: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Environment variable holding the API key (none: no key).")] = None,
    timeout_s: Annotated[float, typer.Option(help="Seconds one try of a call may "
                                             "take.")] = 120.0,
    max_retries: Annotated[int, typer.Option(help="Retries of a call after its first try "
                                             "(count).")] = 4,
    deadline_s: Annotated[float, typer.Option(help="Seconds one call may take over all "
                                              "its tries and waits; a Retry-After past "
                                              "it fails the item at once.")] = 300.0,
    max_response_bytes: Annotated[int, typer.Option(help="Largest response body read "
                                                    "(bytes); a larger one fails the "
                                                    "item.")] = 8 * 1024 * 1024,
    progress: Annotated[bool, typer.Option(help="Show a progress line (on a "
                                           "terminal).")] = True,
    judge_base_url: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Reasoning mode: OpenAI-compatible endpoint of a judge model that reads "
        "which option each <think> concludes (none: the rule, the last option the "
        "thinking names).")] = None,
    judge_model: Annotated[str, typer.Option(help="Model name for "
                                             "--judge-base-url.")] = "",
    judge_api_key_env: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Environment variable holding the judge's API key (none: no key).")] = None,
) -> None:
    """Evaluate a model on a benchmark: accuracy per question type and overall with
    bootstrap 95% CIs (table + results.json); resumable. An item whose call fails is
    written to failures.jsonl in --out and the others go on; a rerun asks it again.
    Reasoning mode also reports think-answer consistency (how often the <answer> letter
    is the option the <think> text concludes) beside the accuracy."""
    import asyncio

    from nextevent.bench.build import read_items
    from nextevent.bench.evaluate import (
        eval_failures_path,
        evaluate_items,
        judge_config,
        model_config,
    )
    from nextevent.llm.config import VideoInput

    if mode not in ("direct", "reasoning"):
        raise typer.BadParameter(f"--mode must be direct or reasoning, got {mode!r}")
    if video_mode not in ("frames", "video_url"):
        raise typer.BadParameter(f"--video-mode must be frames or video_url, got {video_mode!r}")
    if judge_base_url and not judge_model:
        raise typer.BadParameter("--judge-base-url needs --judge-model")
    if judge_base_url and mode != "reasoning":
        raise typer.BadParameter("--judge-base-url reads <think> conclusions: it needs "
                                 "--mode reasoning")
    try:
        items = read_items(bench)
        judge = checked(judge_config, judge_base_url, judge_model,
                         api_key_env=judge_api_key_env, concurrency=concurrency,
                         timeout_s=timeout_s, max_retries=max_retries, deadline_s=deadline_s
                         ) if judge_base_url else None
        video = checked(VideoInput, mode=video_mode, fps=fps, max_frames=max_frames)
        config = checked(model_config, base_url, model, concurrency=concurrency,
                          max_tokens=max_tokens or (16 if mode == "direct" else 1024),
                          api_key_env=api_key_env, timeout_s=timeout_s,
                          max_retries=max_retries, deadline_s=deadline_s,
                          max_response_bytes=max_response_bytes, video=video, judge=judge)
        with _item_progress(progress, len(items), "eval") as step:
            summary = asyncio.run(evaluate_items(
                items, config, out, mode=mode, text_only=text_only,  # type: ignore[arg-type]
                on_item=step))
    except NextEventError as err:
        _fail(err)
    _print_summary(f"FutureBench: {model} ({mode}{', text only' if text_only else ''})",
                   summary)
    paths = EvalDir(out)
    cons = summary.get("consistency")
    if cons:
        by = "rule (last option the thinking names)" if cons["method"] == "rule" else (
            f"judge {cons['judge_model']}")
        console.print(f"think-answer consistency read by {by}; no conclusion and no "
                      "answer are left out of its rate", soft_wrap=True)
        if cons["overall"]["judge_failed"]:
            console.print(f"[yellow]the judge failed on {cons['overall']['judge_failed']} "
                          f"items[/yellow] (left out of the consistency; listed in "
                          f"{eval_failures_path(out)}; rerun to ask again)", soft_wrap=True)
    console.print(f"no answer: {summary['no_answer']}; results in {paths.results}, "
                  f"raw responses in {paths.responses}")
    if summary["failed"]:
        _report_failures(summary["failed"], len(items), eval_failures_path(out), "item")


def _report_failures(failed: int, total: int, path: Path, what: str) -> None:
    """Print how many ``what`` failed and where they are listed (with the first error);
    exit 1 when all of them failed."""
    first = ""
    try:
        line = path.read_text(encoding="utf-8").splitlines()[0]
        first = json.loads(line)["error"]
    except (OSError, IndexError, ValueError, KeyError):
        pass
    console.print(f"[yellow]{failed} of {total} {what}s failed[/yellow] (left out of the "
                  f"figures; listed in {path}; rerun to retry them)"
                  + (f": first: {first}" if first else ""), soft_wrap=True)
    if failed >= total:
        console.print(f"[red]every {what} failed[/red]")
        raise typer.Exit(1)


@app.command("filter")
def filter_(
    bench: Annotated[Path, typer.Argument(help="Benchmark JSONL (from `bench build`).")],
    base_url: Annotated[str, typer.Option(help="OpenAI-compatible endpoint of the blind "
                                          "text model.")],
    model: Annotated[str, typer.Option(help="Model name the server knows.")],
    out: Annotated[Path, typer.Option(help="Filtered benchmark JSONL (a .blind.json "
                                      "report is written next to it).")],
    blind: Annotated[bool, typer.Option("--blind", help="Text-only model, no video (the "
                                        "only filter so far).")] = True,
    trials: Annotated[int, typer.Option(help="Shuffled trials per item (count).")] = 3,
    threshold: Annotated[float, typer.Option(help="An item answered right in more than this "
                                             "fraction of trials (0-1) is solved; a group "
                                             "with more than one solved item in four is "
                                             "dropped whole.")] = 0.5,
    with_past: Annotated[bool, typer.Option(help="Give the past caption as text.")] = False,
    concurrency: Annotated[int, typer.Option(help="Requests in flight (count).")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the option shuffles (integer).")] = 0,
    timeout_s: Annotated[float, typer.Option(help="Seconds one try of a call may "
                                             "take.")] = 120.0,
    deadline_s: Annotated[float, typer.Option(help="Seconds one call may take over all "
                                              "its tries and waits.")] = 300.0,
    max_response_bytes: Annotated[int, typer.Option(help="Largest response body read "
                                                    "(bytes).")] = 8 * 1024 * 1024,
    progress: Annotated[bool, typer.Option(help="Show a progress line (on a "
                                           "terminal).")] = True,
) -> None:
    """Blind filter: drop the exchangeable groups in which a text-only model solves more
    than one item in four (an option-only pick solves exactly one, so whole groups keep
    every option-only rule at chance); report blind accuracy before and after with
    bootstrap 95% CIs (held-out trials). Items whose calls fail are listed in OUT's
    .failures.jsonl and their groups left out; the others go on."""
    import asyncio

    from nextevent.bench.build import read_items, write_failures, write_items
    from nextevent.bench.evaluate import model_config
    from nextevent.bench.filter import blind_filter

    if not blind:
        raise typer.BadParameter("only --blind filtering exists")
    report_path, failures_path = blind_report_beside(out), failures_beside(out)
    failed_paths = (failed_attempt(out, report_path), failed_attempt(out, failures_path))
    refuse_input_as_out(out, [bench], also=[
        report_path, failures_path, call_cache_beside(out), *failed_paths])
    config = checked(model_config, base_url, model, concurrency=concurrency, max_tokens=8,
                      timeout_s=timeout_s, deadline_s=deadline_s,
                      max_response_bytes=max_response_bytes)
    try:
        items = read_items(bench)
        failures: dict = {}
        with _item_progress(progress, 2 * trials * len(items), "blind trials") as step:
            kept, report = asyncio.run(blind_filter(
                items, config, n=trials, threshold=threshold, seed=seed,
                with_past=with_past, cache_path=call_cache_beside(out), failures=failures,
                on_trial=step))
    except (NextEventError, ValueError) as err:
        if isinstance(err, NextEventError):
            _fail(err)
        raise typer.BadParameter(str(err)) from err
    if not kept:  # an empty benchmark would replace an earlier --out that still reads
        report_path, failures_path = failed_paths
    else:
        write_items(kept, out)
        for stale in failed_paths:
            stale.unlink(missing_ok=True)
    report_path.write_text(json.dumps(report, indent=2))
    if failures:
        write_failures(failures.values(), failures_path)
    else:
        failures_path.unlink(missing_ok=True)
    _print_summary(f"blind {model}", {"overall": report["before"], "by_type": {
        "after filter": report["after"]}})
    if not kept:
        console.print(f"[red]no item kept[/red] ({report['dropped']} dropped in "
                      f"{report['dropped_groups']} group(s), {report['failed']} failed, "
                      f"{len(report['left_out_items'])} left out with them): nothing written "
                      f"to {out}; the report is {report_path}"
                      + (f", the failures {failures_path}" if failures else ""),
                      soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"kept {report['kept']}, dropped {report['dropped']} "
                  f"{report['dropped_by_type']} in {report['dropped_groups']} whole "
                  f"group(s) -> {out}; chance 25%")
    if report["left_out_items"]:
        console.print(f"{len(report['left_out_items'])} item(s) left out with a failed "
                      "item of their group (a group is kept or dropped whole)")
    if report["failed"]:
        _report_failures(report["failed"], len(items), failures_path, "item")


from nextevent.bench import cli_export  # noqa: E402  (its commands join this app)

app.command("export")(cli_export.export_cmd)
app.command("export-lmms-eval")(cli_export.export_lmms_eval_cmd)
app.command("audit")(__import__("nextevent.audit.cli", fromlist=["*"]).bench_audit)
