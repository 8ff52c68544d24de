"""A scripted OpenAI-protocol chat server on loopback, for tests and benchmarks.

It answers ``POST /v1/chat/completions`` with whatever a user-supplied function returns
for the request, after an optional fixed latency, and can inject faults at a given rate:
HTTP 500, HTTP 429 with ``Retry-After``, answers slower than the client's timeout, HTTP
bodies cut in half (not JSON), and well-formed completions whose message is not the JSON
asked for (only for requests with a ``response_format``; others get a cut-off body
instead). ``GET /v1/models`` lists the served model names. Every request is logged
(`Call`) so tests can count what reached the server.

Stdlib only (``http.server.ThreadingHTTPServer``), one thread per connection, HTTP/1.1
keep-alive. Usage::

    def answer(request: dict) -> str | dict:      # the parsed JSON body
        return '{"scenes": [...]}'                # message content, or a message dict
    with ScriptedServer(answer, faults=Faults(rate=0.3)) as server:
        client = AsyncOpenAI(base_url=server.url, api_key="x")
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control
    @property
    def url(self) -> str:
        """Base URL for an OpenAI client, ``http://127.0.0.1:<port>/v1``."""
        assert self._httpd is not None, "start the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault plan (e.g. ``Faults(rate=0)`` to stop faults)."""
        with self._lock:
            self.faults = faults

    def start(self) -> ScriptedServer:
        """Listen on a free loopback port and serve in a daemon thread."""
        server = self

        class Handler(_Handler):
            owner = server

        httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True,
                                        name="scripted-openai-server")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen() backlog: many clients connect at once


class _Handler(BaseHTTPRequestHandler):
    owner: ScriptedServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the body waits for the
    # client's delayed ACK of the headers (about 40 ms a response).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to do

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            data = [{"id": m, "object": "model", "owned_by": "scripted"}
                    for m in self.owner.models]
            self._send(200, json.dumps({"object": "list", "data": data}).encode())
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, b'{"error": {"message": "only /v1/chat/completions"}}')
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, b'{"error": {"message": "body is not JSON"}}')
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        owner = self.owner
        call = owner._log(body, headers)
        faults = owner.faults
        if owner.latency_s:
            time.sleep(owner.latency_s)
        auth = headers.get("authorization", "") if owner.echo_auth_in_errors else ""
        if call.outcome == "http500":
            msg = {"error": {"message": f"scripted internal error {auth}".strip(),
                             "type": "server_error"}}
            self._send(500, json.dumps(msg).encode())
            return
        if call.outcome == "http429":
            msg = {"error": {"message": f"scripted rate limit {auth}".strip(),
                             "type": "rate_limit"}}
            self._send(429, json.dumps(msg).encode(), {"Retry-After": faults.retry_after})
            return
        if call.outcome == "slow":
            time.sleep(faults.slow_s)
        model = str(body.get("model", "scripted"))
        if call.outcome == "not_json" and not body.get("response_format"):
            # A free-text request has no "JSON asked for": prose would be a valid (if
            # wrong) answer, so this fault degrades to a cut-off body there.
            call.outcome = "truncated"
        if call.outcome == "not_json":
            payload = completion("I am sorry, I cannot help with that video.", model)
            self._send(200, json.dumps(payload).encode())
            return
        try:
            answer = owner.answer(body)
        except Exception as err:  # a planned refusal of the test's answer function
            self._send(400, json.dumps({"error": {"message": str(err)}}).encode())
            return
        if isinstance(answer, dict):
            payload = completion(answer.get("content", ""), model,
                                 reasoning=answer.get("reasoning_content"),
                                 prompt_tokens=len(raw) // 4)
        else:
            payload = completion(str(answer), model, prompt_tokens=len(raw) // 4)
        data = json.dumps(payload).encode()
        if call.outcome == "truncated":
            data = data[: len(data) // 2]
        self._send(200, data)


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
