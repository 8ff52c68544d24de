"""Export NEP records as a LLaMA-Factory sharegpt (OpenAI-style messages) video dataset.

Format, as checked against hiyouga/LLaMA-Factory:

* ``data/README.md`` (commit 2ad9871b), "Multimodal Video Dataset" and "OpenAI Format":
  one JSON list; each sample has a ``messages`` list of ``{"role", "content"}`` turns and a
  ``videos`` list of paths; the number of ``<video>`` tags in the conversation must equal
  ``len(videos)``. The ``dataset_info.json`` entry names ``file_name``,
  ``formatting: "sharegpt"``, ``columns`` (``messages``, ``videos``) and the ``tags``
  (``role_tag``/``content_tag``/``user_tag``/``assistant_tag``).
* ``src/llamafactory/data/parser.py`` (commit 85b0f312): ``DatasetAttr.join`` reads exactly
  those ``columns`` and ``tags`` keys; the tag defaults are ``from``/``value``/``human``/
  ``gpt``, so the tags must be spelt out for ``role``/``content`` messages.
* ``src/llamafactory/data/converter.py`` (commit 908cd68e): ``SharegptDatasetConverter``
  wants user turns at odd and assistant turns at even positions and an even count;
  ``_find_medias`` joins each video path onto ``media_dir`` (default: the dataset dir)
  and keeps the path as given when that file does not exist, so absolute paths work and
  relative ones need ``media_dir`` set to the ``media_root`` used here.

* ``data/README.md`` (commit 2ad9871b), "Preference Dataset" (sharegpt): a DPO sample has
  the prompt turns in ``messages`` and ``chosen`` / ``rejected`` as single assistant
  messages (objects, not lists); the entry sets ``"ranking": true`` and names the
  ``chosen`` and ``rejected`` columns. ``SharegptDatasetConverter`` then wants an *odd*
  number of prompt turns (the user turn) and a system turn is read from ``messages[0]``
  only when the entry's tags name a ``system_tag``.

The sample layout matches V1's own data (Wang et al., arXiv 2505.22457, Sec. 4; their
``video_data_generation.py``): ``[system,] user "<video>" + question, assistant target``,
``videos`` = [the strategy's video]; see `nextevent.export.strategies`. Beside the data,
the export writes two training configs for Qwen2.5-VL-7B (full SFT with the vision tower
and projector frozen, and LoRA) from ``export/templates/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from string import Template
from typing import Any, Literal

from nextevent.export.base import ExportResult, JsonListWriter, atomic_writer
from nextevent.export.prepare import (
    part_file_name,
    prepare,
    report_facts,
    sample_failure,
    sample_media,
)
from nextevent.export.strategies import BUILDERS, DEFAULT_CFT_RATIO, Sample
from nextevent.records import NEPRecord, NextEventError

Task = Literal["nep", "prev"]
"""Older name of the two video strategies: ``nep`` is ``sft``, ``prev`` is ``prev``."""

DATASET_INFO = "dataset_info.json"
TEMPLATES = Path(__file__).resolve().parent / "templates"
CONFIGS = {
    "full": "llamafactory_qwen2_5_vl_7b_full_sft.yaml",
    "lora": "llamafactory_qwen2_5_vl_7b_lora_sft.yaml",
}
"""Training-config templates (Qwen2.5-VL-7B) written beside the data, by fine-tuning type."""


def dataset_info_entry(
    file_name: str,
    media: Sequence[str] = ("videos",),
    *,
    system: bool = False,
    ranking: bool = False,
) -> dict[str, Any]:
    """The ``dataset_info.json`` entry for a sharegpt ``messages`` file.

    Args:
        file_name: the data file, relative to the dataset dir.
        media: the media columns its samples carry (``images``, ``videos``, ``audios``);
            `export_llamafactory` writes ``videos``; text-only data passes ``()``.
        system: the samples may open with a ``system`` turn (adds ``system_tag``).
        ranking: a preference (DPO) file with ``chosen`` / ``rejected`` columns.
    """
    columns = {"messages": "messages", **{name: name for name in media}}
    if ranking:
        columns.update(chosen="chosen", rejected="rejected")
    tags = {
        "role_tag": "role",
        "content_tag": "content",
        "user_tag": "user",
        "assistant_tag": "assistant",
    }
    if system:
        tags["system_tag"] = "system"
    entry: dict[str, Any] = {"file_name": file_name}
    if ranking:
        entry["ranking"] = True
    entry.update(formatting="sharegpt", columns=columns, tags=tags)
    return entry


def sharegpt_sample(sample: Sample, videos: Sequence[str]) -> dict[str, Any]:
    """One sharegpt sample: ``[system,] user ("<video>" per video + question), assistant``;
    a DPO sample has the prompt turns in ``messages`` and ``chosen`` / ``rejected``."""
    messages = []
    if sample.system:
        messages.append({"role": "system", "content": sample.system})
    messages.append({"role": "user", "content": "<video>" * len(videos) + sample.question})
    if sample.rejected is not None:
        return {
            "messages": messages,
            "chosen": {"role": "assistant", "content": sample.target},
            "rejected": {"role": "assistant", "content": sample.rejected},
            "videos": list(videos),
        }
    messages.append({"role": "assistant", "content": sample.target})
    return {"messages": messages, "videos": list(videos)}


def llamafactory_sample(
    record: NEPRecord,
    run_dir: Path,
    *,
    seed: int = 0,
    media_root: Path | None = None,
    task: Task = "nep",
) -> dict[str, Any]:
    """One sharegpt sample for ``record``: ``task="nep"`` is the ``sft`` strategy (past
    segment in, ``caption_part2`` out), ``task="prev"`` the ``prev`` strategy (future
    segment in, ``caption_part1`` out).

    Raises:
        NextEventError: (stage ``export``) when the segment is missing (text-only record or
            file gone), lies outside ``media_root``, or a text holds a media placeholder.
    """
    (sample,) = BUILDERS["sft" if task == "nep" else "prev"](record, Path(run_dir), media_root,
                                                            seed)
    return sharegpt_sample(sample, sample_media(sample, Path(run_dir), media_root))


def default_dataset_name(strategy: str) -> str:
    """``nextevent_nep_sft`` for ``sft``, else ``nextevent_<strategy>`` (``-`` as ``_``)."""
    return "nextevent_nep_sft" if strategy == "sft" else f"nextevent_{strategy.replace('-', '_')}"


def export_llamafactory(
    records: Iterable[NEPRecord],
    run_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    dataset_name: str | None = None,
    media_root: Path | None = None,
    task: Task | None = None,
    strategy: str | None = None,
    max_samples: int | None = None,
    cft_ratio: float = DEFAULT_CFT_RATIO,
    mix: Mapping[str, float] | None = None,
    val_fraction: float = 0.0,
) -> ExportResult:
    """Write records as a LLaMA-Factory video dataset, register it, and write training
    configs.

    Writes ``out_dir/<dataset_name>.json`` (a JSON list of sharegpt samples, see
    `sharegpt_sample`), ``<dataset_name>_validation.json`` when ``val_fraction > 0``, adds
    or replaces their entries in ``out_dir/dataset_info.json`` (keeping every other entry),
    and writes ``<dataset_name>_qwen2_5_vl_7b_{full,lora}.yaml`` (``stage: dpo`` for the
    ``dpo`` strategy). Train with ``llamafactory-cli train <yaml>``.

    Args:
        records: the records to export, e.g. ``RunStore(run_dir).records()``.
        run_dir: the run directory the records' segment paths are relative to.
        out_dir: folder for the data, ``dataset_info.json`` and configs; created if missing.
        seed: question wording, selection and split seed.
        dataset_name: the dataset's name in ``dataset_info.json`` and its file stem
            (default `default_dataset_name`).
        media_root: write video paths relative to this folder (LLaMA-Factory's
            ``media_dir``) instead of absolute.
        task: older spelling of ``strategy`` (``nep`` = ``sft``, ``prev``).
        strategy, max_samples, cft_ratio, mix: see `nextevent.export.strategies.build_samples`.
        val_fraction: share of the videos held out for validation (`split_by_video`).

    Returns:
        `ExportResult` with the files, the sample count, one `Failure` per skipped record
        or sample, and a summary (dataset names, strategy report, config paths).

    Raises:
        NextEventError: (stage ``export``) when an existing ``dataset_info.json`` is not a
            JSON object (it is left untouched), or the split needs more videos.
        ValueError: for an unknown task or strategy, bad mix, or a non-plain dataset name.
    """
    if task is not None and task not in ("nep", "prev"):
        raise ValueError(f"unknown task {task!r}; use 'nep' or 'prev'")
    strategy = strategy or {"nep": "sft", "prev": "prev", None: "sft"}[task]
    dataset_name = dataset_name if dataset_name is not None else default_dataset_name(strategy)
    if not dataset_name or "/" in dataset_name:
        raise ValueError(f"dataset_name {dataset_name!r} must be a plain, non-empty name")
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    info_path = out_dir / DATASET_INFO
    info = read_dataset_info(info_path)  # fail before writing anything
    prepared = prepare(records, run_dir, strategy=strategy, seed=seed, media_root=media_root,
                       max_samples=max_samples, cft_ratio=cft_ratio, mix=mix,
                       val_fraction=val_fraction)

    result = ExportResult(failures=list(prepared.failures),
                          summary={"target": "llamafactory", "strategy": strategy, "seed": seed})
    names: dict[str, str] = {}
    for part, samples in prepared.split.parts():
        name = part_file_name(dataset_name, part, "")
        data_path = out_dir / f"{name}.json"
        has_system = ranking = False
        with atomic_writer(data_path) as handle:
            writer = JsonListWriter(handle)
            for sample in samples:
                try:
                    row = sharegpt_sample(sample, sample_media(sample, run_dir, media_root))
                except NextEventError as err:
                    result.failures.append(sample_failure(err, "llamafactory", sample))
                    continue
                has_system |= sample.system is not None
                ranking |= sample.rejected is not None
                writer.add(row)
            writer.close()
        result.count += writer.count
        info[name] = dataset_info_entry(data_path.name, system=has_system,
                                        ranking=ranking or strategy == "dpo")
        result.files.append(data_path.resolve())
        names[part] = name
    if "validation" not in names:
        info.pop(part_file_name(dataset_name, "validation", ""), None)  # stale from a rerun
    write_dataset_info(info_path, info)
    result.files.append(info_path.resolve())
    configs = write_train_configs(out_dir, names["train"], names.get("validation"),
                                  stage="dpo" if strategy == "dpo" else "sft",
                                  media_root=media_root)
    result.files.extend(configs)

    result.summary.update(report_facts(prepared.report))
    result.summary.update(
        dataset_name=dataset_name,
        dataset_dir=str(out_dir.resolve()),
        samples=result.count,
        skipped=len(result.failures),
        media_dir=str(Path(media_root).resolve()) if media_root is not None else None,
        eval_dataset=names.get("validation"),
        configs=[str(p) for p in configs],
    )
    return result


def write_train_configs(
    out_dir: Path,
    dataset: str,
    eval_dataset: str | None,
    *,
    stage: Literal["sft", "dpo"] = "sft",
    media_root: Path | None = None,
) -> list[Path]:
    """Write the Qwen2.5-VL-7B full and LoRA training configs for ``dataset``.

    Returns:
        The two YAML paths, ``out_dir/<dataset>_qwen2_5_vl_7b_{full,lora}.yaml``.
    """
    written = []
    for kind, template in CONFIGS.items():
        path = Path(out_dir) / f"{dataset}_qwen2_5_vl_7b_{kind}.yaml"
        eval_lines = ""
        if eval_dataset:
            eval_lines = (f"\n### eval\neval_dataset: {eval_dataset}\n"
                          "per_device_eval_batch_size: 1\neval_strategy: steps\neval_steps: 500\n")
        method_extra = ("pref_beta: 0.1\npref_loss: sigmoid  # choices: [sigmoid (dpo), orpo, "
                        "simpo]\n" if stage == "dpo" else "")
        media = f"media_dir: {Path(media_root).resolve()}\n" if media_root is not None else ""
        text = Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(
            stage=stage, dataset=dataset, dataset_dir=str(Path(out_dir).resolve()),
            media_dir=media, eval=eval_lines, method_extra=method_extra,
            config_path=str(path.resolve()),
        )
        with atomic_writer(path) as handle:
            handle.write(text.rstrip("\n") + "\n")
        written.append(path.resolve())
    return written


def write_dataset_info(path: Path, info: dict[str, Any]) -> None:
    """Write ``info`` (read by `read_dataset_info`, entries added) atomically to ``path``."""
    with atomic_writer(path) as handle:
        json.dump(info, handle, ensure_ascii=False, indent=2)
        handle.write("\n")


def read_dataset_info(path: Path) -> dict[str, Any]:
    """The datasets already registered in a ``dataset_info.json`` ({} when it is missing).

    Raises:
        NextEventError: (stage ``export``) when the file is not JSON or not a JSON object;
            callers read it before writing anything, so it is never overwritten.
    """
    if not path.exists():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise NextEventError(
            "export",
            f"{path} is not valid JSON ({err}); refusing to overwrite it",
            "fix or move the file, or export to another --out folder",
        ) from None
    if not isinstance(info, dict):
        raise NextEventError(
            "export",
            f"{path} holds a JSON {type(info).__name__}, not an object of datasets",
            "fix or move the file, or export to another --out folder",
        )
    return info
