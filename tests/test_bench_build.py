"""`nextevent bench build` on the sample run and on the real ActivityNet Captions file:
schema, balanced letters, unique options, no answer among the distractors, seeded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextevent.bench.build import (
    NeighbourIndex,
    build_items,
    quality,
    read_items,
    stories_from_annotations,
)
from nextevent.bench.distractors import normalize
from nextevent.cli import app
from nextevent.records import BenchItem

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sample_events.jsonl"


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def check_items(items: list[BenchItem]) -> dict:
    report = quality(items)
    assert report["n"] == len(items) > 0
    assert report["duplicate_options"] == 0
    assert report["answer_among_distractors"] == 0
    assert report["duplicate_items"] == 0
    counts = list(report["letters"].values())
    assert max(counts) - min(counts) <= 1 and report["letter_p"] > 0.9
    for item in items:
        BenchItem.model_validate(item.model_dump())
        assert sorted(item.qa.Options) == ["A", "B", "C", "D"]
        kinds = item.meta["option_kinds"]
        assert kinds[item.qa.Answer] == "answer"
        assert sorted(k for k in kinds.values() if k != "answer") != []
        assert all(k in {"order", "swap", "counterfactual"} for x, k in kinds.items()
                   if x != item.qa.Answer)
        assert len({normalize(o) for o in item.qa.Options.values()}) == 4
        truth = item.meta["answer_events"]
        n = {"hop1": 1, "hop2": 2, "hop3": 3, "hop5": 5}.get(item.question_type)
        if n is not None:
            assert len(truth) == n
        else:
            assert item.meta["end_anchor"] and item.meta["end_anchor"] not in truth
        for x, kind in kinds.items():
            if kind == "order":  # the same events, another order
                assert sorted(map(normalize, _events(item.qa.Options[x]))) == sorted(
                    normalize(t) for t in truth)
                assert normalize(item.qa.Options[x]) != normalize(item.qa.Options[
                    item.qa.Answer])
    return report


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("run") / "sample"
    run_cli("build", "--videos", str(sample_dir), "--annotations", str(EXAMPLES),
            "--format", "jsonl", "--out", str(out), "--splits-per-video", "2",
            "--workers", "1", "--no-progress")
    return out


def test_bench_from_the_sample_run(sample_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.jsonl"
    text = run_cli("bench", "build", str(sample_run), "--out", str(out), "--seed", "3")
    assert "wrote" in text
    items = read_items(out)
    report = check_items(items)
    for item in items:  # the past clip of the source record, on disk
        assert item.video_path is not None and Path(item.video_path).is_file()
        assert "past" in Path(item.video_path).name
    assert report["distractor_kinds"].get("swap", 0) > 0
    saved = json.loads((tmp_path / "bench.quality.json").read_text())
    assert saved["n"] == len(items)
    again = tmp_path / "again.jsonl"
    run_cli("bench", "build", str(sample_run), "--out", str(again), "--seed", "3")
    assert again.read_text() == out.read_text()


@pytest.fixture(scope="module")
def anet_stories(annotations: Path) -> list:
    stories = stories_from_annotations(annotations / "activitynet_val_subset.json",
                                       "activitynet")
    return stories[:120]


def test_text_level_bench_from_activitynet(anet_stories: list) -> None:
    index = NeighbourIndex.build([(s.video_id, s.domain, e) for s in anet_stories
                                  for e in s.events])
    items, skipped = build_items(anet_stories, seed=7, index=index)
    report = check_items(items)
    assert all(i.video_path is None for i in items)
    assert set(report["by_type"]) == {"hop1", "hop2", "hop3", "hop5", "interp"}
    assert report["distractor_kinds"]["order"] > 0 and report["distractor_kinds"]["swap"] > 0
    # hard negatives come from other videos of the corpus, never the item's own video
    own = {s.video_id: {normalize(e) for e in s.events} for s in anet_stories}
    corpus = {normalize(e) for s in anet_stories for e in s.events}
    for item in items:
        truth = {normalize(t) for t in item.meta["answer_events"]}
        for x, kind in item.meta["option_kinds"].items():
            if kind == "swap":
                foreign = [e for e in _events(item.qa.Options[x])
                           if normalize(e) not in truth]
                assert foreign and all(e in corpus for e in map(normalize, foreign))
                assert not any(e in own[item.meta["video_id"]] - truth
                               for e in map(normalize, foreign))
    same, _ = build_items(anet_stories, seed=7, index=index)
    assert [i.model_dump() for i in same] == [i.model_dump() for i in items]
    other, _ = build_items(anet_stories, seed=8, index=index)
    assert [i.qa.Answer for i in other] != [i.qa.Answer for i in items]


def _events(option: str) -> list[str]:
    import re

    parts = re.split(r"\(\d+\) ", option)
    return [p.strip() for p in parts if p.strip()] if option.startswith("(1) ") else [option]


def test_build_needs_one_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "build", "--out", str(tmp_path / "b.jsonl")])
    assert result.exit_code != 0
    result = CliRunner().invoke(app, ["bench", "build", str(tmp_path), "--out",
                                      str(tmp_path / "b.jsonl")])
    assert result.exit_code == 2 and "records.jsonl" in result.output


def test_counterfactual_distractors_from_a_configured_model(anet_stories: list,
                                                             tmp_path: Path) -> None:
    import re

    from scripted_server import ScriptedServer, user_text

    from nextevent.bench.counterfactual import counterfactuals
    from nextevent.bench.evaluate import model_config

    def answer(request: dict) -> str:
        text = user_text(request)
        k = int(re.search(r"Write (\d+) event", text).group(1))
        first = re.search(r"^- (.*)$", text, re.M).group(1)
        return json.dumps({"events": [f"Suddenly nobody is there any more ({j}), unlike "
                                      f"when {first[:30]}" for j in range(k)]})

    import asyncio

    stories = anet_stories[:10]
    with ScriptedServer(answer) as server:
        cfs, failed = asyncio.run(counterfactuals(
            stories, model_config(server.url, "cf", max_tokens=200)))
    assert failed == 0 and cfs
    index = NeighbourIndex.build([(s.video_id, s.domain, e) for s in stories
                                  for e in s.events])
    items, _ = build_items(stories, seed=1, index=index, counterfactuals=cfs)
    check_items(items)
    with_cf = [i for i in items if "counterfactual" in i.meta["option_kinds"].values()]
    assert len(with_cf) == len(items)
    for item in with_cf:
        x = next(x for x, k in item.meta["option_kinds"].items() if k == "counterfactual")
        assert "Suddenly nobody is there any more (0)" in item.qa.Options[x]
        n = len(item.meta["answer_events"])
        assert (f"({n}) Suddenly" in item.qa.Options[x]) == (n > 1)
