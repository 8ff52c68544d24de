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

Every stage can be skipped (`STAGES`); ``split`` then joins the scene descriptions,
``ground`` places the split proportionally to the scene count (a crude guess, said so in
the record), ``cut`` leaves a text-only record. Steps 6-8 work on any `NEPRecord`, also
annotated ones. Each function raises `nextevent.llm.LLMCallError` (a `NextEventError` with
the stage) when no usable answer comes; the runner turns that into a `Failure`.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from nextevent.llm.cache import Answer
from nextevent.llm.client import LLMClient
from nextevent.pipeline.planner import snap_split
from nextevent.pipeline.prompts import Prompts
from nextevent.records import Critique, NEPRecord, NextEventError, Reasoning, SnapKind
from nextevent.timecode import format_timestamp, parse_timestamp

STAGES: tuple[str, ...] = ("caption", "events", "causal", "split", "ground", "cut", "predict",
                           "rewrite", "critique")
"""Stage names for ``--stages`` / ``--skip-stage``, in pipeline order."""
REASONING_STAGES: tuple[str, ...] = ("predict", "rewrite", "critique")
"""Steps 6-8: the stages that also run on annotated records."""
ROLE_OF: dict[str, str] = {"caption": "captioner", "events": "planner", "causal": "planner",
                           "split": "planner", "ground": "grounder", "predict": "reasoner",
                           "rewrite": "rewriter", "critique": "critic"}
"""The model role each model stage calls."""
PRIORITY: dict[str, int] = {"caption": 6, "events": 5, "causal": 4, "split": 3, "predict": 2,
                            "ground": 1, "rewrite": 1, "critique": 1}
"""Slot priority of a stage's calls: its level, the most calls on any path from it to the
end of a video's stage graph (caption -> events -> causal -> split -> {ground | predict
-> {rewrite | critique}}). Highest level first is Hu's list-scheduling rule (T. C. Hu,
"Parallel sequencing and assembly line problems", Operations Research 9(6), 1961): it
keeps the long chains moving, so the run does not end on a few videos' last stages."""

REWRITE_MIN_RATIO = 0.8
"""Least ``difflib.SequenceMatcher`` ratio between a text and its rewrite; a rewrite that
changes more is rejected (step 7 may only swap references to the text for the video)."""
_REFERS_TO_TEXT = re.compile(r"\b(captions?|descriptions?|described|describes)\b", re.I)
_THINK = re.compile(r"<think>(.*?)</think>", re.S | re.I)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_BETWEEN = re.compile(r"between\s+scene\s+(\d+)\s+and\s+scene\s+(\d+)", re.I)


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
        rewrite_min_ratio: see `REWRITE_MIN_RATIO`.
    """

    client: LLMClient
    prompts: Prompts
    structured_roles: frozenset[str]
    max_scenes: int = 12
    rewrite_min_ratio: float = REWRITE_MIN_RATIO


# --------------------------------------------------------------------------- answers
class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Scene(_Out):
    """One extracted scene (V1 ``events`` item; ``scene`` numbered from 1)."""

    scene: int
    description: str

    @field_validator("description")
    @classmethod
    def _text(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("empty scene description")
        return value


class _SceneList(_Out):
    scenes: list[Scene]


class CausalAnalysis(_Out):
    """Step 3's answer: is the video suitable, and where is the split.

    Attributes:
        reasoning: why (kept in the record's split reason).
        suitable: can the later part be anticipated from the earlier part.
        split: ``between Scene X and Scene Y``.
    """

    reasoning: str
    suitable: bool
    split: str = ""

    def scenes(self, count: int) -> tuple[int, int]:
        """``(X, Y)`` of the split, 1-based, ``Y = X + 1``.

        Raises:
            ValueError: when ``split`` is not ``between Scene X and Scene X+1`` inside
                ``1..count``.
        """
        match = _BETWEEN.search(self.split)
        if not match:
            raise ValueError(f"split {self.split!r} is not 'between Scene X and Scene Y'")
        x, y = int(match.group(1)), int(match.group(2))
        if not (x >= 1 and y == x + 1 and y <= count):
            raise ValueError(f"split {self.split!r} does not name two consecutive scenes of "
                             f"the {count} listed")
        return x, y


class _CaptionSplit(_Out):
    caption_part1: str
    caption_part2: str


class _Grounded(_Out):
    start_time: str


class _Prediction(_Out):
    reasoning: str
    prediction: str


class _Critique(_Out):
    critique: str
    conclusion: str


@dataclass(frozen=True)
class Grounding:
    """Step 5's result.

    Attributes:
        answer: the time as the model wrote it (``MM:SS.ss``), or ``proportional``.
        grounded_s: that time in seconds.
        split_s: the split point after snapping, in seconds.
        snapped_to: what ``split_s`` sits on.
    """

    answer: str
    grounded_s: float
    split_s: float
    snapped_to: SnapKind


# --------------------------------------------------------------------------- schemas
def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


def scenes_schema(max_scenes: int) -> dict[str, Any]:
    """JSON schema of step 2's answer: ``{"scenes": [{"scene", "description"}, ...]}``."""
    item = _object({"scene": {"type": "integer"}, "description": {"type": "string"}})
    return _object({"scenes": {"type": "array", "items": item, "minItems": 2,
                               "maxItems": max_scenes}})


def causal_schema(scene_count: int) -> dict[str, Any]:
    """JSON schema of step 3's answer; ``split`` is one of the ``scene_count - 1`` places."""
    places = [f"between Scene {x} and Scene {x + 1}" for x in range(1, scene_count)]
    return _object({"reasoning": {"type": "string"}, "suitable": {"type": "boolean"},
                    "split": {"type": "string", "enum": places}})


SPLIT_SCHEMA = _object({"caption_part1": {"type": "string"},
                        "caption_part2": {"type": "string"}})
GROUND_SCHEMA = _object({"start_time": {"type": "string",
                                        "pattern": "^[0-9]{2,3}:[0-5][0-9]\\.[0-9]{2}$"}})
PREDICT_SCHEMA = _object({"reasoning": {"type": "string"}, "prediction": {"type": "string"}})
REWRITE_SCHEMA = _object({"reasoning": {"type": "string"}, "prediction": {"type": "string"}})
CRITIQUE_SCHEMA = _object({"critique": {"type": "string"},
                           "conclusion": {"type": "string", "enum": ["right", "wrong"]}})


def _dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, separators=(", ", ": "))


# --------------------------------------------------------------------------- parsing
def strip_thinking(text: str) -> str:
    """``text`` without ``<think>...</think>`` blocks (or an unclosed one's opening part)."""
    text = _THINK.sub("", text)
    if "</think>" in text:  # the server ate the opening tag
        text = text.split("</think>", 1)[1]
    return text.strip()


def parse_json(answer: Answer, model: type[_Out]) -> Any:
    """Validate the JSON object in ``answer.content`` against ``model``.

    Tolerates code fences and a leading ``<think>`` block: the object is the text from
    the first ``{`` to the last ``}``.

    Raises:
        ValueError: with a short reason when there is no object or it does not validate.
    """
    text = strip_thinking(answer.content)
    start, end = text.find("{"), text.rfind("}")
    cut = " (cut off at max_tokens: raise it for this role)" if (
        answer.finish_reason == "length") else ""
    if start < 0 or end < start:
        raise ValueError(f"the answer holds no JSON object{cut}: {text[:80]!r}")
    try:  # strict=False: raw newlines inside strings, which many models write, are kept
        data = json.loads(text[start : end + 1], strict=False)
    except ValueError as err:
        raise ValueError(f"invalid JSON answer{cut}: {err}") from None
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "answer"
        raise ValueError(f"invalid JSON answer at {where}: {first['msg']}") from None


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
    messages = prompt.messages(caption=caption, schema=_dumps(schema))

    def parse(answer: Answer) -> list[Scene]:
        scenes = parse_json(answer, _SceneList).scenes
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
                               schema=_dumps(schema))

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
                               schema=_dumps(SPLIT_SCHEMA))

    def parse(answer: Answer) -> tuple[str, str]:
        out: _CaptionSplit = parse_json(answer, _CaptionSplit)
        part1, part2 = " ".join(out.caption_part1.split()), " ".join(out.caption_part2.split())
        if not part1 or not part2:
            raise ValueError("caption_part1 and caption_part2 must both be non-empty")
        return part1, part2

    return await ctx.client.ask("planner", messages, parse, stage="split",
                                prompt_version=prompt.version, schema=SPLIT_SCHEMA,
                                schema_name="caption_split", priority=PRIORITY["split"])


def split_caption_from_scenes(scenes: list[Scene], x: int) -> tuple[str, str]:
    """Step 4 without a model: the scene descriptions up to X, and from X+1 on, joined."""
    return (" ".join(s.description for s in scenes[:x]),
            " ".join(s.description for s in scenes[x:]))


@dataclass(frozen=True)
class GroundingLimits:
    """Where a grounded split may land (seconds).

    Attributes:
        duration_s: duration of the video.
        shots_s: shot boundaries to snap onto.
        keyframes_s: keyframes (fast cut mode only; None in accurate mode).
        snap_tolerance_s: how far the split may move onto a shot boundary / keyframe.
        min_past_s, min_future_s: shortest past and future segments.
    """

    duration_s: float
    shots_s: list[float]
    keyframes_s: list[float] | None
    snap_tolerance_s: float = 0.5
    min_past_s: float = 1.0
    min_future_s: float = 1.0

    def place(self, grounded_s: float, answer: str) -> Grounding:
        """Check and snap one grounded time (see `ground_split`).

        Raises:
            ValueError: when the time or its snapped split is outside
                ``[min_past_s, duration_s - min_future_s]``, or fast mode finds no keyframe.
        """
        low, high = self.min_past_s, self.duration_s - self.min_future_s
        span = f"{format_timestamp(max(low, 0))} to {format_timestamp(max(high, 0))}"
        if not 0 < grounded_s < self.duration_s:
            raise ValueError(f"start_time {answer} is outside the video (00:00.00 to "
                             f"{format_timestamp(self.duration_s)})")
        snapped = snap_split(grounded_s, self.shots_s, self.keyframes_s, self.snap_tolerance_s)
        if snapped is None:
            raise ValueError(f"no keyframe within {self.snap_tolerance_s} s of {answer} "
                             "(fast cut mode)")
        split_s, kind = snapped
        if not low <= split_s <= high:
            raise ValueError(f"start_time {answer} leaves too little video on one side; "
                             f"give a time from {span}")
        return Grounding(answer=answer, grounded_s=grounded_s, split_s=split_s,
                         snapped_to=kind)


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
        schema=_dumps(GROUND_SCHEMA)), visual)

    def parse(answer: Answer) -> Grounding:
        text = parse_json(answer, _Grounded).start_time.strip()
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
                f"\"reasoning\" and your prediction in \"prediction\":\n{_dumps(PREDICT_SCHEMA)}")
    return ("Write your thinking inside <think> </think> and then your prediction inside "
            "<answer> </answer>.")


def parse_prediction(answer: Answer, structured: bool) -> Reasoning:
    """Reasoning and prediction from a reasoner's answer.

    Structured: the JSON ``{"reasoning", "prediction"}``. Otherwise the reasoning is the
    server's ``reasoning_content`` or the ``<think>`` block, the prediction the
    ``<answer>`` block or else the text after the thinking.

    Raises:
        ValueError: when either part is missing or empty.
    """
    if structured:
        out: _Prediction = parse_json(answer, _Prediction)
        reasoning, prediction = out.reasoning.strip(), out.prediction.strip()
    else:
        think = _THINK.search(answer.content)
        reasoning = (answer.reasoning or (think.group(1) if think else "")).strip()
        found = _ANSWER.search(answer.content)
        prediction = (found.group(1) if found else strip_thinking(answer.content)).strip()
        if not reasoning:
            raise ValueError("no reasoning: write it inside <think> </think>")
    if not reasoning or not prediction:
        raise ValueError("both the reasoning and the prediction must be non-empty")
    return Reasoning(reasoning_content=reasoning, prediction_content=prediction)


async def predict_next(ctx: StageContext, caption_part1: str) -> Reasoning:
    """Step 6: the reasoner's reasoning and prediction from ``caption_part1`` only."""
    prompt = ctx.prompts["predict"]
    structured = "reasoner" in ctx.structured_roles
    messages = prompt.messages(caption_part1=caption_part1, answer_format=_answer_format(ctx))
    return await ctx.client.ask(
        "reasoner", messages, lambda a: parse_prediction(a, structured), stage="predict",
        prompt_version=prompt.version, schema=PREDICT_SCHEMA if structured else None,
        schema_name="prediction", priority=PRIORITY["predict"])


def change_ratio(before: str, after: str) -> float:
    """``difflib.SequenceMatcher(None, before, after).ratio()`` (1.0: unchanged)."""
    return difflib.SequenceMatcher(None, before, after, autojunk=False).ratio()


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
                               schema=_dumps(REWRITE_SCHEMA))
    out: _Prediction = await ctx.client.ask(
        "rewriter", messages, lambda a: parse_json(a, _Prediction), stage="rewrite",
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
                               caption_part2=caption_part2, schema=_dumps(CRITIQUE_SCHEMA))

    def parse(answer: Answer) -> Critique:
        out: _Critique = parse_json(answer, _Critique)
        conclusion = out.conclusion.strip().lower()
        if conclusion not in ("right", "wrong") or not out.critique.strip():
            raise ValueError(f"conclusion must be 'right' or 'wrong' (got {out.conclusion!r}) "
                             "after a non-empty critique")
        return Critique(critique=out.critique.strip(),
                        conclusion=conclusion)  # type: ignore[arg-type]

    return await ctx.client.ask("critic", messages, parse, stage="critique",
                                prompt_version=prompt.version, schema=CRITIQUE_SCHEMA,
                                schema_name="critique", priority=PRIORITY["critique"])


async def reason_steps(
    ctx: StageContext, caption_part1: str, caption_part2: str, stages: frozenset[str],
    reasoning: Reasoning | None = None, critique: Critique | None = None,
) -> tuple[Reasoning | None, Critique | None, list[str]]:
    """Steps 6-8 from the two caption parts, each only when in ``stages``.

    ``predict`` is skipped when ``reasoning`` already has a prediction (e.g. imported from
    V1-33K); ``rewrite`` and ``critique`` need a prediction and run side by side (the
    critique judges the prediction as the reasoner wrote it).

    Returns:
        ``(reasoning, critique, warnings)``; warnings (a rejected rewrite) do not lose
        the record.

    Raises:
        LLMCallError: from the stage that found no usable answer.
    """
    if "predict" in stages and not (reasoning and reasoning.prediction_content):
        reasoning = await predict_next(ctx, caption_part1)
    if reasoning is None or not reasoning.prediction_content:
        return reasoning, critique, []
    prediction = reasoning.prediction_content
    given = reasoning

    async def rewrite() -> tuple[Reasoning, str]:
        if "rewrite" in stages and given.rewritten_prediction_content is None:
            return await rewrite_answer(ctx, given)
        return given, ""

    async def judge() -> Critique | None:
        if "critique" in stages and critique is None:
            return await critique_prediction(ctx, caption_part1, prediction, caption_part2)
        return critique

    (reasoning, rejected), judged = await run_both(rewrite(), judge())
    return reasoning, judged, [rejected] if rejected else []


async def reason_about_record(ctx: StageContext, record: NEPRecord,
                              stages: frozenset[str]) -> tuple[NEPRecord, list[str]]:
    """Steps 6-8 on one record (`reason_steps` on its caption parts).

    Returns:
        The record with ``reasoning`` / ``critique`` filled, and warnings.

    Raises:
        LLMCallError: from the stage that found no usable answer.
    """
    reasoning, critique, warnings = await reason_steps(
        ctx, record.caption_part1, record.caption_part2, stages, record.reasoning,
        record.critique)
    return record.model_copy(update={"reasoning": reasoning, "critique": critique}), warnings


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
