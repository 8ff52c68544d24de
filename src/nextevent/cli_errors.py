"""How every command group prints: one console, `NextEventError` reports, output folders,
and a help layout that never cuts an option name.

`console` is the one printer of the command line. Text goes out exactly as given: rich
markup is off (so ``pip install 'nextevent[rewards]'`` keeps its ``[rewards]`` and a path
such as ``shoot[day1]/a.mp4`` prints as it is), emoji codes are off, lines are never
wrapped (soft wrap: paths are copied by users), and when stdout is not a terminal (piped,
redirected, captured) the width is unlimited, so tables and summaries never break a path
either. Colour comes from styles (`styled`), never from markup in a string.

Exit codes: 2 for bad input that stopped a command (`fail`), 1 for a command that ran but
produced nothing usable (every video failed, an export of 0 samples).

A fault of the files or the disk that escapes a command (`OSError`: a full disk, a
read-only ``--out``, a path through a file, a file it may not read; a `RecursionError` of
JSON nested too deep; a `UnicodeDecodeError` of a file that is not UTF-8) is printed as one
error line naming the path and what to do (`environment_error`), never as a traceback:
`Command` and `Group` catch it around every command.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import typer
from rich.console import Console, ConsoleDimensions
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

from nextevent.records import NextEventError

PIPED_WIDTH = 100_000
"""Console width (characters) when stdout is not a terminal: wide enough never to wrap."""


class Printer(Console):
    """A rich `Console` that prints text literally and never wraps a line (module doc).

    Keyword arguments are those of `rich.console.Console` (``file``, ``force_terminal``,
    ...); markup, emoji, highlighting and soft wrap are fixed.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(markup=False, emoji=False, highlight=False, soft_wrap=True, **kwargs)

    @property
    def size(self) -> ConsoleDimensions:
        """The terminal's size, or `PIPED_WIDTH` columns when not writing to a terminal
        (checked at each print, so a console made at import follows a later redirect)."""
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        return size if self.is_terminal else ConsoleDimensions(PIPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


console = Printer()


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line of literal text from parts: ``"text"`` or ``("text", "style")``.

    Example: ``console.print(styled(("skipped", "yellow"), f" {path}"))``.
    """
    return Text.assemble(*parts)


def fail(err: NextEventError, code: int = 2) -> NoReturn:
    """Print ``err`` with its stage and hint, then exit with ``code`` (2: bad input; 1: a
    command that ran but produced nothing usable).

    Raises:
        typer.Exit: always.
    """
    console.print(styled(("error", "red"), f" ({err.stage}): {err}\n", ("hint", "yellow"),
                         f": {err.hint}"))
    raise typer.Exit(code) from err


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (links and ``..`` seen through); a path that
    does not exist yet is compared by its resolved name."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _run_files(root: Path) -> list[Path]:
    """The files a run directory holds of its own (`nextevent.rundir`), which no command
    reading the run may write over."""
    from nextevent.rundir import (
        BUILD_OUTPUTS,
        LLM_CACHE_NAME,
        LOCK_NAME,
        QUARANTINE_NAME,
    )

    return [root / n for n in (*BUILD_OUTPUTS, LLM_CACHE_NAME, LOCK_NAME, QUARANTINE_NAME)]


def refuse_input_as_out(out: Path, inputs: Iterable[Path | None], *, option: str = "--out",
                        also: Sequence[Path] = ()) -> None:
    """Stop (exit 2, one line) when ``out``, or a file written beside it (``also``: its
    .failures.jsonl, .quality.json, ...), is the same file as an input: writing it would
    destroy the input.

    Args:
        out: the output path given as ``option``.
        inputs: the input files; a folder stands for a run directory: its own files
            (records.jsonl, failures.jsonl, state.sqlite, ...) and anything under clips/.
            None entries (options not given) are skipped.
        option: the option that named ``out``, for the message.
        also: other files the command writes from ``out``.

    Raises:
        typer.Exit: (via `fail`, stage ``input``) on such a clash.
    """
    from nextevent.rundir import RunDir

    for src in (p for p in inputs if p is not None):
        run = src.is_dir()
        sources = _run_files(src) if run else [src]
        for written in (out, *also):
            hit = next((s for s in sources if _same_file(written, s)), None)
            if hit is None and run and written.resolve().is_relative_to(
                    RunDir(src).clips.resolve()):
                hit = RunDir(src).clips
            if hit is None:
                continue
            what = "" if written == out else f" writes {written}, which"
            fail(NextEventError(
                "input", f"{option} {out}{what} is the same file as the input {hit}",
                f"pass another {option} path; an input is never written over"))


def output_dir(path: Path, option: str = "--out") -> Path:
    """Make sure ``path`` is a folder a command can write into, creating it (and its
    parents) if needed; else print one error line naming the path and exit 2.

    Args:
        path: the folder given on the command line.
        option: the option that named it, for the message.

    Returns:
        ``path``, now an existing folder.

    Raises:
        typer.Exit: (via `fail`, stage ``output``) when ``path`` or a folder above it is a
            file, or the folder cannot be created (permissions, read-only file system).
    """
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        where = "is a file" if blocker == path else f"cannot be created: {blocker} is a file"
        fail(NextEventError(
            "output", f"{option} {path} {where}, not a folder",
            f"pass a folder to {option} (a new one is created), or move {blocker} away"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        fail(NextEventError(
            "output", f"{option} {path} cannot be created: {err.strerror or err}",
            f"pass a folder you can write to as {option}"))
    return path


# ----------------------------------------------------------------------------- help
_NB_HYPHEN = "\u2011"  # a hyphen click's text wrapper does not break at


class HelpFormatter(typer.Context.formatter_class):  # click's (Typer vendors click)
    """Click's help layout, except that a line never breaks inside a word: an option name
    in a help text (``--skip-stage``) or a path stays whole, while lines still wrap at
    spaces to the terminal width (``COLUMNS``). Option names in the options column are never
    cut either (rich's help tables cut them to ``--splits-per-vi…`` in 80 columns, which is
    why the CLI uses click's layout)."""

    def write_text(self, text: str) -> None:
        """Write a wrapped paragraph (see the class doc)."""
        start = len(self.buffer)
        super().write_text(text.replace("-", _NB_HYPHEN))
        self._restore(start)

    def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30,
                 col_spacing: int = 2) -> None:
        """Write a definition list (options, commands) (see the class doc)."""
        start = len(self.buffer)
        super().write_dl([(a.replace("-", _NB_HYPHEN), b.replace("-", _NB_HYPHEN))
                          for a, b in rows], col_max, col_spacing)
        self._restore(start)

    def _restore(self, start: int) -> None:
        self.buffer[start:] = [s.replace(_NB_HYPHEN, "-") for s in self.buffer[start:]]


class HelpContext(typer.Context):
    """A click context whose help uses `HelpFormatter`."""

    formatter_class = HelpFormatter


# ----------------------------------------------------------------------------- faults
_Context = typer.Context.__mro__[1]  # click's Context as Typer vendors it
_OUT_PARAMS = ("out", "out_dir", "output")
_BAD_PATH = (errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM,
             errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP)
"""Errnos of a path the user gave wrongly: exit 2 (bad input). Others (a full disk, a
read-only file system, an I/O error) exit 1."""


def _out_of(params: dict[str, Any] | None) -> str | None:
    """The ``--out`` the command was given, when it has one."""
    for name in _OUT_PARAMS:
        value = (params or {}).get(name)
        if value is not None:
            return str(value)
    return None


def environment_error(err: BaseException, params: dict[str, Any] | None = None
                      ) -> tuple[NextEventError, int]:
    """The error line for a file or disk fault that escaped a command, and its exit code.

    Args:
        err: an `OSError`, `RecursionError`, `UnicodeDecodeError` or
            `sqlite3.OperationalError` (a state or cache database that cannot be written).
        params: the command's parameters (to name its ``--out`` when the error names no
            file, as a write that fills the disk does).

    Returns:
        ``(error, code)``: the `NextEventError` naming the path (``err.filename``, else
        ``--out``) and the fix; ``code`` 2 for a path given wrongly (missing, not a folder,
        a folder, no permission), 1 for a disk that is full, read-only or failing.
    """
    out = _out_of(params)
    if isinstance(err, RecursionError):
        return NextEventError(
            "input", "an input nests JSON arrays or objects too deeply to read "
            "(Python's recursion limit)", "check the files given to this command; "
            "each must be one written by nextevent or the dataset's release"), 2
    if isinstance(err, UnicodeDecodeError):
        return NextEventError(
            "input", f"an input file is not UTF-8 text ({err.reason} at byte {err.start})",
            "check the files given to this command: they must be UTF-8 text (JSON, JSONL, "
            "YAML)"), 2
    if isinstance(err, sqlite3.OperationalError):
        return _database_error(err, out)
    assert isinstance(err, OSError)
    path = _real_name(err.filename) if err.filename is not None else out
    where = f" {path}" if path is not None else ""
    code = err.errno
    why = err.strerror or str(err)
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return NextEventError(
            "output", f"no space left on the disk of{where or ' the output'} ({why})",
            "free space on that disk, or pass an --out folder on a disk with room, and run "
            "the command again (finished work is kept)"), 1
    if code == errno.EROFS:
        return NextEventError(
            "output", f"cannot write{where}: read-only file system",
            "pass an --out folder on a writable disk"), 1
    if code in (errno.EACCES, errno.EPERM):
        return NextEventError(
            "file", f"permission denied:{where}",
            f"check the permissions of{where or ' the files given'} (an input must be "
            "readable, an --out folder writable), or pass another path"), 2
    if code == errno.ENOTDIR:
        return NextEventError(
            "file", f"{(path or 'a path')} cannot be used: a part of it is a file, not a "
            "folder", "pass a folder (a new --out folder is created), or move the file "
            "away"), 2
    if code == errno.EEXIST:
        return NextEventError(
            "file", f"{path or 'a path'} exists and is not a folder, so nothing can be "
            "written under it", "pass another --out, or move that file away"), 2
    if code == errno.EISDIR:
        return NextEventError(
            "file", f"{path or 'a path'} is a folder, not a file",
            "pass the file itself (or another --out name)"), 2
    if code == errno.ENOENT:
        return NextEventError(
            "file", f"{path or 'a file'} does not exist",
            "check the path (a folder it should be written into must exist, or be "
            "created by the command)"), 2
    return NextEventError(
        "file", f"cannot use{where}: {why}",
        "check the disk and the path, then run the command again"), (
            2 if code in _BAD_PATH else 1)


_TMP_NAME = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}\.tmp$")
"""The temporary name an atomic write (`nextevent.atomic.atomic_path`) writes first."""


def _real_name(filename: Any) -> str:
    """The file a user knows: an atomic write's temporary name as the file it replaces."""
    path = Path(str(filename))
    match = _TMP_NAME.match(path.name)
    return str(path.with_name(match["name"])) if match else str(filename)


def _database_error(err: sqlite3.OperationalError, out: str | None
                    ) -> tuple[NextEventError, int]:
    """A run's or a cache's SQLite file that cannot be opened or written (the folder is
    read-only, the disk is full): exit 1 naming ``--out``."""
    where = f" under {out}" if out is not None else ""
    text = str(err)
    if "full" in text:
        hint = "free space on that disk, or pass an --out folder on a disk with room"
    else:
        hint = "pass an --out folder you can write to (not on a read-only disk)"
    return NextEventError("output", f"cannot write the state database{where}: {text}",
                          hint), 1


def _deepest_params(tb: TracebackType | None) -> dict[str, Any] | None:
    """The parameters of the innermost click context in a traceback (the command that
    failed; a group only sees its own)."""
    params = None
    while tb is not None:
        local = tb.tb_frame.f_locals
        for name in ("ctx", "sub_ctx", "self"):  # click's invoke frames hold them
            if isinstance(local.get(name), _Context):
                params = local[name].params
        tb = tb.tb_next
    return params


def _guarded(invoke: Any, ctx: typer.Context) -> Any:
    """Run ``invoke(ctx)``; a file, disk, recursion or decoding fault becomes one error line
    (`environment_error`) and the exit code, never a traceback; so does a `NextEventError`
    that no command caught (exit code 2).

    Raises:
        typer.Exit: for such a fault (1 or 2).
        BrokenPipeError: as it was (stdout closed; typer exits 1 quietly).
    """
    try:
        return invoke(ctx)
    except NextEventError as err:  # raised below a command that does not report its own
        fail(err, 2)
    except (OSError, RecursionError, UnicodeDecodeError, sqlite3.OperationalError) as err:
        if isinstance(err, BrokenPipeError):  # stdout closed (| head): typer exits 1
            raise
        params = _deepest_params(err.__traceback__) or ctx.params
        error, code = environment_error(err, params)
        fail(error, code)


class Command(TyperCommand):
    """A Typer command whose ``--help`` uses `HelpFormatter` and whose file and disk
    faults print one error line (`environment_error`) (pass as ``cls=``)."""

    context_class = HelpContext

    def invoke(self, ctx: typer.Context) -> Any:
        """Run the command (see the class doc).

        Raises:
            typer.Exit: for a file or disk fault, after its error line.
        """
        return _guarded(super().invoke, ctx)


class Group(TyperGroup):
    """A Typer group whose ``--help`` uses `HelpFormatter`; a file or disk fault of any
    command under it prints one error line (`environment_error`) (pass as ``cls=``)."""

    context_class = HelpContext

    def invoke(self, ctx: typer.Context) -> Any:
        """Run the group's command (see the class doc).

        Raises:
            typer.Exit: for a file or disk fault, after its error line.
        """
        return _guarded(super().invoke, ctx)
