"""Load a dataset with LLaMA-Factory's own code, in LLaMA-Factory's own venv.

`check_llamafactory_dataset` runs, inside ``.cache/venvs/llamafactory`` (llamafactory 0.9.5
and the versions it pins: datasets 4.0.0, peft 0.18.1, transformers 5.6.0, accelerate
1.11.0), exactly the data path of LLaMA-Factory's ``data/loader.py`` up to the converter:

1. ``llamafactory.data.parser.get_dataset_list([name], dataset_dir)`` reads our
   ``dataset_info.json`` into a ``DatasetAttr`` (formatting, columns, tags, ranking);
2. ``datasets.load_dataset("json", data_files=<dataset_dir>/<file_name>)`` as
   ``_load_single_dataset`` does for ``load_from == "file"``;
3. ``llamafactory.data.converter.align_dataset`` with a real ``DataArguments`` (the
   ``SharegptDatasetConverter`` for ``formatting: sharegpt``), which maps every row to
   ``_prompt`` / ``_response`` / ``_system`` / ``_videos`` and empties rows it finds broken.

A converted sample counts when it survives the checks LLaMA-Factory applies next: an odd
number of prompt turns, one response (two for ``ranking``), as many ``<video>`` tags as
videos (``mm_plugin._validate_messages``), and video files that exist.

What is not LLaMA-Factory's own code: the package ``llamafactory.data`` is entered without
running its ``__init__`` (which imports the collator, template and mm_plugin, and through
mm_plugin ``torchaudio``, which has no build for torch 2.13); the modules used above are
imported and run unchanged. ``training_args`` is a namespace with
``local_process_index=0`` (the one field ``align_dataset`` reads).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from venvs import ensure_venv

LLAMAFACTORY = "llamafactory==0.9.5"
INSTALLS = (
    ("--no-deps", LLAMAFACTORY),
    ("datasets==4.0.0", "peft==0.18.1", "transformers==5.6.0", "accelerate==1.11.0",
     "omegaconf"),
)

_SCRIPT = r'''
import dataclasses, importlib.util, json, os, sys, types
from types import SimpleNamespace

dataset_dir, names, media_dir, configs = (sys.argv[1], json.loads(sys.argv[2]),
                                          sys.argv[3] or None, json.loads(sys.argv[4]))
root = importlib.util.find_spec("llamafactory").submodule_search_locations[0]
import llamafactory  # the real package init (version only)
for sub in ("data", "hparams"):  # enter without their heavy __init__ (see module doc)
    pkg = types.ModuleType(f"llamafactory.{sub}")
    pkg.__path__ = [os.path.join(root, sub)]
    sys.modules[f"llamafactory.{sub}"] = pkg
from llamafactory.data.parser import get_dataset_list
from llamafactory.data.converter import align_dataset
from llamafactory.hparams.data_args import DataArguments
import datasets

out = {"datasets": {}, "configs": {}}
for name in names:
    (attr,) = get_dataset_list([name], dataset_dir)
    assert attr.load_from == "file", attr
    data_args = DataArguments(dataset_dir=dataset_dir, media_dir=media_dir, overwrite_cache=True)
    path = os.path.join(dataset_dir, attr.dataset_name)
    raw = datasets.load_dataset("json", data_files=[path], split="train")
    aligned = align_dataset(raw, attr, data_args, SimpleNamespace(local_process_index=0))
    ok, problems = 0, []
    for i, ex in enumerate(aligned):
        prompt, response, videos = ex["_prompt"], ex["_response"], ex["_videos"] or []
        n_resp = 2 if attr.ranking else 1
        tags = sum(m["content"].count("<video>") for m in prompt + response)
        why = []
        if not prompt or len(prompt) % 2 != 1:
            why.append(f"{len(prompt)} prompt turns")
        if len(response) != n_resp:
            why.append(f"{len(response)} responses, want {n_resp}")
        if tags != len(videos):
            why.append(f"{tags} <video> tags for {len(videos)} videos")
        missing = [v for v in videos if not os.path.isfile(v)]
        if missing:
            why.append(f"missing videos {missing}")
        if why:
            problems.append({"index": i, "why": why})
        else:
            ok += 1
    out["datasets"][name] = {
        "converted": ok, "rows": len(raw), "problems": problems[:5],
        "ranking": bool(attr.ranking), "formatting": attr.formatting,
        "system_tag": attr.system_tag, "first": aligned[0] if len(aligned) else None,
    }
if configs:  # training YAMLs: every key must be a field of LLaMA-Factory's argument classes
    import yaml
    from transformers import Seq2SeqTrainingArguments
    from llamafactory.hparams.finetuning_args import FinetuningArguments
    from llamafactory.hparams.generating_args import GeneratingArguments
    from llamafactory.hparams.model_args import ModelArguments
    known = {f.name for cls in (ModelArguments, DataArguments, FinetuningArguments,
                                GeneratingArguments, Seq2SeqTrainingArguments)
             for f in dataclasses.fields(cls)}
    for path in configs:
        with open(path) as f:
            cfg = yaml.safe_load(f)
        out["configs"][path] = {"unknown": sorted(set(cfg) - known), "config": cfg}
print("NEXTEVENT_RESULT " + json.dumps(out, default=str))
'''


def run_llamafactory(dataset_dir: Path, dataset_names: list[str],
                     media_dir: Path | None = None, configs: list[Path] = ()) -> dict:
    """Run LLaMA-Factory's parser and converter on registered datasets, and check training
    YAMLs' keys against LLaMA-Factory's argument dataclasses (plus transformers'
    ``Seq2SeqTrainingArguments``, which its ``TrainingArguments`` extends).

    Returns:
        ``{"datasets": {name: {"converted", "rows", "problems", "ranking", "formatting",
        "system_tag", "first"}}, "configs": {path: {"unknown": [keys], "config": {...}}}}``;
        ``first`` is the first converted row (``_prompt``, ``_response``, ``_system``,
        ``_videos``).

    Raises:
        RuntimeError: when the venv cannot be built or LLaMA-Factory's code raises (its
            traceback is in the message).
    """
    python = ensure_venv("llamafactory", INSTALLS)
    proc = subprocess.run(
        [str(python), "-c", _SCRIPT, str(Path(dataset_dir).resolve()), json.dumps(dataset_names),
         str(Path(media_dir).resolve()) if media_dir else "",
         json.dumps([str(Path(c).resolve()) for c in configs])],
        capture_output=True, text=True, timeout=600,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
             "DISABLE_VERSION_CHECK": "1", "HOME": str(Path.home())},
    )
    for line in proc.stdout.splitlines():
        if line.startswith("NEXTEVENT_RESULT "):
            return json.loads(line[len("NEXTEVENT_RESULT "):])
    raise RuntimeError(f"LLaMA-Factory's converter failed on {dataset_names} in {dataset_dir} "
                       f"({proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")


def check_llamafactory_dataset(dataset_dir: Path, dataset_name: str,
                               media_dir: Path | None = None) -> int:
    """Number of samples of ``dataset_name`` (registered in ``dataset_dir/dataset_info.json``)
    that LLaMA-Factory's own dataset converter turns into valid training samples.

    Args:
        dataset_dir: LLaMA-Factory's ``dataset_dir`` (holds ``dataset_info.json``).
        dataset_name: the dataset's key in ``dataset_info.json``.
        media_dir: LLaMA-Factory's ``media_dir`` for relative media paths (default: the
            dataset dir, as LLaMA-Factory defaults it).

    Raises:
        RuntimeError: as `run_llamafactory`.
    """
    result = run_llamafactory(dataset_dir, [dataset_name], media_dir)
    return int(result["datasets"][dataset_name]["converted"])
