"""`nextevent bench eval` against servers that fail (issue 14, item 3): one item's failure
is a line of failures.jsonl and the others go on; results.json is always written, with the
failed count; a server that never answers, a ``Retry-After: 590`` and 50 MB bodies end
in seconds, bounded; no traceback. Real loopback servers (`ScriptedServer`,
`HugeBodyServer`), the real CLI."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from scripted_server import Faults, ScriptedServer, user_text
from test_bench_eval import answerer, make_items
from test_llm_bounds import MB, HugeBodyServer
from typer.testing import CliRunner

from nextevent.bench.build import write_items
from nextevent.cli import app


def bench_file(tmp_path: Path, n: int) -> Path:
    bench = tmp_path / "bench.jsonl"
    write_items(make_items(n, None), bench)
    return bench


def eval_cli(bench: Path, url: str, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [
        "bench", "eval", str(bench), "--base-url", url, "--model", "m", "--out", str(out),
        "--text-only", "--no-progress", "--concurrency", "4", *extra])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        repr(result.exception))
    return result.exit_code, result.output


def failures(out: Path) -> list[dict]:
    path = out / "failures.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []


def test_one_failed_item_is_recorded_and_the_rest_go_on(tmp_path: Path) -> None:
    bench = bench_file(tmp_path, 8)
    good = answerer(set(range(8)), "direct")

    def answer(request: dict) -> str:
        if "Question number 3:" in user_text(request):
            raise ValueError("scripted refusal of item 3")  # HTTP 400: fails at once
        return good(request)

    out = tmp_path / "eval"
    with ScriptedServer(answer) as server:
        code, text = eval_cli(bench, server.url, out)
    assert code == 0, text
    assert "1 of 8 items failed" in text and "failures.jsonl" in text
    res = json.loads((out / "results.json").read_text())
    assert res["failed"] == 1 and res["overall"]["n"] == 7
    assert res["overall"]["accuracy"] == pytest.approx(1.0)
    (failure,) = failures(out)
    assert failure["input"] == "v3:hop5" and "scripted refusal of item 3" in failure["error"]
    assert failure["hint"]
    answered = [json.loads(x)["id"] for x in (out / "responses.jsonl").read_text().splitlines()]
    assert sorted(answered) == sorted(i.id for i in make_items(8, None) if i.id != "v3:hop5")
    # rerun against a server that answers: only the failed item is asked
    with ScriptedServer(good) as server:
        code, text = eval_cli(bench, server.url, out)
        assert len(server.calls) == 1 and "Question number 3:" in user_text(
            server.calls[0].body)
    assert code == 0, text
    res = json.loads((out / "results.json").read_text())
    assert res["failed"] == 0 and res["overall"]["n"] == 8
    assert not (out / "failures.jsonl").exists()


def test_a_server_that_never_answers_ends_at_the_deadline(tmp_path: Path) -> None:
    bench = bench_file(tmp_path, 6)
    out = tmp_path / "eval"
    faults = Faults(rate=1.0, kinds=("slow",), slow_s=120)
    started = time.monotonic()
    with ScriptedServer(answerer(set(), "direct"), faults=faults) as server:
        code, text = eval_cli(bench, server.url, out, "--timeout-s", "0.5",
                              "--deadline-s", "1.2", "--max-retries", "10")
    took = time.monotonic() - started
    assert took < 15, took
    assert code == 1 and "6 of 6 items failed" in text and "every item failed" in text
    res = json.loads((out / "results.json").read_text())
    assert res["failed"] == 6 and res["overall"]["n"] == 0
    rows = failures(out)
    assert len(rows) == 6 and all("deadline_s=1.2" in r["error"] for r in rows)


def test_retry_after_590_is_not_waited_out(tmp_path: Path) -> None:
    bench = bench_file(tmp_path, 4)
    out = tmp_path / "eval"
    faults = Faults(rate=1.0, kinds=("http429",), retry_after="590")
    started = time.monotonic()
    with ScriptedServer(answerer(set(), "direct"), faults=faults) as server:
        code, text = eval_cli(bench, server.url, out)  # the default --deadline-s 300
        assert len(server.calls) == 4  # one try per item: the wait would pass the deadline
    assert time.monotonic() - started < 15
    assert code == 1
    rows = failures(out)
    assert len(rows) == 4
    assert all(re.search(r"retry after 590 s, past the call's deadline", r["error"])
               for r in rows), rows[0]
    assert json.loads((out / "results.json").read_text())["failed"] == 4


def test_50_mb_bodies_are_cut_off_and_nothing_grows(tmp_path: Path) -> None:
    bench = bench_file(tmp_path, 4)
    out = tmp_path / "eval"
    started = time.monotonic()
    with HugeBodyServer(chunked=True) as server:
        code, text = eval_cli(bench, server.url, out, "--max-response-bytes", str(MB))
        time.sleep(0.3)
        assert len(server.sent) == 4 and max(server.sent) < 20 * MB  # one try each
    assert time.monotonic() - started < 20
    assert code == 1
    rows = failures(out)
    assert len(rows) == 4 and all("max_response_bytes=1048576" in r["error"] for r in rows)
    assert all("raise max_response_bytes" in r["hint"] for r in rows)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert size < 1 * MB, size  # no body was logged or cached
    assert json.loads((out / "results.json").read_text())["failed"] == 4


def test_the_progress_line_shows_on_a_terminal(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from nextevent.bench.cli import _item_progress

    monkeypatch.setenv("FORCE_COLOR", "1")  # rich: stderr counts as a terminal
    with _item_progress(True, 3, "eval") as step:
        step(False)
        step(True)
        step(False)
    err = capsys.readouterr().err
    assert "eval" in err and "3/3" in err and "1 failed" in err
    with _item_progress(False, 3, "eval") as step:
        step(False)
    assert capsys.readouterr().err == ""


def test_filter_leaves_out_and_lists_a_failed_item_and_goes_on(tmp_path: Path) -> None:
    from test_bench_filter import blind_model
    from test_bench_filter import make_items as filter_items

    from nextevent.bench.build import read_items

    items = filter_items(9)
    bench = tmp_path / "bench.jsonl"
    write_items(items, bench)

    def answer(request: dict) -> str:
        if "clip 4?" in user_text(request):
            raise ValueError("scripted refusal of clip 4")
        return blind_model(request)

    out = tmp_path / "filtered.jsonl"
    with ScriptedServer(answer) as server:
        result = CliRunner().invoke(app, [
            "bench", "filter", str(bench), "--blind", "--base-url", server.url, "--model",
            "blind", "--out", str(out), "--trials", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "1 of 9 items failed" in result.output
    report = json.loads((tmp_path / "filtered.blind.json").read_text())
    assert report["failed"] == 1 and report["failed_items"] == ["c4:hop1"]
    assert report["before"]["n"] == 8 and report["kept"] + report["dropped"] == 8
    kept = {i.id for i in read_items(out)}
    assert "c4:hop1" not in kept and kept <= {f"c{i}:hop1" for i in (1, 2, 5, 7, 8)}
    assert not kept & {"c0:hop1", "c3:hop1", "c6:hop1"}  # solved from the text: dropped
    (failure,) = [json.loads(x) for x in
                  (tmp_path / "filtered.failures.jsonl").read_text().splitlines()]
    assert failure["input"] == "c4:hop1" and "scripted refusal of clip 4" in failure["error"]


def test_a_slow_eval_writing_to_a_log_prints_progress_lines(tmp_path: Path) -> None:
    """Where no live bar is drawn (stderr piped), a line every few seconds shows the eval
    is moving (``NEXTEVENT_HEARTBEAT_S``), so a stall is visible in a log."""
    import os
    import subprocess
    import sys

    bench = bench_file(tmp_path, 4)
    faults = Faults(rate=1.0, kinds=("slow",), slow_s=0.6)
    with ScriptedServer(answerer(set(), "direct"), faults=faults) as server:
        out = subprocess.run(
            [sys.executable, "-m", "nextevent.cli", "bench", "eval", str(bench),
             "--base-url", server.url, "--model", "m", "--out", str(tmp_path / "eval"),
             "--text-only", "--concurrency", "1", "--timeout-s", "5"],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "NEXTEVENT_HEARTBEAT_S": "0.3"})
    beats = [line for line in out.stderr.splitlines() if " done, " in line]
    assert beats and beats[-1].startswith("eval: "), out.stderr
    assert "Traceback" not in out.stdout + out.stderr
