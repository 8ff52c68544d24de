"""`nextevent bench export-lmms-eval`: the task folder loads through lmms-eval's own
TaskManager (``include_path``) in its own venv, and its process_results / aggregation
score documents exactly."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from typer.testing import CliRunner
from venvs import ensure_venv

from nextevent.bench.build import write_items
from nextevent.cli import app
from nextevent.records import MCQ, BenchItem

LMMS_EVAL = [["lmms_eval==0.7.3"]]

# Runs inside the lmms-eval venv: lmms_eval.tasks.TaskManager / get_task_dict
# (EvolvingLMMs-Lab/lmms-eval v0.7.3, lmms_eval/tasks/__init__.py), then the task's own
# doc_to_text / doc_to_visual / process_results / aggregation (lmms_eval/api/task.py).
PROBE = r"""
import json, sys
from lmms_eval.tasks import TaskManager, get_task_dict
tm = TaskManager(include_path=sys.argv[1], include_defaults=False)
assert "futurebench_local" in tm.all_tasks, tm.all_tasks
task = get_task_dict(["futurebench_local"], tm)["futurebench_local"]
docs = list(task.test_docs())
responses = json.loads(sys.argv[2])
scored = [task.process_results(d, [r]) for d, r in zip(docs, responses)]
agg = task.aggregation()["futurebench_accuracy"]([s["futurebench_accuracy"] for s in scored])
print(json.dumps({"n": len(docs), "text": task.doc_to_text(docs[0]),
                  "visual": task.doc_to_visual(docs[0]), "accuracy": agg,
                  "visual1": task.doc_to_visual(docs[1]), "text1": task.doc_to_text(docs[1]),
                  "preds": [s["futurebench_accuracy"]["pred"] for s in scored]}))
"""


def test_export_loads_in_lmms_eval_and_scores(tmp_path: Path, bunny: Path) -> None:
    python = ensure_venv("lmms-eval", LMMS_EVAL, timeout_s=1500, remove=["torchvision"])
    items = [BenchItem(id=f"v{i}:hop{1 + i % 2}", video_path=str(bunny) if i % 2 else None,
                       question_type=f"hop{1 + i % 2}",  # type: ignore[arg-type]
                       qa=MCQ(Question=f"What happens next in clip {i}?",
                              Options={x: f"event {x}{i}" for x in "ABCD"},
                              Answer="ABCD"[i % 4]),
                       meta={"past_caption": f"the past of clip {i}"}) for i in range(4)]
    bench = tmp_path / "bench.jsonl"
    write_items(items, bench)
    task_dir = tmp_path / "task"
    result = CliRunner().invoke(app, ["bench", "export-lmms-eval", str(task_dir), "--bench",
                                      str(bench)])
    assert result.exit_code == 0, result.output
    # answers: right (A), reasoning block right (B), the article "A man" (no answer), wrong
    responses = ["A", "<think>hmm</think><answer>B</answer>", "A man walks in.", "B"]
    proc = subprocess.run([str(python), "-c", PROBE, str(task_dir), json.dumps(responses)],
                          capture_output=True, text=True, timeout=600,
                          env={"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
                               "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["n"] == 4
    assert out["preds"] == ["A", "B", None, "B"]
    assert out["accuracy"] == 50.0
    assert "What happens next in clip 0?" in out["text"] and "A. event A0" in out["text"]
    assert "the past of clip 0" in out["text"]  # text-level item: past as text
    assert out["visual"] == []
    assert out["visual1"] == [str(bunny)]  # video item: the past clip, no caption
    assert "the past of clip 1" not in out["text1"]
