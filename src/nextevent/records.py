"""The record schema: the one contract every stage reads and writes.

Every arrow of the pipeline (see DESIGN.md) is a function from these records to these
records. Times are seconds (float) from the start of the source video unless a field
says otherwise; sizes are pixels; counts are frames.

The field names of `NEPRecord` follow the V1-33K release (`next_event_prediction.json`,
Wang et al., "Fostering Video Reasoning via Next-Event Prediction", arXiv 2505.22457,
Sec. 3) where a field has a V1 counterpart; `nextevent.export.v1` maps between the two.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

SnapKind = Literal["shot_boundary", "keyframe", "event_boundary"]
"""What a split point was moved onto: a detected shot boundary, a keyframe (fast cut
mode), or the unsnapped boundary between two annotated events."""

CutMode = Literal["smart", "accurate", "fast"]
"""`smart` and `accurate` are frame-exact (`smart` re-encodes only the partial GOPs next
to the split, `accurate` both whole clips); `fast` copies the stream from keyframes."""

QuestionType = Literal["hop1", "hop2", "hop3", "hop5", "interp"]
"""FutureBench question types (V1 paper, FutureBench): extrapolation by hop count, or
interpolation between the past and an end anchor."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Video(_Model):
    """What a probe of a video file found (see `nextevent.media.probe`).

    Attributes:
        path: absolute path of the source video file.
        duration_s: duration of the video stream in seconds.
        fps: average frame rate in frames per second.
        frame_count: number of video frames (counted or estimated from duration x fps).
        width, height: coded frame size in pixels, before any rotation.
        codec: decoder name of the video stream (e.g. ``h264``).
        rotation_deg: display rotation from the container's side data (0, 90, 180, 270).
        variable_frame_rate: True when frame durations are not constant.
        keyframes_s: presentation times (s) of the keyframes, used by the fast cut mode.
    """

    path: str
    duration_s: float = Field(gt=0)
    fps: float = Field(gt=0)
    frame_count: int = Field(ge=1)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    codec: str
    rotation_deg: int = 0
    variable_frame_rate: bool = False
    keyframes_s: list[float] = Field(default_factory=list)


class Event(_Model):
    """One annotated or extracted event (a "scene" in V1's event extraction).

    Attributes:
        start_s, end_s: event span in seconds from the start of the video,
            ``0 <= start_s <= end_s``. Both None only for untimed scenes (V1-33K's event
            extraction gives scene order, not times); stages that need times reject those.
        text: one sentence describing the event, whitespace-normalised, never empty.

    Raises:
        pydantic.ValidationError: when ``end_s < start_s``, a time is negative, only one
            of the two times is given, or the text is empty after stripping.
    """

    start_s: float | None = Field(default=None, ge=0)
    end_s: float | None = Field(default=None, ge=0)
    text: str

    @property
    def timed(self) -> bool:
        """True when the event has start and end times."""
        return self.start_s is not None

    @field_validator("text")
    @classmethod
    def _clean_text(cls, value: str) -> str:
        cleaned = " ".join(value.split())
        if not cleaned:
            raise ValueError("event text is empty")
        return cleaned

    @model_validator(mode="after")
    def _ordered(self) -> Event:
        if (self.start_s is None) != (self.end_s is None):
            raise ValueError("give both start_s and end_s, or neither for an untimed scene")
        if self.start_s is not None and self.end_s is not None and self.end_s < self.start_s:
            raise ValueError(f"event ends ({self.end_s}s) before it starts ({self.start_s}s)")
        return self


class VideoAnnotation(_Model):
    """One video's annotation as an importer reads it, before any media is touched.

    Attributes:
        video_id: the dataset's id for the video (e.g. ``v_QOlSCBRmfWY``).
        source: dataset name (``activitynet``, ``charades-sta``, ``tacos``, ``youcook2``,
            ``v1``, ``jsonl``).
        events: cleaned events, sorted by start (see `nextevent.sources.clean`).
        duration_s: duration the annotation claims, if it gives one.
        video_ref: a file name or relative path the annotation gives for the video, if any;
            otherwise the video is looked up as ``<video_id>.<ext>`` under ``--videos``.
        caption: a full-video caption, if the source has one (V1 ``caption``).
        extra: source fields kept for round trips (e.g. V1 ``mc_qa``).
    """

    video_id: str
    source: str
    events: list[Event]
    duration_s: float | None = None
    video_ref: str | None = None
    caption: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class SplitPlan(_Model):
    """Where a video is cut into a past and a future segment.

    Attributes:
        split_s: the split point in seconds; the past segment is ``[0, split_s)``, the
            future segment ``[split_s, duration)``.
        split_index: which of the video's ``--splits-per-video`` splits this is (0-based).
        last_past_event: index into the record's events of the last event in the past.
        event_boundary_s: the unsnapped boundary between event ``last_past_event`` and the
            next one, in seconds.
        snapped_to: what `split_s` sits on (shot boundary, keyframe, event boundary).
        reason: one sentence on why this split was chosen (planner rule or model reasoning).
    """

    split_s: float = Field(gt=0)
    split_index: int = Field(ge=0)
    last_past_event: int = Field(ge=0)
    event_boundary_s: float = Field(ge=0)
    snapped_to: SnapKind
    reason: str


class Segment(_Model):
    """A cut clip on disk.

    Attributes:
        path: path relative to the run directory (e.g. ``clips/<id>/past.mp4``).
        start_s, end_s: span of the source video the clip holds, in seconds; for the fast
            cut mode these are the actual keyframe-aligned times.
        duration_s: duration of the written clip in seconds.
        frame_count: frames in the written clip.
        reencoded_frames: frames of the clip encoded by libx264 (all of them for
            ``accurate``, none for ``fast``, the partial GOP at the split for ``smart``);
            the others are the source's packets, copied. None in records made before it
            was recorded.
    """

    path: str
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    duration_s: float = Field(ge=0)
    frame_count: int = Field(ge=0)
    reencoded_frames: int | None = Field(default=None, ge=0)


class Reasoning(_Model):
    """A reasoner's future prediction from the past caption only (V1 ``ds_reasoning``,
    data-construction steps 6 and 7)."""

    reasoning_content: str | None = None
    prediction_content: str | None = None
    rewritten_reasoning_content: str | None = None
    rewritten_prediction_content: str | None = None


class Critique(_Model):
    """A critic's judgement of a prediction against ``caption_part2`` (V1
    ``o3_critique``, step 8)."""

    critique: str
    conclusion: Literal["right", "wrong"]


class PredictionSample(_Model):
    """One of a record's K predictions (``nextevent build --predictions K``): the
    reasoner asked once more, with a seed of its own, then rewritten and critiqued.

    Attributes:
        index: the sample's number, 0 to K-1. Sample 0 is the record's `NEPRecord.reasoning`
            / `NEPRecord.critique` (V1's one prediction), asked exactly as a build without
            ``--predictions`` asks it (same request, same cache entry).
        seed: the ``seed`` sent with the reasoner's request in place of the role's own:
            None for sample 0 (the role's own ``seed``, if it has one), for sample
            ``i > 0`` the role's seed (0 when it has none) plus ``i``
            (`nextevent.pipeline.model_steps.sample_seed`), so every sample is its own
            cached call.
        reasoning: the prediction and its rewrite (steps 6 and 7).
        critique: the critic's verdict (step 8); None when the critique stage did not run.
    """

    index: int = Field(ge=0)
    seed: int | None = None
    reasoning: Reasoning
    critique: Critique | None = None


class QATurn(_Model):
    """One turn of a V1 full-video ``mc_qa`` / ``oe_qa`` conversation (LLaVA style)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    from_: str = Field(alias="from")
    value: str


class NEPRecord(_Model):
    """One next-event-prediction sample: a video cut at a split point.

    Attributes:
        id: stable id, ``<video_id>#<split_index>``; unique within a run.
        source: dataset the annotation came from.
        video_id: the dataset's video id.
        video: the probed source video; None for text-only records (no media).
        events: all events of the video, sorted; ``events[: split.last_past_event + 1]``
            are the past events.
        split: the split plan.
        cut_mode: how the clips were cut (the mode used: ``accurate`` when a requested
            smart cut fell back); None when no media was cut.
        cut_note: why the cut differs from the requested mode (e.g. an HEVC file that
            fell back from ``smart`` to ``accurate``), else None.
        clip_fps: the frame rate (frames per second) the clips were resampled to
            (``nextevent build --clip-fps``), the one a training engine should sample them
            at; None: the clips keep the source's frames.
        clip_max_pixels: the most pixels (width x height) per clip frame the clips were
            scaled to (``--clip-max-pixels``); None: the source size.
        past, future: the cut clips; None for text-only records.
        caption: full-video caption if known (V1 ``caption``).
        caption_part1: text of the past events, in order (V1 ``split_caption``).
        caption_part2: text of the future events, in order; the NEP label.
        reasoning, critique: filled by the model-backed stages, else None; with K
            predictions, sample 0's (so V1's shape holds the first sample).
        samples: every prediction when the record has more than one (``build
            --predictions K``, K > 1), sample 0 included (its `reasoning` and `critique`
            equal the record's); empty for a record with at most one prediction, whose
            one sample is `reasoning` / `critique` (see `predictions`). An empty list is
            left out of the record's JSON, so such records read and write as before.
        mc_qa, oe_qa: V1 full-video QA turns, kept for round trips.
        extra: source fields with no typed home, kept for round trips (e.g. V1's original
            ``video_path`` / ``full_video_path`` strings when the media was not probed).
    """

    id: str
    source: str
    video_id: str
    video: Video | None
    events: list[Event] = Field(min_length=2)
    split: SplitPlan
    cut_mode: CutMode | None = None
    cut_note: str | None = None
    clip_fps: float | None = Field(default=None, gt=0)
    clip_max_pixels: int | None = Field(default=None, gt=0)
    past: Segment | None = None
    future: Segment | None = None
    caption: str | None = None
    caption_part1: str
    caption_part2: str
    reasoning: Reasoning | None = None
    critique: Critique | None = None
    samples: list[PredictionSample] = Field(default_factory=list)
    mc_qa: list[QATurn] | None = None
    oe_qa: list[QATurn] | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _samples_in_order(self) -> NEPRecord:
        if [s.index for s in self.samples] != list(range(len(self.samples))):
            raise ValueError("samples must be numbered 0, 1, ... in order (index)")
        return self

    @model_serializer(mode="wrap")
    def _without_empty_samples(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not self.samples:
            data.pop("samples", None)
        return data

    @property
    def predictions(self) -> list[PredictionSample]:
        """Every prediction of the record, sample 0 first: `samples` when it holds them,
        else the one `reasoning` (with `critique`) as sample 0, else none. A sample's
        ``seed`` is None in the one-prediction form (it was not stored)."""
        if self.samples:
            return list(self.samples)
        if self.reasoning is None:
            return []
        return [PredictionSample(index=0, reasoning=self.reasoning, critique=self.critique)]

    def with_predictions(self, predictions: list[PredictionSample]) -> NEPRecord:
        """A copy holding ``predictions`` (numbered 0.. in order): sample 0 as `reasoning`
        / `critique`, all of them in `samples` when there is more than one.

        Raises:
            ValueError: when ``predictions`` is empty or not numbered 0, 1, ... in order.
        """
        if not predictions:
            raise ValueError("a record needs at least one prediction to hold them")
        if [s.index for s in predictions] != list(range(len(predictions))):
            raise ValueError("predictions must be numbered 0, 1, ... in order (index)")
        first = predictions[0]
        return self.model_copy(update={
            "reasoning": first.reasoning, "critique": first.critique,
            "samples": list(predictions) if len(predictions) > 1 else []})

    @property
    def verdicts(self) -> list[Literal["right", "wrong"]]:
        """The critic's conclusion of each judged prediction, in sample order."""
        return [s.critique.conclusion for s in self.predictions if s.critique is not None]

    @property
    def pass_rate(self) -> float | None:
        """Share of the judged predictions judged right (right / judged, 0 to 1); with
        every sample judged, right / K. None when no prediction was judged."""
        verdicts = self.verdicts
        if not verdicts:
            return None
        return verdicts.count("right") / len(verdicts)

    @property
    def past_events(self) -> list[Event]:
        """Events wholly or mostly before the split point."""
        return self.events[: self.split.last_past_event + 1]

    @property
    def future_events(self) -> list[Event]:
        """Events from the split point on."""
        return self.events[self.split.last_past_event + 1 :]


class MCQ(_Model):
    """A FutureBench question with four options (published field names)."""

    Question: str
    Options: dict[Literal["A", "B", "C", "D"], str]
    Answer: Literal["A", "B", "C", "D"]


class BenchItem(_Model):
    """A FutureBench item (V1 paper, FutureBench): published fields plus our metadata.

    Attributes:
        id: unique item id.
        video_path: the past segment the model sees; None in text-level benchmarks.
        question_type: ``hop1|hop2|hop3|hop5|interp``.
        qa: question, options A-D, answer letter.
        meta: source record id, distractor kinds per option, seed.
    """

    id: str
    video_path: str | None
    question_type: QuestionType
    qa: MCQ
    meta: dict[str, Any] = Field(default_factory=dict)


class Failure(_Model):
    """One input that could not be processed, as written to ``failures.jsonl``.

    Attributes:
        input: what failed, as the user would name it (a file path, ``video_id``, or
            ``video_id#split``).
        stage: the stage that failed (``import``, ``resolve``, ``probe``, ``events``,
            ``shots``, ``plan``, ``cut``, ``export``, ...).
        error: what went wrong, in one sentence.
        hint: what the user can do about it.
        key: identity used to avoid writing the same failure twice on a rerun.
        time: when it was recorded (UTC, ISO 8601).
    """

    input: str
    stage: str
    error: str
    hint: str
    key: str = ""
    time: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    @model_validator(mode="after")
    def _default_key(self) -> Failure:
        if not self.key:
            self.key = f"{self.stage}:{self.input}"
        return self


class NextEventError(Exception):
    """An input problem that becomes one `Failure` line; carries the stage and a hint.

    Args:
        stage: pipeline stage that raised it.
        message: what went wrong, naming the input.
        hint: what to do about it.
    """

    def __init__(self, stage: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.hint = hint

    def to_failure(self, input_name: str, key: str | None = None) -> Failure:
        """Turn this error into a `Failure` for ``input_name``."""
        return Failure(input=input_name, stage=self.stage, error=str(self), hint=self.hint,
                       key=key or f"{self.stage}:{input_name}")
