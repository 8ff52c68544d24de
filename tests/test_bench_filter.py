"""`nextevent bench filter --blind` against a scripted text model that can solve some
items from the text alone: exactly those are dropped, options are shuffled per trial,
before/after blind accuracy with CIs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from scripted_server import ScriptedServer, user_text
from typer.testing import CliRunner

from nextevent.bench.build import read_items, write_items
from nextevent.cli import app
from nextevent.records import MCQ, BenchItem


def make_items(n: int) -> list[BenchItem]:
    """Items 0, 3, 6, ... give their answer away by the word "obviously"."""
    items = []
    for i in range(n):
        gold = "ABCD"[i % 4]
        opts = {x: f"event {x} of clip {i}" for x in "ABCD"}
        if i % 3 == 0:
            opts[gold] = f"obviously event {gold} of clip {i}"
        items.append(BenchItem(id=f"c{i}:hop1", video_path=None, question_type="hop1",
                               qa=MCQ(Question=f"What happens next in clip {i}?",
                                      Options=opts, Answer=gold),
                               meta={"past_caption": f"past {i}"}))
    return items


def blind_model(request: dict) -> str:
    """Picks the "obviously" option, else always the option shown as C."""
    for line in user_text(request).splitlines():
        m = re.match(r"([ABCD])\. obviously", line)
        if m:
            return m.group(1)
    return "C"


def test_blind_filter_drops_what_text_alone_solves(tmp_path: Path) -> None:
    items = make_items(24)
    bench = tmp_path / "bench.jsonl"
    write_items(items, bench)
    out = tmp_path / "filtered.jsonl"
    with ScriptedServer(blind_model) as server:
        result = CliRunner().invoke(app, [
            "bench", "filter", str(bench), "--blind", "--base-url", server.url, "--model",
            "blind", "--out", str(out), "--trials", "4", "--threshold", "0.5"])
        assert result.exit_code == 0, result.output
        # selection + held-out round, 8 shuffles per item; a repeated shuffle (same
        # prompt) is answered from the call cache, so each prompt reaches the server once
        keys = [c.key for c in server.calls]
        assert len(keys) == len(set(keys)) and 24 * 4 < len(keys) <= 24 * 4 * 2
        orders = {tuple(re.findall(r"^[ABCD]\. (.*)$", user_text(c.body), re.M))
                  for c in server.calls if "clip 1?" in user_text(c.body)}
        assert len(orders) > 1  # options shuffled between trials
    kept = read_items(out)
    assert sorted(i.id for i in kept) == sorted(i.id for k, i in enumerate(items) if k % 3)
    report = json.loads((tmp_path / "filtered.blind.json").read_text())
    assert report["dropped"] == 8 and report["kept"] == 16
    assert report["before"]["n"] == 24 and report["after"]["n"] == 16
    # the solvable third is always right; the rest right only when the answer lands on C
    after = report["after"]["accuracy"]
    assert report["before"]["accuracy"] == pytest.approx((8 + 16 * after) / 24)
    assert after < 0.5 < report["before"]["accuracy"]
    lo, hi = report["after"]["ci95"]
    assert lo <= after <= hi


ANET = "activitynet_val_subset.json"


@pytest.fixture(scope="module")
def grouped_bench(annotations: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real FutureBench items in exchangeable groups of four (ActivityNet subset)."""
    from nextevent.audit import TextVectors
    from nextevent.bench.build import build_items, load_annotation_stories

    stories = load_annotation_stories(annotations / ANET, "activitynet").stories[:80]
    items = build_items(stories, seed=3, types=["hop1"], vectors=TextVectors()).items
    assert len(items) >= 12 and len(items) % 4 == 0
    path = tmp_path_factory.mktemp("grouped") / "bench.jsonl"
    write_items(items, path)
    return path


def shown_options(request: dict) -> dict[str, str]:
    return dict(re.findall(r"^([ABCD])\. (.*)$", user_text(request), re.M))


def longest_option(request: dict) -> str:
    """An option-only model: always the longest option text, whatever the letters."""
    options = shown_options(request)
    return max(options, key=lambda k: (len(options[k]), options[k]))


def whole_groups(items: list[BenchItem]) -> dict[str, list[BenchItem]]:
    groups: dict[str, list[BenchItem]] = {}
    for item in items:
        groups.setdefault(item.meta["group"], []).append(item)
    assert all(len(g) == 4 for g in groups.values()), "a group was broken"
    return groups


def test_an_option_only_model_breaks_no_group(grouped_bench: Path, tmp_path: Path) -> None:
    """The longest-option pick solves exactly one item of every group: the per-item rule
    dropped that item and left groups of three on which 'never the longest' scores 1/3;
    whole-group filtering keeps every group and that rule at chance."""
    items = read_items(grouped_bench)
    out = tmp_path / "filtered.jsonl"
    with ScriptedServer(longest_option) as server:
        result = CliRunner().invoke(app, [
            "bench", "filter", str(grouped_bench), "--base-url", server.url, "--model",
            "blind", "--out", str(out), "--trials", "3"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "filtered.blind.json").read_text())
    assert report["solved"] == len(items) // 4  # one per group, as the construction says
    assert report["dropped"] == 0 and report["dropped_groups"] == 0
    kept = read_items(out)
    assert [i.id for i in kept] == [i.id for i in items]
    for group in whole_groups(kept).values():
        longest = max(group[0].qa.Options.values(), key=lambda t: (len(t), t))
        avoid = [i for i in group if i.qa.Options[i.qa.Answer] != longest]
        assert len(avoid) == 3  # "never the longest" is then right on 1 of its 3 picks
    assert report["after"]["accuracy"] == pytest.approx(0.25)


def test_a_model_that_reads_the_past_drops_whole_groups(grouped_bench: Path,
                                                        tmp_path: Path) -> None:
    """A model that picks the longest option, except where it knows the key from the past
    caption: two more items of the first group (solved 2+ times: the group goes whole),
    the item of the second group the longest pick solves anyway (solved once: the group
    stays whole). An item whose calls fail for good leaves its group out, listed."""
    items = read_items(grouped_bench)
    groups = list(whole_groups(items).values())
    assert len(groups) >= 3

    def longest_is_key(item: BenchItem) -> bool:
        longest = max(item.qa.Options.values(), key=lambda t: (len(t), t))
        return item.qa.Options[item.qa.Answer] == longest

    first = [i for i in groups[0] if not longest_is_key(i)][:2]
    knows = {i.meta["past_caption"]: i.qa.Options[i.qa.Answer]
             for i in first + [next(i for i in groups[1] if longest_is_key(i))]}
    broken = groups[2][0].meta["past_caption"]

    def reader(request: dict) -> str:
        text = user_text(request)
        if broken in text:
            raise ValueError("scripted failure")  # HTTP 400: the call fails for good
        options = shown_options(request)
        for past, key in knows.items():
            if past in text:
                return next(k for k, v in options.items() if v == key)
        return longest_option(request)

    out = tmp_path / "filtered.jsonl"
    with ScriptedServer(reader) as server:
        result = CliRunner().invoke(app, [
            "bench", "filter", str(grouped_bench), "--base-url", server.url, "--model",
            "blind", "--out", str(out), "--trials", "3", "--with-past", "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "filtered.blind.json").read_text())
    kept = read_items(out)
    kept_groups = whole_groups(kept)
    assert groups[0][0].meta["group"] not in kept_groups
    assert groups[1][0].meta["group"] in kept_groups
    assert groups[2][0].meta["group"] not in kept_groups
    assert report["failed_items"] == [groups[2][0].id]
    assert sorted(report["left_out_items"]) == sorted(i.id for i in groups[2][1:])
    assert "3 item(s) left out with a failed item of their group" in " ".join(
        result.output.split())
    assert report["dropped"] == 4 * report["dropped_groups"] and report["dropped_groups"] >= 1
    assert len(kept) == len(items) - 4 * (report["dropped_groups"] + 1)


def test_a_filter_that_keeps_nothing_leaves_an_earlier_output(grouped_bench: Path,
                                                              tmp_path: Path) -> None:
    """Every call refused: no group is judged, so nothing is kept; the earlier filtered
    benchmark at --out (and its report) stays, this run's report and failures go beside
    it as .failed.*, exit 1."""
    out = tmp_path / "kept.jsonl"
    with ScriptedServer(longest_option) as server:
        args = ["bench", "filter", str(grouped_bench), "--base-url", server.url, "--model",
                "blind", "--out", str(out), "--trials", "2", "--no-progress"]
        assert CliRunner().invoke(app, args).exit_code == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}

    def refuse(request: dict) -> str:
        raise ValueError("scripted refusal")

    with ScriptedServer(refuse) as server:
        args[4] = server.url
        result = CliRunner().invoke(app, args + ["--seed", "5"])  # new prompts: not cached
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "no item kept" in text and "nothing written" in text
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    cache = "kept.cache.sqlite"  # the call cache, which a run may add to
    assert {k: after[k] for k in before if k != cache} == {
        k: v for k, v in before.items() if k != cache}
    report = json.loads((tmp_path / "kept.failed.blind.json").read_text())
    # (a shuffle seen in the first run is answered from the cache: its item is judged,
    # and left out with the failed items of its group)
    assert report["kept"] == 0 and report["failed"] >= 1
    assert report["failed"] + len(report["left_out_items"]) == len(read_items(grouped_bench))
    assert (tmp_path / "kept.failed.failures.jsonl").is_file()
