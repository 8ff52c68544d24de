"""Build FutureBench items (V1, Wang et al., arXiv 2505.22457, FutureBench) from records.

Extrapolation items (``hop1|hop2|hop3|hop5``): given the past, which option lists the next
k events in order. Interpolation items (``interp``): given the past and an end anchor (the
last event, the final state), which option lists the events in between, in order. Each
item has four options A-D: the truth and three distractors
(`nextevent.bench.distractors`); answer letters are spread evenly over A-D by a seeded
shuffle (`quality` reports the chi-square p-value).

Two inputs: a run directory (``records.jsonl``; the split is the record's, the past clip
is the item's ``video_path``) or an annotation file read by
`nextevent.sources.load_annotations` (text level: ``video_path`` is None, the split is
chosen per question type).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nextevent.bench.distractors import (
    NeighbourIndex,
    normalize,
    order_distractors,
    render,
    seq_key,
    swap_distractors,
)
from nextevent.bench.stats import chi_square_uniform
from nextevent.records import MCQ, BenchItem, NextEventError
from nextevent.store import read_records

HOPS: dict[str, int] = {"hop1": 1, "hop2": 2, "hop3": 3, "hop5": 5}
"""Extrapolation question types and their number of future events."""
QUESTION_TYPES: tuple[str, ...] = ("hop1", "hop2", "hop3", "hop5", "interp")
INTERP_MAX_BETWEEN = 3
"""Most events between the past and the end anchor of an interpolation item."""
LETTERS = ("A", "B", "C", "D")


@dataclass(frozen=True)
class Story:
    """One video's events as the builder uses them.

    Attributes:
        id: the source record id (``video_id#split``) or the video id (text level).
        video_id: the dataset's video id (hard negatives never come from it).
        domain: where hard negatives may come from (the annotation source).
        events: event sentences in order.
        split: number of past events fixed by the record; None to choose per type.
        video_path: the past clip; None for text-level items.
    """

    id: str
    video_id: str
    domain: str
    events: tuple[str, ...]
    split: int | None
    video_path: str | None


def stories_from_run(run_dir: str | Path) -> list[Story]:
    """Stories of a run's ``records.jsonl`` (past clips resolved against ``run_dir``).

    Raises:
        NextEventError: stage ``bench``, when the run has no ``records.jsonl``.
    """
    path = Path(run_dir) / "records.jsonl"
    if not path.is_file():
        raise NextEventError("bench", f"{path} does not exist",
                             "give a run directory written by `nextevent build`")
    out = []
    for rec in read_records(path):
        clip = str((Path(run_dir) / rec.past.path).resolve()) if rec.past else None
        out.append(Story(rec.id, rec.video_id, rec.source, tuple(e.text for e in rec.events),
                         rec.split.last_past_event + 1, clip))
    return out


def stories_from_annotations(path: str | Path, fmt: str) -> list[Story]:
    """Text-level stories from an annotation file (no media; ``video_path`` None)."""
    from nextevent.sources import load_annotations

    result = load_annotations(Path(path), fmt)
    return [Story(a.video_id, a.video_id, a.source, tuple(e.text for e in a.events), None,
                  None) for a in result.annotations]


def layout(story: Story, qtype: str) -> tuple[list[str], list[str], str | None] | None:
    """``(past events, true answer events, end anchor or None)`` of ``story`` for
    ``qtype``, or None when the story has too few events for it."""
    ev, n = list(story.events), len(story.events)
    if qtype in HOPS:
        k = HOPS[qtype]
        split = story.split if story.split is not None else n - k
        if split < 1 or n - split < k:
            return None
        return ev[:split], ev[split:split + k], None
    split = story.split if story.split is not None else max(1, n - 1 - INTERP_MAX_BETWEEN)
    between = ev[split:n - 1]
    if split < 1 or not between or len(between) > INTERP_MAX_BETWEEN and story.split is None:
        return None
    return ev[:split], between, ev[n - 1]


def _question(qtype: str, anchor: str | None) -> str:
    if qtype == "interp":
        return ("The video shows the beginning of an activity. In the end, this is the "
                f'final state: "{anchor}" Which option lists the events that happen in '
                "between, in order?")
    k = HOPS[qtype]
    if k == 1:
        return "The video shows what happened so far. What happens next?"
    return (f"The video shows what happened so far. Which option lists the next {k} events, "
            "in the order they happen?")


def build_items(stories: Sequence[Story], *, seed: int = 0,
                types: Iterable[str] = QUESTION_TYPES, index: NeighbourIndex | None = None,
                counterfactuals: dict[str, list[list[str]]] | None = None,
                ) -> tuple[list[BenchItem], Counter[str]]:
    """FutureBench items from ``stories``.

    Args:
        stories: the videos (`stories_from_run` / `stories_from_annotations`).
        seed: seed of every random choice (distractors, letters); same seed, same items.
        types: question types to build.
        index: hard-negative index; None builds one over all stories' events (MiniLM).
        counterfactuals: item id -> model-written continuations (kind ``counterfactual``);
            used first when given.

    Returns:
        The items (answer letters balanced over A-D) and counts of skipped
        ``(type, reason)`` pairs.

    Raises:
        ValueError: for an unknown question type.
    """
    types = tuple(types)
    bad = set(types) - set(QUESTION_TYPES)
    if bad:
        raise ValueError(f"unknown question types {sorted(bad)}; use {QUESTION_TYPES}")
    if index is None:
        index = NeighbourIndex.build([(s.video_id, s.domain, e) for s in stories
                                      for e in s.events])
    skipped: Counter[str] = Counter()
    drafts: list[dict[str, Any]] = []
    for story in stories:
        for qtype in types:
            lay = layout(story, qtype)
            if lay is None:
                skipped[f"{qtype}: too few events"] += 1
                continue
            past, truth, anchor = lay
            if len({normalize(e) for e in truth}) < len(truth):
                skipped[f"{qtype}: repeated events"] += 1
                continue
            item_id = f"{story.id}:{qtype}"
            rng = random.Random(f"{seed}:{item_id}")
            options: list[tuple[str, list[str]]] = []
            for seq in (counterfactuals or {}).get(item_id, [])[:1]:
                options.append(("counterfactual", seq))
            if len(truth) > 1:
                options += [("order", s) for s in order_distractors(truth, rng, 1)]
            options += [("swap", s) for s in
                        swap_distractors(truth, index, story.video_id, story.domain, rng, 3)]
            chosen: list[tuple[str, list[str]]] = []
            seen = {seq_key(truth)}
            for kind, seq in options:
                if seq_key(seq) not in seen:
                    seen.add(seq_key(seq))
                    chosen.append((kind, seq))
            if len(chosen) < 3:
                skipped[f"{qtype}: fewer than 3 distinct distractors"] += 1
                continue
            drafts.append({"id": item_id, "story": story, "qtype": qtype, "past": past,
                           "truth": truth, "anchor": anchor, "distractors": chosen[:3],
                           "rng": rng})
    letters = [LETTERS[i % 4] for i in range(len(drafts))]
    random.Random(f"{seed}:letters").shuffle(letters)
    items = []
    for draft, letter in zip(drafts, letters, strict=False):
        rest = [x for x in LETTERS if x != letter]
        draft["rng"].shuffle(rest)
        opts = {letter: render(draft["truth"])}
        kinds = {letter: "answer"}
        for slot, (kind, seq) in zip(rest, draft["distractors"], strict=False):
            opts[slot] = render(seq)
            kinds[slot] = kind
        story = draft["story"]
        items.append(BenchItem(
            id=draft["id"], video_path=story.video_path, question_type=draft["qtype"],
            qa=MCQ(Question=_question(draft["qtype"], draft["anchor"]),
                   Options={x: opts[x] for x in LETTERS}, Answer=letter),  # type: ignore[misc]
            meta={"source_record": story.id, "video_id": story.video_id,
                  "domain": story.domain, "option_kinds": {x: kinds[x] for x in LETTERS},
                  "seed": seed, "past_caption": " ".join(draft["past"]),
                  "answer_events": draft["truth"], "end_anchor": draft["anchor"]}))
    return items, skipped


def quality(items: Sequence[BenchItem]) -> dict[str, Any]:
    """Quality checks of a benchmark.

    Returns:
        ``n``, ``by_type`` counts, ``letters`` counts, ``letter_chi2`` and
        ``letter_p`` (Pearson chi-square against uniform A-D), ``duplicate_options``
        (items with two options equal after `normalize`), ``answer_among_distractors``
        (items where a distractor equals the answer), ``duplicate_items`` (repeated
        question + answer text), ``distractor_kinds`` counts.
    """
    letters = Counter(i.qa.Answer for i in items)
    stat, p = chi_square_uniform([letters.get(x, 0) for x in LETTERS])
    dup_opts = ans_dup = 0
    keys: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for item in items:
        norm = {x: normalize(o) for x, o in item.qa.Options.items()}
        dup_opts += len(set(norm.values())) < len(norm)
        ans_dup += sum(v == norm[item.qa.Answer] for x, v in norm.items()
                       if x != item.qa.Answer) > 0
        keys[normalize(item.qa.Question) + "|" + norm[item.qa.Answer]
             + "|" + str(item.video_path)] += 1
        kinds.update(k for k in item.meta.get("option_kinds", {}).values() if k != "answer")
    return {"n": len(items), "by_type": dict(Counter(i.question_type for i in items)),
            "letters": {x: letters.get(x, 0) for x in LETTERS}, "letter_chi2": stat,
            "letter_p": p, "duplicate_options": dup_opts, "answer_among_distractors": ans_dup,
            "duplicate_items": sum(c - 1 for c in keys.values() if c > 1),
            "distractor_kinds": dict(kinds)}


def write_items(items: Iterable[BenchItem], path: str | Path) -> int:
    """Write items as JSON lines; returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for item in items:
            f.write(item.model_dump_json() + "\n")
            n += 1
    return n


def read_items(path: str | Path) -> list[BenchItem]:
    """Read a benchmark JSONL file.

    Raises:
        NextEventError: stage ``bench``, when the file is missing or a line is not an item.
    """
    path = Path(path)
    if not path.is_file():
        raise NextEventError("bench", f"benchmark {path} does not exist",
                             "build one with `nextevent bench build`")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(BenchItem.model_validate_json(line))
            except ValueError as err:
                raise NextEventError("bench", f"{path} line {n} is not a FutureBench item: "
                                     f"{str(err)[:300]}", "rebuild the benchmark") from err
    return out
