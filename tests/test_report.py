"""`nextevent report` on a real build of the sample videos, with two missing videos and a
truncated one (real failures), a benchmark built from the run's records, an eval summary
and a usage file in the formats agreed with the FutureBench and model-client issues."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from badvideos import truncated_mp4
from PIL import Image
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.llm.usage import Usage
from nextevent.media.frames import frame_times
from nextevent.records import MCQ, BenchItem, NextEventError
from nextevent.report.build import build_report, sample_records
from nextevent.report.contact_sheet import CUT_RGB, POSTER_WIDTH, write_contact_sheet
from nextevent.report.html import SECTIONS
from nextevent.report.summary import (
    chi2_upper_tail_3df,
    group_failures,
    letter_balance,
    load_eval,
    load_run,
    load_usage,
)
from nextevent.store import read_records

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sample_events.jsonl"
MISSING = [
    {"video_id": "missing_one", "duration": 8.0, "events": [
        {"start": 0, "end": 4, "text": "A dog runs across a lawn."},
        {"start": 4, "end": 8, "text": "The dog sits by a fence."}]},
    {"video_id": "missing_two", "duration": 8.0, "events": [
        {"start": 0, "end": 4, "text": "A cat jumps onto a table."},
        {"start": 4, "end": 8, "text": "The cat falls asleep."}]},
    {"video_id": "broken", "video": "broken.mp4", "duration": 10.0, "events": [
        {"start": 0, "end": 5, "text": "A street is seen from above."},
        {"start": 5, "end": 10, "text": "Cars drive along a street."}]},
]
USAGE = {"captioner": {"calls": 4, "prompt_tokens": 5200, "completion_tokens": 910},
         "critic": {"calls": 3, "prompt_tokens": 3000, "completion_tokens": 800}}


def write_usage(run: Path) -> None:
    """Write USAGE as two model-backed runs would, through the model runner's own `Usage`
    (split in two lines, so the report must add them up)."""
    for half in (0, 1):
        usage = Usage()
        for role, u in USAGE.items():
            part = {k: v // 2 if half == 0 else v - v // 2 for k, v in u.items()}
            usage[role].requests = part["calls"]
            usage[role].prompt_tokens = part["prompt_tokens"]
            usage[role].completion_tokens = part["completion_tokens"]
        with (run / "usage.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps({"time": "t", "wall_s": 1.0, "records_new": 0,
                                "roles": usage.as_dict()}) + "\n")
EVAL = {"overall": {"accuracy": 0.625, "ci95": [0.3, 0.9], "n": 8},
        "by_type": {"hop1": {"accuracy": 0.75, "ci95": [0.25, 1.0], "n": 4},
                    "hop2": {"accuracy": 0.5, "ci95": [0.0, 1.0], "n": 4}}}
SECTION_IDS = ["summary", *(sid for sid, _ in SECTIONS)]

_RUNS: dict[Path, Path] = {}


def report_run(base: Path, sample_dir: Path) -> Path:
    """A run built once per test session: the sample videos with two splits each, two
    annotated videos that do not exist, a truncated file, and a usage.jsonl."""
    if base in _RUNS:
        return _RUNS[base]
    videos = base / "videos"
    videos.mkdir(parents=True)
    for name in ("bigbuckbunny.mp4", "bikes.mp4"):
        shutil.copy(sample_dir / name, videos / name)
    (base / "bad").mkdir()
    truncated_mp4(sample_dir / "bikes.mp4", base / "bad").rename(videos / "broken.mp4")
    annotations = base / "events.jsonl"
    annotations.write_text(EXAMPLES.read_text(encoding="utf-8")
                           + "".join(json.dumps(a) + "\n" for a in MISSING), encoding="utf-8")
    run = base / "run"
    result = CliRunner().invoke(app, [
        "build", "--videos", str(videos), "--annotations", str(annotations), "--out", str(run),
        "--splits-per-video", "2", "--workers", "1", "--no-shots", "--no-progress"])
    assert result.exit_code == 0, result.output
    write_usage(run)
    _RUNS[base] = run
    return run


def bench_from_run(run: Path, out: Path) -> Path:
    """hop1/hop2 items from the run's records: the answer is the record's next events, the
    distractors the next events of other records (a stand-in for `nextevent bench build`,
    only to feed the report real items)."""
    records = list(read_records(run / "records.jsonl"))
    items = []
    for i, record in enumerate(records):
        for hops in (1, 2):
            if len(record.future_events) < hops:
                continue
            answer = " ".join(e.text for e in record.future_events[:hops])
            others = [" ".join(e.text for e in r.future_events[:hops] or r.events[-1:])
                      for r in records if r.video_id != record.video_id]
            others += [" ".join(e.text for e in reversed(record.future_events[:2]))]
            letter = "ABCD"[(i + hops) % 4]
            options = [o for o in dict.fromkeys(others) if o != answer][:3]
            options.insert("ABCD".index(letter), answer)
            items.append(BenchItem(
                id=f"{record.id}/hop{hops}", video_path=record.past.path,
                question_type=f"hop{hops}",
                qa=MCQ(Question="What happens next?",
                       Options=dict(zip("ABCD", options, strict=True)), Answer=letter),
                meta={"record": record.id}))
    out.write_text("".join(item.model_dump_json() + "\n" for item in items), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    return report_run(tmp_path_factory.getbasetemp() / "report_run", sample_dir)


@pytest.fixture(scope="module")
def full_report(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("full_report")
    bench = bench_from_run(run_dir, base / "bench.jsonl")
    eval_path = base / "eval.json"
    eval_path.write_text(json.dumps(EVAL), encoding="utf-8")
    build_report(run_dir, base / "report", bench_path=bench, eval_path=eval_path)
    return base / "report"


class _Links(HTMLParser):
    """Collects section ids and every URL-valued attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("section", "header") and values.get("id"):
            self.sections.append(values["id"] or "")
        for name in ("src", "href", "poster"):
            if values.get(name):
                self.urls.append((tag, name, values[name] or ""))


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def test_failures_group_by_stage_and_reason_without_the_input_names(run_dir: Path) -> None:
    run = load_run(run_dir)
    groups = {(g.stage, len(g.failures)): g for g in group_failures(run.failures)}
    resolve = groups[("resolve", 2)]
    assert {f.input for f in resolve.failures} == {"missing_one", "missing_two"}
    assert "<input>" in resolve.reason and "missing_" not in resolve.reason
    assert ".3gp" in resolve.reason  # extensions are not numbers
    broken = [g for g in group_failures(run.failures) if g.stage != "resolve"]
    assert len(broken) == 1 and "broken" in broken[0].failures[0].input
    assert len(run.records) == 4 and run.usage is not None
    assert run.usage["captioner"].completion_tokens == 910
    assert run.states[("failed", "resolve")] == 2


def test_chi_square_tail_matches_the_tables() -> None:
    # upper percentage points of chi-square with 3 degrees of freedom (standard tables)
    for x, p in ((0.5844, 0.90), (2.3660, 0.50), (7.8147, 0.05), (11.3449, 0.01),
                 (16.2662, 0.001)):
        assert chi2_upper_tail_3df(x) == pytest.approx(p, rel=1e-3)
    assert chi2_upper_tail_3df(0.0) == 1.0


def test_letter_balance_counts_letters_and_tests_them() -> None:
    def items(counts: dict[str, int]) -> list[BenchItem]:
        return [BenchItem(id=f"{k}{i}", video_path=None, question_type="hop1",
                          qa=MCQ(Question="q", Options={"A": "a", "B": "b", "C": "c", "D": "d"},
                                 Answer=k))
                for k, n in counts.items() for i in range(n)]

    even = letter_balance(items({"A": 10, "B": 10, "C": 10, "D": 10}))
    assert even.chi2 == 0 and even.p_value == 1
    skewed = letter_balance(items({"A": 40}))
    assert skewed.counts == {"A": 40, "B": 0, "C": 0, "D": 0}
    assert skewed.chi2 == pytest.approx(120.0) and skewed.p_value < 1e-20
    some = letter_balance(items({"A": 13, "B": 7, "C": 10, "D": 10}))  # (9 + 9) / 10
    assert some.chi2 == pytest.approx(1.8)
    assert some.p_value == pytest.approx(chi2_upper_tail_3df(1.8))
    assert letter_balance([]).p_value == 1


def test_contact_sheet_shows_past_frames_a_cut_line_and_future_frames(
        run_dir: Path, tmp_path: Path) -> None:
    for record in read_records(run_dir / "records.jsonl"):
        sheet = write_contact_sheet(record, run_dir, tmp_path / f"{record.split.split_index}"
                                    f"{record.video_id}.png", frames_per_side=4, posters=True)
        split = record.split.split_s
        frame = 1 / record.video.fps
        past_clip = frame_times(run_dir / record.past.path)
        assert len(sheet.past_times) == len(sheet.future_times) == 4
        assert sheet.past_times == sorted(sheet.past_times)
        assert sheet.past_times[0] == pytest.approx(0.0, abs=1e-6)
        # the strip ends on the last frame before the split point, and starts after it on
        # the first future frame
        assert sheet.past_times[-1] == pytest.approx(past_clip[-1], abs=1e-3)
        assert all(t < split for t in sheet.past_times)
        assert split - frame - 1e-3 <= sheet.past_times[-1]
        assert sheet.future_times[0] == pytest.approx(record.future.start_s, abs=1e-3)
        assert all(t >= split - 1e-3 for t in sheet.future_times)
        image = Image.open(sheet.path).convert("RGB")
        assert image.size == (sheet.width, sheet.height)
        # a red cut line runs down between the past and the future tiles
        red_columns = [x for x in range(image.width)
                       if image.getpixel((x, 140)) == CUT_RGB]
        assert red_columns and red_columns[-1] - red_columns[0] <= 3, red_columns
        assert image.width * 0.3 < red_columns[0] < image.width * 0.7
        for side in ("past", "future"):
            poster = Image.open(sheet.posters[side])
            assert poster.format == "JPEG" and poster.width <= POSTER_WIDTH


def test_report_page_has_every_section_and_only_local_links(full_report: Path,
                                                            run_dir: Path) -> None:
    page = full_report / "index.html"
    links = _parse(page)
    assert links.sections == SECTION_IDS
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text and "<script" not in text
    clips = {(run_dir / r.past.path).resolve() for r in read_records(run_dir / "records.jsonl")}
    clips |= {(run_dir / r.future.path).resolve()
              for r in read_records(run_dir / "records.jsonl")}
    seen_clips = set()
    for tag, attribute, url in links.urls:
        if url.startswith(("#", "data:")):
            continue
        target = (full_report / url).resolve()
        assert target.is_file(), (tag, attribute, url)
        if (tag, attribute) == ("video", "src"):
            seen_clips.add(target)
    assert seen_clips == clips  # 4 records, all sampled: 8 players, each its own clip
    plots = sorted(p.name for p in (full_report / "plots").iterdir())
    assert plots == sorted(["video_duration.png", "split_position.png",
                            "segment_durations.png", "events_per_side.png",
                            "caption_lengths.png", "hop_counts.png", "answer_letters.png",
                            "usage.png", "eval_accuracy.png"])


def test_report_page_shows_counts_failures_usage_and_eval(full_report: Path) -> None:
    text = (full_report / "index.html").read_text(encoding="utf-8")
    assert "Failures (3 open in 2 groups)" in text
    assert "missing_one" in text and "missing_two" in text
    assert '<td>captioner</td><td class="n">4</td><td class="n">5200</td>' in text
    assert '<td>total</td><td class="n">7</td><td class="n">8200</td>' in text
    assert '<td>hop1</td><td class="n">4</td><td class="n">75.0%</td>' in text
    assert "30.0% – 90.0%" in text
    assert "Contact sheets (4 of 4 records with clips)" in text


def test_a_missing_clip_becomes_a_note_and_text_only_records_are_not_sampled(
        run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    records = list(read_records(run / "records.jsonl"))
    (run / records[0].past.path).unlink()
    text_only = records[1].model_copy(update={"id": "text#0", "past": None, "future": None,
                                              "video": None, "cut_mode": None})
    with (run / "records.jsonl").open("a", encoding="utf-8") as f:
        f.write(text_only.model_dump_json() + "\n")
    assert "text#0" not in {r.id for r in sample_records(records + [text_only], 10, 0)}
    result = build_report(run, tmp_path / "report", samples=10)
    assert result.records == 5 and len(result.sheets) == 3
    assert list(result.sheet_errors) == [records[0].id]
    assert "does not exist" in result.sheet_errors[records[0].id]
    text = result.html.read_text(encoding="utf-8")
    assert "No contact sheet" in text and "(4 of 4 records with clips)" in text


def test_sampling_is_seeded_and_bounded(run_dir: Path) -> None:
    records = list(read_records(run_dir / "records.jsonl"))
    first = [r.id for r in sample_records(records, 2, seed=3)]
    assert first == [r.id for r in sample_records(records, 2, seed=3)]
    assert len(first) == 2 and len(sample_records(records, 0, 0)) == 0
    ids = [r.id for r in records]
    assert first == sorted(first, key=ids.index)  # in run order


def test_bad_inputs_name_the_file(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(NextEventError, match="records.jsonl does not exist"):
        build_report(tmp_path / "nothing", tmp_path / "out")
    bad_eval = tmp_path / "eval.json"
    bad_eval.write_text(json.dumps({"accuracy": 0.5}), encoding="utf-8")
    with pytest.raises(NextEventError, match=r"--eval .*eval.json is not an eval summary"):
        load_eval(bad_eval)
    bad_bench = tmp_path / "bench.jsonl"
    bad_bench.write_text('{"id": "x"}\n', encoding="utf-8")
    with pytest.raises(NextEventError, match=r"bench.jsonl line 1 is not a FutureBench item"):
        build_report(run_dir, tmp_path / "out", bench_path=bad_bench)
    bad_usage = tmp_path / "usage.jsonl"
    bad_usage.write_text(json.dumps({"captioner": {"calls": 1}}) + "\n", encoding="utf-8")
    with pytest.raises(NextEventError, match="usage.jsonl line 1 is not model usage per role"):
        load_usage(bad_usage)
    assert load_usage(tmp_path / "absent.jsonl") is None


def test_cli_writes_the_report_and_explains_a_bad_run_dir(run_dir: Path,
                                                          tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "r"),
                                 "--samples", "1", "--frames", "2"])
    assert result.exit_code == 0, result.output
    assert "1 contact sheets" in result.output
    assert len(list((tmp_path / "r" / "sheets").glob("*.png"))) == 1
    bad = runner.invoke(app, ["report", str(tmp_path / "none"), "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "hint" in bad.output and "records.jsonl" in bad.output


def _judged(record, verdicts: list[str]):
    from nextevent.records import Critique, PredictionSample, Reasoning

    return record.with_predictions([PredictionSample(
        index=i, seed=i or None, reasoning=Reasoning(prediction_content=f"p{i}"),
        critique=Critique(critique="c", conclusion=v)) for i, v in enumerate(verdicts)])


def test_pass_rate_histogram_of_k_predictions(run_dir: Path, tmp_path: Path) -> None:
    from nextevent.jsonl import write_jsonl
    from nextevent.report.plots import plot_pass_rates

    records = list(read_records(run_dir / "records.jsonl"))
    assert plot_pass_rates(records, tmp_path / "none") is None  # no verdict: no plot
    patterns = [["right"] * 4, ["wrong"] * 4, ["right", "wrong", "right", "wrong"],
                ["right", "wrong", "wrong", "wrong"]]
    judged = [_judged(r, patterns[i % 4]) for i, r in enumerate(records)]
    plot = plot_pass_rates(judged, tmp_path / "plots")
    assert plot is not None and plot.file == "pass_rate.png"
    image = Image.open(tmp_path / "plots" / "pass_rate.png")
    assert image.format == "PNG" and image.width > 300
    assert f"({len(judged)} records: {len(judged)} with 4 verdicts)" in plot.caption
    assert "1 all right and 1 all wrong" in plot.caption
    # in the report of a run whose records carry verdicts
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    write_jsonl(run / "records.jsonl", judged)
    build_report(run, tmp_path / "report")
    assert (tmp_path / "report" / "plots" / "pass_rate.png").is_file()
    assert "Pass rate" in (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
