"""The report's blind audit section (`nextevent report --bench --t3`): a benchmark whose
key is always the longest option (real ActivityNet sentences) is marked failed, with the
baseline that finds it; a T3 file from `nextevent t3 synth` on the real ActivityNet subset
gets the verdict `nextevent.audit` computes for it; the page stays static (no script)."""

from __future__ import annotations

import random
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_report import report_run
from typer.testing import CliRunner

from nextevent.audit import BASELINES, audit, from_t3
from nextevent.cli import app
from nextevent.records import MCQ, BenchItem, NextEventError
from nextevent.report.build import build_report
from nextevent.sources import load_annotations
from nextevent.t3.synth import read_items as read_t3

WORDS = [n for n, b in BASELINES.items() if not b.minilm]
"""The word and numeric baselines (no MiniLM: the MiniLM ones are tested in test_audit)."""


def write_items(items: list[BenchItem], path: Path) -> None:
    """A benchmark file as `nextevent bench build` writes it: one item a line."""
    path.write_text("".join(i.model_dump_json() + "\n" for i in items), encoding="utf-8")


class Cells(HTMLParser):
    """Rows of the tables inside ``<section id="audit">`` and whether a script appears."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.rows: list[list[str]] = []
        self.headings: list[str] = []
        self.script = False
        self._cell: list[str] | None = None
        self._h3: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.script = True
        if tag == "section":
            self.depth = 1 if dict(attrs).get("id") == "audit" else 0
        if not self.depth:
            return
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []
        elif tag == "h3":
            self._h3 = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "h3" and self._h3 is not None:
            self.headings.append("".join(self._h3).strip())
            self._h3 = None
        elif tag == "section":
            self.depth = 0

    def handle_data(self, data: str) -> None:
        for part in (self._cell, self._h3):
            if part is not None:
                part.append(data)


def planted_bench(annotations: Path, path: Path, n: int = 120) -> Path:
    """hop1 items from real sentences whose key is always the longest option."""
    result = load_annotations(annotations / "activitynet_val_subset.json", "activitynet")
    pool = list(dict.fromkeys(e.text for a in result.annotations for e in a.events))
    items = []
    for k in range(n):
        rng = random.Random(k)
        opts = sorted(rng.sample(pool, 4), key=len)
        while len({len(o) for o in opts}) < 4:
            opts = sorted(rng.sample(pool, 4), key=len)
        key = "ABCD"[k % 4]
        rest = opts[:3]
        rng.shuffle(rest)
        letters = [x for x in "ABCD" if x != key]
        options = {key: opts[3], **dict(zip(letters, rest, strict=True))}
        items.append(BenchItem(id=f"p{k}:hop1", video_path=None, question_type="hop1",
                               qa=MCQ(Question="What happens next?",
                                      Options=dict(sorted(options.items())), Answer=key),
                               meta={"past_caption": rng.choice(pool)}))
    write_items(items, path)
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    return report_run(tmp_path_factory.getbasetemp() / "audit_report_run", sample_dir)


def test_report_shows_the_audit_of_bench_and_t3(run_dir: Path, annotations: Path,
                                                tmp_path: Path) -> None:
    bench = planted_bench(annotations, tmp_path / "bench.jsonl")
    t3 = tmp_path / "t3.jsonl"
    made = CliRunner().invoke(app, [
        "t3", "synth", "--from", str(annotations / "activitynet_val_subset.json"),
        "--format", "activitynet", "--forms", "mc", "--num", "600", "--out", str(t3)])
    assert made.exit_code == 0, made.output
    build_report(run_dir, tmp_path / "r", bench_path=bench, t3_path=t3, samples=0,
                 audit_baselines=WORDS)
    page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    cells = Cells()
    cells.feed(page)
    assert not cells.script
    bench_head, t3_head = cells.headings
    assert bench_head == "FutureBench bench.jsonl: FAILED"
    hop1 = next(r for r in cells.rows if r and r[0] == "hop1")
    assert hop1[1] == "120" and hop1[2] == "25.0%"
    assert hop1[3] == "longest_chars" and hop1[4] == "100.0%"
    assert "longest_chars 100.0%" in hop1[6] and hop1[7] == "fail"
    # the T3 verdict and groups are the audit's own
    expected = audit(from_t3(list(read_t3(t3))), baselines=WORDS)
    verdict = "passed" if expected.passed() else "FAILED"
    assert re.fullmatch(rf"Video-T3 t3\.jsonl \(\d+ multiple-choice items\): {verdict}",
                        t3_head)
    tasks = {r[0]: r for r in cells.rows if r and r[0] in expected.groups}
    assert set(tasks) == set(expected.groups)
    for group, row in tasks.items():
        assert row[1] == str(expected.groups[group]["n"])
        fails = [r.baseline for r in expected.failing() if r.group == group]
        assert row[7] == ("fail" if fails else "pass" if expected.groups[group]["n"] >= 100
                          else "not gated (< 100 items)")
    assert '<div class="v">FAILED</div><div class="k">blind audit</div>' in page


def test_report_cli_takes_t3(run_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "r"),
                                      "--t3", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2
    assert "--t3" in result.output and "does not exist" in result.output


def test_report_without_items_says_how_to_audit(run_dir: Path, tmp_path: Path) -> None:
    build_report(run_dir, tmp_path / "r", samples=0)
    page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert '<section id="audit">' in page and "--t3 T3.jsonl" in page


def test_report_names_a_bad_t3_file(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(NextEventError, match=r"--t3 .*missing.jsonl does not exist"):
        build_report(run_dir, tmp_path / "r", t3_path=tmp_path / "missing.jsonl")
    bad = tmp_path / "t3.jsonl"
    bad.write_text('{"id": "x"}\n', encoding="utf-8")
    with pytest.raises(NextEventError, match=r"t3.jsonl line 1 is not a T3 item"):
        build_report(run_dir, tmp_path / "r", t3_path=bad)
