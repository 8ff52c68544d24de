"""Planned answers of every V1 role for the scripted server (tests and the benchmark).

`v1_answer` reads a chat request the way a model would read its prompt, just
mechanically: it finds the stage from the role's model name (``scripted-<role>``) and the
answer schema, and answers from what the request holds (the frames' timestamps, the
caption, the scenes). Captions carry a fingerprint of the first frame, so different
videos give different requests all the way down (the first scene names the clip).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from scripted_server import image_urls, user_text

CAPTION_SENTENCES = (
    "A person walks up to a parked bicycle on a city street.",
    "The person bends down and unlocks the bicycle.",
    "The person climbs on and rides away along the street.",
    "The cyclist slows down and stops at a red traffic light.",
)
_TIME = re.compile(r"(\d{2,3}):(\d{2}\.\d{2})")


def _schema(request: dict[str, Any]) -> dict[str, Any]:
    fmt = request.get("response_format") or {}
    if "json_schema" in fmt:
        return fmt["json_schema"].get("schema") or {}
    return fmt.get("schema") or {}


def stage_of(request: dict[str, Any]) -> str:
    """The pipeline stage a request belongs to."""
    role = str(request.get("model", "")).removeprefix("scripted-")
    props = set(_schema(request).get("properties") or {})
    text = user_text(request)
    if role == "captioner":
        return "caption"
    if role == "grounder":
        return "ground"
    if role == "reasoner":
        return "predict"
    if role == "rewriter":
        return "rewrite"
    if role == "critic":
        return "critique"
    if "scenes" in props or "Split it into consecutive scenes" in text:
        return "events"
    if "suitable" in props or '"suitable"' in text:
        return "causal"
    return "split"


def fingerprint(request: dict[str, Any]) -> str:
    """8 hex digits identifying the video behind a caption request."""
    urls = image_urls(request)
    return hashlib.sha256((urls[0] if urls else user_text(request)).encode()).hexdigest()[:8]


def unsuitable(caption: str) -> bool:
    """Whether the planned causal analysis rejects this caption (about 1 in 8 videos)."""
    match = re.search(r"clip ([0-9a-f]{8})", caption)
    return bool(match) and int(match.group(1), 16) % 8 == 0


def _quoted(text: str) -> str:
    match = re.search(r'"""(.*?)"""', text, re.S)
    return match.group(1) if match else ""


def v1_answer(request: dict[str, Any]) -> str | dict[str, Any]:
    """The planned answer to one request of the model-backed pipeline."""
    stage = stage_of(request)
    text = user_text(request)
    if stage == "caption":
        if not image_urls(request) and "video_url" not in json.dumps(request):
            raise ValueError("a caption request must carry the video")
        first = CAPTION_SENTENCES[0].replace("A person", f"In clip {fingerprint(request)}, a "
                                             "person", 1)
        return " ".join([first, *CAPTION_SENTENCES[1:]])
    if stage == "events":
        caption = _quoted(text)
        sentences = [s.strip() + "." for s in caption.split(".") if s.strip()]
        scenes = [{"scene": i, "description": s} for i, s in enumerate(sentences, 1)]
        return json.dumps({"scenes": scenes})
    if stage == "causal":
        caption = _quoted(text)
        if unsuitable(caption):
            return json.dumps({"reasoning": "Nothing in the start hints at the rest.",
                               "suitable": False, "split": "between Scene 1 and Scene 2"})
        return json.dumps({"reasoning": "Unlocking a bicycle is done to ride it.",
                           "suitable": True, "split": "between Scene 2 and Scene 3"})
    if stage == "split":
        lines = re.findall(r"^Scene (\d+): (.*)$", text, re.M)
        part1 = " ".join(d for n, d in lines if int(n) <= 2)
        part2 = " ".join(d for n, d in lines if int(n) > 2)
        return json.dumps({"caption_part1": part1, "caption_part2": part2})
    if stage == "ground":
        match = re.search(r"lasts (\d{2,3}):(\d{2}\.\d{2})", text)
        duration = int(match.group(1)) * 60 + float(match.group(2)) if match else 10.0
        at = duration * 0.45
        return json.dumps({"start_time": f"{int(at // 60):02d}:{at % 60:05.2f}"})
    if stage == "predict":
        part1 = _quoted(text)
        reasoning = (f"The caption says: {part1} Someone who unlocks a bicycle usually "
                     "rides it next.")
        prediction = "The person rides the bicycle away down the street."
        if "<think>" in text:
            return f"<think>{reasoning}</think><answer>{prediction}</answer>"
        return json.dumps({"reasoning": reasoning, "prediction": prediction})
    if stage == "rewrite":
        blocks = re.findall(r'"""(.*?)"""', text, re.S)
        reasoning, prediction = (blocks + ["", ""])[:2]

        def swap(s: str) -> str:
            return s.replace("The caption says", "The video shows").replace(
                "the caption", "the video")

        return json.dumps({"reasoning": swap(reasoning), "prediction": swap(prediction)})
    return json.dumps({"critique": "The prediction matches the ride that follows; the stop "
                       "at the light could not be foreseen.", "conclusion": "right"})
