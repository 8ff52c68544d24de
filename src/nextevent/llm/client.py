"""One async client for every model role, on the ``openai`` SDK's `AsyncOpenAI`.

`LLMClient.ask` is the only call the pipeline makes. For one role it:

1. looks the call up in the `CallCache` (and joins an identical call already in flight);
2. waits for a slot of the role (``concurrency``) and of the run (``max_concurrency``),
   later pipeline stages first (`PrioritySemaphore`);
3. sends the chat completion with a hard per-try timeout (``timeout_s``), asking for
   JSON through ``response_format`` when the stage has a schema (`StructuredMode`), and
   reads at most ``max_response_bytes`` of the body (a longer one is cut off as it
   arrives and fails the call at once);
4. retries HTTP 429, 408 and 5xx answers, timeouts, lost connections and bodies that
   are not a chat completion (truncated, not JSON), ``max_retries`` times, after
   ``Retry-After`` / ``retry-after-ms`` when the server sends one, else after an
   exponential backoff with jitter (``backoff_s * 2**try``, half fixed, half random,
   capped at ``max_backoff_s``), all within the call's deadline (``deadline_s``,
   `RoleConfig.call_deadline_s`): a ``Retry-After`` reaching past it fails the call at
   once, and the last try's timeout is cut to what is left;
5. hands the answer to the stage's ``parse`` function; when that raises `ValueError`
   (not JSON, wrong schema, a time outside the video) it asks once more with the error
   (the repair re-ask), then gives up with an `LLMCallError`;
6. stores the answer that parsed in the cache, under the original call's key.

The slots are held only while a request is on the wire, never during a backoff.
API keys are read from the environment when the client starts and are removed from
every error message (`LLMClient.redact`), as are credentials in a ``base_url`` (userinfo,
query values such as ``?api-key=``); they are not part of cache keys.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from nextevent.llm.cache import Answer, CallCache
from nextevent.llm.config import LLMConfig, RoleConfig, StructuredMode
from nextevent.llm.limits import PrioritySemaphore
from nextevent.llm.usage import Usage
from nextevent.llm.wire import (  # noqa: F401  (retry_after_s: part of this module's API)
    MAX_RETRY_AFTER_S,
    BodyTooLarge,
    BrokenBody,
    Rejected,
    Retry,
    backoff_s,
    body_cap_hook,
    connection_error,
    error_text,
    http_client_class,
    http_module,
    http_response_class,
    lost_answer,
    parse_completion,
    response_format,
    retry_after_s,
    split_base_url,
    status_hint,
    url_secrets,
)
from nextevent.records import NextEventError

T = TypeVar("T")

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth another try; any other 4xx fails the call at once."""
DEFAULT_REPAIR = (
    "Your previous answer could not be used: {error}\n"
    "Answer the same request again, giving only what was asked for, in the requested format."
)
"""Repair re-ask (user turn after the bad answer); ``{error}`` is the parse error."""
CONNECTIONS_PER_CLIENT = 16
"""Calls in flight per SDK client (HTTP connection pool); see `LLMClient._sdk`."""
_FALLBACK: dict[StructuredMode, StructuredMode] = {"json_schema": "json_object",
                                                   "json_object": "none"}


class LLMCallError(NextEventError):
    """A model call that ended without a usable answer; one `Failure` of its stage.

    Attributes:
        kind: ``http`` (a status no retry cures), ``exhausted`` (retries used up),
            ``invalid`` (the answer failed validation after the repair re-ask),
            ``too_large`` (a body over ``max_response_bytes``), ``deadline`` (the call's
            ``deadline_s`` used up, or a ``Retry-After`` reaching past it).
    """

    def __init__(self, stage: str, message: str, hint: str, kind: str) -> None:
        super().__init__(stage, message, hint)
        self.kind = kind


class LLMClient:
    """Calls the configured roles; one instance per run, used from one event loop.

    Args:
        config: the roles (`nextevent.llm.config.load_llm_config`).
        cache: the call cache; None caches nothing.
        usage: where to count requests and tokens; a new `Usage` when None.
        repair: builds the repair re-ask from the parse error; `DEFAULT_REPAIR` with
            ``{error}`` filled in when None.
        seed: seed of the backoff jitter.

    Raises:
        NextEventError: stage ``config``, when a role's ``api_key_env`` is not set.
    """

    def __init__(self, config: LLMConfig, cache: CallCache | None = None,
                 usage: Usage | None = None, *,
                 repair: Callable[[str], str] | None = None,
                 seed: int = 0) -> None:
        self.config = config
        self.cache = cache
        self.usage = usage if usage is not None else Usage()
        self.repair = repair or (lambda error: DEFAULT_REPAIR.format(error=error))
        self._keys = {role: cfg.api_key(role) for role, cfg in config.roles.items()}
        secrets = {k for k in self._keys.values() if k and k != "EMPTY"}
        for cfg in config.roles.values():
            secrets.update(url_secrets(cfg.base_url))
        self._secrets = sorted(secrets, key=len, reverse=True)
        self._clients: dict[str, list[Any]] = {}
        self._tls: Any = None
        self._turn = 0
        self._limits = {role: PrioritySemaphore(cfg.concurrency)
                        for role, cfg in config.roles.items()}
        self._global = (PrioritySemaphore(config.max_concurrency)
                        if config.max_concurrency else None)
        self._modes: dict[str, StructuredMode] = {role: cfg.structured
                                                  for role, cfg in config.roles.items()}
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._rng = random.Random(seed)

    # ------------------------------------------------------------------ helpers
    def redact(self, text: str) -> str:
        """``text`` with every configured API key, and every credential in a role's
        ``base_url`` (userinfo, its Basic-auth form, query values), replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def mode(self, role: str) -> StructuredMode:
        """The structured-output mode the role uses now (``auto`` until it is settled)."""
        return self._modes[role]

    def _sdk(self, role: str) -> Any:
        """An SDK client for one request of ``role``.

        Roles on the same server with the same key share a few clients, used in turn
        (one per `CONNECTIONS_PER_CLIENT` calls the group may have in flight): the HTTP
        connection pool scans all its connections for every request, so a pool of 64
        connections costs several times the CPU per request of four pools of 16. The
        clients share one TLS context (loading the CA store once).
        """
        cfg = self.config.roles[role]  # type: ignore[index]
        group = f"{cfg.base_url}\n{self._keys[role]}\n{cfg.max_response_bytes}"
        clients = self._clients.get(group)
        if clients is None:
            import openai

            width = sum(c.concurrency for r, c in self.config.roles.items()
                        if f"{c.base_url}\n{self._keys[r]}\n{c.max_response_bytes}"
                        == group)
            if self.config.max_concurrency:
                width = min(width, self.config.max_concurrency)
            if self._tls is None:
                self._tls = http_module().create_ssl_context()
            http = http_client_class()
            base_url, query, headers = split_base_url(cfg.base_url)
            clients = [openai.AsyncOpenAI(
                base_url=base_url, default_query=query or None,
                default_headers=headers or None, api_key=self._keys[role],
                max_retries=0, timeout=None,
                http_client=http(verify=self._tls, event_hooks={
                    "response": [body_cap_hook(cfg.max_response_bytes)]}))
                for _ in range(max(1, -(-width // CONNECTIONS_PER_CLIENT)))]
            self._clients[group] = clients
        self._turn += 1
        return clients[self._turn % len(clients)]

    @asynccontextmanager
    async def _slot(self, role: str, priority: int):  # type: ignore[no-untyped-def]
        limit = self._limits[role]
        await limit.acquire(priority)
        try:
            if self._global is not None:
                await self._global.acquire(priority)
            try:
                yield
            finally:
                if self._global is not None:
                    self._global.release()
        finally:
            limit.release()

    # ------------------------------------------------------------------ public
    async def ask(
        self,
        role: str,
        messages: list[dict[str, Any]],
        parse: Callable[[Answer], T],
        *,
        stage: str,
        prompt_version: str,
        schema: dict[str, Any] | None = None,
        schema_name: str = "answer",
        priority: int = 0,
        seed: int | None = None,
    ) -> T:
        """One validated answer of ``role`` to ``messages``.

        Args:
            role: a configured role name.
            messages: OpenAI chat messages (text or multimodal content parts).
            parse: turns the `Answer` into the stage's result; raises `ValueError` with a
                short reason when the answer is unusable (triggers the repair re-ask).
            stage: the pipeline stage, for failures and the cache.
            prompt_version: version of the prompt template (part of the cache key).
            schema: JSON schema of the answer, sent as ``response_format`` by the role's
                `StructuredMode`; None for free text.
            schema_name: name of the schema in ``response_format``.
            priority: higher runs first when slots are scarce (the stage's depth).
            seed: the ``seed`` to send instead of the role's own (part of the cache key,
                so each seed is its own call); None sends the role's, as before.

        Returns:
            ``parse(answer)``.

        Raises:
            LLMCallError: (stage ``stage``) when no usable answer came: retries used up,
                an HTTP status no retry cures, or validation failed after the repair.
            NextEventError: stage ``config``, when the role is not configured.
        """
        cfg = self.config.role(role, stage)
        if seed is not None:
            cfg = cfg.model_copy(update={"seed": seed})
        params: dict[str, Any] = {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens,
                                  "seed": cfg.seed, "extra_body": cfg.extra_body,
                                  "schema": schema}
        key = CallCache.key(cfg.model, messages, params, prompt_version)
        usage = self.usage[role]
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                try:
                    result = parse(hit)
                except ValueError:
                    pass  # parse rules changed since: ask again
                else:
                    usage.cache_hits += 1
                    usage.cached_tokens += hit.prompt_tokens + hit.completion_tokens
                    return result
        if key in self._inflight:  # the same call is on its way: share its answer
            answer = await asyncio.shield(self._inflight[key])
            return parse(answer)
        fut: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            answer, result = await self._ask_valid(role, cfg, messages, parse, stage, schema,
                                                   schema_name, priority)
        except Exception as err:
            fut.set_exception(err)
            fut.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        except BaseException:  # cancelled: waiters are cancelled too
            fut.cancel()
            raise
        finally:
            self._inflight.pop(key, None)
        fut.set_result(answer)
        if self.cache is not None:
            self.cache.put(key, answer, role=role, model=cfg.model, stage=stage)
        return result

    async def _ask_valid(self, role: str, cfg: RoleConfig, messages: list[dict[str, Any]],
                         parse: Callable[[Answer], T], stage: str,
                         schema: dict[str, Any] | None, schema_name: str,
                         priority: int) -> tuple[Answer, T]:
        usage = self.usage[role]
        answer = await self._call(role, cfg, messages, stage, schema, schema_name, priority)
        try:
            return answer, parse(answer)
        except ValueError as err:
            first_error = self.redact(str(err))
        usage.repairs += 1
        first = answer
        repair = [*messages, {"role": "assistant", "content": answer.content},
                  {"role": "user", "content": self.repair(first_error)}]
        answer = await self._call(role, cfg, repair, stage, schema, schema_name, priority)
        try:
            return answer, parse(answer)
        except ValueError as err:
            usage.failures += 1
            message = (f"{role} ({cfg.model}) gave no valid answer, even after one repair "
                       f"re-ask: {self.redact(str(err))} (first answer: {first_error})")
            hint = (f"use a stronger {role} model, set structured: json_schema or json_object "
                    "for it, or edit the prompt (--prompts)")
            if "length" in (first.finish_reason, answer.finish_reason):
                # Not a weak model: the server stopped it at max_tokens (an unclosed
                # <think>, a JSON object cut in half); more tokens cure it.
                message += (f"; generation stopped at max_tokens={cfg.max_tokens} "
                            "(finish_reason=length)")
                hint = (f"raise max_tokens for {role} (now {cfg.max_tokens}; a reasoning "
                        "model needs room for its whole thinking), then rerun")
            raise LLMCallError(stage, message, hint, kind="invalid") from None

    async def _call(self, role: str, cfg: RoleConfig, messages: list[dict[str, Any]],
                    stage: str, schema: dict[str, Any] | None, schema_name: str,
                    priority: int) -> Answer:
        """One answer from the server, with retries, within the call's deadline
        (`RoleConfig.call_deadline_s`: time on the wire and between tries); no
        validation."""
        usage = self.usage[role]
        last = ""
        tries = 0
        deadline = cfg.call_deadline_s()
        budget = [deadline]  # seconds left, spent by `_send` (on the wire) and waits
        where = f"{role} ({cfg.model} at {cfg.base_url})"
        while tries <= cfg.max_retries:
            if budget[0] <= 0:
                usage.failures += 1
                raise LLMCallError(
                    stage, self.redact(f"{where}: {last}; deadline_s={deadline:g} s used up "
                                       f"after {tries} tr{'y' if tries == 1 else 'ies'}"),
                    f"raise deadline_s (or timeout_s) for {role}, or check that its server "
                    "answers", kind="deadline")
            mode = self._modes[role]
            fmt = response_format("json_schema" if mode == "auto" else mode, schema,
                                  schema_name)
            try:
                answer = await self._send(role, cfg, messages, fmt, priority, budget)
            except Retry as retry:
                tries += 1
                last = retry.args[0]
                if tries > cfg.max_retries:
                    break
                usage.retries += 1
                if retry.delay_s is not None and retry.delay_s >= budget[0]:
                    usage.failures += 1
                    raise LLMCallError(
                        stage, self.redact(
                            f"{where}: {last}; the server asks to retry after "
                            f"{retry.delay_s:g} s, past the call's deadline (deadline_s="
                            f"{deadline:g} s, {max(0.0, budget[0]):.1f} s left): not waiting"),
                        f"the {role} server is rate limiting; rerun later, lower its "
                        "concurrency, or raise deadline_s", kind="deadline") from None
                delay = retry.delay_s if retry.delay_s is not None else min(
                    budget[0], backoff_s(cfg, tries - 1, self._rng))
                budget[0] -= delay
                await asyncio.sleep(delay)
                continue
            except Rejected as rejected:
                # The server refused response_format: fall back, without using a try.
                if (fmt is not None and rejected.kind == "http"
                        and mode in ("auto", "json_schema", "json_object")):
                    current = "json_schema" if mode == "auto" else mode
                    self._modes[role] = _FALLBACK[current]  # type: ignore[index]
                    continue
                usage.failures += 1
                raise LLMCallError(stage, self.redact(rejected.args[0]),
                                   self.redact(rejected.hint), kind=rejected.kind) from None
            if mode == "auto" and fmt is not None:
                self._modes[role] = "json_schema"
            usage.answers += 1
            usage.prompt_tokens += answer.prompt_tokens
            usage.completion_tokens += answer.completion_tokens
            return answer
        usage.failures += 1
        raise LLMCallError(
            stage, self.redact(f"{where}: {last}; gave up after {tries} "
                               f"tr{'y' if tries == 1 else 'ies'}"),
            f"check that the {role} server is up and not overloaded; raise max_retries or "
            "timeout_s for it, or lower its concurrency; rerun to retry (answers already "
            "received are cached)", kind="exhausted")

    async def _send(self, role: str, cfg: RoleConfig, messages: list[dict[str, Any]],
                    fmt: dict[str, Any] | None, priority: int,
                    budget: list[float]) -> Answer:
        """One HTTP request, timed out at ``timeout_s`` or what is left of the call's
        deadline (``budget[0]``, seconds, reduced by the time spent here); raises `Retry`
        or `Rejected` for the loop in `_call`."""
        import openai

        request: dict[str, Any] = {"model": cfg.model, "messages": messages,
                                   "temperature": cfg.temperature, "max_tokens": cfg.max_tokens}
        if cfg.seed is not None:
            request["seed"] = cfg.seed
        if fmt is not None:
            request["response_format"] = fmt
        request.update(cfg.extra_body)
        async with self._slot(role, priority):
            self.usage[role].requests += 1
            started = time.monotonic()
            timeout = max(0.001, min(cfg.timeout_s, budget[0]))
            try:
                # The SDK's generic request (documented for endpoints it has no method for)
                # with the body as built here: it adds the base URL, auth, timeout and
                # error mapping, and skips the per-call typed transform of `messages`
                # (about 5 ms of event-loop time per call with frames), which would cap a
                # single process at a few hundred calls per second.
                response = await asyncio.wait_for(
                    self._sdk(role).post("/chat/completions", body=request,
                                         cast_to=http_response_class()),
                    timeout=timeout)
                body = response.content
            except BodyTooLarge as err:
                raise Rejected(
                    f"{role} ({cfg.model} at {cfg.base_url}): {err}; nothing more was read",
                    f"raise max_response_bytes for {role} (now {err.limit} bytes) if such "
                    "answers are expected, else check the server (max_tokens, what it "
                    "sends)", kind="too_large") from None
            except (asyncio.TimeoutError, openai.APITimeoutError) as err:
                elapsed = time.monotonic() - started
                if timeout < cfg.timeout_s and elapsed >= 0.95 * timeout:
                    raise Retry(f"no answer within the {timeout:.1f} s left of deadline_s="
                                f"{cfg.call_deadline_s():g} s") from None
                raise Retry(lost_answer(err, elapsed, cfg.timeout_s)) from None
            except openai.APIStatusError as err:
                status = err.status_code
                text = self.redact(error_text(err))
                if fmt is not None and status in (400, 422, 500) and (
                        "response_format" in text or "json_schema" in text):
                    raise Rejected(f"HTTP {status}: {text}", "") from None
                if status in RETRY_STATUS:
                    wait = retry_after_s(err.response.headers)
                    if wait is not None and wait > MAX_RETRY_AFTER_S:
                        raise Rejected(
                            f"HTTP {status} asking to retry after {wait:.0f} s (more than "
                            f"{MAX_RETRY_AFTER_S:.0f} s): not waiting",
                            "the server is rate limiting hard; rerun later",
                            kind="deadline") from None
                    raise Retry(f"HTTP {status}: {text[:200]}", wait) from None
                raise Rejected(
                    f"{role} ({cfg.model} at {cfg.base_url}): HTTP {status}: {text[:300]}",
                    status_hint(status, role, cfg)) from None
            except openai.APIConnectionError as err:
                raise Retry(connection_error(err, time.monotonic() - started,
                                               self.redact)) from None
            except openai.APIError as err:  # e.g. a body the SDK cannot read
                raise Retry(f"bad response: {self.redact(str(err))[:200]}") from None
            finally:
                budget[0] -= time.monotonic() - started
        try:
            return parse_completion(body)
        except BrokenBody as err:
            raise Retry(self.redact(str(err))) from None

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        for clients in self._clients.values():
            for sdk in clients:
                await sdk.close()
        self._clients.clear()
