"""Evaluate a model on FutureBench through the one model client (`nextevent.llm`).

Each item's past segment is sent as sampled, timestamped frames (or one ``video_url``
part; `nextevent.llm.vision`) with the question and options; ``text_only`` sends the past
caption instead (the decoder probe of Video-T3, Li et al., arXiv 2410.06166, Sec. 4).
The prompt and the score are `nextevent.bench.prompts`' (`question_text`,
`score_response`; the exported lmms-eval task uses the same two). Every raw response is
appended to ``responses.jsonl`` in the output folder (`nextevent.rundir.EvalDir`, one
`nextevent.rundir.ResponseLine` a line); a rerun skips items already answered there for
the same model, mode and input. Accuracy per question type and overall carries a
bootstrap 95% CI over items (``results.json``, `nextevent.rundir.EvalResults`).

In ``reasoning`` mode ``results.json`` also holds the think-answer consistency (after
Video-R2's TAC, arXiv 2511.23478): how often the ``<answer>`` letter is the option the
``<think>`` text concludes, overall and per type, with the same bootstrap CI
(`summarize_consistency`). The conclusion is read by a judge model when the config has a
`JUDGE_ROLE` role (`judge_config`; asked through the same client and cache, a
`ThinkConclusion` JSON answer), else by the rule of `nextevent.rewards.consistency`
(the last option the thinking names). Items whose thinking names no option and items
without an ``<answer>`` letter are neither consistent nor inconsistent: they are
counted apart (``no_conclusion``, ``no_answer``), not in the rate. Each new
``responses.jsonl`` line records its ``conclusion`` and ``conclusion_by``; the figures
are read anew for every item on each run (judge answers come from the cache).

An item whose call fails for good (server down, retries or ``deadline_s`` used up, a body
over ``max_response_bytes``, a missing clip) does not stop the others: it becomes one
`nextevent.records.Failure` line in ``failures.jsonl`` (naming the item and the error,
credentials redacted), is left out of the accuracy (``results.json`` counts it in
``failed``) and is asked again on a rerun.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from nextevent.bench.prompts import PromptMode, question_text, score_response
from nextevent.bench.stats import accuracy_summary
from nextevent.jsonl import append_jsonl, cut_torn_tail, read_jsonl
from nextevent.llm.cache import Answer, CallCache
from nextevent.llm.client import LLMClient
from nextevent.llm.config import LLMConfig, RoleConfig, VideoInput
from nextevent.records import BenchItem, Failure, NextEventError
from nextevent.rewards.consistency import think_conclusion, think_text
from nextevent.rundir import FAILURES_NAME, EvalDir, EvalResults, ResponseLine, RunLock

ROLE = "reasoner"
"""The `nextevent.llm` role the evaluated model is configured under (any role name works
for the client; this one needs no vision-specific handling)."""
PROMPT_VERSION = "futurebench-eval-2"  # 2: the official whitespace (issue 16)
JUDGE_ROLE = "judge"
"""The role that reads a thinking's conclusion, when configured (`judge_config`)."""
JUDGE_PROMPT_VERSION = "think-conclusion-1"
JUDGE_MAX_CHARS = 16000
"""Most characters of a thinking shown to the judge: its end (where it concludes)."""
JUDGE_PROMPT = (
    "Below are a multiple-choice question about what happens next in a video, its "
    "options, and a model's reasoning about it. Which option does the reasoning itself "
    "conclude is the answer? Judge only what the reasoning says, not whether it is "
    "right, and answer \"none\" when it settles on no option.\n\n"
    "Question: {question}\nOptions:\n{options}\n\nReasoning:\n<<<\n{thinking}\n>>>\n\n"
    "Answer with JSON only: {{\"conclusion\": one of {choices}}}")
"""The judge's prompt (the ``<answer>`` is not shown to it)."""


class ThinkConclusion(BaseModel):
    """The judge's answer: the option letter the reasoning concludes, or ``none``."""

    model_config = ConfigDict(extra="forbid")

    conclusion: Literal["A", "B", "C", "D", "none"]


def model_config(base_url: str, model: str, *, concurrency: int = 4, max_tokens: int = 16,
                 temperature: float = 0.0, api_key_env: str | None = None,
                 video: VideoInput | None = None, timeout_s: float = 120.0,
                 max_retries: int = 4, deadline_s: float | None = None,
                 max_response_bytes: int | None = None,
                 judge: RoleConfig | None = None) -> LLMConfig:
    """An `LLMConfig` with the evaluated model as role `ROLE` (and ``judge``, when
    given, as role `JUDGE_ROLE`).

    ``timeout_s`` bounds one try, ``deadline_s`` one call over all its tries and waits
    (None: `nextevent.llm.config.RoleConfig.call_deadline_s`'s default), both in seconds;
    ``max_response_bytes`` caps a response body (None: the `RoleConfig` default).
    """
    extra = {} if max_response_bytes is None else {"max_response_bytes": max_response_bytes}
    config = LLMConfig(roles={ROLE: RoleConfig(  # type: ignore[dict-item]
        base_url=base_url, model=model, api_key_env=api_key_env, temperature=temperature,
        max_tokens=max_tokens, concurrency=concurrency, timeout_s=timeout_s,
        max_retries=max_retries, deadline_s=deadline_s, structured="none",
        video=video or VideoInput(), **extra)}, source="nextevent bench")
    return config if judge is None else with_judge(config, judge)


def judge_config(base_url: str, model: str, *, api_key_env: str | None = None,
                 concurrency: int = 4, max_tokens: int = 256, timeout_s: float = 120.0,
                 max_retries: int = 4, deadline_s: float | None = None) -> RoleConfig:
    """The `RoleConfig` of a judge model for `JUDGE_ROLE` (temperature 0, JSON answers
    through ``response_format`` where the server takes it: structured ``auto``)."""
    return RoleConfig(base_url=base_url, model=model, api_key_env=api_key_env,
                      temperature=0.0, max_tokens=max_tokens, concurrency=concurrency,
                      timeout_s=timeout_s, max_retries=max_retries, deadline_s=deadline_s,
                      structured="auto")


def with_judge(config: LLMConfig, judge: RoleConfig) -> LLMConfig:
    """``config`` with ``judge`` as its `JUDGE_ROLE` role (``judge`` in
    `nextevent.llm.config.ROLES`)."""
    return config.model_copy(update={"roles": {**config.roles, JUDGE_ROLE: judge}})


def judge_messages(item: BenchItem, thinking: str) -> list[dict[str, Any]]:
    """The judge's one user message for an item's thinking (`JUDGE_PROMPT`; the end of
    the thinking, at most `JUDGE_MAX_CHARS` characters)."""
    letters = sorted(item.qa.Options)
    text = JUDGE_PROMPT.format(
        question=item.qa.Question,
        options="\n".join(f"{x}. {item.qa.Options[x]}" for x in letters),
        thinking=thinking.strip()[-JUDGE_MAX_CHARS:],
        choices=", ".join(f'"{x}"' for x in [*letters, "none"]))
    return [{"role": "user", "content": text}]


_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)


def parse_conclusion(answer: Answer, letters: Sequence[str]) -> str | None:
    """The judge's letter (None for ``none``) from its JSON answer (code fences and a
    ``<think>`` block around it are fine).

    Raises:
        ValueError: when the answer holds no valid `ThinkConclusion`, or a letter that is
            not one of ``letters`` (the client then re-asks once).
    """
    text = _THINK_BLOCK.sub("", answer.content)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError(f"the answer holds no JSON object: {text[:80]!r}")
    got = ThinkConclusion.model_validate_json(text[start:end + 1]).conclusion
    if got != "none" and got not in letters:
        raise ValueError(f"conclusion {got!r} is not one of the options {list(letters)}")
    return None if got == "none" else got


async def item_messages(item: BenchItem, mode: PromptMode, text_only: bool,
                        video: VideoInput) -> list[dict[str, Any]]:
    """Chat messages for one item: the past (frames, video_url or caption) then the text.

    Raises:
        NextEventError: stage ``bench``, for an item without ``video_path`` outside
            ``text_only`` mode, or a missing clip.
    """
    from nextevent.llm.vision import encode_frames, frame_content, video_content

    if text_only:
        text = question_text(item.qa.Question, item.qa.Options, mode,
                             str(item.meta.get("past_caption", "")))
        return [{"role": "user", "content": text}]
    if item.video_path is None:
        raise NextEventError("bench", f"item {item.id} has no video_path (a text-level "
                             "benchmark)", "evaluate it with --text-only")
    path = Path(item.video_path)
    if not path.is_file():
        raise NextEventError("bench", f"past clip {path} of item {item.id} does not exist",
                             "rebuild the run, or evaluate with --text-only")
    if video.mode == "video_url":
        parts = video_content(path, video)
    else:
        parts = frame_content(await asyncio.to_thread(encode_frames, path, video))
    text = question_text(item.qa.Question, item.qa.Options, mode)
    return [{"role": "user", "content": [*parts, {"type": "text", "text": text}]}]


def _log_key(row: dict[str, Any]) -> tuple[str, str, str, bool, str | None]:
    # a line asked with another prompt version is not reused (its prompt differed)
    return (row["id"], row["model"], row["mode"], row["text_only"], row.get("prompt_version"))


def eval_failures_path(out_dir: str | Path) -> Path:
    """``failures.jsonl`` of a ``bench eval`` output folder: the items that failed in the
    last run, one `nextevent.records.Failure` a line (absent when none failed)."""
    return Path(out_dir) / FAILURES_NAME


def item_failure(item_id: str, err: BaseException, redact: Callable[[str], str],
                 stage: str = "bench-eval") -> Failure:
    """The `Failure` of one item: its message and hint passed through ``redact``
    (credentials out); stage ``stage`` for an unexpected error, else the error's own
    (``bench-eval`` for a model call of ``bench eval``)."""
    if isinstance(err, NextEventError):
        return Failure(input=item_id, stage=err.stage, error=redact(str(err)),
                       hint=redact(err.hint))
    return Failure(input=item_id, stage=stage,
                   error=redact(f"{type(err).__name__}: {err}"),
                   hint="an unexpected error; rerun to retry the item, and report it if "
                   "it persists")


async def evaluate_items(items: Sequence[BenchItem], config: LLMConfig, out_dir: str | Path,
                         *, mode: PromptMode = "direct", text_only: bool = False,
                         seed: int = 0,
                         on_item: Callable[[bool], None] | None = None) -> dict[str, Any]:
    """Ask the model every item (skipping those already in ``responses.jsonl``) and score.

    An item whose call fails for good is written to ``failures.jsonl``
    (`eval_failures_path`) and the others go on; ``results.json`` is written whatever
    failed, its accuracy over the answered items, ``failed`` counting the rest.

    Args:
        items: the benchmark.
        config: `model_config` (role `ROLE`).
        out_dir: folder for ``responses.jsonl``, ``results.json``, ``failures.jsonl`` and
            the call cache.
        mode: ``direct`` (letter only) or ``reasoning`` (``<answer>`` block).
        text_only: send the past caption instead of the video.
        seed: seed of the bootstrap.
        on_item: called once per item when it is settled, with True when it failed (for
            a progress display).

    Returns:
        ``{"overall": {"accuracy", "ci95", "n"}, "by_type": {type: {...}}, "model",
        "mode", "text_only", "no_answer", "failed"}`` (fractions in [0, 1]), in
        ``reasoning`` mode also ``"consistency"`` (`summarize_consistency`, with
        ``method`` ``judge`` when ``config`` has a `JUDGE_ROLE` role, else ``rule``);
        also written to ``results.json``. An item the judge fails on stays in the
        accuracy, is counted in ``consistency``'s ``judge_failed`` and gets a
        ``failures.jsonl`` line of stage ``bench-judge``.

    Raises:
        NextEventError: stage ``bench``, before anything is asked, for an item without
            ``video_path`` outside ``text_only`` mode, or when a whole line of
            ``responses.jsonl`` is a JSON object but no `ResponseLine`; stage ``lock``
            when another process evaluates into ``out_dir``; stage ``store`` when
            ``out_dir`` cannot be created.
    """
    if not text_only:
        for item in items:
            if item.video_path is None:
                raise NextEventError("bench", f"item {item.id} has no video_path (a "
                                     "text-level benchmark)", "evaluate it with --text-only")
    out = EvalDir(Path(out_dir))
    with RunLock(out, "bench eval"):  # one writer: two evals would append twice
        return await _evaluate_locked(items, config, out, mode, text_only, seed, on_item)


async def _evaluate_locked(items: Sequence[BenchItem], config: LLMConfig, out: EvalDir,
                           mode: PromptMode, text_only: bool, seed: int,
                           on_item: Callable[[bool], None] | None) -> dict[str, Any]:
    log_path = out.responses
    cfg = config.roles[ROLE]  # type: ignore[index]
    done: dict[tuple[str, str, str, bool, str | None], dict[str, Any]] = {}
    if log_path.is_file():
        cut_torn_tail(log_path)  # a line cut by a crash: asked again, appends start whole
        for line in read_jsonl(log_path, ResponseLine, what="a bench eval response",
                               stage="bench", skip_invalid=True,
                               hint="delete the line (its item is asked again) or use "
                               "another --out"):
            row = line.model_dump(mode="json")
            done[_log_key(row)] = row
    judge = config.roles.get(JUDGE_ROLE) if mode == "reasoning" else None  # type: ignore[call-overload]
    conclusion_by = "rule" if judge is None else f"judge:{judge.model}"
    client = LLMClient(config, CallCache(out.llm_cache))
    failures: list[Failure] = []
    judge_failed: set[str] = set()
    log = log_path.open("a", encoding="utf-8")

    async def ask(item: BenchItem) -> tuple[dict[str, Any], bool]:
        key = (item.id, cfg.model, mode, text_only, PROMPT_VERSION)
        if key in done:
            return done[key], False
        messages = await item_messages(item, mode, text_only, cfg.video)
        answer: Answer = await client.ask(ROLE, messages, lambda a: a, stage="bench-eval",
                                          prompt_version=PROMPT_VERSION)
        choice, correct = score_response(answer.content, item.qa.Answer, mode)
        row = ResponseLine(
            id=item.id, question_type=item.question_type, model=cfg.model, mode=mode,
            text_only=text_only, response=answer.content, reasoning=answer.reasoning,
            finish_reason=answer.finish_reason, choice=choice, answer=item.qa.Answer,
            correct=correct, prompt_version=PROMPT_VERSION).model_dump(mode="json")
        return row, True

    async def conclude(item: BenchItem, row: dict[str, Any]) -> str | None:
        """The option the row's thinking concludes (None: none, or no answer to check)."""
        thinking = think_text(row["response"], row.get("reasoning"))
        if row["choice"] is None or thinking is None:
            return None
        if judge is None:
            return think_conclusion(thinking, item.qa.Options)
        letters = sorted(item.qa.Options)
        return await client.ask(JUDGE_ROLE, judge_messages(item, thinking),
                                lambda a: parse_conclusion(a, letters), stage="bench-judge",
                                prompt_version=JUDGE_PROMPT_VERSION,
                                schema=ThinkConclusion.model_json_schema(),
                                schema_name="think_conclusion")

    async def one(item: BenchItem) -> dict[str, Any] | None:
        row: dict[str, Any] | None
        try:
            row, new = await ask(item)
        except Exception as err:  # one item's failure is its own: the others go on
            failures.append(item_failure(item.id, err, client.redact))
            row, new = None, False
        if row is not None and mode == "reasoning":
            by: str | None = conclusion_by
            try:
                conclusion = await conclude(item, row)
            except Exception as err:  # the judge's failure costs the consistency only
                failures.append(item_failure(item.id, err, client.redact, "bench-judge"))
                judge_failed.add(item.id)
                conclusion = by = None
            row = {**row, "conclusion": conclusion, "conclusion_by": by}
        if new and row is not None:
            append_jsonl(log, row)
        if on_item is not None:
            on_item(row is None)
        return row

    try:
        settled = await asyncio.gather(*(one(i) for i in items))
    finally:
        log.close()
        await client.aclose()
        if client.cache is not None:
            client.cache.close()
    rows = [r for r in settled if r is not None]
    failures_path = eval_failures_path(out.root)
    if failures:
        failures_path.write_text("".join(f.model_dump_json() + "\n" for f in failures),
                                 encoding="utf-8")
    else:
        failures_path.unlink(missing_ok=True)  # the last run's: those items are answered
    consistency = None
    if mode == "reasoning":
        consistency = {"method": "rule" if judge is None else "judge",
                       "judge_model": None if judge is None else judge.model,
                       **summarize_consistency(rows, judge_failed=judge_failed, seed=seed)}
    results = EvalResults(**summarize(rows, seed=seed), model=cfg.model, mode=mode,
                          text_only=text_only,
                          no_answer=sum(r["choice"] is None for r in rows),
                          failed=len(failures) - len(judge_failed),
                          consistency=consistency)  # type: ignore[arg-type]
    summary = results.model_dump(mode="json",
                                 exclude=None if consistency else {"consistency"})
    out.results.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def summarize(rows: Sequence[dict[str, Any]], *, seed: int = 0) -> dict[str, Any]:
    """``{"overall": ..., "by_type": ...}`` of rows with ``question_type`` and ``correct``
    (accuracy as a fraction, bootstrap 95% CI over items, n)."""
    by: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        by[r["question_type"]].append(float(r["correct"]))
    return {"overall": accuracy_summary([float(r["correct"]) for r in rows], seed=seed),
            "by_type": {t: accuracy_summary(v, seed=seed) for t, v in sorted(by.items())}}


def summarize_consistency(rows: Sequence[dict[str, Any]], *,
                          judge_failed: set[str] | frozenset[str] = frozenset(),
                          seed: int = 0) -> dict[str, Any]:
    """``{"overall": ..., "by_type": ...}`` think-answer consistency of reasoning-mode rows
    (``id``, ``question_type``, ``choice``, ``conclusion``): ``rate`` of the judged rows
    (an answer letter and a conclusion) whose conclusion is the answer letter, its
    bootstrap 95% CI (`nextevent.bench.stats.accuracy_summary`, as accuracy), ``n``
    judged, and the rows left out: ``no_answer`` (no letter), ``no_conclusion`` (a letter,
    but the thinking names no option) and ``judge_failed`` (ids in ``judge_failed``)."""
    def figures(part: Sequence[dict[str, Any]]) -> dict[str, Any]:
        values, counts = [], {"no_conclusion": 0, "no_answer": 0, "judge_failed": 0}
        for r in part:
            if r["choice"] is None:
                counts["no_answer"] += 1
            elif r["id"] in judge_failed:
                counts["judge_failed"] += 1
            elif r.get("conclusion") is None:
                counts["no_conclusion"] += 1
            else:
                values.append(float(r["conclusion"] == r["choice"]))
        acc = accuracy_summary(values, seed=seed)
        return {"rate": acc["accuracy"], "ci95": acc["ci95"], "n": acc["n"], **counts}

    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["question_type"]].append(r)
    return {"overall": figures(rows),
            "by_type": {t: figures(v) for t, v in sorted(by.items())}}
