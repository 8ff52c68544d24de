"""Export a FutureBench file as a local lmms-eval task folder (YAMLs + ``utils.py`` + data).

``lmms_eval --include_path DIR --tasks futurebench_local`` then runs it; `TASK_NAMES` are
the four tasks (direct / reasoning, with the clip / text only). The template is
``nextevent/bench/lmms_eval_task`` (see its ``_futurebench_local_template_yaml`` for the
lmms-eval sources it follows). For the official V1 task, see
`nextevent.bench.export_futurebench`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from nextevent.jsonl import write_jsonl
from nextevent.records import BenchItem

TASK_NAME = "futurebench_local"
TASK_NAMES: dict[tuple[str, bool], str] = {
    ("direct", False): TASK_NAME,
    ("reasoning", False): f"{TASK_NAME}_reasoning",
    ("direct", True): f"{TASK_NAME}_text_only",
    ("reasoning", True): f"{TASK_NAME}_text_only_reasoning",
}
"""Task name per (prompt mode, text only)."""
TEMPLATE_NAME = f"_{TASK_NAME}_template_yaml"
TEMPLATE_DIR = Path(__file__).resolve().parent / "lmms_eval_task"


def lmms_doc(item: BenchItem) -> dict[str, object]:
    """One lmms-eval document (flat JSON) of an item."""
    return {"id": item.id, "video_path": item.video_path or "",
            "question_type": item.question_type, "question": item.qa.Question,
            "options": dict(item.qa.Options), "answer": item.qa.Answer,
            "past_caption": str(item.meta.get("past_caption", ""))}


def export_lmms_eval(items: Sequence[BenchItem], out_dir: str | Path) -> Path:
    """Write the four task YAMLs (`TASK_NAMES`), their shared template, ``utils.py`` and
    ``futurebench_local.jsonl`` to ``out_dir`` (the template points at the data by
    absolute path).

    Returns:
        The path of the direct task's YAML (``futurebench_local.yaml``).

    Raises:
        ValueError: when ``items`` is empty.
    """
    if not items:
        raise ValueError("no items to export; build a benchmark first")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = out / f"{TASK_NAME}.jsonl"
    write_jsonl(data, (lmms_doc(item) for item in items))
    template = (TEMPLATE_DIR / TEMPLATE_NAME).read_text(encoding="utf-8")
    (out / TEMPLATE_NAME).write_text(template.replace("__DATA_FILE__", json.dumps(str(data))),
                                     encoding="utf-8")
    for name in TASK_NAMES.values():
        shutil.copyfile(TEMPLATE_DIR / f"{name}.yaml", out / f"{name}.yaml")
    shutil.copyfile(TEMPLATE_DIR / "utils.py", out / "utils.py")
    return out / f"{TASK_NAME}.yaml"
