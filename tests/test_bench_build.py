"""`nextevent bench build` on the real ActivityNet Captions subset and on runs built from
the sample videos: exchangeable option groups, the blind audit gate (a planted shortcut
makes it fire), the clean-up rules on real annotation text, the failures file."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextevent.audit import TextVectors, audit, from_bench
from nextevent.bench import build as build_mod
from nextevent.bench.build import (
    QUESTION_TYPES,
    BuildResult,
    build_items,
    layout,
    load_annotation_stories,
    quality,
    read_items,
)
from nextevent.bench.clean import entry_problem
from nextevent.bench.distractors import normalize, render
from nextevent.bench.gate import gate
from nextevent.bench.groups import GROUP_SIZE
from nextevent.bench.textsim import near_duplicate, similar
from nextevent.cli import app
from nextevent.records import BenchItem, Failure, NextEventError

ANET = "activitynet_val_subset.json"
SAMPLE_EVENTS = Path(__file__).resolve().parents[1] / "examples" / "sample_events.jsonl"


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def vectors() -> TextVectors:
    """One MiniLM cache for the module (every text is encoded once)."""
    return TextVectors()


@pytest.fixture(scope="module")
def anet(annotations: Path):
    return load_annotation_stories(annotations / ANET, "activitynet")


@pytest.fixture(scope="module")
def anet_build(anet, vectors: TextVectors) -> BuildResult:
    return build_items(anet.stories, seed=7, vectors=vectors)


def groups_of(items: list[BenchItem]) -> dict[str, list[BenchItem]]:
    out: dict[str, list[BenchItem]] = defaultdict(list)
    for item in items:
        out[item.meta["group"]].append(item)
    return out


def check_exchangeable(items: list[BenchItem]) -> None:
    """Every option set is shown by exactly 4 items (one per video, same letters), and
    each of its options is the key of exactly one of them."""
    by_key = {i.id: i for i in items}
    for gid, members in groups_of(items).items():
        assert len(members) == GROUP_SIZE, gid
        assert len({m.question_type for m in members}) == 1
        options = members[0].qa.Options
        assert all(m.qa.Options == options for m in members)
        assert sorted(m.qa.Answer for m in members) == ["A", "B", "C", "D"]
        assert len({m.meta["video_id"] for m in members}) == GROUP_SIZE
        for m in members:
            assert options[m.qa.Answer] == render(m.meta["answer_events"])
            sources = m.meta["option_sources"]
            assert sources[m.qa.Answer] == m.meta["source_record"]
            kinds = m.meta["option_kinds"]
            assert kinds[m.qa.Answer] == "answer"
            assert sorted(kinds.values()) == ["answer"] + ["other_video"] * 3
            for letter, src in sources.items():  # each option is another member's key
                owner = by_key[f"{src}:{m.question_type}"]
                assert owner.meta["group"] == gid and owner.qa.Answer == letter
    report = quality(items)
    assert report["duplicate_options"] == report["near_duplicate_options"] == 0
    assert report["answer_among_distractors"] == report["duplicate_items"] == 0
    assert report["non_exchangeable_groups"] == 0
    for item in items:
        BenchItem.model_validate(item.model_dump())
        assert sorted(item.qa.Options) == ["A", "B", "C", "D"]


def test_text_level_items_are_exchangeable(anet, anet_build: BuildResult,
                                           vectors: TextVectors) -> None:
    items = anet_build.items
    check_exchangeable(items)
    by_type = Counter(i.question_type for i in items)
    assert set(by_type) == set(QUESTION_TYPES)
    assert all(i.video_path is None for i in items)
    for qtype in QUESTION_TYPES:  # the four keys of a group fill A-D: exact balance
        letters = Counter(i.qa.Answer for i in items if i.question_type == qtype)
        assert len(set(letters.values())) == 1
        n = by_type[qtype]
        assert anet_build.counts[qtype]["items"] == n
        # any rule reading only the options is right exactly once per group
        rules = {"longest": lambda o: max(o, key=lambda x: (len(o[x]), x)),
                 "fewest words": lambda o: min(o, key=lambda x: (len(o[x].split()), x)),
                 "first letter A": lambda o: "A",
                 "alphabetical": lambda o: min(o, key=lambda x: o[x])}
        for name, rule in rules.items():
            right = sum(rule(i.qa.Options) == i.qa.Answer for i in items
                        if i.question_type == qtype)
            assert right * 4 == n, (qtype, name)
    for item in items:  # the audit's inputs are in meta
        lay = layout(next(s for s in anet.stories if s.id == item.meta["source_record"]),
                     item.question_type)
        assert item.meta["past_caption"] == " ".join(lay[0])
        assert item.meta["answer_events"] == lay[1]
        assert item.meta["end_anchor"] == lay[2]
        if item.question_type == "interp":
            assert item.meta["end_anchor"] in item.qa.Question
    # same seed, same items; another seed, other groups and letters
    again = build_items(anet.stories[:300], seed=7, types=["hop1"], vectors=vectors)
    twice = build_items(anet.stories[:300], seed=7, types=["hop1"], vectors=vectors)
    assert [i.model_dump() for i in again.items] == [i.model_dump() for i in twice.items]
    other = build_items(anet.stories[:300], seed=8, types=["hop1"], vectors=vectors)
    assert [i.qa.Answer for i in other.items] != [i.qa.Answer for i in again.items]


def test_the_blind_audit_passes_on_the_subset(anet_build: BuildResult,
                                              vectors: TextVectors) -> None:
    report = audit(from_bench(anet_build.items), vectors=vectors)
    gated = [g for g, info in report.groups.items() if info["n"] >= 100]
    assert {"hop1", "hop2"} <= set(gated)
    assert report.passed(), [(r.group, r.baseline, r.accuracy) for r in report.failing()]
    for row in report.rows:  # option-only baselines sit at chance, past text below it
        if row.group in gated and row.family in ("option-only", "past-text"):
            assert row.accuracy <= row.chance + 0.05


def test_failures_name_every_left_out_item(anet, anet_build: BuildResult) -> None:
    built = {i.id for i in anet_build.items}
    failed = Counter((f.input, f.error.split(":")[0]) for f in anet_build.failures)
    assert all(c == 1 for c in failed.values())
    for story in anet.stories:
        for qtype in QUESTION_TYPES:
            assert (f"{story.id}:{qtype}" in built) != ((story.id, qtype) in failed)
    for qtype, counts in anet_build.counts.items():
        skipped = counts["skipped"]
        assert sum(skipped.values()) == sum(1 for _, t in failed if t == qtype)
        ungrouped = sum(v for k, v in skipped.items() if k.startswith(("no group", "fewer")))
        assert counts["candidates"] == counts["items"] + ungrouped
        assert counts["candidates"] + sum(skipped.values()) - ungrouped == len(anet.stories)


# ---------------------------------------------------------------- clean-up rules, real text

def test_near_duplicate_options_on_real_text(anet, anet_build: BuildResult) -> None:
    # ActivityNet val, v_saB1t3Znhk0 and v_LDIemY9nO-4: the same ending, article dropped
    assert near_duplicate("The credits of clip are shown.", "The credits of the clip are shown.")
    # v_Cqbs_wM3oc4 and v_5BbHu0WQZqw: the same sentence for a man and a woman
    assert near_duplicate("A man is sitting down in a chair.",
                          "A woman is sitting down in a chair.")
    # he / she (v_--1DO2V4K74's opening, the pronoun swapped)
    he = next(e for s in anet.stories for e in s.events if e.startswith("He "))
    assert near_duplicate(he, "She " + he[3:]) and not similar(he, "It rains all day.")
    assert not near_duplicate("The credits of the clip are shown.",
                              "A man is sitting down in a chair.")
    for item in anet_build.items:
        texts = list(item.qa.Options.values())
        assert not any(near_duplicate(a, b) for i, a in enumerate(texts)
                       for b in texts[i + 1:])
        if item.question_type == "interp":
            assert not any(near_duplicate(item.meta["end_anchor"], e)
                           for text in texts for e in re.split(r" ?\(\d\) ", text) if e)


def failure_for(result: BuildResult, story_id: str, qtype: str) -> Failure:
    return next(f for f in result.failures
                if f.input == story_id and f.error.startswith(f"{qtype}:"))


def test_past_that_contains_an_answer_event(anet, anet_build: BuildResult) -> None:
    story = next(s for s in anet.stories if s.id == "v_c-zbA4zixfE")
    past, truth, _ = layout(story, "hop1")
    assert normalize(truth[0]) in normalize(" ".join(past))
    assert "already contains the answer event" in entry_problem(past, truth, None)
    assert "already contains" in failure_for(anet_build, "v_c-zbA4zixfE", "hop1").error
    # "A sixth man leaps into the tunnel." after "A third man leaps into the tunnel."
    story = next(s for s in anet.stories if s.id == "v_koEfnIoZB_4")
    assert "nearly restates the past event" in entry_problem(*layout(story, "hop1"))
    assert "v_koEfnIoZB_4:hop1" not in {i.id for i in anet_build.items}


def test_anchor_that_restates_an_answer_event(anet, anet_build: BuildResult) -> None:
    story = next(s for s in anet.stories if s.id == "v_UCzKdpP9sLE")
    past, between, anchor = layout(story, "interp")
    assert anchor == "The child retrieves a pen from the purse."
    assert "The child retrieves a compact from the purse." in between
    assert "end anchor" in entry_problem(past, between, anchor)
    assert "end anchor" in failure_for(anet_build, "v_UCzKdpP9sLE", "interp").error


def test_one_item_per_question_and_answer(anet, anet_build: BuildResult) -> None:
    # four subset videos end on "The credits of the video are shown."
    ending = [s.id for s in anet.stories if s.events[-1] == "The credits of the video are shown."]
    assert len(ending) >= 3
    kept = [i for i in anet_build.items if i.question_type == "hop1"
            and i.qa.Options[i.qa.Answer] == "The credits of the video are shown."]
    assert len(kept) <= 1
    dup = [f for f in anet_build.failures if f.input in ending
           and f.error.startswith("hop1: same question and answer")]
    assert dup
    keys = Counter(normalize(i.qa.Question) + "|" + normalize(i.qa.Options[i.qa.Answer])
                   for i in anet_build.items)
    assert max(keys.values()) == 1


# ---------------------------------------------------------------- the build gate

def longest_key(item: BenchItem) -> dict[str, str]:
    """The item's options with a tail added to its key until it is the longest."""
    opts = dict(item.qa.Options)
    while len(opts[item.qa.Answer]) <= max(len(v) for x, v in opts.items()
                                           if x != item.qa.Answer):
        opts[item.qa.Answer] += " Then everyone carries on as before."
    return opts


def plant_longest_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken builder: every item's key gets a tail, so the longest option is the key."""
    original = build_mod._group_items

    def planted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        items = original(*args, **kwargs)
        for item in items:
            item.qa.Options = longest_key(item)
        return items

    monkeypatch.setattr(build_mod, "_group_items", planted)


def test_build_gate_fires_on_a_planted_shortcut(annotations: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    plant_longest_key(monkeypatch)
    out = tmp_path / "bench.jsonl"
    result = CliRunner().invoke(app, [
        "bench", "build", "--annotations", str(annotations / ANET), "--types", "hop1",
        "--max-videos", "400", "--gate-min-items", "40", "--out", str(out)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "the build gate fails for hop1" in text and "option-only" in text
    assert re.search(r"baseline (longest_chars|longest_words)", text)
    assert not out.exists()
    saved = json.loads((tmp_path / "bench.quality.json").read_text())
    assert saved["gate"]["passed"] is False and "hop1" in saved["gate"]["error"]


def test_gate_drops_whole_groups(anet_build: BuildResult, vectors: TextVectors) -> None:
    items = [BenchItem.model_validate(i.model_dump()) for i in anet_build.items
             if i.question_type == "hop1"]
    groups = sorted(groups_of(items))
    planted = set(groups[::8])  # one group in 8 gives its key away in every item
    for item in items:
        if item.meta["group"] in planted:
            item.qa.Options = longest_key(item)
    before = audit(from_bench(items), vectors=vectors)
    assert not before.passed()
    result = gate(items, vectors=vectors)
    assert result.report.passed()
    dropped = {d["group"] for d in result.dropped}
    assert planted <= dropped and len(dropped) <= len(items) // 4 * 0.25
    assert {i.meta["group"] for i in result.items} == set(groups) - dropped
    check_exchangeable([i for i in result.items if i.meta["group"] not in planted])
    assert len(result.failures) == 4 * len(dropped)
    assert all(f.stage == "bench-gate" for f in result.failures)
    with pytest.raises(NextEventError, match="build gate fails for hop1"):
        gate(items, vectors=vectors, max_drop=0.05)


# ---------------------------------------------------------------- CLI: failures file

def test_cli_writes_items_quality_and_failures(annotations: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.jsonl"
    text = run_cli("bench", "build", "--annotations", str(annotations / ANET), "--types",
                   "hop1,interp", "--max-videos", "300", "--out", str(out), "--seed", "2")
    assert "wrote" in text and "gate: passed" in text
    items = read_items(out)
    check_exchangeable(items)
    saved = json.loads((tmp_path / "b.quality.json").read_text())
    assert saved["n"] == len(items) and saved["gate"]["passed"] is True
    lines = (tmp_path / "b.failures.jsonl").read_text().splitlines()
    failures = [Failure.model_validate_json(x) for x in lines]
    assert saved["failures"] == len(failures)
    stages = Counter(f.stage for f in failures)
    assert saved["failures_by_stage"] == dict(stages)
    # import cleaning: the subset has events dropped by the overlap rule, each named
    imported = load_annotation_stories(annotations / ANET, "activitynet")
    assert stages["import"] > 0 and imported.failures
    assert {f.key for f in imported.failures} <= {f.key for f in failures}
    assert saved["import"]["overlap_dropped"] == sum(
        "trimming its overlap left it empty" in f.error for f in failures)
    # every video of the 300 without a hop1 or interp item has its reason
    built = {i.id for i in items}
    named = {(f.input, f.error.split(":")[0]) for f in failures if f.stage == "bench"}
    for story in imported.stories[:300]:
        for qtype in ("hop1", "interp"):
            assert (f"{story.id}:{qtype}" in built) != ((story.id, qtype) in named)
    for qtype in ("hop1", "interp"):
        skipped = saved["build"][qtype]["skipped"]
        assert sum(skipped.values()) == sum(1 for _, t in named if t == qtype)
        assert skipped["too few events"] > 0


def test_build_needs_one_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "build", "--out", str(tmp_path / "b.jsonl")])
    assert result.exit_code != 0
    result = CliRunner().invoke(app, ["bench", "build", str(tmp_path), "--out",
                                      str(tmp_path / "b.jsonl")])
    assert result.exit_code == 2 and "records.jsonl" in result.output


# ---------------------------------------------------------------- run directories

@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("run") / "sample"
    run_cli("build", "--videos", str(sample_dir), "--annotations", str(SAMPLE_EVENTS),
            "--format", "jsonl", "--out", str(out), "--splits-per-video", "2",
            "--workers", "1", "--no-progress")
    return out


def test_a_run_of_two_videos_says_why_it_has_no_items(sample_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.jsonl"
    result = CliRunner().invoke(app, ["bench", "build", str(sample_run), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "no FutureBench item could be built" in " ".join(result.output.split())
    assert not out.exists()
    failures = [Failure.model_validate_json(x) for x in
                (tmp_path / "bench.failures.jsonl").read_text().splitlines()]
    assert failures and all(f.stage == "bench" for f in failures)
    assert any("exchangeable group needs 4 different videos" in f.error for f in failures)
    records = {json.loads(x)["id"] for x in (sample_run / "records.jsonl").read_text().splitlines()}
    assert {f.input for f in failures} == records


@pytest.fixture(scope="module")
def many_video_run(tmp_path_factory: pytest.TempPathFactory, bikes: Path,
                   annotations: Path) -> Path:
    """A run of 12 'videos': the bikes sample under 12 names, each annotated with the
    first six events of a real ActivityNet video (times scaled to the clip)."""
    root = tmp_path_factory.mktemp("many")
    videos = root / "videos"
    videos.mkdir()
    data = json.loads((annotations / ANET).read_text())
    picked = [(vid, v) for vid, v in data.items() if len(v["sentences"]) >= 6][:12]
    lines = []
    first = videos / "source.mp4"
    shutil.copyfile(bikes, first)
    for vid, v in picked:
        os.link(first, videos / f"{vid}.mp4")  # a file of the folder (symlinks out are refused)
        events = [{"start": round(10.0 * k / 6, 2), "end": round(10.0 * (k + 1) / 6, 2),
                   "text": " ".join(v["sentences"][k].split())} for k in range(6)]
        lines.append(json.dumps({"video_id": vid, "video": f"{vid}.mp4", "duration": 10.0,
                                 "events": events}))
    first.unlink()
    ann = root / "events.jsonl"
    ann.write_text("\n".join(lines) + "\n")
    out = root / "run"
    run_cli("build", "--videos", str(videos), "--annotations", str(ann), "--format", "jsonl",
            "--out", str(out), "--splits-per-video", "2", "--workers", "1", "--no-progress",
            "--no-shots", "--cut", "fast")
    return out


def test_bench_from_a_run_directory(many_video_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.jsonl"
    text = run_cli("bench", "build", str(many_video_run), "--out", str(out), "--seed", "3")
    assert "wrote" in text
    items = read_items(out)
    assert items
    check_exchangeable(items)
    for item in items:  # the past clip of the source record, on disk
        assert item.video_path is not None and Path(item.video_path).is_file()
        assert "past" in Path(item.video_path).name
    failures = [Failure.model_validate_json(x) for x in
                (tmp_path / "bench.failures.jsonl").read_text().splitlines()]
    records = [json.loads(x)["id"] for x in
               (many_video_run / "records.jsonl").read_text().splitlines()]
    named = {(f.input, f.error.split(":")[0]) for f in failures}
    for rec in records:
        for qtype in QUESTION_TYPES:
            assert (f"{rec}:{qtype}" in {i.id for i in items}) != ((rec, qtype) in named)
    again = tmp_path / "again.jsonl"
    run_cli("bench", "build", str(many_video_run), "--out", str(again), "--seed", "3")
    assert again.read_text() == out.read_text()


# ---------------------------------------------------------------- counterfactuals

def test_counterfactuals_steer_grouping_not_options(anet, vectors: TextVectors) -> None:
    import asyncio

    from scripted_server import ScriptedServer, user_text

    from nextevent.bench.counterfactual import counterfactuals
    from nextevent.bench.evaluate import model_config

    def answer(request: dict) -> str:  # continues with the first past event, reworded
        text = user_text(request)
        k = int(re.search(r"Write (\d+) event", text).group(1))
        first = re.search(r"^- (.*)$", text, re.M).group(1)
        return json.dumps({"events": [f"Later, {first[0].lower()}{first[1:]}"] * k})

    stories = anet.stories[:160]
    with ScriptedServer(answer) as server:
        cfs, failed = asyncio.run(counterfactuals(
            stories, model_config(server.url, "cf", max_tokens=200), types=["hop1"]))
    assert failed == 0 and len(cfs) == sum(layout(s, "hop1") is not None for s in stories)
    guided = build_items(stories, seed=1, types=["hop1"], vectors=vectors,
                         counterfactuals=cfs)
    plain = build_items(stories, seed=1, types=["hop1"], vectors=vectors)
    check_exchangeable(guided.items)
    assert guided.items and all(i.meta["grouped_by"] == "counterfactual" for i in guided.items)
    written = {e for seqs in cfs.values() for seq in seqs for e in seq}
    assert not any(o in written for i in guided.items for o in i.qa.Options.values())
    assert ({frozenset(i.qa.Options.values()) for i in guided.items}
            != {frozenset(i.qa.Options.values()) for i in plain.items})
