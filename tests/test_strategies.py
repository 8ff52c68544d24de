"""Training strategies, selection, the split by video, and the export CLI options.

Inputs: a real `nextevent build` run on the sample videos (4 records, 2 videos), and the
V1-33K fixture (3 entries; two with reasoning and critique, one judged right and one
wrong) imported with its videos laid out as in the V1-33K release.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.export.questions import (
    CAPTION_QUESTIONS,
    NEP_QUESTIONS,
    PREV_QUESTIONS,
    WHATS_NEXT_QUESTIONS,
)
from nextevent.export.selection import build_samples, cft_select, parse_mix
from nextevent.export.split import split_by_video
from nextevent.export.strategies import (
    CFT_SYSTEM,
    DISTILL_SYSTEM,
    STRATEGIES,
    Sample,
    think_answer,
)
from nextevent.records import NEPRecord, NextEventError
from nextevent.rewards.format import format_reward
from nextevent.sources.v1 import import_v1
from nextevent.store import read_records

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sample_events.jsonl"
V1_FIXTURE = Path(__file__).parent / "data" / "export" / "next_event_prediction_v1.json"


def run_cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("run") / "sample"
    run_cli("build", "--videos", str(sample_dir), "--annotations", str(EXAMPLES),
            "--out", str(out), "--splits-per-video", "2", "--workers", "1", "--no-progress")
    return out


@pytest.fixture(scope="module")
def built(sample_run: Path) -> list[NEPRecord]:
    return list(read_records(sample_run / "records.jsonl"))


@pytest.fixture(scope="module")
def v1_root(tmp_path_factory: pytest.TempPathFactory, bunny: Path, bikes: Path) -> Path:
    """The V1-33K layout: first_part_video/... (past) and video_dataset/... (full)."""
    root = tmp_path_factory.mktemp("v1")
    for n, entry in enumerate(json.loads(V1_FIXTURE.read_text(encoding="utf-8"))):
        for key in ("video_path", "full_video_path"):
            dest = root / entry[key]
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(bunny if n % 2 == 0 else bikes, dest)
    return root


@pytest.fixture(scope="module")
def v1_records() -> list[NEPRecord]:
    records, failures = import_v1(V1_FIXTURE)
    assert failures == []
    return records


def build(records, strategy, run_dir, **kw):
    return build_samples(records, strategy, Path(run_dir), **kw)


# ---------------------------------------------------------------------- each strategy


def test_sft_prev_whats_next_on_a_real_run(built: list[NEPRecord], sample_run: Path):
    sft = build(built, "sft", sample_run)
    assert sft.failures == [] and len(sft.samples) == 4
    for s, r in zip(sft.samples, built, strict=True):
        assert s.question in NEP_QUESTIONS and s.target == r.caption_part2 == s.reference
        assert s.videos == (str((sample_run / r.past.path).resolve()),) and s.system is None

    prev = build(built, "prev", sample_run)
    for s, r in zip(prev.samples, built, strict=True):
        assert s.question in PREV_QUESTIONS and s.target == r.caption_part1
        assert s.videos == (str((sample_run / r.future.path).resolve()),)

    nxt = build(built, "whats-next", sample_run)
    for s, r in zip(nxt.samples, built, strict=True):
        last_past = r.events[r.split.last_past_event].text
        assert f'"{last_past}"' in s.question  # quotes the last past scene
        assert any(s.question == q.format(event=last_past) for q in WHATS_NEXT_QUESTIONS)
        assert s.target == r.caption_part2 and s.videos == (r.video.path,)  # full video
    # the same record gets the same NEP question whatever the strategy
    assert [s.question for s in sft.samples] == [
        s.question for s in build(built, "sft", sample_run, seed=0).samples]


def test_strategies_that_need_model_output_skip_records_without_it(built, sample_run: Path):
    for strategy, missing in (("distill", "no reasoning"), ("cft", "no reasoning"),
                              ("dpo", "no reasoning"), ("caption", "no full-video caption"),
                              ("mcqa", "no mc_qa"), ("oeqa", "no oe_qa")):
        result = build(built, strategy, sample_run)
        assert result.samples == [], strategy
        assert [f.input for f in result.failures] == [r.id for r in built]
        assert all(missing in f.error and f.stage == "export" and f.hint
                   for f in result.failures), (strategy, result.failures[0])


def test_v1_records_every_strategy(v1_records: list[NEPRecord], v1_root: Path, tmp_path: Path):
    run_dir = tmp_path  # V1 paths resolve against media_root, not the run dir
    first, second, third = v1_records

    def go(strategy, **kw):
        return build(v1_records, strategy, run_dir, media_root=v1_root, **kw)

    sft = go("sft")
    assert len(sft.samples) == 3
    assert sft.samples[0].videos == (str(v1_root / first.extra["video_path"]),)

    distill = go("distill")
    assert [s.record_id for s in distill.samples] == [first.id, second.id]
    assert "no reasoning" in distill.failures[0].error and distill.failures[0].input == third.id
    d = distill.samples[0]
    assert d.system == DISTILL_SYSTEM and d.reference == first.caption_part2
    assert d.target == think_answer(first.reasoning.rewritten_reasoning_content,
                                    first.reasoning.rewritten_prediction_content)
    assert d.target.startswith("<think>\n") and format_reward(d.target) == 1.0

    cft = go("cft", cft_ratio=1.0)
    assert cft.report["cft"]["wrong"] == 1 and cft.report["cft"]["right"] == 1
    assert cft.report["cft"]["achieved_ratio"] == 1.0
    c = next(s for s in cft.samples if s.record_id == second.id)
    assert c.system == CFT_SYSTEM and "Solution:\n<think>" in c.question
    assert c.question.startswith("Question:\n")
    assert c.target == f"Critique:\n{second.critique.critique}\n\nConclusion:\nwrong."
    # V1's rule at 2.1: one wrong cannot carry a right sample (floor(1 / 2.1) = 0)
    v1_rule = go("cft")
    assert v1_rule.report["cft"] == {
        "wrong": 1, "right": 0, "available_wrong": 1, "available_right": 1,
        "target_ratio": 2.1, "achieved_ratio": None}

    prev = go("prev")  # V1-33K has no future-segment path
    assert prev.samples == [] and all("future segment" in f.error for f in prev.failures)

    caption = go("caption")
    assert [s.target for s in caption.samples] == [r.caption for r in v1_records]
    assert caption.samples[0].videos == (str(v1_root / first.extra["full_video_path"]),)
    assert all(s.question in CAPTION_QUESTIONS for s in caption.samples)

    mcqa = go("mcqa")
    assert [s.record_id for s in mcqa.samples] == [first.id, second.id]
    assert mcqa.samples[0].target == "B" and mcqa.samples[0].task == "mcq"
    assert "<image>" not in mcqa.samples[0].question
    assert mcqa.samples[0].question.startswith("What tool does the man use")
    oeqa = go("oeqa")
    assert [s.record_id for s in oeqa.samples] == [first.id, third.id]
    assert oeqa.samples[0].target == first.oe_qa[1].value and oeqa.samples[0].task == "open"

    dpo = go("dpo", dpo_pairs="reference")
    (pair,) = dpo.samples
    assert pair.record_id == second.id  # the prediction judged wrong
    assert pair.target == second.caption_part2
    assert pair.rejected == second.reasoning.rewritten_prediction_content
    by_id = {f.input: f.error for f in dpo.failures}
    assert "judged right" in by_id[first.id] and "no reasoning" in by_id[third.id]


def test_v1_media_missing_is_a_failure(v1_records, tmp_path: Path):
    result = build(v1_records, "sft", tmp_path, media_root=tmp_path / "nowhere")
    assert result.samples == [] and len(result.failures) == 3
    assert "missing" in result.failures[0].error and "--media-root" in result.failures[0].hint


# ---------------------------------------------------------------------- selection


def _cft_pool(n_wrong: int, n_right: int) -> list[Sample]:
    def make(i, conclusion):
        return Sample(record_id=f"v{i}#0", video_id=f"v{i}", strategy="cft", question="q",
                      target="t", videos=("x.mp4",), extra={"conclusion": conclusion})
    return ([make(i, "wrong") for i in range(n_wrong)]
            + [make(n_wrong + i, "right") for i in range(n_right)])


def test_cft_ratio_sampling():
    pool = _cft_pool(30, 10)
    chosen, report = cft_select(pool, 2.1, seed=0)
    assert (report["wrong"], report["right"], report["achieved_ratio"]) == (21, 10, 2.1)
    assert sum(s.extra["conclusion"] == "wrong" for s in chosen) == 21
    assert [s.key for s in chosen] == [s.key for s in pool if s in chosen]  # input order

    chosen, report = cft_select(_cft_pool(10, 30), 2.1, seed=0)
    assert (report["wrong"], report["right"]) == (10, 4)  # floor(10 / 2.1) right
    assert report["achieved_ratio"] == 2.5

    chosen, report = cft_select(pool, 2.1, seed=0, max_samples=12)
    assert len(chosen) == 12 and (report["wrong"], report["right"]) == (8, 4)

    again, _ = cft_select(list(reversed(pool)), 2.1, seed=0)
    first, _ = cft_select(pool, 2.1, seed=0)
    other, _ = cft_select(pool, 2.1, seed=1)
    assert {s.key for s in again} == {s.key for s in first} != {s.key for s in other}
    with pytest.raises(ValueError):
        cft_select(pool, 0.0, seed=0)


def test_max_samples_picks_the_same_records_for_every_strategy(built, sample_run: Path):
    sft = build(built, "sft", sample_run, max_samples=2, seed=7)
    nxt = build(built, "whats-next", sample_run, max_samples=2, seed=7)
    prev = build(built, "prev", sample_run, max_samples=2, seed=7)
    ids = [s.record_id for s in sft.samples]
    assert len(ids) == 2 and ids == [s.record_id for s in nxt.samples] == [
        s.record_id for s in prev.samples]
    shuffled = random.Random(0).sample(built, len(built))
    assert sorted(s.record_id for s in build(shuffled, "sft", sample_run, max_samples=2,
                                             seed=7).samples) == sorted(ids)


def test_mix_meets_named_proportions(built, sample_run: Path):
    mix = parse_mix("sft=0.5, prev=0.25, whats-next=0.25")
    result = build(built, "mix", sample_run, mix=mix, max_samples=4)
    assert result.report["mix"] == {"sft": {"asked": 2, "written": 2},
                                    "prev": {"asked": 1, "written": 1},
                                    "whats-next": {"asked": 1, "written": 1}}
    assert sorted(s.strategy for s in result.samples) == ["prev", "sft", "sft", "whats-next"]
    # a part that cannot be met is reported, not filled with something else
    short = build(built, "mix", sample_run, mix=parse_mix("sft=1,distill=1"), max_samples=4)
    assert short.report["mix"]["distill"] == {"asked": 2, "written": 0}
    assert [s.strategy for s in short.samples] == ["sft", "sft"]


def test_parse_mix_and_option_errors(built, sample_run: Path):
    assert parse_mix("sft=2,cft=1") == {"sft": 2.0, "cft": 1.0}
    for bad, words in (("sft", "name=weight"), ("sft=x", "not a number"), ("dpo=1", "dpo"),
                       ("sft=1,sft=2", "twice"), ("sft=0", "positive"), ("", "empty")):
        with pytest.raises(ValueError, match=words):
            parse_mix(bad)
    with pytest.raises(ValueError, match="unknown strategy"):
        build(built, "rl", sample_run)
    with pytest.raises(ValueError, match="exactly when"):
        build(built, "mix", sample_run)
    assert set(STRATEGIES) >= {"sft", "distill", "cft", "mix", "prev", "caption", "mcqa",
                               "oeqa", "whats-next", "dpo"}


# ---------------------------------------------------------------------- split


def test_split_by_video_never_shares_a_video(built, sample_run: Path):
    samples = build(built, "sft", sample_run).samples + build(built, "prev", sample_run).samples
    split = split_by_video(samples, 0.5, seed=3)
    train_videos = {s.video_id for s in split.train}
    val_videos = {s.video_id for s in split.validation}
    assert train_videos and val_videos and not train_videos & val_videos
    assert len(split.train) + len(split.validation) == len(samples) == 8
    assert split.validation_videos == sorted(val_videos)
    again = split_by_video(list(reversed(samples)), 0.5, seed=3)
    assert again.validation_videos == split.validation_videos
    many = [dataclasses.replace(samples[0], video_id=f"vid{i}", record_id=f"vid{i}#0")
            for i in range(40)]
    picks = {tuple(split_by_video(many, 0.25, seed=s).validation_videos) for s in range(4)}
    assert all(len(p) == 10 for p in picks) and len(picks) > 1  # seeded
    assert split_by_video(samples, 0.0).validation == []
    with pytest.raises(NextEventError, match="at least 2 videos"):
        split_by_video([s for s in samples if s.video_id == "bikes"], 0.2)
    with pytest.raises(ValueError):
        split_by_video(samples, 1.0)


# ---------------------------------------------------------------------- CLI


def test_cli_export_strategy_options(sample_run: Path, tmp_path: Path):
    out = tmp_path / "lf"
    text = run_cli("export", str(sample_run), "--target", "llamafactory", "--out", str(out),
                   "--mix", "sft=0.5,prev=0.25,whats-next=0.25", "--val-fraction", "0.5",
                   "--seed", "1")
    assert "validation_videos" in text and "mix" in text
    info = json.loads((out / "dataset_info.json").read_text())
    assert set(info) == {"nextevent_mix", "nextevent_mix_validation"}
    train = json.loads((out / "nextevent_mix.json").read_text())
    val = json.loads((out / "nextevent_mix_validation.json").read_text())
    assert len(train) + len(val) == 4
    assert not {Path(r["videos"][0]).parts[-2].split("_")[0] for r in train} & {
        Path(r["videos"][0]).parts[-2].split("_")[0] for r in val}
    yaml_text = (out / "nextevent_mix_qwen2_5_vl_7b_full.yaml").read_text()
    assert "eval_dataset: nextevent_mix_validation" in yaml_text

    err = run_cli("export", str(sample_run), "--target", "easyr1", "--out", str(tmp_path / "r"),
                  "--strategy", "cft", code=2)
    assert "has none" in err
    err = run_cli("export", str(sample_run), "--target", "llamafactory", "--out",
                  str(tmp_path / "x"), "--mix", "sft=1,dpo=1", code=2)
    assert "dpo" in err
    err = run_cli("export", str(sample_run), "--target", "v1", "--out", str(tmp_path / "v"),
                  "--strategy", "distill", code=2)
    assert "records as they are" in err

    # records a strategy cannot use are listed and land in the run's failures; 0 samples
    # written is exit status 1
    text = run_cli("export", str(sample_run), "--target", "llamafactory", "--out",
                   str(tmp_path / "d"), "--strategy", "distill", code=1)
    assert "wrote 0 samples" in text and "no reasoning" in text
    failures = (sample_run / "failures.jsonl").read_text()
    assert "export:distill:bikes#0" in failures
