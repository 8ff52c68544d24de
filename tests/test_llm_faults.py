"""Faults of the model client found by the fault hunt: answers lost from the call cache
when the process is killed, a cache shared by two processes, a malformed
``Retry-After``, and LLM config files or variables with the wrong structure or value
(each a one-line config error naming the file, the key or the variable)."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from scripted_server import Faults, ScriptedServer, user_text
from test_llm import ask, client_for
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.llm import CallCache, LLMCallError, LLMClient, LLMConfig, RoleConfig
from nextevent.llm.cache import Answer
from nextevent.llm.config import load_llm_config
from nextevent.llm.wire import retry_after_s
from nextevent.pipeline.answers import parse_prediction
from nextevent.records import NextEventError

ROOT = Path(__file__).resolve().parents[1]

# Asks the planner of a scripted server three questions, stores the answers in the cache
# as the pipeline does, says so, then waits (like a build waiting on a slow critic) until
# the test kills it.
CHILD = """
import asyncio, json, sys, time
from nextevent.llm import CallCache, LLMClient, LLMConfig, RoleConfig
url, cache = sys.argv[1], sys.argv[2]
client = LLMClient(LLMConfig(roles={"planner": RoleConfig(base_url=url, model="m")}),
                   CallCache(cache))
async def go():
    for q in ("q1", "q2", "q3"):
        await client.ask("planner", [{"role": "user", "content": q}],
                         lambda a: json.loads(a.content)["n"], stage="events",
                         prompt_version="t:1")
asyncio.run(go())
print("answered", flush=True)
time.sleep(600)
"""


def _n_answer(request: dict) -> str:
    return json.dumps({"n": int(user_text(request)[1:])})


def _answer_then_wait(url: str, cache: Path) -> subprocess.Popen[str]:
    """The `CHILD` process, once it has stored its three answers."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, url, str(cache)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    if child.stdout.readline().strip() != "answered":
        child.kill()
        child.wait(30)
        pytest.fail("the child process did not answer")
    return child


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_answers_survive_a_killed_process_and_are_not_asked_again(
        tmp_path: Path, sig: signal.Signals) -> None:
    cache = tmp_path / "llm_cache.sqlite"
    with ScriptedServer(_n_answer) as server:
        child = _answer_then_wait(server.url, cache)
        child.send_signal(sig)
        assert child.wait(30) == -sig
        assert len(server.calls) == 3
        with sqlite3.connect(cache) as db:
            rows = db.execute("SELECT stage, COUNT(*) FROM answers GROUP BY stage").fetchall()
        assert rows == [("events", 3)]
        # the rerun finds every answer in the cache: the server is asked nothing more
        rerun = subprocess.run([sys.executable, "-c", CHILD.replace("time.sleep(600)", ""),
                                server.url, str(cache)], capture_output=True, text=True,
                               timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        assert len(server.calls) == 3


def test_two_processes_share_one_cache_file(tmp_path: Path) -> None:
    """Two connections to one file (as two commands given the same ``cache:``): each
    answer is visible to the other at once, and neither waits for the other's lock."""
    path = tmp_path / "shared.sqlite"
    first, second = CallCache(path), CallCache(path)
    try:
        first.put("a", Answer(content="from first"), role="critic", model="m",
                  stage="critique")
        second.put("b", Answer(content="from second"), role="critic", model="m",
                   stage="critique")
        hit = second.get("a")
        assert hit is not None and hit.content == "from first" and hit.cached
        other = first.get("b")
        assert other is not None and other.content == "from second"
    finally:
        first.close()
        second.close()


def test_malformed_retry_after_is_ignored_and_the_call_backs_off() -> None:
    assert retry_after_s({"retry-after": "garbage"}) is None
    assert retry_after_s({"retry-after": "Mon, 99 Foo 2020"}) is None
    with ScriptedServer(_n_answer, faults=Faults(rate=1.0, kinds=("http429",),
                                                 retry_after="garbage")) as server:
        with pytest.raises(LLMCallError) as info:
            ask(client_for(server.url, max_retries=2), "q7")
        assert info.value.kind == "exhausted" and "HTTP 429" in str(info.value)
        assert len(server.calls) == 3  # the first try and two retries after a backoff
        server.set_faults(Faults(rate=0.0))
        assert ask(client_for(server.url, max_retries=2), "q7") == 7


class _CutOff(BaseHTTPRequestHandler):
    """Answers every chat completion as an R1 server does at max_tokens: an unclosed
    ``<think>`` and ``finish_reason: length`` (the scripted server always says stop)."""

    def do_POST(self) -> None:  # noqa: N802  (the stdlib's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"id": "x", "object": "chat.completion", "created": 1, "model": "r",
                           "choices": [{"index": 0, "finish_reason": "length", "message": {
                               "role": "assistant", "content": "<think>Thinking on and on"}}],
                           "usage": {"prompt_tokens": 9, "completion_tokens": 16}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_answer_cut_off_at_max_tokens_says_to_raise_max_tokens() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CutOff)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = RoleConfig(base_url=f"http://127.0.0.1:{server.server_port}/v1", model="r",
                     max_tokens=16, max_retries=0, timeout_s=5)
    client = LLMClient(LLMConfig(roles={"reasoner": cfg}))

    async def go() -> None:
        try:
            await client.ask("reasoner", [{"role": "user", "content": "predict"}],
                             lambda a: parse_prediction(a, structured=False),
                             stage="predict", prompt_version="t:1")
        finally:
            await client.aclose()
    try:
        with pytest.raises(LLMCallError) as info:
            asyncio.run(go())
    finally:
        server.shutdown()
        server.server_close()
    assert info.value.kind == "invalid"
    assert "max_tokens=16 (finish_reason=length)" in str(info.value)
    assert "raise max_tokens for reasoner (now 16" in info.value.hint
    assert "stronger" not in info.value.hint


# ----------------------------------------------------------------------------- config
ROLES_OK = ("roles:\n  reasoner: {base_url: 'http://127.0.0.1:9/v1', model: r}\n")


@pytest.mark.parametrize(("text", "where"), [
    ("roles: [reasoner, rewriter, critic]\n", "roles must be a mapping"),
    ("roles: 'reasoner'\n", "roles must be a mapping"),
    ("defaults: [1, 2]\n" + ROLES_OK, "defaults must be a mapping"),
    ("roles: {reasoner: some-model-name}\n", "roles.reasoner must be a mapping"),
    ("cache: [1]\n" + ROLES_OK, "cache must be a file path"),
    ("defaults: {video: [1]}\n" + ROLES_OK, "defaults.video must be a mapping"),
    ("roles:\n  captioner: {base_url: 'http://h/v1', model: v, video: fps}\n",
     "roles.captioner.video must be a mapping"),
])
def test_config_of_the_wrong_structure_names_file_and_key(tmp_path: Path, text: str,
                                                          where: str) -> None:
    path = tmp_path / "llm.yaml"
    path.write_text(text)
    with pytest.raises(NextEventError) as info:
        load_llm_config(path, {})
    assert info.value.stage == "config"
    assert str(path) in str(info.value) and where in str(info.value)


def test_cli_gives_exit_2_for_a_config_of_the_wrong_structure(sample_dir: Path,
                                                               tmp_path: Path) -> None:
    cfg = tmp_path / "llm.yaml"
    cfg.write_text("roles: [reasoner, rewriter, critic]\n")
    run = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "build", "--videos", str(sample_dir), "--annotations",
        str(ROOT / "examples" / "sample_events.jsonl"), "--out", str(run),
        "--llm-config", str(cfg), "--stages", "predict", "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "roles must be a mapping" in result.output and "Traceback" not in result.output
    assert not run.exists()


def test_bad_environment_override_names_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "llm.yaml"
    path.write_text("defaults: {temperature: 0.7}\n" + ROLES_OK)
    for name in ("NEXTEVENT_LLM_REASONER_TEMPERATURE", "NEXTEVENT_LLM_TEMPERATURE"):
        with pytest.raises(NextEventError) as info:
            load_llm_config(path, {name: "abc"})
        assert f"environment variable {name}" in str(info.value)
        assert not str(info.value).startswith("LLM config")  # the file is not to blame
    with pytest.raises(NextEventError, match="environment variable NEXTEVENT_LLM_MAX_CONC"):
        load_llm_config(path, {"NEXTEVENT_LLM_MAX_CONCURRENCY": "many"})
    # a bad value in the file is still blamed on the file
    path.write_text("defaults: {temperature: abc}\n" + ROLES_OK)
    with pytest.raises(NextEventError, match=r"llm.yaml: roles.reasoner.temperature"):
        load_llm_config(path, {})


def test_unreadable_config_paths_say_why(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("# caf\xe9\n".encode("latin-1") + ROLES_OK.encode())
    with pytest.raises(NextEventError, match=r"latin1.yaml is not UTF-8 text"):
        load_llm_config(latin, {})
    with pytest.raises(NextEventError, match="is a directory"):
        load_llm_config(tmp_path, {})


@pytest.mark.parametrize("url", ["not a url", "127.0.0.1:8000/v1", "ftp://host/v1",
                                 "http:///v1", "http://host:port/v1"])
def test_base_url_that_is_no_http_url_is_refused_at_load(tmp_path: Path, url: str) -> None:
    path = tmp_path / "llm.yaml"
    path.write_text(f"roles:\n  critic: {{base_url: '{url}', model: m}}\n")
    with pytest.raises(NextEventError, match=r"llm.yaml: roles.critic.base_url"):
        load_llm_config(path, {})
    path.write_text(ROLES_OK)
    with pytest.raises(NextEventError, match="environment variable NEXTEVENT_LLM_BASE_URL"):
        load_llm_config(path, {"NEXTEVENT_LLM_BASE_URL": url})
    assert load_llm_config(path, {"NEXTEVENT_LLM_BASE_URL": "https://api.x.org/v1"})
