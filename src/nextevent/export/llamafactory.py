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

The sample layout matches V1's own SFT data (Wang et al., arXiv 2505.22457, Sec. 4; their
``video_data_generation.py``): user turn ``"<video>" + question``, assistant turn =
``caption_part2``, ``videos`` = [past segment].
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from nextevent.export.base import (
    ExportResult,
    JsonListWriter,
    atomic_writer,
    check_no_placeholder,
    export_failure,
    media_path,
    segment_file,
)
from nextevent.export.questions import nep_question, prev_question
from nextevent.records import NEPRecord, NextEventError

Task = Literal["nep", "prev"]

DATASET_INFO = "dataset_info.json"


def dataset_info_entry(file_name: str, media: Sequence[str] = ("videos",)) -> dict[str, Any]:
    """The ``dataset_info.json`` entry for a sharegpt ``messages`` file.

    Args:
        file_name: the data file, relative to the dataset dir.
        media: the media columns its samples carry (``images``, ``videos``, ``audios``);
            `export_llamafactory` writes ``videos``; text-only data passes ``()``.
    """
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", **{name: name for name in media}},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
        },
    }


def llamafactory_sample(
    record: NEPRecord,
    run_dir: Path,
    *,
    seed: int = 0,
    media_root: Path | None = None,
    task: Task = "nep",
) -> dict[str, Any]:
    """One sharegpt sample for ``record``.

    ``task="nep"``: past segment in, ``caption_part2`` out. ``task="prev"`` (previous-event
    prediction, V1 Sec. 4): future segment in, ``caption_part1`` out.

    Raises:
        NextEventError: (stage ``export``) when the segment is missing (text-only record or
            file gone), lies outside ``media_root``, or a text holds a media placeholder.
    """
    if task == "nep":
        which, question, answer = "past", nep_question(record.id, seed), record.caption_part2
    else:
        which, question, answer = "future", prev_question(record.id, seed), record.caption_part1
    file = segment_file(record, which, run_dir)
    check_no_placeholder(record, answer)
    return {
        "messages": [
            {"role": "user", "content": "<video>" + question},
            {"role": "assistant", "content": answer},
        ],
        "videos": [media_path(file, run_dir, media_root)],
    }


def export_llamafactory(
    records: Iterable[NEPRecord],
    run_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    dataset_name: str = "nextevent_nep_sft",
    media_root: Path | None = None,
    task: Task = "nep",
) -> ExportResult:
    """Write records as a LLaMA-Factory video SFT dataset and register it.

    Writes ``out_dir/<dataset_name>.json`` (a JSON list of ``{"messages": [user,
    assistant], "videos": [path]}``) and adds or replaces the ``dataset_name`` entry of
    ``out_dir/dataset_info.json``, keeping every other entry. Train with
    ``dataset_dir: <out_dir>``, ``dataset: <dataset_name>`` (and ``media_dir: <media_root>``
    when one is given).

    Args:
        records: the records to export, e.g. ``RunStore(run_dir).records()``.
        run_dir: the run directory the records' segment paths are relative to.
        out_dir: folder for the dataset file and ``dataset_info.json``; created if missing.
        seed: question-choice seed (see `nextevent.export.questions`).
        dataset_name: the dataset's name in ``dataset_info.json`` and its file stem.
        media_root: write video paths relative to this folder instead of absolute.
        task: ``nep`` (next-event prediction) or ``prev`` (previous-event prediction).

    Returns:
        `ExportResult` with the two files, the sample count and one `Failure` per skipped
        record (text-only record, missing clip, clip outside ``media_root``, placeholder).

    Raises:
        NextEventError: (stage ``export``) when an existing ``dataset_info.json`` is not a
            JSON object; it is left untouched.
        ValueError: for an unknown ``task`` or an empty ``dataset_name``.
    """
    if task not in ("nep", "prev"):
        raise ValueError(f"unknown task {task!r}; use 'nep' or 'prev'")
    if not dataset_name or "/" in dataset_name:
        raise ValueError(f"dataset_name {dataset_name!r} must be a plain, non-empty name")
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    info_path = out_dir / DATASET_INFO
    info = read_dataset_info(info_path)  # fail before writing anything

    result = ExportResult(summary={"target": "llamafactory", "task": task, "seed": seed})
    data_path = out_dir / f"{dataset_name}.json"
    with atomic_writer(data_path) as handle:
        writer = JsonListWriter(handle)
        for record in records:
            try:
                sample = llamafactory_sample(
                    record, run_dir, seed=seed, media_root=media_root, task=task
                )
            except NextEventError as err:
                result.failures.append(export_failure(err, "llamafactory", record.id))
                continue
            writer.add(sample)
        writer.close()
    result.count = writer.count

    info[dataset_name] = dataset_info_entry(data_path.name)
    write_dataset_info(info_path, info)

    result.files = [data_path.resolve(), info_path.resolve()]
    result.summary.update(
        dataset_name=dataset_name,
        dataset_dir=str(out_dir.resolve()),
        samples=result.count,
        skipped=len(result.failures),
        media_dir=str(Path(media_root).resolve()) if media_root is not None else None,
    )
    return result


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
