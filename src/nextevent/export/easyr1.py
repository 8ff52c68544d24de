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

GRPO on NEP follows V1 (Wang et al., arXiv 2505.22457, Sec. 4): the past segment is the
input and ``caption_part2`` the reference the reward scores the ``<answer>`` against.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nextevent.export.base import (
    ExportResult,
    atomic_writer,
    check_no_placeholder,
    export_failure,
    media_path,
    segment_file,
)
from nextevent.export.questions import nep_question
from nextevent.records import NEPRecord, NextEventError

FILE_NAME = "nep_train.jsonl"


def easyr1_sample(
    record: NEPRecord, run_dir: Path, *, seed: int = 0, media_root: Path | None = None
) -> dict[str, Any]:
    """One EasyR1 row: ``{"problem": "<video>" + question, "answer": caption_part2,
    "videos": [past path]}``.

    Raises:
        NextEventError: (stage ``export``) when the past segment is missing, lies outside
            ``media_root``, or ``caption_part2`` holds a media placeholder.
    """
    file = segment_file(record, "past", run_dir)
    check_no_placeholder(record, record.caption_part2)
    return {
        "problem": "<video>" + nep_question(record.id, seed),
        "answer": record.caption_part2,
        "videos": [media_path(file, run_dir, media_root)],
    }


def export_easyr1(
    records: Iterable[NEPRecord],
    run_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    media_root: Path | None = None,
) -> ExportResult:
    """Write records to ``out_dir/nep_train.jsonl`` for EasyR1.

    Args:
        records: the records to export.
        run_dir: the run directory the records' segment paths are relative to.
        out_dir: output folder; created if missing. An existing file is replaced whole.
        seed: question-choice seed (see `nextevent.export.questions`).
        media_root: write video paths relative to this folder instead of absolute.

    Returns:
        `ExportResult` with the file, the row count and one `Failure` per skipped record
        (text-only record, missing clip, clip outside ``media_root``, placeholder).
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    path = out_dir / FILE_NAME
    result = ExportResult(summary={"target": "easyr1", "seed": seed})
    with atomic_writer(path) as handle:
        for record in records:
            try:
                row = easyr1_sample(record, run_dir, seed=seed, media_root=media_root)
            except NextEventError as err:
                result.failures.append(export_failure(err, "easyr1", record.id))
                continue
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            result.count += 1
    result.files = [path.resolve()]
    result.summary.update(
        samples=result.count,
        skipped=len(result.failures),
        train_files=str(path.resolve()),
        prompt_key="problem",
        answer_key="answer",
        video_key="videos",
        image_dir=str(Path(media_root).resolve()) if media_root is not None else None,
    )
    return result
