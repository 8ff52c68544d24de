"""How model answers are read: reasoning from tags or the server's reasoning field, JSON
with thinking around it, scene splits, and the rewrite's change check (scripted server)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from scripted_server import ScriptedServer

from nextevent.llm import Answer, LLMClient, LLMConfig, RoleConfig
from nextevent.pipeline import model_stages as ms
from nextevent.pipeline.prompts import Prompts
from nextevent.records import Reasoning


def test_prediction_from_tags_from_reasoning_content_and_json() -> None:
    tags = Answer(content="<think>He unlocked it.</think>\n<answer>He rides off.</answer>")
    assert ms.parse_prediction(tags, structured=False) == Reasoning(
        reasoning_content="He unlocked it.", prediction_content="He rides off.")
    # vLLM's deepseek_r1 reasoning parser: thinking in reasoning_content, answer as content
    split = Answer(content="<answer>He rides off.</answer>", reasoning="He unlocked it.")
    assert ms.parse_prediction(split, structured=False).reasoning_content == "He unlocked it."
    no_answer_tag = Answer(content="<think>Because.</think> He rides off.")
    assert ms.parse_prediction(no_answer_tag, structured=False).prediction_content == \
        "He rides off."
    with pytest.raises(ValueError, match="think"):
        ms.parse_prediction(Answer(content="He rides off."), structured=False)
    js = Answer(content='<think>x</think>```json\n{"reasoning": "a\nb", "prediction": "c"}\n```')
    assert ms.parse_prediction(js, structured=True) == Reasoning(
        reasoning_content="a\nb", prediction_content="c")


def test_json_errors_are_short_and_say_when_cut_off() -> None:
    with pytest.raises(ValueError, match="cut off at max_tokens"):
        ms.parse_json(Answer(content='{"scenes": [{"scene": 1, "desc', finish_reason="length"),
                      ms.CausalAnalysis)
    with pytest.raises(ValueError, match="suitable"):
        ms.parse_json(Answer(content='{"reasoning": "r"}'), ms.CausalAnalysis)


def test_causal_split_must_name_two_consecutive_listed_scenes() -> None:
    good = ms.CausalAnalysis(reasoning="r", suitable=True, split="between Scene 2 and Scene 3")
    assert good.scenes(4) == (2, 3)
    for split in ("between Scene 2 and Scene 4", "between Scene 4 and Scene 5", "Scene 2"):
        with pytest.raises(ValueError):
            ms.CausalAnalysis(reasoning="r", suitable=True, split=split).scenes(4)
    schema = ms.causal_schema(3)
    assert schema["properties"]["split"]["enum"] == ["between Scene 1 and Scene 2",
                                                     "between Scene 2 and Scene 3"]


def _rewrite(answer: dict[str, str], reasoning: Reasoning) -> tuple[Reasoning, str, int]:
    with ScriptedServer(lambda request: json.dumps(answer)) as server:
        client = LLMClient(LLMConfig(roles={"rewriter": RoleConfig(
            base_url=server.url, model="m", timeout_s=5)}))
        ctx = ms.StageContext(client=client, prompts=Prompts(),
                              structured_roles=frozenset({"rewriter"}))

        async def go() -> tuple[Reasoning, str]:
            try:
                return await ms.rewrite_answer(ctx, reasoning)
            finally:
                await client.aclose()

        out, rejected = asyncio.run(go())
        return out, rejected, len(server.calls)


def test_rewrite_is_accepted_when_small_and_rejected_when_it_changes_more() -> None:
    original = Reasoning(
        reasoning_content="The caption says the man unlocks the bicycle and looks at the road.",
        prediction_content="As the description suggests, he rides away down the street.")
    small: dict[str, Any] = {
        "reasoning": "The video shows the man unlocks the bicycle and looks at the road.",
        "prediction": "As the video suggests, he rides away down the street."}
    out, rejected, calls = _rewrite(small, original)
    assert not rejected and calls == 1
    assert out.rewritten_reasoning_content == small["reasoning"]
    assert out.reasoning_content == original.reasoning_content  # the original is kept
    big = {"reasoning": "A cyclist will probably leave soon.", "prediction": "He leaves."}
    out, rejected, _ = _rewrite(big, original)
    assert "changed too much" in rejected and out.rewritten_reasoning_content is None
    plain = Reasoning(reasoning_content="He holds a key.", prediction_content="He rides.")
    out, rejected, calls = _rewrite(big, plain)  # nothing refers to the text: no call
    assert calls == 0 and out.rewritten_prediction_content == "He rides."
