"""``nextevent t3``: text-only temporal reasoning data (Video-T3, Li et al., arXiv
2410.06166, Sec. 3): ``synth``, ``stats``, ``mix``. Heavy imports stay inside commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nextevent.cli_errors import fail as _fail
from nextevent.cli_errors import refuse_input_as_out
from nextevent.records import NextEventError

app = typer.Typer(help="Video-T3: synthesize text-only temporal reasoning tasks (order, "
                  "attribute, referring, grounding), measure their token lengths, and mix "
                  "them with general instruction data.", no_args_is_help=True)
console = Console()

SOURCE_FORMATS = "activitynet | charades-sta | tacos | youcook2 | jsonl | captions"




def _split(value: str, option: str, choices: tuple[str, ...]) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in choices]
    if bad or not names:
        raise typer.BadParameter(f"{option}: unknown {', '.join(bad) or 'empty list'}; "
                                 f"choose from {', '.join(choices)} (comma-separated)")
    return list(dict.fromkeys(names))


@app.command()
def synth(
    source: Annotated[Path, typer.Option(
        "--from", help="A run directory (its records.jsonl), an annotation file, or a file "
        "of independent image captions (--format captions).")],
    out: Annotated[Path, typer.Option(help="Output JSON Lines file, one T3 item a line.")],
    format: Annotated[str | None, typer.Option(
        "--format", help=f"Format of --from when it is a file: {SOURCE_FORMATS}; guessed "
        "from the content for annotation files when left out.")] = None,
    aspects: Annotated[str, typer.Option(
        help="Comma-separated aspects: order, attribute, referring, grounding.")
    ] = "order,attribute,referring,grounding",
    forms: Annotated[str, typer.Option(
        help="Comma-separated answer forms, drawn per item: mc (option letter), open "
        "(sentence).")] = "mc,open",
    per_aspect: Annotated[int, typer.Option(
        min=1, help="Items drawn per video and aspect (count).")] = 2,
    num: Annotated[int | None, typer.Option(
        min=1, help="Most items in all (count), balanced over aspects.")] = None,
    max_frames: Annotated[int, typer.Option(
        min=2, help="Most frames per text video (count).")] = 16,
    min_interval: Annotated[float, typer.Option(
        min=0.001, help="Least time between two sampled frames of a timed video, in "
        "seconds.")] = 1.0,
    min_scenes: Annotated[int, typer.Option(
        min=2, help="Captions only: fewest captions per pseudo-video (count).")] = 3,
    max_scenes: Annotated[int, typer.Option(
        min=2, help="Captions only: most captions per pseudo-video (count).")] = 6,
    tokenizer: Annotated[Path | None, typer.Option(
        help="Local tokenizer.json or transformers tokenizer folder for token counts; "
        "whitespace words when left out.")] = None,
    max_tokens: Annotated[int | None, typer.Option(
        min=1, help="Drop items whose prompt plus answer has more tokens than this "
        "(tokens of --tokenizer).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    durations: Annotated[Path | None, typer.Option(
        help="CSV with id,length columns (Charades' own Charades_v1_*.csv): the real "
        "length in seconds of videos whose annotation gives none (Charades-STA). Without "
        "it such videos are sampled up to their last annotated end, and prompts say so."
        )] = None,
    gate: Annotated[str, typer.Option(
        help="Blind-audit gate on the multiple-choice items: drop (drop the orbits a "
        "failing baseline solves until every task passes), fail (stop when a task "
        "fails), off.")] = "drop",
    gate_baselines: Annotated[str | None, typer.Option(
        help="Comma-separated audit baselines for the gate (default: all).")] = None,
    gate_min_items: Annotated[int, typer.Option(
        min=1, help="Fewest multiple-choice items of a task for the gate to apply "
        "(count).")] = 100,
) -> None:
    """Synthesize T3 items from timed events or independent captions, audit them and
    write them, with <out>.failures.jsonl (every event trimmed or dropped, every video
    skipped) and <out>.summary.json (counts and the audit) beside the output."""
    from nextevent.records import Failure
    from nextevent.rundir import failures_beside, summary_beside
    from nextevent.t3.frames import compose_pseudo_videos, read_captions
    from nextevent.t3.gate import GATE_MODES
    from nextevent.t3.gate import gate as run_gate
    from nextevent.t3.items import ASPECTS, FORMS
    from nextevent.t3.summary import write_failures, write_summary
    from nextevent.t3.synth import (
        SynthConfig,
        finish,
        synthesize,
        timelines_from_records,
        write_items,
    )
    from nextevent.t3.tokens import load_counter

    aspect_list = _split(aspects, "--aspects", ASPECTS)
    form_list = _split(forms, "--forms", FORMS)
    if min_scenes > max_scenes:
        raise typer.BadParameter("--min-scenes must not exceed --max-scenes")
    if gate not in GATE_MODES:
        raise typer.BadParameter(f"--gate: choose from {', '.join(GATE_MODES)}, not {gate!r}")
    refuse_input_as_out(out, [source, durations, tokenizer],
                        also=[failures_beside(out), summary_beside(out)])
    failures: list[Failure] = []
    counts: dict[str, dict[str, int]] = {}
    try:
        counter = load_counter(tokenizer) if (tokenizer or max_tokens) else None
        skipped: dict[str, int] = {}
        if durations is not None and (source.is_dir() or (format or "").strip().lower()
                                      == "captions"):
            raise typer.BadParameter("--durations applies to annotation files only")
        if source.is_dir():
            from nextevent.rundir import RunDir
            from nextevent.store import read_records

            records_path = RunDir(source).records
            if not records_path.is_file():
                raise NextEventError("t3", f"{source} is a folder without records.jsonl",
                                     "pass a run directory written by `nextevent build`, or "
                                     "an annotation file with --format")
            timelines, skip = timelines_from_records(
                read_records(records_path, stage="t3", hint="pass a run directory written "
                             "by `nextevent build`"), max_frames=max_frames,
                min_interval_s=min_interval, failures=failures)
            skipped = dict(skip)
        elif (format or "").strip().lower() == "captions":
            timelines = compose_pseudo_videos(
                read_captions(source), max_frames=max_frames, min_scenes=min_scenes,
                max_scenes=max_scenes, seed=seed, source=f"captions:{source.stem}")
        else:
            from nextevent.sources import guess_format

            fmt = format or guess_format(source)
            if fmt is None:
                raise NextEventError("t3", f"cannot tell the format of {source}",
                                     f"pass --format ({SOURCE_FORMATS})")
            from nextevent.t3.inputs import timelines_from_file

            loaded = timelines_from_file(source, fmt, durations=durations,
                                         max_frames=max_frames, min_interval_s=min_interval)
            timelines, skipped = loaded.timelines, loaded.skipped
            failures.extend(loaded.failures)
            counts.update(loaded.counts)
        config = SynthConfig(aspects=aspect_list, per_aspect=per_aspect, forms=form_list,
                             seed=seed, num=num, max_tokens=max_tokens, counter=counter)
    except NextEventError as err:
        _fail(err)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    result = synthesize(timelines, config)
    names = ([n.strip() for n in gate_baselines.split(",") if n.strip()]
             if gate_baselines else None)
    try:
        kept, gated = run_gate(result.items, mode=gate, min_items=gate_min_items,
                               baselines=names, seed=seed)
    except NextEventError as err:
        _fail(err, 1)  # the command ran; its items fail the gate
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    by_orbit: dict[str, list] = {}
    for item in kept:
        by_orbit.setdefault(str(item.meta.get("orbit", item.id)), []).append(item)
    finish(result, list(by_orbit.values()))
    result.gate = gated
    # no items: keep what an earlier synth wrote to --out; the table below says why
    written = write_items(result.items, out) if result.items else 0
    failures_path = failures_beside(out)
    write_failures(failures, failures_path)
    summary_path = summary_beside(out)
    if written:  # the summary describes --out: with nothing written, an earlier one stays
        write_summary(summary_path, out, result, skipped, counts, failures_path,
                      len(failures))

    table = Table(title=f"nextevent t3 synth -> {out}", show_header=False)
    table.add_row("videos (timelines) used", str(result.timelines))
    for reason, n in sorted(skipped.items()):
        table.add_row(f"videos skipped: {reason}", str(n))
    if "import" in counts:
        imp = counts["import"]
        table.add_row("import: events dropped / trimmed / clipped / repeats",
                      f"{imp.get('events_in', 0) - imp.get('events', 0)} / "
                      f"{imp.get('overlaps_trimmed', 0)} / {imp.get('clipped', 0)} / "
                      f"{imp.get('duplicates', 0)}")
    if "durations" in counts:
        d = counts["durations"]
        table.add_row("durations: videos with / without a length",
                      f"{d['videos_with_length']} / {d['videos_without_length']}")
    table.add_row("event pairs never asked together: raw IoU >= 0.5 / near-duplicate",
                  f"{result.pairs_blocked.get('raw_iou', 0)} / "
                  f"{result.pairs_blocked.get('near_duplicate', 0)}")
    for aspect in aspect_list:
        table.add_row(f"items: {aspect}", str(result.by_aspect.get(aspect, 0)))
    for task, n in result.by_task.items():
        table.add_row(f"  task {task}", str(n))
    table.add_row("forms", ", ".join(f"{k} {v}" for k, v in sorted(result.by_form.items())))
    table.add_row("dropped: duplicates / too long / over --num",
                  f"{result.duplicates} / {result.too_long} / {result.not_selected}")
    for aspect, n in sorted(result.no_question.items()):
        table.add_row(f"videos with no {aspect} question", str(n))
    if gated.mode != "off":
        table.add_row("gate: audits / items dropped",
                      f"{gated.rounds} / {sum(gated.dropped.values())}")
        for task, best in gated.last.items():
            table.add_row(f"  audit {task}", f"best {best['baseline']} "
                          f"{100 * best['accuracy']:.1f}% (chance {100 * best['chance']:.1f}%, "
                          f"n {best['n']})")
    table.add_row("items written", str(written))
    table.add_row("failures (events, videos)", f"{len(failures)} -> {failures_path}")
    table.add_row("summary", str(summary_path))
    console.print(table)
    if not written:
        console.print(f"[red]no T3 items[/red]: nothing written to {out} (the table above "
                      "says what was skipped and dropped; give videos with several timed "
                      f"events, or see {failures_path})", soft_wrap=True)
        raise typer.Exit(1)


@app.command()
def stats(
    t3_file: Annotated[Path, typer.Argument(help="T3 JSON Lines file from `t3 synth`.")],
    out: Annotated[Path, typer.Option(
        help="Folder for prompt_tokens.png, answer_tokens.png, token_stats.json.")],
    tokenizer: Annotated[Path | None, typer.Option(
        help="Local tokenizer.json or transformers tokenizer folder; whitespace words when "
        "left out.")] = None,
    bins: Annotated[int, typer.Option(min=1, help="Histogram bins (count).")] = 40,
) -> None:
    """Token-length histograms (PNG) and statistics of prompts and answers, per aspect."""
    from nextevent.t3.stats import write_stats
    from nextevent.t3.synth import read_items
    from nextevent.t3.tokens import load_counter

    if not t3_file.is_file():
        _fail(NextEventError("t3", f"T3 file {t3_file} does not exist",
                             "write it with `nextevent t3 synth --out ...`"))
    try:
        counter = load_counter(tokenizer)
        items = list(read_items(t3_file))
        result = write_stats(items, out, counter, bins=bins)
    except NextEventError as err:
        _fail(err)
    except ValueError as err:
        _fail(NextEventError("t3", str(err), "pass a file written by `nextevent t3 synth`"))
    table = Table(title=f"token lengths ({counter.short_name})")
    for col in ("part", "aspect", "n", "median", "p95", "max"):
        table.add_column(col)
    for part in ("prompt", "answer"):
        for aspect, s in result.stats[part].items():
            table.add_row(part, aspect, str(s["n"]), str(s["median"]), str(s["p95"]),
                          str(s["max"]))
    console.print(table)
    for path in result.files:
        console.print(f"  {path}")


@app.command()
def mix(
    t3: Annotated[Path, typer.Option(help="T3 JSON Lines file from `t3 synth`.")],
    general: Annotated[Path, typer.Option(
        help="General instruction data: JSON list or JSON Lines, LLaVA or sharegpt.")],
    out: Annotated[Path, typer.Option(
        help="Output LLaMA-Factory sharegpt JSON file; dataset_info.json is updated beside "
        "it.")],
    ratio: Annotated[float | None, typer.Option(
        help="T3 share of the output, a fraction in (0, 1).")] = None,
    t3_count: Annotated[int | None, typer.Option(
        min=0, help="T3 samples to take (count), instead of --ratio.")] = None,
    general_count: Annotated[int | None, typer.Option(
        min=0, help="General samples to take (count), instead of --ratio.")] = None,
    general_format: Annotated[str, typer.Option(
        help="auto | llava | sharegpt.")] = "auto",
    dataset_name: Annotated[str | None, typer.Option(
        help="Name in dataset_info.json; the --out file stem when left out.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the draw and the shuffle.")] = 0,
) -> None:
    """Mix T3 items with general instruction data into a LLaMA-Factory dataset."""
    from nextevent.t3.mix import DATASET_INFO, mix_files

    refuse_input_as_out(out, [t3, general], also=[out.parent / DATASET_INFO])
    try:
        result = mix_files(t3, general, out, ratio=ratio, t3_count=t3_count,
                           general_count=general_count, seed=seed,
                           general_format=general_format, dataset_name=dataset_name)
    except NextEventError as err:
        _fail(err)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    share = result.t3 / result.count if result.count else 0.0
    console.print(f"wrote {result.count} samples ({result.t3} T3, {result.general} general, "
                  f"T3 share {share:.3f}) as dataset {result.dataset_name!r}")
    console.print(f"  media columns: {', '.join(result.media) or 'none (text only)'}")
    for path in result.files:
        console.print(f"  {path}")
    console.print(f"  LLaMA-Factory: dataset_dir: {out.parent.resolve()}, dataset: "
                  f"{result.dataset_name} (set media_dir if media paths are relative)")
    for reason in result.skipped[:20]:
        console.print(f"[yellow]skipped[/yellow] {reason}")
    if len(result.skipped) > 20:
        console.print(f"[yellow]... and {len(result.skipped) - 20} more skipped[/yellow]")


app.command("audit")(__import__("nextevent.audit.cli", fromlist=["*"]).t3_audit)
