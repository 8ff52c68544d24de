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

from nextevent.export.base import ExportResult, atomic_writer, write_json_list
from nextevent.export.driver import SampleTarget, counts
from nextevent.export.options import ExportOptions
from nextevent.export.prepare import part_file_name
from nextevent.export.sampling import VideoSampling
from nextevent.export.strategies import Sample
from nextevent.records import NEPRecord, NextEventError

DATASET_INFO = "dataset_info.json"
TEMPLATES = Path(__file__).resolve().parent / "templates"
CONFIGS = {
    "full": "llamafactory_qwen2_5_vl_7b_full_sft.yaml",
    "lora": "llamafactory_qwen2_5_vl_7b_lora_sft.yaml",
}
"""Training-config templates (Qwen2.5-VL-7B) written beside the data, by fine-tuning type."""
TASKS = {"nep": "sft", "prev": "prev"}
"""Older spelling of the two video strategies (``task=``): ``nep`` is ``sft``."""


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


def default_dataset_name(strategy: str) -> str:
    """``nextevent_nep_sft`` for ``sft``, else ``nextevent_<strategy>`` (``-`` as ``_``)."""
    return "nextevent_nep_sft" if strategy == "sft" else f"nextevent_{strategy.replace('-', '_')}"


class LlamaFactoryTarget(SampleTarget):
    """LLaMA-Factory: a sharegpt JSON list per part, registered in ``dataset_info.json``,
    and two training configs.

    Writes ``out_dir/<dataset_name>.json`` (a JSON list of sharegpt samples, see
    `sharegpt_sample`), ``<dataset_name>_validation.json`` when ``val_fraction > 0``, adds
    or replaces their entries in ``out_dir/dataset_info.json`` (keeping every other entry),
    and writes ``<dataset_name>_qwen2_5_vl_7b_{full,lora}.yaml`` (``stage: dpo`` for the
    ``dpo`` strategy). Train with ``llamafactory-cli train <yaml>``. The dataset's name is
    ``options.dataset_name`` (default `default_dataset_name`).

    `start` raises:
        ValueError: for a non-plain dataset name.
        NextEventError: (stage ``export``) when an existing ``dataset_info.json`` is not a
            JSON object (it is left untouched: nothing is written).
    """

    name = "llamafactory"

    @classmethod
    def export(cls, records: Iterable[NEPRecord], run_dir: Path, out_dir: Path,
               options: ExportOptions | None = None, *, task: str | None = None,
               **fields: Any) -> ExportResult:
        """As `Target.export`, also taking ``task`` (``nep``/``prev``), the older
        spelling of ``strategy``.

        Raises:
            ValueError: for an unknown task, and as `Target.export`.
        """
        if task is not None:
            if task not in TASKS:
                raise ValueError(f"unknown task {task!r}; use 'nep' or 'prev'")
            fields.setdefault("strategy", TASKS[task])
        return super().export(records, run_dir, out_dir, options, **fields)

    def start(self) -> None:
        super().start()
        strategy = self.options.strategy
        name = self.options.dataset_name
        self.dataset = name if name is not None else default_dataset_name(strategy)
        if not self.dataset or "/" in self.dataset:
            raise ValueError(f"dataset_name {self.dataset!r} must be a plain, non-empty name")
        self.info = read_dataset_info(self.out_dir / DATASET_INFO)  # fail before writing
        self.names: dict[str, str] = {}
        self.configs: list[Path] = []

    def row(self, item: Sample, part: str, index: int) -> dict[str, Any]:
        return sharegpt_sample(item, self.media(item))

    def part_path(self, part: str) -> Path:
        return self.out_dir / f"{part_file_name(self.dataset, part, '')}.json"

    def _write(self, part: str, rows: Iterable[dict[str, Any]]) -> Path:
        rows = list(rows)
        path = write_json_list(self.part_path(part), rows)
        name = self.names[part] = part_file_name(self.dataset, part, "")
        self.info[name] = dataset_info_entry(
            path.name, system=any(r["messages"][0]["role"] == "system" for r in rows),
            ranking=any("chosen" in r for r in rows) or self.options.strategy == "dpo")
        return path

    def drop_part(self, part: str) -> None:
        """Delete the part's stale data file and its ``dataset_info.json`` entry."""
        super().drop_part(part)
        self.info.pop(part_file_name(self.dataset, part, ""), None)

    def finish(self, written: Mapping[str, Path], result: ExportResult) -> list[Path]:
        info_path = self.out_dir / DATASET_INFO
        write_dataset_info(info_path, self.info)
        self.configs = write_train_configs(
            self.out_dir, self.names["train"], self.names.get("validation"),
            stage="dpo" if self.options.strategy == "dpo" else "sft",
            media_root=self.options.media_root, sampling=self.sampling(),
            keep_order=self.options.curriculum is not None)
        return [info_path.resolve(), *self.configs]

    def facts(self, written: Mapping[str, Path], result: ExportResult) -> dict[str, Any]:
        media_root = self.options.media_root
        return {
            "dataset_name": self.dataset,
            "dataset_dir": str(self.out_dir.resolve()),
            **counts(result),
            "media_dir": str(Path(media_root).resolve()) if media_root is not None else None,
            "eval_dataset": self.names.get("validation"),
            "configs": [str(p) for p in self.configs],
            **self.sampling().facts(),
        }


export_llamafactory = LlamaFactoryTarget.export
"""``export_llamafactory(records, run_dir, out_dir, options=None, *, task=None,
**fields)``: see `LlamaFactoryTarget` and `Target.export`."""


def write_train_configs(
    out_dir: Path,
    dataset: str,
    eval_dataset: str | None,
    *,
    stage: Literal["sft", "dpo"] = "sft",
    media_root: Path | None = None,
    sampling: VideoSampling | None = None,
    keep_order: bool = False,
) -> list[Path]:
    """Write the Qwen2.5-VL-7B full and LoRA training configs for ``dataset``.

    ``keep_order`` (``--curriculum``) sets ``disable_shuffling: true`` (LLaMA-Factory's
    ``FinetuningArguments``: a sequential sampler), so training reads the samples in the
    order written.

    ``sampling`` gives ``video_fps`` (frames per second) and ``video_max_pixels`` (pixels
    per frame): the clips' own when ``nextevent build --clip-fps/--clip-max-pixels`` wrote
    them so (`nextevent.export.sampling`); None: V1's 2.0 and 16384.

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
            order=("disable_shuffling: true  # --curriculum: train in the order written\n"
                   if keep_order else ""),
            config_path=str(path.resolve()), **_sampling_lines(sampling or VideoSampling()),
        )
        with atomic_writer(path) as handle:
            handle.write(text.rstrip("\n") + "\n")
        written.append(path.resolve())
    return written


def _sampling_lines(sampling: VideoSampling) -> dict[str, str]:
    """The template's ``video_max_pixels`` and ``video_fps`` values, with their comments."""
    pixels = ("the clips' own: nextevent build --clip-max-pixels"
              if sampling.max_pixels_from_clips else "V1's setting")
    fps = ("the clips' own: nextevent build --clip-fps, so every clip frame is kept"
           if sampling.fps_from_clips else "frames sampled per second of video")
    return {"video_max_pixels": f"{sampling.max_pixels}  # pixels per video frame ({pixels})",
            "video_fps": f"{float(sampling.fps)!r}  # {fps}"}


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
