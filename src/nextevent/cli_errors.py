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
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
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


class Command(TyperCommand):
    """A Typer command whose ``--help`` uses `HelpFormatter` (pass as ``cls=``)."""

    context_class = HelpContext


class Group(TyperGroup):
    """A Typer group whose ``--help`` uses `HelpFormatter` (pass as ``cls=``)."""

    context_class = HelpContext
