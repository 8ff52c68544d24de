"""How often a long command prints a progress line where no live bar is drawn."""

from __future__ import annotations

import os

HEARTBEAT_S = float(os.environ.get("NEXTEVENT_HEARTBEAT_S", "30"))
"""Seconds between progress lines when the output is not a terminal (a log file, CI), so
a stall shows; ``NEXTEVENT_HEARTBEAT_S`` sets it (build, bench eval, bench filter)."""
