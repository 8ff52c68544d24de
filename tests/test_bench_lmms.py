"""`nextevent bench export --layout lmms-eval`: the four tasks (direct / reasoning, clip /
text only) load through lmms-eval's own TaskManager (``include_path``) in its own venv,
for a real model name, and their prompts, visuals, process_results and aggregation on a
battery of real response shapes are what `nextevent bench eval` sends and reads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner
from venvs import ensure_venv

from nextevent.bench.build import write_items
from nextevent.bench.export_lmms import TASK_NAMES
from nextevent.bench.prompts import response_choice
from nextevent.cli import app
from nextevent.records import MCQ, BenchItem

LMMS_EVAL = [["lmms_eval==0.7.3"]]
MODEL = "qwen2_5_vl"  # a real lmms-eval model name: kwargs blocks are matched against it

# Runs inside the lmms-eval venv: lmms_eval.tasks.TaskManager / get_task_dict
# (EvolvingLMMs-Lab/lmms-eval v0.7.3, lmms_eval/tasks/__init__.py), then each task's own
# doc_to_text / doc_to_visual / process_results / aggregation (lmms_eval/api/task.py).
PROBE = r"""
import json, sys
from lmms_eval.tasks import TaskManager, get_task_dict
task_dir, model = sys.argv[1], sys.argv[4]
names, responses = json.loads(sys.argv[2]), json.loads(sys.argv[3])
tm = TaskManager(include_path=task_dir, include_defaults=False, model_name=model)
assert set(names) <= set(tm.all_tasks), tm.all_tasks
tasks = get_task_dict(names, tm)
out = {}
for name in names:
    task = tasks[name]
    docs = list(task.test_docs())
    preds, accuracy = [], []
    for r in responses:
        scored = [task.process_results(d, [r])["futurebench_accuracy"] for d in docs]
        preds.append([s["pred"] for s in scored])
        accuracy.append(task.aggregation()["futurebench_accuracy"](scored))
    out[name] = {"n": len(docs), "ids": [d["id"] for d in docs],
                 "texts": [task.doc_to_text(d) for d in docs],
                 "visuals": [task.doc_to_visual(d) for d in docs],
                 "max_new_tokens": task.config.generation_kwargs["max_new_tokens"],
                 "preds": preds, "accuracy": accuracy}
print(json.dumps(out))
"""

OPTIONS = ["he opens the door", "she pours the tea", "the dog runs off", "they sit down"]
# A real response battery: answer blocks, thinking then a bare letter, bare letters,
# option text, an article, garbage, cut-off thinking, an empty response.
RESPONSES = [
    "<think>She reaches for the pot.</think><answer>B</answer>",
    "<answer>(C)</answer>",
    "<think>Options A..D. Clearly C.</think> C",
    "<think>A seems wrong, so D.</think>\nD",
    "A", "B.", "The answer is (D).", "**C**",
    "she pours the tea", "A man walks in.", "asdf qwerty 123 ???", "<think>Option B, since",
    "",
]


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory, bunny: Path) -> dict:
    python = ensure_venv("lmms-eval", LMMS_EVAL, timeout_s=1500, remove=["torchvision"])
    tmp = tmp_path_factory.mktemp("lmms")
    items = [BenchItem(id=f"v{i}:hop{1 + i % 2}", video_path=str(bunny) if i % 2 else None,
                       question_type=f"hop{1 + i % 2}",  # type: ignore[arg-type]
                       qa=MCQ(Question=f"What happens next in clip {i}?",
                              Options=dict(zip("ABCD", OPTIONS, strict=True)),
                              Answer="ABCD"[i % 4]),
                       meta={"past_caption": f"the past of clip {i}"}) for i in range(4)]
    bench = tmp / "bench.jsonl"
    write_items(items, bench)
    task_dir = tmp / "task"
    result = CliRunner().invoke(app, ["bench", "export", str(task_dir), "--layout",
                                      "lmms-eval", "--bench", str(bench)])
    assert result.exit_code == 0, result.output
    assert all(name in result.output for name in TASK_NAMES.values())
    proc = subprocess.run([str(python), "-c", PROBE, str(task_dir),
                           json.dumps(list(TASK_NAMES.values())), json.dumps(RESPONSES), MODEL],
                          capture_output=True, text=True, timeout=600,
                          env={"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
                               "PATH": "/usr/bin:/bin", "HOME": str(tmp)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"items": items, "bunny": str(bunny),
            "tasks": json.loads(proc.stdout.strip().splitlines()[-1])}


def test_every_task_name_loads_with_its_own_input(probe: dict) -> None:
    tasks, bunny = probe["tasks"], probe["bunny"]
    options = "\n".join(f"{x}. {o}" for x, o in zip("ABCD", OPTIONS, strict=True))
    for (mode, text_only), name in TASK_NAMES.items():
        got = tasks[name]
        assert got["n"] == 4 and got["ids"] == [i.id for i in probe["items"]]
        assert got["max_new_tokens"] == (16 if mode == "direct" else 2048)
        for k, (text, visual) in enumerate(zip(got["texts"], got["visuals"], strict=True)):
            has_clip = k % 2 == 1
            assert visual == ([bunny] if has_clip and not text_only else [])
            past = (f"What happened so far (in place of the video): the past of clip {k}\n"
                    if text_only or not has_clip else "")
            body = f"{past}What happens next in clip {k}?\n{options}\n"
            if mode == "direct":  # the published whitespace, for a real model name
                assert text == ("\n" + body
                                + "\nAnswer with the option's letter from the given choices "
                                "directly.")
            else:
                assert text.startswith("You FIRST think about the reasoning process")
                assert text.endswith("tags.\n" + body)


def test_extraction_is_bench_evals_on_a_response_battery(probe: dict) -> None:
    tasks, items = probe["tasks"], probe["items"]
    for (mode, _), name in TASK_NAMES.items():
        got = tasks[name]
        for response, preds, accuracy in zip(RESPONSES, got["preds"], got["accuracy"],
                                             strict=True):
            expected = response_choice(response, mode)  # what bench eval reads
            assert preds == [expected] * 4, (name, response)
            right = sum(i.qa.Answer == expected for i in items)
            assert accuracy == 100.0 * right / 4
    direct = dict(zip(RESPONSES, (p[0] for p in tasks["futurebench_local"]["preds"]),
                      strict=True))
    reasoning = dict(zip(RESPONSES, (p[0] for p in tasks["futurebench_local_reasoning"]["preds"]),
                         strict=True))
    assert direct["<think>Options A..D. Clearly C.</think> C"] == "C"  # the case
    assert direct["<think>A seems wrong, so D.</think>\nD"] == "D"
    assert [direct[r] for r in RESPONSES[:2] + RESPONSES[4:8]] == ["B", "C", "A", "B", "D", "C"]
    assert [direct[r] for r in RESPONSES[8:]] == [None] * 5  # text, article, garbage, cut, ""
    assert reasoning["<think>Options A..D. Clearly C.</think> C"] is None  # no <answer>
    assert [reasoning[r] for r in RESPONSES[:2]] == ["B", "C"]
