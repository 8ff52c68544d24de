"""V1's official converters on our V1 export, compared with our LLaMA-Factory export.

The converters are V1's own ``video_data_generation.py`` (sail-sg/Video-Next-Event-Prediction,
vendored unmodified in ``tests/data/vendor/v1_converters/``, see its README), run as the V1
README runs them: ``python video_data_generation.py`` from the folder that holds
``V1-33K/`` (our ``export --target v1 --layout v1 --out <that folder>/V1-33K``) and
``LLaMA-Factory/data/``. Its ``__main__`` calls all eight with their defaults:

==================================  =====================  ===========================
official converter (output file)    reads                  our ``--strategy``
==================================  =====================  ===========================
``convert_to_sft``                  first_part_video/      ``sft``
``convert_to_distill``              first_part_video/      ``distill``
``convert_to_CFT``                  first_part_video/      ``cft``
``convert_to_prev_sft``             second_part_video/     ``prev``
``full_video_caption``              ``full_video_path``    ``caption``
``full_video_mc_qa``                ``full_video_path``    ``mcqa``
``full_video_oe_qa``                ``full_video_path``    ``oeqa``
``full_video_what_happens_next``    ``full_video_path``    ``whats-next``
==================================  =====================  ===========================

The first four drop the first folder of ``video_path`` and join the rest onto their
``video_base_dir`` (``./V1-33K/first_part_video`` or ``./V1-33K/second_part_video``); the
other four write ``full_video_path`` as it stands (relative to the release folder). So
their paths have two bases, and LLaMA-Factory (``_find_medias``: ``media_dir`` joined
first, else the path as given, from the working folder) resolves both only with
``media_dir = V1-33K`` and the working folder the one the script ran in.

Per strategy, the official samples and ours must hold the same (clip, answer) pairs (the
clip compared by its bytes), the same turn roles, and, for ``whats-next``, the same quoted
scene; for ``cft`` the same solution. Documented differences, none a bug of ours:

* question wording: both draw from a pool of paraphrases, ours written for nextevent
  (`nextevent.export.questions`), seeded per record; theirs ``random.choice`` unseeded
  (and their next-event pool misses a comma, gluing its first two questions together);
* system prompts of ``distill`` and ``cft``: ours paraphrased (``DISTILL_SYSTEM``,
  ``CFT_SYSTEM``), same format asked for;
* the ``cft`` question: theirs ``Solution:\\n\\n<think>``, ours ``Solution:\\n<think>``;
* order: theirs shuffled (unseeded), ours in record order; the ``cft`` wrong:right
  subsample is theirs ``random.sample``, ours seeded (equal here: the fixture meets 2.1
  exactly, 2 wrong and 1 right, so both keep all three);
* a record without what a converter needs: theirs stop the whole script
  (``exit(1997)``: ``sft``, ``distill``, ``caption``) or skip it silently (``cft``,
  ``mcqa``, ``oeqa``, ``prev`` when ``second_part_video/`` lacks its clip); ours skip it
  with a failure line;
* paths: theirs the two bases above, ours one (absolute, or ``--media-root``).

The fixture is the README quickstart run (real sample videos, real cuts), its records given
the parts a model would write (caption, reasoning, critique, QA turns), since an annotated
build has none and the official ``distill``/``caption`` converters exit on a record that
lacks them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.export.questions import (
    CAPTION_QUESTIONS,
    NEP_QUESTIONS,
    PREV_QUESTIONS,
)
from nextevent.export.strategies import CFT_SYSTEM, DISTILL_SYSTEM
from nextevent.records import Critique, NEPRecord, QATurn, Reasoning
from nextevent.store import read_records

ROOT = Path(__file__).resolve().parents[1]
VENDOR = Path(__file__).parent / "data" / "vendor" / "v1_converters"
CONVERTERS = VENDOR / "video_data_generation.py"
EXAMPLES = ROOT / "examples" / "sample_events.jsonl"

# official output file (its stem is the dataset name in V1's dataset_info.json) -> our strategy
OFFICIAL = {
    "video_fp_sft_data.json": "sft",
    "video_fp_distill_data.json": "distill",
    "video_fp_CFT_data.json": "cft",
    "video_prev_sft_data.json": "prev",
    "full_video_caption_data.json": "caption",
    "full_video_mc_qa_data.json": "mcqa",
    "full_video_oe_qa_data.json": "oeqa",
    "full_video_what_happens_next_data.json": "whats-next",
}
THEIR_DISTILL_SYSTEM = (
    "You are a helpful AI Assistant that provides well-reasoned and detailed responses. You "
    "first think about the reasoning process as an internal monologue and then provide the "
    "user with the answer. Respond in the following format: <think>\n...\n</think>\n"
    "<answer>\n...\n</answer>")
THEIR_CFT_SYSTEM = "Please critique whether the following solution to the question is correct."

# Run a converter function with arguments (the vendored file has only a fixed __main__).
DRIVER = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("video_data_generation", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
with open(sys.argv[2]) as f:
    data = json.load(f)
getattr(module, sys.argv[3])(data, **json.loads(sys.argv[4]))
"""


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def official(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The vendored converters, unmodified, in a fresh interpreter."""
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def enrich(record: NEPRecord, n: int) -> NEPRecord:
    """The parts V1's models write, for one record of the quickstart run: a caption, the
    rewritten reasoning and prediction, a critique (records 0, 1 wrong, 2 right, 3 none:
    2.1 x 1 right rounds to the 2 wrong), and QA turns on some records (LLaVA style, with
    the ``<image>`` tag V1's converters strip)."""
    update: dict = {
        "caption": " ".join(e.text for e in record.events),
        "reasoning": Reasoning(
            reasoning_content=f"Raw reasoning {n}.", prediction_content=f"Raw guess {n}.",
            rewritten_reasoning_content=f"The clip of {record.id} ends after "
            f"{record.events[record.split.last_past_event].text.lower()} So it continues.",
            rewritten_prediction_content=f"Prediction {n}: {record.caption_part2[:60]}"),
    }
    if n < 3:
        update["critique"] = Critique(
            critique=f"Critique {n}: the prediction "
            f"{'misses' if n < 2 else 'matches'} what follows.",
            conclusion="wrong" if n < 2 else "right")
    if n % 2 == 0:
        update["mc_qa"] = [
            QATurn(**{"from": "human", "value": f"<image>\nWhich video is {n}?\nA. this\nB. "
                      "that\nC. none\nD. both"}),
            QATurn(**{"from": "gpt", "value": "A"}),
            QATurn(**{"from": "human", "value": f"<image>\nIs clip {n} outdoors?\nA. yes\n"
                      "B. no\nC. unknown\nD. partly"}),
            QATurn(**{"from": "gpt", "value": "A"})]
    if n != 1:
        update["oe_qa"] = [QATurn(**{"from": "human", "value": f"<image>\nWhat is in {n}?"}),
                           QATurn(**{"from": "gpt", "value": f"Answer {n}."})]
    return record.model_copy(update=update)


@dataclass
class World:
    run: Path
    records: dict[str, NEPRecord]
    work: Path  # holds V1-33K/ (our --layout v1 export) and LLaMA-Factory/data/
    ours: dict[str, list[dict]]  # strategy -> our LLaMA-Factory samples
    theirs: dict[str, list[dict]]  # strategy -> the official converter's samples
    script: subprocess.CompletedProcess[str]

    @property
    def release(self) -> Path:
        return self.work / "V1-33K"

    def resolve(self, path: str) -> Path:
        """A video path of an official sample as LLaMA-Factory resolves it with
        ``media_dir = V1-33K`` from the folder the script ran in (``_find_medias``)."""
        joined = self.release / path
        return joined if joined.is_file() else self.work / path


@dataclass
class Built:
    base: Path
    run: Path
    records: dict[str, NEPRecord]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The quickstart run, its records enriched (`enrich`)."""
    base = tmp_path_factory.mktemp("v1conv")
    videos, run = base / "videos", base / "run"
    cli("samples", "--out", str(videos))
    cli("build", "--videos", str(videos), "--annotations", str(EXAMPLES), "--format", "jsonl",
        "--out", str(run), "--splits-per-video", "2", "--workers", "1", "--no-progress")
    records = [enrich(r, n) for n, r in enumerate(read_records(run / "records.jsonl"))]
    assert len(records) == 4 and all(r.past and r.future for r in records)
    (run / "records.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records),
                                       encoding="utf-8")
    return Built(base, run, {r.id: r for r in records})


@pytest.fixture(scope="module")
def world(built: Built) -> World:
    """Our --layout v1 export run through the official script, and our LLaMA-Factory
    export of every strategy."""
    base, run, work = built.base, built.run, built.base / "work"
    cli("export", str(run), "--target", "v1", "--layout", "v1", "--out", str(work / "V1-33K"))
    ours = {}
    for strategy in OFFICIAL.values():
        out = base / "lf" / strategy
        cli("export", str(run), "--target", "llamafactory", "--strategy", strategy,
            "--out", str(out))
        (data,) = [p for p in out.glob("nextevent_*.json")]
        ours[strategy] = json.loads(data.read_text(encoding="utf-8"))

    (work / "LLaMA-Factory" / "data").mkdir(parents=True)
    script = official(str(CONVERTERS), cwd=work)  # the README's command, as is
    theirs = {}
    if script.returncode == 0:
        for name, strategy in OFFICIAL.items():
            theirs[strategy] = json.loads((work / "LLaMA-Factory" / "data" / name).read_text())
    return World(run, built.records, work, ours, theirs, script)


# ----------------------------------------------------------------------------- the layout


def test_the_v1_layout_is_the_release_tree(world: World):
    entries = json.loads((world.release / "next_event_prediction.json").read_text())
    assert len(entries) == 4
    for entry in entries:
        past, future = entry["video_path"], entry["future_video_path"]
        assert past.startswith("first_part_video/") and entry["full_video_path"].startswith(
            "video_dataset/")
        # the official prev converter's path: its video_base_dir + video_path minus the
        # first folder
        assert future == "second_part_video/" + past.split("/", 1)[1]
        for key in ("video_path", "future_video_path", "full_video_path"):
            assert (world.release / entry[key]).is_file(), entry[key]
    by_past = {digest(world.run / r.past.path): r for r in world.records.values()}
    for entry in entries:
        record = by_past[digest(world.release / entry["video_path"])]
        assert digest(world.release / entry["future_video_path"]) == digest(
            world.run / record.future.path)
        assert digest(world.release / entry["full_video_path"]) == digest(record.video.path)
        assert entry["video_split"]["split_caption"]["caption_part2"] == record.caption_part2


def test_the_official_script_runs_all_eight_converters_on_the_v1_layout(world: World):
    assert world.script.returncode == 0, world.script.stdout + world.script.stderr
    assert set(world.theirs) == set(OFFICIAL.values())
    counts = {s: len(v) for s, v in world.theirs.items()}
    assert counts == {"sft": 4, "distill": 4, "cft": 3, "prev": 4, "caption": 4, "mcqa": 4,
                      "oeqa": 3, "whats-next": 4}
    for strategy, samples in world.theirs.items():
        for sample in samples:
            (video,) = sample["videos"]
            assert world.resolve(video).is_file(), (strategy, video)


# ----------------------------------------------------------------------------- compare


def pairs(samples: list[dict], resolve) -> list[tuple[str, str, tuple[str, ...]]]:
    """(clip digest, answer, turn roles) per sample, sorted."""
    return sorted((digest(resolve(s["videos"][0])), s["messages"][-1]["content"],
                   tuple(m["role"] for m in s["messages"])) for s in samples)


def question(sample: dict) -> str:
    (user,) = [m["content"] for m in sample["messages"] if m["role"] == "user"]
    assert user.startswith("<video>") and user.count("<video>") == 1
    return user[len("<video>"):]


@pytest.mark.parametrize("strategy", list(OFFICIAL.values()))
def test_official_converter_matches_our_llamafactory_export(world: World, strategy: str):
    assert world.script.returncode == 0, world.script.stderr
    theirs, ours = world.theirs[strategy], world.ours[strategy]
    assert pairs(theirs, world.resolve) == pairs(ours, Path), strategy
    if strategy in ("distill", "cft"):
        assert {s["messages"][0]["content"] for s in theirs} == {
            THEIR_DISTILL_SYSTEM if strategy == "distill" else THEIR_CFT_SYSTEM}
        assert {s["messages"][0]["content"] for s in ours} == {
            DISTILL_SYSTEM if strategy == "distill" else CFT_SYSTEM}
    if strategy in ("sft", "distill"):
        assert all(question(s) in NEP_QUESTIONS for s in ours)
    if strategy == "prev":
        assert all(question(s) in PREV_QUESTIONS for s in ours)
    if strategy == "caption":
        assert all(question(s) in CAPTION_QUESTIONS for s in ours)
    if strategy in ("mcqa", "oeqa"):  # the QA questions are the record's own, both sides
        assert sorted(question(s) for s in theirs) == sorted(question(s) for s in ours)
    if strategy == "cft":  # the same solution after the question
        def solution(s: dict) -> str:
            return question(s).split("\n\nSolution:\n", 1)[1].lstrip("\n")
        assert sorted(map(solution, theirs)) == sorted(map(solution, ours))
    if strategy == "whats-next":  # both quote the last past scene
        for samples in (theirs, ours):
            for s in samples:
                answer = s["messages"][-1]["content"]
                (record,) = [r for r in world.records.values() if r.caption_part2 == answer]
                assert record.events[record.split.last_past_event].text in question(s)


def test_the_official_prev_converter_reads_the_future_clip(world: World):
    """Previous-event prediction shows the future segment and asks for ``caption_part1``:
    the official converter, on the --layout v1 tree, picks the record's future.mp4."""
    assert world.script.returncode == 0, world.script.stderr
    by_answer = {r.caption_part1: r for r in world.records.values()}
    for sample in world.theirs["prev"]:
        record = by_answer[sample["messages"][-1]["content"]]
        clip = digest(world.resolve(sample["videos"][0]))
        assert clip == digest(world.run / record.future.path)
        assert clip != digest(world.run / record.past.path)


# ----------------------------------------------------------------------------- run layout


def test_the_run_layout_fails_in_the_official_converters_and_says_why(built: Built,
                                                                       tmp_path: Path):
    """Our plain export names the run's files (absolute): the official script with its
    defaults stops on them (their assert), and pointed at the run's clips folder its prev
    converter would take past.mp4; the export names the future clip in a key of its own
    and warns."""
    release = tmp_path / "V1-33K"
    output = cli("export", str(built.run), "--target", "v1", "--out", str(release))
    assert "future_video_path" in output and "--layout v1" in output
    entries = json.loads((release / "next_event_prediction.json").read_text())
    for entry in entries:
        assert Path(entry["video_path"]).is_absolute() and entry["video_path"].endswith(
            "past.mp4")
        assert entry["future_video_path"].endswith("future.mp4")
        assert Path(entry["future_video_path"]).is_file()

    (tmp_path / "LLaMA-Factory" / "data").mkdir(parents=True)
    script = official(str(CONVERTERS), cwd=tmp_path)
    assert script.returncode != 0
    assert "AssertionError: Video path ./V1-33K/first_part_video/" in script.stderr

    # the one base folder that makes convert_to_sft work on a --media-root export ...
    rel = tmp_path / "rel"
    cli("export", str(built.run), "--target", "v1", "--media-root", str(built.run),
        "--out", str(rel))
    data = rel / "next_event_prediction.json"
    lf = tmp_path / "lf"
    lf.mkdir()
    for fn in ("convert_to_sft", "convert_to_prev_sft"):
        args = {"video_base_dir": str(built.run / "clips"), "save_dir": str(lf)}
        done = official("-c", DRIVER, str(CONVERTERS), str(data), fn, json.dumps(args),
                        cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    # ... makes convert_to_prev_sft show past.mp4: why --layout v1 exists
    prev = json.loads((lf / "video_prev_sft_data.json").read_text())
    assert prev and all(s["videos"][0].endswith("/past.mp4") for s in prev)


def test_layout_v1_is_refused_where_it_means_nothing(built: Built, tmp_path: Path):
    for args, says in (
            (["--target", "llamafactory", "--layout", "v1"], "not a layout of --target"),
            (["--target", "v1", "--layout", "v1", "--media-root", str(built.run)],
             "drop --media-root"),
            (["--target", "v1", "--layout", "release"], "(it has: run, v1)")):
        result = CliRunner().invoke(app, ["export", str(built.run), "--out",
                                          str(tmp_path / "x"), *args])
        assert result.exit_code == 2, result.output
        assert says in " ".join(result.output.split()), result.output


def test_a_rerun_of_the_v1_layout_keeps_the_linked_clips(world: World, tmp_path: Path):
    out = tmp_path / "V1-33K"
    first = cli("export", str(world.run), "--target", "v1", "--layout", "v1", "--out", str(out))
    again = cli("export", str(world.run), "--target", "v1", "--layout", "v1", "--out", str(out))
    assert "10 linked" in first or "10 copied" in first
    assert "videos: 10 kept" in again
    assert (out / "next_event_prediction.json").read_bytes() == (
        world.release / "next_event_prediction.json").read_bytes()


# ----------------------------------------------------------------------------- LLaMA-Factory


@pytest.mark.slow
def test_llamafactory_loads_the_official_converters_output(world: World,
                                                          monkeypatch: pytest.MonkeyPatch):
    """LLaMA-Factory's own parser and converter (`llamafactory_check`) read all eight
    official files with V1's ``dataset_info.json``, every video found, when run from the
    script's folder with ``media_dir`` the release folder."""
    from llamafactory_check import run_llamafactory

    assert world.script.returncode == 0, world.script.stderr
    data = world.work / "LLaMA-Factory" / "data"
    shutil.copyfile(VENDOR / "dataset_info.json", data / "dataset_info.json")
    names = [Path(n).stem for n in OFFICIAL]
    monkeypatch.chdir(world.work)  # the relative ./V1-33K/... paths are from here
    got = run_llamafactory(data, names, media_dir=world.release)["datasets"]
    for name, strategy in zip(names, OFFICIAL.values(), strict=True):
        assert got[name]["problems"] == [], (name, got[name])
        assert got[name]["converted"] == len(world.ours[strategy]) > 0, name
        (video,) = got[name]["first"]["_videos"]
        assert os.path.isfile(video)
        assert digest(video) in {digest(s["videos"][0]) for s in world.ours[strategy]}
