#!/usr/bin/env bash
# GRPO with EasyR1 (hiyouga/EasyR1) on nextevent data: ${strategy} strategy, ${samples} samples.
# Written by `nextevent export --target easyr1`. Run it from an EasyR1 checkout, with
# nextevent installed there (pip install 'nextevent[rewards]') for the reward file.
# Keys as in EasyR1 examples/config.yaml, verl/trainer/config.py and verl/utils/dataset.py
# (commit b44b311b): data.prompt_key / answer_key / image_key / video_key / image_dir /
# format_prompt, worker.reward.reward_function=<file>:<function> (the function's
# REWARD_TYPE is read from the file). data.video_fps and data.max_pixels are the export's
# (the clips' own when built with --clip-fps/--clip-max-pixels); data.min_pixels is set too,
# at most data.max_pixels: examples/config.yaml's min_pixels (262144) above max_pixels stops
# qwen-vl-utils' smart_resize while the dataset is built. EasyR1's PPOConfig does not load
# with omegaconf 2.4 (its logger: Tuple[str] holds two values): pip install 'omegaconf<2.4'.
# V1 trains Qwen2.5-VL with GRPO this way (arXiv 2505.22457, Sec. 4).
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
    data.min_pixels=${min_pixels} \
    data.max_pixels=${max_pixels} \
    data.format_prompt="${format_prompt}" \
${shuffle}${image_dir}    worker.actor.model.model_path="$${MODEL_PATH}" \
    worker.actor.model.freeze_vision_tower=true \
    worker.reward.reward_function="${reward_function}" \
    trainer.experiment_name="nextevent_${strategy}_grpo" \
    trainer.n_gpus_per_node="$${N_GPUS}" \
    "$$@"
