"""Model-backed stages of V1's data construction, as async functions on records.

Steps of Wang et al., "Fostering Video Reasoning via Next-Event Prediction" (arXiv
2505.22457), Sec. 3 (summarised in ``docs/research.md``):

====== ========== ========== =========================================================
step   stage      role       does
====== ========== ========== =========================================================
1      caption    captioner  detailed caption from timestamped frames (or a video URL)
2      events     planner    ordered scenes ``{scene, description}``
3      causal     planner    suitable?, ``between Scene X and Scene Y``, reasoning
4      split      planner    ``caption_part1`` / ``caption_part2``
5      ground     grounder   start of Scene Y as ``MM:SS.ss`` -> checked, snapped to a shot
5      cut        (media)    past / future clips (`nextevent.media.cut`)
6      predict    reasoner   reasoning + prediction from ``caption_part1`` only
7      rewrite    rewriter   "the caption/description" -> "the video", nothing else
8      critique   critic     critique of the prediction against ``caption_part2``, right/wrong
====== ========== ========== =========================================================

Each function asks one role for one answer (`nextevent.pipeline.answers` holds the
shapes and parsers); `nextevent.pipeline.model_steps` calls them on a video's state.
Each raises `nextevent.llm.LLMCallError` (a `NextEventError` with the stage) when no
usable answer comes; the driver turns that into a `Failure`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from nextevent.llm.cache import Answer
from nextevent.llm.client import LLMClient
from nextevent.llm.config import LLMConfig
from nextevent.pipeline.answers import (
    CRITIQUE_SCHEMA,
    GROUND_SCHEMA,
    PREDICT_SCHEMA,
    REWRITE_SCHEMA,
    SPLIT_SCHEMA,
    CaptionSplit,
    CausalAnalysis,
    CritiqueAnswer,
    GroundedTime,
    Grounding,
    GroundingLimits,
    Prediction,
    Scene,
    SceneList,
    causal_schema,
    change_ratio,
    dumps_schema,
    parse_json,
    parse_prediction,
    scenes_schema,
    strip_thinking,
)
from nextevent.pipeline.config import PRIORITY, REWRITE_MIN_RATIO
from nextevent.pipeline.prompts import Prompts
from nextevent.records import Critique, NextEventError, Reasoning
from nextevent.timecode import format_timestamp, parse_timestamp

_REFERS_TO_TEXT = re.compile(r"\b(captions?|descriptions?|described|describes)\b", re.I)


@dataclass(frozen=True)
class StageContext:
    """What every model stage needs.

    Attributes:
        client: the model client (cache, limits, retries).
        prompts: the prompt templates.
        structured_roles: roles asked for JSON (their `StructuredMode` is not ``none``);
            the reasoner then answers ``{"reasoning", "prediction"}`` instead of
            ``<think>``/``<answer>`` tags.
        max_scenes: most scenes the planner may list.
        rewrite_min_ratio: see `nextevent.pipeline.config.REWRITE_MIN_RATIO`.
        llm: the model roles (their video inputs decide how a video is shown); None
            where no stage shows a video.
    """

    client: LLMClient
    prompts: Prompts
    structured_roles: frozenset[str]
    max_scenes: int = 12
    rewrite_min_ratio: float = REWRITE_MIN_RATIO
    llm: LLMConfig | None = None


def _scene_lines(scenes: list[Scene]) -> str:
    return "\n".join(f"Scene {i}: {s.description}" for i, s in enumerate(scenes, 1))


def _video_note(frame_count: int | None) -> str:
    if frame_count is None:
        return "You are shown a video."
    return (f"You are shown {frame_count} frames sampled from a video, in order, each after "
            "its time from the start of the video (MM:SS.ss).")


def _user_with_visual(messages: list[dict[str, Any]],
                      visual: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same messages with the visual parts put before the user text."""
    user = messages[-1]
    return [*messages[:-1], {"role": "user",
                             "content": [*visual, {"type": "text", "text": user["content"]}]}]


# --------------------------------------------------------------------------- steps 1-5
async def caption_video(ctx: StageContext, visual: list[dict[str, Any]], duration_s: float,
                        frame_count: int | None) -> str:
    """Step 1: a detailed caption of the whole video.

    Args:
        visual: the vision content parts (`nextevent.llm.vision.frame_content` or
            `video_content`).
        duration_s: duration of the video in seconds.
        frame_count: number of frames in ``visual``; None in video-URL mode.

    Returns:
        The caption (thinking blocks removed, whitespace normalised).
    """
    prompt = ctx.prompts["caption"]
    messages = _user_with_visual(prompt.messages(duration=format_timestamp(duration_s),
                                                 video_note=_video_note(frame_count)), visual)

    def parse(answer: Answer) -> str:
        text = " ".join(strip_thinking(answer.content).split())
        if len(text) < 10:
            raise ValueError(f"the caption is empty or too short: {text!r}")
        return text

    return await ctx.client.ask("captioner", messages, parse, stage="caption",
                                prompt_version=prompt.version, priority=PRIORITY["caption"])


async def extract_events(ctx: StageContext, caption: str) -> list[Scene]:
    """Step 2: the ordered scenes of ``caption`` (2 to ``ctx.max_scenes``), renumbered 1..n."""
    prompt = ctx.prompts["events"]
    schema = scenes_schema(ctx.max_scenes)
    messages = prompt.messages(caption=caption, schema=dumps_schema(schema))

    def parse(answer: Answer) -> list[Scene]:
        scenes = parse_json(answer, SceneList).scenes
        if len(scenes) < 2:
            raise ValueError(f"{len(scenes)} scene(s) listed; at least 2 are needed")
        return [Scene(scene=i, description=s.description) for i, s in enumerate(scenes, 1)]

    return await ctx.client.ask("planner", messages, parse, stage="events",
                                prompt_version=prompt.version, schema=schema,
                                schema_name="scene_list", priority=PRIORITY["events"])


async def analyse_causality(ctx: StageContext, caption: str,
                            scenes: list[Scene]) -> CausalAnalysis:
    """Step 3: whether the video suits prediction, and the split ``between Scene X and Y``.

    Returns:
        The analysis; when ``suitable`` its `CausalAnalysis.scenes` is valid.
    """
    prompt = ctx.prompts["causal"]
    schema = causal_schema(len(scenes))
    messages = prompt.messages(caption=caption, scenes=_scene_lines(scenes),
                               schema=dumps_schema(schema))

    def parse(answer: Answer) -> CausalAnalysis:
        result: CausalAnalysis = parse_json(answer, CausalAnalysis)
        if result.suitable:
            result.scenes(len(scenes))
        return result

    return await ctx.client.ask("planner", messages, parse, stage="causal",
                                prompt_version=prompt.version, schema=schema,
                                schema_name="causal_analysis", priority=PRIORITY["causal"])


async def split_caption(ctx: StageContext, caption: str, scenes: list[Scene], x: int,
                        y: int) -> tuple[str, str]:
    """Step 4: ``(caption_part1, caption_part2)``, the caption divided between X and Y."""
    prompt = ctx.prompts["split"]
    messages = prompt.messages(caption=caption, scenes=_scene_lines(scenes), x=x, y=y,
                               schema=dumps_schema(SPLIT_SCHEMA))

    def parse(answer: Answer) -> tuple[str, str]:
        out: CaptionSplit = parse_json(answer, CaptionSplit)
        part1, part2 = " ".join(out.caption_part1.split()), " ".join(out.caption_part2.split())
        if not part1 or not part2:
            raise ValueError("caption_part1 and caption_part2 must both be non-empty")
        return part1, part2

    return await ctx.client.ask("planner", messages, parse, stage="split",
                                prompt_version=prompt.version, schema=SPLIT_SCHEMA,
                                schema_name="caption_split", priority=PRIORITY["split"])


async def ground_split(ctx: StageContext, visual: list[dict[str, Any]],
                       frame_count: int | None, scenes: list[Scene], x: int, y: int,
                       limits: GroundingLimits) -> Grounding:
    """Step 5: the start time of Scene Y, parsed from ``MM:SS.ss``, checked, and snapped.

    The grounder's time must lie inside the video, and the split (after snapping to the
    nearest shot boundary within tolerance, `nextevent.pipeline.planner.snap_split`) must
    leave ``min_past_s`` / ``min_future_s``; otherwise the repair re-ask names the range.
    """
    prompt = ctx.prompts["ground"]
    messages = _user_with_visual(prompt.messages(
        video_note=_video_note(frame_count), duration=format_timestamp(limits.duration_s),
        scenes=_scene_lines(scenes), x=x, y=y, scene_y=scenes[y - 1].description,
        schema=dumps_schema(GROUND_SCHEMA)), visual)

    def parse(answer: Answer) -> Grounding:
        text = parse_json(answer, GroundedTime).start_time.strip()
        try:
            seconds = parse_timestamp(text)
        except ValueError:
            raise ValueError(f"start_time {text!r} is not MM:SS.ss") from None
        return limits.place(seconds, text)

    return await ctx.client.ask("grounder", messages, parse, stage="ground",
                                prompt_version=prompt.version, schema=GROUND_SCHEMA,
                                schema_name="scene_start", priority=PRIORITY["ground"])


def proportional_split(scene_count: int, x: int, limits: GroundingLimits) -> Grounding:
    """Step 5 without a model: ``duration * x / scene_count``, snapped like a grounded time.

    Raises:
        NextEventError: stage ``ground``, when that time breaks the limits.
    """
    guess = limits.duration_s * x / scene_count
    try:
        return limits.place(guess, "proportional")
    except ValueError as err:
        raise NextEventError("ground", f"proportional split guess: {err}",
                             "run the ground stage, or lower --min-past/--min-future") from None


# --------------------------------------------------------------------------- steps 6-8
def _answer_format(ctx: StageContext) -> str:
    if "reasoner" in ctx.structured_roles:
        return ("Answer with JSON only, matching this schema, with your thinking in "
                "\"reasoning\" and your prediction in \"prediction\":\n"
                f"{dumps_schema(PREDICT_SCHEMA)}")
    return ("Write your thinking inside <think> </think> and then your prediction inside "
            "<answer> </answer>.")


async def predict_next(ctx: StageContext, caption_part1: str,
                       seed: int | None = None) -> Reasoning:
    """Step 6: the reasoner's reasoning and prediction from ``caption_part1`` only.

    Args:
        seed: the sampling seed to send instead of the reasoner role's own (one per extra
            sample of ``--predictions``); None asks exactly as one prediction is asked.
    """
    prompt = ctx.prompts["predict"]
    structured = "reasoner" in ctx.structured_roles
    messages = prompt.messages(caption_part1=caption_part1, answer_format=_answer_format(ctx))
    return await ctx.client.ask(
        "reasoner", messages, lambda a: parse_prediction(a, structured), stage="predict",
        prompt_version=prompt.version, schema=PREDICT_SCHEMA if structured else None,
        schema_name="prediction", priority=PRIORITY["predict"], seed=seed)


async def rewrite_answer(ctx: StageContext, reasoning: Reasoning) -> tuple[Reasoning, str]:
    """Step 7: references to the caption/description become references to the video.

    Texts that never mention a caption or description are copied without a call. A
    rewrite whose `change_ratio` to the original is below ``ctx.rewrite_min_ratio`` for
    either text is rejected: the rewritten fields stay None.

    Returns:
        The reasoning with ``rewritten_*`` filled (or not), and the rejection reason ('' if
        accepted).
    """
    before_r = reasoning.reasoning_content or ""
    before_p = reasoning.prediction_content or ""
    if not (_REFERS_TO_TEXT.search(before_r) or _REFERS_TO_TEXT.search(before_p)):
        return reasoning.model_copy(update={"rewritten_reasoning_content": before_r,
                                            "rewritten_prediction_content": before_p}), ""
    prompt = ctx.prompts["rewrite"]
    messages = prompt.messages(reasoning=before_r, prediction=before_p,
                               schema=dumps_schema(REWRITE_SCHEMA))
    out: Prediction = await ctx.client.ask(
        "rewriter", messages, lambda a: parse_json(a, Prediction), stage="rewrite",
        prompt_version=prompt.version, schema=REWRITE_SCHEMA, schema_name="rewrite",
        priority=PRIORITY["rewrite"])
    ratios = (change_ratio(before_r, out.reasoning.strip()),
              change_ratio(before_p, out.prediction.strip()))
    if min(ratios) < ctx.rewrite_min_ratio:
        return reasoning, (f"rewrite changed too much (similarity {ratios[0]:.2f} reasoning, "
                           f"{ratios[1]:.2f} prediction < {ctx.rewrite_min_ratio})")
    return reasoning.model_copy(update={
        "rewritten_reasoning_content": out.reasoning.strip(),
        "rewritten_prediction_content": out.prediction.strip()}), ""


async def critique_prediction(ctx: StageContext, caption_part1: str, prediction: str,
                              caption_part2: str) -> Critique:
    """Step 8: the critic's critique of ``prediction`` against ``caption_part2``."""
    prompt = ctx.prompts["critique"]
    messages = prompt.messages(caption_part1=caption_part1, prediction=prediction,
                               caption_part2=caption_part2, schema=dumps_schema(CRITIQUE_SCHEMA))

    def parse(answer: Answer) -> Critique:
        out: CritiqueAnswer = parse_json(answer, CritiqueAnswer)
        conclusion = out.conclusion.strip().lower()
        if conclusion not in ("right", "wrong") or not out.critique.strip():
            raise ValueError(f"conclusion must be 'right' or 'wrong' (got {out.conclusion!r}) "
                             "after a non-empty critique")
        return Critique(critique=out.critique.strip(),
                        conclusion=conclusion)  # type: ignore[arg-type]

    return await ctx.client.ask("critic", messages, parse, stage="critique",
                                prompt_version=prompt.version, schema=CRITIQUE_SCHEMA,
                                schema_name="critique", priority=PRIORITY["critique"])


async def run_all(coros: list[Any]) -> list[Any]:
    """Await coroutines side by side; if one fails, let the others finish (their answers
    reach the cache), then raise the first error (in the given order)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        results = await asyncio.gather(*tasks, return_exceptions=True)
    except asyncio.CancelledError:  # cancelled from outside: take them all down
        for task in tasks:
            task.cancel()
        raise
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)


async def run_both(first: Any, second: Any) -> tuple[Any, Any]:
    """Await two coroutines side by side; if one fails, let the other finish (its
    answers reach the cache), then raise the first error."""
    tasks = [asyncio.ensure_future(first), asyncio.ensure_future(second)]
    try:
        results = await asyncio.gather(*tasks, return_exceptions=True)
    except asyncio.CancelledError:  # cancelled from outside: take both down
        for task in tasks:
            task.cancel()
        raise
    for result in results:  # the other branch ran to its end, so its answers are cached
        if isinstance(result, BaseException):
            raise result
    return results[0], results[1]
