"""Settings of `nextevent build`: one `BuildConfig` for every path (annotated or raw
videos, with or without models), and the names of the model stages.

Model stages follow Wang et al., "Fostering Video Reasoning via Next-Event Prediction"
(arXiv 2505.22457), Sec. 3; the table of steps is in `nextevent.pipeline.model_stages`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nextevent.llm.config import VideoInput
from nextevent.pipeline.planner import PlannerConfig
from nextevent.records import CutMode, NextEventError

STAGES: tuple[str, ...] = ("caption", "events", "causal", "split", "ground", "cut", "predict",
                           "rewrite", "critique")
"""Model-stage names for ``--stages`` / ``--skip-stage``, in pipeline order."""
RAW_REQUIRED: tuple[str, ...] = ("caption", "events", "causal")
"""Stages a raw video cannot do without: they make its events and split."""
REASONING_STAGES: tuple[str, ...] = ("predict", "rewrite", "critique")
"""Steps 6-8: the stages that also run on annotated records."""
ROLE_OF: dict[str, str] = {"caption": "captioner", "events": "planner", "causal": "planner",
                           "split": "planner", "ground": "grounder", "predict": "reasoner",
                           "rewrite": "rewriter", "critique": "critic"}
"""The model role each model stage calls."""
PRIORITY: dict[str, int] = {"caption": 7, "events": 6, "causal": 5, "split": 4, "ground": 3,
                            "predict": 2, "rewrite": 1, "critique": 1}
"""Slot priority of a stage's calls: its level, the most calls on any path from it to the
end of a video's step list (caption -> events -> causal -> split -> ground -> predict ->
{rewrite | critique}). Highest level first is Hu's list-scheduling rule (T. C. Hu,
"Parallel sequencing and assembly line problems", Operations Research 9(6), 1961): it
keeps the long chains moving, so the run does not end on a few videos' last stages."""
REWRITE_MIN_RATIO = 0.8
"""Least ``difflib.SequenceMatcher`` ratio between a text and its rewrite; a rewrite that
changes more is rejected (step 7 may only swap references to the text for the video)."""


@dataclass(frozen=True)
class BuildConfig:
    """Settings of one build: what decides the records (not how fast they are made).

    Attributes:
        run_dir: the run directory; clips go under its ``clips/`` and nowhere else.
        cut_mode: ``smart`` (frame-exact, re-encodes only next to the split),
            ``accurate`` (re-encodes both clips, frame-exact) or ``fast`` (stream copy at
            keyframes); see `nextevent.media.cut`.
        clip_fps: training-ready clips: frames per second each clip keeps (the first
            source frame at or after each grid time); None keeps every source frame.
        clip_max_pixels: training-ready clips: most pixels (width x height) per clip
            frame; None keeps the source size. With either, clips are re-encoded in full
            (``smart`` becomes ``accurate``, noted in the record's ``cut_note``) and
            ``fast`` is refused (`nextevent.media.cut.cut`).
        planner: split constraints (all of them for annotated videos; ``snap_tolerance_s``,
            ``min_past_s``, ``min_future_s`` for grounded splits of raw videos).
        detect_shots: run shot detection to snap splits onto shot boundaries.
        shot_threshold: PySceneDetect content threshold; None for its default.
        shot_downscale_width: width in pixels of the stream the shot detector sees.
        stages: model stages to run when a model config is given (`select_stages`).
        prompts_dir: folder of prompt overrides (``--prompts``), or None.
        max_scenes: most scenes the planner may list (step 2).
        rewrite_min_ratio: least similarity of a rewrite to its original (step 7).
        predictions: K, the predictions asked of the reasoner per record (steps 6-8 run
            on each; ``--predictions``). A rerun with a larger K asks only for the new
            samples of the records already written
            (`nextevent.pipeline.model_steps.predict_step`).
        max_videos_in_flight: videos walking their steps at once (bounds memory: a raw
            video's sampled frames are kept until grounding).
        video_inputs: how frames are sampled for the vision roles in frames mode (set by
            the driver from the model config; empty without models).
    """

    run_dir: Path
    cut_mode: CutMode = "smart"
    clip_fps: float | None = None
    clip_max_pixels: int | None = None
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    detect_shots: bool = True
    shot_threshold: float | None = None
    shot_downscale_width: int = 256
    stages: frozenset[str] = frozenset(STAGES)
    prompts_dir: Path | None = None
    max_scenes: int = 12
    rewrite_min_ratio: float = REWRITE_MIN_RATIO
    predictions: int = 1
    max_videos_in_flight: int = 256
    video_inputs: tuple[VideoInput, ...] = ()

    def __post_init__(self) -> None:
        if self.predictions < 1:
            raise ValueError(f"predictions must be at least 1, got {self.predictions}")


def select_stages(stages: str | None = None, skip: str | None = None) -> frozenset[str]:
    """The stage set of ``--stages a,b,c`` minus ``--skip-stage d,e`` (default: all).

    Raises:
        NextEventError: stage ``config``, naming an unknown stage and listing the known.
    """
    def names(text: str | None) -> list[str]:
        out = [n.strip().lower() for n in (text or "").split(",") if n.strip()]
        bad = [n for n in out if n not in STAGES]
        if bad:
            raise NextEventError("config", f"unknown stage(s) {', '.join(bad)}",
                                 f"stages are {', '.join(STAGES)}")
        return out

    chosen = set(names(stages)) if stages else set(STAGES)
    return frozenset(chosen - set(names(skip)))


def stages_run(stages: frozenset[str], raw: bool) -> tuple[str, ...]:
    """The selected stages that run, in pipeline order (raw videos: all steps; annotated:
    steps 6-8, the others never run on them)."""
    return tuple(s for s in STAGES if s in stages and (raw or s in REASONING_STAGES))


def roles_needed(stages: frozenset[str], raw: bool) -> list[str]:
    """Roles the selected stages call (`stages_run`)."""
    return sorted({ROLE_OF[s] for s in stages_run(stages, raw) if s in ROLE_OF})
