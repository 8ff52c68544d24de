"""Export a FutureBench file as a local lmms-eval task folder (YAML + ``utils.py`` + data).

``lmms_eval --include_path DIR --tasks futurebench_local`` then runs it. The template is
``nextevent/bench/lmms_eval_task`` (see its YAML for the lmms-eval sources it follows).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from nextevent.jsonl import write_jsonl
from nextevent.records import BenchItem

TASK_NAME = "futurebench_local"
TEMPLATE_DIR = Path(__file__).resolve().parent / "lmms_eval_task"


def lmms_doc(item: BenchItem) -> dict[str, object]:
    """One lmms-eval document (flat JSON) of an item."""
    return {"id": item.id, "video_path": item.video_path or "",
            "question_type": item.question_type, "question": item.qa.Question,
            "options": dict(item.qa.Options), "answer": item.qa.Answer,
            "past_caption": str(item.meta.get("past_caption", ""))}


def export_lmms_eval(items: Sequence[BenchItem], out_dir: str | Path) -> Path:
    """Write ``futurebench_local.yaml``, ``utils.py`` and ``futurebench_local.jsonl`` to
    ``out_dir`` (the YAML points at the data by absolute path).

    Returns:
        The YAML path.

    Raises:
        ValueError: when ``items`` is empty.
    """
    if not items:
        raise ValueError("no items to export; build a benchmark first")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = out / f"{TASK_NAME}.jsonl"
    write_jsonl(data, (lmms_doc(item) for item in items))
    yaml_text = (TEMPLATE_DIR / f"{TASK_NAME}.yaml").read_text(encoding="utf-8")
    yaml_path = out / f"{TASK_NAME}.yaml"
    yaml_path.write_text(yaml_text.replace("__DATA_FILE__", json.dumps(str(data))),
                         encoding="utf-8")
    shutil.copyfile(TEMPLATE_DIR / "utils.py", out / "utils.py")
    return yaml_path
