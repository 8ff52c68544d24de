"""Split planner: choose where to cut a video into a past and a future segment.

Without a model, the causal turning points of V1's causal analysis (Wang et al., arXiv
2505.22457, Sec. 3, step 3: a split "between Scene X and Scene Y") are approximated by the
boundaries between consecutive annotated events. The rule, in order:

1. **Candidates**: one per pair of consecutive events ``(i, i+1)``; the event boundary is
   the start of event ``i+1`` (the future begins when the next event begins).
2. **Snapping**: the boundary moves to the nearest shot boundary within
   ``snap_tolerance_s`` (a cut on a shot change is invisible in both clips). In fast cut
   mode only keyframes can be cut without re-encoding, so the boundary moves to a keyframe
   within tolerance (a shot boundary that is also a keyframe is preferred) and candidates
   with none are dropped. Otherwise the event boundary itself is used.
3. **Constraints**: the split point leaves at least ``min_past_s`` seconds and
   ``min_past_events`` events before it, ``min_future_s`` seconds and ``min_future_events``
   events after it, and lies strictly inside event ``i``'s start and event ``i+1``'s end.
4. **Choice**: up to ``splits_per_video`` distinct split points are drawn without
   replacement by a RNG seeded with ``(seed, video_id)``, so a video's splits do not depend
   on the order or the number of other videos in the run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from nextevent.records import Event, NextEventError, SnapKind, SplitPlan

# Two times closer than this (s) are the same instant: a keyframe and a shot boundary
# detected on the same frame at 25-60 fps differ by well under a frame.
SAME_INSTANT_S = 0.02


@dataclass(frozen=True)
class PlannerConfig:
    """Constraints of the split planner (all times in seconds).

    Attributes:
        min_past_s: shortest past segment allowed.
        min_future_s: shortest future segment allowed.
        min_past_events: fewest events in the past segment.
        min_future_events: fewest events in the future segment.
        snap_tolerance_s: how far a split may move from the event boundary to a shot
            boundary or keyframe.
        splits_per_video: most split points per video (each gives one record).
        seed: seed of the choice among valid candidates.
    """

    min_past_s: float = 1.0
    min_future_s: float = 1.0
    min_past_events: int = 1
    min_future_events: int = 1
    snap_tolerance_s: float = 0.5
    splits_per_video: int = 1
    seed: int = 0


def _nearest(target: float, points: list[float], tolerance: float) -> float | None:
    best = min(points, key=lambda p: abs(p - target), default=None)
    if best is None or abs(best - target) > tolerance:
        return None
    return best


def _snap(
    boundary: float,
    shots_s: list[float],
    keyframes_s: list[float] | None,
    tolerance: float,
) -> tuple[float, SnapKind] | None:
    """Where a boundary is cut and what it sits on; None if fast mode cannot cut near it."""
    if keyframes_s is None:  # accurate cut: any frame can be the first future frame
        shot = _nearest(boundary, shots_s, tolerance)
        return (shot, "shot_boundary") if shot is not None else (boundary, "event_boundary")
    on_keyframe = [s for s in shots_s if _nearest(s, keyframes_s, SAME_INSTANT_S) is not None]
    shot = _nearest(boundary, on_keyframe, tolerance)
    if shot is not None:
        return shot, "shot_boundary"
    key = _nearest(boundary, [k for k in keyframes_s if k > 0], tolerance)
    return (key, "keyframe") if key is not None else None


def snap_split(
    boundary_s: float,
    shots_s: list[float],
    keyframes_s: list[float] | None = None,
    tolerance_s: float = 0.5,
) -> tuple[float, SnapKind] | None:
    """Move one split point onto a shot boundary (or keyframe), by the rule of step 2 above.

    Args:
        boundary_s: the unsnapped split point in seconds (an event boundary, or a time a
            grounding model returned).
        shots_s: shot boundary times in seconds.
        keyframes_s: keyframe times in seconds, only for the fast cut mode.
        tolerance_s: how far, in seconds, the point may move.

    Returns:
        ``(split_s, snapped_to)``; ``(boundary_s, "event_boundary")`` when nothing is
        within tolerance in accurate mode; None when the fast mode has no keyframe near.
    """
    return _snap(boundary_s, sorted(shots_s),
                 sorted(keyframes_s) if keyframes_s is not None else None, tolerance_s)


def plan_splits(
    video_id: str,
    events: list[Event],
    duration_s: float,
    *,
    shots_s: list[float] | None = None,
    keyframes_s: list[float] | None = None,
    config: PlannerConfig | None = None,
) -> list[SplitPlan]:
    """Plan up to ``config.splits_per_video`` split points for one video.

    Args:
        video_id: the video's id (seeds the choice).
        events: timed events sorted by start, as the importers' cleaning leaves them.
        duration_s: duration of the video in seconds (from the probe).
        shots_s: shot boundary times in seconds (see `nextevent.media.shots`).
        keyframes_s: keyframe times in seconds; give them only for the fast cut mode,
            where splits must sit on keyframes.
        config: planner constraints; defaults to `PlannerConfig()`.

    Returns:
        Split plans sorted by time, ``split_index`` numbered from 0 in that order.

    Raises:
        NextEventError: (stage ``plan``) when events are untimed, fewer than two, or no
            candidate satisfies the constraints; the message says which constraint.
    """
    cfg = config or PlannerConfig()
    if len(events) < 2:
        raise NextEventError(
            "plan", f"video {video_id} has {len(events)} event(s); a split needs at least 2",
            "annotate at least two events per video",
        )
    if any(not e.timed for e in events):
        raise NextEventError(
            "plan", f"video {video_id} has events without start/end times",
            "give start and end seconds for every event (V1 scenes carry no times)",
        )
    shots = sorted(shots_s or [])
    keys = sorted(keyframes_s) if keyframes_s is not None else None
    valid: dict[float, SplitPlan] = {}
    rejected: list[str] = []
    for i in range(len(events) - 1):
        past_n, future_n = i + 1, len(events) - i - 1
        boundary = float(events[i + 1].start_s)  # type: ignore[arg-type]
        snapped = _snap(boundary, shots, keys, cfg.snap_tolerance_s)
        if snapped is None:
            rejected.append(f"{boundary:.2f}s: no keyframe within {cfg.snap_tolerance_s}s")
            continue
        split, kind = snapped
        why = _violation(split, i, events, duration_s, past_n, future_n, cfg)
        if why:
            rejected.append(f"{boundary:.2f}s: {why}")
            continue
        key = round(split, 3)
        if key in valid:  # two boundaries snapped onto the same shot change
            continue
        moved = f", snapped {abs(split - boundary):.2f}s to a {kind.replace('_', ' ')}"
        valid[key] = SplitPlan(
            split_s=split, split_index=0, last_past_event=i, event_boundary_s=boundary,
            snapped_to=kind,
            reason=(f"boundary between event {i + 1} and event {i + 2} at {boundary:.2f}s"
                    + (moved if kind != "event_boundary" else "")),
        )
    if not valid:
        raise NextEventError(
            "plan", f"video {video_id}: no split point satisfies the constraints ("
            + "; ".join(rejected) + ")",
            # only the fast cut ties splits to keyframes; smart and accurate plan alike
            "lower --min-past/--min-future/--min-events"
            + (", or use --cut accurate (its splits need not sit on keyframes)"
               if keys is not None else ""),
        )
    rng = random.Random(f"{cfg.seed}:{video_id}")
    plans = list(valid.values())
    chosen = plans if len(plans) <= cfg.splits_per_video else rng.sample(
        plans, cfg.splits_per_video)
    chosen.sort(key=lambda p: p.split_s)
    return [p.model_copy(update={"split_index": k}) for k, p in enumerate(chosen)]


def _violation(
    split: float, i: int, events: list[Event], duration_s: float,
    past_n: int, future_n: int, cfg: PlannerConfig,
) -> str:
    """Why a split after event ``i`` at ``split`` seconds breaks a constraint, or ''."""
    if split < cfg.min_past_s:
        return f"past {split:.2f}s < min {cfg.min_past_s}s"
    if duration_s - split < cfg.min_future_s:
        return f"future {duration_s - split:.2f}s < min {cfg.min_future_s}s"
    if past_n < cfg.min_past_events:
        return f"{past_n} past event(s) < min {cfg.min_past_events}"
    if future_n < cfg.min_future_events:
        return f"{future_n} future event(s) < min {cfg.min_future_events}"
    start_i, end_next = events[i].start_s, events[i + 1].end_s
    if not (start_i < split < end_next):  # type: ignore[operator]
        return f"snapped outside events {i + 1}-{i + 2}"
    return ""


def split_captions(events: list[Event], last_past_event: int) -> tuple[str, str]:
    """``caption_part1`` (past events' text) and ``caption_part2`` (future events' text),
    each the event sentences joined in order with a space (V1 step 4, caption splitting)."""
    past = events[: last_past_event + 1]
    future = events[last_past_event + 1 :]
    return " ".join(e.text for e in past), " ".join(e.text for e in future)
