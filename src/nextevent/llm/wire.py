"""The HTTP side of `nextevent.llm.client.LLMClient`: retry timing, completion bodies,
``response_format``, and error texts in words (refused, closed, timed out).

Kept apart so the client module holds only the call's control flow (cache, slots,
retries, repair).
"""

from __future__ import annotations

import base64
import email.utils
import json
import random
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from nextevent.llm.cache import Answer
from nextevent.llm.config import RoleConfig, StructuredMode

MAX_RETRY_AFTER_S = 600.0
"""Longest ``Retry-After`` honoured, in seconds; a longer one fails the call."""


class BrokenBody(ValueError):
    """The HTTP body is not a chat completion (truncated, not JSON, no choices)."""


class BodyTooLarge(Exception):
    """An HTTP response body longer than the role's ``max_response_bytes``.

    Attributes:
        limit: the cap, in bytes.
        size: bytes announced (``Content-Length``) or received when the read stopped.
        announced: whether ``size`` is the announced length (nothing was read).
    """

    def __init__(self, limit: int, size: int, announced: bool) -> None:
        super().__init__(f"response body of {'announced ' if announced else 'at least '}"
                         f"{size} bytes exceeds max_response_bytes={limit}")
        self.limit, self.size, self.announced = limit, size, announced


class CappedStream:
    """A response byte stream that raises `BodyTooLarge` as soon as more than ``limit``
    bytes have arrived, so at most about ``limit`` bytes (plus one network chunk) are
    ever held. Wraps the HTTP library's ``AsyncByteStream`` (`capped_stream` makes one of
    that library's class)."""

    def __init__(self, inner: Any, limit: int) -> None:
        self._inner, self._limit = inner, limit

    @property
    def elapsed(self) -> Any:  # read by ``Response.elapsed``
        return getattr(self._inner, "elapsed", None)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise BodyTooLarge(self._limit, seen, announced=False)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


_CAPPED: dict[type, type] = {}


def capped_stream(inner: Any, limit: int) -> Any:
    """``inner`` (the HTTP library's async body stream) wrapped in a `CappedStream` that is
    also an instance of the library's ``AsyncByteStream`` (which it checks)."""
    base = http_module().AsyncByteStream
    cls = _CAPPED.get(base)
    if cls is None:
        cls = _CAPPED[base] = type("CappedByteStream", (CappedStream, base), {})
    return cls(inner, limit)


def body_cap_hook(limit: int) -> Callable[[Any], Awaitable[None]]:
    """An HTTP-client ``response`` event hook capping every body at ``limit`` bytes: it
    fails at once on a ``Content-Length`` above the cap (nothing read), else wraps the
    body stream in a `CappedStream` before the client reads it.

    Raises (from the hook or the later read):
        BodyTooLarge: for a body longer than ``limit`` bytes.
    """
    async def hook(response: Any) -> None:
        length = response.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise BodyTooLarge(limit, int(length), announced=True)
        response.stream = capped_stream(response.stream, limit)
    return hook


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that may be credentials, in the forms they may be printed in:
    the userinfo (``user:password``, its password, a lone token user name, and the
    base64 of ``user:password`` an HTTP client sends as Basic auth) and every query
    value of 4 characters or more (``?api-key=...``, ``?key=...``, ``?sig=...``), raw
    and percent-decoded. Empty for a URL without them."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return []
    found: list[str] = []
    netloc = parts.netloc
    if "@" in netloc:
        userinfo = netloc.rsplit("@", 1)[0]
        user, _, password = userinfo.partition(":")
        found.append(userinfo)
        found.extend(v for v in (password, user if not password else "") if v)
        plain = urllib.parse.unquote(userinfo)
        found.append(plain)
        found.append(base64.b64encode(plain.encode()).decode())
    for _, raw in (p.partition("=")[::2] for p in parts.query.split("&") if p):
        if len(raw) >= 4:
            found.extend({raw, urllib.parse.unquote_plus(raw),
                          urllib.parse.quote(urllib.parse.unquote_plus(raw), safe="")})
    return [f for f in found if len(f) >= 3]


def split_base_url(url: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """``(url without userinfo and query, the query as a dict, extra headers)`` for the
    SDK client. The SDK appends request paths to the base URL's raw path, so a query
    (``?api-key=...``) must travel as its ``default_query`` to reach the server whole;
    userinfo (``user:password@``) becomes a Basic ``Authorization`` header (what an HTTP
    client makes of it; the aiohttp transport refuses it next to the SDK's own header).
    """
    parts = urllib.parse.urlsplit(url)
    headers: dict[str, str] = {}
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        plain = ":".join(urllib.parse.unquote(x) for x in userinfo.split(":", 1))
        headers["Authorization"] = "Basic " + base64.b64encode(plain.encode()).decode()
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    if not query and not headers:
        return url, {}, {}
    return (urllib.parse.urlunsplit(parts._replace(netloc=netloc, query="", fragment="")),
            query, headers)


def redact_url(url: str) -> str:
    """``url`` with its userinfo and query values replaced by ``***`` (for messages)."""
    out = url
    for secret in sorted(set(url_secrets(url)), key=len, reverse=True):
        out = out.replace(secret, "***")
    return out


class Retry(Exception):
    def __init__(self, reason: str, delay_s: float | None = None) -> None:
        super().__init__(reason)
        self.delay_s = delay_s


def retry_after_s(headers: Any) -> float | None:
    """Seconds a response's ``retry-after-ms`` / ``Retry-After`` header asks to wait.

    ``Retry-After`` may be seconds (RFC 9110 says an integer; fractions are accepted) or an
    HTTP date. Returns None without a usable header (missing, or neither a number nor a
    date, e.g. ``garbage``): the caller then backs off as usual.
    """
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        # Raises ValueError for text that is no date on Python 3.10+ (TypeError before).
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def backoff_s(cfg: RoleConfig, attempt: int, rng: random.Random) -> float:
    """Wait before try ``attempt + 1`` (seconds): ``b/2 + uniform(0, b/2)``, with
    ``b = min(max_backoff_s, backoff_s * 2**attempt)`` (exponential backoff, equal jitter)."""
    base = min(cfg.max_backoff_s, cfg.backoff_s * (2 ** attempt))
    return base / 2 + rng.uniform(0, base / 2)


def parse_completion(body: bytes) -> Answer:
    """An `Answer` from the raw JSON body of a chat completion.

    Raises:
        ValueError: when the body is not JSON or holds no ``choices[0].message``.
    """
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        message = choice["message"]
    except (ValueError, KeyError, IndexError, TypeError) as err:
        snippet = body[:80].decode("utf-8", "replace")
        raise BrokenBody(f"the server sent a body that is not a chat completion "
                          f"({type(err).__name__}; {len(body)} bytes: {snippet!r})") from None
    if not isinstance(message, dict):
        raise BrokenBody("the server sent a chat completion without a message")
    usage = data.get("usage") or {}
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    return Answer(
        content=message.get("content") or "",
        reasoning=reasoning if isinstance(reasoning, str) and reasoning.strip() else None,
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
    )


def response_format(mode: StructuredMode, schema: dict[str, Any] | None,
                    name: str) -> dict[str, Any] | None:
    """The ``response_format`` request field for ``mode`` (None: send none)."""
    if schema is None or mode == "none":
        return None
    if mode == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema,
                                                   "strict": True}}


def causes(err: BaseException) -> list[BaseException]:
    """``err`` and the chain of exceptions behind it (``__cause__``/``__context__``)."""
    out: list[BaseException] = []
    while err is not None and err not in out and len(out) < 20:
        out.append(err)
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return out


def connection_error(err: BaseException, elapsed_s: float,
                      redact: Callable[[str], str]) -> str:
    """What went wrong with a connection, in words: refused (nothing listens), closed by
    the server (it died or dropped us) after ``elapsed_s`` seconds, or the SDK's text."""
    chain = causes(err)
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or any(
            "connection refused" in str(e).lower() or "errno 111" in str(e).lower()
            for e in chain):
        return "connection refused (is the server running at that address?)"
    closed = ("disconnected", "closed", "reset", "broken pipe", "remoteprotocolerror",
              "incomplete", "eof")
    if any(isinstance(e, ConnectionResetError | BrokenPipeError) for e in chain) or any(
            word in f"{type(e).__name__} {e}".lower() for e in chain for word in closed):
        return (f"connection closed by the server after {elapsed_s:.1f} s without an answer "
                "(did it crash? check its log)")
    return f"connection failed after {elapsed_s:.1f} s: {redact(str(err))[:200]}"


def lost_answer(err: BaseException, elapsed_s: float, timeout_s: float) -> str:
    """A timeout that really waited ``timeout_s``, or, when the transport gave up early
    (some transports report a dropped connection as a timeout), the connection's fate."""
    if elapsed_s >= 0.95 * timeout_s:
        return f"no answer within timeout_s={timeout_s:g} s"
    return connection_error(err, elapsed_s, str)


def http_module() -> Any:
    """The HTTP library the installed ``openai`` SDK is built on (``httpx`` for openai 1.x,
    ``httpx2`` for later releases)."""
    try:
        import httpx2

        return httpx2
    except ImportError:
        import httpx

        return httpx


def http_client_class() -> Any:
    """The SDK's aiohttp-backed HTTP client when ``aiohttp`` is installed (the ``llm``
    extra: ``openai[aiohttp]``), else its default httpx client. The aiohttp transport
    costs the event loop less CPU per request, which bounds the call rate of one process
    at high concurrency (see ``benchmarks/bench_llm_schedule.py``)."""
    import openai

    aio = getattr(openai, "DefaultAioHttpClient", None)
    if aio is not None:
        try:
            import aiohttp  # noqa: F401

            return aio
        except ImportError:
            pass
    return openai.DefaultAsyncHttpxClient


def http_response_class() -> type:
    """That library's ``Response``: as ``cast_to``, the SDK returns the raw response."""
    return http_module().Response


class Rejected(Exception):
    """A try that no retry cures; ``kind`` becomes the `LLMCallError`'s kind."""

    def __init__(self, message: str, hint: str, kind: str = "http") -> None:
        super().__init__(message)
        self.hint = hint
        self.kind = kind


def error_text(err: Any) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        msg = inner.get("message") if isinstance(inner, dict) else inner
        if msg:
            return str(msg)
    try:
        return err.response.text.strip()[:500] or str(err)
    except Exception:
        return str(err)


def status_hint(status: int, role: str, cfg: RoleConfig) -> str:
    if status in (401, 403):
        return (f"check the API key in ${cfg.api_key_env}" if cfg.api_key_env
                else f"the {role} server wants a key: set api_key_env for the role")
    if status == 404:
        return f"check base_url ({cfg.base_url}) and that the server serves model {cfg.model}"
    return f"check the request the {role} server refused (model, max_tokens, content parts)"
