"""Mix T3 items with general instruction data into one LLaMA-Factory sharegpt dataset
(Video-T3, Li et al., arXiv 2410.06166: the text-only temporal data is mixed with general
multimodal instruction data at a chosen ratio).

General data, read by `read_general` (a JSON list or JSON Lines):

* **LLaVA** (``conversations`` of ``{"from": "human"|"gpt"|"system", "value"}``, media in
  ``image``/``video`` as a path or a list of paths; also LLaMA-Factory's own sharegpt
  spelling with ``images``/``videos`` lists and a ``system`` field). LLaVA-Video marks
  a video with ``<image>``: in a sample with videos and no images, ``<image>`` becomes
  ``<video>``; media with no placeholder at all get them at the start of the first user
  turn, as LLaVA places them;
* **sharegpt messages** (``messages`` of ``{"role": "user"|"assistant"|"system",
  "content": str}``, media in ``images``/``videos``/``audios`` lists).

Each sample becomes ``{"messages": [{"role", "content"}, ...], "images": [...], ...}``.
A sample LLaMA-Factory would reject or mis-read is skipped with its reason: roles that do
not alternate user/assistant (after an optional first system turn), an odd number of
turns, content that is not a string, or a count of ``<image>``/``<video>``/``<audio>``
placeholders that differs from the number of media files (LLaMA-Factory's mm_plugin
checks the same). T3 items become one user turn (the prompt) and one assistant turn
(the answer), with no media.

The output is checked against hiyouga/LLaMA-Factory ``src/llamafactory/data/converter.py``
(commit 02e2fb34): ``SharegptDatasetConverter`` reads ``messages`` with the tags the
``dataset_info.json`` entry names, takes a first ``system`` turn as the system prompt,
wants user turns at odd and assistant turns at even positions, and ``_find_medias``
treats an empty media list as no media, so text-only samples carry ``[]``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nextevent.export.base import MEDIA_PLACEHOLDERS, JsonListWriter, atomic_writer
from nextevent.export.llamafactory import (
    DATASET_INFO,
    dataset_info_entry,
    read_dataset_info,
    write_dataset_info,
)
from nextevent.records import NextEventError
from nextevent.t3.items import T3Item

MEDIA_KEYS = ("images", "videos", "audios")
"""Media columns, in the order they are written; placeholder ``<image>`` counts
``images``, ``<video>`` ``videos``, ``<audio>`` ``audios``."""

_PLACEHOLDER = {"images": "<image>", "videos": "<video>", "audios": "<audio>"}
_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
          "system": "system"}
_HINT = ("give a JSON list (or JSON Lines) of LLaVA samples (conversations with from/value) "
         "or sharegpt samples (messages with role/content)")


@dataclass
class GeneralData:
    """General instruction samples read by `read_general`.

    Attributes:
        samples: samples in sharegpt messages form, media as lists (keys only when used).
        format: ``llava`` or ``sharegpt``, as detected or given.
        skipped: ``"sample N: reason"`` for each sample left out.
    """

    samples: list[dict[str, Any]] = field(default_factory=list)
    format: str = ""
    skipped: list[str] = field(default_factory=list)


@dataclass
class MixResult:
    """What `write_mix` wrote.

    Attributes:
        files: the data file and ``dataset_info.json``.
        count, t3, general: samples written, of which T3 and general.
        dataset_name: the entry in ``dataset_info.json``.
        media: the media columns registered.
        skipped: reasons for T3 items left out (placeholders in their text).
    """

    files: list[Path] = field(default_factory=list)
    count: int = 0
    t3: int = 0
    general: int = 0
    dataset_name: str = ""
    media: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_general(path: str | Path, fmt: str = "auto") -> GeneralData:
    """Read general instruction data (formats in the module docstring).

    Args:
        path: a ``.json`` list or a JSON Lines file.
        fmt: ``auto`` (from the first sample's keys), ``llava`` or ``sharegpt``.

    Raises:
        NextEventError: stage ``mix``, when the file is missing or not JSON/JSONL, holds
            no sample, the format cannot be told, or no sample is usable.
        ValueError: for an unknown ``fmt``.
    """
    if fmt not in ("auto", "llava", "sharegpt"):
        raise ValueError(f"unknown general format {fmt!r}; use auto, llava or sharegpt")
    path = Path(path)
    raw = _load_json_or_jsonl(path)
    if not raw:
        raise NextEventError("mix", f"{path} holds no samples", _HINT)
    if fmt == "auto":
        first = raw[0] if isinstance(raw[0], dict) else {}
        if "conversations" in first:
            fmt = "llava"
        elif "messages" in first:
            fmt = "sharegpt"
        else:
            raise NextEventError("mix", f"{path}: cannot tell the format of sample 1 (keys: "
                                 f"{', '.join(sorted(first)) or 'none'})",
                                 _HINT + "; or pass --general-format")
    data = GeneralData(format=fmt)
    for n, sample in enumerate(raw, start=1):
        try:
            data.samples.append(_convert(sample, fmt))
        except ValueError as err:
            data.skipped.append(f"sample {n}: {err}")
    if not data.samples:
        raise NextEventError("mix", f"{path}: none of its {len(raw)} samples is usable as "
                             f"{fmt}; the first: {data.skipped[0]}", _HINT)
    return data


def _load_json_or_jsonl(path: Path) -> list[Any]:
    if not path.is_file():
        raise NextEventError("mix", f"general data file {path} does not exist", _HINT)
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as err:
            raise NextEventError("mix", f"{path} is neither JSON nor JSON Lines ({err.msg}, "
                                 f"line {err.lineno})", _HINT) from err
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise NextEventError("mix", f"{path} holds a JSON {type(data).__name__}, not a list",
                             _HINT)
    return data


def _media_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"{key} must be a path or a list of paths")


def _convert(sample: Any, fmt: str) -> dict[str, Any]:
    if not isinstance(sample, dict):
        raise ValueError(f"is a JSON {type(sample).__name__}, not an object")
    if fmt == "llava":
        turns, role_key, content_key = sample.get("conversations"), "from", "value"
        media = {"images": _media_list(sample.get("images", sample.get("image")), "image"),
                 "videos": _media_list(sample.get("videos", sample.get("video")), "video"),
                 "audios": _media_list(sample.get("audios"), "audios")}
    else:
        turns, role_key, content_key = sample.get("messages"), "role", "content"
        media = {k: _media_list(sample.get(k), k) for k in MEDIA_KEYS}
    if not isinstance(turns, list) or not turns:
        raise ValueError("has no conversation turns")
    messages: list[dict[str, str]] = []
    system = sample.get("system")
    if isinstance(system, str) and system.strip():
        messages.append({"role": "system", "content": system})
    for turn in turns:
        if not isinstance(turn, dict):
            raise ValueError("has a turn that is not an object")
        role = _ROLES.get(str(turn.get(role_key)))
        content = turn.get(content_key)
        if role is None:
            raise ValueError(f"has an unsupported role {turn.get(role_key)!r}")
        if not isinstance(content, str):
            raise ValueError("has a turn whose content is not a string")
        messages.append({"role": role, "content": content})
    if fmt == "llava":
        _llava_placeholders(messages, media)
    check_messages(messages, media)
    return {"messages": messages, **{k: v for k, v in media.items() if v}}


def _llava_placeholders(messages: list[dict[str, str]], media: dict[str, list[str]]) -> None:
    """LLaVA spellings LLaMA-Factory reads otherwise: LLaVA-Video marks a video with
    ``<image>`` (renamed ``<video>`` when the sample has videos and no images), and some
    LLaVA-style data gives media with no placeholder (then the placeholders are put at
    the start of the first user turn, where LLaVA puts them)."""
    def used(tag: str) -> int:
        return sum(m["content"].count(tag) for m in messages)

    if (media["videos"] and not media["images"] and not used("<video>")
            and used("<image>") == len(media["videos"])):
        for m in messages:
            m["content"] = m["content"].replace("<image>", "<video>")
    first_user = next((m for m in messages if m["role"] == "user"), None)
    if first_user is None:
        return
    for key, tag in _PLACEHOLDER.items():
        if media[key] and not used(tag):
            first_user["content"] = tag * len(media[key]) + first_user["content"]


def check_messages(messages: list[dict[str, str]], media: dict[str, list[str]]) -> None:
    """Check a sample as LLaMA-Factory's sharegpt converter and mm_plugin would.

    Raises:
        ValueError: naming the problem (roles out of turn, odd turn count, placeholder
            count that differs from the number of media files).
    """
    body = messages[1:] if messages and messages[0]["role"] == "system" else messages
    if not body or len(body) % 2:
        raise ValueError(f"has {len(body)} user/assistant turns; needs an even, non-zero "
                         "number")
    for i, m in enumerate(body):
        want = "user" if i % 2 == 0 else "assistant"
        if m["role"] != want:
            raise ValueError(f"turn {i + 1} is {m['role']}, expected {want}")
    for key, tag in _PLACEHOLDER.items():
        used = sum(m["content"].count(tag) for m in messages)
        if used != len(media.get(key, [])):
            raise ValueError(f"has {used} {tag} placeholder(s) but {len(media.get(key, []))} "
                             f"{key}")


def t3_sample(item: T3Item) -> dict[str, Any]:
    """A T3 item as a sharegpt sample: user = prompt, assistant = answer.

    Raises:
        ValueError: when the prompt or answer holds a media placeholder (a caption that
            says ``<image>`` would be counted as a media slot).
    """
    for tag in MEDIA_PLACEHOLDERS:
        if tag in item.prompt or tag in item.answer:
            raise ValueError(f"T3 item {item.id} has a literal {tag} in its text")
    return {"messages": [{"role": "user", "content": item.prompt},
                         {"role": "assistant", "content": item.answer}]}


def mix_counts(available_t3: int, available_general: int, *, ratio: float | None = None,
               t3_count: int | None = None, general_count: int | None = None
               ) -> tuple[int, int]:
    """How many T3 and general samples to take.

    With ``ratio`` (the T3 share of the output, ``0 < ratio < 1``): all general samples
    and ``round(ratio / (1 - ratio) * general)`` T3 items; when there are not that many
    T3 items, all of them and ``round(t3 * (1 - ratio) / ratio)`` general samples. With
    counts: the counts given, all available for a count left out.

    Raises:
        ValueError: when both a ratio and counts are given, neither is, the ratio is out
            of range, or a count exceeds what is available.
    """
    if ratio is not None and (t3_count is not None or general_count is not None):
        raise ValueError("give --ratio or the counts (--t3-count/--general-count), not both")
    if ratio is None and t3_count is None and general_count is None:
        raise ValueError("give --ratio or --t3-count/--general-count")
    if ratio is not None:
        if not 0 < ratio < 1:
            raise ValueError(f"--ratio is the T3 share of the mix and must be in (0, 1), "
                             f"got {ratio}")
        n_t3 = round(ratio / (1 - ratio) * available_general)
        if n_t3 <= available_t3:
            return n_t3, available_general
        return available_t3, min(available_general,
                                 round(available_t3 * (1 - ratio) / ratio))
    n_t3 = available_t3 if t3_count is None else t3_count
    n_gen = available_general if general_count is None else general_count
    for name, n, avail in (("--t3-count", n_t3, available_t3),
                           ("--general-count", n_gen, available_general)):
        if not 0 <= n <= avail:
            raise ValueError(f"{name} {n} is out of range: {avail} samples are available")
    return n_t3, n_gen


def mix_samples(t3: Sequence[T3Item], general: Sequence[dict[str, Any]], *,
                ratio: float | None = None, t3_count: int | None = None,
                general_count: int | None = None, seed: int = 0
                ) -> tuple[list[dict[str, Any]], int, int, list[str]]:
    """Draw (seeded, without replacement) and shuffle T3 and general samples.

    Returns:
        The samples, how many are T3 and general, and the T3 items skipped (with why).
        T3 items that cannot be written are skipped before counting.

    Raises:
        ValueError: as `mix_counts`.
        NextEventError: stage ``mix``, when no T3 item can be written (none, or every one
            skipped).
    """
    rng = random.Random(f"{seed}:mix")
    t3_ok, skipped = [], []
    for item in t3:
        try:
            t3_ok.append(t3_sample(item))
        except ValueError as err:
            skipped.append(str(err))
    if not t3_ok:  # a "mix" without T3 would register a general-only dataset silently
        raise NextEventError(
            "mix", "no T3 item can be written as a sample" + (
                f" ({len(skipped)} skipped; first: {skipped[0]})" if skipped else
                " (the T3 file has no items)"), "pass a T3 file with items from "
            "`nextevent t3 synth`; nothing was written")
    n_t3, n_gen = mix_counts(len(t3_ok), len(general), ratio=ratio, t3_count=t3_count,
                             general_count=general_count)
    chosen = rng.sample(t3_ok, n_t3) + rng.sample(list(general), n_gen)
    rng.shuffle(chosen)
    return chosen, n_t3, n_gen, skipped


def write_mix(samples: Sequence[dict[str, Any]], out: str | Path,
              dataset_name: str | None = None) -> MixResult:
    """Write ``samples`` as a LLaMA-Factory sharegpt JSON list at ``out`` and register it
    in ``dataset_info.json`` beside it (other entries kept).

    Every sample gets every media column any sample uses (``[]`` when it has none); the
    entry's ``columns`` name exactly those.

    Raises:
        NextEventError: stage ``export``, when an existing ``dataset_info.json`` beside
            ``out`` is not a JSON object (nothing is written).
        ValueError: for a dataset name that is empty or holds ``/``.
    """
    out = Path(out)
    name = dataset_name or out.stem
    if not name or "/" in name:
        raise ValueError(f"dataset name {name!r} must be a plain, non-empty name")
    info_path = out.parent / DATASET_INFO
    info = read_dataset_info(info_path)
    media = [k for k in MEDIA_KEYS if any(s.get(k) for s in samples)]
    with atomic_writer(out) as handle:
        writer = JsonListWriter(handle)
        for sample in samples:
            writer.add({"messages": sample["messages"], **{k: sample.get(k, []) for k in media}})
        writer.close()
    system = any(s["messages"] and s["messages"][0]["role"] == "system" for s in samples)
    info[name] = dataset_info_entry(out.name, media, system=system)
    write_dataset_info(info_path, info)
    return MixResult(files=[out.resolve(), info_path.resolve()], count=writer.count,
                     dataset_name=name, media=media)


def mix_files(t3_path: str | Path, general_path: str | Path, out: str | Path, *,
              ratio: float | None = None, t3_count: int | None = None,
              general_count: int | None = None, seed: int = 0, general_format: str = "auto",
              dataset_name: str | None = None) -> MixResult:
    """`read_general` + `mix_samples` + `write_mix`: ``T3.jsonl`` and a general data file
    to a registered LLaMA-Factory dataset.

    ``MixResult.skipped`` lists the general samples and T3 items left out, with why.

    Raises:
        NextEventError: as `read_general` and `write_mix`, or when ``t3_path`` is
            missing or not a T3 file.
        ValueError: as `mix_counts`.
    """
    from nextevent.t3.synth import read_items

    try:
        items = list(read_items(t3_path))
    except FileNotFoundError as err:
        raise NextEventError("mix", f"T3 file {t3_path} does not exist",
                             "write it with `nextevent t3 synth --out ...`") from err
    except ValueError as err:
        raise NextEventError("mix", str(err), "pass the JSONL written by `nextevent t3 synth`"
                             ) from err
    general = read_general(general_path, general_format)
    samples, n_t3, n_gen, skipped = mix_samples(
        items, general.samples, ratio=ratio, t3_count=t3_count, general_count=general_count,
        seed=seed)
    result = write_mix(samples, out, dataset_name)
    result.t3, result.general = n_t3, n_gen
    result.skipped = [f"general {s}" for s in general.skipped] + skipped
    return result
