"""Train a tiny Qwen2-VL on nextevent's TRL export with TRL itself (run in TRL's venv).

Usage: ``python trl_proof.py <trl export dir> <work dir>``; prints one line
``NEXTEVENT_RESULT <json>`` with the SFT and GRPO logs and the reward calls.
``python trl_proof.py dpo <trl --strategy dpo export dir> <work dir>`` runs TRL's real
``DPOTrainer`` one step on the export's ``prompt`` / ``chosen`` / ``rejected`` rows with
their frames (the reference model: a second tiny model of the same seed) and prints its
logs the same way.

Everything is made here, offline: a byte-level BPE tokenizer trained (``tokenizers``) on
the export's own texts plus the Qwen2-VL special tokens and a Qwen-style chat template; a
``Qwen2VLProcessor`` with the PIL ``Qwen2VLImageProcessorPil`` (frames are small); a
randomly initialised ``Qwen2VLForConditionalGeneration`` (2 text layers of width 64, one
vision block). Then TRL's real ``SFTTrainer`` runs 2 optimizer steps on the SFT rows
(frames of the past clips as the row's images), and TRL's real ``GRPOTrainer`` runs one
step, generating completions with the model and scoring them with nextevent's TRL reward
functions (`nextevent.rewards.engines.trl_rewards.nep_reward` and ``format_reward``),
wrapped only to record what TRL passed them.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch
from tiny_qwen import CHAT_TEMPLATE, SPECIAL, byte_level_bpe


def build_tokenizer(texts: list[str], workdir: Path):
    from transformers import PreTrainedTokenizerFast

    tok = byte_level_bpe(texts + ["<think> </think> <answer> </answer> user assistant system"])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", chat_template=CHAT_TEMPLATE)
    fast.save_pretrained(workdir / "tokenizer")
    return fast


def build_processor(tokenizer):
    from transformers import Qwen2VLImageProcessorPil, Qwen2VLProcessor

    class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
        """Qwen2VLProcessor with no video processor. Transformers' video processors need
        torchvision, whose PyPI build links CUDA libraries and does not load with the CPU
        torch; and TRL feeds images, not videos. ProcessorMixin still checks the class of
        the absent video processor, through a mapping that is a dummy without torchvision,
        so that one check is skipped for None; everything else is the upstream class."""

        def check_argument_for_proper_class(self, argument_name, argument):
            if argument is None:
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

    images = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112)
    return ImageOnlyQwen2VLProcessor(image_processor=images, tokenizer=tokenizer,
                                     video_processor=None, chat_template=CHAT_TEMPLATE)


def build_model(tokenizer):
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL}
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": 64, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "max_position_embeddings": 4096, "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"], "bos_token_id": ids["<|endoftext|>"],
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                "mrope_section": [2, 3, 3]},
        },
        vision_config={"depth": 1, "embed_dim": 32, "hidden_size": 64, "num_heads": 2,
                       "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2,
                       "temporal_patch_size": 2},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    return model


def main(export_dir: Path, workdir: Path) -> dict:
    import datasets
    import trl
    from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

    from nextevent.rewards.engines import trl_rewards

    data = datasets.load_dataset("parquet", data_files=str(export_dir / "train.parquet"),
                                 split="train")
    texts = [m["content"] for row in data for m in row["prompt"] + row["completion"]]
    tokenizer = build_tokenizer(texts, workdir)
    processor = build_processor(tokenizer)
    first_image = data[0]["images"][0]
    common = dict(report_to=[], use_cpu=True, bf16=False, fp16=False, logging_steps=1,
                  save_strategy="no", seed=0, dataloader_num_workers=0)

    # --- SFT: 2 optimizer steps on the exported prompt-completion rows with their frames.
    sft_args = SFTConfig(output_dir=str(workdir / "sft"), max_steps=2,
                         per_device_train_batch_size=2, learning_rate=1e-3,
                         max_length=None, **common)
    model = build_model(tokenizer)
    sft = SFTTrainer(model=model, args=sft_args, train_dataset=data, processing_class=processor)
    sft_out = sft.train()
    sft_losses = [h["loss"] for h in sft.state.log_history if "loss" in h]

    # --- GRPO: 1 step; completions generated by the model, scored by nextevent's rewards.
    calls: list[dict] = []

    def recorded(fn):
        def wrapper(completions, **kwargs):
            scores = fn(completions, **kwargs)
            calls.append({"reward": fn.__name__, "n": len(completions),
                          "ground_truth": list(kwargs.get("ground_truth") or []),
                          "record_id": list(kwargs.get("record_id") or []),
                          "scores": [float(s) for s in scores],
                          "completion_example": trl_rewards.completion_text(completions[0])})
            return scores
        wrapper.__name__ = fn.__name__
        return wrapper

    grpo_data = data.remove_columns(["completion"])  # GRPO generates the completions
    grpo_args = GRPOConfig(output_dir=str(workdir / "grpo"), max_steps=1,
                           per_device_train_batch_size=2, num_generations=2,
                           max_completion_length=12, learning_rate=1e-3, temperature=1.0,
                           beta=0.0, **common)
    grpo = GRPOTrainer(model=sft.model, args=grpo_args, train_dataset=grpo_data,
                       processing_class=processor,
                       reward_funcs=[recorded(trl_rewards.nep_reward),
                                     recorded(trl_rewards.format_reward)])
    grpo_out = grpo.train()
    grpo_logs = [h for h in grpo.state.log_history if "loss" in h]
    return {
        "trl": trl.__version__, "datasets": datasets.__version__,
        "rows": len(data), "images_per_row": [len(r) for r in data["images"]],
        "image_type": type(first_image).__name__, "image_size": list(first_image.size),
        "sft_steps": sft.state.global_step, "sft_losses": sft_losses,
        "sft_train_loss": sft_out.training_loss,
        "grpo_steps": grpo.state.global_step, "grpo_train_loss": grpo_out.training_loss,
        "grpo_logs": grpo_logs, "reward_calls": calls,
        "params": sum(p.numel() for p in sft.model.parameters()),
        "finite": all(math.isfinite(x) for x in sft_losses + [grpo_out.training_loss]),
    }


def main_dpo(export_dir: Path, workdir: Path) -> dict:
    import datasets
    import trl
    from trl import DPOConfig, DPOTrainer

    data = datasets.load_dataset("parquet", data_files=str(export_dir / "train.parquet"),
                                 split="train")
    texts = [m["content"] for row in data for m in row["prompt"] + row["chosen"]
             + row["rejected"]]
    tokenizer = build_tokenizer(texts, workdir)
    processor = build_processor(tokenizer)
    args = DPOConfig(output_dir=str(workdir / "dpo"), max_steps=1,
                     per_device_train_batch_size=2, learning_rate=1e-3, beta=0.1,
                     max_length=None, report_to=[], use_cpu=True, bf16=False, fp16=False,
                     logging_steps=1, save_strategy="no", seed=0, dataloader_num_workers=0)
    model, ref = build_model(tokenizer), build_model(tokenizer)
    dpo = DPOTrainer(model=model, ref_model=ref, args=args, train_dataset=data,
                     processing_class=processor)
    out = dpo.train()
    logs = [h for h in dpo.state.log_history if "loss" in h]
    return {
        "trl": trl.__version__, "rows": len(data), "columns": data.column_names,
        "images_per_row": [len(r) for r in data["images"]],
        "dpo_steps": dpo.state.global_step, "dpo_train_loss": out.training_loss,
        "dpo_logs": logs, "finite": math.isfinite(out.training_loss),
    }


if __name__ == "__main__":
    if sys.argv[1] == "dpo":
        result = main_dpo(Path(sys.argv[2]), Path(sys.argv[3]))
        print("NEXTEVENT_RESULT " + json.dumps(result, default=str))
        sys.exit(0)
    result = main(Path(sys.argv[1]), Path(sys.argv[2]))
    print("NEXTEVENT_RESULT " + json.dumps(result, default=str))
