"""Model answers of V1's data construction: their pydantic shapes, JSON schemas and parsers.

Every model stage (`nextevent.pipeline.model_stages`) asks for one of these shapes and
re-asks with the parser's reason when an answer does not fit (Wang et al., arXiv
2505.22457, Sec. 3; the steps are listed in ``docs/research.md``). Grounded split times
are checked here too (`GroundingLimits`), since a time outside them is a bad answer.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from nextevent.llm.cache import Answer
from nextevent.pipeline.planner import snap_split
from nextevent.records import Reasoning, SnapKind
from nextevent.timecode import format_timestamp

_THINK = re.compile(r"<think>(.*?)</think>", re.S | re.I)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_BETWEEN = re.compile(r"between\s+scene\s+(\d+)\s+and\s+scene\s+(\d+)", re.I)


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


class SceneList(_Out):
    """Step 2's answer: ``{"scenes": [...]}``."""

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


class CaptionSplit(_Out):
    """Step 4's answer: the caption divided into ``caption_part1`` / ``caption_part2``."""

    caption_part1: str
    caption_part2: str


class GroundedTime(_Out):
    """Step 5's answer: ``start_time`` of Scene Y as ``MM:SS.ss``."""

    start_time: str


class Prediction(_Out):
    """Step 6/7's answer: ``reasoning`` and ``prediction`` (JSON mode)."""

    reasoning: str
    prediction: str


class CritiqueAnswer(_Out):
    """Step 8's answer: ``critique`` and ``conclusion`` (``right`` / ``wrong``)."""

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


def dumps_schema(schema: dict[str, Any]) -> str:
    """A schema as the prompts show it (one line, ``", "`` and ``": "`` separators)."""
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


def parse_prediction(answer: Answer, structured: bool) -> Reasoning:
    """Reasoning and prediction from a reasoner's answer.

    Structured: the JSON ``{"reasoning", "prediction"}``. Otherwise the reasoning is the
    server's ``reasoning_content`` or the ``<think>`` block, the prediction the
    ``<answer>`` block or else the text after the thinking.

    Raises:
        ValueError: when either part is missing or empty.
    """
    if structured:
        out: Prediction = parse_json(answer, Prediction)
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



def change_ratio(before: str, after: str) -> float:
    """``difflib.SequenceMatcher(None, before, after).ratio()`` (1.0: unchanged)."""
    return difflib.SequenceMatcher(None, before, after, autojunk=False).ratio()
