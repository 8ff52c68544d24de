"""Bad input to `nextevent bench` and `nextevent t3` ends in one error line, exit 2, and
never destroys an input: an ``--out`` that is an input file (or one of a run's own
files), out-of-range numbers of ``bench eval`` / ``bench filter``, a question type
named twice, and items that cannot be asked or scored (an answer letter not among the
options, repeated or empty options, an empty question or id). The real CLI, on the
annotation subsets in tests/data and the sample videos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_bench_build import SAMPLE_EVENTS
from test_bench_eval import make_items
from typer.testing import CliRunner

from nextevent.bench.build import read_items, write_items
from nextevent.cli import app

GENERAL = Path(__file__).resolve().parent / "data" / "t3" / "llava_general.json"
CLOSED = "http://127.0.0.1:1/v1"  # nothing listens: no command here may get that far


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        repr(result.exception))
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path,
           annotations: Path) -> Path:
    """A folder with a run directory (two sample videos), a bench file, a T3 file, an
    annotation file and a general data file."""
    root = tmp_path_factory.mktemp("inputs")
    code, out = invoke("build", "--videos", str(sample_dir), "--annotations",
                       str(SAMPLE_EVENTS), "--format", "jsonl", "--out", str(root / "run"),
                       "--splits-per-video", "2", "--workers", "1", "--no-progress")
    assert code == 0, out
    write_items(make_items(8, None), root / "bench.jsonl")
    shutil.copy(annotations / "charades_sta_test_subset.txt", root / "ann.txt")
    code, out = invoke("t3", "synth", "--from", str(root / "ann.txt"), "--format",
                       "charades-sta", "--out", str(root / "t3.jsonl"), "--num", "40",
                       "--forms", "mc", "--gate", "off")
    assert code == 0, out
    shutil.copy(GENERAL, root / "general.json")
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("args", "clash"), [
    (["bench", "build", "{run}", "--out", "{run}/records.jsonl"], "run/records.jsonl"),
    (["bench", "build", "{run}", "--out", "{run}/state.sqlite"], "run/state.sqlite"),
    (["bench", "build", "{run}", "--out", "{run}/failures.jsonl"], "run/failures.jsonl"),
    (["bench", "build", "--annotations", "{ann}", "--format", "charades-sta", "--out",
      "{ann}"], "ann.txt"),
    (["bench", "filter", "{bench}", "--base-url", CLOSED, "--model", "m", "--out",
      "{bench}"], "bench.jsonl"),
    (["bench", "audit", "{bench}", "--out", "{bench}"], "bench.jsonl"),
    (["t3", "audit", "{t3}", "--out", "{t3}"], "t3.jsonl"),
    (["t3", "synth", "--from", "{ann}", "--format", "charades-sta", "--out", "{ann}"],
     "ann.txt"),
    (["t3", "synth", "--from", "{run}", "--out", "{run}/records.jsonl"],
     "run/records.jsonl"),
    (["t3", "mix", "--t3", "{t3}", "--general", "{general}", "--ratio", "0.5", "--out",
      "{general}"], "general.json"),
    (["t3", "mix", "--t3", "{t3}", "--general", "{general}", "--ratio", "0.5", "--out",
      "{root}/sub/../t3.jsonl"], "t3.jsonl"),  # another spelling of the same file
])
def test_an_out_that_is_an_input_is_refused_and_the_input_kept(
        inputs: Path, args: list[str], clash: str) -> None:
    names = {"run": inputs / "run", "ann": inputs / "ann.txt", "bench": inputs /
             "bench.jsonl", "t3": inputs / "t3.jsonl", "general": inputs / "general.json",
             "root": inputs}
    before = snapshot(inputs)
    code, out = invoke(*[a.format(**names) for a in args])
    assert code == 2, out
    assert "is the same file as the input" in out and clash.split("/")[-1] in out, out
    assert snapshot(inputs) == before  # nothing written, nothing lost


@pytest.mark.parametrize(("command", "option", "value"), [
    ("eval", "--concurrency", "0"), ("eval", "--max-tokens", "-5"), ("eval", "--fps", "0"),
    ("eval", "--max-frames", "0"), ("eval", "--timeout-s", "0"),
    ("eval", "--max-retries", "-1"), ("eval", "--max-response-bytes", "0"),
    ("eval", "--deadline-s", "-1"), ("filter", "--concurrency", "0"),
    ("filter", "--timeout-s", "0"), ("filter", "--deadline-s", "-1"),
])
def test_out_of_range_numbers_are_usage_errors(inputs: Path, tmp_path: Path, command: str,
                                               option: str, value: str) -> None:
    out = tmp_path / ("ev" if command == "eval" else "kept.jsonl")
    extra = ["--text-only"] if command == "eval" else []
    code, text = invoke("bench", command, str(inputs / "bench.jsonl"), "--base-url", CLOSED,
                        "--model", "m", "--out", str(out), "--no-progress", *extra,
                        option, value)
    assert code == 2, text
    assert f"Invalid value for '{option}'" in text, text
    assert "validation error" not in text and "pydantic" not in text, text
    assert not out.exists()


def test_a_negative_video_count_is_a_usage_error(annotations: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.jsonl"
    code, text = invoke("bench", "build", "--annotations",
                        str(annotations / "activitynet_val_subset.json"), "--format",
                        "activitynet", "--out", str(out), "--max-videos", "-1")
    assert code == 2 and "Invalid value for '--max-videos'" in text, text
    assert not out.exists()


def test_a_type_named_twice_is_built_once(annotations: Path, tmp_path: Path) -> None:
    src = str(annotations / "activitynet_val_subset.json")
    code, text = invoke("bench", "build", "--annotations", src, "--max-videos", "5",
                        "--types", "hop1,hop1", "--out", str(tmp_path / "twice.jsonl"))
    assert code == 0, text
    code, text = invoke("bench", "build", "--annotations", src, "--max-videos", "5",
                        "--types", "hop1", "--out", str(tmp_path / "once.jsonl"))
    assert code == 0, text
    twice = read_items(tmp_path / "twice.jsonl")
    assert twice and twice == read_items(tmp_path / "once.jsonl")


def _drop_option(item: dict) -> str:
    letter = item["qa"]["Answer"]
    del item["qa"]["Options"][letter]
    return f"answer {letter} is not one of the options"


def _same_options(item: dict) -> str:
    opts = item["qa"]["Options"]
    opts["B"] = opts["A"]
    return "options A and B are the same text"


def _empty_option(item: dict) -> str:
    item["qa"]["Options"]["C"] = "  "
    return "option C is empty"


def _empty_question(item: dict) -> str:
    item["qa"]["Question"] = ""
    return "the question is empty"


def _empty_id(item: dict) -> str:
    item["id"] = ""
    return "the id is empty"


@pytest.mark.parametrize("spoil", [_drop_option, _same_options, _empty_option,
                                   _empty_question, _empty_id])
@pytest.mark.parametrize("command", ["audit", "export", "eval", "report"])
def test_an_item_that_cannot_be_scored_is_refused_with_its_line(
        inputs: Path, tmp_path: Path, spoil, command: str) -> None:  # noqa: ANN001
    lines = [json.loads(x) for x in (inputs / "bench.jsonl").read_text().splitlines()]
    why = spoil(lines[4])
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(x) + "\n" for x in lines))
    args = {"audit": ["bench", "audit", str(bad)],
            "export": ["bench", "export", str(tmp_path / "e"), "--bench", str(bad),
                       "--layout", "lmms-eval"],
            "eval": ["bench", "eval", str(bad), "--text-only", "--base-url", CLOSED,
                     "--model", "m", "--out", str(tmp_path / "ev"), "--no-progress"],
            "report": ["report", str(inputs / "run"), "--bench", str(bad), "--out",
                       str(tmp_path / "e")]}
    code, text = invoke(*args[command])
    assert code == 2, text
    assert f"{bad} line 5 is not a FutureBench item: {why}" in text, text
    assert not (tmp_path / "e").exists() and not (tmp_path / "ev").exists()


def test_a_t3_answer_not_among_the_options_is_refused(inputs: Path, tmp_path: Path) -> None:
    lines = [json.loads(x) for x in (inputs / "t3.jsonl").read_text().splitlines()]
    k = next(i for i, x in enumerate(lines) if x["form"] == "mc")
    lines[k]["answer"] = "Z"
    bad = tmp_path / "bad_t3.jsonl"
    bad.write_text("".join(json.dumps(x) + "\n" for x in lines))
    code, text = invoke("t3", "audit", str(bad))
    assert code == 2, text
    assert f"line {k + 1} is not a T3 item: answer Z is not one of the options" in text, text


@pytest.mark.parametrize("command", ["eval", "filter", "audit", "export"])
def test_an_empty_bench_is_refused(tmp_path: Path, command: str) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    out = tmp_path / "o"
    args = {"eval": ["bench", "eval", str(empty), "--text-only", "--base-url", CLOSED,
                     "--model", "m", "--out", str(out), "--no-progress"],
            "filter": ["bench", "filter", str(empty), "--base-url", CLOSED, "--model", "m",
                       "--out", str(out / "f.jsonl"), "--no-progress"],
            "audit": ["bench", "audit", str(empty)],
            "export": ["bench", "export", str(out), "--bench", str(empty),
                       "--layout", "lmms-eval"]}[command]
    code, text = invoke(*args)
    assert code == 2, text
    assert f"benchmark {empty} has no items" in text, text
    assert not out.exists()


def test_two_evals_into_one_out_never_share_it(inputs: Path, tmp_path: Path) -> None:
    """While one ``bench eval`` writes a folder (its lock held), a second one into it
    stops before asking anything or writing a line, naming the holder."""
    from nextevent.rundir import EvalDir, RunLock

    out = tmp_path / "ev"
    with RunLock(EvalDir(out), "bench eval"):
        code, text = invoke("bench", "eval", str(inputs / "bench.jsonl"), "--text-only",
                            "--base-url", CLOSED, "--model", "m", "--out", str(out),
                            "--no-progress")
    assert code == 2, text
    assert "is being written by another nextevent process" in text and "bench eval" in text
    assert sorted(p.name for p in out.iterdir()) == [".nextevent.lock"]


def test_t3_synth_with_no_items_keeps_the_earlier_output(inputs: Path, tmp_path: Path) -> None:
    """Annotations that give no question (one event per video) exit 1 and write nothing
    over a good T3 file of an earlier synth in the same --out."""
    out = tmp_path / "t3.jsonl"
    shutil.copy(inputs / "t3.jsonl", out)
    before = out.read_bytes()
    ann = tmp_path / "one_event.txt"
    first = (inputs / "ann.txt").read_text().splitlines()[0]
    ann.write_text(first + "\n")
    code, text = invoke("t3", "synth", "--from", str(ann), "--format", "charades-sta",
                        "--out", str(out), "--forms", "mc", "--gate", "off")
    assert code == 1, text
    assert "no T3 items" in text and "nothing written" in text
    assert out.read_bytes() == before


def test_t3_mix_without_t3_items_writes_nothing(inputs: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty_t3.jsonl"
    empty.write_text("")
    out = tmp_path / "mix" / "mixed.json"
    out.parent.mkdir()
    code, text = invoke("t3", "mix", "--t3", str(empty), "--general",
                        str(inputs / "general.json"), "--out", str(out), "--ratio", "0.5")
    assert code == 2, text
    assert "no T3 item can be written as a sample" in text
    assert not list(out.parent.iterdir())


def test_a_failed_bench_build_keeps_an_earlier_bench_in_step(
        annotations: Path, tmp_path: Path) -> None:
    """A build that makes no item, into the --out of a good earlier build, leaves the
    bench, its quality report and its failures as they were (they describe each other);
    the failed attempt's reasons go beside them as .failed.*; a good build removes those."""
    out = tmp_path / "bench.jsonl"
    ann = annotations / "activitynet_val_subset.json"
    good = ("bench", "build", "--annotations", str(ann), "--format", "activitynet",
            "--types", "hop1", "--max-videos", "120", "--no-gate", "--out", str(out))
    code, text = invoke(*good)
    assert code == 0, text
    trio = {p: p.read_bytes() for p in (out, tmp_path / "bench.quality.json",
                                         tmp_path / "bench.failures.jsonl")}
    code, text = invoke("bench", "build", "--annotations", str(ann), "--format",
                        "activitynet", "--types", "hop1", "--max-videos", "3", "--no-gate",
                        "--out", str(out))
    assert code == 2 and "no FutureBench item could be built" in text, text
    assert "bench.failed.quality.json" in text and "failures files are kept" in text
    assert {p: p.read_bytes() for p in trio} == trio
    failed = tmp_path / "bench.failed.failures.jsonl"
    assert failed.is_file() and (tmp_path / "bench.failed.quality.json").is_file()
    assert str(failed) in text
    code, text = invoke(*good)
    assert code == 0, text
    assert not failed.exists() and not (tmp_path / "bench.failed.quality.json").exists()
