"""The model client against the scripted OpenAI-protocol server: retries, Retry-After,
timeouts, broken bodies, repair re-ask, structured-output fallback, cache, key hygiene,
config loading, limits, and what vision roles are sent (frames of the sample videos)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from scripted_server import Faults, ScriptedServer, image_urls, user_text

from nextevent.llm import CallCache, LLMCallError, LLMClient, LLMConfig, RoleConfig, Usage
from nextevent.llm.cache import Answer
from nextevent.llm.client import retry_after_s
from nextevent.llm.config import VideoInput, load_llm_config
from nextevent.llm.limits import PrioritySemaphore
from nextevent.llm.vision import encode_frames, frame_content, video_content
from nextevent.records import NextEventError

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
          "additionalProperties": False}


def parse_n(answer: Answer) -> int:
    data = json.loads(answer.content)
    if not isinstance(data, dict) or not isinstance(data.get("n"), int):
        raise ValueError(f"no integer n in {answer.content[:40]!r}")
    return data["n"]


def client_for(url: str, tmp_path: Path | None = None, **role: Any) -> LLMClient:
    cfg = RoleConfig(base_url=url, model="m", timeout_s=role.pop("timeout_s", 2.0),
                     backoff_s=role.pop("backoff_s", 0.01), **role)
    cache = CallCache(tmp_path / "cache.sqlite") if tmp_path else None
    return LLMClient(LLMConfig(roles={"planner": cfg}), cache)


def ask(client: LLMClient, text: str = "give n", **kw: Any) -> Any:
    async def go() -> Any:
        try:
            return await client.ask("planner", [{"role": "user", "content": text}], parse_n,
                                    stage="events", prompt_version="t:1", schema=SCHEMA, **kw)
        finally:
            await client.aclose()
            if client.cache is not None:
                client.cache.close()
    return asyncio.run(go())


class Sequence:
    """Answers every request with '{"n": 7}' and keeps the requests."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def __call__(self, request: dict[str, Any]) -> str:
        self.seen.append(request)
        return '{"n": 7}'


def test_answer_cached_and_second_call_sends_nothing(tmp_path: Path) -> None:
    with ScriptedServer(Sequence()) as server:
        assert ask(client_for(server.url, tmp_path)) == 7
        assert ask(client_for(server.url, tmp_path)) == 7
        assert len(server.calls) == 1
        # another prompt version is another call
        client = client_for(server.url, tmp_path)
        asyncio.run(client.ask("planner", [{"role": "user", "content": "give n"}], parse_n,
                               stage="events", prompt_version="t:2", schema=SCHEMA))
        assert client.cache is not None
        client.cache.close()
        assert len(server.calls) == 2


@pytest.mark.parametrize("kind", ["http500", "truncated", "slow"])
def test_transient_faults_are_retried(kind: str) -> None:
    faults = Faults(rate=1.0, kinds=(kind,), slow_s=1.5)
    with ScriptedServer(Sequence(), faults=faults) as server:
        client = client_for(server.url, timeout_s=0.5, max_retries=2)
        with pytest.raises(LLMCallError) as info:
            ask(client)
        assert info.value.kind == "exhausted" and info.value.stage == "events"
        assert len(server.calls) == 3  # first try + 2 retries
        assert client.usage["planner"].retries == 2
        server.set_faults(Faults(rate=0.0))
        assert ask(client_for(server.url, max_retries=2)) == 7


def test_429_waits_for_retry_after() -> None:
    with ScriptedServer(Sequence(), faults=Faults(rate=1.0, kinds=("http429",),
                                                  retry_after="1")) as server:
        client = client_for(server.url, max_retries=1)
        start = time.monotonic()
        with pytest.raises(LLMCallError):
            ask(client)
        assert len(server.calls) == 2
        assert server.calls[1].time - server.calls[0].time >= 0.95
        assert time.monotonic() - start >= 0.95


def test_retry_after_header_forms() -> None:
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < retry_after_s({"retry-after": date}) <= 30  # type: ignore[operator]
    assert retry_after_s({}) is None


def test_invalid_answer_gets_one_repair_then_fails() -> None:
    answers = iter(["not json at all", '{"n": 3}'])
    with ScriptedServer(lambda r: next(answers)) as server:
        client = client_for(server.url)
        assert ask(client) == 3
        repair = server.calls[1].body
        assert repair is not None
        assert repair["messages"][-2] == {"role": "assistant", "content": "not json at all"}
        assert "could not be used" in repair["messages"][-1]["content"]
        assert client.usage["planner"].repairs == 1
    with ScriptedServer(lambda r: "still prose") as server:
        with pytest.raises(LLMCallError) as info:
            ask(client_for(server.url))
        assert info.value.kind == "invalid" and len(server.calls) == 2
        assert "repair" in str(info.value)


def test_structured_output_falls_back_when_json_schema_is_refused() -> None:
    """Like llama-cpp-python's server, refuse type json_schema; accept json_object."""
    def answer(request: dict[str, Any]) -> str:
        if request["response_format"]["type"] != "json_object":
            raise ValueError("response_format.type: Input should be 'text' or 'json_object'")
        assert request["response_format"]["schema"] == SCHEMA
        return '{"n": 5}'

    with ScriptedServer(answer) as server:
        client = client_for(server.url, structured="auto")
        assert ask(client) == 5
        assert [c.body["response_format"]["type"] for c in server.calls if c.body] == [
            "json_schema", "json_object"]
        assert client.mode("planner") == "json_object"


def test_other_4xx_fails_at_once_with_a_hint() -> None:
    def answer(request: dict[str, Any]) -> str:
        raise ValueError("model m does not exist")

    with ScriptedServer(answer) as server:
        with pytest.raises(LLMCallError) as info:
            ask(client_for(server.url, structured="none"))
        assert len(server.calls) == 1 and info.value.kind == "http"
        assert "HTTP 400" in str(info.value) and "model m does not exist" in str(info.value)


def test_identical_calls_in_flight_are_sent_once() -> None:
    with ScriptedServer(Sequence(), latency_s=0.3) as server:
        client = client_for(server.url)

        async def go() -> list[int]:
            msgs = [{"role": "user", "content": "same"}]
            calls = [client.ask("planner", msgs, parse_n, stage="events",
                                prompt_version="t:1", schema=SCHEMA) for _ in range(5)]
            try:
                return list(await asyncio.gather(*calls))
            finally:
                await client.aclose()

        assert asyncio.run(go()) == [7] * 5
        assert len(server.calls) == 1


def test_role_concurrency_is_bounded() -> None:
    with ScriptedServer(Sequence(), latency_s=0.2) as server:
        client = client_for(server.url, concurrency=2)

        async def go() -> None:
            calls = [client.ask("planner", [{"role": "user", "content": f"q{i}"}], parse_n,
                                stage="events", prompt_version="t:1", schema=SCHEMA)
                     for i in range(6)]
            try:
                await asyncio.gather(*calls)
            finally:
                await client.aclose()

        start = time.monotonic()
        asyncio.run(go())
        elapsed = time.monotonic() - start
        assert len(server.calls) == 6
        assert elapsed >= 3 * 0.2 * 0.95  # 6 calls, 2 at a time, 0.2 s each


def test_priority_semaphore_serves_higher_priority_first() -> None:
    order: list[str] = []

    async def go() -> None:
        sem = PrioritySemaphore(1)
        await sem.acquire()

        async def waiter(name: str, priority: int) -> None:
            await sem.acquire(priority)
            order.append(name)
            sem.release()

        tasks = [asyncio.create_task(waiter(n, p)) for n, p in
                 [("low", 0), ("high", 5), ("mid", 2), ("high2", 5)]]
        await asyncio.sleep(0.01)
        sem.release()
        await asyncio.gather(*tasks)

    asyncio.run(go())
    assert order == ["high", "high2", "mid", "low"]


def test_api_key_never_reaches_errors_cache_or_usage(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-PLANTED-0123456789abcdef"
    monkeypatch.setenv("TEST_LLM_KEY", key)
    with ScriptedServer(Sequence(), faults=Faults(rate=1.0, kinds=("http500",)),
                        echo_auth_in_errors=True) as server:
        client = client_for(server.url, tmp_path, api_key_env="TEST_LLM_KEY", max_retries=0)
        with pytest.raises(LLMCallError) as info:
            ask(client)
        assert server.calls[0].headers["authorization"] == f"Bearer {key}"  # it was sent
        assert key not in str(info.value) and "***" in str(info.value)
        server.set_faults(Faults())
        assert ask(client_for(server.url, tmp_path, api_key_env="TEST_LLM_KEY")) == 7
    assert key.encode() not in (tmp_path / "cache.sqlite").read_bytes()
    assert key not in json.dumps(Usage().as_dict())


def test_missing_api_key_variable_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    cfg = RoleConfig(base_url="http://127.0.0.1:9/v1", model="m", api_key_env="NO_SUCH_KEY_VAR")
    with pytest.raises(NextEventError, match="NO_SUCH_KEY_VAR"):
        LLMClient(LLMConfig(roles={"critic": cfg}))


# ----------------------------------------------------------------------------- config
def test_yaml_config_defaults_roles_and_env_overrides(tmp_path: Path) -> None:
    path = tmp_path / "llm.yaml"
    path.write_text(
        "defaults: {base_url: 'http://a/v1', timeout_s: 30, video: {fps: 2}}\n"
        "max_concurrency: 16\ncache: c.sqlite\n"
        "roles:\n  captioner: {model: vl, video: {max_frames: 8}}\n"
        "  reasoner: {model: r1, structured: none, concurrency: 3}\n")
    env = {"NEXTEVENT_LLM_BASE_URL": "http://b/v1",
           "NEXTEVENT_LLM_REASONER_BASE_URL": "http://c/v1",
           "NEXTEVENT_LLM_CRITIC_MODEL": "judge"}
    cfg = load_llm_config(path, env)
    assert cfg.roles["captioner"].base_url == "http://b/v1"
    assert cfg.roles["captioner"].video == VideoInput(fps=2, max_frames=8)
    assert cfg.roles["reasoner"].base_url == "http://c/v1"
    assert (cfg.roles["reasoner"].structured, cfg.roles["reasoner"].concurrency) == ("none", 3)
    assert cfg.roles["critic"].model == "judge" and cfg.roles["critic"].timeout_s == 30
    assert cfg.max_concurrency == 16 and cfg.cache == tmp_path / "c.sqlite"
    with pytest.raises(NextEventError, match="role grounder is not configured"):
        cfg.role("grounder", "ground")


def test_toml_config_and_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "llm.toml"
    path.write_text('[roles.critic]\nbase_url = "http://x/v1"\nmodel = "m"\ntemperature = 0.2\n')
    assert load_llm_config(path, {}).roles["critic"].temperature == 0.2
    path.write_text('[roles.critic]\nbase_url = "http://x/v1"\nmodel = "m"\nconcurency = 2\n')
    with pytest.raises(NextEventError, match="concurency"):
        load_llm_config(path, {})
    path.write_text('[roles.narrator]\nmodel = "m"\n')
    with pytest.raises(NextEventError, match="unknown role"):
        load_llm_config(path, {})
    with pytest.raises(NextEventError, match="does not exist"):
        load_llm_config(tmp_path / "missing.yaml", {})


# ----------------------------------------------------------------------------- vision
def test_frames_are_timestamped_jpeg_data_urls_within_the_pixel_budget(bikes: Path) -> None:
    video = VideoInput(fps=1.0, max_frames=6, max_pixels=160 * 90)
    frames = encode_frames(bikes, video)
    assert len(frames) == 6  # 10 s at 1 fps = 10 targets > 6: spread evenly
    times = [f.time_s for f in frames]
    assert times == sorted(times) and times[0] < 0.1 and times[-1] > 7.5
    parts = frame_content(frames)
    request = {"messages": [{"role": "user", "content": parts}]}
    urls = image_urls(request)
    assert len(urls) == 6 and all(u.startswith("data:image/jpeg;base64,") for u in urls)
    for url, frame in zip(urls, frames, strict=True):
        img = cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8),
                           cv2.IMREAD_COLOR)
        assert img.shape[0] * img.shape[1] <= 160 * 90
        assert (img.shape[1], img.shape[0]) == (frame.width, frame.height)
        assert abs(img.shape[1] / img.shape[0] - 640 / 272) < 0.05  # aspect ratio kept
    text = user_text(request)
    assert "Frame at 00:00.00:" in text and text.count("Frame at") == 6


def test_video_url_mode(bunny: Path) -> None:
    part = video_content(bunny, VideoInput(mode="video_url"))[0]
    assert part["type"] == "video_url"
    assert part["video_url"]["url"] == bunny.resolve().as_uri()
    data = video_content(bunny, VideoInput(mode="video_url", url="data"))[0]
    assert base64.b64decode(data["video_url"]["url"].split(",", 1)[1]) == bunny.read_bytes()
