#!/usr/bin/env bash
# GRPO with EasyR1 (hiyouga/EasyR1) on nextevent data: whats-next strategy, 4 samples.
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
MODEL_PATH="${MODEL_PATH:-Qwen/Qwen2.5-VL-7B-Instruct}"
N_GPUS="${N_GPUS:-8}"

python3 -m verl.trainer.main \
    config=examples/config.yaml \
    data.train_files="{OUT}/easyr1-whats-next-validation/nep_train.jsonl" \
    data.val_files="{OUT}/easyr1-whats-next-validation/nep_train_validation.jsonl" \
    data.prompt_key=problem \
    data.answer_key=answer \
    data.image_key=images \
    data.video_key=videos \
    data.video_fps=2.0 \
    data.min_pixels=3136 \
    data.max_pixels=16384 \
    data.format_prompt="{OUT}/easyr1-whats-next-validation/nep_format.jinja" \
    worker.actor.model.model_path="${MODEL_PATH}" \
    worker.actor.model.freeze_vision_tower=true \
    worker.reward.reward_function="{PACKAGE}/rewards/engines/easyr1_reward.py:compute_score" \
    trainer.experiment_name="nextevent_whats-next_grpo" \
    trainer.n_gpus_per_node="${N_GPUS}" \
    "$@"
