"""Render the report page: one static HTML file, inline CSS, no script, no network.

Every link is relative (plots and contact sheets beside the page, clips in the run
directory), so the page opens from disk and works offline. Sections, by ``id``:
``summary``, ``counts``, ``failures``, ``distributions``, ``usage``, ``eval``, ``audit``,
``contact-sheets``.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from urllib.parse import quote

from nextevent import __version__
from nextevent.audit.report import group_summary
from nextevent.records import BenchItem, Event, NEPRecord
from nextevent.report.plots import Plot
from nextevent.report.summary import EvalSummary, RunData, group_failures

SECTIONS = (
    ("counts", "Counts"),
    ("failures", "Failures"),
    ("distributions", "Distributions"),
    ("usage", "Model usage"),
    ("eval", "Evaluation"),
    ("audit", "Blind audit"),
    ("contact-sheets", "Contact sheets"),
)
"""Section ids and headings, in page order (after the ``summary`` header)."""

EXAMPLES_PER_GROUP = 3

CSS = """
:root { --past: #3465a4; --future: #e07b39; --cut: #d62728; --ink: #212529;
  --muted: #6c757d; --line: #e3e6ea; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
header { background: #1f2933; color: #fff; padding: 22px 32px 18px; }
header h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header .meta { color: #b8c2cc; font-size: 12.5px; }
header code { color: #e4e7eb; }
nav { background: #fff; border-bottom: 1px solid var(--line); padding: 8px 32px;
  position: sticky; top: 0; z-index: 2; }
nav a { color: var(--past); text-decoration: none; margin-right: 18px; font-weight: 500; }
main { max-width: 1320px; margin: 0 auto; padding: 8px 32px 48px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 16px 20px 18px; margin: 18px 0; }
section h2 { margin: 0 0 12px; font-size: 18px; }
h3 { font-size: 15px; margin: 14px 0 8px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 14px; }
.card { background: rgba(255,255,255,.08); border-radius: 6px; padding: 8px 14px;
  min-width: 120px; }
.card .v { font-size: 20px; font-weight: 600; }
.card .k { font-size: 11.5px; color: #b8c2cc; text-transform: uppercase; letter-spacing: .04em; }
.row { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 8px; }
th, td { text-align: left; padding: 5px 12px 5px 0; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr));
  gap: 14px; }
figure { margin: 0; }
.grid img, .plot img { width: 100%; height: auto; border: 1px solid var(--line);
  border-radius: 4px; background: #fff; }
.plot { max-width: 560px; }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 4px; }
.note { color: var(--muted); font-style: italic; }
.warn { background: #fff4e5; border-left: 4px solid var(--future); padding: 8px 12px;
  margin: 8px 0; }
.reason { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
.examples { margin: 4px 0 0; padding-left: 18px; color: var(--muted); font-size: 12.5px; }
.sheet { border-top: 1px solid var(--line); padding-top: 12px; margin-top: 14px; }
.sheet:first-of-type { border-top: 0; margin-top: 0; padding-top: 0; }
.sheet img.strip { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
.players { display: flex; gap: 16px; margin-top: 10px; flex-wrap: wrap;
  align-items: flex-start; }
.players figure { flex: 0 1 320px; }
.players video { width: 100%; height: auto; background: #000; border-radius: 4px;
  display: block; }
.players figcaption { word-break: break-all; }
.events { flex: 1 1 300px; }
.events details { margin-top: 0; }
.tag { display: inline-block; border-radius: 3px; padding: 0 6px; color: #fff;
  font-size: 11.5px; font-weight: 600; }
.tag.past { background: var(--past); } .tag.future { background: var(--future); }
details { margin-top: 6px; font-size: 13px; }
details ol { margin: 4px 0; }
details .cut { color: var(--cut); font-weight: 600; font-size: 12px; margin: 2px 0 2px 8px;
  border-top: 2px solid var(--cut); padding-top: 2px; width: 60%; }
.fail { color: var(--cut); font-weight: 600; } .pass { color: #2b8a3e; font-weight: 600; }
ol.past li::marker { color: var(--past); } ol.future li::marker { color: var(--future); }
"""


@dataclass
class SheetEntry:
    """A sampled record on the page: its contact sheet, or why there is none.

    Attributes:
        record: the record.
        image: the sheet's PNG path, relative to the page; None when drawing failed.
        error: the error and hint when drawing failed.
        posters: ``side -> poster JPEG`` relative to the page, for the players.
    """

    record: NEPRecord
    image: str | None
    error: str | None = None
    posters: dict[str, str] = field(default_factory=dict)


def _url(path: Path | str, start: Path) -> str:
    """A relative, percent-encoded URL from the folder ``start`` to ``path``."""
    return quote(Path(os.path.relpath(Path(path), start)).as_posix())


def _table(headers: list[str], rows: list[list[object]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f'<th class="n">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
                   for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{escape(str(c))}</td>' if i in numeric
                         else f"<td>{escape(str(c))}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(plot: Plot, plot_dir: str) -> str:
    return (f'<figure><img src="{quote(plot_dir)}/{quote(plot.file)}" '
            f'alt="{escape(plot.title)}"><figcaption><b>{escape(plot.title)}.</b> '
            f"{escape(plot.caption)}</figcaption></figure>")


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{escape(title)}</h2>{body}</section>'


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.1f} s"


def render_summary(run: RunData, bench: list[BenchItem] | None,
                   eval_summary: EvalSummary | None,
                   audits: list[AuditTable] | None = None) -> str:
    """The page header: run path, time, and headline numbers as cards."""
    records = run.records
    past_s = sum(r.past.duration_s for r in records if r.past)
    future_s = sum(r.future.duration_s for r in records if r.future)
    cards = [("records", str(len(records))),
             ("videos", str(len({(r.source, r.video_id) for r in records}))),
             ("sources", str(len({r.source for r in records}))),
             ("open failures", str(len(run.open_failures))),
             ("past segments", _hours(past_s)),
             ("future segments", _hours(future_s))]
    if bench is not None:
        cards.append(("bench items", str(len(bench))))
    if eval_summary is not None:
        cards.append(("accuracy", f"{100 * eval_summary.overall.accuracy:.1f}%"))
    if audits:
        cards.append(("blind audit", "passed" if all(a.data["passed"] for a in audits)
                      else "FAILED"))
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    card_html = "".join(f'<div class="card"><div class="v">{escape(v)}</div>'
                        f'<div class="k">{escape(k)}</div></div>' for k, v in cards)
    return (f'<header id="summary"><h1>nextevent report</h1><div class="meta">run '
            f"<code>{escape(run.label or str(run.run_dir))}</code> · generated {now} · nextevent "
            f'{__version__}</div><div class="cards">{card_html}</div></header>')


def render_counts(run: RunData) -> str:
    """Records by source; work items by status and stage; failures by stage."""
    by_source: dict[str, list[NEPRecord]] = defaultdict(list)
    for record in run.records:
        by_source[record.source].append(record)
    rows = [[source, len({r.video_id for r in rs}), len(rs),
             sum(1 for r in rs if r.past is not None),
             f"{sum(r.past.duration_s for r in rs if r.past):.1f}",
             f"{sum(r.future.duration_s for r in rs if r.future):.1f}"]
            for source, rs in sorted(by_source.items())]
    parts = ["<div class=\"row\"><div><h3>Records by source</h3>"]
    parts.append(_table(["source", "videos", "records", "with clips", "past (s)", "future (s)"],
                        rows, {1, 2, 3, 4, 5}) if rows else '<p class="note">No records.</p>')
    parts.append("</div><div><h3>Work items by status and stage</h3>")
    if run.states:
        state_rows = [[status, stage or "-", n]
                      for (status, stage), n in sorted(run.states.items())]
        parts.append(_table(["status", "stage", "items"], state_rows, {2}))
    else:
        parts.append('<p class="note">No state.sqlite in the run directory.</p>')
    parts.append("</div><div><h3>Failures by stage</h3>")
    stages = Counter(f.stage for f in run.failures)
    parts.append(_table(["stage", "failures"], [[s, n] for s, n in stages.most_common()], {1})
                 if stages else '<p class="note">No failures.</p>')
    parts.append("</div></div>")
    return _section("counts", "Counts", "".join(parts))


def render_failures(run: RunData) -> str:
    """Open failures grouped by stage and reason, with a few example inputs each; those
    a later run resolved (their input finished since) are counted apart below."""
    groups = group_failures(run.open_failures)
    resolved = len(run.failures) - len(run.open_failures)
    note = (f'<p class="note">{resolved} more failure(s) in failures.jsonl were resolved '
            "by a later run (their video or record finished since).</p>" if resolved else "")
    if not groups:
        return _section("failures", "Failures",
                        '<p class="note">No open failures: every input became records.</p>'
                        + note)
    rows = []
    for group in groups:
        examples = "".join(f"<li><code>{escape(f.input)}</code>: {escape(f.error)}</li>"
                           for f in group.failures[:EXAMPLES_PER_GROUP])
        more = len(group.failures) - EXAMPLES_PER_GROUP
        if more > 0:
            examples += f"<li>... and {more} more</li>"
        rows.append(f'<tr><td>{escape(group.stage)}</td><td class="n">{len(group.failures)}'
                    f'</td><td><div class="reason">{escape(group.reason)}</div>'
                    f'<ul class="examples">{examples}</ul></td><td>{escape(group.hint)}</td></tr>')
    table = ('<table><thead><tr><th>stage</th><th class="n">count</th><th>reason and '
             f'examples</th><th>hint</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return _section("failures", f"Failures ({len(run.open_failures)} open in {len(groups)} "
                    "groups)", table + note)


def render_distributions(plots: list[Plot], plot_dir: str, bench: list[BenchItem] | None
                         ) -> str:
    """Distribution plots in a grid; a note when no benchmark was given."""
    body = ('<div class="grid">' + "".join(_figure(p, plot_dir) for p in plots) + "</div>"
            if plots else '<p class="note">No records to plot.</p>')
    note = ""
    if bench is None:
        note = ('<p class="note">Hop counts and answer-letter balance appear with '
                "<code>--bench BENCH.jsonl</code>.</p>")
    elif not bench:
        note = '<p class="note">The benchmark file holds no items.</p>'
    return _section("distributions", "Distributions", body + note)


def render_usage(run: RunData, plot: Plot | None, plot_dir: str) -> str:
    """Model calls and tokens per role, from ``RUN_DIR/usage.jsonl``."""
    if run.usage is None:
        return _section("usage", "Model usage", '<p class="note">No model calls recorded '
                        "(no <code>usage.jsonl</code> in the run directory): the run used "
                        "annotations only.</p>")
    rows = [[role, u.calls, u.prompt_tokens, u.completion_tokens,
             u.prompt_tokens + u.completion_tokens] for role, u in sorted(run.usage.items())]
    total = [sum(int(r[i]) for r in rows) for i in range(1, 5)]
    rows.append(["total", *total])
    table = _table(["role", "calls", "prompt tokens", "completion tokens", "total tokens"],
                   rows, {1, 2, 3, 4})
    fig = f'<div class="plot">{_figure(plot, plot_dir)}</div>' if plot else ""
    return _section("usage", "Model usage", f'<div class="row"><div>{table}</div>{fig}</div>')


def render_eval(summary: EvalSummary | None, plot: Plot | None, plot_dir: str) -> str:
    """Accuracy per question type with 95% CIs, from ``--eval``."""
    if summary is None:
        return _section("eval", "Evaluation", '<p class="note">No evaluation given; pass '
                        "<code>--eval EVAL.json</code> (from <code>nextevent bench eval</code>)."
                        "</p>")
    rows = [[t, a.n, f"{100 * a.accuracy:.1f}%",
             f"{100 * a.ci95[0]:.1f}% – {100 * a.ci95[1]:.1f}%"]
            for t, a in [*summary.by_type.items(), ("overall", summary.overall)]]
    table = _table(["question type", "items", "accuracy", "95% CI"], rows, {1, 2, 3})
    fig = f'<div class="plot">{_figure(plot, plot_dir)}</div>' if plot else ""
    return _section("eval", "Evaluation", f'<div class="row"><div>{table}<p class="note">'
                    "Chance is 25% (four options).</p></div>" f"{fig}</div>")


@dataclass
class AuditTable:
    """One audited item file on the page.

    Attributes:
        title: what was audited (``FutureBench bench.jsonl``).
        data: `nextevent.audit.AuditReport.to_json` output.
    """

    title: str
    data: dict


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _audit_block(table: AuditTable) -> str:
    data = table.data
    groups = group_summary(data, top=1)
    verdict = ('<span class="pass">passed</span>' if data["passed"]
               else '<span class="fail">FAILED</span>')
    head = f"<h3>{escape(table.title)}: {verdict}</h3>"
    numeric_cols = {1, 2, 4, 5}
    rows = []
    for g in groups:
        best = g["top"][0] if g["top"] else None
        if not g["gated"]:
            state = f"not gated (&lt; {data['min_items']} items)"
        elif g["failing"]:
            state = '<span class="fail">fail</span>'
        else:
            state = '<span class="pass">pass</span>'
        failing = ", ".join(f"{r['baseline']} {_pct(r['accuracy'])}" for r in g["failing"])
        cells = [escape(g["group"]), str(g["n"]), _pct(g["chance"]),
                 escape(best["baseline"]) if best else "-",
                 _pct(best["accuracy"]) if best else "-",
                 f"{_pct(best['ci_low'])} – {_pct(best['ci_high'])}" if best else "-",
                 escape(failing) or "-", state]
        rows.append("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric_cols else
                                     f"<td>{c}</td>" for i, c in enumerate(cells)) + "</tr>")
    headers = ["group", "items", "chance", "best baseline", "accuracy", "95% CI (Wilson)",
               "above chance + margin", "gate"]
    thead = "".join(f'<th class="n">{h}</th>' if i in numeric_cols else f"<th>{h}</th>"
                    for i, h in enumerate(headers))
    summary = (f"<table><thead><tr>{thead}</tr></thead><tbody>{''.join(rows)}</tbody>"
               "</table>")
    details = []
    for g in group_summary(data, top=len(data["rows"])):
        detail_rows = [[r["baseline"], r["family"], r["answered"], _pct(r["accuracy"]),
                        f"{_pct(r['ci_low'])} – {_pct(r['ci_high'])}",
                        _pct(r["chance"] + r["margin"]),
                        ("fail" if r["gated"] and r["exceeds"] else
                         "above (not gated)" if r["exceeds"] else "ok")] for r in g["top"]]
        details.append(f"<details><summary>{escape(g['group'])}: every baseline "
                       f"({len(detail_rows)})</summary>"
                       + _table(["baseline", "family", "answered", "accuracy", "95% CI",
                                 "limit", "verdict"], detail_rows, {2, 3, 4, 5})
                       + "</details>")
    return head + summary + "".join(details)


def render_audit(audits: list[AuditTable] | None) -> str:
    """The blind audit per item file (`nextevent.audit`): per group the best baseline
    with its Wilson 95% CI, the baselines above chance + margin, the gate verdict; every
    baseline row in a folded list."""
    if not audits:
        return _section("audit", "Blind audit", '<p class="note">Pass <code>--bench '
                        "BENCH.jsonl</code> or <code>--t3 T3.jsonl</code> to audit their "
                        "multiple-choice items with blind baselines.</p>")
    note = ('<p class="note">Blind baselines never read the key. Gate: in a group of at '
            f"least {audits[0].data['min_items']} items, an option-only, question-only or "
            "model baseline above chance + 5 points, or a past-text baseline above chance + "
            "10 points, fails. An abstention counts as a random guess.</p>")
    return _section("audit", "Blind audit", "".join(_audit_block(a) for a in audits) + note)


def _events_list(record: NEPRecord) -> str:
    """The record's events as two numbered lists, past and future, split by a cut line."""
    def item(event: Event) -> str:
        span = (f"{event.start_s:.2f}–{event.end_s:.2f} s: " if event.start_s is not None
                and event.end_s is not None else "")
        return f"<li>{escape(span)}{escape(event.text)}</li>"

    past, future = record.past_events, record.future_events
    return (f"<details open><summary>events ({len(record.events)})</summary>"
            f'<ol class="past">{"".join(map(item, past))}</ol>'
            f'<div class="cut">split point {record.split.split_s:.2f} s</div>'
            f'<ol class="future" start="{len(past) + 1}">{"".join(map(item, future))}</ol>'
            "</details>")


def render_sheets(entries: list[SheetEntry], run: RunData, out_dir: Path, total: int) -> str:
    """One block per sampled record: the contact sheet, past and future players, events."""
    if not entries:
        return _section("contact-sheets", "Contact sheets", '<p class="note">No record has '
                        "cut clips (text-only records), so there is nothing to show.</p>")
    blocks = []
    for entry in entries:
        r = entry.record
        head = (f"<h3>{escape(r.id)} <span class=\"note\">· {escape(r.source)} · "
                f"split {r.split.split_s:.2f} s, {escape(r.split.reason)}</span></h3>")
        if entry.image is not None:
            alt = f"{r.id}: past: {r.caption_part1} | future: {r.caption_part2}"
            sheet = f'<img class="strip" src="{quote(entry.image)}" alt="{escape(alt)}">'
        else:
            sheet = f'<div class="warn">No contact sheet: {escape(entry.error or "")}</div>'
        players = []
        for side, segment in (("past", r.past), ("future", r.future)):
            if segment is None:
                continue
            src = _url(run.run_dir / segment.path, out_dir)
            poster = (f' poster="{quote(entry.posters[side])}"' if side in entry.posters
                      else "")
            players.append(
                f'<figure><video controls muted preload="none"{poster} src="{src}">'
                "</video>"
                f'<figcaption><span class="tag {side}">{side}</span> '
                f"{segment.start_s:.2f}–{segment.end_s:.2f} s · {segment.frame_count} frames · "
                f"<code>{escape(segment.path)}</code></figcaption></figure>")
        blocks.append(f'<div class="sheet">{head}{sheet}<div class="players">'
                      f'{"".join(players)}<div class="events">{_events_list(r)}</div></div>'
                      "</div>")
    title = f"Contact sheets ({len(entries)} of {total} records with clips)"
    return _section("contact-sheets", title, "".join(blocks))


def render_page(run: RunData, out_dir: Path, *, plots: dict[str, list[Plot]], plot_dir: str,
                sheets: list[SheetEntry], sheet_total: int, bench: list[BenchItem] | None,
                eval_summary: EvalSummary | None,
                audits: list[AuditTable] | None = None) -> str:
    """The whole report page as one HTML string.

    Args:
        run: the run's data.
        out_dir: the folder the page is written into (links are relative to it).
        plots: plots per section id (``distributions``, ``usage``, ``eval``).
        plot_dir: folder of the plot files, relative to the page.
        sheets: the sampled records and their contact sheets.
        sheet_total: records with clips, of which ``sheets`` is a sample.
        bench, eval_summary: the optional benchmark and eval summary.
        audits: blind audits of the given item files (`render_audit`).
    """
    nav = "".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title in SECTIONS)
    usage_plot = next(iter(plots.get("usage", [])), None)
    eval_plot = next(iter(plots.get("eval", [])), None)
    body = "".join([
        render_counts(run),
        render_failures(run),
        render_distributions(plots.get("distributions", []), plot_dir, bench),
        render_usage(run, usage_plot, plot_dir),
        render_eval(eval_summary, eval_plot, plot_dir),
        render_audit(audits),
        render_sheets(sheets, run, out_dir, sheet_total),
    ])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>nextevent report: {escape(run.run_dir.name)}</title>"
            f"<style>{CSS}</style></head><body>"
            f"{render_summary(run, bench, eval_summary, audits)}<nav>{nav}</nav>"
            f"<main>{body}</main></body></html>\n")
