"""Export samples as verl RL Parquet files.

Contract, checked against volcengine/verl:

* ``examples/data_preprocess/geo3k.py`` (the multimodal example): one row per prompt with
  ``data_source``, ``prompt`` (chat messages, the media placeholder inside the user
  content), ``images`` (here ``videos``), ``ability``, ``reward_model: {"style": "rule",
  "ground_truth": ...}`` and ``extra_info`` (``split``, ``index``, ...); written as
  ``train.parquet`` / ``test.parquet`` with ``datasets``.
* ``verl/utils/dataset/rl_dataset.py`` (verl 0.9.1): ``RLHFDataset`` reads the Parquet
  files with ``datasets.load_dataset("parquet")``; ``_build_messages`` splits each message
  on ``<image>|<video>|<audio>`` and turns the n-th ``<video>`` into ``{"type": "video",
  "video": <path>}`` from the row's ``video_key`` column (default ``videos``; a path
  string is accepted), asserting one video per tag.
* The reward gets ``data_source``, ``reward_model["ground_truth"]`` and ``extra_info``
  (see `nextevent.rewards.engines.verl_reward`, which reads ``data_source``
  ``nextevent/nep`` as open-ended and ``nextevent/mcq`` as an option letter).

Run with ``data.train_files=<out>/train.parquet data.val_files=<out>/validation.parquet
reward.custom_reward_function.path=<verl_reward.py>`` (verl 0.9.1
``verl/trainer/ppo/reward.py`` ``get_custom_reward_fn`` reads ``config.reward``; older verl
reads ``custom_reward_function`` at the top level); the summary prints the path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nextevent.export.base import ExportResult
from nextevent.export.driver import counts
from nextevent.export.parquet import ParquetTarget, _pyarrow, pa_messages
from nextevent.export.strategies import Sample
from nextevent.rewards.engines import DATA_SOURCE_MCQ, DATA_SOURCE_NEP, adapter_path

ABILITY = "temporal_reasoning"


def verl_row(sample: Sample, videos: list[str], part: str, index: int) -> dict[str, Any]:
    """One verl row (see the module doc for the columns)."""
    prompt = []
    if sample.system:
        prompt.append({"role": "system", "content": sample.system})
    prompt.append({"role": "user", "content": "<video>" * len(videos) + sample.question})
    return {
        "data_source": DATA_SOURCE_MCQ if sample.task == "mcq" else DATA_SOURCE_NEP,
        "prompt": prompt,
        "videos": videos,
        "ability": ABILITY,
        "reward_model": {"style": "rule", "ground_truth": sample.reference},
        "extra_info": {
            "split": part, "index": index, "record_id": sample.record_id,
            "video_id": sample.video_id, "strategy": sample.strategy,
            "question": sample.question,
        },
    }


class VerlTarget(ParquetTarget):
    """verl RL: ``out_dir/train.parquet`` (and ``validation.parquet``) of `verl_row` rows.

    ``media_root`` makes the video paths relative (verl then needs them resolvable from
    its working directory). `start` raises ``ValueError`` for ``cft``/``dpo`` (see
    `check_rl_strategy`) and `NextEventError` when pyarrow is missing.
    """

    name = "verl"
    rl = True

    def arrow_schema(self) -> tuple[Any, None]:
        pa = _pyarrow()
        return pa.schema([
            ("data_source", pa.string()),
            ("prompt", pa_messages()),
            ("videos", pa.list_(pa.string())),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()),
                                        ("ground_truth", pa.string())])),
            ("extra_info", pa.struct([
                ("split", pa.string()), ("index", pa.int64()), ("record_id", pa.string()),
                ("video_id", pa.string()), ("strategy", pa.string()),
                ("question", pa.string()),
            ])),
        ]), None

    def row(self, item: Sample, part: str, index: int) -> dict[str, Any]:
        return verl_row(item, self.media(item), part, index)

    def facts(self, written: Mapping[str, Path], result: ExportResult) -> dict[str, Any]:
        return {
            **counts(result),
            "train_files": str(written["train"]),
            "reward_function": f"reward.custom_reward_function.path={adapter_path('verl')} "
                               "(verl 0.9; custom_reward_function.path before), "
                               "name=compute_score, or compute_score_batch with the batch "
                               "reward manager",
        }


export_verl = VerlTarget.export
"""``export_verl(records, run_dir, out_dir, options=None, **fields)``: see `VerlTarget`
and `Target.export`."""
