"""Training strategies: turn NEP records into (system, question, target, media) samples.

The strategies are the ones V1 compares on the same videos (Wang et al., "Fostering Video
Reasoning via Next-Event Prediction", arXiv 2505.22457, Sec. 4 and its released
``video_data_generation.py`` in sail-sg/Video-Next-Event-Prediction, commit 7250875d),
plus DPO:

=============  ===========  ===================================================  =========
strategy       video        target (assistant turn)                              needs
=============  ===========  ===================================================  =========
``sft``        past         ``caption_part2``                                    -
``distill``    past         ``<think>`` rewritten reasoning ``</think>``          reasoning
                            ``<answer>`` rewritten prediction ``</answer>``;
                            system prompt asks for that format
``cft``        past         ``Critique: ... Conclusion: right|wrong.``; the       reasoning,
                            question holds the solution; sampled to a             critique
                            wrong:right ratio (default 2.1)
``prev``       future       ``caption_part1`` (previous-event prediction)        future clip
``caption``    full         the full-video ``caption``                           caption
``mcqa``       full         the ``mc_qa`` answer (one sample per QA pair)        mc_qa
``oeqa``       full         the ``oe_qa`` answer (one sample per QA pair)        oe_qa
``whats-next`` full         ``caption_part2``; the question quotes the last      -
                            past scene
``dpo``        past         chosen: a prediction judged right, rejected: one     K
                            judged wrong, same split; or ``caption_part2``       judged
                            against a wrong one (``--dpo-pairs reference``);     predictions
                            both in `nextevent.export.dpo`
``mix``        (several)    named proportions of the strategies above           -
=============  ===========  ===================================================  =========

A record that lacks what a strategy needs is skipped with a `Failure` (stage ``export``);
nothing is made up. Questions come from the seeded pools of `nextevent.export.questions`,
so a record gets the same question under ``sft``, ``distill``, ``cft`` and ``dpo``.

Which samples are kept (mix, caps, the CFT ratio) is `nextevent.export.selection`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nextevent.export.base import (
    check_no_placeholder,
    confined_path,
    segment_file,
    unsafe_path_problem,
)
from nextevent.export.questions import (
    caption_question,
    nep_question,
    prev_question,
    whats_next_question,
)
from nextevent.records import Failure, NEPRecord, NextEventError

Task = Literal["nep", "mcq", "open"]
"""What a reward compares the answer with: ``nep`` the future caption, ``mcq`` an option
letter, ``open`` another free-text reference (previous events, a caption, a QA answer)."""

STRATEGIES: tuple[str, ...] = (
    "sft", "distill", "cft", "mix", "prev", "caption", "mcqa", "oeqa", "whats-next", "dpo",
)
"""Every strategy name `build_samples` takes."""

MIXABLE: tuple[str, ...] = (
    "sft", "distill", "cft", "prev", "caption", "mcqa", "oeqa", "whats-next",
)
"""Strategies that may appear in a ``mix`` (DPO is a paired format of its own)."""

DEFAULT_CFT_RATIO = 2.1
"""V1's wrong:right ratio of critique fine-tuning samples (arXiv 2505.22457, Sec. 4)."""

DISTILL_SYSTEM = (
    "You are a helpful assistant who reasons before answering. First think through the "
    "problem step by step as an inner monologue, then give the user your answer. Reply "
    "in exactly this format: <think>\n...\n</think>\n<answer>\n...\n</answer>"
)
"""System prompt of the ``distill`` strategy (and of GRPO prompts in that format)."""

CFT_SYSTEM = "Critique the solution to the question below and conclude whether it is right."
"""System prompt of the ``cft`` strategy (critique fine-tuning)."""

_QA_PLACEHOLDERS = ("<image>", "<video>")


@dataclass(frozen=True)
class Sample:
    """One training sample, before any engine's layout.

    Attributes:
        record_id, video_id: the record it comes from (the split by video uses video_id).
        strategy: the strategy that made it.
        question: the user turn's text, with no media placeholder (exporters add it).
        target: the assistant turn (for DPO: the chosen answer).
        videos: absolute paths of the video files the user turn shows, in order.
        system: the system prompt, if the strategy has one.
        rejected: DPO only: the rejected answer (``target`` is the chosen one).
        reference: what a reward compares a generated answer with (``caption_part2`` for
            next-event prediction, even when ``target`` is a reasoning trace).
        task: the reward kind `reference` is for (see `Task`).
        index: the sample's number within its record and strategy (QA pairs), from 0.
        extra: small facts exporters may carry along (``conclusion`` for CFT).
    """

    record_id: str
    video_id: str
    strategy: str
    question: str
    target: str
    videos: tuple[str, ...]
    system: str | None = None
    rejected: str | None = None
    reference: str = ""
    task: Task = "nep"
    index: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Unique id of the sample within an export: ``<record_id>:<strategy>:<index>``."""
        return f"{self.record_id}:{self.strategy}:{self.index}"


@dataclass
class StrategyResult:
    """What `build_samples` made.

    Attributes:
        samples: the selected samples, in record order.
        failures: one `Failure` per (record, strategy) that could not be made.
        report: JSON-able facts for the CLI: counts per strategy, CFT wrong/right counts
            and the achieved ratio, mix quotas asked and met, pass-rate filter counts.
        difficulty: one row per record (pass rate, verdict counts, mean reward, kept)
            when a difficulty option was given (`nextevent.export.selection`), else empty.
    """

    samples: list[Sample]
    failures: list[Failure]
    report: dict[str, Any]
    difficulty: list[dict[str, Any]] = field(default_factory=list)


# ----------------------------------------------------------------------------- media


def record_video(
    record: NEPRecord,
    which: Literal["past", "future", "full"],
    run_dir: Path,
    media_root: Path | None = None,
) -> Path:
    """The video file a strategy shows: the ``past`` or ``future`` segment, or the ``full``
    source video.

    Records cut by ``nextevent build`` carry their clips (paths relative to the run
    directory) and the probed source video. Records imported from V1-33K carry V1's
    relative ``video_path`` (past segment) and ``full_video_path`` strings in ``extra``;
    those are resolved against ``media_root`` when given (the V1-33K release folder),
    else against the run directory, and must stay inside that folder. V1 has no
    future-segment path.

    Raises:
        NextEventError: (stage ``export``) when the record has no such video, the file
            does not exist, a path holds a NUL or control character, or a segment or V1
            path lies outside the run directory (segments) or the media root
            (`nextevent.export.base.confined_path`).
    """
    if which in ("past", "future") and getattr(record, which) is not None:
        return segment_file(record, which, run_dir)
    if which == "full" and record.video is not None:
        problem = unsafe_path_problem(record.video.path)
        if problem is not None:
            raise NextEventError(
                "export", f"full video of record {record.id} {problem}; the record was "
                "skipped", "fix or drop this record; the other records were exported")
        return _existing(Path(record.video.path), record, "full video")
    v1_key = {"past": "video_path", "full": "full_video_path"}.get(which)
    v1_path = record.extra.get(v1_key) if v1_key else None
    if isinstance(v1_path, str) and v1_path:
        base = Path(media_root) if media_root is not None else Path(run_dir)
        option = "--media-root" if media_root is not None else "the run directory"
        path = confined_path(v1_path, base, record.id, f"V1 {v1_key}", option)
        return _existing(path, record, f"V1 {v1_key}")
    if which == "full":
        raise NextEventError(
            "export", f"record {record.id} has no full video path",
            "export a record built from a video (nextevent build), or one imported from "
            "V1-33K with full_video_path",
        )
    return segment_file(record, which, run_dir)  # raises the text-only error


def _existing(path: Path, record: NEPRecord, what: str) -> Path:
    path = path.resolve()
    if not path.is_file():
        raise NextEventError(
            "export", f"{what} of record {record.id} is missing: {path}",
            "put the video there (for V1-33K records pass --media-root <the V1-33K folder>),"
            " or export a strategy that does not need it",
        )
    return path


# ----------------------------------------------------------------------------- texts


def think_answer(reasoning: str, answer: str) -> str:
    """``<think>\\n{reasoning}\\n</think>\\n<answer>\\n{answer}\\n</answer>`` (V1's distill
    target layout)."""
    return f"<think>\n{reasoning.strip()}\n</think>\n<answer>\n{answer.strip()}\n</answer>"


def _rewritten(record: NEPRecord, strategy: str) -> tuple[str, str]:
    """The rewritten reasoning and prediction (V1 step 7), or an export error."""
    r = record.reasoning
    if r is None or not (r.rewritten_reasoning_content and r.rewritten_prediction_content):
        have = "no reasoning" if r is None else "no rewritten reasoning and prediction"
        raise NextEventError(
            "export", f"record {record.id} has {have}; {strategy} needs them",
            "run the reasoning and rewrite stages (or import V1-33K records with "
            "ds_reasoning), or export it with --strategy sft",
        )
    return r.rewritten_reasoning_content, r.rewritten_prediction_content


def _critique(record: NEPRecord, strategy: str) -> tuple[str, str]:
    if record.critique is None:
        raise NextEventError(
            "export", f"record {record.id} has no critique; {strategy} needs one",
            "run the critique stage (or import V1-33K records with o3_critique), or export "
            "it with --strategy sft",
        )
    return record.critique.critique, record.critique.conclusion


# ----------------------------------------------------------------------------- builders

Builder = Callable[[NEPRecord, Path, Path | None, int], list[Sample]]


def _sample(record: NEPRecord, strategy: str, question: str, target: str, video: Path,
            **kw: Any) -> Sample:
    check_no_placeholder(record, question, target, *(
        v for v in (kw.get("system"), kw.get("rejected")) if v))
    return Sample(record_id=record.id, video_id=record.video_id, strategy=strategy,
                  question=question, target=target, videos=(str(video),), **kw)


def sft_samples(record: NEPRecord, run_dir: Path, media_root: Path | None, seed: int
                ) -> list[Sample]:
    """Past segment in, ``caption_part2`` out (V1 SFT)."""
    video = record_video(record, "past", run_dir, media_root)
    return [_sample(record, "sft", nep_question(record.id, seed), record.caption_part2, video,
                    reference=record.caption_part2, task="nep")]


def distill_samples(record: NEPRecord, run_dir: Path, media_root: Path | None, seed: int
                    ) -> list[Sample]:
    """Past segment in; `DISTILL_SYSTEM`; target = rewritten reasoning and prediction in
    ``<think>``/``<answer>`` (V1 Distill)."""
    reasoning, prediction = _rewritten(record, "distill")
    video = record_video(record, "past", run_dir, media_root)
    return [_sample(record, "distill", nep_question(record.id, seed),
                    think_answer(reasoning, prediction), video, system=DISTILL_SYSTEM,
                    reference=record.caption_part2, task="nep")]


def cft_samples(record: NEPRecord, run_dir: Path, media_root: Path | None, seed: int
                ) -> list[Sample]:
    """Past segment and a solution in; critique and conclusion out (V1 CFT).

    Question: ``Question:\\n<NEP question>\\n\\nSolution:\\n<think>...</think><answer>...
    </answer>``; target: ``Critique:\\n<critique>\\n\\nConclusion:\\n<right|wrong>.``.
    """
    reasoning, prediction = _rewritten(record, "cft")
    critique, conclusion = _critique(record, "cft")
    video = record_video(record, "past", run_dir, media_root)
    question = (f"Question:\n{nep_question(record.id, seed)}\n\nSolution:\n"
                f"{think_answer(reasoning, prediction)}")
    target = f"Critique:\n{critique.strip()}\n\nConclusion:\n{conclusion}."
    return [_sample(record, "cft", question, target, video, system=CFT_SYSTEM,
                    reference=conclusion, task="open", extra={"conclusion": conclusion})]


def prev_samples(record: NEPRecord, run_dir: Path, media_root: Path | None, seed: int
                 ) -> list[Sample]:
    """Future segment in, ``caption_part1`` out (previous-event prediction, V1 Sec. 4)."""
    video = record_video(record, "future", run_dir, media_root)
    return [_sample(record, "prev", prev_question(record.id, seed), record.caption_part1,
                    video, reference=record.caption_part1, task="open")]


def caption_samples(record: NEPRecord, run_dir: Path, media_root: Path | None, seed: int
                    ) -> list[Sample]:
    """Full video in, the full-video ``caption`` out (captioning control)."""
    if not record.caption:
        raise NextEventError(
            "export", f"record {record.id} has no full-video caption; caption needs one",
            "run the captioning stage (or import V1-33K records, which carry one), or "
            "export another strategy",
        )
    video = record_video(record, "full", run_dir, media_root)
    return [_sample(record, "caption", caption_question(record.id, seed), record.caption,
                    video, reference=record.caption, task="open")]


def whats_next_samples(record: NEPRecord, run_dir: Path, media_root: Path | None, seed: int
                       ) -> list[Sample]:
    """Full video in, told the last past scene; ``caption_part2`` out (V1's
    ``full_video_what_happens_next`` control)."""
    event = record.events[record.split.last_past_event].text
    video = record_video(record, "full", run_dir, media_root)
    return [_sample(record, "whats-next", whats_next_question(record.id, event, seed),
                    record.caption_part2, video, reference=record.caption_part2, task="nep")]


def _qa_samples(record: NEPRecord, run_dir: Path, media_root: Path | None, kind: str
                ) -> list[Sample]:
    turns = record.mc_qa if kind == "mcqa" else record.oe_qa
    name = "mc_qa" if kind == "mcqa" else "oe_qa"
    if not turns:
        raise NextEventError(
            "export", f"record {record.id} has no {name} turns; {kind} needs them",
            f"import V1-33K records that carry {name}, or export another strategy",
        )
    if len(turns) % 2:
        raise NextEventError(
            "export", f"record {record.id} has an odd number ({len(turns)}) of {name} turns",
            f"fix {name} so it alternates question and answer",
        )
    video = record_video(record, "full", run_dir, media_root)
    samples = []
    for i in range(0, len(turns), 2):
        question = turns[i].value
        for tag in _QA_PLACEHOLDERS:  # V1 strips the image tag of its LLaVA-style turns
            question = question.replace(tag, "")
        question, answer = question.strip(), turns[i + 1].value.strip()
        task: Task = "mcq" if kind == "mcqa" and len(answer) == 1 and answer in "ABCD" else "open"
        samples.append(_sample(record, kind, question, answer, video, reference=answer,
                               task=task, index=i // 2))
    return samples


def mcqa_samples(record: NEPRecord, run_dir: Path, media_root: Path | None, seed: int
                 ) -> list[Sample]:
    """Full video in, one sample per ``mc_qa`` question-answer pair (MCQA control)."""
    return _qa_samples(record, run_dir, media_root, "mcqa")


def oeqa_samples(record: NEPRecord, run_dir: Path, media_root: Path | None, seed: int
                 ) -> list[Sample]:
    """Full video in, one sample per ``oe_qa`` question-answer pair (OEQA control)."""
    return _qa_samples(record, run_dir, media_root, "oeqa")


BUILDERS: dict[str, Builder] = {
    "sft": sft_samples,
    "distill": distill_samples,
    "cft": cft_samples,
    "prev": prev_samples,
    "caption": caption_samples,
    "mcqa": mcqa_samples,
    "oeqa": oeqa_samples,
    "whats-next": whats_next_samples,
}
"""One sample builder per strategy (``mix`` combines them); DPO's pairs are built by
`nextevent.export.dpo`, with the pairing and cap the export chooses."""
