"""A build is a list of steps (datatrove's pipeline of ``PipelineStep``s): which ones, in
what order, for annotated and for raw videos, with or without models.

Each entry of a step list is a group of steps run side by side (one step, or
``rewrite`` with ``critique``, which read the same prediction and write different
fields). Media steps (`nextevent.pipeline.media_steps`) run where the engine puts them;
model steps (`nextevent.pipeline.model_steps`) on the driver's event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nextevent.pipeline.config import REASONING_STAGES, BuildConfig

StepKind = Literal["media", "model"]


@dataclass(frozen=True)
class Step:
    """One step of a build.

    Attributes:
        name: the step's name (a stage name of ``--stages`` for model steps).
        kind: ``media`` (decoding, cutting: runs on the engine) or ``model`` (calls a
            model role: runs on the event loop).
    """

    name: str
    kind: StepKind


StepList = list[tuple[Step, ...]]

ANNOTATED_MEDIA: tuple[str, ...] = ("probe", "events", "shots", "plan", "cut")
"""Media steps of an annotated video: its events and split plans come with it."""
RAW_MEDIA: tuple[str, ...] = ("probe", "shots", "frames")
"""Media steps of a raw video before its models; ``cut`` follows grounding."""
RAW_MODEL: tuple[str, ...] = ("caption", "events", "causal", "split", "ground")
"""V1 steps 1-5 on a raw video (``split`` and ``ground`` fall back without their stage)."""


def _media(*names: str) -> StepList:
    return [(Step(name, "media"),) for name in names]


def _reasoning(config: BuildConfig) -> StepList:
    """Steps 6-8 that ``config.stages`` selects: predict, then rewrite beside critique."""
    chosen = [name for name in REASONING_STAGES if name in config.stages]
    steps: StepList = []
    if "predict" in chosen:
        steps.append((Step("predict", "model"),))
    after = tuple(Step(name, "model") for name in chosen if name != "predict")
    if after:
        steps.append(after)
    return steps


def step_list(config: BuildConfig, *, raw: bool, with_models: bool) -> StepList:
    """The steps of one video.

    Args:
        config: the build settings (``stages`` selects model steps).
        raw: the video has no annotation (its events come from the models).
        with_models: a model config is given; without one, only media steps run (raw
            videos need models).

    Returns:
        Groups of steps in order, e.g. for an annotated video with models:
        ``[(probe,), (events,), (shots,), (plan,), (cut,), (predict,), (rewrite, critique)]``.
    """
    if not raw:
        return _media(*ANNOTATED_MEDIA) + (_reasoning(config) if with_models else [])
    return (_media(*RAW_MEDIA) + [(Step(name, "model"),) for name in RAW_MODEL]
            + _media("cut") + _reasoning(config))


def step_names(steps: StepList) -> list[str]:
    """Every step's name, in order (for progress bars and the summary)."""
    return [step.name for group in steps for step in group]
