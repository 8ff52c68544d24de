"""The report's plots: matplotlib (Agg) PNG files written beside the HTML.

Each ``plot_*`` function draws one figure from the run's records, a benchmark or an eval
summary, writes ``<out_dir>/<name>.png`` and returns a `Plot` (None when there is
nothing to draw). Durations are seconds, lengths words, counts records or items.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nextevent.records import BenchItem, NEPRecord
from nextevent.report.summary import (
    LETTERS,
    QUESTION_TYPES,
    EvalSummary,
    RoleUsage,
    letter_balance,
    words,
)

PAST = "#3465a4"
FUTURE = "#e07b39"
CUT = "#d62728"
NEUTRAL = "#5f7f8f"
DPI = 110
FIGSIZE = (4.8, 3.0)


@dataclass
class Plot:
    """One plot file of the report.

    Attributes:
        file: the PNG's file name, relative to the report's plot folder.
        title: a heading for the page.
        caption: one sentence on what it shows, with units and the number of items.
    """

    file: str
    title: str
    caption: str


@contextmanager
def _figure(path: Path) -> Iterator[Any]:
    """A fresh Agg figure with one axes, saved to ``path`` and closed on exit."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts, percents, tokens
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    yield ax
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")


def _legend(ax: Any) -> None:
    """A legend above the axes, outside the data."""
    ax.figure.legend(loc="outside upper center", ncols=2, frameon=False, fontsize="small")


def _duration(record: NEPRecord) -> float | None:
    """The source video's duration (s): probed, else the end of the last timed event."""
    if record.video is not None:
        return record.video.duration_s
    ends = [e.end_s for e in record.events if e.end_s is not None]
    return max(ends) if ends else None


def plot_video_durations(records: Sequence[NEPRecord], out_dir: Path) -> Plot | None:
    """Histogram of source video durations (s), one count per video id."""
    per_video = {r.video_id: d for r in records if (d := _duration(r)) is not None}
    if not per_video:
        return None
    with _figure(out_dir / "video_duration.png") as ax:
        ax.hist(list(per_video.values()), bins=min(20, max(5, len(per_video))), color=NEUTRAL)
        ax.set_xlabel("video duration (s)")
        ax.set_ylabel("videos")
    return Plot("video_duration.png", "Video duration",
                f"Duration of each source video in seconds ({len(per_video)} videos).")


def plot_split_position(records: Sequence[NEPRecord], out_dir: Path) -> Plot | None:
    """Histogram of the split point as a fraction of the video's duration (0 to 1)."""
    fractions = [r.split.split_s / d for r in records if (d := _duration(r))]
    if not fractions:
        return None
    with _figure(out_dir / "split_position.png") as ax:
        ax.hist(fractions, bins=[i / 20 for i in range(21)], color=CUT, alpha=0.85)
        ax.set_xlim(0, 1)
        ax.set_xlabel("split point / video duration")
        ax.set_ylabel("records")
    return Plot("split_position.png", "Split position",
                f"Where the split point falls, as a fraction of the video ({len(fractions)} "
                "records).")


def _segment_seconds(record: NEPRecord) -> tuple[float | None, float | None]:
    if record.past is not None and record.future is not None:
        return record.past.duration_s, record.future.duration_s
    duration = _duration(record)
    split = record.split.split_s
    return split, (duration - split if duration is not None else None)


def plot_segment_durations(records: Sequence[NEPRecord], out_dir: Path) -> Plot | None:
    """Overlaid histograms of past and future segment durations (s)."""
    pairs = [_segment_seconds(r) for r in records]
    past = [p for p, _ in pairs if p is not None]
    future = [f for _, f in pairs if f is not None]
    if not past and not future:
        return None
    top = max(past + future)
    bins = [top * i / 20 for i in range(21)] if top > 0 else 10
    with _figure(out_dir / "segment_durations.png") as ax:
        ax.hist(past, bins=bins, color=PAST, alpha=0.6, label=f"past (n={len(past)})")
        ax.hist(future, bins=bins, color=FUTURE, alpha=0.6, label=f"future (n={len(future)})")
        ax.set_xlabel("segment duration (s)")
        ax.set_ylabel("records")
        _legend(ax)
    return Plot("segment_durations.png", "Past and future durations",
                "Duration of the past and the future segment of each record, in seconds.")


def _paired_bars(ax: Any, labels: Sequence[str], left: Sequence[int], right: Sequence[int],
                 names: tuple[str, str]) -> None:
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], left, width=0.4, color=PAST, label=names[0])
    ax.bar([x + 0.2 for x in xs], right, width=0.4, color=FUTURE, label=names[1])
    ax.set_xticks(list(xs), list(labels))
    _legend(ax)


def plot_events_per_side(records: Sequence[NEPRecord], out_dir: Path) -> Plot | None:
    """Records by number of past events and by number of future events."""
    if not records:
        return None
    past = Counter(len(r.past_events) for r in records)
    future = Counter(len(r.future_events) for r in records)
    ks = list(range(1, max(max(past), max(future)) + 1))
    with _figure(out_dir / "events_per_side.png") as ax:
        _paired_bars(ax, [str(k) for k in ks], [past[k] for k in ks], [future[k] for k in ks],
                     ("past events", "future events"))
        ax.set_xlabel("events on the side")
        ax.set_ylabel("records")
    return Plot("events_per_side.png", "Events per side",
                "How many annotated events fall in the past and in the future segment "
                f"({len(records)} records); future events bound the hops a record can serve.")


def plot_caption_lengths(records: Sequence[NEPRecord], out_dir: Path) -> Plot | None:
    """Overlaid histograms of the past and future caption lengths (words)."""
    if not records:
        return None
    past = [words(r.caption_part1) for r in records]
    future = [words(r.caption_part2) for r in records]
    top = max(past + future)
    bins = [top * i / 20 for i in range(21)] if top > 0 else 10
    with _figure(out_dir / "caption_lengths.png") as ax:
        ax.hist(past, bins=bins, color=PAST, alpha=0.6, label="caption_part1 (past)")
        ax.hist(future, bins=bins, color=FUTURE, alpha=0.6, label="caption_part2 (future)")
        ax.set_xlabel("caption length (words)")
        ax.set_ylabel("records")
        _legend(ax)
    return Plot("caption_lengths.png", "Caption lengths",
                f"Words in the past and future captions ({len(records)} records).")


def plot_pass_rates(records: Sequence[NEPRecord], out_dir: Path) -> Plot | None:
    """Histogram of the records' pass rates (predictions judged right / judged, 0 to 1;
    ``build --predictions K``), the all-wrong (0) and all-right (1) bars marked: a GRPO
    group drawn from such a split has no advantage signal. None when no record has a
    verdict."""
    rates = [rate for r in records if (rate := r.pass_rate) is not None]
    if not rates:
        return None
    values = sorted({round(rate, 4) for rate in rates})
    counts = Counter(round(rate, 4) for rate in rates)
    if len(values) > 12:  # many different K: ten bins of 0.1
        width = 0.1
        counts = Counter(min(9, int(rate * 10)) / 10 + 0.05 for rate in rates)
        values = sorted(counts)
    else:
        gaps = [b - a for a, b in zip(values, values[1:], strict=False)]
        width = min([0.1, *gaps]) * 0.8
    colors = [CUT if v in (0.0, 1.0) else NEUTRAL for v in values]
    with _figure(out_dir / "pass_rate.png") as ax:
        ax.bar(values, [counts[v] for v in values], width=width, color=colors)
        ax.set_xlim(-0.08, 1.08)
        ax.set_xlabel("pass rate (predictions judged right / judged)")
        ax.set_ylabel("records")
    ks = Counter(len(r.verdicts) for r in records if r.verdicts)
    judged = ", ".join(f"{n} with {k} verdict{'s' if k > 1 else ''}"
                       for k, n in sorted(ks.items()))
    right, wrong = rates.count(1.0), rates.count(0.0)
    return Plot("pass_rate.png", "Pass rate",
                f"Share of each record's predictions the critic judged right ({len(rates)} "
                f"records: {judged}); {right} all right and {wrong} all wrong (red) give a "
                "GRPO group no advantage signal (export --min-pass-rate/--max-pass-rate "
                "drops them).")


def plot_hop_counts(items: Sequence[BenchItem], out_dir: Path) -> Plot | None:
    """Benchmark items per question type (hop1, hop2, hop3, hop5, interp)."""
    if not items:
        return None
    counts = Counter(item.question_type for item in items)
    with _figure(out_dir / "hop_counts.png") as ax:
        ax.bar(QUESTION_TYPES, [counts.get(t, 0) for t in QUESTION_TYPES], color=NEUTRAL)
        ax.set_xlabel("question type (hops asked for, or interpolation)")
        ax.set_ylabel("items")
    return Plot("hop_counts.png", "Hop counts",
                f"FutureBench items per question type ({len(items)} items).")


def plot_answer_letters(items: Sequence[BenchItem], out_dir: Path) -> Plot | None:
    """Benchmark items per answer letter, with the equal share and a chi-square p-value."""
    if not items:
        return None
    balance = letter_balance(list(items))
    with _figure(out_dir / "answer_letters.png") as ax:
        ax.bar(LETTERS, [balance.counts[k] for k in LETTERS], color=NEUTRAL)
        ax.axhline(len(items) / len(LETTERS), color=CUT, linestyle="--", linewidth=1,
                   label="equal share")
        ax.set_xlabel("answer letter")
        ax.set_ylabel("items")
        _legend(ax)
    return Plot("answer_letters.png", "Answer-letter balance",
                f"Items per correct letter ({len(items)} items); chi-square against equal "
                f"shares {balance.chi2:.2f}, p = {balance.p_value:.3g}.")


def plot_usage(usage: dict[str, RoleUsage], out_dir: Path) -> Plot | None:
    """Prompt and completion tokens per model role, stacked."""
    if not usage:
        return None
    roles = sorted(usage)
    prompt = [usage[r].prompt_tokens for r in roles]
    completion = [usage[r].completion_tokens for r in roles]
    with _figure(out_dir / "usage.png") as ax:
        ax.bar(roles, prompt, color=PAST, label="prompt tokens")
        ax.bar(roles, completion, bottom=prompt, color=FUTURE, label="completion tokens")
        ax.set_ylabel("tokens")
        _legend(ax)
    return Plot("usage.png", "Tokens per role",
                f"Prompt and completion tokens per model role ({len(roles)} roles).")


def plot_eval(summary: EvalSummary, out_dir: Path) -> Plot:
    """Accuracy per question type and overall, with 95% CI bars and the 25% chance line."""
    order = [t for t in QUESTION_TYPES if t in summary.by_type]
    order += sorted(t for t in summary.by_type if t not in QUESTION_TYPES)
    rows = [(t, summary.by_type[t]) for t in order] + [("overall", summary.overall)]
    labels = [t for t, _ in rows]
    acc = [100 * a.accuracy for _, a in rows]
    low = [100 * max(0.0, a.accuracy - a.ci95[0]) for _, a in rows]
    high = [100 * max(0.0, a.ci95[1] - a.accuracy) for _, a in rows]
    colors = [NEUTRAL] * (len(rows) - 1) + [PAST]
    with _figure(out_dir / "eval_accuracy.png") as ax:
        ax.bar(labels, acc, color=colors, yerr=[low, high], capsize=4,
               error_kw={"elinewidth": 1, "ecolor": "#333333"})
        ax.axhline(25, color=CUT, linestyle="--", linewidth=1, label="chance (25%)")
        ax.set_ylim(0, 100)
        ax.set_ylabel("accuracy (%)")
        _legend(ax)
    return Plot("eval_accuracy.png", "Accuracy per question type",
                f"Accuracy with 95% confidence intervals ({summary.overall.n} items overall).")
