"""The files ``t3 synth`` writes beside its output: ``<out>.failures.jsonl`` (one
`nextevent.records.Failure` a line: every event the import dropped, trimmed, clipped or
merged, every event past a video's real length, every video skipped) and
``<out>.summary.json`` (every count of the run and the gate's audit)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nextevent.export.base import atomic_writer
from nextevent.jsonl import write_jsonl
from nextevent.records import Failure
from nextevent.t3.synth import SynthResult


def write_failures(failures: Iterable[Failure], path: Path) -> int:
    """Write failures as JSON Lines to ``path`` (``<out>.failures.jsonl``,
    `nextevent.rundir.failures_beside`) atomically; returns the count.

    Raises:
        OSError: when the file cannot be written.
    """
    return write_jsonl(path, failures)


def summary(out: Path, result: SynthResult, skipped: dict[str, int],
            counts: dict[str, dict[str, int]], failures_path: Path,
            n_failures: int) -> dict[str, Any]:
    """The run's counts as a JSON-ready dict: items per aspect/task/form, orbits, what
    was dropped and why, the import/raw-span/duration counts, the failures file and the
    gate (mode, passed, audits, best baseline per task before and after dropping)."""
    gate = result.gate
    return {
        "output": str(out), "items": len(result.items), "orbits": result.orbits,
        "timelines": result.timelines, "videos_skipped": skipped,
        "by_aspect": result.by_aspect, "by_task": result.by_task, "by_form": result.by_form,
        "dropped": {"duplicates": result.duplicates, "too_long": result.too_long,
                    "not_selected": result.not_selected,
                    "gate": dict(gate.dropped) if gate else {}},
        "no_question": result.no_question, "pairs_blocked": result.pairs_blocked,
        "failures": {"file": str(failures_path), "count": n_failures}, **counts,
        "gate": None if gate is None else {
            "mode": gate.mode, "passed": gate.passed, "rounds": gate.rounds,
            "best_first": gate.first, "best_last": gate.last},
    }


def write_summary(path: Path, out: Path, result: SynthResult, skipped: dict[str, int],
                  counts: dict[str, dict[str, int]], failures_path: Path,
                  n_failures: int) -> None:
    """Write `summary` to ``path`` as indented JSON (atomically)."""
    with atomic_writer(Path(path)) as handle:
        handle.write(json.dumps(summary(out, result, skipped, counts, failures_path,
                                        n_failures), indent=2))
