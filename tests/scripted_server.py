"""A scripted OpenAI-protocol chat server on loopback, for tests and benchmarks.

It answers ``POST /v1/chat/completions`` with whatever a user-supplied function returns
for the request, after an optional fixed latency, and can inject faults at a given rate:
HTTP 500, HTTP 429 with ``Retry-After``, answers slower than the client's timeout, HTTP
bodies cut in half (not JSON), and well-formed completions whose message is not the JSON
asked for (only for requests with a ``response_format``; others get a cut-off body
instead). ``GET /v1/models`` lists the served model names. Every request is logged
(`Call`) so tests can count what reached the server.

Stdlib only (asyncio streams, HTTP/1.1 keep-alive) on its own event loop thread. Usage::

    def answer(request: dict) -> str | dict:      # the parsed JSON body
        return '{"scenes": [...]}'                # message content, or a message dict
    with ScriptedServer(answer, faults=Faults(rate=0.3)) as server:
        client = AsyncOpenAI(base_url=server.url, api_key="x")
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = ("http500", "http429", "slow", "truncated", "not_json")
"""Injectable faults: server error, rate limit (with Retry-After), an answer later than
the client's timeout, a cut-off HTTP body, a completion whose content is prose where JSON
was asked for (``response_format``)."""

Answerer = Callable[[dict[str, Any]], "str | dict[str, Any]"]


@dataclass
class Faults:
    """Fault injection plan.

    Attributes:
        rate: probability (0-1) that a chat request gets a fault instead of its answer;
            drawn from ``(seed, request body, times this body came before)``.
        kinds: fault kinds drawn uniformly (subset of `FAULT_KINDS`).
        retry_after: the ``Retry-After`` header value sent with 429 (seconds).
        slow_s: how long a ``slow`` fault waits before answering (seconds).
        seed: seed of the draws.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    retry_after: str = "1"
    slow_s: float = 3.0
    seed: int = 0


@dataclass
class Call:
    """One chat request the server received.

    Attributes:
        n: arrival number (0-based).
        key: SHA-256 of the canonical JSON body (identical requests share it).
        body: the parsed JSON body (None when it was not JSON).
        outcome: ``ok`` or the fault kind sent.
        headers: request headers (lower-case names).
        time: arrival, ``time.monotonic()`` seconds.
    """

    n: int
    key: str
    body: dict[str, Any] | None
    outcome: str
    headers: dict[str, str] = field(default_factory=dict)
    time: float = 0.0


def body_key(body: Any) -> str:
    """SHA-256 hex of a request body in canonical JSON."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def completion(content: str, model: str, *, reasoning: str | None = None,
               prompt_tokens: int = 0, finish_reason: str = "stop") -> dict[str, Any]:
    """A chat completion body holding one assistant message."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return {"id": f"chatcmpl-{int(time.time() * 1e6)}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": prompt_tokens,
                      "completion_tokens": max(1, len(content) // 4),
                      "total_tokens": prompt_tokens + max(1, len(content) // 4)}}


class ScriptedServer:
    """The server; start with ``with`` or `start` / `stop`.

    It runs its own asyncio event loop in a daemon thread (one coroutine per connection,
    HTTP/1.1 keep-alive), so hundreds of concurrent slow answers cost no threads.

    Args:
        answer: request body -> assistant content (str) or message dict (``content``,
            optional ``reasoning_content``). An exception it raises becomes an HTTP 400
            with the message (a test's own planned refusal).
        faults: fault plan (none by default); change it later with `set_faults`.
        latency_s: fixed delay before every answer, in seconds.
        models: names listed by ``/v1/models``.
        echo_auth_in_errors: put the request's ``Authorization`` header into fault error
            bodies (to test that clients keep keys out of their logs).
    """

    def __init__(self, answer: Answerer, *, faults: Faults | None = None,
                 latency_s: float = 0.0, models: tuple[str, ...] = ("scripted",),
                 echo_auth_in_errors: bool = False) -> None:
        self.answer = answer
        self.faults = faults or Faults()
        self.latency_s = latency_s
        self.models = models
        self.echo_auth_in_errors = echo_auth_in_errors
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control
    @property
    def url(self) -> str:
        """Base URL for an OpenAI client, ``http://127.0.0.1:<port>/v1``."""
        assert self._port is not None, "start the server first"
        return f"http://127.0.0.1:{self._port}/v1"

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault plan (e.g. ``Faults(rate=0)`` to stop faults)."""
        with self._lock:
            self.faults = faults

    def start(self) -> ScriptedServer:
        """Listen on a free loopback port and serve in a daemon thread."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def listen() -> None:
            self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0,
                                                      backlog=1024)
            self._port = self._server.sockets[0].getsockname()[1]
            ready.set()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(listen())
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="scripted-openai-server")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the scripted server did not start")
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections, and close the socket."""
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def shutdown() -> None:
            server.close()
            for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = self._server = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ queries
    def outcomes(self) -> dict[str, int]:
        """Number of chat requests per outcome."""
        out: dict[str, int] = {}
        with self._lock:
            for call in self.calls:
                out[call.outcome] = out.get(call.outcome, 0) + 1
        return out

    def _log(self, body: Any, headers: dict[str, str]) -> Call:
        with self._lock:
            rate, kinds = self.faults.rate, self.faults.kinds
            key = body_key(body)
            # The draw depends on the request and how often it came before, not on the
            # arrival order, so a concurrent client meets the same faults on every run.
            seen = self._seen.get(key, 0)
            self._seen[key] = seen + 1
            rng = random.Random(f"{self.faults.seed}:{key}:{seen}")
            outcome = "ok"
            if rate > 0 and rng.random() < rate:
                outcome = rng.choice(kinds)
            call = Call(n=len(self.calls), key=key,
                        body=body if isinstance(body, dict) else None, outcome=outcome,
                        headers=headers, time=time.monotonic())
            self.calls.append(call)
            return call

    # ------------------------------------------------------------------ HTTP
    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                raw = await reader.readexactly(int(headers.get("content-length") or 0))
                status, payload, extra = await self._respond(method, path, headers, raw)
                extra_lines = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
                writer.write((f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
                              f"Content-Type: application/json\r\n"
                              f"Content-Length: {len(payload)}\r\n{extra_lines}\r\n"
                              ).encode("latin-1") + payload)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # the client went away (e.g. it timed out)
        finally:
            writer.close()

    async def _respond(self, method: str, path: str, headers: dict[str, str],
                       raw: bytes) -> tuple[int, bytes, dict[str, str]]:
        """Status, JSON payload and extra headers for one request."""
        route = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and route.endswith("/models"):
            data = [{"id": m, "object": "model", "owned_by": "scripted"} for m in self.models]
            return 200, json.dumps({"object": "list", "data": data}).encode(), {}
        if method != "POST" or not route.endswith("/chat/completions"):
            return 404, b'{"error": {"message": "only /v1/chat/completions"}}', {}
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, b'{"error": {"message": "body is not JSON"}}', {}
        call = self._log(body, headers)
        faults = self.faults
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        auth = headers.get("authorization", "") if self.echo_auth_in_errors else ""
        if call.outcome == "http500":
            msg = {"error": {"message": f"scripted internal error {auth}".strip(),
                             "type": "server_error"}}
            return 500, json.dumps(msg).encode(), {}
        if call.outcome == "http429":
            msg = {"error": {"message": f"scripted rate limit {auth}".strip(),
                             "type": "rate_limit"}}
            return 429, json.dumps(msg).encode(), {"Retry-After": faults.retry_after}
        if call.outcome == "slow":
            await asyncio.sleep(faults.slow_s)
        model = str(body.get("model", "scripted"))
        if call.outcome == "not_json" and not body.get("response_format"):
            # A free-text request has no "JSON asked for": prose would be a valid (if
            # wrong) answer, so this fault degrades to a cut-off body there.
            call.outcome = "truncated"
        if call.outcome == "not_json":
            payload = completion("I am sorry, I cannot help with that video.", model)
            return 200, json.dumps(payload).encode(), {}
        try:
            answer = self.answer(body)
        except Exception as err:  # a planned refusal of the test's answer function
            return 400, json.dumps({"error": {"message": str(err)}}).encode(), {}
        if isinstance(answer, dict):
            payload = completion(answer.get("content", ""), model,
                                 reasoning=answer.get("reasoning_content"),
                                 prompt_tokens=len(raw) // 4)
        else:
            payload = completion(str(answer), model, prompt_tokens=len(raw) // 4)
        data = json.dumps(payload).encode()
        if call.outcome == "truncated":
            data = data[: len(data) // 2]
        return 200, data, {}


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error"}


def user_text(request: dict[str, Any]) -> str:
    """All text of a request's user messages (text parts of multimodal content too)."""
    out = []
    for message in request.get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out.extend(p.get("text", "") for p in content if p.get("type") == "text")
    return "\n".join(out)


def image_urls(request: dict[str, Any]) -> list[str]:
    """The ``image_url`` URLs of a request's user messages, in order."""
    urls = []
    for message in request.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            urls.extend(p["image_url"]["url"] for p in content if p.get("type") == "image_url")
    return urls


def schema_name(request: dict[str, Any]) -> str | None:
    """The ``response_format.json_schema.name`` of a request, if any."""
    fmt = request.get("response_format") or {}
    return (fmt.get("json_schema") or {}).get("name")
