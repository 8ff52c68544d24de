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

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nextevent.export.base import ExportResult
from nextevent.export.easyr1 import check_rl_strategy
from nextevent.export.parquet import _pyarrow, pa_messages, write_parquet
from nextevent.export.prepare import prepare, report_facts, sample_failure, sample_media
from nextevent.export.strategies import DEFAULT_CFT_RATIO, Sample
from nextevent.records import NEPRecord, NextEventError
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


def _schema() -> Any:
    pa = _pyarrow()
    return pa.schema([
        ("data_source", pa.string()),
        ("prompt", pa_messages()),
        ("videos", pa.list_(pa.string())),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        ("extra_info", pa.struct([
            ("split", pa.string()), ("index", pa.int64()), ("record_id", pa.string()),
            ("video_id", pa.string()), ("strategy", pa.string()), ("question", pa.string()),
        ])),
    ])


def export_verl(
    records: Iterable[NEPRecord],
    run_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    media_root: Path | None = None,
    strategy: str = "sft",
    max_samples: int | None = None,
    cft_ratio: float = DEFAULT_CFT_RATIO,
    mix: Mapping[str, float] | None = None,
    val_fraction: float = 0.0,
) -> ExportResult:
    """Write ``out_dir/train.parquet`` (and ``validation.parquet``) for verl.

    Args: as `nextevent.export.easyr1.export_easyr1`; ``media_root`` makes the video paths
    relative (verl then needs them resolvable from its working directory).

    Returns:
        `ExportResult` with the Parquet files and one `Failure` per skipped record/sample.

    Raises:
        ValueError: for ``cft``/``dpo`` or another bad option.
        NextEventError: (stage ``export``) when pyarrow is missing or the split needs
            more videos.
    """
    check_rl_strategy(strategy, mix, "verl")
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    schema = _schema()  # fails early without pyarrow
    prepared = prepare(records, run_dir, strategy=strategy, seed=seed, media_root=media_root,
                       max_samples=max_samples, cft_ratio=cft_ratio, mix=mix,
                       val_fraction=val_fraction)
    result = ExportResult(failures=list(prepared.failures),
                          summary={"target": "verl", "strategy": strategy, "seed": seed})
    for part, samples in prepared.split.parts():
        rows = []
        for sample in samples:
            try:
                rows.append(verl_row(sample, sample_media(sample, run_dir, media_root), part,
                                     len(rows)))
            except NextEventError as err:
                result.failures.append(sample_failure(err, "verl", sample))
        result.files.append(write_parquet(out_dir / f"{part}.parquet", rows, schema))
        result.count += len(rows)
    if not prepared.split.validation:
        (out_dir / "validation.parquet").unlink(missing_ok=True)
    result.summary.update(report_facts(prepared.report))
    result.summary.update(
        samples=result.count, skipped=len(result.failures),
        train_files=str(result.files[0]),
        reward_function=f"reward.custom_reward_function.path={adapter_path('verl')} "
                        "(verl 0.9; custom_reward_function.path before), name=compute_score, "
                        "or compute_score_batch with the batch reward manager",
    )
    return result
