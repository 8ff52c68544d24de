"""Model client for every role of the model-backed pipeline (any OpenAI-compatible server).

Public API::

    load_llm_config(path) -> LLMConfig          roles from YAML/TOML + NEXTEVENT_LLM_* env
    LLMClient(config, cache, usage).ask(role, messages, parse, stage=..., prompt_version=...)
    CallCache(path)                             SQLite cache of validated answers
    Usage / RoleUsage                           requests, cache hits, tokens per role
    frame_content(frames) / video_content(...)  what a vision role is sent

Nothing here imports ``openai`` until a request is made.
"""

from nextevent.llm.cache import Answer, CallCache
from nextevent.llm.client import LLMCallError, LLMClient
from nextevent.llm.config import (
    ROLES,
    VISION_ROLES,
    LLMConfig,
    RoleConfig,
    VideoInput,
    load_llm_config,
)
from nextevent.llm.usage import RoleUsage, Usage

__all__ = ["ROLES", "VISION_ROLES", "Answer", "CallCache", "LLMCallError", "LLMClient",
           "LLMConfig", "RoleConfig", "RoleUsage", "Usage", "VideoInput", "load_llm_config"]
