"""Model roles and how to reach them: read from a YAML or TOML file, then the environment.

File format (``examples/llm.yaml``)::

    defaults:                 # merged into every role below
      base_url: http://127.0.0.1:8000/v1
      api_key_env: VLLM_API_KEY   # the NAME of an environment variable, never the key
      timeout_s: 120
    max_concurrency: 64       # optional: calls in flight over all roles together
    cache: llm_cache.sqlite   # optional: call cache; relative to the file; default RUN_DIR
    roles:
      captioner: {model: Qwen/Qwen2.5-VL-7B-Instruct, concurrency: 16,
                  video: {mode: frames, fps: 1, max_frames: 32, max_pixels: 200704}}
      grounder:  {model: Qwen/Qwen2.5-VL-7B-Instruct}
      planner:   {model: ..., structured: json_schema}
      reasoner:  {base_url: http://127.0.0.1:8001/v1, model: ..., structured: none}
      rewriter:  {...}
      critic:    {...}

Environment variables override the file, the role-specific one over the general one:
``NEXTEVENT_LLM_<FIELD>`` (every role) and ``NEXTEVENT_LLM_<ROLE>_<FIELD>`` for the
scalar fields of `RoleConfig` (``NEXTEVENT_LLM_REASONER_BASE_URL``,
``NEXTEVENT_LLM_MODEL``, ``NEXTEVENT_LLM_CRITIC_CONCURRENCY``, ...).
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nextevent.records import NextEventError

Role = Literal["captioner", "grounder", "planner", "reasoner", "rewriter", "critic", "judge"]
ROLES: tuple[Role, ...] = ("captioner", "grounder", "planner", "reasoner", "rewriter", "critic",
                           "judge")
"""``judge`` reads which option a reasoning trace concludes (`bench eval --mode
reasoning`, think-answer consistency); builds do not use it."""
VISION_ROLES: frozenset[str] = frozenset({"captioner", "grounder"})
"""Roles that are sent the video (frames or a video URL); the others get text only."""

StructuredMode = Literal["auto", "json_schema", "json_object", "none"]
"""How a role is asked for JSON:

* ``json_schema``: OpenAI's ``response_format={"type": "json_schema", ...}`` (vLLM, SGLang,
  Ollama, OpenAI);
* ``json_object``: ``{"type": "json_object", "schema": ...}``, the llama-cpp-python server's
  form (its ``ChatCompletionRequestResponseFormat`` takes only ``text``/``json_object``,
  llama_cpp/llama_types.py in abetlen/llama-cpp-python v0.3.36), grammar-constrained;
* ``none``: no constraint, the prompt alone asks for JSON;
* ``auto``: ``json_schema``, falling back to ``json_object`` then ``none`` for the role as
  soon as the server rejects the field.

Whatever the mode, answers are validated by pydantic.
"""

ENV_PREFIX = "NEXTEVENT_LLM_"
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
"""Default `RoleConfig.max_response_bytes` (8 MiB: far above any chat completion's
text, far below what would exhaust memory at high concurrency)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VideoInput(_Strict):
    """How a vision role is shown a video.

    Attributes:
        mode: ``frames``: sampled frames as base64 JPEG data URLs, each preceded by its
            timestamp in the text; ``video_url``: one ``video_url`` content part (vLLM with
            Qwen2.5-VL and other servers that take video).
        fps: frames sampled per second of video (``frames`` mode).
        max_frames: most frames sent; longer videos are sampled evenly instead.
        max_pixels: most pixels (height x width) per frame; larger frames are scaled down.
        jpeg_quality: JPEG quality of the sent frames, 1-100.
        url: ``video_url`` mode: ``file`` sends ``file://<absolute path>`` (vLLM needs
            ``--allowed-local-media-path``), ``data`` sends the whole file base64-encoded.
    """

    mode: Literal["frames", "video_url"] = "frames"
    fps: float = Field(default=1.0, gt=0)
    max_frames: int = Field(default=32, ge=1)
    max_pixels: int = Field(default=448 * 448, ge=64)
    jpeg_quality: int = Field(default=85, ge=1, le=100)
    url: Literal["file", "data"] = "file"


class RoleConfig(_Strict):
    """One model role: which server and model, and how to call it.

    Attributes:
        base_url: the OpenAI-compatible endpoint, e.g. ``http://127.0.0.1:8000/v1``. A
            query (``?api-key=...``) is sent with every request; userinfo
            (``user:password@``) as Basic auth, in place of the bearer key. Both are
            redacted from every message and file nextevent writes.
        model: the model name the server knows.
        api_key_env: name of the environment variable holding the API key; None for
            servers that need none (the SDK is then given ``EMPTY``).
        temperature: sampling temperature.
        max_tokens: most tokens generated per call.
        seed: sampling seed sent to the server, if any.
        concurrency: most calls of this role in flight at once.
        timeout_s: seconds one try may take, start to end, before it is retried.
        max_retries: retries after the first try (HTTP 429/5xx, timeouts, broken bodies).
        backoff_s: base of the exponential backoff in seconds (doubles per retry, jittered).
        max_backoff_s: longest wait between tries in seconds, unless Retry-After asks more.
        deadline_s: seconds one call may spend over all its tries and the waits between
            them (time queued for a concurrency slot not counted); a ``Retry-After``
            reaching past it fails the call at once, and the last try gets only what is
            left. None: ``timeout_s * (max_retries + 1) + max_backoff_s * max_retries``
            (`RoleConfig.call_deadline_s`).
        max_response_bytes: largest HTTP response body read, in bytes (success and error
            bodies alike); a larger one is cut off as it arrives and fails the call.
        structured: how JSON answers are requested (see `StructuredMode`).
        extra_body: extra JSON fields sent with every call (e.g. ``top_k``,
            ``chat_template_kwargs``).
        video: how the video is shown (vision roles only).
    """

    base_url: str
    model: str
    api_key_env: str | None = None
    temperature: float = Field(default=0.0, ge=0)
    max_tokens: int = Field(default=1024, ge=1)
    seed: int | None = None
    concurrency: int = Field(default=8, ge=1)
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_s: float = Field(default=1.0, ge=0)
    max_backoff_s: float = Field(default=60.0, ge=0)
    deadline_s: float | None = Field(default=None, gt=0)
    max_response_bytes: int = Field(default=DEFAULT_MAX_RESPONSE_BYTES, ge=1024)
    structured: StructuredMode = "auto"
    extra_body: dict[str, Any] = Field(default_factory=dict)
    video: VideoInput = Field(default_factory=VideoInput)

    def call_deadline_s(self) -> float:
        """Seconds one call may spend over all its tries and waits: ``deadline_s``, or
        by default ``timeout_s * (max_retries + 1) + max_backoff_s * max_retries``."""
        if self.deadline_s is not None:
            return self.deadline_s
        return self.timeout_s * (self.max_retries + 1) + self.max_backoff_s * self.max_retries

    def api_key(self, role: str) -> str:
        """The API key from the environment (``EMPTY`` when no variable is named).

        Raises:
            NextEventError: stage ``config``, when the named variable is not set.
        """
        if not self.api_key_env:
            return "EMPTY"
        value = os.environ.get(self.api_key_env)
        if not value:
            raise NextEventError(
                "config", f"role {role}: environment variable {self.api_key_env} (api_key_env) "
                "is not set", f"export {self.api_key_env}=<your key>, or drop api_key_env for "
                "a server without keys")
        return value


class LLMConfig(_Strict):
    """Every role of a run, plus limits shared by all of them.

    Attributes:
        roles: role name -> its config; only the roles the selected stages use are needed.
        max_concurrency: most calls in flight over all roles together (None: only the
            per-role limits apply).
        cache: call cache file; None puts ``llm_cache.sqlite`` in the run directory.
        source: the file this was read from (for messages).
    """

    roles: dict[Role, RoleConfig]
    max_concurrency: int | None = Field(default=None, ge=1)
    cache: Path | None = None
    source: str = ""

    def role(self, name: str, stage: str = "") -> RoleConfig:
        """The config of role ``name``.

        Raises:
            NextEventError: stage ``config``, when the role is not configured.
        """
        if name not in self.roles:
            need = f" (stage {stage} needs it)" if stage else ""
            raise NextEventError(
                "config", f"role {name} is not configured in {self.source or 'the LLM config'}"
                + need, f"add roles.{name} with base_url and model, or skip the stage with "
                "--skip-stage")
        return self.roles[name]  # type: ignore[index]


_SCALARS = ("base_url", "model", "api_key_env", "temperature", "max_tokens", "seed",
            "concurrency", "timeout_s", "max_retries", "backoff_s", "max_backoff_s",
            "deadline_s", "max_response_bytes", "structured")


def _env_fields(env: Mapping[str, str], prefix: str) -> dict[str, str]:
    return {f: env[prefix + f.upper()] for f in _SCALARS if prefix + f.upper() in env}


def _read_file(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise NextEventError("config", f"LLM config {path} is a directory, not a file",
                             "pass a YAML or TOML file to --llm-config (see examples/llm.yaml)")
    if not path.is_file():
        raise NextEventError("config", f"LLM config {path} does not exist",
                             "pass a YAML or TOML file to --llm-config (see examples/llm.yaml)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise NextEventError("config", f"LLM config {path} is not UTF-8 text ({err.reason} "
                             f"at byte {err.start})", "save the file as UTF-8") from None
    except OSError as err:
        raise NextEventError("config", f"LLM config {path} cannot be read: "
                             f"{err.strerror or err}", "check the file's permissions") from None
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
    except Exception as err:  # yaml.YAMLError, tomllib.TOMLDecodeError
        raise NextEventError("config", f"LLM config {path} is not valid "
                             f"{'TOML' if path.suffix.lower() == '.toml' else 'YAML'}: {err}",
                             "fix the syntax (see examples/llm.yaml)") from err
    if not isinstance(data, dict):
        raise NextEventError("config", f"LLM config {path} must be a mapping with 'roles'",
                             "see examples/llm.yaml")
    return data


def _mapping(value: Any, path: Path, where: str, what: str) -> dict[str, Any]:
    """``value`` as a dict (None: empty); a list, string or number is a config error
    naming ``where`` (e.g. ``roles.critic``), so a wrong structure never reaches
    ``dict()`` and its traceback."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise NextEventError(
            "config", f"LLM config {path}: {where} must be a mapping of {what}, not "
            f"{type(value).__name__}", f"write {where} as 'name: value' pairs, e.g. roles: "
            "{critic: {model: ..., base_url: http://127.0.0.1:8000/v1}} (see examples/llm.yaml)")
    return value


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a ``base_url`` (None: it can)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError as err:
        return f"is not a valid URL ({err})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host (e.g. http://127.0.0.1:8000/v1)"
    return None


def load_llm_config(path: str | Path, env: Mapping[str, str] | None = None) -> LLMConfig:
    """Read the role config from a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file.

    Each role is ``defaults`` updated by the role's own entry, then by
    ``NEXTEVENT_LLM_<FIELD>`` and ``NEXTEVENT_LLM_<ROLE>_<FIELD>`` variables; a role that
    only appears in the environment (``NEXTEVENT_LLM_CRITIC_MODEL``) is added. A relative
    ``cache`` path is taken relative to the file.

    Args:
        path: the config file.
        env: environment to read overrides from (default ``os.environ``).

    Raises:
        NextEventError: stage ``config``, for a missing or unparsable file, an unknown role
            or field, or a role without ``base_url``/``model`` (the message names it).
    """
    env = os.environ if env is None else env
    path = Path(path)
    data = _read_file(path)
    unknown = set(data) - {"defaults", "roles", "max_concurrency", "cache"}
    if unknown:
        raise NextEventError("config", f"LLM config {path}: unknown key(s) {sorted(unknown)}",
                             "use defaults, roles, max_concurrency, cache")
    defaults = dict(_mapping(data.get("defaults"), path, "defaults", "field -> value"))
    file_roles = dict(_mapping(data.get("roles"), path, "roles", "role -> fields"))
    bad = set(file_roles) - set(ROLES)
    if bad:
        raise NextEventError("config", f"LLM config {path}: unknown role(s) "
                             f"{sorted(map(str, bad))}", f"roles are {', '.join(ROLES)}")
    if "video" in defaults:
        _mapping(defaults["video"], path, "defaults.video", "field -> value")
    general = _env_fields(env, ENV_PREFIX)
    roles: dict[str, Any] = {}
    from_env: dict[tuple[str, ...], str] = {}  # config location -> the variable that set it
    for role in ROLES:
        own = _env_fields(env, f"{ENV_PREFIX}{role.upper()}_")
        if role not in file_roles and not own:
            continue
        entry = _mapping(file_roles.get(role), path, f"roles.{role}", "field -> value")
        if "video" in entry:
            _mapping(entry["video"], path, f"roles.{role}.video", "field -> value")
        merged = {**defaults, **entry, **general, **own}
        if "video" in defaults and "video" in entry:
            merged["video"] = {**(defaults["video"] or {}), **(entry["video"] or {})}
        roles[role] = merged
        for fields, prefix in ((general, ENV_PREFIX), (own, f"{ENV_PREFIX}{role.upper()}_")):
            from_env.update({("roles", role, f): prefix + f.upper() for f in fields})
    cache = data.get("cache")
    if cache is not None and not isinstance(cache, str):
        raise NextEventError("config", f"LLM config {path}: cache must be a file path "
                             f"(a string), not {type(cache).__name__}",
                             "e.g. cache: llm_cache.sqlite, or drop it to use RUN_DIR's")
    if "NEXTEVENT_LLM_CACHE" in env:
        cache = env["NEXTEVENT_LLM_CACHE"]
    max_concurrency = data.get("max_concurrency")
    if "NEXTEVENT_LLM_MAX_CONCURRENCY" in env:
        max_concurrency = env["NEXTEVENT_LLM_MAX_CONCURRENCY"]
        from_env[("max_concurrency",)] = "NEXTEVENT_LLM_MAX_CONCURRENCY"
    try:
        config = LLMConfig(
            roles=roles, max_concurrency=max_concurrency,
            cache=(path.parent / cache) if cache else None, source=str(path))
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(str(p) for p in first["loc"])
        variable = next((v for k, v in from_env.items() if loc[:len(k)] == k), None)
        if variable is not None:  # the file is not to blame: name what set the value
            raise NextEventError(
                "config", f"environment variable {variable}: {first['msg']}",
                f"fix or unset {variable} (it overrides {'.'.join(loc)} of {path})") from err
        raise NextEventError("config", f"LLM config {path}: {'.'.join(loc)}: {first['msg']}",
                             "see examples/llm.yaml for every field and its unit") from err
    for role, cfg in config.roles.items():
        problem = _url_problem(cfg.base_url)
        if problem is not None:
            where = ("roles", role, "base_url")
            source = (f"environment variable {from_env[where]}" if where in from_env
                      else f"LLM config {path}: roles.{role}.base_url")
            raise NextEventError("config", f"{source} {problem}",
                                 "give the server's OpenAI-compatible endpoint, e.g. "
                                 "base_url: http://127.0.0.1:8000/v1")
    return config
