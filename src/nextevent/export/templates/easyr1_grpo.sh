#!/usr/bin/env bash
# GRPO with EasyR1 (hiyouga/EasyR1) on nextevent data: ${strategy} strategy, ${samples} samples.
# Written by `nextevent export --target easyr1`. Run it from an EasyR1 checkout, with
# nextevent installed there (pip install 'nextevent[rewards]') for the reward file.
# Keys as in EasyR1 examples/config.yaml and verl/utils/dataset.py (commit 8700709f):
# data.prompt_key / answer_key / video_key / image_dir / video_fps / format_prompt,
# worker.reward.reward_function=<file>:<function> (the function's REWARD_TYPE is read from
# the file). V1 trains Qwen2.5-VL with GRPO this way (arXiv 2505.22457, Sec. 4).
set -euo pipefail
MODEL_PATH="$${MODEL_PATH:-Qwen/Qwen2.5-VL-7B-Instruct}"
N_GPUS="$${N_GPUS:-8}"

python3 -m verl.trainer.main \
    config=examples/config.yaml \
    data.train_files="${train_files}" \
    data.val_files="${val_files}" \
    data.prompt_key=problem \
    data.answer_key=answer \
    data.image_key=images \
    data.video_key=videos \
    data.video_fps=${video_fps} \
    data.max_pixels=${max_pixels} \
    data.format_prompt="${format_prompt}" \
${image_dir}    worker.actor.model.model_path="$${MODEL_PATH}" \
    worker.actor.model.freeze_vision_tower=true \
    worker.reward.reward_function="${reward_function}" \
    trainer.experiment_name="nextevent_${strategy}_grpo" \
    trainer.n_gpus_per_node="$${N_GPUS}" \
    "$$@"
