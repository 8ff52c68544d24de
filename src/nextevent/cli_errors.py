"""How every command group reports a `NextEventError`: what failed, the hint, exit code 2."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from nextevent.records import NextEventError

console = Console()


def fail(err: NextEventError) -> NoReturn:
    """Print ``err`` with its stage and hint, then exit with status 2 (bad input).

    Lines are not wrapped: messages carry file paths that users copy.
    """
    console.print(f"[red]error[/red] ({err.stage}): {err}\n[yellow]hint[/yellow]: {err.hint}",
                  soft_wrap=True)
    raise typer.Exit(2) from err
