"""Build a report folder: ``index.html``, ``plots/*.png`` and ``sheets/*.png``.

The page links the run's clips by relative paths, so keep the report and the run
directory where they are (or move them together).
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nextevent.records import BenchItem, NEPRecord, NextEventError
from nextevent.report import plots as P
from nextevent.report.contact_sheet import write_contact_sheet
from nextevent.report.html import AuditTable, SheetEntry, render_page
from nextevent.report.summary import (
    EvalSummary,
    RunData,
    load_bench,
    load_eval,
    load_run,
    load_t3,
)
from nextevent.store import safe_name

if TYPE_CHECKING:
    from nextevent.t3.items import T3Item

PLOT_DIR = "plots"
SHEET_DIR = "sheets"


@dataclass
class ReportResult:
    """What `build_report` wrote.

    Attributes:
        html: the page (``OUT/index.html``).
        plots: the plot files written.
        sheets: the contact sheets written.
        sheet_errors: ``record id -> error and hint`` for sampled records whose sheet
            could not be drawn (shown on the page too).
        records: records in the run.
    """

    html: Path
    plots: list[Path] = field(default_factory=list)
    sheets: list[Path] = field(default_factory=list)
    sheet_errors: dict[str, str] = field(default_factory=dict)
    records: int = 0


def sample_records(records: list[NEPRecord], k: int, seed: int) -> list[NEPRecord]:
    """Up to ``k`` records with cut clips, drawn with ``seed``, in run order."""
    with_clips = [r for r in records if r.past is not None and r.future is not None]
    if len(with_clips) <= k:
        return with_clips
    chosen = set(random.Random(seed).sample(range(len(with_clips)), k))
    return [r for i, r in enumerate(with_clips) if i in chosen]


def _make_plots(run: RunData, bench: list[BenchItem] | None, eval_summary: EvalSummary | None,
                plot_dir: Path) -> dict[str, list[P.Plot]]:
    records = run.records
    distributions = [
        P.plot_video_durations(records, plot_dir),
        P.plot_split_position(records, plot_dir),
        P.plot_segment_durations(records, plot_dir),
        P.plot_events_per_side(records, plot_dir),
        P.plot_caption_lengths(records, plot_dir),
        P.plot_pass_rates(records, plot_dir),
    ]
    if bench:
        distributions += [P.plot_hop_counts(bench, plot_dir),
                          P.plot_answer_letters(bench, plot_dir)]
    return {
        "distributions": [p for p in distributions if p is not None],
        "usage": [p for p in [P.plot_usage(run.usage or {}, plot_dir)] if p is not None],
        "eval": [P.plot_eval(eval_summary, plot_dir)] if eval_summary else [],
    }


def audit_tables(bench: list[BenchItem] | None, bench_name: str, t3: list[T3Item] | None,
                 t3_name: str, baselines: Sequence[str] | None = None) -> list[AuditTable]:
    """Blind audits (`nextevent.audit.audit`, default gate) of the benchmark and of the
    T3 file's multiple-choice items, when given; ``baselines`` None runs every one.

    Raises:
        NextEventError: stage ``report`` when the MiniLM model cannot be loaded.
    """
    from nextevent.audit import TextVectors, audit, from_bench, from_t3

    vectors = TextVectors()  # one cache for both files
    out = []
    try:
        if bench is not None:
            out.append(AuditTable(f"FutureBench {bench_name}", audit(
                from_bench(bench), baselines=baselines, vectors=vectors).to_json()))
        if t3 is not None:
            items = from_t3(t3)
            title = f"Video-T3 {t3_name} ({len(items)} multiple-choice items)"
            out.append(AuditTable(title, audit(items, baselines=baselines,
                                               vectors=vectors).to_json()))
    except (ModuleNotFoundError, FileNotFoundError) as err:
        raise NextEventError("report", f"the blind audit needs MiniLM: {err}",
                             "pip install 'nextevent[rewards]'") from err
    return out


def build_report(run_dir: Path, out_dir: Path, *, bench_path: Path | None = None,
                 eval_path: Path | None = None, t3_path: Path | None = None,
                 samples: int = 6, seed: int = 0, frames_per_side: int = 4,
                 audit_baselines: Sequence[str] | None = None) -> ReportResult:
    """Write the HTML report of a run directory into ``out_dir``.

    Args:
        run_dir: a run directory (``records.jsonl``, optional ``failures.jsonl``,
            ``state.sqlite``, ``usage.jsonl``, ``clips/``).
        out_dir: folder for ``index.html``, ``plots/`` and ``sheets/`` (created).
        bench_path: a FutureBench JSONL, for hop counts, answer-letter balance and the
            blind audit.
        eval_path: an eval summary JSON (see `nextevent.report.summary`).
        t3_path: a Video-T3 JSONL (`nextevent t3 synth`), for the blind audit of its
            multiple-choice items.
        samples: records with clips to draw contact sheets for.
        seed: seed of the choice of those records.
        frames_per_side: frames per contact sheet from each of the past and the future.
        audit_baselines: blind baselines of the audit (`nextevent.audit.BASELINES`
            names); None runs every one.

    Returns:
        The files written and the sheets that could not be drawn.

    Raises:
        NextEventError: stage ``report`` when the run directory, the benchmark, the T3
            file or the eval summary cannot be read, ``out_dir`` is a file, or matplotlib,
            Pillow or (for an audit) MiniLM is not installed.
    """
    for module in ("matplotlib", "PIL"):
        if importlib.util.find_spec(module) is None:
            raise NextEventError("report", f"the report needs {module}, which is not installed",
                                 "pip install 'nextevent[report]'")
    out_dir = out_dir.resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise NextEventError("report", f"--out {out_dir} is a file", "pass a folder")
    run = load_run(run_dir)
    bench = load_bench(bench_path) if bench_path is not None else None
    eval_summary = load_eval(eval_path) if eval_path is not None else None
    t3 = load_t3(t3_path) if t3_path is not None else None
    audits = audit_tables(bench, bench_path.name if bench_path else "", t3,
                          t3_path.name if t3_path else "", audit_baselines)
    out_dir.mkdir(parents=True, exist_ok=True)

    plots = _make_plots(run, bench, eval_summary, out_dir / PLOT_DIR)
    result = ReportResult(html=out_dir / "index.html", records=len(run.records))
    result.plots = [out_dir / PLOT_DIR / p.file for ps in plots.values() for p in ps]

    entries: list[SheetEntry] = []
    chosen = sample_records(run.records, samples, seed)
    for record in chosen:
        name = f"{SHEET_DIR}/{safe_name(record.id)}.png"
        try:
            sheet = write_contact_sheet(record, run.run_dir, out_dir / name,
                                        frames_per_side=frames_per_side, posters=True)
        except NextEventError as err:
            message = f"{err} (hint: {err.hint})"
            result.sheet_errors[record.id] = message
            entries.append(SheetEntry(record, None, message))
            continue
        result.sheets.append(sheet.path)
        entries.append(SheetEntry(record, name, posters={
            side: f"{SHEET_DIR}/{path.name}" for side, path in sheet.posters.items()}))
    total = sum(1 for r in run.records if r.past is not None and r.future is not None)
    page = render_page(run, out_dir, plots=plots, plot_dir=PLOT_DIR, sheets=entries,
                       sheet_total=total, bench=bench, eval_summary=eval_summary,
                       audits=audits)
    result.html.write_text(page, encoding="utf-8")
    return result
