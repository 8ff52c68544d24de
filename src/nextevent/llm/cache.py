"""On-disk cache of model answers (SQLite), so a rerun makes no call twice.

The key is the SHA-256 of the model name, the messages, the sampling parameters, the
answer schema and the prompt version (`CallCache.key`); the base URL and the API key are
not part of it (the same model answers the same wherever it is served, and a key must
never be stored). Only answers that passed validation are stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Answer:
    """One chat completion, as the pipeline uses it.

    Attributes:
        content: the assistant message text.
        reasoning: ``reasoning_content`` when the server splits a reasoning model's
            thinking out of the message (vLLM's reasoning parsers, DeepSeek's API).
        finish_reason: ``stop``, ``length``, ...
        prompt_tokens, completion_tokens: token usage the server reported (0 if none).
        cached: True when read from the cache instead of the server.
    """

    content: str
    reasoning: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False


COMMIT_EVERY_S = 1.0
"""Answers are committed at most this often (seconds) and on `CallCache.close`: a commit
per answer would block the event loop for milliseconds at every call. A crash loses at
most the last second of answers, which a rerun asks again."""


class CallCache:
    """SQLite file of validated answers, one row per call key.

    Args:
        path: the database file (created with its folder if missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, role TEXT, model TEXT,"
            " stage TEXT, content TEXT NOT NULL, reasoning TEXT, finish_reason TEXT,"
            " prompt_tokens INTEGER, completion_tokens INTEGER, created REAL)")
        self._db.commit()
        self._last_commit = time.monotonic()

    @staticmethod
    def key(model: str, messages: list[dict[str, Any]], params: dict[str, Any],
            prompt_version: str) -> str:
        """SHA-256 hex digest identifying one call (see the module docstring)."""
        blob = json.dumps({"model": model, "messages": messages, "params": params,
                           "prompt_version": prompt_version},
                          sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def get(self, key: str) -> Answer | None:
        """The stored answer for ``key`` (with ``cached=True``), or None."""
        row = self._db.execute(
            "SELECT content, reasoning, finish_reason, prompt_tokens, completion_tokens"
            " FROM answers WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return Answer(content=row[0], reasoning=row[1], finish_reason=row[2],
                      prompt_tokens=row[3] or 0, completion_tokens=row[4] or 0, cached=True)

    def put(self, key: str, answer: Answer, *, role: str, model: str, stage: str) -> None:
        """Store ``answer`` under ``key`` (replacing an older one)."""
        self._db.execute(
            "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, role, model, stage, answer.content, answer.reasoning, answer.finish_reason,
             answer.prompt_tokens, answer.completion_tokens, time.time()))
        if time.monotonic() - self._last_commit >= COMMIT_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """Commit the answers stored since the last commit."""
        self._db.commit()
        self._last_commit = time.monotonic()

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        """Commit and close the database."""
        self.flush()
        self._db.close()
