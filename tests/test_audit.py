"""Blind audit (`nextevent.audit`) on multiple-choice items made of real ActivityNet
Captions sentences (tests/data/annotations): each planted shortcut is found by its
baseline and fails the gate (also through `nextevent bench audit` / `t3 audit` on files in
the real item schemas), a symmetric set sits at chance exactly and passes, and no
baseline reads the key."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from scripted_server import ScriptedServer, user_text
from typer.testing import CliRunner

from nextevent.audit import (
    BASELINES,
    AuditItem,
    TextVectors,
    audit,
    from_bench,
    from_t3,
    predict,
)
from nextevent.audit.items import t3_question
from nextevent.audit.model import ModelBaseline
from nextevent.cli import app
from nextevent.records import MCQ, BenchItem, VideoAnnotation
from nextevent.rewards.embedding import SentenceSimilarity
from nextevent.sources import load_annotations
from nextevent.t3.items import MC_INSTRUCTION, T3Item
from nextevent.t3.synth import write_items as write_t3
from nextevent.t3.timeline import timeline_from_events

LETTERS = "ABCD"
WORD_BASELINES = [n for n, b in BASELINES.items() if not b.minilm]
HOP1 = "The video shows what happened so far. What happens next?"


def render(events: list[str]) -> str:
    """An option of several events as FutureBench writes it: ``(1) ... (2) ...``."""
    return " ".join(f"({k}) {e}" for k, e in enumerate(events, 1))


def write_items(items: list[BenchItem], path: Path) -> None:
    """A benchmark file as `nextevent bench build` writes it: one item a line."""
    path.write_text("".join(i.model_dump_json() + "\n" for i in items), encoding="utf-8")


@pytest.fixture(scope="module")
def videos(annotations: Path) -> list[VideoAnnotation]:
    return load_annotations(annotations / "activitynet_val_subset.json",
                            "activitynet").annotations


@pytest.fixture(scope="module")
def pool(videos: list[VideoAnnotation]) -> list[str]:
    """Unique event sentences of the subset, in file order."""
    return list(dict.fromkeys(e.text for v in videos for e in v.events))


@pytest.fixture(scope="module")
def vectors() -> TextVectors:
    """all-MiniLM-L6-v2 vectors shared by the tests (each text encoded once)."""
    return TextVectors(SentenceSimilarity())


def place(k: int, answer: str, others: list[str], rng: random.Random) -> tuple[dict, str]:
    """Options with ``answer`` under letter ``k % 4`` (balanced keys), others shuffled."""
    key = LETTERS[k % 4]
    rest = list(others)
    rng.shuffle(rest)
    slots = [x for x in LETTERS if x != key]
    return {key: answer, **dict(zip(slots, rest, strict=True))}, key


def item(k: int, options: dict, key: str, group: str = "hop1", question: str = HOP1,
         **kw) -> AuditItem:
    return AuditItem(id=f"i{k}", group=group, question=question,
                     options=dict(sorted(options.items())), answer=key, **kw)


def longest_planted(pool: list[str], n: int = 120) -> list[AuditItem]:
    items = []
    for k in range(n):
        rng = random.Random(k)
        opts = rng.sample(pool, 4)
        while len({len(o) for o in opts}) < 4:
            opts = rng.sample(pool, 4)
        opts.sort(key=len)
        options, key = place(k, opts[-1], opts[:-1], rng)
        items.append(item(k, options, key))
    return items


def accuracy(preds: dict[str, str | None], items: list[AuditItem]) -> float:
    return sum(preds[i.id] == i.answer for i in items) / len(items)


def test_longest_answer_is_found_and_fails_the_gate(pool: list[str]) -> None:
    items = longest_planted(pool)
    report = audit(items, baselines=WORD_BASELINES)
    rows = {r.baseline: r for r in report.rows}
    assert rows["longest_chars"].accuracy == 1.0
    assert rows["shortest_chars"].accuracy == 0.0
    assert rows["longest_chars"].ci_low > 0.95
    assert not report.passed()
    assert "longest_chars" in {r.baseline for r in report.failing()}
    assert all(r.chance == 0.25 and r.gated for r in report.rows)
    solved = report.solved_by()
    assert set(solved) == {i.id for i in items}  # every item: longest_chars picks the key
    assert all("longest_chars" in names for names in solved.values())
    shortcuts = report.solved_by(only_failing=True)
    assert set(shortcuts) == set(solved)
    assert {n for names in shortcuts.values() for n in names} == \
        {r.baseline for r in report.failing()}
    # the same set in groups of 50: reported, not gated, so the audit passes
    small = [dataclasses.replace(i, group=f"g{k // 50}") for k, i in enumerate(items)]
    small_report = audit(small, baselines=["longest_chars"])
    assert small_report.passed() and not any(r.gated for r in small_report.rows)
    assert {r.accuracy for r in small_report.rows} == {1.0}


def test_second_smallest_number_is_found(videos: list[VideoAnnotation],
                                         pool: list[str]) -> None:
    items = []
    for v in videos:
        starts = sorted({round(e.start_s, 1) for e in v.events if e.start_s is not None})
        if len(starts) < 4:
            continue
        rng = random.Random(v.video_id)
        four = sorted(rng.sample(starts, 4))
        texts = [f"At {s:.1f} s" for s in four]
        options, key = place(len(items), texts[1], [texts[0], *texts[2:]], rng)
        items.append(item(len(items), options, key, group="grounding_span",
                          question="When is the man seen?"))
    assert len(items) >= 100
    preds = predict(items, baselines=["numeric_rank_1", "numeric_rank_2", "longest_words",
                                      "numeric_median"])
    assert accuracy(preds["numeric_rank_2"], items) == 1.0
    assert accuracy(preds["numeric_rank_1"], items) == 0.0
    report = audit(items, baselines=WORD_BASELINES)
    assert "numeric_rank_2" in {r.baseline for r in report.failing()}
    # non-numeric options: the numeric baselines abstain
    words = predict(longest_planted(pool, 8), baselines=["numeric_rank_2"])
    assert set(words["numeric_rank_2"].values()) == {None}


def test_the_one_option_not_named_in_the_question(pool: list[str]) -> None:
    items = []
    for k in range(120):
        rng = random.Random(f"named{k}")
        opts = rng.sample(pool, 4)
        quoted = ", ".join(f'"{o.rstrip(".")}"' for o in opts[:3])
        options, key = place(k, opts[3], opts[:3], rng)
        items.append(item(k, options, key, group="referring_after",
                          question=f"Which event is none of {quoted}?"))
    preds = predict(items, baselines=["not_named_in_question", "named_in_question",
                                      "question_overlap_words_min"])
    assert accuracy(preds["not_named_in_question"], items) == 1.0
    assert accuracy(preds["named_in_question"], items) == 0.0
    report = audit(items, baselines=WORD_BASELINES)
    failing = {r.baseline for r in report.failing()}
    assert {"not_named_in_question", "question_overlap_words_min"} <= failing


def event_set_planted(videos: list[VideoAnnotation], pool: list[str]) -> list[AuditItem]:
    """Truth = 3 consecutive events; distractors: one reordering (same event set) and two
    swaps of one event for a sentence of another video (the builder's recipe)."""
    items = []
    for v in videos:
        ev = list(dict.fromkeys(e.text for e in v.events))
        if len(ev) < 3:
            continue
        rng = random.Random(v.video_id)
        t = ev[:3]
        other = [s for s in rng.sample(pool, 8) if s not in ev][:2]
        wrong = [render([t[1], t[2], t[0]]), render([other[0], t[1], t[2]]),
                 render([t[0], t[1], other[1]])]
        options, key = place(len(items), render(t), wrong, rng)
        items.append(item(len(items), options, key, group="hop3",
                          past_text=" ".join(e.text for e in v.events[3:5]) or None))
    return items


def test_shared_event_set_gives_the_answer_away(videos: list[VideoAnnotation],
                                                 pool: list[str]) -> None:
    items = event_set_planted(videos, pool)
    assert len(items) >= 100
    preds = predict(items, baselines=["event_set_consensus", "positional_consensus"])
    assert accuracy(preds["event_set_consensus"], items) == 1.0
    assert accuracy(preds["positional_consensus"], items) == 1.0
    report = audit(items, baselines=["event_set_consensus"])
    assert not report.passed()
    # one-sentence options have no event sets: abstain
    single = predict(longest_planted(pool, 8), baselines=["event_set_consensus"])
    assert set(single["event_set_consensus"].values()) == {None}


def test_most_central_option_in_minilm(pool: list[str], vectors: TextVectors) -> None:
    drafts = [random.Random(f"central{k}").sample(pool, 4) for k in range(120)]
    vectors.add(s for d in drafts for s in d)
    items = []
    for k, d in enumerate(drafts):
        v = np.stack([vectors.mean([s]) for s in d])
        sims = v @ v.T
        central = int(np.argmax(sims.sum(1) - 1))  # mean cosine to the other three
        others = [s for i, s in enumerate(d) if i != central]
        options, key = place(k, d[central], others, random.Random(k))
        items.append(item(k, options, key))
    report = audit(items, baselines=["centrality_minilm", "outlier_minilm"], vectors=vectors)
    rows = {r.baseline: r for r in report.rows}
    assert rows["centrality_minilm"].accuracy == 1.0
    assert rows["outlier_minilm"].accuracy == 0.0
    assert [r.baseline for r in report.failing()] == ["centrality_minilm"]


def symmetric(pool: list[str], videos: list[VideoAnnotation]) -> list[AuditItem]:
    """30 option sets each of real sentences, real times and event sequences (the
    builder's recipe: truth, a reordering, two swaps), each set used by 4 items with every
    option the key once, under rotated letters; same question, past and anchor."""
    items = []
    starts = [sorted({round(e.start_s, 1) for e in v.events if e.start_s is not None})
              for v in videos]
    numeric = [[f"From {s:.1f} s" for s in st[:4]] for st in starts if len(st) >= 4][:30]
    sets = [("hop1", random.Random(f"sym{s}").sample(pool, 4)) for s in range(30)]
    sets += [("grounding_span", texts) for texts in numeric]
    sets += [("hop3", list(i.options.values())) for i in event_set_planted(videos, pool)[:30]]
    for s, (group, texts) in enumerate(sets):
        rng = random.Random(s)
        past, anchor = " ".join(rng.sample(pool, 3)), rng.choice(pool)
        for j in range(4):
            options = {LETTERS[(i + j) % 4]: t for i, t in enumerate(texts)}
            items.append(AuditItem(id=f"s{s}.{j}", group=group,
                                   question=f'What happens before "{anchor}"?',
                                   options=dict(sorted(options.items())),
                                   answer=LETTERS[(j + j) % 4], past_text=past,
                                   anchor=anchor))
    return items


def test_symmetric_set_is_at_chance_exactly(pool: list[str], videos: list[VideoAnnotation],
                                            vectors: TextVectors) -> None:
    items = symmetric(pool, videos)
    assert len(items) == 360
    report = audit(items, vectors=vectors)
    assert {r.group for r in report.rows} == {"hop1", "grounding_span", "hop3"}
    assert len({r.baseline for r in report.rows}) == len(BASELINES)  # every one answered
    for r in report.rows:
        assert r.accuracy == pytest.approx(0.25, abs=1e-12), r
    assert report.passed() and not report.failing()
    data = report.to_json()
    assert data["passed"] is True and data["groups"]["hop1"]["n"] == 120


def test_no_baseline_reads_the_key(pool: list[str], videos: list[VideoAnnotation],
                                   vectors: TextVectors) -> None:
    items = longest_planted(pool, 40) + event_set_planted(videos, pool)[:40] + \
        symmetric(pool, videos)[:40]
    items = [dataclasses.replace(i, id=f"{k}") for k, i in enumerate(items)]
    garbage = [dataclasses.replace(i, answer="not a letter") for i in items]
    before = predict(items, vectors=vectors, seed=3)
    after = predict(garbage, vectors=vectors, seed=3)
    assert before == after
    assert {len(v) for v in before.values()} == {len(items)}


def test_ties_are_not_broken_by_letter(pool: list[str]) -> None:
    """Two options of equal top length: which one wins does not follow the letters."""
    same = [s for s in pool if len(s) == 60]
    items = []
    for k in range(60):
        rng = random.Random(f"tie{k}")
        a, b = rng.sample(same, 2)
        short = [s for s in rng.sample(pool, 20) if len(s) < 60][:2]
        items.append(item(k, {"A": a, "B": b, "C": short[0], "D": short[1]}, "A"))
    preds = predict(items, baselines=["longest_chars"])["longest_chars"]
    assert set(preds.values()) == {"A", "B"}
    # the same two texts under swapped letters: the same text is picked
    swapped = [dataclasses.replace(i, options={"A": i.options["B"], "B": i.options["A"],
                                               "C": i.options["C"], "D": i.options["D"]})
               for i in items]
    again = predict(swapped, baselines=["longest_chars"])["longest_chars"]
    for i, j in zip(items, swapped, strict=True):
        assert i.options[preds[i.id]] == j.options[again[j.id]]


def bench_items(items: list[AuditItem]) -> list[BenchItem]:
    return [BenchItem(id=i.id, video_path=None, question_type=i.group,  # type: ignore[arg-type]
                      qa=MCQ(Question=i.question, Options=i.options, Answer=i.answer),
                      meta={"past_caption": i.past_text or "", "end_anchor": i.anchor})
            for i in items]


def test_bench_audit_cli_exit_status_and_json(tmp_path: Path, pool: list[str],
                                              videos: list[VideoAnnotation]) -> None:
    planted = tmp_path / "planted.jsonl"
    write_items(bench_items(longest_planted(pool)), planted)
    result = CliRunner().invoke(app, ["bench", "audit", str(planted), "--baselines",
                                      ",".join(WORD_BASELINES)])
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output and "longest_chars" in result.output
    data = json.loads((tmp_path / "planted.audit.json").read_text())
    assert data["passed"] is False
    assert "longest_chars" in data["groups"]["hop1"]["failing"]
    fair = tmp_path / "fair.jsonl"
    sym = [i for i in symmetric(pool, videos) if i.group == "hop1"]
    write_items(bench_items(sym), fair)
    out = tmp_path / "fair_audit.json"
    result = CliRunner().invoke(app, ["bench", "audit", str(fair), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["passed"] is True
    # round trip: the reader gives back what from_bench reads
    assert from_bench(bench_items(sym))[0].past_text == sym[0].past_text


def test_bench_audit_bad_input_is_one_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "audit", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2
    assert "does not exist" in result.output and "Traceback" not in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    result = CliRunner().invoke(app, ["bench", "audit", str(bad)])
    assert result.exit_code == 2 and "line 1" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def t3_planted(videos: list[VideoAnnotation]) -> list[T3Item]:
    """grounding items in the T3 schema (the text video of a real timeline, the question,
    options A-D, the instruction; `nextevent.t3.items`) whose key is always the
    second-smallest frame."""
    out = []
    for v in videos:
        try:
            tl = timeline_from_events(v.video_id, v.source, v.events, v.duration_s)
        except ValueError:
            continue
        if tl.n_frames < 8:
            continue
        rng = random.Random(v.video_id)
        frames = [f"Frame {k}" for k in (2, 3, 5, 7)]
        rng.shuffle(frames)
        options = dict(zip(LETTERS, frames, strict=True))
        question = f'Which frame shows "{v.events[0].text.rstrip(".")}"?'
        prompt = (f"A video is described frame by frame ({tl.n_frames} frames):\n"
                  + tl.render() + "\n\n" + question + "\n"
                  + "\n".join(f"{k}. {o}" for k, o in options.items()) + "\n"
                  + MC_INSTRUCTION)
        out.append(T3Item(id=f"{v.source}/{v.video_id}/grounding_frames/0",
                          aspect="grounding", task="grounding_frames", form="mc",
                          source=v.source, video_id=v.video_id, prompt=prompt,
                          answer=LETTERS[frames.index("Frame 3")], options=options))
    return out


def test_t3_audit_cli_finds_the_planted_rank(tmp_path: Path,
                                             videos: list[VideoAnnotation]) -> None:
    items = t3_planted(videos)
    assert len(items) >= 100
    audit_items = from_t3(items)
    assert audit_items[0].question.startswith("Which frame shows")
    assert "Frame 1" not in audit_items[0].question  # the text video is left out
    path = tmp_path / "t3.jsonl"
    write_t3(items, path)
    result = CliRunner().invoke(app, ["t3", "audit", str(path), "--out",
                                      str(tmp_path / "a.json"), "--baselines",
                                      ",".join(WORD_BASELINES)])
    assert result.exit_code == 1, result.output
    failing = json.loads((tmp_path / "a.json").read_text())["groups"]["grounding_frames"]
    assert "numeric_rank_2" in failing["failing"]
    missing = CliRunner().invoke(app, ["t3", "audit", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_t3_question_keeps_multi_line_questions() -> None:
    options = {"A": "2, 3, 1", "B": "1, 2, 3"}
    prompt = ("Intro.\nFrame 1: x\nFrame 2: y\n\nList these events in order:\n1. a\n2. b\n"
              "3. c\nA. 2, 3, 1\nB. 1, 2, 3\n"
              "Answer with the option's letter from the given choices directly.")
    assert t3_question(prompt, options) == "List these events in order:\n1. a\n2. b\n3. c"


def test_model_baseline_reads_shuffled_options_never_the_key(pool: list[str]) -> None:
    items = longest_planted(pool, 100)
    items = [dataclasses.replace(i, past_text=f"past of {i.id}") for i in items]

    def longest_reader(request: dict) -> str:
        opts = re.findall(r"^([ABCD])\. (.*)$", user_text(request), re.M)
        return max(opts, key=lambda o: len(o[1]))[0]

    with ScriptedServer(longest_reader) as server:
        model = ModelBaseline.from_server(server.url, "blind", trials=1)
        report = audit(items, baselines=["shortest_chars"], model=model)
        texts = [user_text(c.body) for c in server.calls]
    assert len(texts) == 100
    assert all("past of i" in t for t in texts)  # past caption as text
    by_id = {i.id: i for i in items}
    moved = 0
    for t in texts:
        shown = dict(re.findall(r"^([ABCD])\. (.*)$", t, re.M))
        original = by_id[re.search(r"past of (i\d+)", t).group(1)]  # type: ignore[union-attr]
        assert sorted(shown.values()) == sorted(original.options.values())
        moved += shown != original.options
    assert moved > 50  # options shown in a shuffled order
    rows = {r.baseline: r for r in report.rows}
    assert rows["model:blind"].family == "model" and rows["model:blind"].accuracy == 1.0
    assert "model:blind" in {r.baseline for r in report.failing()}


def test_bench_audit_cli_with_a_model_baseline(tmp_path: Path, pool: list[str]) -> None:
    planted = tmp_path / "planted.jsonl"
    write_items(bench_items(longest_planted(pool, 100)), planted)

    def longest_reader(request: dict) -> str:
        opts = re.findall(r"^([ABCD])\. (.*)$", user_text(request), re.M)
        return max(opts, key=lambda o: len(o[1]))[0]

    with ScriptedServer(longest_reader) as server:
        result = CliRunner().invoke(app, [
            "bench", "audit", str(planted), "--baselines", "shortest_chars",
            "--base-url", server.url, "--model", "blind", "--out", str(tmp_path / "a.json")])
    assert result.exit_code == 1, result.output
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["groups"]["hop1"]["failing"] == ["model:blind"]
    assert (tmp_path / "a.cache.sqlite").is_file()  # calls cached next to the audit
