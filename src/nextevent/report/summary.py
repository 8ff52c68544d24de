"""What a report shows, read from a run directory, a benchmark file, a T3 file and an eval
JSON.

Nothing here writes to the run directory: records and failures are read with
`nextevent.store.read_records` / `nextevent.store.read_failures` (every JSON Lines file
through `nextevent.jsonl.read_jsonl`), ``state.sqlite`` read-only with
`nextevent.store.read_state_counts`; file names come from `nextevent.rundir.RunDir`.

Inputs the report reads besides the run directory (formats agreed with the engineers of
the model client and of FutureBench; both optional):

- ``RUN_DIR/usage.jsonl``: one `nextevent.rundir.UsageLine` per model-backed build,
  ``{"time", "wall_s", "records_new", "roles": {role: {"requests": int,
  "prompt_tokens": int, "completion_tokens": int, ...}}}``.
- ``--eval EVAL.json``: ``{"overall": {"accuracy": float, "ci95": [lo, hi], "n": int},
  "by_type": {"hop1": {...same...}, ...}}``; accuracy and bounds are fractions in [0, 1].
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nextevent.jsonl import read_jsonl
from nextevent.records import BenchItem, Failure, NEPRecord, NextEventError
from nextevent.rundir import RunDir, UsageLine
from nextevent.store import (
    is_resolved,
    read_failures,
    read_records,
    read_state_counts,
    read_statuses,
)

if TYPE_CHECKING:
    from nextevent.t3.items import T3Item

STAGE = "report"
LETTERS = ("A", "B", "C", "D")
QUESTION_TYPES = ("hop1", "hop2", "hop3", "hop5", "interp")


class RoleUsage(BaseModel):
    """Model calls of one role (captioner, planner, reasoner, critic, judge, ...)."""

    model_config = ConfigDict(extra="allow")
    calls: int = Field(ge=0)
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)


class Accuracy(BaseModel):
    """Accuracy of one question type: fraction correct, its 95% CI (fractions), items."""

    model_config = ConfigDict(extra="allow")
    accuracy: float = Field(ge=0, le=1)
    ci95: tuple[float, float]
    n: int = Field(ge=0)


class EvalSummary(BaseModel):
    """``nextevent bench eval``'s JSON: overall accuracy and accuracy per question type."""

    model_config = ConfigDict(extra="allow")
    overall: Accuracy
    by_type: dict[str, Accuracy] = Field(default_factory=dict)


@dataclass
class FailureGroup:
    """Failures of one stage that share a reason.

    Attributes:
        stage: the pipeline stage that failed.
        reason: the error with the input's name, paths and numbers blanked out.
        hint: the hint of the first failure in the group.
        failures: the failures, oldest first.
    """

    stage: str
    reason: str
    hint: str
    failures: list[Failure] = field(default_factory=list)


@dataclass
class RunData:
    """Everything the report shows about one run directory.

    Attributes:
        run_dir: the run directory (absolute).
        records: the NEP records, in file order.
        failures: the failures, in file order.
        states: ``(status, stage) -> work items`` from ``state.sqlite``; empty if absent.
        usage: model calls per role from ``usage.jsonl``; None when the file is absent.
        label: the run directory as the user named it (shown on the page).
        resolved: keys of failures whose input was finished by a later run
            (`nextevent.store.is_resolved`): listed apart, not counted as open.
    """

    run_dir: Path
    records: list[NEPRecord]
    failures: list[Failure]
    states: dict[tuple[str, str], int]
    usage: dict[str, RoleUsage] | None
    label: str = ""
    resolved: set[str] = field(default_factory=set)

    @property
    def open_failures(self) -> list[Failure]:
        """The failures still wrong: those whose input was not finished later."""
        return [f for f in self.failures if f.key not in self.resolved]


def load_run(run_dir: Path) -> RunData:
    """Read a run directory without writing to it.

    Raises:
        NextEventError: stage ``report`` when ``run_dir`` has no ``records.jsonl``, or a
            line of ``records.jsonl``, ``failures.jsonl`` or ``usage.jsonl`` is not valid.
    """
    label = str(run_dir)
    run = RunDir(run_dir.resolve())
    if not run.records.is_file():
        raise NextEventError(STAGE, f"{run.records} does not exist",
                             "pass a run directory written by `nextevent build` or "
                             "`nextevent import`")
    records = list(read_records(run.records, stage=STAGE, hint=(
        "if a build is still writing to this run, rerun the report when it ends")))
    failures = (list(read_failures(run.failures, stage=STAGE,
                                   hint="check the file was written by nextevent"))
                if run.failures.is_file() else [])
    statuses = read_statuses(run.root)
    return RunData(run_dir=run.root, records=records, failures=failures,
                   states=read_state_counts(run.root), usage=load_usage(run.usage),
                   label=label,
                   resolved={f.key for f in failures if is_resolved(f, statuses)})


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def load_usage(path: Path) -> dict[str, RoleUsage] | None:
    """Model calls per role from ``usage.jsonl``, added up over every run that wrote a line;
    None when the file does not exist.

    Each line is a `nextevent.rundir.UsageLine`, what `nextevent.pipeline.model_runner`
    appends after a model-backed build: ``{"time", "wall_s", "records_new", "roles":
    {role: {"requests", "answers", "cache_hits", "prompt_tokens", "completion_tokens",
    ...}}}``; ``calls`` here are the HTTP requests sent (retries and repair re-asks
    included).

    Raises:
        NextEventError: stage ``report`` when a line is not such an object, naming the
            file and the line.
    """
    if not path.is_file():
        return None
    totals: dict[str, dict[str, int]] = {}
    for line in read_jsonl(path, UsageLine, what="model usage per role", stage=STAGE,
                           hint="expected the lines `nextevent build --llm-config` appends: "
                           '{"time", "wall_s", "records_new", "roles": {role: '
                           '{"requests": int, "prompt_tokens": int, ...}}}'):
        for role, counts in line.roles.items():
            total = totals.setdefault(str(role), {})
            for name, value in counts.items():
                total[name] = total.get(name, 0) + value
    try:
        return {role: RoleUsage(calls=c.get("requests", 0), **{
            k: v for k, v in c.items() if k != "requests"}) for role, c in totals.items()}
    except ValidationError as err:
        raise NextEventError(STAGE, f"{path} is not model usage per role: {_first_line(err)}",
                             "expected prompt_tokens and completion_tokens per role") from err


def _missing(path: Path) -> str:
    """Why an input file given to ``report`` cannot be read (it is not a file)."""
    return "is a folder, not a file" if path.is_dir() else "does not exist"


def load_bench(path: Path) -> list[BenchItem]:
    """Read a FutureBench JSONL file as every bench command does
    (`nextevent.bench.build.read_items`: items that cannot be scored, repeated ids and an
    empty file are refused).

    Raises:
        NextEventError: stage ``report`` when the file is missing, empty, or a line is
            not such an item.
    """
    from nextevent.bench.build import read_items

    if not path.is_file():
        raise NextEventError(STAGE, f"--bench {path} {_missing(path)}",
                             "pass the JSONL written by `nextevent bench build`")
    try:
        return read_items(path)
    except NextEventError as err:
        raise NextEventError(STAGE, f"--bench: {err}",
                             err.hint) from None


def load_t3(path: Path) -> list[T3Item]:
    """Read a Video-T3 JSONL file (one `nextevent.t3.items.T3Item` a line).

    Raises:
        NextEventError: stage ``report`` when the file is missing or a line is not an item.
    """
    from nextevent.t3.items import T3Item

    if not path.is_file():
        raise NextEventError(STAGE, f"--t3 {path} {_missing(path)}",
                             "pass the JSONL written by `nextevent t3 synth`")
    return list(read_jsonl(path, T3Item, what="a T3 item", stage=STAGE,
                           hint="pass the JSONL written by `nextevent t3 synth`",
                           name=f"--t3 {path}"))


def load_eval(path: Path) -> EvalSummary:
    """Read an eval JSON (see the module docstring for its shape).

    Raises:
        NextEventError: stage ``report`` when the file is missing, not UTF-8 or has
            another shape.
    """
    if not path.is_file():
        raise NextEventError(STAGE, f"--eval {path} {_missing(path)}",
                             "pass the JSON written by `nextevent bench eval`")
    try:
        return EvalSummary.model_validate_json(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise NextEventError(STAGE, f"--eval {path} is not UTF-8 text ({err.reason} at byte "
                             f"{err.start})", "pass the JSON written by `nextevent bench eval`"
                             ) from None
    except ValidationError as err:
        raise NextEventError(STAGE, f"--eval {path} is not an eval summary: "
                             f"{_first_line(err)}: {err.errors()[0]['loc']}",
                             'expected {"overall": {"accuracy", "ci95", "n"}, '
                             '"by_type": {type: {...}}}') from err


_PATH = re.compile(r"(?:[A-Za-z]:)?[\w.\-~]*(?:/[\w.\-~#]+)+/?")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")  # not inside names (.3gp, h264)


def failure_reason(failure: Failure) -> str:
    """A failure's error with what varies between inputs blanked out, to group by.

    The input's own name becomes ``<input>``, other paths ``<path>``, numbers ``N``:
    ``"/v/a.mp4: decoding failed after 12 frames"`` -> ``"<input>: decoding failed after
    N frames"``.
    """
    text = failure.error.replace(failure.input, "<input>") if failure.input else failure.error
    text = _PATH.sub("<path>", text)
    return _NUMBER.sub("N", text)


def group_failures(failures: list[Failure]) -> list[FailureGroup]:
    """Failures grouped by stage and `failure_reason`, largest group first."""
    groups: dict[tuple[str, str], FailureGroup] = {}
    for failure in failures:
        key = (failure.stage, failure_reason(failure))
        if key not in groups:
            groups[key] = FailureGroup(stage=key[0], reason=key[1], hint=failure.hint)
        groups[key].failures.append(failure)
    return sorted(groups.values(), key=lambda g: (-len(g.failures), g.stage, g.reason))


@dataclass
class LetterBalance:
    """Answer letters of a benchmark and a chi-square test against a uniform spread.

    Attributes:
        counts: items per answer letter, A-D.
        chi2: Pearson's chi-square statistic against equal counts (3 degrees of freedom).
        p_value: its upper-tail probability; small values mean the letters are unbalanced.
    """

    counts: dict[str, int]
    chi2: float
    p_value: float


def letter_balance(items: list[BenchItem]) -> LetterBalance:
    """Count answer letters and test them against equal shares (Pearson chi-square).

    The p-value is `chi2_upper_tail_3df` of the statistic. With no items the statistic
    is 0 and the p-value 1.
    """
    counts = Counter(item.qa.Answer for item in items)
    full = {letter: counts.get(letter, 0) for letter in LETTERS}
    total = sum(full.values())
    if total == 0:
        return LetterBalance(full, 0.0, 1.0)
    expected = total / len(LETTERS)
    chi2 = sum((n - expected) ** 2 / expected for n in full.values())
    return LetterBalance(full, chi2, chi2_upper_tail_3df(chi2))


def chi2_upper_tail_3df(x: float) -> float:
    """``P(X >= x)`` for a chi-square variable with 3 degrees of freedom, in [0, 1].

    Closed form ``erfc(sqrt(x/2)) + sqrt(2x/pi) exp(-x/2)`` (Abramowitz & Stegun 26.4.5).
    """
    if x <= 0:
        return 1.0
    p = math.erfc(math.sqrt(x / 2)) + math.sqrt(2 * x / math.pi) * math.exp(-x / 2)
    return min(1.0, max(0.0, p))


def words(text: str | None) -> int:
    """Number of whitespace-separated words in ``text`` (0 for None)."""
    return len(text.split()) if text else 0
