"""``nextevent bench audit`` and ``nextevent t3 audit``: the blind audit of a benchmark
file, as a table, a JSON file and an exit status (0 passed, 1 the gate failed, 2 bad
input). Registered by `nextevent.bench.cli` and `nextevent.t3.cli`; heavy imports stay
inside the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from nextevent.cli_errors import console, refuse_input_as_out, styled
from nextevent.cli_errors import fail as _fail
from nextevent.records import NextEventError

OutOpt = Annotated[Optional[Path], typer.Option(  # noqa: UP045 (typer)
    help="Audit JSON to write (default: next to the input, <name>.audit.json).")]
BaseUrlOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    help="OpenAI-compatible endpoint of a text-only model baseline (none: no model).")]
ModelOpt = Annotated[str, typer.Option(help="Model name for --base-url.")]
TrialsOpt = Annotated[int, typer.Option(min=1, help="Shuffled model trials per item "
                                        "(count; majority letter).")]
MinItemsOpt = Annotated[int, typer.Option(min=1, help="Fewest items in a group for the gate "
                                          "to apply (count).")]
BaselinesOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    help="Comma-separated baseline names (default: all).")]
SeedOpt = Annotated[int, typer.Option(help="Seed of tie breaks and option shuffles.")]
ConcurrencyOpt = Annotated[int, typer.Option(min=1, help="Model requests in flight "
                                             "(count).")]


def print_table(data: dict[str, Any], title: str, out: Console = console) -> None:
    """Print the per-group audit table of ``AuditReport.to_json()`` output."""
    from nextevent.audit.report import group_summary

    table = Table(title=Text(title))
    for col in ("group", "n", "chance %", "best baselines (acc %, 95% CI)", "failing",
                "verdict"):
        table.add_column(col)
    for g in group_summary(data):
        best = "; ".join(f"{r['baseline']} {100 * r['accuracy']:.1f} "
                         f"[{100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f}]"
                         for r in g["top"])
        failing = ", ".join(f"{r['baseline']} {100 * r['accuracy']:.1f}"
                            for r in g["failing"]) or "-"
        verdict = ((Text("FAIL", "red") if g["failing"] else Text("pass")) if g["gated"]
                   else Text(f"not gated (< {data['min_items']})"))
        table.add_row(Text(g["group"]), str(g["n"]), f"{100 * g['chance']:.1f}", Text(best),
                      Text(failing), verdict)
    out.print(table)


def _run(items: list[Any], source: Path, kind: str, out: Path | None, base_url: str | None,
         model: str, trials: int, min_items: int, baselines: str | None, seed: int,
         concurrency: int) -> None:
    from nextevent.audit import audit
    from nextevent.audit.model import ModelBaseline
    from nextevent.rundir import audit_report_beside, call_cache_beside

    if not items:
        _fail(NextEventError(kind, f"{source} has no multiple-choice items to audit",
                             "build the file with `nextevent bench build` or "
                             "`nextevent t3 synth --forms mc`"))
    out = out or audit_report_beside(source)
    refuse_input_as_out(out, [source], also=[call_cache_beside(out)] if base_url else [])
    names = [n.strip() for n in baselines.split(",") if n.strip()] if baselines else None
    baseline = None
    if base_url:
        if not model:
            raise typer.BadParameter("--base-url needs --model")
        baseline = ModelBaseline.from_server(
            base_url, model, concurrency=concurrency, trials=trials,
            cache_path=call_cache_beside(out))
    try:
        report = audit(items, baselines=names, model=baseline, min_items=min_items, seed=seed)
    except NextEventError as err:
        _fail(err)
    except ValueError as err:
        _fail(NextEventError(kind, str(err), "see `--help` for the baselines and inputs"))
    data = {"input": str(source), "kind": kind, **report.to_json()}
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2), encoding="utf-8")
    except OSError as err:
        _fail(NextEventError(kind, f"cannot write {out}: {err.strerror}",
                             "pass a writable --out path"))
    print_table(data, f"blind audit of {source.name} ({len(items)} items)")
    failing = report.failing()
    if failing:
        console.print(styled(("gate failed", "red"), f": {len(failing)} (baseline, group) "
                             f"rows above chance + margin; table in {out}"))
        raise typer.Exit(1)
    console.print(f"gate passed; table in {out}")


def bench_audit(
    bench: Annotated[Path, typer.Argument(help="Benchmark JSONL (from `bench build`).")],
    out: OutOpt = None, base_url: BaseUrlOpt = None, model: ModelOpt = "",
    trials: TrialsOpt = 1, min_items: MinItemsOpt = 100, baselines: BaselinesOpt = None,
    seed: SeedOpt = 0, concurrency: ConcurrencyOpt = 4,
) -> None:
    """Blind audit of FutureBench items: option-only, question-only and past-text
    baselines (and a text-only model) per question type; exit 1 when the gate fails."""
    from nextevent.audit import from_bench
    from nextevent.bench.build import read_items

    try:
        items = from_bench(read_items(bench))
    except NextEventError as err:
        _fail(err)
    except ValueError as err:  # e.g. a file that is not UTF-8 text
        _fail(NextEventError("bench", f"cannot read {bench}: {err}",
                             "pass a file written by `nextevent bench build`"))
    _run(items, bench, "bench", out, base_url, model, trials, min_items, baselines, seed,
         concurrency)


def t3_audit(
    t3_file: Annotated[Path, typer.Argument(help="T3 JSON Lines file (from `t3 synth`); "
                                            "its multiple-choice items are audited.")],
    out: OutOpt = None, base_url: BaseUrlOpt = None, model: ModelOpt = "",
    trials: TrialsOpt = 1, min_items: MinItemsOpt = 100, baselines: BaselinesOpt = None,
    seed: SeedOpt = 0, concurrency: ConcurrencyOpt = 4,
) -> None:
    """Blind audit of the multiple-choice T3 items per task; exit 1 when the gate
    fails."""
    from nextevent.audit import from_t3
    from nextevent.t3.synth import read_items

    if not t3_file.is_file():
        _fail(NextEventError("t3", f"T3 file {t3_file} does not exist",
                             "write it with `nextevent t3 synth --out ...`"))
    try:
        items = from_t3(list(read_items(t3_file)))
    except ValueError as err:
        _fail(NextEventError("t3", str(err), "pass a file written by `nextevent t3 synth`"))
    _run(items, t3_file, "t3", out, base_url, model, trials, min_items, baselines, seed,
         concurrency)
