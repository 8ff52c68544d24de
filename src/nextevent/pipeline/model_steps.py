"""The model steps of a build: async functions ``step(state, config, ctx)`` on a
`VideoState`, run on the driver's event loop (every call goes through the one
`nextevent.llm.LLMClient`, with its cache, limits and retries).

Raw videos (V1 steps 1-5, Wang et al., arXiv 2505.22457, Sec. 3): ``caption``,
``events``, ``causal``, ``split``, ``ground`` make the events and the split; the media
step ``cut`` then makes the record. Every record (raw or annotated) then gets steps 6-8:
``predict``, ``rewrite`` and ``critique`` (the last two side by side). A stage left out of
``--stages`` falls back where it can: ``split`` joins the scene descriptions, ``ground``
places the split proportionally to the scene count (said so in the record).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from nextevent.pipeline import model_stages as ms
from nextevent.pipeline.answers import GroundingLimits, Scene
from nextevent.pipeline.config import BuildConfig
from nextevent.pipeline.planner import split_captions
from nextevent.pipeline.state import VideoState
from nextevent.records import Event, NEPRecord, NextEventError, SplitPlan

RAW_SOURCE = "raw"
"""``NEPRecord.source`` of records built from raw videos by the models."""

ModelStep = Callable[[VideoState, BuildConfig, ms.StageContext], Awaitable[None]]


def _visual(state: VideoState, ctx: ms.StageContext,
            role: str) -> tuple[list[dict[str, Any]], int | None]:
    """The content parts showing the video to ``role``, and the frame count (None: URL)."""
    from nextevent.llm.vision import frame_content, video_content

    assert ctx.llm is not None
    video_input = ctx.llm.role(role).video
    if video_input.mode == "video_url":
        return video_content(state.path, video_input), None
    frames = state.frames[video_input.model_dump_json()]
    return frame_content(frames), len(frames)


def _scenes(state: VideoState) -> list[Scene]:
    return [Scene(scene=i, description=e.text) for i, e in enumerate(state.events, 1)]


async def caption_step(state: VideoState, config: BuildConfig, ctx: ms.StageContext) -> None:
    """Step 1: the captioner's caption of the whole video."""
    assert state.video is not None
    visual, count = _visual(state, ctx, "captioner")
    state.caption = await ms.caption_video(ctx, visual, state.video.duration_s, count)


async def scenes_step(state: VideoState, config: BuildConfig, ctx: ms.StageContext) -> None:
    """Step 2: the planner's ordered scenes, kept as the video's events."""
    assert state.caption is not None
    scenes = await ms.extract_events(ctx, state.caption)
    state.events = [Event(text=s.description) for s in scenes]


async def causal_step(state: VideoState, config: BuildConfig, ctx: ms.StageContext) -> None:
    """Step 3: suitable, and between which scenes; an unsuitable video stops here."""
    assert state.caption is not None
    causal = await ms.analyse_causality(ctx, state.caption, _scenes(state))
    state.causal_reasoning = causal.reasoning
    if not causal.suitable:
        state.stopped = "unsuitable"
        return
    state.scene_x = causal.scenes(len(state.events))[0]


async def split_step(state: VideoState, config: BuildConfig, ctx: ms.StageContext) -> None:
    """Step 4: ``caption_part1`` / ``caption_part2`` (without the stage: scene texts)."""
    x = state.scene_x
    if "split" not in config.stages:
        state.parts = split_captions(state.events, x - 1)
        state.mark("split", "skipped")
        return
    assert state.caption is not None
    state.parts = await ms.split_caption(ctx, state.caption, _scenes(state), x, x + 1)


async def ground_step(state: VideoState, config: BuildConfig, ctx: ms.StageContext) -> None:
    """Step 5: the start of Scene Y, checked and snapped; the video's one split plan.

    Raises:
        NextEventError: stage ``ground`` when no usable time comes (or, without the
            stage, the proportional guess breaks the limits).
    """
    assert state.video is not None
    x, planner = state.scene_x, config.planner
    limits = GroundingLimits(
        duration_s=state.video.duration_s, shots_s=state.shots_s,
        keyframes_s=state.video.keyframes_s if config.cut_mode == "fast" else None,
        snap_tolerance_s=planner.snap_tolerance_s, min_past_s=planner.min_past_s,
        min_future_s=planner.min_future_s)
    if "ground" in config.stages:
        visual, count = _visual(state, ctx, "grounder")
        grounding = await ms.ground_split(ctx, visual, count, _scenes(state), x, x + 1,
                                          limits)
    else:
        grounding = ms.proportional_split(len(state.events), x, limits)
        state.mark("ground", "skipped")
    state.frames.clear()  # no model needs the frames any more
    state.plans = [SplitPlan(
        split_s=grounding.split_s, split_index=0, last_past_event=x - 1,
        event_boundary_s=grounding.grounded_s, snapped_to=grounding.snapped_to,
        reason=f"between Scene {x} and Scene {x + 1}: {state.causal_reasoning}")]
    state.extra = {"model_pipeline": {
        "stages": sorted(config.stages),
        "grounding": {"answer": grounding.answer, "grounded_s": grounding.grounded_s}}}


async def _each_record(state: VideoState, name: str,
                       one: Callable[[NEPRecord], Awaitable[dict[str, Any]]]) -> None:
    """``one`` on every record side by side; it returns the fields to update.

    Updates are applied to the record as it is when the answer comes, so steps run side
    by side (rewrite, critique) each keep their fields. A record whose call fails is
    dropped with its failure (the video is retried on a rerun, its answered calls from
    the cache); the failure names the record, or for a raw video (one record) the video.
    """
    async def guarded(record: NEPRecord) -> None:
        try:
            update = await one(record)
        except NextEventError as err:
            state.failures.append(err.to_failure(state.video_id if state.raw else record.id))
            state.mark(name, "failed")
            state.records = [r for r in state.records if r.id != record.id]
            return
        state.mark(name, "ok")
        if update:
            state.records = [r.model_copy(update=update) if r.id == record.id else r
                             for r in state.records]

    await asyncio.gather(*(guarded(r) for r in list(state.records)))


async def predict_step(state: VideoState, config: BuildConfig, ctx: ms.StageContext) -> None:
    """Step 6: the reasoner's reasoning and prediction from ``caption_part1`` only (kept
    when the record already has one, e.g. imported from V1-33K)."""
    async def one(record: NEPRecord) -> dict[str, Any]:
        if record.reasoning and record.reasoning.prediction_content:
            return {}
        return {"reasoning": await ms.predict_next(ctx, record.caption_part1)}

    await _each_record(state, "predict", one)


async def rewrite_step(state: VideoState, config: BuildConfig, ctx: ms.StageContext) -> None:
    """Step 7: references to the text become references to the video; a rejected rewrite
    is a warning and the record keeps the original reasoning."""
    async def one(record: NEPRecord) -> dict[str, Any]:
        given = record.reasoning
        if given is None or not given.prediction_content or (
                given.rewritten_prediction_content is not None):
            return {}
        reasoning, rejected = await ms.rewrite_answer(ctx, given)
        if rejected:
            state.warnings.append(NextEventError(
                "rewrite", rejected, "the record keeps the original reasoning; lower "
                "rewrite_min_ratio or use a stronger rewriter").to_failure(record.id))
        return {"reasoning": reasoning}

    await _each_record(state, "rewrite", one)


async def critique_step(state: VideoState, config: BuildConfig,
                        ctx: ms.StageContext) -> None:
    """Step 8: the critic's verdict on the prediction as the reasoner wrote it."""
    async def one(record: NEPRecord) -> dict[str, Any]:
        given = record.reasoning
        if given is None or not given.prediction_content or record.critique is not None:
            return {}
        return {"critique": await ms.critique_prediction(
            ctx, record.caption_part1, given.prediction_content, record.caption_part2)}

    await _each_record(state, "critique", one)


MODEL_STEPS: dict[str, ModelStep] = {
    "caption": caption_step, "events": scenes_step, "causal": causal_step,
    "split": split_step, "ground": ground_step, "predict": predict_step,
    "rewrite": rewrite_step, "critique": critique_step,
}
"""Model steps by stage name."""
PER_RECORD: frozenset[str] = frozenset({"predict", "rewrite", "critique"})
"""Model steps that count their outcomes per record, not per video."""
