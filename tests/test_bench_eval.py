"""`nextevent bench eval` against a scripted OpenAI-protocol server with known answers:
the exact accuracy, per type and overall; frames are sent; raw log; resume."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from scripted_server import ScriptedServer, image_urls, user_text
from typer.testing import CliRunner

from nextevent.bench.build import read_items, write_items
from nextevent.cli import app
from nextevent.records import MCQ, BenchItem

TYPES = ("hop1", "hop2", "hop3", "hop5", "interp")


def make_items(n: int, video: str | None) -> list[BenchItem]:
    return [BenchItem(
        id=f"v{i}:{TYPES[i % 5]}", video_path=video, question_type=TYPES[i % 5],
        qa=MCQ(Question=f"Question number {i}: what happens next?",
               Options={x: f"option {x} of item {i}" for x in "ABCD"},
               Answer="ABCD"[i % 4]),
        meta={"past_caption": f"past of item {i}"}) for i in range(n)]


def answerer(right: set[int], style: str):  # noqa: ANN201
    """Answers item i right when i is in ``right`` (a wrong letter otherwise)."""
    def answer(request: dict) -> str:
        text = user_text(request)
        i = int(re.search(r"Question number (\d+)", text).group(1))
        gold = "ABCD"[i % 4]
        letter = gold if i in right else "ABCD"[(i + 1) % 4]
        if style == "reasoning":
            return f"<think>A man waves, so option A seems wrong.</think><answer>{letter}</answer>"
        return f"The answer is ({letter})."
    return answer


def run_eval(*args: str) -> str:
    result = CliRunner().invoke(app, ["bench", "eval", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_eval_gives_the_exact_accuracy_from_frames(tmp_path: Path, bunny: Path) -> None:
    items = make_items(20, str(bunny))
    bench = tmp_path / "bench.jsonl"
    write_items(items, bench)
    right = {0, 1, 2, 3, 5, 6, 7, 10, 11, 15}  # hop1: 0,5,10,15 all right; hop5: 3 only
    with ScriptedServer(answerer(right, "direct")) as server:
        out = tmp_path / "eval"
        text = run_eval(str(bench), "--base-url", server.url, "--model", "vlm", "--out",
                        str(out), "--fps", "1", "--max-frames", "3")
        assert "overall" in text
        assert len(server.calls) == 20
        assert all(1 <= len(image_urls(c.body)) <= 3 for c in server.calls)
        assert all("past of item" not in user_text(c.body) for c in server.calls)
    res = json.loads((out / "results.json").read_text())
    assert res["overall"]["accuracy"] == pytest.approx(10 / 20)
    assert res["overall"]["n"] == 20
    expected = {"hop1": 4 / 4, "hop2": 3 / 4, "hop3": 2 / 4, "hop5": 1 / 4, "interp": 0 / 4}
    assert {t: s["accuracy"] for t, s in res["by_type"].items()} == pytest.approx(expected)
    lo, hi = res["overall"]["ci95"]
    assert 0 <= lo < 0.5 < hi <= 1
    assert res["by_type"]["hop1"]["ci95"] == [1.0, 1.0]
    rows = [json.loads(x) for x in (out / "responses.jsonl").read_text().splitlines()]
    assert len(rows) == 20 and all(r["response"].startswith("The answer is") for r in rows)


def test_eval_text_only_reasoning_and_resume(tmp_path: Path) -> None:
    items = make_items(8, None)
    bench = tmp_path / "bench.jsonl"
    write_items(items, bench)
    out = tmp_path / "eval"
    with ScriptedServer(answerer({0, 1, 2}, "reasoning")) as server:
        run_eval(str(bench), "--base-url", server.url, "--model", "m", "--out", str(out),
                 "--text-only", "--mode", "reasoning")
        assert all("past of item" in user_text(c.body) for c in server.calls)
        first = len(server.calls)
    assert first == 8
    res = json.loads((out / "results.json").read_text())
    assert res["overall"]["accuracy"] == pytest.approx(3 / 8)
    # resume: more items; only the new ones reach the server
    write_items(make_items(12, None), bench)
    with ScriptedServer(answerer({0, 1, 2, 11}, "reasoning")) as server:
        run_eval(str(bench), "--base-url", server.url, "--model", "m", "--out", str(out),
                 "--text-only", "--mode", "reasoning")
        assert len(server.calls) == 4
    res = json.loads((out / "results.json").read_text())
    assert res["overall"] == {**res["overall"], "accuracy": pytest.approx(4 / 12), "n": 12}
    assert len(read_items(bench)) == 12


def test_eval_of_a_text_benchmark_needs_text_only(tmp_path: Path) -> None:
    bench = tmp_path / "bench.jsonl"
    write_items(make_items(2, None), bench)
    result = CliRunner().invoke(app, ["bench", "eval", str(bench), "--base-url",
                                      "http://127.0.0.1:9/v1", "--model", "m", "--out",
                                      str(tmp_path / "e")])
    assert result.exit_code == 2 and "--text-only" in result.output


def test_a_log_line_asked_with_an_older_prompt_is_asked_again(tmp_path: Path) -> None:
    from nextevent.rundir import EvalDir

    bench = tmp_path / "bench.jsonl"
    write_items(make_items(6, None), bench)
    out = tmp_path / "eval"
    args = (str(bench), "--model", "m", "--out", str(out), "--text-only")
    with ScriptedServer(answerer({0, 1}, "direct")) as server:
        run_eval(*args, "--base-url", server.url)
        assert len(server.calls) == 6
    log = out / "responses.jsonl"
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    assert {r["prompt_version"] for r in rows} == {"futurebench-eval-2"}
    for row in rows[:2]:  # as written before the prompt took the official whitespace
        row.pop("prompt_version")
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    EvalDir(out).llm_cache.unlink()  # and their cached answers, as an older version had
    with ScriptedServer(answerer({0, 1}, "direct")) as server:
        run_eval(*args, "--base-url", server.url)
        assert len(server.calls) == 2  # only the two old lines
    res = json.loads((out / "results.json").read_text())
    assert res["overall"]["n"] == 6 and res["overall"]["accuracy"] == pytest.approx(2 / 6)
