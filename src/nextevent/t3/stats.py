"""Token-length statistics and histograms of T3 items, per aspect, for prompts and
answers (Video-T3, Li et al., arXiv 2410.06166: length filtering and token-length
analysis of the synthesized data).

`write_stats` writes ``prompt_tokens.png``, ``answer_tokens.png`` (one step histogram
per aspect plus all items, shared bins, count per bin) and ``token_stats.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nextevent.export.base import atomic_writer
from nextevent.records import NextEventError
from nextevent.t3.items import ASPECTS, T3Item
from nextevent.t3.tokens import TokenCounter


@dataclass
class StatsResult:
    """What `write_stats` wrote: the files and the numbers (as in ``token_stats.json``)."""

    files: list[Path] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def summarize(values: Sequence[int]) -> dict[str, float]:
    """``n``, ``min``, ``mean``, ``median``, ``p95`` and ``max`` of token counts
    (nearest-rank percentiles); all 0 for no values."""
    if not values:
        return {"n": 0, "min": 0, "mean": 0.0, "median": 0, "p95": 0, "max": 0}
    s = sorted(values)

    def rank(q: float) -> int:
        return s[max(0, math.ceil(q * len(s)) - 1)]

    return {"n": len(s), "min": s[0], "mean": round(sum(s) / len(s), 2),
            "median": rank(0.5), "p95": rank(0.95), "max": s[-1]}


def length_stats(items: Sequence[T3Item], counter: TokenCounter
                 ) -> tuple[dict[str, Any], dict[str, dict[str, list[int]]]]:
    """Token counts of prompts and answers (the items' stored counts when all were
    counted with the same counter, else counted now).

    Returns:
        The summary (``counter``, ``items``, per part ``prompt``/``answer``: per aspect
        and ``all`` a `summarize` dict) and the raw counts ``{part: {aspect: [n, ...]}}``.
    """
    counts: dict[str, dict[str, list[int]]] = {}
    stored = bool(items) and all(i.tokens and i.tokens.get("counter") == counter.name
                                 for i in items)
    for part in ("prompt", "answer"):
        if stored:  # counted by `synthesize` with the same counter
            values = [int(i.tokens[part]) for i in items]  # type: ignore[index]
        else:
            values = counter.count_batch([getattr(i, part) for i in items]) if items else []
        per: dict[str, list[int]] = {}
        for item, n in zip(items, values, strict=True):
            per.setdefault(item.aspect, []).append(n)
        per["all"] = list(values)
        counts[part] = per
    summary: dict[str, Any] = {"counter": counter.name, "items": len(items)}
    for part, per in counts.items():
        summary[part] = {k: summarize(v) for k, v in per.items()}
    return summary, counts


def write_stats(items: Sequence[T3Item], out_dir: str | Path,
                counter: TokenCounter | None = None, bins: int = 40) -> StatsResult:
    """Write the histograms and ``token_stats.json`` into ``out_dir`` (created).

    Args:
        items: the items (e.g. ``list(read_items("T3.jsonl"))``).
        out_dir: output folder.
        counter: token counter; whitespace words when None.
        bins: histogram bins over ``[0, max]`` tokens.

    Raises:
        ValueError: when ``items`` is empty or ``bins < 1``.
        NextEventError: stage ``t3``, when matplotlib is not installed.
    """
    if not items:
        raise ValueError("no T3 items to describe; check the input file")
    if bins < 1:
        raise ValueError("bins must be at least 1")
    try:  # Figure without pyplot: no global backend state, no display needed
        from matplotlib.figure import Figure
    except ImportError as err:
        raise NextEventError("t3", "token-length histograms need matplotlib",
                             "pip install 'nextevent[t3]'") from err

    counter = counter or TokenCounter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary, counts = length_stats(items, counter)
    result = StatsResult(stats=summary)
    for part, per in counts.items():
        top = max(per["all"]) or 1
        edges = [top * i / bins for i in range(bins + 1)]
        fig = Figure(figsize=(8, 4.5), dpi=100)
        ax = fig.subplots()
        for aspect in (*[a for a in ASPECTS if a in per], "all"):
            values = per[aspect]
            med = summary[part][aspect]["median"]
            ax.hist(values, bins=edges, histtype="step", linewidth=2 if aspect == "all" else 1.2,
                    label=f"{aspect} (n={len(values)}, median {med})")
        ax.set_xlabel(f"{part} length (tokens, {counter.short_name})")
        ax.set_ylabel("items")
        ax.set_title(f"T3 {part} token lengths")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / f"{part}_tokens.png"
        fig.savefig(path)
        result.files.append(path.resolve())
    json_path = out / "token_stats.json"
    with atomic_writer(json_path) as handle:
        json.dump(summary, handle, indent=2)
        handle.write("\n")
    result.files.append(json_path.resolve())
    return result
