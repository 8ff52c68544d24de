"""The closing tables the CLI prints (the pipeline returns summaries; it prints nothing)."""

from __future__ import annotations

from rich.table import Table

from nextevent.pipeline.state import BuildSummary


def build_table(summary: BuildSummary, title: str) -> Table:
    """A rich table of one build: outcomes, records, seconds, steps, failures, usage.

    Rows for models (unsuitable videos, usage per role) appear only when the build used
    them; per-step rows give outcomes and seconds (media steps: worker seconds; model
    steps: seconds waited, calls overlapping).
    """
    table = Table(title=title, show_header=False)
    table.add_row("videos in input", str(summary.videos))
    used_models = bool(summary.usage.as_dict())
    if used_models:
        table.add_row("videos done / failed / unsuitable / already done",
                      f"{summary.videos_done} / {summary.videos_failed} / "
                      f"{summary.videos_unsuitable} / {summary.skipped}")
    else:
        table.add_row("videos done / failed / already done",
                      f"{summary.videos_done} / {summary.videos_failed} / {summary.skipped}")
    table.add_row("records new / total", f"{summary.records_new} / {summary.records_total}")
    table.add_row("past / future seconds", f"{summary.past_s:.1f} / {summary.future_s:.1f}")
    if summary.cut_modes:
        modes = ", ".join(f"{m} {n}" for m, n in sorted(summary.cut_modes.items()))
        fell = f" ({summary.cut_fallbacks} fell back, see cut_note)" if summary.cut_fallbacks \
            else ""
        table.add_row("cut modes (new records)", modes + fell)
        table.add_row("clip frames copied / re-encoded",
                      f"{summary.frames_copied} / {summary.frames_reencoded}")
    for step, outcomes in summary.stage_outcomes.items():
        counts = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "-"
        seconds = summary.stage_s.get(step)
        rtf = (f", RTF {summary.media_s / seconds:.1f}" if seconds and summary.media_s
               and step in ("probe", "shots", "cut") else "")
        table.add_row(f"step {step}", counts + (f"; {seconds:.1f} s{rtf}" if seconds else ""))
    for stage, n in sorted(summary.failures_by_stage.items()):
        table.add_row(f"failures: {stage}", str(n))
    if summary.failures_open or summary.failures_resolved:
        table.add_row("failures.jsonl open / resolved",
                      f"{summary.failures_open} / {summary.failures_resolved} (resolved: the "
                      "input finished in a later run)")
    for role, usage in summary.usage.as_dict().items():
        table.add_row(
            f"model {role}",
            f"{usage['requests']} requests ({usage['retries']} retries, {usage['repairs']} "
            f"repairs), {usage['cache_hits']} cached; tokens {usage['prompt_tokens']} in / "
            f"{usage['completion_tokens']} out, {usage['cached_tokens']} saved by the cache")
    table.add_row("wall time", f"{summary.wall_s:.1f} s")
    return table
