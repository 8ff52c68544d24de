"""Read a verl export with verl's own ``RLHFDataset`` and score it with the reward file verl
loads (run in verl's venv). Usage: ``python verl_check.py <train.parquet> <work dir>``;
prints ``NEXTEVENT_RESULT <json>``.

``RLHFDataset`` (verl 0.9.1 ``verl/utils/dataset/rl_dataset.py``) needs a tokenizer and, for
video rows, a processor: the tiny local ones of `trl_proof` (no download). The reward is
loaded by verl's ``get_custom_reward_fn`` (``verl/trainer/ppo/reward.py``) from
``reward.custom_reward_function.path`` = nextevent's ``verl_reward.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import datasets
from omegaconf import OmegaConf
from verl.trainer.ppo.reward import get_custom_reward_fn
from verl.utils.dataset.rl_dataset import RLHFDataset

from nextevent.rewards.engines import adapter_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trl_proof import build_processor, build_tokenizer  # noqa: E402


def main(parquet: Path, workdir: Path) -> dict:
    rows = datasets.load_dataset("parquet", data_files=str(parquet), split="train")
    tokenizer = build_tokenizer([m["content"] for r in rows for m in r["prompt"]], workdir)
    processor = build_processor(tokenizer)
    config = OmegaConf.create({"filter_overlong_prompts": False,
                               "cache_dir": str(workdir / "cache")})
    dataset = RLHFDataset(data_files=[str(parquet)], tokenizer=tokenizer, config=config,
                          processor=processor)
    reward = get_custom_reward_fn(OmegaConf.create({"reward": {"custom_reward_function": {
        "path": str(adapter_path("verl")), "name": "compute_score", "reward_kwargs": {}}}}))
    items = []
    for i in range(len(dataset)):
        row = dataset[i]
        truth = row["reward_model"]["ground_truth"]
        kw = dict(data_source=row["data_source"], ground_truth=truth,
                  extra_info=row["extra_info"])
        items.append({
            "raw_prompt": row["raw_prompt"], "data_source": row["data_source"],
            "ground_truth": truth, "record_id": row["extra_info"]["record_id"],
            "exact": reward(solution_str=f"<think>ok</think><answer>{truth}</answer>", **kw),
            "off": reward(solution_str="<answer>A red car drives away at night.</answer>", **kw),
        })
    return {"rows": len(dataset), "items": items}


if __name__ == "__main__":
    print("NEXTEVENT_RESULT " + json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2])),
                                           default=str))
