"""K predictions per record (``build --predictions K``): every sample predicted with a seed
of its own, rewritten and critiqued; a rerun raising K asks only for the new samples
(counted at the scripted server) and replaces each record in place, crash-safely.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from scripted_server import ScriptedServer, user_text
from scripted_v1 import stage_of, v1_answer
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.pipeline.build_options import read_build_options
from nextevent.records import Critique, NEPRecord, PredictionSample, Reasoning
from nextevent.store import RunStore, read_records

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "sample_events.jsonl"
GOLDEN_RUN = ROOT / "tests" / "data" / "golden_exports" / "run" / "records.jsonl"
_SAMPLE = re.compile(r"Prediction (\d+):")


def scripted_class(caption_part1: str) -> int:
    """The planned difficulty of a split: 0 every sample right, 1 every sample wrong, 2
    the even-numbered samples right."""
    return int(hashlib.sha256(f"3:{caption_part1}".encode()).hexdigest(), 16) % 3


def scripted_verdict(caption_part1: str, index: int) -> str:
    """The verdict the scripted critic gives prediction ``index`` of a split."""
    kind = scripted_class(caption_part1)
    return "right" if kind == 0 or (kind == 2 and index % 2 == 0) else "wrong"


def k_answer(request: dict[str, Any]) -> str | dict[str, Any]:
    """`v1_answer`, except that the reasoner numbers its prediction by the request's seed
    (sample i sends seed i: the role has none) and the critic judges by `scripted_verdict`."""
    stage = stage_of(request)
    text = user_text(request)
    blocks = re.findall(r'"""(.*?)"""', text, re.S)
    if stage == "predict":
        index = request.get("seed") or 0
        return (f"<think>The caption says: {blocks[0]} (sample {index})</think>"
                f"<answer>Prediction {index}: the person rides on.</answer>")
    if stage == "critique":
        index = int(_SAMPLE.search(blocks[1]).group(1))  # type: ignore[union-attr]
        verdict = scripted_verdict(blocks[0], index)
        return json.dumps({"critique": f"Sample {index} is {verdict}.", "conclusion": verdict})
    return v1_answer(request)


def _llm_yaml(tmp_path: Path, url: str, cache: Path | None = None) -> Path:
    cfg = tmp_path / "llm.yaml"
    cfg.write_text(
        f"defaults: {{base_url: '{url}', timeout_s: 5, temperature: 0.7}}\n"
        + (f"cache: '{cache}'\n" if cache else "")
        + "roles:\n  reasoner: {model: scripted-reasoner, structured: none}\n"
        "  rewriter: {model: scripted-rewriter}\n  critic: {model: scripted-critic}\n")
    return cfg


def build(sample_dir: Path, run: Path, cfg: Path, k: int | None) -> Any:
    args = ["build", "--videos", str(sample_dir), "--annotations", str(EXAMPLES),
            "--out", str(run), "--llm-config", str(cfg), "--stages",
            "predict,rewrite,critique", "--splits-per-video", "2", "--workers", "1",
            "--no-progress"]
    return CliRunner().invoke(app, args + (["--predictions", str(k)] if k else []))


def stage_counts(server: ScriptedServer, since: int = 0) -> Counter[str]:
    return Counter(stage_of(c.body) for c in server.calls[since:] if c.body)


def check_samples(record: NEPRecord, k: int) -> None:
    """All K predictions: seeds, texts, rewrites and the scripted verdicts."""
    assert [s.index for s in record.samples] == list(range(k))
    assert [s.seed for s in record.samples] == [None, *range(1, k)]
    for s in record.samples:
        assert s.reasoning.prediction_content == f"Prediction {s.index}: the person rides on."
        assert s.reasoning.rewritten_reasoning_content.startswith("The video shows")
        assert s.critique is not None
    expected = [scripted_verdict(record.caption_part1, i) for i in range(k)]
    assert record.verdicts == expected
    assert record.pass_rate == pytest.approx(expected.count("right") / k)
    # V1's shape: the record's own reasoning and critique are sample 0
    assert record.reasoning == record.samples[0].reasoning
    assert record.critique == record.samples[0].critique


@pytest.fixture(scope="module")
def k4_run(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Path, Counter[str], list[int]]:
    """A K=4 build of the sample videos (2 splits each) against the scripted server:
    the run, the calls per stage it sent and the seeds of its predict calls."""
    tmp = tmp_path_factory.mktemp("k4")
    run = tmp / "run"
    with ScriptedServer(k_answer) as server:
        result = build(sample_dir, run, _llm_yaml(tmp, server.url), 4)
        assert result.exit_code == 0, result.output
        seeds = sorted((c.body.get("seed") or 0) for c in server.calls
                       if c.body and stage_of(c.body) == "predict")
        return run, stage_counts(server), seeds


def test_k_predictions_then_a_rerun_raising_k_asks_only_the_new_samples(
        sample_dir: Path, k4_run: tuple[Path, Counter[str], list[int]], tmp_path: Path) -> None:
    built, counts, seeds = k4_run
    records = list(read_records(built / "records.jsonl"))
    n = len(records)
    assert n == 4
    assert counts == {"predict": 4 * n, "rewrite": 4 * n, "critique": 4 * n}
    assert seeds == sorted(list(range(4)) * n)
    for record in records:
        check_samples(record, 4)
    # the planned verdicts give an all-right, an all-wrong and two mixed splits
    assert sorted(scripted_class(r.caption_part1) for r in records) == [0, 1, 2, 2]

    run = tmp_path / "run"
    shutil.copytree(built, run)
    with ScriptedServer(k_answer) as server:
        cfg = _llm_yaml(tmp_path, server.url)
        again = build(sample_dir, run, cfg, 6)
        assert again.exit_code == 0, again.output
        assert "records upgraded to 6 predictions: 4" in again.output
        # exactly 2 new predictions, rewrites and critiques per split, nothing else
        assert stage_counts(server) == {"predict": 2 * n, "rewrite": 2 * n, "critique": 2 * n}
        assert sorted(c.body["seed"] for c in server.calls
                      if c.body and stage_of(c.body) == "predict") == sorted([4, 5] * n)
        upgraded = list(read_records(run / "records.jsonl"))
        assert [r.id for r in upgraded] == [r.id for r in records]  # in place, once each
        assert len((run / "records.jsonl").read_text().splitlines()) == n
        before = {r.id: r for r in records}
        for record in upgraded:
            check_samples(record, 6)
            assert record.samples[:4] == before[record.id].samples  # old samples kept
        assert read_build_options(run)["predictions"] == 6

        calls = len(server.calls)
        same = build(sample_dir, run, cfg, 6)  # nothing left to ask
        assert same.exit_code == 0, same.output
        assert len(server.calls) == calls
        lower = build(sample_dir, run, cfg, 2)
        assert lower.exit_code != 0
        assert "--predictions 6 before" in lower.output and "not lowered" in lower.output
        assert len(server.calls) == calls


def test_a_raise_of_k_that_fails_stays_an_open_failure(
        sample_dir: Path, k4_run: tuple[Path, Counter[str], list[int]], tmp_path: Path) -> None:
    """The records stay done at K=4, but the failed upgrade to 6 is no resolved failure:
    it stays open until a rerun writes that upgrade, which resolves it."""
    from nextevent.report.summary import load_run

    built, _, _ = k4_run
    run = tmp_path / "run"
    shutil.copytree(built, run)

    def refuse_sample_5(request: dict[str, Any]) -> str | dict[str, Any]:
        if stage_of(request) == "predict" and request.get("seed") == 5:
            raise ValueError("scripted refusal of sample 5")
        return k_answer(request)

    with ScriptedServer(refuse_sample_5) as server:
        failed = build(sample_dir, run, _llm_yaml(tmp_path, server.url), 6)
    assert failed.exit_code == 0, failed.output
    data = load_run(run)
    opened = [f for f in data.open_failures if f.stage == "predict"]
    assert len(opened) == 4 and all(f.key.startswith("upgrade:6:") for f in opened)
    assert all(len(r.samples) == 4 for r in data.records)
    with ScriptedServer(k_answer) as server:
        again = build(sample_dir, run, _llm_yaml(tmp_path, server.url), 6)
    assert again.exit_code == 0, again.output
    data = load_run(run)
    assert not [f for f in data.open_failures if f.stage == "predict"]
    assert {f.key for f in opened} <= data.resolved
    assert all(len(r.samples) == 6 for r in data.records)
    assert len(data.failures) == len({f.key for f in data.failures})  # none twice


def test_a_rerun_with_other_model_stages_is_a_change(
        sample_dir: Path, k4_run: tuple[Path, Counter[str], list[int]], tmp_path: Path) -> None:
    """The stored records were built with predict, rewrite and critique; a rerun with
    fewer (or more) stages would call them done: it stops and names both stage sets."""
    built, _, _ = k4_run
    assert read_build_options(built)["model-stages"] == "predict,rewrite,critique"
    run = tmp_path / "run"
    shutil.copytree(built, run)
    with ScriptedServer(k_answer) as server:
        result = CliRunner().invoke(app, [
            "build", "--videos", str(sample_dir), "--annotations", str(EXAMPLES), "--out",
            str(run), "--llm-config", str(_llm_yaml(tmp_path, server.url)), "--stages",
            "predict,critique", "--splits-per-video", "2", "--predictions", "4",
            "--no-progress"])
        assert not server.calls
    assert result.exit_code == 2, result.output
    assert "model stages predict,rewrite,critique before, predict,critique now" in (
        " ".join(result.output.split()))


def _verl_ids(folder: Path) -> list[str]:
    import pyarrow.parquet as pq

    rows = pq.read_table(folder / "train.parquet").to_pylist()
    return [row["extra_info"]["record_id"] for row in rows]


def export(run: Path, out: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["export", str(run), "--out", str(out), *args])
    return result


def test_pass_rate_filters_and_curriculum_for_grpo(k4_run: tuple[Path, Any, Any],
                                                   tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    run = k4_run[0]
    records = list(read_records(run / "records.jsonl"))
    rates = {r.id: r.pass_rate for r in records}
    mixed = [r.id for r in records if 0 < rates[r.id] < 1]
    assert mixed and len(mixed) < len(records)

    # no all-right or all-wrong split: GRPO gets only groups with an advantage signal
    got = export(run, tmp_path / "verl", "--target", "verl", "--min-pass-rate", "0.01",
                 "--max-pass-rate", "0.99")
    assert got.exit_code == 0, got.output
    assert _verl_ids(tmp_path / "verl") == mixed
    below = sum(rates[i] < 0.01 for i in rates)
    above = sum(rates[i] > 0.99 for i in rates)
    assert (f"pass_rate: {{'min': 0.01, 'max': 0.99, 'kept': {len(mixed)}, 'below': "
            f"{below}, 'above': {above}, 'unjudged': 0}}") in got.output
    lines = [json.loads(x) for x in (tmp_path / "verl" / "difficulty.jsonl").read_text()
             .splitlines()]
    assert [x["record_id"] for x in lines] == [r.id for r in records]
    for line in lines:
        assert line["pass_rate"] == rates[line["record_id"]] and line["judged"] == 4
        assert line["kept"] == (line["record_id"] in mixed)
        assert line["right"] == round(4 * line["pass_rate"])

    # inclusive bounds: exactly the all-right splits
    got = export(run, tmp_path / "right", "--target", "verl", "--min-pass-rate", "1")
    assert got.exit_code == 0, got.output
    assert _verl_ids(tmp_path / "right") == [i for i in rates if rates[i] == 1]
    got = export(run, tmp_path / "wrong", "--target", "verl", "--max-pass-rate", "0")
    assert got.exit_code == 0, got.output
    assert _verl_ids(tmp_path / "wrong") == [i for i in rates if rates[i] == 0]

    # easy to hard: pass rate descending, ties by record id; with the mean reward
    got = export(run, tmp_path / "easy", "--target", "verl", "--curriculum", "easy-to-hard",
                 "--sample-reward", "rouge_l")
    assert got.exit_code == 0, got.output
    assert _verl_ids(tmp_path / "easy") == sorted(rates, key=lambda i: (-rates[i], i))
    assert "shuffle" in got.output and "sample_reward" in got.output
    lines = [json.loads(x) for x in (tmp_path / "easy" / "difficulty.jsonl").read_text()
             .splitlines()]
    from nextevent.rewards import rouge_l

    by_id = {r.id: r for r in records}
    for line in lines:  # the mean over the 4 rewritten predictions
        record = by_id[line["record_id"]]
        expected = sum(rouge_l(s.reasoning.rewritten_prediction_content, record.caption_part2)
                       for s in record.samples) / 4
        assert line["mean_reward"] == pytest.approx(expected, abs=1e-6)
    assert any(line["mean_reward"] > 0 for line in lines)

    bad = export(run, tmp_path / "bad", "--target", "verl", "--min-pass-rate", "0.8",
                 "--max-pass-rate", "0.2")
    assert bad.exit_code != 0 and "above --max-pass-rate" in bad.output
    bad = export(run, tmp_path / "bad", "--target", "v1", "--curriculum", "easy-to-hard")
    assert bad.exit_code != 0 and "--curriculum" in bad.output


def test_sample_reward_without_a_usable_onnx_cache_is_one_error_line(
        k4_run: tuple[Path, Any, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        unusable_onnx_cache: Path) -> None:
    """--sample-reward similarity with the ONNX backend asked for and a cache folder that
    cannot be made: one error line naming it and what to do, no traceback, no output."""
    pytest.importorskip("onnxruntime")
    from nextevent.rewards import backends

    blocker = unusable_onnx_cache
    monkeypatch.setenv(backends.BACKEND_ENV, "onnx")
    got = export(k4_run[0], tmp_path / "out", "--target", "verl", "--sample-reward",
                 "similarity")
    assert got.exit_code == 2, got.output
    assert "error (reward): the onnx reward backend could not export" in got.output
    assert str(blocker) in got.output and "hint: set XDG_CACHE_HOME" in got.output
    assert "Traceback" not in got.output
    assert got.exception is None or isinstance(got.exception, SystemExit)
    assert not list((tmp_path / "out").glob("*.parquet"))


def test_sample_zero_is_the_single_prediction_and_its_cache_entry(sample_dir: Path,
                                                                  tmp_path: Path) -> None:
    """A K=1 build writes today's record shape (no samples); sample 0 of a K=3 build is
    that same request (its cached answer), and raising K on the K=1 run upgrades it."""
    cache = tmp_path / "shared_cache.sqlite"
    with ScriptedServer(k_answer) as server:
        cfg = _llm_yaml(tmp_path, server.url, cache)
        one = build(sample_dir, tmp_path / "one", cfg, None)
        assert one.exit_code == 0, one.output
        (line, *_) = (tmp_path / "one" / "records.jsonl").read_text().splitlines()
        assert '"samples"' not in line
        singles = list(read_records(tmp_path / "one" / "records.jsonl"))
        n = len(singles)
        for record in singles:
            assert record.samples == [] and len(record.predictions) == 1
            assert record.pass_rate == (1.0 if record.critique.conclusion == "right" else 0.0)
        calls = len(server.calls)
        fresh = build(sample_dir, tmp_path / "three", cfg, 3)  # another run, same cache
        assert fresh.exit_code == 0, fresh.output
        assert stage_counts(server, calls) == {"predict": 2 * n, "rewrite": 2 * n,
                                               "critique": 2 * n}
        calls = len(server.calls)
        raised = build(sample_dir, tmp_path / "one", cfg, 3)  # the K=1 run, raised
        assert raised.exit_code == 0, raised.output
        assert len(server.calls) == calls  # every answer is in the shared cache
    single = {r.id: r for r in singles}
    for a, b in zip(read_records(tmp_path / "one" / "records.jsonl"),
                    read_records(tmp_path / "three" / "records.jsonl"), strict=True):
        assert a.samples == b.samples and len(a.samples) == 3
        assert a.samples[0].reasoning == single[a.id].reasoning
        assert a.samples[0].critique == single[a.id].critique


def test_old_records_read_as_one_prediction() -> None:
    records = list(read_records(GOLDEN_RUN))
    assert records and all(r.predictions == [] and r.pass_rate is None for r in records)
    record = records[0].model_copy(update={
        "reasoning": Reasoning(prediction_content="p"),
        "critique": Critique(critique="c", conclusion="wrong")})
    (only,) = record.predictions
    assert only.index == 0 and only.critique.conclusion == "wrong"
    assert record.pass_rate == 0.0
    with pytest.raises(ValueError, match="numbered"):
        record.with_predictions([only.model_copy(update={"index": 1})])
    with pytest.raises(ValueError, match="numbered"):
        NEPRecord.model_validate({**record.model_dump(), "samples": [
            {"index": 1, "reasoning": {"prediction_content": "p"}}]})


# ---------------------------------------------------------------------- crash safety


def _sampled(record: NEPRecord, k: int, tag: str) -> NEPRecord:
    samples = [PredictionSample(index=i, seed=i or None, reasoning=Reasoning(
        prediction_content=f"{tag} {i} " + "x" * 2000),
        critique=Critique(critique="c", conclusion="right" if i % 2 else "wrong"))
        for i in range(k)]
    return record.with_predictions(samples)


def _replace_forever(run: str, k: int) -> None:  # in a child process, killed from outside
    while True:
        with RunStore(run) as store:
            records = list(store.records())
            for record in records:
                store.replace_record(_sampled(record, k, f"k{k}"))
            store.flush_replacements()


def test_replacing_records_survives_a_kill_at_any_moment(tmp_path: Path) -> None:
    """A writer killed while upgrading leaves each record exactly once, old or new."""
    run = tmp_path / "run"
    base = list(read_records(GOLDEN_RUN))
    with RunStore(run) as store:
        for i in range(300):
            record = base[i % len(base)].model_copy(update={
                "id": f"v{i}#0", "video_id": f"v{i}"})
            assert store.add_record(_sampled(record, 2, "k2"))
    ids = [f"v{i}#0" for i in range(300)]
    ctx = multiprocessing.get_context("fork")
    for delay in (0.05, 0.2, 0.45, 0.8):
        child = ctx.Process(target=_replace_forever, args=(str(run), 3 + int(delay * 10)))
        child.start()
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        with RunStore(run) as store:  # recovery on open; the rerun's leftovers go
            got = list(store.records())
            assert [r.id for r in got] == ids
            for r in got:
                assert len(r.predictions) in (2, 3, 5, 7, 11)
                assert r.predictions[0].reasoning.prediction_content.startswith(
                    f"k{len(r.predictions)} 0")
            assert not [f for f in store.recovered if "quarantine" in f.key]
    with RunStore(run) as store:  # a replacement of an id not stored changes nothing
        assert not store.replace_record(base[0].model_copy(update={"id": "nope#0"}))
        assert store.prediction_count("v0#0") >= 2 and store.prediction_count("nope#0") == 0


def test_v1_export_keeps_the_published_shape_with_the_first_sample(tmp_path: Path) -> None:
    from nextevent.export import export_v1
    from nextevent.export.v1 import FILE_NAME, PREDICTIONS_FIELD
    from nextevent.sources.v1 import import_v1

    run = tmp_path / "run"
    records = [_sampled(r, 3, "s") for r in read_records(GOLDEN_RUN)]
    for record in records:  # the committed run has no clips; the export needs them there
        for segment in (record.past, record.future):
            if segment is not None:
                (run / segment.path).parent.mkdir(parents=True, exist_ok=True)
                (run / segment.path).write_bytes(b"\x00\x00\x00\x18ftypmp42")
    result = export_v1(records, run, tmp_path / "v1", media_root=run)
    assert result.count == len(records) and result.failures == []
    entries = json.loads((tmp_path / "v1" / FILE_NAME).read_text())
    for entry, record in zip(entries, records, strict=True):
        assert entry["ds_reasoning"] == {"prediction_content": record.samples[0].reasoning
                                         .prediction_content}
        assert entry["o3_critique"] == {"Critique": "c", "Conclusion": "wrong"}
        assert [m["index"] for m in entry[PREDICTIONS_FIELD]] == [1, 2]
        assert entry[PREDICTIONS_FIELD][0]["o3_critique"]["Conclusion"] == "right"
        assert entry[PREDICTIONS_FIELD][1]["seed"] == 2
    # the import reads the file back (the other samples as a key of ours, kept)
    back, failures = import_v1(tmp_path / "v1" / FILE_NAME)
    assert failures == [] and len(back) == len(records), failures
    export_v1(back, tmp_path, tmp_path / "again")
    assert json.loads((tmp_path / "again" / FILE_NAME).read_text()) == entries


# ---------------------------------------------------------------------- DPO from verdicts


def test_dpo_pairs_a_right_prediction_with_a_wrong_one(k4_run: tuple[Path, Any, Any],
                                                       tmp_path: Path) -> None:
    from nextevent.export.strategies import DISTILL_SYSTEM, think_answer

    run = k4_run[0]
    records = {r.id: r for r in read_records(run / "records.jsonl")}
    mixed = [i for i, r in records.items() if scripted_class(r.caption_part1) == 2]
    got = export(run, tmp_path / "lf", "--target", "llamafactory", "--strategy", "dpo")
    assert got.exit_code == 0, got.output
    assert ("dpo: {'pairing': 'verdicts', 'max_pairs': 4, 'pairs': 8, 'splits_paired': 2, "
            "'no_right': 1, 'no_wrong': 1, 'unjudged': 0}") in got.output
    rows = json.loads((tmp_path / "lf" / "nextevent_dpo.json").read_text())
    info = json.loads((tmp_path / "lf" / "dataset_info.json").read_text())["nextevent_dpo"]
    assert info["ranking"] is True
    assert len(rows) == 8  # every right x wrong pair of the two mixed splits: 2 x 2 each

    def text(record: NEPRecord, index: int) -> str:
        r = record.samples[index].reasoning
        return think_answer(r.rewritten_reasoning_content, r.rewritten_prediction_content)

    pairs = []
    for row in rows:
        rid, chosen = next((i, k) for i in mixed for k in range(4)
                           if text(records[i], k) == row["chosen"]["content"])
        record = records[rid]
        assert row["videos"] == [str(run / record.past.path)]
        rejected = next(i for i in range(4) if text(record, i) == row["rejected"]["content"])
        assert record.verdicts[chosen] == "right" and record.verdicts[rejected] == "wrong"
        assert row["messages"][0] == {"role": "system", "content": DISTILL_SYSTEM}
        assert row["messages"][1]["content"].startswith("<video>")
        pairs.append((rid, chosen, rejected))
    assert sorted(pairs) == sorted((i, c, w) for i in mixed for c in (0, 2) for w in (1, 3))
    # the failures name the splits with nothing to pair
    failures = (run / "failures.jsonl").read_text()
    assert "no prediction judged wrong" in failures and "no prediction judged right" in failures

    # a cap per split, chosen by seed; TRL's DPO columns
    got = export(run, tmp_path / "trl", "--target", "trl", "--strategy", "dpo",
                 "--dpo-max-pairs", "1", "--frames", "2")
    assert got.exit_code == 0, got.output
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "trl" / "train.parquet")
    assert {"prompt", "chosen", "rejected", "images"} <= set(table.column_names)
    trl_rows = table.to_pylist()
    assert sorted(r["record_id"] for r in trl_rows) == sorted(mixed)
    for row in trl_rows:
        record = records[row["record_id"]]
        assert row["chosen"][0]["content"] in {text(record, 0), text(record, 2)}
        assert row["rejected"][0]["content"] in {text(record, 1), text(record, 3)}

    # the old pairing against caption_part2 stays
    got = export(run, tmp_path / "ref", "--target", "llamafactory", "--strategy", "dpo",
                 "--dpo-pairs", "reference")
    assert got.exit_code == 0, got.output
    rows = json.loads((tmp_path / "ref" / "nextevent_dpo.json").read_text())
    wrong = [i for i, r in records.items() if "wrong" in r.verdicts]
    assert len(rows) == sum(r.verdicts.count("wrong") for i, r in records.items() if i in wrong)
    assert {row["chosen"]["content"] for row in rows} == {records[i].caption_part2 for i in wrong}
