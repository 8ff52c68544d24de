"""Think-answer consistency: the rule on a battery of response shapes, `bench eval --mode
reasoning` against the scripted OpenAI-protocol server (exact rates per type, the judge
path with a scripted judge, a failing judge, resume), and the reward component in the
EasyR1 / verl / TRL files (weight 0 leaves every existing reward as it was)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from scripted_server import ScriptedServer, schema_name, user_text
from test_rewards import load_by_path  # how EasyR1 and verl import a reward file
from typer.testing import CliRunner

from nextevent.bench.build import write_items
from nextevent.bench.prompts import response_choice, response_conclusion
from nextevent.cli import app
from nextevent.records import MCQ, BenchItem
from nextevent.rewards import check_consistency, consistency_reward, think_conclusion, think_text
from nextevent.rewards.engines import DATA_SOURCE_MCQ, DATA_SOURCE_NEP, adapter_path
from nextevent.rewards.engines.common import mcq_breakdowns

OPTIONS = {"A": "The man jumps into the pool.", "B": "The woman starts singing a song.",
           "C": "The dog runs after the ball.", "D": "The boy falls off his bike."}

# (thinking, the option it concludes by the rule; None: it names none)
THINKING = [
    # the article "A", capitals in words, abbreviations, hyphens: no option
    ("A man waves at the camera.", None),
    ("Observation: A man enters and a dog barks.", None),
    ("The US team. A bold move.", None),
    ("Apple. A-frame. D'Angelo. Washington D.C. is far. DJ A.J. has a C-section.", None),
    ("Vitamin C and iron keep him going.", None),
    ("No letter at all here, just a description of the pool.", None),
    ("b seems right, c maybe", None),  # lower case is no option
    # named, then rejected in the same breath: no conclusion
    ("A man waves, so option A seems wrong.", None),
    ("Rule out A, and D is unlikely.", None),
    # an enumeration of the options is no conclusion
    ("The options are A, B, C and D. The dog is chasing something.", None),
    # letters in option-like contexts
    ("The answer is C.", "C"),
    ("So the answer is (B)", "B"),
    ("Option D fits best.", "D"),
    ("I think C is right", "C"),
    ("**Answer: B**", "B"),
    ("the final answer is\nD\n", "D"),
    ("So A.", "A"),
    ("choose A because the rope is tied", "A"),
    ("C's description matches the past.", "C"),
    ("Since the man is near the pool, A makes sense.", "A"),
    ("The woman is singing a song already. Answer: A", "A"),
    # the last one named wins
    ("B and C are possible, but C fits better.", "C"),
    ("Between B and D, I'd go with D", "D"),
    ("Option A seems right. Wait, actually option B matches better.", "B"),
    ("Hmm, A could be right. But wait... Actually B.", "B"),
    ("Comparing A and C: C is more consistent.", "C"),
    # rejected mentions do not conclude
    ("It's not A, it's C.", "C"),
    ("A is wrong and B is wrong, so C.", "C"),
    ("Neither A nor B fits; D does.", "D"),
    ("I'll choose C over B", "C"),
    ("C is more likely than B", "C"),
    ("I'd pick (A) rather than (D).", "A"),
    ("I don't think C is right; B is.", "B"),
    ("Rule out A. Eliminate B. That leaves C", "C"),
    ("Final: C. (A, B, D are wrong.)", "C"),
    ("The answer must be B. But let me double-check D: D doesn't fit the past.", "B"),
    # an option named by its own text
    ("The dog is chasing something, so the dog runs after the ball.", "C"),
    ("He holds a bike. 'The boy falls off his bike' fits.", "D"),
    ("Looking at the choices:\nA. jump\nB. sing\nC. run\nD. fall\nThe dog runs, so C.", "C"),
    ("Let me analyze each option.\nOption A: The man jumps into the pool. This doesn't "
     "match.\nOption B: The woman starts singing a song. Unlikely.\nOption C: The dog runs "
     "after the ball. This matches the past.\nOption D: The boy falls off his bike. No "
     "bike is seen.\nTherefore, the answer is C.", "C"),
]


@pytest.mark.parametrize(("thinking", "expected"), THINKING)
def test_the_rule_reads_the_last_option_the_thinking_names(thinking: str,
                                                           expected: str | None) -> None:
    assert think_conclusion(thinking, OPTIONS) == expected


def test_option_text_counts_only_when_the_options_are_given() -> None:
    text = "The dog is chasing something, so the dog runs after the ball."
    assert think_conclusion(text, OPTIONS) == "C"
    assert think_conclusion(text) is None
    # a short option text is never matched (it would match ordinary words)
    assert think_conclusion("yes, he runs", {"A": "yes", "B": "no"}) is None


def test_where_the_thinking_is_read() -> None:
    assert think_text("<think> so C </think><answer>C</answer>") == " so C "
    assert think_text("I pick B.\n<answer>B</answer>") == "I pick B.\n"  # no tags: before
    assert think_text("so B.</think><answer>B</answer>") == "so B."  # opening tag lost
    assert think_text("<answer>C</answer>", reasoning="so C") == "so C"  # server split
    assert think_text("<think>so B</think><answer>C</answer>", reasoning="so A") == "so B"
    assert think_text("<think>  </think><answer>C</answer>") is None
    assert think_text("<think>cut off, C looks") is None
    assert think_text("C") is None
    with pytest.raises(TypeError, match="must be a str"):
        think_text(None)  # type: ignore[arg-type]


RESPONSES = [
    # (response, conclusion, answer, consistent)
    ("<think>So C.</think><answer>C</answer>", "C", "C", True),
    ("<think>So C.</think>\n<answer>B</answer>", "C", "B", False),
    ("<think>A man waves at the camera.</think><answer>B</answer>", None, "B", None),
    ("<think>So C.</think>", "C", None, None),  # no answer block
    ("<think>So C.</think><answer>the dog</answer>", "C", None, None),  # no letter in it
    ("<think>not B but D</think><answer>(D)</answer>", "D", "D", True),
    ("<think>not B, C or D</think><answer>D</answer>", None, "D", None),  # all rejected
    ("The dog runs after the ball.\n<answer>C</answer>", "C", "C", True),
]


@pytest.mark.parametrize(("response", "conclusion", "answer", "consistent"), RESPONSES)
def test_consistency_and_its_reward(response: str, conclusion: str | None,
                                    answer: str | None, consistent: bool | None) -> None:
    got = check_consistency(response, OPTIONS)
    assert tuple(got) == (conclusion, answer, consistent)
    assert consistency_reward(response, OPTIONS) == (1.0 if consistent else 0.0)
    assert response_conclusion(response, OPTIONS) == conclusion
    assert got.answer == response_choice(response, "reasoning")  # bench eval's letter


def test_a_separate_reasoning_text_is_the_thinking() -> None:
    assert check_consistency("<answer>C</answer>", reasoning="so C") == ("C", "C", True)
    assert consistency_reward("<answer>C</answer>", reasoning="so B") == 0.0


# --------------------------------------------------------------------------- bench eval

TYPES = ("hop1", "hop2", "hop3", "hop5", "interp")


def make_items(n: int) -> list[BenchItem]:
    return [BenchItem(
        id=f"v{i}:{TYPES[i % 5]}", video_path=None, question_type=TYPES[i % 5],
        qa=MCQ(Question=f"Question number {i}: what happens next?",
               Options={x: f"the {x.lower()}-event of item {i} happens" for x in "ABCD"},
               Answer="ABCD"[i % 4]),
        meta={"past_caption": f"past of item {i}"}) for i in range(n)]


# per item i (20 items, type TYPES[i % 5]): what its response does
KINDS = {
    "hop1": ["same", "same", "same", "same"],            # items 0, 5, 10, 15
    "hop2": ["same", "same", "other", "none"],           # 1, 6, 11, 16
    "hop3": ["other", "other", "same", "no_answer"],     # 2, 7, 12, 17
    "hop5": ["none", "none", "no_answer", "same"],       # 3, 8, 13, 18
    "interp": ["text", "other", "no_answer", "none"],    # 4, 9, 14, 19
}


def kind_of(i: int) -> str:
    return KINDS[TYPES[i % 5]][i // 5]


def reasoning_answerer(request: dict) -> str:
    text = user_text(request)
    i = int(re.search(r"Question number (\d+)", text).group(1))
    letter = "ABCD"[(i + i // 5) % 4]  # some right, some wrong: consistency is apart
    other = "ABCD"[("ABCD".index(letter) + 1) % 4]
    kind = kind_of(i)
    if kind == "same":
        return f"<think>A man waves. Between {other} and {letter}, I go with {letter}." \
               f"</think><answer>{letter}</answer>"
    if kind == "other":
        return f"<think>The past suggests option {other}.</think><answer>{letter}</answer>"
    if kind == "none":
        return "<think>A man waves at the camera.</think>" \
               f"<answer>{letter}</answer>"
    if kind == "text":  # the option named by its text, not its letter
        return f"<think>Surely the {letter.lower()}-event of item {i} happens.</think>" \
               f"<answer>{letter}</answer>"
    return f"<think>So {letter}.</think><answer>none of them</answer>"  # no_answer


EXPECTED = {  # type: (rate, n judged, no conclusion, no answer)
    "hop1": (4 / 4, 4, 0, 0),
    "hop2": (2 / 3, 3, 1, 0),
    "hop3": (1 / 3, 3, 0, 1),
    "hop5": (1 / 1, 1, 2, 1),
    "interp": (1 / 2, 2, 1, 1),
}


def run_eval(*args: str) -> str:
    result = CliRunner().invoke(app, ["bench", "eval", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def check_rule_figures(cons: dict) -> None:
    for qtype, (rate, n, no_conclusion, no_answer) in EXPECTED.items():
        got = cons["by_type"][qtype]
        assert got["rate"] == pytest.approx(rate), qtype
        assert (got["n"], got["no_conclusion"], got["no_answer"], got["judge_failed"]) == (
            n, no_conclusion, no_answer, 0), qtype
    overall = cons["overall"]
    assert overall["rate"] == pytest.approx(9 / 13)
    assert (overall["n"], overall["no_conclusion"], overall["no_answer"]) == (13, 4, 3)
    lo, hi = overall["ci95"]
    assert 0 <= lo < 9 / 13 < hi <= 1
    assert cons["by_type"]["hop1"]["ci95"] == [1.0, 1.0]


def test_reasoning_eval_reports_consistency_by_the_rule(tmp_path: Path) -> None:
    bench = tmp_path / "bench.jsonl"
    write_items(make_items(20), bench)
    out = tmp_path / "eval"
    args = [str(bench), "--model", "m", "--out", str(out), "--text-only", "--mode",
            "reasoning"]
    with ScriptedServer(reasoning_answerer) as server:
        text = run_eval(*args, "--base-url", server.url)
        assert len(server.calls) == 20
    res = json.loads((out / "results.json").read_text())
    cons = res["consistency"]
    assert (cons["method"], cons["judge_model"]) == ("rule", None)
    check_rule_figures(cons)
    assert res["no_answer"] == 3 and res["failed"] == 0
    assert "consistent (%)" in text and "no conclusion" in text and "69.2" in text
    assert "read by rule" in text
    rows = {r["id"]: r for r in map(json.loads, (out / "responses.jsonl").read_text()
                                    .splitlines())}
    assert len(rows) == 20
    assert rows["v0:hop1"]["conclusion_by"] == "rule"
    assert rows["v0:hop1"]["conclusion"] == rows["v0:hop1"]["choice"]
    assert rows["v4:interp"]["conclusion"] == rows["v4:interp"]["choice"]  # by its text
    assert rows["v3:hop5"]["conclusion"] is None  # names no option
    # a rerun asks nothing and reads the same figures
    with ScriptedServer(reasoning_answerer) as server:
        run_eval(*args, "--base-url", server.url)
        assert len(server.calls) == 0
    assert json.loads((out / "results.json").read_text())["consistency"] == cons


def test_direct_mode_has_no_consistency(tmp_path: Path) -> None:
    bench = tmp_path / "bench.jsonl"
    write_items(make_items(5), bench)
    out = tmp_path / "eval"
    with ScriptedServer(lambda request: "The answer is (B).") as server:
        text = run_eval(str(bench), "--model", "m", "--out", str(out), "--text-only",
                        "--base-url", server.url)
    res = json.loads((out / "results.json").read_text())
    assert "consistency" not in res and "consistent" not in text
    assert "conclusion" not in json.loads((out / "responses.jsonl").read_text()
                                          .splitlines()[0])
    result = CliRunner().invoke(app, ["bench", "eval", str(bench), "--model", "m",
                                      "--out", str(out), "--text-only", "--base-url",
                                      "http://127.0.0.1:9/v1", "--judge-base-url",
                                      "http://127.0.0.1:9/v1", "--judge-model", "j"])
    assert result.exit_code == 2 and "--mode reasoning" in result.output


class ScriptedJudge:
    """Answers the evaluated model with `reasoning_answerer` and the judge (model
    ``judge-m``) with a conclusion of its own: the rule's reading, except that it reads
    the hop5 thinkings that name no option as concluding the answer, and answers prose
    (no JSON, also to the repair re-ask) for the items in ``refuse``."""

    def __init__(self, refuse: frozenset[int] = frozenset()) -> None:
        self.refuse = refuse

    def __call__(self, request: dict) -> str:
        if request["model"] != "judge-m":
            return reasoning_answerer(request)
        text = user_text(request)
        assert "<answer>" not in text  # the judge never sees the answer
        i = int(re.search(r"Question number (\d+)", text).group(1))
        if i in self.refuse:
            return "I would rather not say."
        thinking = text.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
        opts = {x: f"the {x.lower()}-event of item {i} happens" for x in "ABCD"}
        conclusion = think_conclusion(thinking, opts)
        if conclusion is None and TYPES[i % 5] == "hop5":
            conclusion = "ABCD"[(i + i // 5) % 4]  # the judge sees more than the rule
        return json.dumps({"conclusion": conclusion or "none"})


def test_reasoning_eval_with_a_scripted_judge(tmp_path: Path) -> None:
    bench = tmp_path / "bench.jsonl"
    write_items(make_items(20), bench)
    out = tmp_path / "eval"
    with ScriptedServer(ScriptedJudge(refuse=frozenset({1}))) as server:
        args = [str(bench), "--model", "m", "--out", str(out), "--text-only", "--mode",
                "reasoning", "--base-url", server.url, "--judge-base-url", server.url,
                "--judge-model", "judge-m"]
        text = run_eval(*args)
        judged = [c for c in server.calls if c.body["model"] == "judge-m"]
        # asked for the 17 items with an answer letter (no_answer items are not asked),
        # item 1 once more (the repair re-ask), structured output by the pydantic schema
        assert len(server.calls) - len(judged) == 20 and len(judged) == 17 + 1
        assert {schema_name(c.body) for c in judged} == {"think_conclusion"}
        assert "judge judge-m" in text and "the judge failed on 1" in text
    res = json.loads((out / "results.json").read_text())
    cons = res["consistency"]
    assert (cons["method"], cons["judge_model"]) == ("judge", "judge-m")
    assert res["failed"] == 0 and res["overall"]["n"] == 20  # the answer still counts
    # hop5: the judge finds a conclusion in the 2 thinkings the rule reads none in
    assert cons["by_type"]["hop5"] == {"rate": 1.0, "ci95": [1.0, 1.0], "n": 3,
                                       "no_conclusion": 0, "no_answer": 1,
                                       "judge_failed": 0}
    # hop2: item 1 (consistent) was refused: left out, counted apart
    assert cons["by_type"]["hop2"]["n"] == 2 and cons["by_type"]["hop2"]["judge_failed"] == 1
    assert cons["by_type"]["hop2"]["rate"] == pytest.approx(1 / 2)
    assert cons["overall"]["n"] == 14 and cons["overall"]["judge_failed"] == 1
    failures = [json.loads(x) for x in (out / "failures.jsonl").read_text().splitlines()]
    assert [(f["input"], f["stage"]) for f in failures] == [("v1:hop2", "bench-judge")]
    rows = {r["id"]: r for r in map(json.loads, (out / "responses.jsonl").read_text()
                                    .splitlines())}
    assert rows["v3:hop5"]["conclusion_by"] == "judge:judge-m"
    assert rows["v3:hop5"]["conclusion"] == rows["v3:hop5"]["choice"]
    assert rows["v1:hop2"]["conclusion"] is None and rows["v1:hop2"]["conclusion_by"] is None

    # rerun with the judge answering: only the refused judgement is asked again
    with ScriptedServer(ScriptedJudge()) as server:
        args[args.index("--base-url") + 1] = server.url
        args[args.index("--judge-base-url") + 1] = server.url
        run_eval(*args)
        assert [c.body["model"] for c in server.calls] == ["judge-m"]  # the rest: cache
    cons = json.loads((out / "results.json").read_text())["consistency"]
    assert cons["overall"]["judge_failed"] == 0 and cons["overall"]["n"] == 15
    assert cons["by_type"]["hop2"]["rate"] == pytest.approx(2 / 3)
    assert not (out / "failures.jsonl").exists()

    # and without a judge the same log is read by the rule again, asking nothing
    with ScriptedServer(reasoning_answerer) as server:
        args = args[:args.index("--judge-base-url")]
        args[args.index("--base-url") + 1] = server.url
        run_eval(*args)
        assert server.calls == []
    cons = json.loads((out / "results.json").read_text())["consistency"]
    assert cons["method"] == "rule"
    check_rule_figures(cons)


# --------------------------------------------------------------------------- rewards


MCQ_RESPONSES = [
    "<think>So C.</think><answer>C</answer>",        # right, consistent, formatted
    "<think>So B.</think><answer>C</answer>",        # right, inconsistent
    "<think>A man waves.</think><answer>D</answer>",  # wrong, no conclusion
    "The answer is (C).",                             # right, no think, unformatted
]
MCQ_GOLD = ["C", "C", "C", "C"]


def test_weight_zero_leaves_the_mcq_rewards_unchanged() -> None:
    base = mcq_breakdowns(MCQ_RESPONSES, MCQ_GOLD, format_weight=0.1)
    zero = mcq_breakdowns(MCQ_RESPONSES, MCQ_GOLD, format_weight=0.1, consistency_weight=0.0)
    assert zero == base
    assert [b.as_dict() for b in base] == [
        {"overall": 1.0, "format": 1.0, "accuracy": 1.0},
        {"overall": 1.0, "format": 1.0, "accuracy": 1.0},
        {"overall": pytest.approx(0.1), "format": 1.0, "accuracy": 0.0},
        {"overall": pytest.approx(0.9), "format": 0.0, "accuracy": 1.0}]
    with pytest.raises(ValueError, match="consistency_weight"):
        mcq_breakdowns(MCQ_RESPONSES, MCQ_GOLD, format_weight=0.5, consistency_weight=0.5)
    with pytest.raises(ValueError, match="consistency_weight"):
        mcq_breakdowns(MCQ_RESPONSES, MCQ_GOLD, consistency_weight=-0.1)


def test_easyr1_mcq_reward_with_the_consistency_component() -> None:
    module = load_by_path(adapter_path("easyr1"), "custom_reward_fn_consistency")
    inputs = [{"response": r, "response_length": len(r.split()), "ground_truth": g}
              for r, g in zip(MCQ_RESPONSES, MCQ_GOLD, strict=True)]
    default = module.compute_score_mcq(inputs)
    assert [set(d) for d in default] == [{"overall", "format", "accuracy"}] * 4
    assert default == module.compute_score_mcq(inputs, format_weight=0.1,
                                               consistency_weight=0.0)
    scored = module.compute_score_mcq(inputs, format_weight=0.1, consistency_weight=0.2)
    assert [d["consistency"] for d in scored] == [1.0, 0.0, 0.0, 0.0]
    for d in scored:
        assert d["overall"] == pytest.approx(0.7 * d["accuracy"] + 0.1 * d["format"]
                                             + 0.2 * d["consistency"])
    assert [d["overall"] for d in scored] == pytest.approx([1.0, 0.8, 0.1, 0.7])


def test_verl_reward_with_the_consistency_component() -> None:
    module = load_by_path(adapter_path("verl"), "custom_module_consistency")
    one = module.compute_score(data_source=DATA_SOURCE_MCQ, solution_str=MCQ_RESPONSES[1],
                               ground_truth="C", extra_info={"num_turns": None})
    assert one == {"score": 1.0, "format": 1.0, "accuracy": 1.0}  # weight 0: as before
    one = module.compute_score(data_source=DATA_SOURCE_MCQ, solution_str=MCQ_RESPONSES[1],
                               ground_truth="C", consistency_weight=0.3)
    assert one == {"score": pytest.approx(0.7), "format": 1.0,
                   "accuracy": 1.0, "consistency": 0.0}
    batch = module.compute_score_batch(
        data_sources=[DATA_SOURCE_MCQ] * 4, solution_strs=MCQ_RESPONSES,
        ground_truths=MCQ_GOLD, extra_infos=None, consistency_weight=0.3)
    assert [b["consistency"] for b in batch] == [1.0, 0.0, 0.0, 0.0]
    assert [b["score"] for b in batch] == pytest.approx([1.0, 0.7, 0.1, 0.6])
    with pytest.raises(ValueError, match="consistency_weight"):
        module.compute_score_batch([DATA_SOURCE_NEP], ["x"], ["y"], consistency_weight=0.95)


def test_trl_consistency_reward_as_grpo_calls_it() -> None:
    module = load_by_path(adapter_path("trl"), "nextevent_trl_consistency")
    completions = [[{"role": "assistant", "content": r}] for r in MCQ_RESPONSES]
    got = module.consistency_reward(completions=completions, prompts=["q"] * 4,
                                    answer=MCQ_GOLD, trainer_state=None)
    assert got == [1.0, 0.0, 0.0, 0.0]
    text = "<think>Surely the dog runs after the ball.</think><answer>C</answer>"
    assert module.consistency_reward(completions=[text]) == [0.0]
    assert module.consistency_reward(completions=[text], options=[OPTIONS]) == [1.0]
    assert module.consistency_reward.__name__ == "consistency_reward"
