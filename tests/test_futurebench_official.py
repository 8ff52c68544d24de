"""`nextevent bench export --layout futurebench ROOT`: the official V1 FutureBench task
(sail-sg/Video-Next-Event-Prediction, ``futurebench.yaml`` + ``utils.py`` vendored unmodified
in ``tests/data/vendor/futurebench``) runs on our export through lmms-eval's own
TaskManager to a score, while our items as they are break it (``IndexError`` on an absolute
path, ``AttributeError`` on a text-level item, ``KeyError('interp')`` in its aggregation)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner
from venvs import ensure_venv

from nextevent.audit import TextVectors
from nextevent.bench.build import build_items, load_annotation_stories, write_items
from nextevent.bench.export_futurebench import (
    FutureBenchExport,
    configure_official_yaml,
    export_futurebench,
)
from nextevent.bench.prompts import response_choice
from nextevent.cli import app
from nextevent.records import BenchItem, NextEventError

VENDOR = Path(__file__).resolve().parent / "data" / "vendor" / "futurebench"
UTILS_BLOB = "1fbe69e3552ef026e3770c47aa78d6b2c070b0f9"  # git blob of the official utils.py
LMMS_EVAL = [["lmms_eval==0.7.3"]]  # the venv of test_bench_lmms.py (same key: one venv)
DISAGREE = "<think>Options A..D. Clearly C.</think> C"

# Runs inside the lmms-eval venv on the official task folder (vendored utils.py as is, the
# vendored YAML with dataset_path / cache_dir set): TaskManager -> the task's own
# test_docs (load_from_disk), doc_to_visual, doc_to_text, process_results, aggregation.
PROBE = r"""
import json, sys
import datasets
from lmms_eval.tasks import TaskManager, get_task_dict
from nextevent.bench.prompts import PRE_PROMPTS, question_text
task_dir, interp_dir, responses = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
tm = TaskManager(include_path=task_dir, include_defaults=False, model_name="qwen2_5_vl")
task = get_task_dict(["futurebench"], tm)["futurebench"]
official = task.config.doc_to_visual.__globals__  # the official utils module's names
docs = list(task.test_docs())
scored = [task.process_results(d, [responses[d["id"]]])["future_acc"] for d in docs]
out = {"ids": [d["id"] for d in docs], "types": [d["question_type"] for d in docs],
       "video_paths": [d["video_path"] for d in docs],
       "visuals": [task.doc_to_visual(d) for d in docs],
       "preds": [s["pred_answer"] for s in scored],
       "score": task.aggregation()["future_acc"](scored),
       "direct_text_is_ours": [task.doc_to_text(d) == question_text(
           d["qa"]["Question"], d["qa"]["Options"], "direct") for d in docs],
       "reasoning_text_is_ours": [official["future_pred_doc_to_text"](
           d, {"pre_prompt": PRE_PROMPTS["reasoning"], "post_prompt": ""}) == question_text(
           d["qa"]["Question"], d["qa"]["Options"], "reasoning") for d in docs],
       "official_reads_disagree_as": official["future_pred_process_results"](
           docs[0], [sys.argv[4]])["future_acc"]["pred_answer"]}
def error(fn, *args):
    try:
        fn(*args)
    except Exception as err:
        return type(err).__name__ + ": " + str(err)
    return None
visual = official["future_pred_doc_to_visual"]
interp = list(datasets.load_from_disk(interp_dir)["test"])
out["interp_visuals"] = [visual(d) for d in interp]
out["errors"] = {
    "absolute_path": error(visual, {"video_path": sys.argv[5]}),
    "text_level": error(visual, {"video_path": None}),
    "interp_aggregation": error(official["future_pred_aggregate_results"],
        [official["future_pred_process_results"](d, ["A"])["future_acc"] for d in interp]),
}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def items(annotations: Path, tmp_path_factory: pytest.TempPathFactory,
          bunny: Path, bikes: Path) -> list[BenchItem]:
    """Items `bench build` makes from real ActivityNet annotations, their past clips laid
    out as a run directory does (``clips/<record>/past.mp4``; a record's items share
    one), two items left text level; two hop2 items relabelled hop3 / hop5 so that every
    official type occurs (a 30-story build makes none)."""
    stories = load_annotation_stories(annotations / "activitynet_val_subset.json",
                                      "activitynet").stories[:30]
    built = build_items(stories, seed=0, types=["hop1", "hop2", "interp"],
                        vectors=TextVectors()).items
    hop2 = [k for k, i in enumerate(built) if i.question_type == "hop2"]
    for k, qtype in zip(hop2[:2], ("hop3", "hop5"), strict=True):
        built[k] = built[k].model_copy(update={"question_type": qtype,
                                               "id": built[k].id.replace("hop2", qtype)})
    clips = tmp_path_factory.mktemp("run") / "clips"
    out = []
    for k, item in enumerate(built):
        if k in (1, 2):
            out.append(item)  # text level: no clip
            continue
        record = item.meta["source_record"]
        clip = clips / record / "past.mp4"
        if not clip.exists():
            clip.parent.mkdir(parents=True)
            shutil.copyfile(bunny if len(out) % 2 else bikes, clip)
        out.append(item.model_copy(update={"video_path": str(clip)}))
    assert {i.question_type for i in out} == {"hop1", "hop2", "hop3", "hop5", "interp"}
    return out


def export_cli(items: list[BenchItem], root: Path, python: Path | None = None,
               env: dict[str, str] | None = None) -> str:
    """`nextevent bench export --layout futurebench ROOT` (in-process, or with ``python``)."""
    bench = root.parent / f"{root.name}.bench.jsonl"
    write_items(items, bench)
    args = ["bench", "export", str(root), "--layout", "futurebench", "--bench", str(bench)]
    if python is None:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        return result.output
    proc = subprocess.run([str(python), "-m", "nextevent", *args], capture_output=True,
                          text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def answer_for(item: BenchItem, k: int) -> str:
    """A response shape per item (right: bare, phrase, answer block; wrong: bare)."""
    gold = item.qa.Answer
    wrong = "ABCD"[("ABCD".index(gold) + 1) % 4]
    return [gold, f"The answer is ({gold}).", wrong,
            f"<think>It fits best.</think><answer>{gold}</answer>"][k % 4]


def test_official_task_runs_our_export_to_a_score(items: list[BenchItem],
                                                  tmp_path: Path) -> None:
    python = ensure_venv("lmms-eval", LMMS_EVAL, timeout_s=1500, remove=["torchvision"])
    env = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}
    root = tmp_path / "V1-33K"
    # the lmms-eval environment has datasets: the export saves the datasets itself
    printed = export_cli(items, root, python, env)
    assert f"wrote {root / 'futurebench'}: the saved dataset" in printed
    assert f"dataset_path: {root / 'futurebench'}" in printed
    assert f"cache_dir: {root / 'video_dataset'}{os.sep}" in printed
    # the official task folder: utils.py exactly as published, the YAML's two paths set
    task_dir = tmp_path / "official_task"
    task_dir.mkdir()
    utils = (VENDOR / "utils.py").read_bytes()
    assert hashlib.sha1(b"blob %d\0" % len(utils) + utils).hexdigest() == UTILS_BLOB
    (task_dir / "utils.py").write_bytes(utils)
    yaml_text = configure_official_yaml((VENDOR / "futurebench.yaml").read_text(),
                                        FutureBenchExport(root=root))
    (task_dir / "futurebench.yaml").write_text(yaml_text)
    changed = [(a, b) for a, b in zip((VENDOR / "futurebench.yaml").read_text().splitlines(),
                                      yaml_text.splitlines(), strict=True) if a != b]
    assert [b.split(":")[0].strip() for _, b in changed] == ["dataset_path", "cache_dir"]

    with_clip = {i.id: i for i in items if i.video_path is not None}
    responses = {i.id: answer_for(i, k) for k, i in enumerate(with_clip.values())}
    proc = subprocess.run([str(python), "-c", PROBE, str(task_dir),
                           str(root / "futurebench_interp"), json.dumps(responses), DISAGREE,
                           next(iter(with_clip.values())).video_path],  # our absolute path
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])

    hops = [i for i in with_clip.values() if i.question_type != "interp"]
    assert out["ids"] == [i.id for i in hops]  # hop items with a clip, in order
    assert set(out["types"]) == {"hop1", "hop2", "hop3", "hop5"}
    for path, visual in zip(out["video_paths"], out["visuals"], strict=True):
        assert path.startswith("video_dataset/") and not Path(path).is_absolute()
        assert visual == [str(root / path)] and Path(visual[0]).is_file()
    # the official score is ours: same letters as bench eval's reading, same accuracy
    ours = [response_choice(responses[i], "direct") for i in out["ids"]]
    assert out["preds"] == ours
    right = sum(c == with_clip[i].qa.Answer for c, i in zip(ours, out["ids"], strict=True))
    assert 0 < right < len(hops)
    assert out["score"] == pytest.approx(100 * right / len(hops))
    assert all(out["direct_text_is_ours"]) and all(out["reasoning_text_is_ours"])
    # where the published rule is loose, ours is not: it reads the thinking's "A"
    assert out["official_reads_disagree_as"] == "A"
    assert response_choice(DISAGREE, "direct") == "C"
    # the interp file has clips the official task finds, but its aggregation cannot score it
    assert len(out["interp_visuals"]) == sum(i.question_type == "interp"
                                             for i in with_clip.values()) > 0
    assert all(Path(v[0]).is_file() for v in out["interp_visuals"])
    # our items as they are: what the issue reports
    assert out["errors"]["absolute_path"].startswith("IndexError")
    assert out["errors"]["text_level"].startswith("AttributeError")
    assert out["errors"]["interp_aggregation"] == "KeyError: 'interp'"


def test_layout_files_clips_and_message(items: list[BenchItem], tmp_path: Path) -> None:
    root = tmp_path / "root"
    printed = export_cli(items, root)
    hop = json.loads((root / "futurebench.json").read_text())
    interp = json.loads((root / "futurebench_interp.json").read_text())
    text_level = json.loads((root / "futurebench_text_level.json").read_text())
    with_clip = [i for i in items if i.video_path is not None]
    assert [d["id"] for d in hop] == [i.id for i in with_clip if i.question_type != "interp"]
    assert [d["id"] for d in interp] == [i.id for i in with_clip if i.question_type == "interp"]
    assert [d["id"] for d in text_level] == [items[1].id, items[2].id]
    assert all(d["video_path"] is None and d["past_caption"] for d in text_level)
    by_id = {i.id: i for i in items}
    for d in hop + interp:
        item = by_id[d["id"]]
        assert set(d) == {"id", "video_path", "question_type", "qa"}
        assert d["qa"] == {"Question": item.qa.Question, "Options": item.qa.Options,
                           "Answer": item.qa.Answer}
        record = item.meta["source_record"]
        assert d["video_path"] == f"video_dataset/{record}/past.mp4"  # the run's layout
        clip = root / d["video_path"]
        assert os.path.samefile(clip, item.video_path)  # hard-linked, not copied
    clips = {i.video_path for i in with_clip}
    assert len(list((root / "video_dataset").rglob("*.mp4"))) == len(clips)
    for line in (f"wrote {root / 'futurebench.json'}: {len(hop)} hop items",
                 f"wrote {root / 'futurebench_interp.json'}: {len(interp)} interp items",
                 f"wrote {root / 'futurebench_text_level.json'}: 2 text-level items",
                 f"wrote {root / 'video_dataset'}{os.sep}: {len(clips)} clips "
                 f"({len(clips)} hard-linked, 0 copied, 0 already there)",
                 f"dataset_path: {root / 'futurebench'}",
                 f"cache_dir: {root / 'video_dataset'}{os.sep}"):
        assert line in printed, printed
    assert "gen_dataset" in printed or "the saved dataset" in printed

    # a rerun without the interp items: clips already there, no stale interp file left
    again = export_cli([i for i in items if i.question_type != "interp"], root)
    assert not (root / "futurebench_interp.json").exists()
    assert "0 hard-linked, 0 copied" in again and "interp" not in again.split("clips")[0]


def test_what_the_official_task_cannot_show_is_refused(items: list[BenchItem],
                                                       tmp_path: Path) -> None:
    text_level = [i.model_copy(update={"video_path": None}) for i in items]
    bench = tmp_path / "text.jsonl"
    write_items(text_level, bench)
    result = CliRunner().invoke(app, ["bench", "export", str(tmp_path / "r"), "--layout",
                                      "futurebench", "--bench", str(bench)])
    assert result.exit_code == 2 and "has a past clip" in result.output, result.output
    assert "futurebench_local_text_only" in result.output
    gone = [items[0].model_copy(update={"video_path": str(tmp_path / "gone.mp4")})]
    with pytest.raises(NextEventError, match="do not exist"):
        export_futurebench(gone, tmp_path / "r2")
    bad = CliRunner().invoke(app, ["bench", "export", str(tmp_path / "r"), "--layout",
                                   "official", "--bench", str(bench)])
    assert bad.exit_code == 2 and "--layout must be one of futurebench, lmms-eval" in bad.output
