"""Export a FutureBench file in the layout the official V1 lmms-eval task reads.

The official task (sail-sg/Video-Next-Event-Prediction, commit 7250875d,
``third_party/lmms-eval/lmms_eval/tasks/futurebench/{futurebench.yaml,utils.py}``; README
"Evaluation"; ``gen_dataset.py``) expects:

- a dataset saved by ``datasets.load_dataset("json", data_files={"test": futurebench.json})
  .save_to_disk(...)`` (``dataset_path`` with ``load_from_disk: True``), each document
  ``{"id", "video_path", "question_type", "qa": {"Question", "Options", "Answer"}}``;
- ``video_path`` holding ``video_dataset/``: ``future_pred_doc_to_visual`` opens
  ``os.path.join(cache_dir, video_path.split("video_dataset/")[1])`` and raises when it
  does not exist (so an absolute path elsewhere is an ``IndexError``, a text-level item's
  ``None`` an ``AttributeError``);
- question types ``hop1|hop2|hop3|hop5`` only: ``future_pred_aggregate_results`` counts
  into a dict of those four (``KeyError('interp')`` otherwise).

`export_futurebench` writes, under ``ROOT``:

- ``video_dataset/<sub path>``: each distinct past clip once, hard-linked (copied across
  file systems); the sub path is the clip's path below the deepest folder holding all
  clips (``<record>/past.mp4`` for a run directory);
- ``futurebench.json``: the hop items with a clip, ``video_path`` =
  ``video_dataset/<sub path>`` (relative to ``ROOT``);
- ``futurebench_interp.json``: the interpolation items with a clip, same schema (the
  official aggregation cannot score them; our ``futurebench_local`` tasks can);
- ``futurebench_text_level.json``: items without a clip (``video_path`` null, plus
  ``past_caption``), which the official task cannot show;
- ``futurebench/`` and ``futurebench_interp/``: the saved datasets, when ``datasets`` is
  importable (else `gen_dataset_command` says how; it is V1's ``gen_dataset.py``).

The official YAML then needs ``dataset_path: ROOT/futurebench`` and
``cache_dir: ROOT/video_dataset/`` (`official_yaml_settings`, `configure_official_yaml`).
A file of this layout that the items no longer fill is removed, so a rerun into the same
``ROOT`` leaves no stale items.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nextevent.records import BenchItem, NextEventError

OFFICIAL_TYPES = ("hop1", "hop2", "hop3", "hop5")
"""The question types the official aggregation knows (``TYPES`` in its ``utils.py``)."""
VIDEO_DIR = "video_dataset"
"""The folder of the clips under ``ROOT``; also the marker the official
``doc_to_visual`` splits ``video_path`` at."""
HOP_NAME = "futurebench"
INTERP_NAME = "futurebench_interp"
TEXT_LEVEL_FILE = "futurebench_text_level.json"


@dataclass
class FutureBenchExport:
    """What `export_futurebench` wrote (paths absolute)."""

    root: Path
    hop_file: Path | None = None
    interp_file: Path | None = None
    text_level_file: Path | None = None
    datasets: list[Path] = field(default_factory=list)
    """Saved datasets (``save_to_disk``) written, hop one first."""
    by_type: dict[str, int] = field(default_factory=dict)
    """Items with a clip per question type."""
    text_level: int = 0
    clips: int = 0
    linked: int = 0
    """Clips hard-linked (the others were copied, or were already in place)."""
    copied: int = 0

    @property
    def clip_dir(self) -> Path:
        """``ROOT/video_dataset``: the official YAML's ``cache_dir``."""
        return self.root / VIDEO_DIR


def official_doc(item: BenchItem, video_path: str | None) -> dict[str, Any]:
    """One document of the official schema (``past_caption`` added for a text-level one)."""
    doc: dict[str, Any] = {
        "id": item.id, "video_path": video_path, "question_type": item.question_type,
        "qa": {"Question": item.qa.Question, "Options": dict(sorted(item.qa.Options.items())),
               "Answer": item.qa.Answer}}
    if video_path is None:
        doc["past_caption"] = str(item.meta.get("past_caption", ""))
    return doc


def clip_sub_paths(clips: Sequence[Path]) -> dict[Path, str]:
    """Each distinct clip's sub path under ``video_dataset/`` (POSIX): its path below the
    deepest folder holding all clips; a hashed folder instead where that path holds
    ``video_dataset/`` (the official ``doc_to_visual`` would split there)."""
    unique = sorted(set(clips))
    if not unique:
        return {}
    common = Path(os.path.commonpath([str(p.parent) for p in unique]))
    subs: dict[Path, str] = {}
    for p in unique:
        sub = p.relative_to(common).as_posix()
        if f"{VIDEO_DIR}/" in sub:
            sub = f"{hashlib.sha1(str(p).encode()).hexdigest()[:12]}/{p.name}"
        subs[p] = sub
    return subs


def _place(src: Path, dest: Path) -> str:
    """Hard-link (or copy) ``src`` to ``dest``: ``linked``, ``copied`` or ``kept``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and os.path.samefile(src, dest):
        return "kept"
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
        how = "linked"
    except OSError:  # another file system, or links not allowed: copy
        shutil.copyfile(src, tmp)
        how = "copied"
    os.replace(tmp, dest)
    return how


def _write_json(path: Path, docs: list[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(docs, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _remove_dataset(path: Path) -> None:
    """Delete a saved dataset folder of an earlier export; refuse anything else."""
    if not path.exists():
        return
    if not (path / "dataset_dict.json").is_file():
        raise NextEventError("bench", f"{path} exists and is not a saved dataset",
                             "move it away or export to another ROOT")
    shutil.rmtree(path)


def gen_dataset_command(json_file: Path, dataset_dir: Path) -> str:
    """The shell command that saves ``json_file`` as the official task's dataset (what
    V1's ``gen_dataset.py`` does), for an environment with ``datasets``."""
    code = (f"from datasets import load_dataset; load_dataset('json', data_files="
            f"{{'test': {str(json_file)!r}}}).save_to_disk({str(dataset_dir)!r})")
    return f'python -c "{code}"'


def save_dataset(json_file: Path, dataset_dir: Path) -> None:
    """``load_dataset("json", data_files={"test": json_file}).save_to_disk(dataset_dir)``,
    as V1's ``gen_dataset.py`` (the load's cache in a temporary folder)."""
    import datasets

    with tempfile.TemporaryDirectory() as cache:
        ds = datasets.load_dataset("json", data_files={"test": str(json_file)}, cache_dir=cache)
        ds.save_to_disk(str(dataset_dir))


def export_futurebench(items: Sequence[BenchItem], root: str | Path, *,
                       save_datasets: bool | None = None) -> FutureBenchExport:
    """Write ``items`` and their clips in the official FutureBench layout (module doc).

    Args:
        items: the benchmark (`nextevent.bench.build.read_items`).
        root: the folder to write (made when missing).
        save_datasets: also save ``futurebench/`` and ``futurebench_interp/`` with
            ``datasets`` (None: when it is importable).

    Raises:
        NextEventError: stage ``bench``: no items; no item with a past clip (a text-level
            benchmark, which the official task cannot show); a clip that does not exist;
            ``save_datasets`` True without ``datasets``.
    """
    if not items:
        raise NextEventError("bench", "no items to export", "build a benchmark first "
                             "(nextevent bench build)")
    if save_datasets is None:
        try:
            import datasets  # noqa: F401
            save_datasets = True
        except ImportError:
            save_datasets = False
    elif save_datasets:
        try:
            import datasets  # noqa: F401
        except ImportError as err:
            raise NextEventError("bench", "saving the datasets needs the datasets package",
                                 "pip install datasets, or export without saving them and "
                                 "run the printed gen_dataset command") from err
    with_clip = [i for i in items if i.video_path is not None]
    text_level = [i for i in items if i.video_path is None]
    if not with_clip:
        raise NextEventError(
            "bench", f"none of the {len(items)} items has a past clip (a text-level "
            "benchmark); the official FutureBench task shows the video",
            "build the benchmark from a run directory (nextevent bench build RUN), or "
            "export --layout lmms-eval and run the futurebench_local_text_only task")
    clips = {i.id: Path(i.video_path).resolve() for i in with_clip}  # type: ignore[arg-type]
    missing = sorted({str(p) for p in clips.values() if not p.is_file()})
    if missing:
        raise NextEventError(
            "bench", f"{len(missing)} past clip(s) do not exist: {', '.join(missing[:3])}"
            + (" ..." if len(missing) > 3 else ""),
            "rebuild the run directory the benchmark was built from, or rebuild the "
            "benchmark")
    out = FutureBenchExport(root=Path(root).resolve())
    out.root.mkdir(parents=True, exist_ok=True)
    subs = clip_sub_paths(list(clips.values()))
    placed = Counter(_place(src, out.clip_dir / sub) for src, sub in subs.items())
    out.clips, out.linked, out.copied = len(subs), placed["linked"], placed["copied"]

    def doc(item: BenchItem) -> dict[str, Any]:
        return official_doc(item, f"{VIDEO_DIR}/{subs[clips[item.id]]}")

    files: dict[str, list[dict[str, Any]]] = {
        HOP_NAME: [doc(i) for i in with_clip if i.question_type in OFFICIAL_TYPES],
        INTERP_NAME: [doc(i) for i in with_clip if i.question_type not in OFFICIAL_TYPES]}
    out.by_type = dict(sorted(Counter(i.question_type for i in with_clip).items()))
    for name, docs in files.items():
        path = out.root / f"{name}.json"
        if docs:
            _write_json(path, docs)
        else:
            path.unlink(missing_ok=True)
        _remove_dataset(out.root / name)  # an earlier export's: stale beside the new file
        if docs and save_datasets:
            save_dataset(path, out.root / name)
            out.datasets.append(out.root / name)
        if docs:
            setattr(out, "hop_file" if name == HOP_NAME else "interp_file", path)
    text_path = out.root / TEXT_LEVEL_FILE
    if text_level:
        _write_json(text_path, [official_doc(i, None) for i in text_level])
        out.text_level_file, out.text_level = text_path, len(text_level)
    else:
        text_path.unlink(missing_ok=True)
    return out


def official_yaml_settings(export: FutureBenchExport) -> dict[str, str]:
    """The two settings of the official ``futurebench.yaml`` the V1 README says to check:
    ``dataset_path`` (the saved hop dataset) and ``dataset_kwargs.cache_dir`` (the clip
    folder, with a trailing slash as in the published YAML)."""
    return {"dataset_path": str(export.root / HOP_NAME),
            "cache_dir": str(export.clip_dir) + os.sep}


def configure_official_yaml(text: str, export: FutureBenchExport) -> str:
    """The official ``futurebench.yaml`` text with its ``dataset_path`` and ``cache_dir``
    lines set to `official_yaml_settings` (every other byte kept).

    Raises:
        ValueError: when the text lacks either line.
    """
    settings = official_yaml_settings(export)
    lines = text.splitlines(keepends=True)
    found = set()
    for k, line in enumerate(lines):
        stripped = line.lstrip()
        for key, value in settings.items():
            if stripped.startswith(f"{key}:") and key not in found:
                indent = line[:len(line) - len(stripped)]
                lines[k] = f"{indent}{key}: {json.dumps(value)}\n"
                found.add(key)
    if found != set(settings):
        raise ValueError(f"not an official futurebench.yaml: no {sorted(set(settings) - found)}")
    return "".join(lines)
