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
