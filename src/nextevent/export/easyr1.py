"""Export NEP records as an EasyR1 (GRPO) video dataset in JSON Lines.

Contract, as checked against hiyouga/EasyR1 ``verl/utils/dataset.py`` (commit 8700709f):
``RLHFDataset`` loads a ``.jsonl`` file with ``datasets.load_dataset("json", ...)``; the
prompt column is ``prompt_key`` (default ``"prompt"``), the reference answer column is
``answer_key`` (default ``"answer"``, handed to the reward as ``ground_truth``) and the
video column is ``video_key`` (default ``"videos"``, a list of paths, joined onto
``image_dir`` when that is set). The prompt is split on ``<video>``, one video slot per
tag. EasyR1's own ``examples/config.yaml`` names its prompt column ``problem``; so do we,
so set ``data.prompt_key=problem`` (and ``data.image_dir=<media_root>`` for relative
paths).

``_build_messages`` renders ``data.format_prompt`` (a jinja file) with
``Template(text.strip()).render(content=prompt)`` before splitting on ``<video>``; the
export writes one (``nep_format.jinja``) asking for ``<think>``/``<answer>``, and a launch
script (``train_grpo.sh``) pointing EasyR1 at the data, the format prompt and the reward
file of `nextevent.rewards.engines` (``compute_score``; ``compute_score_mcq`` for MCQA).

GRPO on NEP follows V1 (Wang et al., arXiv 2505.22457, Sec. 4): the strategy's video is the
input and its reference (``caption_part2`` for next-event prediction) is what the reward
scores the ``<answer>`` against. Strategies without a reference to score (``cft``,
``dpo``) are refused. A strategy's system prompt is not written: EasyR1 takes the
instruction from the format prompt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from string import Template
from typing import Any

from nextevent.export.base import ExportResult, atomic_writer
from nextevent.export.prepare import (
    part_file_name,
    prepare,
    report_facts,
    sample_failure,
    sample_media,
)
from nextevent.export.strategies import DEFAULT_CFT_RATIO, Sample
from nextevent.records import NEPRecord, NextEventError

FILE_NAME = "nep_train.jsonl"
FORMAT_PROMPT = "nep_format.jinja"
LAUNCH_SCRIPT = "train_grpo.sh"
TEMPLATES = Path(__file__).resolve().parent / "templates"
RL_REFUSED = ("cft", "dpo")
"""Strategies an RL target cannot take: their targets are no reference a reward scores."""


def check_rl_strategy(strategy: str, mix: Mapping[str, float] | None, target: str) -> None:
    """Refuse strategies without a scorable reference for an RL target.

    Raises:
        ValueError: for ``cft`` or ``dpo`` (or a mix holding ``cft``), naming the target.
    """
    bad = [s for s in [strategy, *(mix or {})] if s in RL_REFUSED]
    if bad:
        raise ValueError(
            f"--target {target} trains with a reward against a reference answer; "
            f"--strategy {bad[0]} has none. Export {bad[0]} with --target llamafactory "
            "(or trl/hf), and use sft, distill, prev, caption, mcqa, oeqa or whats-next here"
        )


def easyr1_row(sample: Sample, videos: list[str]) -> dict[str, Any]:
    """One EasyR1 row: ``{"problem": "<video>" * n + question, "answer": reference,
    "videos": paths}``."""
    return {
        "problem": "<video>" * len(videos) + sample.question,
        "answer": sample.reference,
        "videos": videos,
    }


def easyr1_sample(
    record: NEPRecord, run_dir: Path, *, seed: int = 0, media_root: Path | None = None
) -> dict[str, Any]:
    """One EasyR1 row of the ``sft`` strategy: ``{"problem": "<video>" + question,
    "answer": caption_part2, "videos": [past path]}``.

    Raises:
        NextEventError: (stage ``export``) when the past segment is missing, lies outside
            ``media_root``, or ``caption_part2`` holds a media placeholder.
    """
    from nextevent.export.strategies import sft_samples

    (sample,) = sft_samples(record, Path(run_dir), media_root, seed)
    return easyr1_row(sample, sample_media(sample, Path(run_dir), media_root))


def export_easyr1(
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
    """Write records to ``out_dir/nep_train.jsonl`` (and ``nep_train_validation.jsonl``)
    for EasyR1, with ``nep_format.jinja`` and ``train_grpo.sh``.

    Args:
        records: the records to export.
        run_dir: the run directory the records' segment paths are relative to.
        out_dir: output folder; created if missing. Existing files are replaced whole.
        seed: question wording, selection and split seed.
        media_root: write video paths relative to this folder (EasyR1's
            ``data.image_dir``) instead of absolute.
        strategy, max_samples, cft_ratio, mix: see `nextevent.export.strategies.build_samples`.
        val_fraction: share of the videos held out for validation.

    Returns:
        `ExportResult` with the files, the row count and one `Failure` per skipped record
        or sample (text-only record, missing clip, clip outside ``media_root``, placeholder).

    Raises:
        ValueError: for ``cft``/``dpo`` (see `check_rl_strategy`) or another bad option.
        NextEventError: (stage ``export``) when the split needs more videos.
    """
    check_rl_strategy(strategy, mix, "easyr1")
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    prepared = prepare(records, run_dir, strategy=strategy, seed=seed, media_root=media_root,
                       max_samples=max_samples, cft_ratio=cft_ratio, mix=mix,
                       val_fraction=val_fraction)
    result = ExportResult(failures=list(prepared.failures),
                          summary={"target": "easyr1", "strategy": strategy, "seed": seed})
    paths: dict[str, Path] = {}
    for part, samples in prepared.split.parts():
        path = out_dir / part_file_name("nep_train", part, ".jsonl")
        with atomic_writer(path) as handle:
            for sample in samples:
                try:
                    row = easyr1_row(sample, sample_media(sample, run_dir, media_root))
                except NextEventError as err:
                    result.failures.append(sample_failure(err, "easyr1", sample))
                    continue
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                result.count += 1
        paths[part] = path.resolve()
    stale = out_dir / part_file_name("nep_train", "validation", ".jsonl")
    if "validation" not in paths:
        stale.unlink(missing_ok=True)
    result.files = list(paths.values())
    format_prompt = out_dir / FORMAT_PROMPT
    with atomic_writer(format_prompt) as handle:
        handle.write((TEMPLATES / "easyr1_nep_format.jinja").read_text(encoding="utf-8"))
    script = write_launch_script(out_dir, paths, format_prompt.resolve(), strategy,
                                 result.count, media_root)
    result.files += [format_prompt.resolve(), script]
    result.summary.update(report_facts(prepared.report))
    result.summary.update(
        samples=result.count,
        skipped=len(result.failures),
        train_files=str(paths["train"]),
        val_files=str(paths.get("validation", paths["train"])),
        prompt_key="problem",
        answer_key="answer",
        video_key="videos",
        format_prompt=str(format_prompt.resolve()),
        launch=str(script),
        image_dir=str(Path(media_root).resolve()) if media_root is not None else None,
    )
    return result


def write_launch_script(out_dir: Path, paths: Mapping[str, Path], format_prompt: Path,
                        strategy: str, samples: int, media_root: Path | None) -> Path:
    """Write ``out_dir/train_grpo.sh`` (executable) from the EasyR1 launch template."""
    from nextevent.rewards.engines import adapter_path

    function = "compute_score_mcq" if strategy == "mcqa" else "compute_score"
    image_dir = (f"    data.image_dir=\"{Path(media_root).resolve()}\" \\\n"
                 if media_root is not None else "")
    text = Template((TEMPLATES / "easyr1_grpo.sh").read_text(encoding="utf-8")).substitute(
        strategy=strategy, samples=samples, train_files=paths["train"],
        val_files=paths.get("validation", paths["train"]), format_prompt=format_prompt,
        image_dir=image_dir, reward_function=f"{adapter_path('easyr1')}:{function}",
    )
    path = Path(out_dir) / LAUNCH_SCRIPT
    with atomic_writer(path) as handle:
        handle.write(text)
    os.chmod(path, 0o755)
    return path.resolve()
