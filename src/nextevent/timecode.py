"""Timecodes as V1 writes them: ``MM:SS.ss`` (minutes, seconds, centiseconds).

V1-33K (Wang et al., arXiv 2505.22457; data construction step 5, temporal grounding and
video splitting) stores a split time as ``"00:13.30"``; the vision prompts of the pipeline
show frame times and durations the same way, and the grounder may answer in it. Times
are seconds (float) everywhere else in nextevent; this module is where they become text
and back.
"""

from __future__ import annotations

import math
import re

_TIME = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")


def format_timestamp(seconds: float) -> str:
    """``seconds`` as ``MM:SS.ss``, rounded to the centisecond; minutes may exceed 59
    (``3725.5`` -> ``"62:05.50"``), so the text sorts and parses back without hours.

    Args:
        seconds: a time in seconds, 0 or more.

    Returns:
        e.g. ``"00:13.30"`` for 13.3 s, ``"01:00.00"`` for 59.999 s.

    Raises:
        ValueError: for a negative, infinite or NaN time.
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"time {seconds} s is not a finite time of 0 s or more")
    centis = round(seconds * 100)
    minutes, centis = divmod(centis, 6000)
    return f"{minutes:02d}:{centis // 100:02d}.{centis % 100:02d}"


def parse_timestamp(text: str) -> float:
    """A time written as ``MM:SS.ss``, ``HH:MM:SS.ss`` or plain seconds, in seconds.

    Surrounding white space is ignored; the fractional part may have any number of
    digits (``"01:12.4"`` is 72.4 s) and the fields are not range-checked
    (``"00:75"`` is 75 s), as model answers and hand-written annotations vary.

    Args:
        text: e.g. ``"00:13.30"`` (13.3 s), ``"1:02:03.5"`` (3723.5 s) or ``"7.25"``.

    Returns:
        The time in seconds, 0 or more.

    Raises:
        ValueError: when ``text`` is none of these forms (the message quotes it and names
            ``MM:SS.ss``), or plain seconds that are negative, infinite or NaN.
    """
    text = text.strip()
    match = _TIME.match(text)
    if match:
        hours, minutes, secs = match.groups()
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"timestamp {text!r} is not MM:SS.ss") from None
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"timestamp {text!r} is not a time")
    return value
