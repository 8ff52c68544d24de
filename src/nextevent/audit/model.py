"""The model baseline: a text-only model answers each item without the video.

One implementation of shuffled text-only trials, shared by the audit's model baseline
and ``nextevent bench filter --blind`` (`nextevent.bench.filter`). Each trial shows the
model the question (optionally the past caption as text), and the options in a new
seeded order, through the project's one client (`nextevent.llm.client.LLMClient`,
cached on disk), in the one FutureBench prompt (`nextevent.bench.prompts.question_text`,
``direct`` mode); the answered letter (`nextevent.bench.prompts.response_choice`, the
reader ``bench eval`` and the lmms-eval task score with) is mapped back to the original
option. The key is never sent and never read here (V1, arXiv
2505.22457, FutureBench: a text-only model near chance shows the benchmark needs the
video).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nextevent.audit.items import AuditItem

if TYPE_CHECKING:
    from nextevent.llm.config import LLMConfig
    from nextevent.records import Failure

PROMPT_VERSION = "futurebench-blind-2"  # 2: the official whitespace
"""Part of the call-cache key; the same as the blind filter's, so their calls are shared."""


def shuffled_options(options: Mapping[str, str], rng: random.Random,
                     ) -> tuple[dict[str, str], dict[str, str]]:
    """Options in a random order: ``(new letter -> text, new letter -> original letter)``
    over the same letters (sorted)."""
    letters = sorted(options)
    order = list(letters)
    rng.shuffle(order)
    return ({new: options[old] for new, old in zip(letters, order, strict=True)},
            dict(zip(letters, order, strict=True)))


async def blind_choices(items: Sequence[AuditItem], config: LLMConfig, *, n: int = 1,
                        seed: int = 0, with_past: bool = False,
                        cache_path: str | Path | None = None,
                        failures: dict[str, Failure] | None = None,
                        on_trial: Callable[[bool], None] | None = None,
                        ) -> dict[str, list[str | None]]:
    """The original letter a text-only model picks in each of ``n`` shuffled trials.

    Args:
        items: the items (``answer`` is not read).
        config: the model as role ``reasoner`` (`nextevent.bench.evaluate.model_config`).
        n: trials per item.
        seed: trial t of item i shuffles with ``random.Random(f"{seed}:{i.id}:{t}")``.
        with_past: add the past caption (``past_text``) as text.
        cache_path: SQLite call cache; None caches nothing.
        failures: when given, a trial whose call fails for good does not stop the others:
            its item's first failure is stored here (item id -> `Failure`, credentials
            redacted) and the trial's letter is None. None: the first failure raises.
        on_trial: called once per settled trial, with True when it failed (progress).

    Returns:
        item id -> n letters (None where the response named no option, or the trial
        failed and its item is in ``failures``).

    Raises:
        ValueError: for ``n < 1``; `nextevent.llm.client.LLMCallError` when a call fails
            for good and ``failures`` is None.
    """
    from nextevent.bench.evaluate import ROLE
    from nextevent.bench.prompts import question_text, response_choice
    from nextevent.llm.cache import CallCache
    from nextevent.llm.client import LLMClient

    if n < 1:
        raise ValueError(f"n (trials per item) must be >= 1, got {n}")
    client = LLMClient(config, CallCache(cache_path) if cache_path else None)

    async def trial(item: AuditItem, t: int) -> str | None:
        options, back = shuffled_options(item.options, random.Random(f"{seed}:{item.id}:{t}"))
        past = (item.past_text or "") if with_past else None
        text = question_text(item.question, options, "direct", past)
        answer = await client.ask(ROLE, [{"role": "user", "content": text}], lambda a: a,
                                  stage="bench-blind", prompt_version=PROMPT_VERSION)
        choice = response_choice(answer.content, "direct")
        return back.get(choice) if choice is not None else None

    async def settle(item: AuditItem, t: int) -> str | None:
        try:
            letter = await trial(item, t)
        except Exception as err:
            if on_trial is not None:
                on_trial(True)
            if failures is None:
                raise
            from nextevent.bench.evaluate import item_failure

            failures.setdefault(item.id, item_failure(item.id, err, client.redact,
                                                      stage="bench-blind"))
            return None
        if on_trial is not None:
            on_trial(False)
        return letter

    try:
        results = await asyncio.gather(*(settle(i, t) for i in items for t in range(n)))
    finally:
        await client.aclose()
        if client.cache is not None:
            client.cache.close()
    return {item.id: list(results[k * n:(k + 1) * n]) for k, item in enumerate(items)}


@dataclass
class ModelBaseline:
    """A text-only model as a blind baseline (family ``model``, gated at chance + 5 pp).

    Attributes:
        config: the model as role ``reasoner`` (see `from_server`).
        name: the baseline's name in reports.
        trials: shuffled trials per item; the prediction is the most frequent letter
            (ties broken by a seeded random choice; None when no trial named an option).
        with_past: give the past caption as text (FutureBench items that have one).
        cache_path: SQLite call cache; None caches nothing.
    """

    config: LLMConfig
    name: str = "model"
    trials: int = 1
    with_past: bool = True
    cache_path: str | Path | None = None

    @classmethod
    def from_server(cls, base_url: str, model: str, *, concurrency: int = 4,
                    trials: int = 1, with_past: bool = True,
                    cache_path: str | Path | None = None) -> ModelBaseline:
        """A baseline served by an OpenAI-compatible endpoint (``base_url``, e.g.
        ``http://127.0.0.1:8000/v1``), answering in at most 8 tokens."""
        from nextevent.bench.evaluate import model_config

        config = model_config(base_url, model, concurrency=concurrency, max_tokens=8)
        return cls(config, name=f"model:{model}", trials=trials, with_past=with_past,
                   cache_path=cache_path)

    async def apredict(self, items: Sequence[AuditItem], seed: int = 0,
                       ) -> dict[str, str | None]:
        """Item id -> predicted letter (or None), from `blind_choices`."""
        runs = await blind_choices(items, self.config, n=self.trials, seed=seed,
                                   with_past=self.with_past, cache_path=self.cache_path)
        out: dict[str, str | None] = {}
        for item in items:
            votes = Counter(c for c in runs[item.id] if c is not None)
            if not votes:
                out[item.id] = None
                continue
            top = max(votes.values())
            tied = sorted(c for c, v in votes.items() if v == top)
            out[item.id] = (tied[0] if len(tied) == 1
                            else random.Random(f"{seed}:{item.id}:vote").choice(tied))
        return out

    def predict(self, items: Sequence[AuditItem], seed: int = 0) -> dict[str, str | None]:
        """`apredict` run to completion (not from inside a running event loop)."""
        return asyncio.run(self.apredict(items, seed))
