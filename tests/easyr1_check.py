"""Run EasyR1's own data path on a nextevent export, up to the first batch (EasyR1's venv).

Usage (see `tests/test_easyr1_launch.py`, which runs these in ``.cache/venvs/easyr1``):

* ``python easyr1_check.py processor DIR``: save a tiny Qwen2.5-VL processor to DIR (a
  byte-level BPE tokenizer trained here on a fixed text, the Qwen2-VL special tokens and a
  Qwen-style chat template; ``Qwen2VLImageProcessor`` / ``Qwen2VLVideoProcessor`` with the
  patch, merge and pixel values of Qwen2.5-VL-7B-Instruct's ``preprocessor_config.json``:
  patch 14, merge 2, temporal patch 2, min_pixels 3136, max_pixels 12845056). No download.
* ``python easyr1_check.py launch -m verl.trainer.main ARGS...``: what the export's
  ``train_grpo.sh`` runs as ``python3 -m verl.trainer.main ARGS...`` (the test puts a
  ``python3`` on PATH that execs this), from the vendored EasyR1 checkout (the working
  directory, so ``config=examples/config.yaml`` is EasyR1's own file). It does what
  EasyR1's ``verl/trainer/main.py`` does before any GPU work: ``OmegaConf.from_cli`` on
  the arguments, merged over ``OmegaConf.structured(PPOConfig())`` and the ``config=`` file,
  ``OmegaConf.to_object`` and ``deep_post_init``; ``get_tokenizer`` / ``get_processor``
  (``verl/utils/tokenizer.py``) on ``worker.actor.model.model_path``; then
  ``create_dataloader(config.data, tokenizer, processor)`` (``verl/trainer/data_loader.py``:
  two ``RLHFDataset`` with their overlong-prompt filter, which decodes every video through
  qwen-vl-utils' ``fetch_video``) and the first batch of each loader. For each video it
  also calls ``process_video`` (``verl/utils/dataset.py``) with the config's values and the
  processor on the result, as the rollout does, and reports frames, sizes and grids.
* ``python easyr1_check.py fork PARQUET PROCESSOR_DIR MIN_PIXELS MAX_PIXELS``: the V1 (NEP)
  fork's ``RLHFDataset`` (sail-sg/Video-Next-Event-Prediction ``EasyR1/verl/utils/
  dataset.py``, vendored under ``nep-fork/``) on a ``--format frames`` Parquet file: every
  item, and the fork's ``collate_fn`` on them.

Each prints one line ``NEXTEVENT_RESULT <json>``.

What is not EasyR1's own code (every vendored file is unmodified, see
``tests/data/vendor/easyr1/README.md``):

* main.py's config lines are repeated here (main.py itself imports ray, vLLM and the FSDP
  workers); the Runner's tokenizer/processor/dataloader calls are EasyR1's functions.
* ``verl.workers.reward`` and ``verl.workers.rollout`` are entered without their
  ``__init__`` (which import the reward manager and vLLM); their ``config.py`` is imported
  unchanged and its class set on the package, which is all ``verl/workers/config.py``
  takes from them. For the fork, ``verl`` is entered without its ``__init__`` (``DataProto``,
  tensordict and ray).
* torchvision from PyPI is a CUDA build whose C++ ops do not load beside the CPU torch;
  its import then stops at ``register_fake("torchvision::nms")``. The two op schemas
  (``nms``, ``qnms``) are declared here first so torchvision's Python code imports; no
  torchvision op is called (qwen-vl-utils and transformers use its tensor transforms).
  qwen-vl-utils reads videos with decord (its choice when torchcodec is absent).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import sys
import types
from pathlib import Path

from tiny_qwen import CHAT_TEMPLATE, byte_level_bpe

CORPUS = [
    "Watch the video, then think about what happens and why before you answer.",
    "Write your reasoning inside <think> </think> tags, then your final answer inside "
    "<answer> </answer> tags.",
    "What happens next in the video? Describe the next event. A rabbit walks in a forest, "
    "riders race bikes down a hill, a person opens the door and leaves the room.",
    "user assistant system 0 1 2 3 4 5 6 7 8 9 A B C D",
]
QWEN25_VL_PIXELS = {"min_pixels": 3136, "max_pixels": 12845056}
VERSIONS = ("torch", "torchvision", "transformers", "tokenizers", "qwen-vl-utils", "datasets",
            "decord", "torchdata", "omegaconf", "pyarrow", "numpy", "pillow", "av")


def declare_torchvision_ops() -> None:
    """Declare torchvision's ``nms``/``qnms`` schemas so its import passes without its C++
    ops (see the module doc)."""
    import torch

    for op in ("nms", "qnms"):
        torch.library.define(f"torchvision::{op}",
                             "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")


def enter_package(name: str, folder: Path, **from_modules: str) -> types.ModuleType:
    """Register package ``name`` at ``folder`` without running its ``__init__``; set each
    ``attribute=module`` of ``from_modules`` from that (unmodified) submodule."""
    package = types.ModuleType(name)
    package.__path__ = [str(folder)]
    sys.modules[name] = package
    for attribute, module in from_modules.items():
        setattr(package, attribute, getattr(importlib.import_module(f"{name}.{module}"),
                                            attribute))
    return package


def versions() -> dict[str, str]:
    out = {}
    for name in VERSIONS:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def make_processor(folder: Path) -> dict:
    from transformers import (
        Qwen2_5_VLProcessor,
        Qwen2TokenizerFast,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = Qwen2TokenizerFast(tokenizer_object=byte_level_bpe(CORPUS), eos_token="<|im_end|>",
                                        pad_token="<|endoftext|>", chat_template=CHAT_TEMPLATE)
    size = {"shortest_edge": QWEN25_VL_PIXELS["min_pixels"],
            "longest_edge": QWEN25_VL_PIXELS["max_pixels"]}
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**QWEN25_VL_PIXELS),
        video_processor=Qwen2VLVideoProcessor(size=size, **QWEN25_VL_PIXELS),
        tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(str(folder))
    return {"saved": sorted(p.name for p in folder.iterdir())}


def shape(value) -> object:
    import torch

    if isinstance(value, torch.Tensor):
        return {"shape": list(value.shape), "dtype": str(value.dtype)}
    return type(value).__name__


def launch(argv: list[str]) -> dict:
    if argv[:2] != ["-m", "verl.trainer.main"]:
        raise SystemExit(f"expected `python3 -m verl.trainer.main ...`, got {argv[:2]}")
    checkout = Path.cwd()
    sys.path.insert(0, str(checkout))  # python3 -m runs from the EasyR1 checkout
    import torch
    from omegaconf import OmegaConf

    enter_package("verl.workers.reward", checkout / "verl/workers/reward",
                  RewardConfig="config")
    enter_package("verl.workers.rollout", checkout / "verl/workers/rollout",
                  RolloutConfig="config")
    from qwen_vl_utils.vision_process import get_video_reader_backend
    from verl.trainer.config import PPOConfig
    from verl.trainer.data_loader import create_dataloader
    from verl.utils.dataset import process_image, process_video
    from verl.utils.tokenizer import get_processor, get_tokenizer

    # verl/trainer/main.py main(), up to ray.init
    cli_args = OmegaConf.from_cli(argv[2:])
    default_config = OmegaConf.structured(PPOConfig())
    if hasattr(cli_args, "config"):
        config_path = cli_args.pop("config", None)
        file_config = OmegaConf.load(config_path)
        default_config = OmegaConf.merge(default_config, file_config)
    ppo_config = OmegaConf.merge(default_config, cli_args)
    ppo_config: PPOConfig = OmegaConf.to_object(ppo_config)
    ppo_config.deep_post_init()
    config = ppo_config

    # Runner.run, up to create_dataloader
    tokenizer = get_tokenizer(config.worker.actor.model.model_path,
                              override_chat_template=config.data.override_chat_template,
                              trust_remote_code=config.worker.actor.model.trust_remote_code,
                              use_fast=True)
    processor = get_processor(config.worker.actor.model.model_path,
                              override_chat_template=config.data.override_chat_template,
                              trust_remote_code=config.worker.actor.model.trust_remote_code,
                              use_fast=True)
    train_dataloader, val_dataloader = create_dataloader(config.data, tokenizer, processor)

    data = config.data
    out: dict = {
        "versions": versions(), "video_backend": get_video_reader_backend(),
        "processor": type(processor).__name__,
        "image_processor": type(processor.image_processor).__name__,
        "data": {k: getattr(data, k) for k in (
            "train_files", "val_files", "prompt_key", "answer_key", "image_key", "video_key",
            "image_dir", "video_fps", "min_pixels", "max_pixels", "format_prompt",
            "max_prompt_length", "rollout_batch_size", "val_batch_size")},
        "reward": {"function": config.worker.reward.reward_function,
                   "name": config.worker.reward.reward_function_name},
        "model_path": config.worker.actor.model.model_path,
        "train_batches": len(train_dataloader), "val_batches": len(val_dataloader),
        "batches": {}, "videos": {}, "images": [],
    }
    pad = {"video": tokenizer.convert_tokens_to_ids("<|video_pad|>"),
           "image": tokenizer.convert_tokens_to_ids("<|image_pad|>")}
    merge = processor.image_processor.merge_size ** 2
    for name, loader in (("train", train_dataloader), ("val", val_dataloader)):
        batch = next(iter(loader))
        ids, mask = batch["input_ids"], batch["attention_mask"]
        rows = []
        for i in range(ids.shape[0]):
            kept = ids[i][mask[i] == 1]
            media = batch["multi_modal_data"][i]
            rows.append({"video_tokens": int((kept == pad["video"]).sum()),
                         "image_tokens": int((kept == pad["image"]).sum()),
                         "prompt_tokens": int(mask[i].sum()),
                         "videos": list(media.get("videos", [])),
                         "images": len(media.get("images", [])),
                         "ground_truth": batch["ground_truth"][i]})
            # what the rollout feeds the model for this row (vllm_rollout_spmd, fsdp_workers)
            grids = []
            for video in media.get("videos", []):
                frames, sample_fps = process_video(video, data.min_pixels, data.max_pixels,
                                                   data.video_fps, return_fps=True)
                inputs = processor.video_processor(videos=[frames], return_tensors="pt")
                grid = inputs["video_grid_thw"][0].tolist()
                grids.append(grid)
                out["videos"][video] = {"frames": list(frames.shape), "sample_fps": sample_fps,
                                        "grid_thw": grid,
                                        "tokens": grid[0] * grid[1] * grid[2] // merge}
            for image in media.get("images", []):
                picture = process_image(image, data.min_pixels, data.max_pixels)
                grid = processor.image_processor(images=[picture], return_tensors="pt")[
                    "image_grid_thw"][0].tolist()
                grids.append(grid)
                out["images"].append({"size": list(picture.size), "grid_thw": grid})
            rows[-1]["grids"] = grids
        out["batches"][name] = {
            "tensors": {k: shape(v) for k, v in batch.items() if isinstance(v, torch.Tensor)},
            "keys": sorted(batch), "rows": rows}
    return out


def fork(parquet: str, processor_dir: str, min_pixels: int, max_pixels: int) -> dict:
    here = Path(__file__).resolve().parent / "data" / "vendor" / "easyr1" / "nep-fork"
    sys.path.insert(0, str(here))
    enter_package("verl", here / "verl")
    from transformers import AutoProcessor, AutoTokenizer
    from verl.utils.dataset import RLHFDataset, collate_fn

    tokenizer = AutoTokenizer.from_pretrained(processor_dir)
    processor = AutoProcessor.from_pretrained(processor_dir, use_fast=False)
    dataset = RLHFDataset(parquet, tokenizer, processor, prompt_key="problem",
                          answer_key="answer", image_key="images", max_prompt_length=4096,
                          system_prompt="Think inside <think> </think>, answer inside "
                          "<answer> </answer>.", max_pixels=max_pixels, min_pixels=min_pixels)
    items = [dataset[i] for i in range(len(dataset))]
    batch = collate_fn(items)
    pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    merge = processor.image_processor.merge_size ** 2
    rows = []
    for item in items:
        grid = item["multi_modal_inputs"]["image_grid_thw"]
        rows.append({"images": len(item["multi_modal_data"]["image"]),
                     "sizes": [list(i.size) for i in item["multi_modal_data"]["image"]],
                     "image_tokens": int((item["input_ids"] == pad).sum()),
                     "grid_tokens": int((grid.prod(dim=-1) // merge).sum()),
                     "position_ids": list(item["position_ids"].shape),
                     "ground_truth": item["ground_truth"]})
    return {"versions": versions(), "rows": rows,
            "batch": {k: shape(v) for k, v in batch.items() if hasattr(v, "shape")
                      and not isinstance(v, type(batch.get("ground_truth")))}}


def main(argv: list[str]) -> dict:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    declare_torchvision_ops()
    if argv[0] == "processor":
        return make_processor(Path(argv[1]))
    if argv[0] == "launch":
        return launch(argv[1:])
    if argv[0] == "fork":
        return fork(argv[1], argv[2], int(argv[3]), int(argv[4]))
    raise SystemExit(f"unknown mode {argv[0]!r}")


if __name__ == "__main__":
    print("NEXTEVENT_RESULT " + json.dumps(main(sys.argv[1:]), default=str), flush=True)
