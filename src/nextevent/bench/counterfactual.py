"""Counterfactual continuations: model-written events that are plausible after the past
but did not happen (V1, arXiv 2505.22457, FutureBench distractor design), asked through
the one model client (`nextevent.llm.LLMClient`) as JSON ``{"events": [...]}``.

They are never shown as options: an option that is the key of no item lets an option-only
rule that spots model-written text beat chance (`nextevent.bench.groups`). Instead they
steer which videos are grouped: a video's group partners are those whose *true* answer
is closest to its counterfactual (`nextevent.bench.build.build_items`), i.e. real
continuations of similar videos that read like a plausible wrong future.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from nextevent.bench.build import QUESTION_TYPES, Story, layout
from nextevent.bench.evaluate import ROLE
from nextevent.llm.cache import Answer, CallCache
from nextevent.llm.client import LLMCallError, LLMClient
from nextevent.llm.config import LLMConfig

PROMPT_VERSION = "futurebench-counterfactual-1"


def counterfactual_prompt(past: Sequence[str], k: int, anchor: str | None) -> str:
    """The request for ``k`` contradicting events after ``past`` (before ``anchor``)."""
    where = (f'between the past and this final state: "{anchor}"' if anchor
             else "right after the past")
    return ("These events happened in a video, in order:\n"
            + "\n".join(f"- {e}" for e in past)
            + f"\n\nWrite {k} event(s) that could happen {where}, that sound plausible for "
            "such a video but contradict what happened in the past (for example undo it, "
            "or need something the past rules out). One short sentence each, in order. "
            f'Answer with JSON only: {{"events": [{k} strings]}}.')


def _parser(k: int):  # noqa: ANN202
    def parse(answer: Answer) -> list[str]:
        try:
            events = json.loads(answer.content)["events"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f'answer must be JSON {{"events": [...]}}: {err}') from err
        if (not isinstance(events, list) or len(events) != k
                or not all(isinstance(e, str) and e.strip() for e in events)):
            raise ValueError(f"events must be a list of exactly {k} non-empty sentences")
        return [" ".join(e.split()) for e in events]
    return parse


async def counterfactuals(stories: Sequence[Story], config: LLMConfig, *,
                          types: Iterable[str] = QUESTION_TYPES,
                          cache_path: str | Path | None = None,
                          ) -> tuple[dict[str, list[list[str]]], int]:
    """One counterfactual continuation per buildable item (id ``<story id>:<type>``).

    Returns:
        ``(item id -> [events], failed calls)``; an item whose call fails gets none (it is
        built from the other distractor kinds).
    """
    client = LLMClient(config, CallCache(cache_path) if cache_path else None)
    jobs = []
    for story in stories:
        for qtype in types:
            lay = layout(story, qtype)
            if lay is not None:
                jobs.append((f"{story.id}:{qtype}", lay))
    schema = {"type": "object", "properties": {"events": {"type": "array",
              "items": {"type": "string"}}}, "required": ["events"]}

    async def one(past: list[str], truth: list[str], anchor: str | None) -> list[str] | None:
        prompt = counterfactual_prompt(past, len(truth), anchor)
        try:
            return await client.ask(ROLE, [{"role": "user", "content": prompt}],
                                    _parser(len(truth)), stage="bench-counterfactual",
                                    prompt_version=PROMPT_VERSION, schema=schema)
        except LLMCallError:
            return None

    try:
        results = await asyncio.gather(*(one(*lay) for _, lay in jobs))
    finally:
        await client.aclose()
        if client.cache is not None:
            client.cache.close()
    out = {item_id: [r] for (item_id, _), r in zip(jobs, results, strict=True) if r}
    return out, sum(r is None for r in results)
