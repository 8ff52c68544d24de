"""Checks of command-line options, made before anything is read or written: `nextevent
build`'s numeric options, and configs built from options (`checked`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import typer


def checked(make: Callable[..., Any], *args: Any, options: dict[str, str] | None = None,
            **kwargs: Any) -> Any:
    """``make(*args, **kwargs)`` (a model or role config); an out-of-range value becomes
    click's one-line usage error naming the option (exit 2), never pydantic's dump.

    Args:
        options: field name -> option, where it is not ``--<field with dashes>``.

    Raises:
        typer.BadParameter: for the first invalid field.
    """
    from pydantic import ValidationError

    try:
        return make(*args, **kwargs)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        field = str(first["loc"][-1]) if first.get("loc") else ""
        option = (options or {}).get(field, "--" + field.replace("_", "-"))
        raise typer.BadParameter(f"{first.get('input')!r}: {first['msg']}",
                                 param_hint=f"'{option}'") from err


def check_seconds(option: str, value: float) -> None:
    """Refuse a planner duration that is negative or not finite (NaN would also be
    stored as invalid JSON in build_options.json, and never equal itself on a rerun).

    Raises:
        typer.BadParameter: naming the option and what it takes.
    """
    if not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"{value} is not a duration; give seconds >= 0, e.g. 1.5",
                                 param_hint=f"'{option}'")


def check_clip_options(cut: str, fps: float | None, max_pixels: int | None) -> None:
    """Refuse a bad ``--clip-fps`` / ``--clip-max-pixels``, or either with ``--cut fast``.

    Raises:
        typer.BadParameter: naming the option and what it takes.
    """
    from nextevent.media.cut import MIN_CLIP_PIXELS

    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise typer.BadParameter(f"{fps} is not a frame rate; give frames per second > 0, "
                                 "e.g. 2", param_hint="'--clip-fps'")
    if max_pixels is not None and max_pixels < MIN_CLIP_PIXELS:
        raise typer.BadParameter(
            f"{max_pixels} pixels per frame is too small; give at least {MIN_CLIP_PIXELS} "
            "(64x64), e.g. 16384 (V1's LLaMA-Factory setting)",
            param_hint="'--clip-max-pixels'")
    if cut == "fast" and (fps is not None or max_pixels is not None):
        raise typer.BadParameter(
            "fast copies the source's packets, so it cannot change the frame rate or size "
            "that --clip-fps/--clip-max-pixels ask for; use --cut smart or accurate (both "
            "re-encode the clips then), or drop those options", param_hint="'--cut'")
