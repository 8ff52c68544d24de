"""The run directory's layout: every file name nextevent writes into a run, in one place.

Layout of ``RUN_DIR`` (what `nextevent build` / `nextevent import` write)::

    records.jsonl       one `NEPRecord` per line, append-only (`nextevent.store.RunStore`)
    failures.jsonl      one `Failure` per line, never the same key twice
    state.sqlite        status per work item (``<video_id>#<split>`` or ``<video_id>``)
    clips/<record>/     past.mp4 / future.mp4 of one record (`RunDir.clip_dir`)
    build_options.json  the options of the first build (rerun check, ``--force``)
    usage.jsonl         model usage per model-backed build, one line per run
    llm_cache.sqlite    answered model calls (a cache: kept when a run starts over)

Only this module spells these names; everything else asks a `RunDir` for its paths.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

RECORDS_NAME = "records.jsonl"
FAILURES_NAME = "failures.jsonl"
STATE_NAME = "state.sqlite"
CLIPS_NAME = "clips"
BUILD_OPTIONS_NAME = "build_options.json"
USAGE_NAME = "usage.jsonl"
LLM_CACHE_NAME = "llm_cache.sqlite"

BUILD_OUTPUTS: tuple[str, ...] = (
    RECORDS_NAME, FAILURES_NAME, STATE_NAME, f"{STATE_NAME}-journal", f"{STATE_NAME}-wal",
    f"{STATE_NAME}-shm", BUILD_OPTIONS_NAME, USAGE_NAME)
"""Files a build writes that a start-over (``--force``) deletes, besides ``clips/``."""


def safe_name(text: str) -> str:
    """A file-system-safe, collision-free folder name for an id.

    Keeps letters (any script), digits and ``-_.``, replaces the rest with ``_``, cuts to
    80 characters and appends 8 hex digits of the id's SHA-1, so ``a#0`` and ``a_0`` differ
    and no name is ``.``, ``..`` or holds a path separator.
    """
    cleaned = "".join(c if (c.isalnum() or c in "-_.") else "_" for c in text).strip(".")
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned[:80]}-{digest}"


@dataclass(frozen=True)
class RunDir:
    """The paths of one run directory (nothing is created or read here).

    Args:
        root: the run directory.
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def records(self) -> Path:
        return self.root / RECORDS_NAME

    @property
    def failures(self) -> Path:
        return self.root / FAILURES_NAME

    @property
    def state(self) -> Path:
        return self.root / STATE_NAME

    @property
    def clips(self) -> Path:
        return self.root / CLIPS_NAME

    @property
    def build_options(self) -> Path:
        return self.root / BUILD_OPTIONS_NAME

    @property
    def usage(self) -> Path:
        return self.root / USAGE_NAME

    @property
    def llm_cache(self) -> Path:
        return self.root / LLM_CACHE_NAME

    def clip_dir(self, record_id: str) -> Path:
        """Folder of one record's clips, named safely whatever the id holds."""
        return self.clips / safe_name(record_id)

    def relative(self, path: str | Path) -> str:
        """``path`` (inside the run) relative to the run directory, POSIX separators.

        Raises:
            ValueError: when ``path`` is not inside the run directory.
        """
        return Path(path).relative_to(self.root).as_posix()


class UsageLine(BaseModel):
    """One line of ``usage.jsonl``: what one model-backed build used (no keys, no URLs).

    Attributes:
        time: when the build ended (``%Y-%m-%dT%H:%M:%S%z``).
        wall_s: seconds the build took.
        records_new: records it wrote.
        roles: role -> counters of `nextevent.llm.usage.RoleUsage` (``requests``,
            ``answers``, ``cache_hits``, ``prompt_tokens``, ``completion_tokens``, ...).
    """

    model_config = ConfigDict(extra="allow")

    time: str
    wall_s: float
    records_new: int
    roles: dict[str, dict[str, int]]


def append_usage(run: RunDir, line: UsageLine) -> Path:
    """Append ``line`` to the run's ``usage.jsonl`` (flushed); returns the file."""
    with run.usage.open("a", encoding="utf-8") as f:
        f.write(json.dumps(line.model_dump(mode="json")) + "\n")
    return run.usage


# ---------------------------------------------------------------- `nextevent bench eval`

RESULTS_NAME = "results.json"
RESPONSES_NAME = "responses.jsonl"


@dataclass(frozen=True)
class EvalDir:
    """The paths of one ``nextevent bench eval --out`` folder (nothing created or read)::

        results.json      `EvalResults`: accuracy overall and per question type
        responses.jsonl   one `ResponseLine` per item answered, append-only (resumes)
        llm_cache.sqlite  answered model calls (`nextevent.llm.cache.CallCache`)

    Args:
        root: the output folder.
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def results(self) -> Path:
        return self.root / RESULTS_NAME

    @property
    def responses(self) -> Path:
        return self.root / RESPONSES_NAME

    @property
    def llm_cache(self) -> Path:
        return self.root / LLM_CACHE_NAME


class AccuracyFigures(BaseModel):
    """Accuracy of a set of items: fraction right in [0, 1], its bootstrap 95% interval
    (fractions) and the item count (`nextevent.bench.stats.accuracy_summary`)."""

    accuracy: float
    ci95: tuple[float, float]
    n: int


class ConsistencyFigures(BaseModel):
    """Think-answer consistency of a set of items (`nextevent.rewards.consistency`).

    Attributes:
        rate: fraction of the judged items whose ``<answer>`` letter is the option the
            thinking concludes, in [0, 1] (0.0 when none was judged).
        ci95: its bootstrap 95% interval over the judged items (fractions;
            `nextevent.bench.stats.accuracy_summary`, as for accuracy).
        n: judged items: an ``<answer>`` letter and a thinking that names an option.
        no_conclusion: items with an ``<answer>`` letter whose thinking names no option
            (or that have no thinking); neither consistent nor inconsistent.
        no_answer: items without an ``<answer>`` letter; neither consistent nor
            inconsistent.
        judge_failed: items the judge gave no usable answer for (listed in
            ``failures.jsonl``, asked again on a rerun); not judged.
    """

    rate: float
    ci95: tuple[float, float]
    n: int
    no_conclusion: int
    no_answer: int
    judge_failed: int = 0


class ConsistencyResults(BaseModel):
    """The ``consistency`` block of ``results.json`` (reasoning mode only).

    Attributes:
        method: who read the thinking's conclusion: ``rule`` (the last option it names)
            or ``judge`` (the configured judge model).
        judge_model: the judge's model name (None for ``rule``).
        overall: over every answered item.
        by_type: question type -> its figures, types sorted by name.
    """

    method: str
    judge_model: str | None = None
    overall: ConsistencyFigures
    by_type: dict[str, ConsistencyFigures]


class EvalResults(BaseModel):
    """``results.json`` of `nextevent bench eval`, written as
    ``json.dumps(model_dump(mode="json"), indent=2)`` (keys in this order).

    Attributes:
        overall: accuracy over every item.
        by_type: question type -> its accuracy, types sorted by name.
        model: the evaluated model's name.
        mode: the prompt mode (``direct`` or ``reasoning``).
        text_only: whether the past caption was sent instead of the video.
        no_answer: responses that named no option (scored wrong).
        failed: items whose call failed for good (listed in the folder's
            ``failures.jsonl``); left out of the accuracy and asked again on a rerun.
        consistency: think-answer consistency, overall and per question type
            (`ConsistencyResults`); reasoning mode only, left out of the file (None)
            in direct mode.
    """

    overall: AccuracyFigures
    by_type: dict[str, AccuracyFigures]
    model: str
    mode: str
    text_only: bool
    no_answer: int
    failed: int = 0
    consistency: ConsistencyResults | None = None


class ResponseLine(BaseModel):
    """One line of ``responses.jsonl`` (`nextevent bench eval`'s raw log), written as
    ``json.dumps(model_dump(mode="json"))`` (keys in this order).

    Attributes:
        id, question_type: the item's.
        model, mode, text_only: what was asked (a rerun reuses a line with the same
            ``id``, ``model``, ``mode``, ``text_only`` and ``prompt_version``).
        response: the model's answer text; reasoning: its separate reasoning text, if any.
        finish_reason: why generation stopped (``stop``, ``length``, ...), if reported.
        choice: the option letter read from the response (None: no answer).
        answer: the right letter; correct: ``choice == answer``.
        prompt_version: `nextevent.bench.evaluate.PROMPT_VERSION` of the prompt asked
            (None in logs written before it was recorded: asked again).
    """

    model_config = ConfigDict(extra="allow")

    id: str
    question_type: str
    model: str
    mode: str
    text_only: bool
    response: str
    reasoning: str | None = None
    finish_reason: str | None = None
    choice: str | None = None
    answer: str
    correct: bool
    prompt_version: str | None = None


# ------------------------------------------- files beside a `bench build` / `t3 synth` output


def beside(out: str | Path, suffix: str) -> Path:
    """``<folder of out>/<stem of out><suffix>``: ``beside("b/bench.jsonl", ".x.json")`` is
    ``b/bench.x.json``."""
    out = Path(out)
    return out.parent / (out.stem + suffix)


def failed_attempt(out: str | Path, sidecar: Path) -> Path:
    """Where a failed attempt writes the file ``sidecar`` beside ``out`` would be, so that
    an earlier good ``out`` keeps the files that describe it:
    ``failed_attempt("b/bench.jsonl", Path("b/bench.quality.json"))`` is
    ``b/bench.failed.quality.json``."""
    out = Path(out)
    return beside(out, ".failed" + sidecar.name.removeprefix(out.stem))


def failures_beside(out: str | Path) -> Path:
    """``<out>.failures.jsonl``: one `nextevent.records.Failure` a line, written by
    ``bench build`` (every item left out) and ``t3 synth`` (every event or video
    dropped)."""
    return beside(out, ".failures.jsonl")


def quality_beside(out: str | Path) -> Path:
    """``<out>.quality.json``: ``bench build``'s quality checks and gate report."""
    return beside(out, ".quality.json")


def summary_beside(out: str | Path) -> Path:
    """``<out>.summary.json``: ``t3 synth``'s counts and the gate's audit."""
    return beside(out, ".summary.json")


def blind_report_beside(out: str | Path) -> Path:
    """``<out>.blind.json``: ``bench filter``'s blind accuracy before and after."""
    return beside(out, ".blind.json")


def call_cache_beside(out: str | Path) -> Path:
    """``<out>.cache.sqlite``: the model call cache of ``bench build --cf-base-url``,
    ``bench filter`` and the audits' model baseline."""
    return beside(out, ".cache.sqlite")


def audit_report_beside(source: str | Path) -> Path:
    """``<source>.audit.json``: the default report of ``bench audit`` / ``t3 audit``."""
    return beside(source, ".audit.json")


LOCK_NAME = ".nextevent.lock"
QUARANTINE_NAME = "records.quarantine.jsonl"
"""Lines of ``records.jsonl`` that did not read back, moved aside (with their numbers)."""


def quarantine_path(run: RunDir) -> Path:
    """Where unreadable ``records.jsonl`` lines are moved (`nextevent.store.RunStore`)."""
    return run.root / QUARANTINE_NAME


class RunLock:
    """One writer per run directory: an exclusive ``flock`` on ``RUN_DIR/.nextevent.lock``.

    The kernel drops the lock when its holder dies (SIGKILL included), so it is never
    stale; the holder's pid and command are written into the file for the message a
    second writer gets. Reading commands (report) do not take it. A ``bench eval``
    output folder (`EvalDir`) takes the same lock, so two evaluations never append to
    one ``responses.jsonl``.

    Args:
        run: the run directory or eval folder (created if missing).
        command: what holds it (``build``, ``import v1``, ``export``, ``bench eval``),
            for messages.

    Raises:
        NextEventError: stage ``lock``, on entering, when another process holds the lock
            (naming its pid and command); stage ``store`` when the lock file cannot be
            created (read-only or missing folder).
    """

    def __init__(self, run: RunDir | EvalDir, command: str) -> None:
        self.path = run.root / LOCK_NAME
        self.command = command
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        import fcntl
        import os

        from nextevent.records import NextEventError

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            folder = self.path.parent
            why = ("it is a file, not a folder" if folder.exists() and not folder.is_dir()
                   else err.strerror or str(err))
            raise NextEventError(
                "store", f"cannot write in {folder}: {why}", "check that the folder "
                "exists, is writable and has free space, or pick another --out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            pid, _, what = holder.partition(" ")
            raise NextEventError(
                "lock", f"{self.path.parent} is being written by another nextevent "
                f"process (pid {pid}{', ' + what if what else ''})",
                "wait for it to end (or stop it), then rerun; or pick another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.command}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        import fcntl
        import os

        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def held_by_other(run: RunDir) -> bool:
    """True when another process holds the run's `RunLock` now (a reader's check)."""
    import fcntl
    import os

    path = run.root / LOCK_NAME
    if not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def clean_leftovers(run: RunDir) -> list[Path]:
    """Delete what dead writers left half-written: ``.*.part`` clips under ``clips/`` and
    ``.*.tmp`` files of atomic writes in the run directory. Call it with the lock held.

    Returns:
        The files removed.
    """
    removed: list[Path] = []
    patterns = [(run.clips, "**/.*.part"), (run.clips, "**/.*.tmp"), (run.root, ".*.tmp")]
    for folder, pattern in patterns:
        if not folder.is_dir():
            continue
        for path in folder.glob(pattern):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed
