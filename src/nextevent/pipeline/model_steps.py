"""The model steps of a build: async functions ``step(state, config, ctx)`` on a
`VideoState`, run on the driver's event loop (every call goes through the one
`nextevent.llm.LLMClient`, with its cache, limits and retries).

Raw videos (V1 steps 1-5, Wang et al., arXiv 2505.22457, Sec. 3): ``caption``,
``events``, ``causal``, ``split``, ``ground`` make the events and the split; the media
step ``cut`` then makes the record. Every record (raw or annotated) then gets steps 6-8:
``predict``, ``rewrite`` and ``critique`` (the last two side by side), on each of the
record's K predictions (``--predictions``). A stage left out of
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
from nextevent.records import Event, NEPRecord, NextEventError, PredictionSample, SplitPlan

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


Patch = Callable[[NEPRecord], NEPRecord]
"""What a per-record step makes of the record as it is when its answers come."""


async def _each_record(state: VideoState, name: str,
                       one: Callable[[NEPRecord], Awaitable[Patch | None]]) -> None:
    """``one`` on every record side by side; it returns a patch (or None: nothing to do).

    Patches are applied to the record as it is when the answers come, so steps run side
    by side (rewrite, critique) each keep their fields, sample by sample. A record whose
    call fails is dropped with its failure (the video is retried on a rerun, its answered
    calls from the cache); the failure names the record, or for a raw video (one record)
    the video.
    """
    async def guarded(record: NEPRecord) -> None:
        try:
            patch = await one(record)
        except NextEventError as err:
            state.failures.append(err.to_failure(state.video_id if state.raw else record.id))
            state.mark(name, "failed")
            state.records = [r for r in state.records if r.id != record.id]
            return
        state.mark(name, "ok")
        if patch is not None:
            state.records = [patch(r) if r.id == record.id else r for r in state.records]

    await asyncio.gather(*(guarded(r) for r in list(state.records)))


def sample_seed(role_seed: int | None, index: int) -> int | None:
    """The seed sent for prediction ``index`` in place of the reasoner's own: None for
    sample 0 (asked exactly as a single prediction is, so its cache entry is the one a
    build without ``--predictions`` made), ``(role_seed or 0) + index`` for the others."""
    return None if index == 0 else (role_seed or 0) + index


def _patched(record: NEPRecord, field: str, values: dict[int, Any]) -> NEPRecord:
    """``record`` with ``field`` (``reasoning`` or ``critique``) of the predictions
    numbered in ``values`` replaced."""
    return record.with_predictions([
        p.model_copy(update={field: values[p.index]}) if p.index in values else p
        for p in record.predictions])


async def predict_step(state: VideoState, config: BuildConfig, ctx: ms.StageContext) -> None:
    """Step 6: the reasoner's reasoning and prediction from ``caption_part1`` only, K
    times (``config.predictions``), sample ``i`` with seed `sample_seed`. Predictions the
    record already has are kept (one imported from V1-33K, the samples of an earlier run
    with a smaller K): only the missing samples are asked for."""
    role_seed = ctx.client.config.role("reasoner", "predict").seed

    async def one(record: NEPRecord) -> Patch | None:
        have = record.predictions
        if have and not have[0].reasoning.prediction_content:
            have = []  # a reasoning without a prediction: ask again from sample 0
        missing = list(range(len(have), config.predictions))
        if not missing:
            return None
        answers = await ms.run_all([
            ms.predict_next(ctx, record.caption_part1, seed=sample_seed(role_seed, i))
            for i in missing])
        new = [PredictionSample(index=i, seed=sample_seed(role_seed, i), reasoning=r)
               for i, r in zip(missing, answers, strict=True)]
        return lambda current: current.with_predictions(
            current.predictions[:len(have)] + new)

    await _each_record(state, "predict", one)


async def rewrite_step(state: VideoState, config: BuildConfig, ctx: ms.StageContext) -> None:
    """Step 7, on every prediction not yet rewritten: references to the text become
    references to the video; a rejected rewrite is a warning and the prediction keeps
    the original reasoning."""
    async def one(record: NEPRecord) -> Patch | None:
        todo = [p for p in record.predictions if p.reasoning.prediction_content
                and p.reasoning.rewritten_prediction_content is None]
        if not todo:
            return None
        results = await ms.run_all([ms.rewrite_answer(ctx, p.reasoning) for p in todo])
        rewritten: dict[int, Any] = {}
        for sample, (reasoning, rejected) in zip(todo, results, strict=True):
            rewritten[sample.index] = reasoning
            if rejected:
                which = f"prediction {sample.index}: " if sample.index else ""
                state.warnings.append(NextEventError(
                    "rewrite", which + rejected, "the record keeps the original reasoning; "
                    "lower rewrite_min_ratio or use a stronger rewriter").to_failure(
                        record.id, key=f"rewrite:{record.id}" + (
                            f":{sample.index}" if sample.index else "")))
        return lambda current: _patched(current, "reasoning", rewritten)

    await _each_record(state, "rewrite", one)


async def critique_step(state: VideoState, config: BuildConfig,
                        ctx: ms.StageContext) -> None:
    """Step 8, on every prediction not yet judged: the critic's verdict on the
    prediction as the reasoner wrote it."""
    async def one(record: NEPRecord) -> Patch | None:
        todo = [p for p in record.predictions
                if p.reasoning.prediction_content and p.critique is None]
        if not todo:
            return None
        verdicts = await ms.run_all([ms.critique_prediction(
            ctx, record.caption_part1, p.reasoning.prediction_content or "",
            record.caption_part2) for p in todo])
        judged = {p.index: v for p, v in zip(todo, verdicts, strict=True)}
        return lambda current: _patched(current, "critique", judged)

    await _each_record(state, "critique", one)


MODEL_STEPS: dict[str, ModelStep] = {
    "caption": caption_step, "events": scenes_step, "causal": causal_step,
    "split": split_step, "ground": ground_step, "predict": predict_step,
    "rewrite": rewrite_step, "critique": critique_step,
}
"""Model steps by stage name."""
PER_RECORD: frozenset[str] = frozenset({"predict", "rewrite", "critique"})
"""Model steps that count their outcomes per record, not per video."""
