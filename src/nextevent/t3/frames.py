"""Pseudo-videos from independent image captions (Video-T3, Li et al., arXiv 2410.06166,
Sec. 3: T3 composes image-caption data into text "videos" of ``Frame k: ...`` lines).

A pseudo-video holds ``S`` distinct captions ("scenes"), each shown for a run of one or
more consecutive frames, ``N`` frames in all (``S <= N <= max_frames``). The runs are a
seeded random composition of ``N`` into ``S`` positive parts, so a scene's frame span is
known exactly from the construction and the attribute "which scene is shown" changes at
known frames. Each caption is used in at most one pseudo-video; identical captions (after
whitespace cleaning) are read once.

Caption files: ``.txt`` (one caption per line), ``.json`` (a list of strings, a list of
objects with a ``caption``/``text``/``sentence`` field, or COCO captions
``{"annotations": [{"caption": ...}]}``) or ``.jsonl`` (one string or such object a line).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from nextevent.records import NextEventError
from nextevent.t3.timeline import Segment, Timeline

CAPTION_KEYS = ("caption", "text", "sentence")
_HINT = ("give a .txt file with one caption per line, a .json list of captions (strings or "
         "objects with a 'caption' field, or COCO captions), or .jsonl")


def read_captions(path: str | Path) -> list[str]:
    """Read independent image captions, whitespace-normalised, empty and repeated ones
    left out, in file order.

    Raises:
        NextEventError: stage ``import``, when the file is missing, not UTF-8, not valid
            JSON/JSONL for its suffix, holds an entry with no caption, or no caption.
    """
    path = Path(path)
    if not path.is_file():
        raise NextEventError("import", f"caption file {path} does not exist or is not a file",
                             _HINT)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise NextEventError("import", f"caption file {path} is not UTF-8 text", _HINT) from err
    suffix = path.suffix.lower()
    raw: list[Any]
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise NextEventError("import", f"{path} is not valid JSON (line {err.lineno}: "
                                 f"{err.msg})", _HINT) from err
        if isinstance(data, dict) and isinstance(data.get("annotations"), list):
            data = data["annotations"]
        if not isinstance(data, list):
            raise NextEventError("import", f"{path} holds a JSON {type(data).__name__}, not a "
                                 "list of captions", _HINT)
        raw = data
    elif suffix == ".jsonl":
        raw = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                raw.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise NextEventError("import", f"{path}: line {n} is not JSON ({err.msg})",
                                     _HINT) from err
    else:
        raw = text.splitlines()

    captions: list[str] = []
    seen: set[str] = set()
    for n, item in enumerate(raw, start=1):
        value = item
        if isinstance(item, dict):
            value = next((item[k] for k in CAPTION_KEYS if isinstance(item.get(k), str)), None)
        if not isinstance(value, str):
            raise NextEventError("import", f"{path}: entry {n} has no caption string", _HINT)
        caption = " ".join(value.split())
        if caption and caption not in seen:
            seen.add(caption)
            captions.append(caption)
    if not captions:
        raise NextEventError("import", f"{path} holds no caption", _HINT)
    return captions


def compose_pseudo_videos(
    captions: list[str],
    *,
    max_frames: int = 16,
    min_scenes: int = 3,
    max_scenes: int = 6,
    seed: int = 0,
    source: str = "captions",
) -> list[Timeline]:
    """Compose captions into pseudo-videos (rule in the module docstring).

    Args:
        captions: distinct captions (e.g. from `read_captions`).
        max_frames: most frames per pseudo-video.
        min_scenes, max_scenes: fewest and most captions per pseudo-video.
        seed: seed of the caption draw, scene counts, frame counts and runs.
        source: the timelines' source name.

    Returns:
        Timelines with ids ``pv000000``, ``pv000001``, ...; each segment's ``ref`` is the
        caption's index in ``captions``. Leftover captions (fewer than a pseudo-video
        needs) are not used.

    Raises:
        ValueError: when ``2 <= min_scenes <= max_scenes`` or ``min_scenes <= max_frames``
            does not hold.
    """
    if not 2 <= min_scenes <= max_scenes or min_scenes > max_frames:
        raise ValueError(f"need 2 <= min_scenes ({min_scenes}) <= max_scenes ({max_scenes}) "
                         f"and min_scenes <= max_frames ({max_frames})")
    rng = random.Random(f"{seed}:pseudo-videos")
    order = list(range(len(captions)))
    rng.shuffle(order)
    timelines: list[Timeline] = []
    pos = 0
    while True:
        n_scenes = rng.randint(min_scenes, min(max_scenes, max_frames))
        if pos + n_scenes > len(order):
            break
        refs = order[pos:pos + n_scenes]
        pos += n_scenes
        n_frames = rng.randint(n_scenes, max_frames)
        cuts = sorted(rng.sample(range(1, n_frames), n_scenes - 1))
        bounds = [0, *cuts, n_frames]
        segments = [Segment(captions[ref], bounds[i] + 1, bounds[i + 1], ref)
                    for i, ref in enumerate(refs)]
        frame_seg = [i for i, seg in enumerate(segments) for _ in range(seg.first, seg.last + 1)]
        texts = [segments[i].text for i in frame_seg]
        timelines.append(Timeline(f"pv{len(timelines):06d}", source, texts,
                                  list(frame_seg), segments))
    return timelines
