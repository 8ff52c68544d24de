"""Checks of `nextevent build`'s numeric options, made before anything is read or written."""

from __future__ import annotations

import math

import typer


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
