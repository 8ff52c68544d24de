"""Exports load in the training engines' own code, and train in TRL.

Each engine runs in its own cached venv (`venvs.ensure_venv`, ``.cache/venvs/``; the first
run installs it, about a minute each, later runs reuse it):

* LLaMA-Factory 0.9.5: its dataset parser and sharegpt converter on the SFT (with a
  validation split), Distill (system tag), CFT, MCQA and DPO (``ranking``) exports, and
  its argument dataclasses on the training YAMLs (`llamafactory_check`).
* TRL 1.16.0: ``SFTTrainer`` 2 optimizer steps and ``GRPOTrainer`` 1 step with
  nextevent's TRL rewards, on a tiny random Qwen2-VL built locally (`trl_proof`), fed the
  TRL export of a real build of the sample videos (frames of the past clips).
* verl 0.9.1: its ``RLHFDataset`` reads the Parquet export and builds the video messages,
  and its ``get_custom_reward_fn`` loads nextevent's verl reward file, which scores the
  rows' ground truth (`verl_check`).
* EasyR1 (not on PyPI) and the HF folder: read with ``datasets`` (TRL's venv) as EasyR1's
  ``RLHFDataset`` reads them, the format prompt rendered as it renders it.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.export import (
    export_easyr1,
    export_hf,
    export_llamafactory,
    export_trl,
    export_verl,
)
from nextevent.export.strategies import CFT_SYSTEM, DISTILL_SYSTEM
from nextevent.sources.v1 import import_v1
from nextevent.store import read_records

pytest.importorskip("pyarrow")
from llamafactory_check import check_llamafactory_dataset, run_llamafactory  # noqa: E402
from venvs import ensure_venv  # noqa: E402

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples" / "sample_events.jsonl"
V1_FIXTURE = HERE / "data" / "export" / "next_event_prediction_v1.json"
TRL_INSTALLS = (("trl==1.16.0",),)
VERL_INSTALLS = (  # verl's own pins for what rl_dataset and reward import, nothing it trains with
    ("--no-deps", "verl==0.9.1"),
    ("transformers>=5.5.3,<5.11,!=5.6.0", "datasets", "omegaconf", "hydra-core",
     "tensordict==0.10.0", "ray", "codetiming", "pylatexenc", "dill", "qwen-vl-utils"),
)
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "2"}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("run") / "sample"
    result = CliRunner().invoke(app, [
        "build", "--videos", str(sample_dir), "--annotations", str(EXAMPLES), "--out", str(out),
        "--splits-per-video", "2", "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def v1_run(tmp_path_factory: pytest.TempPathFactory, bunny: Path, bikes: Path):
    """V1-33K records (reasoning, critique, QA) with their videos in the release layout."""
    root = tmp_path_factory.mktemp("v1")
    for n, entry in enumerate(json.loads(V1_FIXTURE.read_text(encoding="utf-8"))):
        for key in ("video_path", "full_video_path"):
            (root / entry[key]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(bunny if n % 2 == 0 else bikes, root / entry[key])
    records, failures = import_v1(V1_FIXTURE)
    assert failures == []
    return records, root


def run_in(python: Path, *args: str, timeout: int = 600) -> dict:
    proc = subprocess.run([str(python), *args], capture_output=True, text=True,
                          timeout=timeout, env={"PATH": "/usr/bin:/bin", **OFFLINE,
                                                "HOME": str(Path.home())})
    for line in proc.stdout.splitlines():
        if line.startswith("NEXTEVENT_RESULT "):
            return json.loads(line[len("NEXTEVENT_RESULT "):])
    raise AssertionError(f"{args[0]} failed ({proc.returncode}):\n"
                         f"{(proc.stdout + proc.stderr)[-5000:]}")


# ---------------------------------------------------------------------- LLaMA-Factory


def test_llamafactory_converter_loads_every_format(sample_run: Path, v1_run, tmp_path: Path):
    records, v1_root = v1_run
    out = tmp_path / "lf"
    sft = export_llamafactory(read_records(sample_run / "records.jsonl"), sample_run, out,
                              val_fraction=0.5)
    v1 = {s: export_llamafactory(records, tmp_path, out, strategy=s, media_root=v1_root,
                                 **({"cft_ratio": 1.0} if s == "cft" else {}),
                                 **({"dpo_pairs": "reference"} if s == "dpo" else {}))
          for s in ("distill", "cft", "mcqa", "dpo")}
    names = ["nextevent_nep_sft", "nextevent_nep_sft_validation",
             *(f"nextevent_{s}" for s in v1)]
    configs = [Path(p) for p in sft.summary["configs"] + v1["dpo"].summary["configs"]]
    result = run_llamafactory(out, names, media_dir=v1_root, configs=configs)
    got = result["datasets"]

    assert got["nextevent_nep_sft"]["converted"] + got["nextevent_nep_sft_validation"][
        "converted"] == sft.count == 4
    for s, exported in v1.items():
        assert got[f"nextevent_{s}"]["converted"] == exported.count > 0, (s, got[f"nextevent_{s}"])
        assert got[f"nextevent_{s}"]["problems"] == []
    first_sft = got["nextevent_nep_sft"]["first"]
    assert first_sft["_system"] == "" and len(first_sft["_videos"]) == 1
    assert got["nextevent_distill"]["system_tag"] == "system"
    assert got["nextevent_distill"]["first"]["_system"] == DISTILL_SYSTEM
    assert got["nextevent_distill"]["first"]["_response"][0]["content"].startswith("<think>")
    assert got["nextevent_cft"]["first"]["_system"] == CFT_SYSTEM
    dpo = got["nextevent_dpo"]
    assert dpo["ranking"] is True and len(dpo["first"]["_response"]) == 2
    assert dpo["first"]["_response"][0]["content"] == records[1].caption_part2  # chosen
    assert dpo["first"]["_videos"] == [str(v1_root / records[1].extra["video_path"])]
    for path, checked in result["configs"].items():
        assert checked["unknown"] == [], path
        cfg = checked["config"]
        assert cfg["freeze_vision_tower"] is True and cfg["freeze_multi_modal_projector"]
        assert {"video_max_pixels", "video_maxlen", "video_fps"} <= set(cfg)
    stages = {Path(p).name: c["config"]["stage"] for p, c in result["configs"].items()}
    assert stages["nextevent_dpo_qwen2_5_vl_7b_lora.yaml"] == "dpo"
    assert stages["nextevent_nep_sft_qwen2_5_vl_7b_full.yaml"] == "sft"
    # the shared helper agrees
    assert check_llamafactory_dataset(out, "nextevent_mcqa", v1_root) == v1["mcqa"].count


# ---------------------------------------------------------------------- TRL


def test_trl_sft_and_grpo_train_on_the_export(sample_run: Path, tmp_path: Path):
    export = export_trl(read_records(sample_run / "records.jsonl"), sample_run, tmp_path / "trl",
                        frames=4)
    assert export.count == 4 and export.failures == []
    python = ensure_venv("trl", TRL_INSTALLS)
    got = run_in(python, str(HERE / "trl_proof.py"), str(tmp_path / "trl"), str(tmp_path / "w"))

    assert got["trl"] == "1.16.0" and got["rows"] == 4
    assert got["image_type"].endswith("ImageFile") and all(2 <= n <= 4 for n in
                                                             got["images_per_row"])
    assert got["sft_steps"] == 2 and len(got["sft_losses"]) == 2
    assert all(math.isfinite(x) and x > 0 for x in got["sft_losses"])
    assert got["grpo_steps"] == 1 and math.isfinite(got["grpo_train_loss"])
    assert got["finite"] is True
    exported = {r.id: r.caption_part2 for r in read_records(sample_run / "records.jsonl")}
    names = {c["reward"] for c in got["reward_calls"]}
    assert names == {"nep_reward", "format_reward"}
    for call in got["reward_calls"]:
        assert call["n"] == len(call["ground_truth"]) == len(call["scores"]) >= 2
        for rid, truth in zip(call["record_id"], call["ground_truth"], strict=True):
            assert truth == exported[rid]  # the exported caption_part2 reached the reward
        assert all(0.0 <= s <= 1.0 for s in call["scores"])
    (log,) = got["grpo_logs"]
    assert "rewards/nep_reward/mean" in log and "rewards/format_reward/mean" in log


# ---------------------------------------------------------------------- DPO from verdicts

VERDICTS = (("right", "wrong", "wrong"), ("wrong", "right", "right"), ("right", "wrong", "right"),
            ("wrong", "right", "wrong"))


def judged_records(run: Path) -> list:
    """The run's records, each given 3 rewritten predictions with planned verdicts."""
    from nextevent.records import Critique, PredictionSample, Reasoning

    out = []
    for n, record in enumerate(read_records(run / "records.jsonl")):
        samples = []
        for i, verdict in enumerate(VERDICTS[n % len(VERDICTS)]):
            text = f"Sample {i} of {record.id}: what follows is {verdict}."
            samples.append(PredictionSample(index=i, seed=i or None, reasoning=Reasoning(
                reasoning_content=f"Thinking {i}.", prediction_content=text,
                rewritten_reasoning_content=f"The video shows step {i}.",
                rewritten_prediction_content=text),
                critique=Critique(critique=f"It is {verdict}.", conclusion=verdict)))
        out.append(record.with_predictions(samples))
    return out


def test_dpo_from_verdicts_loads_in_llamafactory_and_trains_in_trl(sample_run: Path,
                                                                   tmp_path: Path):
    records = judged_records(sample_run)
    lf = export_llamafactory(records, sample_run, tmp_path / "lf", strategy="dpo")
    assert lf.count == 2 * len(records) and lf.failures == []  # 1 right x 2 wrong, or 2 x 1
    got = run_llamafactory(tmp_path / "lf", ["nextevent_dpo"])["datasets"]["nextevent_dpo"]
    assert got["ranking"] is True and got["converted"] == lf.count and got["problems"] == []
    first = got["first"]
    assert first["_system"] == DISTILL_SYSTEM and len(first["_response"]) == 2
    chosen, rejected = (m["content"] for m in first["_response"])
    assert "is right." in chosen and "is wrong." in rejected

    trl_dpo = export_trl(records, sample_run, tmp_path / "trl_dpo", strategy="dpo", frames=2)
    assert trl_dpo.count == 2 * len(records)
    python = ensure_venv("trl", TRL_INSTALLS)
    got = run_in(python, str(HERE / "trl_proof.py"), "dpo", str(tmp_path / "trl_dpo"),
                 str(tmp_path / "w"))
    assert got["trl"] == "1.16.0" and got["rows"] == trl_dpo.count
    assert {"prompt", "chosen", "rejected", "images"} <= set(got["columns"])
    assert all(1 <= n <= 2 for n in got["images_per_row"])
    assert got["dpo_steps"] == 1 and got["finite"] is True
    (log,) = got["dpo_logs"]
    assert math.isfinite(log["loss"])


# ---------------------------------------------------------------------- verl, EasyR1, HF

_READ = r'''
import json, sys
import datasets
from jinja2 import Template
verl_dir, easyr1_dir, hf_dir = sys.argv[1:4]
out = {}
# verl: RLHFDataset reads Parquet with datasets.load_dataset("parquet") and splits the
# messages on the media tags (verl/utils/dataset/rl_dataset.py, _build_messages)
verl = datasets.load_dataset("parquet", data_files=verl_dir + "/train.parquet", split="train")
row = verl[0]
out["verl"] = {"columns": verl.column_names, "rows": len(verl), "row": row,
               "slots": sum(m["content"].count("<video>") for m in row["prompt"])}
# EasyR1: load_dataset("json") for .jsonl; the format prompt is rendered with
# Template(text.strip()).render(content=prompt) before the split on <video>
easy = datasets.load_dataset("json", data_files=easyr1_dir + "/nep_train.jsonl", split="train")
text = open(easyr1_dir + "/nep_format.jinja").read()
rendered = Template(text.strip()).render(content=easy[0]["problem"])
out["easyr1"] = {"columns": easy.column_names, "rows": len(easy), "rendered": rendered,
                 "videos": easy[0]["videos"]}
hf = datasets.load_dataset(hf_dir)
out["hf"] = {split: {"rows": len(d), "columns": d.column_names} for split, d in hf.items()}
print("NEXTEVENT_RESULT " + json.dumps(out, default=str))
'''


def test_verl_easyr1_hf_files_load_as_those_engines_read_them(sample_run: Path, tmp_path: Path):
    records = list(read_records(sample_run / "records.jsonl"))
    verl = export_verl(records, sample_run, tmp_path / "verl")
    easy = export_easyr1(records, sample_run, tmp_path / "easyr1", strategy="whats-next")
    hf = export_hf(records, sample_run, tmp_path / "hf", val_fraction=0.5)
    assert verl.count == easy.count == hf.count == 4
    python = ensure_venv("trl", TRL_INSTALLS)
    script = tmp_path / "read.py"
    script.write_text(_READ)
    got = run_in(python, str(script), str(tmp_path / "verl"), str(tmp_path / "easyr1"),
                 str(tmp_path / "hf"))

    v = got["verl"]
    assert {"data_source", "prompt", "videos", "ability", "reward_model",
            "extra_info"} <= set(v["columns"])
    row = v["row"]
    assert row["data_source"] == "nextevent/nep" and v["slots"] == len(row["videos"]) == 1
    assert row["reward_model"] == {"style": "rule",
                                   "ground_truth": records[0].caption_part2}
    assert row["extra_info"]["record_id"] == records[0].id and Path(row["videos"][0]).is_file()

    e = got["easyr1"]
    assert set(e["columns"]) == {"problem", "answer", "videos"} and e["rows"] == 4
    assert e["rendered"].startswith("<video>") and e["rendered"].count("<video>") == 1
    assert "<think> </think>" in e["rendered"] and "<answer> </answer>" in e["rendered"]
    launch = tmp_path / "easyr1" / "train_grpo.sh"
    assert subprocess.run(["bash", "-n", str(launch)]).returncode == 0  # parses as bash
    script_text = launch.read_text()
    assert "easyr1_reward.py:compute_score" in script_text
    assert f'data.format_prompt="{(tmp_path / "easyr1" / "nep_format.jinja").resolve()}"' in \
        script_text

    assert set(got["hf"]) == {"train", "validation"}
    assert got["hf"]["train"]["rows"] + got["hf"]["validation"]["rows"] == 4
    assert "question" in got["hf"]["train"]["columns"]


def test_verl_reads_the_export_and_scores_it(sample_run: Path, tmp_path: Path):
    records = {r.id: r for r in read_records(sample_run / "records.jsonl")}
    export = export_verl(records.values(), sample_run, tmp_path / "verl")
    assert export.count == 4
    python = ensure_venv("verl", VERL_INSTALLS)
    got = run_in(python, str(HERE / "verl_check.py"), str(tmp_path / "verl" / "train.parquet"),
                 str(tmp_path / "w"))
    assert got["rows"] == 4
    for item in got["items"]:
        record = records[item["record_id"]]
        (user,) = item["raw_prompt"]
        video, text = user["content"]
        assert video == {"type": "video", "video": str((sample_run / record.past.path).resolve())}
        assert text["type"] == "text" and text["text"]
        assert item["data_source"] == "nextevent/nep"
        assert item["ground_truth"] == record.caption_part2
        assert item["exact"] == {"score": 1.0, "format": 1.0, "accuracy": 1.0}
        assert item["off"]["score"] < 0.6 and item["off"]["format"] == 0.0
