"""What flows through a build: one `VideoState` per video, walked by the steps, and the
`BuildSummary` the driver keeps.

A state is plain, picklable data: media steps get it in a worker process (or a Ray task)
and hand it back; model steps fill it on the driver's event loop. Only the driver writes
the run directory, from what a state holds when its video is finished.
"""

from __future__ import annotations

import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nextevent.llm.usage import Usage
from nextevent.records import Event, Failure, NEPRecord, NextEventError, SplitPlan, Video

Outcome = str
"""A step's outcome for one video or record: ``ok``, ``failed`` or ``skipped``."""


@dataclass
class VideoState:
    """One video on its way through the steps.

    Attributes:
        video_id: the dataset's video id (raw videos: the file's path under ``--videos``
            without extension).
        path: the video file (absolute, inside ``--videos``).
        source: `NEPRecord.source` of its records (``raw`` for raw videos).
        events: annotated events (annotated videos: fitted to the probed duration by the
            ``events`` step; raw videos: the scenes of the ``events`` model stage).
        caption: full-video caption (annotation or model step 1), or None.
        extra: source fields kept in each record's ``extra``.
        done_ids: ids of this video's records already in ``records.jsonl`` (not cut or
            asked about again).
        raw: True for a raw video (no annotation; the models make its events and split).
        video: the probe (after the ``probe`` step).
        shots_s: shot boundaries in seconds (empty without shot detection).
        frames: sampled frames per frames-mode video input (JSON of the input as key).
        plans: the split plans (annotated: the planner; raw: one from grounding).
        scene_x: raw videos: Scene X, the last past scene (1-based), from step 3.
        causal_reasoning: raw videos: step 3's reasoning (kept in the split reason).
        grounding: raw videos: step 5's answer and grounded time, for the record.
        parts: raw videos: ``(caption_part1, caption_part2)`` after step 4.
        records: records made so far (new ones only; for an upgrade, the stored records
            gaining predictions).
        upgrade: the state holds stored records of a finished run walking only steps 6-8
            for the predictions a larger ``--predictions`` adds; written with
            `nextevent.store.RunStore.replace_record`, the video's status untouched.
        failures: problems that lost a record or the whole video (retried on a rerun).
        warnings: problems worked around; written to ``failures.jsonl``, video still done.
        stopped: why the walk ended early (``failed``, ``unsuitable``), or None.
        outcomes: per step, counts of ``ok`` / ``failed`` / ``skipped`` (videos or records).
        media_s: seconds of source video probed.
        stage_s: seconds spent per step (media steps measured in the worker).
    """

    video_id: str
    path: Path
    source: str
    events: list[Event] = field(default_factory=list)
    caption: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    done_ids: frozenset[str] = frozenset()
    raw: bool = False
    video: Video | None = None
    shots_s: list[float] = field(default_factory=list)
    frames: dict[str, Any] = field(default_factory=dict)
    plans: list[SplitPlan] = field(default_factory=list)
    scene_x: int = 0
    causal_reasoning: str = ""
    grounding: dict[str, Any] = field(default_factory=dict)
    parts: tuple[str, str] | None = None
    records: list[NEPRecord] = field(default_factory=list)
    upgrade: bool = False
    failures: list[Failure] = field(default_factory=list)
    warnings: list[Failure] = field(default_factory=list)
    stopped: str | None = None
    outcomes: dict[str, Counter[Outcome]] = field(default_factory=dict)
    media_s: float = 0.0
    stage_s: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        """True when nothing was lost: no failure and the walk was not stopped."""
        return not self.failures and self.stopped is None

    def mark(self, step: str, outcome: Outcome, n: int = 1) -> None:
        """Count ``n`` videos or records with ``outcome`` at ``step``."""
        self.outcomes.setdefault(step, Counter())[outcome] += n

    def fail(self, err: NextEventError, item: str | None = None) -> None:
        """Stop the walk with ``err`` as the video's failure (``item``: the input named)."""
        self.failures.append(err.to_failure(item or self.video_id))
        self.stopped = "failed"

    def fail_step(self, step: str, error: str, hint: str) -> None:
        """Stop the walk at ``step`` with a failure of the video that is not a
        `NextEventError` (a fault of the machine or a library bug)."""
        self.failures.append(Failure(input=self.video_id, stage=step, error=error, hint=hint))
        self.stopped = "failed"


def short_trace(err: BaseException) -> str:
    """The last line of ``err``'s traceback (``Type: message``), for a failure line."""
    return traceback.format_exception_only(type(err), err)[-1].strip()


@dataclass
class BuildSummary:
    """What a build did, for the closing table (printed by the CLI).

    Attributes:
        run_dir: the run directory.
        videos: videos in the input (annotations, or files for raw videos).
        skipped: videos already finished (or judged unsuitable) by an earlier run.
        videos_done, videos_failed, videos_unsuitable: outcomes of this run (unsuitable:
            judged not predictable by step 3; a line in failures.jsonl, not retried).
        records_new, records_total: records written by this run / in the run directory.
        records_upgraded: stored records this run gave more predictions (a rerun with a
            larger ``--predictions``), each replaced in place.
        failures_by_stage: failures met by this run, per stage.
        stage_outcomes: per step, how many videos or records passed it (``ok``), failed
            in it (``failed``) or skipped it (``skipped``).
        stage_s: seconds per step over all videos (media steps: worker time).
        past_s, future_s: seconds of past and future segments over all records.
        cut_modes: new records per cut mode used; ``cut_fallbacks`` of them fell back
            from the requested mode (their ``cut_note`` says why).
        frames_copied, frames_reencoded: clip frames of the new records copied from the
            source / encoded by libx264.
        media_s: seconds of source video processed by this run.
        usage: model requests, cache hits and tokens per role (empty without models).
        wall_s: seconds this run took.
        started_over: the run directory held a run built with other options, cleared
            by ``--force`` before this build.
        failures_open, failures_resolved: lines of the run's ``failures.jsonl`` after
            this build whose input is still not finished / was finished since
            (`nextevent.store.is_resolved`).
    """

    run_dir: Path
    videos: int = 0
    skipped: int = 0
    videos_done: int = 0
    videos_failed: int = 0
    videos_unsuitable: int = 0
    records_new: int = 0
    records_total: int = 0
    records_upgraded: int = 0
    failures_by_stage: Counter[str] = field(default_factory=Counter)
    stage_outcomes: dict[str, Counter[Outcome]] = field(default_factory=dict)
    stage_s: Counter[str] = field(default_factory=Counter)
    past_s: float = 0.0
    future_s: float = 0.0
    cut_modes: Counter[str] = field(default_factory=Counter)
    cut_fallbacks: int = 0
    frames_copied: int = 0
    frames_reencoded: int = 0
    media_s: float = 0.0
    usage: Usage = field(default_factory=Usage)
    wall_s: float = 0.0
    started_over: bool = False
    failures_open: int = 0
    failures_resolved: int = 0

    def count_cut(self, record: NEPRecord) -> None:
        """Add a new record's cut mode and copied / re-encoded frames."""
        if record.cut_mode is None:
            return
        self.cut_modes[record.cut_mode] += 1
        self.cut_fallbacks += record.cut_note is not None
        for segment in (record.past, record.future):
            if segment is not None and segment.reencoded_frames is not None:
                self.frames_reencoded += segment.reencoded_frames
                self.frames_copied += segment.frame_count - segment.reencoded_frames
