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
from nextevent.export.driver import SampleTarget, counts
from nextevent.export.prepare import part_file_name
from nextevent.export.sampling import VideoSampling
from nextevent.export.strategies import Sample

FILE_STEM = "nep_train"
FORMAT_PROMPT = "nep_format.jinja"
LAUNCH_SCRIPT = "train_grpo.sh"
TEMPLATES = Path(__file__).resolve().parent / "templates"


def easyr1_row(sample: Sample, videos: list[str]) -> dict[str, Any]:
    """One EasyR1 row: ``{"problem": "<video>" * n + question, "answer": reference,
    "videos": paths}``."""
    return {
        "problem": "<video>" * len(videos) + sample.question,
        "answer": sample.reference,
        "videos": videos,
    }


class EasyR1Target(SampleTarget):
    """EasyR1 GRPO: ``out_dir/nep_train.jsonl`` (and ``nep_train_validation.jsonl``), with
    ``nep_format.jinja`` and ``train_grpo.sh`` beside it.

    Rows are `easyr1_row`; video paths are absolute, or relative to ``media_root``
    (EasyR1's ``data.image_dir``). `start` raises ``ValueError`` for ``cft``/``dpo`` (see
    `check_rl_strategy`).
    """

    name = "easyr1"
    rl = True

    def row(self, item: Sample, part: str, index: int) -> dict[str, Any]:
        return easyr1_row(item, self.media(item))

    def part_path(self, part: str) -> Path:
        return self.out_dir / part_file_name(FILE_STEM, part, ".jsonl")

    def _write(self, part: str, rows: Iterable[dict[str, Any]]) -> Path:
        path = self.part_path(part)
        with atomic_writer(path) as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        return path.resolve()

    def finish(self, written: Mapping[str, Path], result: ExportResult) -> list[Path]:
        self.format_prompt = self.out_dir / FORMAT_PROMPT
        with atomic_writer(self.format_prompt) as handle:
            handle.write((TEMPLATES / "easyr1_nep_format.jinja").read_text(encoding="utf-8"))
        self.script = write_launch_script(self.out_dir, written, self.format_prompt.resolve(),
                                          self.options.strategy, result.count,
                                          self.options.media_root, self.sampling())
        return [self.format_prompt.resolve(), self.script]

    def facts(self, written: Mapping[str, Path], result: ExportResult) -> dict[str, Any]:
        media_root = self.options.media_root
        return {
            **counts(result),
            "train_files": str(written["train"]),
            "val_files": str(written.get("validation", written["train"])),
            "prompt_key": "problem",
            "answer_key": "answer",
            "video_key": "videos",
            "format_prompt": str(self.format_prompt.resolve()),
            "launch": str(self.script),
            "image_dir": str(Path(media_root).resolve()) if media_root is not None else None,
            **self.sampling().facts("data.video_fps", "data.max_pixels"),
        }


export_easyr1 = EasyR1Target.export
"""``export_easyr1(records, run_dir, out_dir, options=None, **fields)``: see
`EasyR1Target` and `Target.export`."""


def write_launch_script(out_dir: Path, paths: Mapping[str, Path], format_prompt: Path,
                        strategy: str, samples: int, media_root: Path | None,
                        sampling: VideoSampling | None = None) -> Path:
    """Write ``out_dir/train_grpo.sh`` (executable) from the EasyR1 launch template.

    ``sampling`` gives ``data.video_fps`` (frames per second) and ``data.max_pixels``
    (pixels per frame): the clips' own when ``nextevent build --clip-fps/--clip-max-pixels``
    wrote them so (`nextevent.export.sampling`); None: V1's 2.0 and 16384.
    """
    sampling = sampling or VideoSampling()
    from nextevent.rewards.engines import adapter_path

    function = "compute_score_mcq" if strategy == "mcqa" else "compute_score"
    image_dir = (f"    data.image_dir=\"{Path(media_root).resolve()}\" \\\n"
                 if media_root is not None else "")
    text = Template((TEMPLATES / "easyr1_grpo.sh").read_text(encoding="utf-8")).substitute(
        strategy=strategy, samples=samples, train_files=paths["train"],
        val_files=paths.get("validation", paths["train"]), format_prompt=format_prompt,
        image_dir=image_dir, reward_function=f"{adapter_path('easyr1')}:{function}",
        video_fps=repr(float(sampling.fps)), max_pixels=sampling.max_pixels,
    )
    path = Path(out_dir) / LAUNCH_SCRIPT
    with atomic_writer(path) as handle:
        handle.write(text)
    os.chmod(path, 0o755)
    return path.resolve()
