"""``nextevent bench export`` and ``export-lmms-eval``: the benchmark as the official V1
FutureBench task's data layout (`nextevent.bench.export_futurebench`) or as our lmms-eval
tasks (`nextevent.bench.export_lmms`). Registered on `nextevent.bench.cli.app`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from nextevent.cli_errors import console as printer
from nextevent.cli_errors import fail as _fail
from nextevent.records import NextEventError


def _export_lmms_eval(bench: Path, out_dir: Path) -> None:
    from nextevent.bench.build import read_items
    from nextevent.bench.export_lmms import TASK_NAMES, export_lmms_eval

    try:
        path = export_lmms_eval(read_items(bench), out_dir)
    except NextEventError as err:
        _fail(err)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    printer.print(f"wrote {path.parent}: {', '.join(f'{n}.yaml' for n in TASK_NAMES.values())}"
                  ", utils.py, the template and the data")
    printer.print("tasks: " + "; ".join(f"{n} ({mode}{', text only' if text else ''})"
                                        for (mode, text), n in TASK_NAMES.items()))
    printer.print(f"run: lmms_eval --include_path {out_dir} --tasks "
                  f"{','.join(TASK_NAMES.values())} ...")


def _export_futurebench(bench: Path, root: Path) -> None:
    from nextevent.bench.build import read_items
    from nextevent.bench.export_futurebench import (
        OFFICIAL_TYPES,
        export_futurebench,
        gen_dataset_command,
        official_yaml_settings,
    )

    try:
        done = export_futurebench(read_items(bench), root)
    except NextEventError as err:
        _fail(err)
    hops = {t: n for t, n in done.by_type.items() if t in OFFICIAL_TYPES}
    if done.hop_file is not None:
        printer.print(f"wrote {done.hop_file}: {sum(hops.values())} hop items "
                      f"({', '.join(f'{t} {n}' for t, n in hops.items())})")
    else:
        printer.print("no hop items with a clip: no futurebench.json (the official task "
                      "runs only hop1/hop2/hop3/hop5)")
    if done.interp_file is not None:
        printer.print(f"wrote {done.interp_file}: {done.by_type.get('interp', 0)} interp "
                      "items (the official aggregation knows hop1/2/3/5 only: score them "
                      "with `bench export --layout lmms-eval` or `bench eval`)")
    if done.text_level_file is not None:
        printer.print(f"wrote {done.text_level_file}: {done.text_level} text-level items "
                      "without a clip, which the official task cannot show (evaluate them "
                      "with --layout lmms-eval's futurebench_local_text_only or "
                      "`bench eval --text-only`)")
    printer.print(f"wrote {done.clip_dir}{os.sep}: {done.clips} clips ({done.linked} "
                  f"hard-linked, {done.copied} copied, "
                  f"{done.clips - done.linked - done.copied} already there)")
    for path in done.datasets:
        printer.print(f"wrote {path}: the saved dataset (load_from_disk)")
    if done.hop_file is not None and not done.datasets:
        printer.print("datasets is not installed here: in the lmms-eval environment, save "
                      "the dataset as V1's gen_dataset.py does:\n  "
                      + gen_dataset_command(done.hop_file, done.root / "futurebench"))
    if done.hop_file is not None:
        settings = official_yaml_settings(done)
        printer.print("then set in third_party/lmms-eval/lmms_eval/tasks/futurebench/"
                      "futurebench.yaml:\n"
                      f"  dataset_path: {settings['dataset_path']}\n"
                      f"  cache_dir: {settings['cache_dir']}   (under dataset_kwargs)\n"
                      "and run: lmms_eval --tasks futurebench ... "
                      "(third_party/lmms-eval/examples/eval_futurebench.sh)")


LAYOUTS = ("futurebench", "lmms-eval")


def export_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write (ROOT).")],
    bench: Annotated[Path, typer.Option(help="Benchmark JSONL (from `bench build`).")],
    layout: Annotated[str, typer.Option(help="futurebench: the official V1 lmms-eval "
                                        "task's layout (ROOT/video_dataset/ clips, "
                                        "futurebench.json hop items, futurebench_interp.json"
                                        "); lmms-eval: our lmms-eval task folder "
                                        "(futurebench_local tasks).")],
) -> None:
    """Export the benchmark for an lmms-eval run: the official FutureBench layout or our
    lmms-eval tasks."""
    if layout not in LAYOUTS:
        raise typer.BadParameter(f"--layout must be one of {', '.join(LAYOUTS)}, "
                                 f"got {layout!r}")
    if layout == "futurebench":
        _export_futurebench(bench, out_dir)
    else:
        _export_lmms_eval(bench, out_dir)


def export_lmms_eval_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Task folder to write (YAMLs, utils.py, "
                                            "data).")],
    bench: Annotated[Path, typer.Option(help="Benchmark JSONL (from `bench build`).")],
) -> None:
    """Write local lmms-eval tasks (= bench export --layout lmms-eval): lmms_eval
    --include_path DIR --tasks futurebench_local[,_reasoning,_text_only,...]."""
    _export_lmms_eval(bench, out_dir)
