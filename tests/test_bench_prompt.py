"""One FutureBench prompt and one scorer: on real items built from the ActivityNet
Captions subset, each exported lmms-eval task's ``doc_to_text`` (direct / reasoning, clip
/ text only) is the text `nextevent bench eval` sends for the same item, mode and input,
and its ``process_results`` scores the responses bench eval logged exactly as bench eval
scored them (a reasoning model's ``<think>...</think> C`` included)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from scripted_server import ScriptedServer

from nextevent.audit import TextVectors
from nextevent.bench.build import build_items, load_annotation_stories
from nextevent.bench.evaluate import evaluate_items, item_messages, model_config
from nextevent.bench.export_lmms import TASK_NAME, TASK_NAMES, export_lmms_eval
from nextevent.bench.prompts import (
    POST_PROMPTS,
    PRE_PROMPTS,
    response_choice,
    score_response,
)
from nextevent.llm.config import VideoInput
from nextevent.records import BenchItem, NextEventError
from nextevent.rundir import EvalDir

ANET = "activitynet_val_subset.json"
DIRECT_RESPONSES = [
    "C", "The answer is (B).", "**D**", "A man walks in.",
    "<think>Option A is out and B fits less.</think> C",  # thinks, then the letter
    "<think>Option B, since the man", "",  # cut off inside the thinking; nothing
    "<think>hmm</think><answer>B</answer>",  # an answer block although asked directly
    "<think>Options A..D. Clearly C.</think> C",  # letters in the thinking: reads C
]
REASONING_RESPONSES = [
    "<think>Option A is wrong, so the answer is</think><answer>C</answer>",
    "<answer>(B)</answer>", "<think>A man waves.</think>\n<answer>A man waves</answer>",
    "<think>D fits.</think><answer>D</answer> but maybe A",
    "<think>Options A..D. Clearly C.</think> C",  # no <answer> block: no answer, as published
]


class _TaskLoader(yaml.SafeLoader):
    """Reads the task YAML's ``!function utils.x`` tags as their strings."""


_TaskLoader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


@pytest.fixture(scope="module")
def items(annotations: Path, bunny: Path) -> list[BenchItem]:
    """Items `bench build` makes from real annotations; every other one with a past clip,
    as the items of a run directory have."""
    stories = load_annotation_stories(annotations / ANET, "activitynet").stories[:40]
    built = build_items(stories, seed=0, types=["hop1", "interp"], vectors=TextVectors()).items
    assert len(built) >= 8 and {i.question_type for i in built} == {"hop1", "interp"}
    return [i.model_copy(update={"video_path": str(bunny)}) if k % 2 else i
            for k, i in enumerate(built)]


Task = tuple[ModuleType, dict[str, dict[str, Any]], dict[tuple[str, bool], dict[str, Any]]]


@pytest.fixture(scope="module")
def task(items: list[BenchItem], tmp_path_factory: pytest.TempPathFactory) -> Task:
    """The exported tasks' ``utils`` module, their documents by id (read back from the
    task's JSONL as lmms-eval reads them) and each task's YAML by (mode, text only)."""
    out = tmp_path_factory.mktemp("lmms_task")
    yaml_path = export_lmms_eval(items, out)
    assert yaml_path == out / f"{TASK_NAME}.yaml"
    spec = importlib.util.spec_from_file_location("futurebench_task_utils", out / "utils.py")
    assert spec is not None and spec.loader is not None
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    docs = [json.loads(line) for line in
            (out / f"{TASK_NAME}.jsonl").read_text(encoding="utf-8").splitlines()]
    configs = {key: yaml.load((out / f"{name}.yaml").read_text(encoding="utf-8"),
                              Loader=_TaskLoader) for key, name in TASK_NAMES.items()}
    return utils, {d["id"]: d for d in docs}, configs


def sent_text(item: BenchItem, mode: str, text_only: bool) -> str:
    """The text part of what `nextevent bench eval` sends for ``item``."""
    (message,) = asyncio.run(item_messages(item, mode, text_only,  # type: ignore[arg-type]
                                           VideoInput(max_frames=1)))
    content = message["content"]
    if isinstance(content, str):
        return content
    assert content[-1]["type"] == "text"  # the frames (with their times), then the text
    return content[-1]["text"]


def hook(utils: ModuleType, config: dict[str, Any], name: str) -> Any:
    """The ``utils`` function a task YAML names for ``name`` (``!function utils.x``)."""
    module, function = config[name].split(".")
    assert module == "utils"
    return getattr(utils, function)


def test_each_task_yaml_carries_its_published_prompts(task: Task) -> None:
    _, _, configs = task
    for (mode, text_only), config in configs.items():
        assert config["task"] == TASK_NAMES[(mode, text_only)]
        assert config["include"] == f"_{TASK_NAME}_template_yaml"
        # only a default block: it applies to whatever model lmms-eval runs
        assert list(config["lmms_eval_specific_kwargs"]) == ["default"]
        kw = config["lmms_eval_specific_kwargs"]["default"]
        assert kw == {"pre_prompt": PRE_PROMPTS[mode], "post_prompt": POST_PROMPTS[mode]}
        assert config["generation_kwargs"]["max_new_tokens"] == (16 if mode == "direct"
                                                                 else 2048)
    assert POST_PROMPTS["direct"] == ("\nAnswer with the option's letter from the given "
                                      "choices directly.")  # the published whitespace


@pytest.mark.parametrize("mode", ["direct", "reasoning"])
def test_doc_to_text_is_what_bench_eval_sends(items: list[BenchItem], task: Task,
                                              mode: str) -> None:
    utils, docs, configs = task
    compared = 0
    for item in items:
        doc = docs[item.id]
        for text_only in (False, True):
            config = configs[(mode, text_only)]
            expected = hook(utils, config, "doc_to_text")(
                doc, dict(config["lmms_eval_specific_kwargs"]["default"]))
            visual = hook(utils, config, "doc_to_visual")(doc)
            assert visual == ([] if text_only or item.video_path is None
                              else [item.video_path])
            if item.video_path is None and not text_only:
                # a text-level item: bench eval needs --text-only, the lmms task gives the
                # past as text on its own: the same prompt as bench eval --text-only
                with pytest.raises(NextEventError, match="has no video_path"):
                    sent_text(item, mode, text_only)
                assert expected == sent_text(item, mode, True)
                continue
            assert expected == sent_text(item, mode, text_only)
            assert item.qa.Question in expected and PRE_PROMPTS[mode] in expected
            assert expected.endswith(POST_PROMPTS[mode])
            assert (str(item.meta["past_caption"]) in expected) is text_only
            compared += 1
    assert compared == sum(1 + (i.video_path is not None) for i in items)


def test_pre_and_post_prompt_kwargs_still_apply(items: list[BenchItem], task: Task) -> None:
    utils, docs, _ = task
    doc = docs[items[1].id]
    text = utils.futurebench_doc_to_text(doc, {"pre_prompt": "Watch closely.",
                                               "post_prompt": "Letter only.",
                                               "text_only": False})
    lines = text.split("\n")
    assert lines[0] == "Watch closely." and lines[1] == doc["question"]
    assert lines[2:6] == [f"{x}. {doc['options'][x]}" for x in "ABCD"]
    assert lines[-1] == "Letter only."


def scripted(responses: list[str]):
    """A model ``r<j>`` that answers every item with ``responses[j]``."""
    def answer(request: dict) -> str:
        return responses[int(str(request["model"])[1:])]
    return answer


def bench_eval_rows(items: list[BenchItem], out: Path, mode: str, responses: list[str]
                    ) -> list[dict[str, Any]]:
    """`evaluate_items` (text only) once per response, each as its own model; the rows
    bench eval logged in ``responses.jsonl``."""
    with ScriptedServer(scripted(responses)) as server:
        for j in range(len(responses)):
            asyncio.run(evaluate_items(items, model_config(server.url, f"r{j}"), out,
                                       mode=mode, text_only=True))  # type: ignore[arg-type]
    rows = [json.loads(x) for x in EvalDir(out).responses.read_text().splitlines()]
    assert len(rows) == len(items) * len(responses)
    return rows


def test_process_results_scores_like_bench_eval(items: list[BenchItem], task: Task,
                                                tmp_path: Path) -> None:
    utils, docs, configs = task
    direct = bench_eval_rows(items, tmp_path / "direct", "direct", DIRECT_RESPONSES)
    reasoning = bench_eval_rows(items, tmp_path / "reasoning", "reasoning",
                                REASONING_RESPONSES)
    for row in direct + reasoning:
        # lmms-eval passes process_results no kwargs: each mode's task names its own
        for text_only in (False, True):
            process = hook(utils, configs[(row["mode"], text_only)], "process_results")
            scored = process(docs[row["id"]], [row["response"]])
            assert scored["futurebench_accuracy"]["pred"] == row["choice"], row
        got = scored["futurebench_accuracy"]
        assert (got["pred"], got["correct"]) == (row["choice"], row["correct"]), row
        assert got["answer"] == row["answer"] == docs[row["id"]]["answer"]
    by_response = {(r["mode"], r["response"]): r["choice"] for r in direct + reasoning}
    assert by_response[("direct", "<think>Option A is out and B fits less.</think> C")] == "C"
    assert by_response[("direct", "A man walks in.")] is None
    assert by_response[("direct", "<think>Options A..D. Clearly C.</think> C")] == "C"
    assert by_response[("reasoning", "<think>Options A..D. Clearly C.</think> C")] is None
    assert by_response[("direct", "<think>Option B, since the man")] is None
    assert by_response[("reasoning", "<think>A man waves.</think>\n<answer>A man waves</answer>")
                       ] is None
    assert {r["choice"] for r in direct if r["response"] == "C"} == {"C"}
    assert sum(r["correct"] for r in direct if r["response"] == "C") == sum(
        i.qa.Answer == "C" for i in items)


def test_score_response_is_response_choice_against_the_key() -> None:
    assert score_response("<think>B?</think> C", "C", "direct") == ("C", True)
    assert score_response("<think>B?</think> C", "C", "reasoning") == (None, False)
    assert score_response("<answer>D</answer>", "C", "reasoning") == ("D", False)
    assert response_choice("The answer is (A).") == "A"
    with pytest.raises(ValueError, match="prompt mode"):
        score_response("A", "A", "auto")  # type: ignore[arg-type]
