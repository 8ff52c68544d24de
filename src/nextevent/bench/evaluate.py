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

An item whose call fails for good (server down, retries or ``deadline_s`` used up, a body
over ``max_response_bytes``, a missing clip) does not stop the others: it becomes one
`nextevent.records.Failure` line in ``failures.jsonl`` (naming the item and the error,
credentials redacted), is left out of the accuracy (``results.json`` counts it in
``failed``) and is asked again on a rerun.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nextevent.bench.prompts import PromptMode, question_text, score_response
from nextevent.bench.stats import accuracy_summary
from nextevent.jsonl import append_jsonl, cut_torn_tail, read_jsonl
from nextevent.llm.cache import Answer, CallCache
from nextevent.llm.client import LLMClient
from nextevent.llm.config import LLMConfig, RoleConfig, VideoInput
from nextevent.records import BenchItem, Failure, NextEventError
from nextevent.rundir import FAILURES_NAME, EvalDir, EvalResults, ResponseLine

ROLE = "reasoner"
"""The `nextevent.llm` role the evaluated model is configured under (any role name works
for the client; this one needs no vision-specific handling)."""
PROMPT_VERSION = "futurebench-eval-2"  # 2: the official whitespace (issue 16)


def model_config(base_url: str, model: str, *, concurrency: int = 4, max_tokens: int = 16,
                 temperature: float = 0.0, api_key_env: str | None = None,
                 video: VideoInput | None = None, timeout_s: float = 120.0,
                 max_retries: int = 4, deadline_s: float | None = None,
                 max_response_bytes: int | None = None) -> LLMConfig:
    """An `LLMConfig` with the evaluated model as its one role (`ROLE`).

    ``timeout_s`` bounds one try, ``deadline_s`` one call over all its tries and waits
    (None: `nextevent.llm.config.RoleConfig.call_deadline_s`'s default), both in seconds;
    ``max_response_bytes`` caps a response body (None: the `RoleConfig` default).
    """
    extra = {} if max_response_bytes is None else {"max_response_bytes": max_response_bytes}
    return LLMConfig(roles={ROLE: RoleConfig(  # type: ignore[dict-item]
        base_url=base_url, model=model, api_key_env=api_key_env, temperature=temperature,
        max_tokens=max_tokens, concurrency=concurrency, timeout_s=timeout_s,
        max_retries=max_retries, deadline_s=deadline_s, structured="none",
        video=video or VideoInput(), **extra)}, source="nextevent bench")


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
        "mode", "text_only", "no_answer", "failed"}`` (fractions in [0, 1]), also
        written to ``results.json``.

    Raises:
        NextEventError: stage ``bench``, before anything is asked, for an item without
            ``video_path`` outside ``text_only`` mode, or when a whole line of
            ``responses.jsonl`` is a JSON object but no `ResponseLine`.
    """
    if not text_only:
        for item in items:
            if item.video_path is None:
                raise NextEventError("bench", f"item {item.id} has no video_path (a "
                                     "text-level benchmark)", "evaluate it with --text-only")
    out = EvalDir(Path(out_dir))
    out.root.mkdir(parents=True, exist_ok=True)
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
    client = LLMClient(config, CallCache(out.llm_cache))
    failures: list[Failure] = []
    log = log_path.open("a", encoding="utf-8")

    async def ask(item: BenchItem) -> dict[str, Any]:
        key = (item.id, cfg.model, mode, text_only, PROMPT_VERSION)
        if key in done:
            return done[key]
        messages = await item_messages(item, mode, text_only, cfg.video)
        answer: Answer = await client.ask(ROLE, messages, lambda a: a, stage="bench-eval",
                                          prompt_version=PROMPT_VERSION)
        choice, correct = score_response(answer.content, item.qa.Answer, mode)
        row = ResponseLine(
            id=item.id, question_type=item.question_type, model=cfg.model, mode=mode,
            text_only=text_only, response=answer.content, reasoning=answer.reasoning,
            finish_reason=answer.finish_reason, choice=choice, answer=item.qa.Answer,
            correct=correct, prompt_version=PROMPT_VERSION).model_dump(mode="json")
        append_jsonl(log, row)
        return row

    async def one(item: BenchItem) -> dict[str, Any] | None:
        try:
            row: dict[str, Any] | None = await ask(item)
        except Exception as err:  # one item's failure is its own: the others go on
            failures.append(item_failure(item.id, err, client.redact))
            row = None
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
    results = EvalResults(**summarize(rows, seed=seed), model=cfg.model, mode=mode,
                          text_only=text_only,
                          no_answer=sum(r["choice"] is None for r in rows),
                          failed=len(failures))
    summary = results.model_dump(mode="json")
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
