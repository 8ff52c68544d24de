"""Build FutureBench items (V1, Wang et al., arXiv 2505.22457, FutureBench) from records.

Extrapolation items (``hop1|hop2|hop3|hop5``): given the past, which option lists the next
k events in order. Interpolation items (``interp``): given the past and an end anchor (the
last event, the final state), which option lists the events in between, in order.

Options come from *exchangeable groups* (`nextevent.bench.groups`): four similar videos
share one option set (their four true answers) under one letter arrangement, each item
keyed by its own video's answer. Any rule reading only the options (and, for
extrapolation, the fixed question) picks the same letter in all four items and so is
right exactly once per group: chance, by construction, on any data. Groups are accepted
only while, over a type, the past caption, its last event and (interpolation) the end
anchor and question do not rank the keys above chance by any of seven word, character,
tf-idf and MiniLM similarities (adversarial filtering, Zellers et al., SWAG, EMNLP
2018). Candidate items that break a clean-up rule (`nextevent.bench.clean`), repeat
another item's question and answer, or find no group are left out, each with a
`Failure` line (`BuildResult.failures`); the blind audit then gates the whole build,
dropping whole groups only (`nextevent.bench.gate`).

Two inputs: a run directory (``records.jsonl``; the split is the record's, the past clip
is the item's ``video_path``) or an annotation file read by
`nextevent.sources.load_annotations` (text level: ``video_path`` is None, the split is
the last k events; ``meta.past_caption`` and ``meta.end_anchor`` carry the text).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nextevent.bench.clean import duplicate_key, entry_problem
from nextevent.bench.distractors import normalize, render
from nextevent.bench.groups import GROUP_SIZE, NEIGHBOURS, Entry, form_groups
from nextevent.bench.stats import chi_square_uniform
from nextevent.bench.textsim import near_duplicate
from nextevent.jsonl import JSONLError, decode_line, iter_lines, write_jsonl
from nextevent.records import MCQ, BenchItem, Failure, NextEventError
from nextevent.rundir import RunDir
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
        video_id: the dataset's video id (two of its segments never share a group).
        domain: the annotation source (kept in ``meta.domain``).
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


@dataclass
class LoadedStories:
    """Stories read from an input, with what the reader left out.

    Attributes:
        stories: the stories, in input order.
        failures: the reader's `Failure` lines (import cleaning: dropped events and
            videos, malformed entries).
        stats: the reader's counts (`nextevent.sources.ImportResult.stats`: events kept,
            dropped, clipped, trimmed, ...); empty for a run directory.
    """

    stories: list[Story]
    failures: list[Failure] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)


def stories_from_run(run_dir: str | Path) -> list[Story]:
    """Stories of a run's ``records.jsonl`` (past clips resolved against ``run_dir``).

    Raises:
        NextEventError: stage ``bench``, when the run has no ``records.jsonl`` or a line of
            it is not a NEP record.
    """
    path = RunDir(Path(run_dir)).records
    if not path.is_file():
        raise NextEventError("bench", f"{path} does not exist",
                             "give a run directory written by `nextevent build`")
    out = []
    for rec in read_records(path, stage="bench", hint="give a run directory written by "
                            "`nextevent build`, and not while a build writes to it"):
        clip = str((Path(run_dir) / rec.past.path).resolve()) if rec.past else None
        out.append(Story(rec.id, rec.video_id, rec.source, tuple(e.text for e in rec.events),
                         rec.split.last_past_event + 1, clip))
    return out


def load_annotation_stories(path: str | Path, fmt: str) -> LoadedStories:
    """Text-level stories from an annotation file (no media; ``video_path`` None), with
    the import's failures and counts.

    Raises:
        NextEventError: stage ``import``, as `nextevent.sources.load_annotations`.
    """
    from nextevent.sources import load_annotations

    result = load_annotations(Path(path), fmt)
    stories = [Story(a.video_id, a.video_id, a.source, tuple(e.text for e in a.events), None,
                     None) for a in result.annotations]
    return LoadedStories(stories, list(result.failures), dict(result.stats))


def stories_from_annotations(path: str | Path, fmt: str) -> list[Story]:
    """Text-level stories from an annotation file (`load_annotation_stories` without the
    failures)."""
    return load_annotation_stories(path, fmt).stories


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


def needed_events(qtype: str) -> int:
    """Fewest events a text-level story needs for ``qtype`` (one past event, the answer,
    and for interpolation the end anchor)."""
    return 1 + HOPS[qtype] if qtype in HOPS else 3


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


@dataclass
class BuildResult:
    """What `build_items` made.

    Attributes:
        items: the items, by type then group (each group's 4 items together).
        failures: one `Failure` (stage ``bench``) per candidate item left out, with the
            story id as ``input`` and the type and reason in ``error``.
        counts: per type: ``stories``, ``candidates`` (after the clean-up rules),
            ``skipped`` (reason -> count), ``groups``, ``items``, ``tried`` /
            ``rejected`` / ``clashes`` (candidate groups looked at, outside the rank
            budget, passed over for a near-duplicate pair), ``key_ranks`` (per
            ``"<text>:<measure>"`` of the symmetric check, the fraction of items whose key
            is the most, 2nd, 3rd, least similar option).
    """

    items: list[BenchItem]
    failures: list[Failure]
    counts: dict[str, dict[str, Any]]


def _failure(story: Story, qtype: str, reason: str, hint: str) -> Failure:
    return Failure(input=story.id, stage="bench", error=f"{qtype}: {reason}", hint=hint,
                   key=f"bench:{story.id}:{qtype}")


def _vectors(vectors: Any) -> Any:
    if vectors is None:
        from nextevent.audit.embed import TextVectors

        vectors = TextVectors()
    return vectors


def build_items(stories: Sequence[Story], *, seed: int = 0,
                types: Iterable[str] = QUESTION_TYPES, vectors: Any = None,
                counterfactuals: Mapping[str, list[list[str]]] | None = None,
                neighbours: int = NEIGHBOURS) -> BuildResult:
    """FutureBench items from ``stories`` in exchangeable groups (module docstring).

    Args:
        stories: the videos (`stories_from_run` / `load_annotation_stories`).
        seed: seed of every random choice (group order, letters); same seed, same items.
        types: question types to build.
        vectors: a `nextevent.audit.embed.TextVectors` (MiniLM, shared with the audit of
            `nextevent.bench.gate` so nothing is encoded twice); None makes one.
        counterfactuals: item id (``<story id>:<type>``) -> model-written continuations
            (`nextevent.bench.counterfactual`). They are never options: they steer which
            videos are grouped (a seed's partners are the videos whose true answer is
            closest to the seed's counterfactual, averaged with caption similarity), so
            every option stays a key of its group.
        neighbours: nearest free videos tried per seed (`nextevent.bench.groups`).

    Returns:
        The `BuildResult`.

    Raises:
        ValueError: for an unknown question type.
    """
    types = tuple(types)
    bad = set(types) - set(QUESTION_TYPES)
    if bad:
        raise ValueError(f"unknown question types {sorted(bad)}; use {QUESTION_TYPES}")
    vectors = _vectors(vectors)
    items: list[BenchItem] = []
    failures: list[Failure] = []
    counts: dict[str, dict[str, Any]] = {}
    for qtype in types:
        skipped: Counter[str] = Counter()
        entries, owners = _entries(stories, qtype, failures, skipped)
        vectors.add([t for e in entries for t in (*e.events, e.question)])
        cf = counterfactuals or {}
        for e in entries:
            for seq in cf.get(f"{e.story_id}:{qtype}", [])[:1]:
                vectors.add(seq)
        by_len: dict[int, list[int]] = defaultdict(list)
        for i, e in enumerate(entries):
            by_len[len(e.truth)].append(i)
        tally = Counter[str]()
        ranks: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(GROUP_SIZE))
        n_groups = 0
        for length in sorted(by_len):
            part = [entries[i] for i in by_len[length]]
            videos = {e.video_id for e in part}
            closeness = _closeness(part, qtype, vectors, cf)
            grouping = form_groups(part, qtype, vectors.mean, seed=seed + length,
                                   closeness=closeness, neighbours=neighbours)
            tally.update(tried=grouping.tried, rejected=grouping.rejected,
                         clashes=grouping.clashes)
            if grouping.balance is not None and grouping.balance.groups:
                for name, rates in grouping.balance.rates().items():
                    ranks[name] += np.asarray(rates) * grouping.balance.groups * GROUP_SIZE
            for j in grouping.ungrouped:
                e = part[j]
                if len(videos) < GROUP_SIZE:
                    why = (f"only {len(videos)} video(s) can make {qtype} items with "
                           f"{length} answer event(s); an exchangeable group needs "
                           f"{GROUP_SIZE} different videos")
                    hint = "add videos (or annotations) so each question type has 4 or more"
                    skipped["fewer than 4 videos"] += 1
                else:
                    why = ("no exchangeable group found: every group of it with its "
                           f"nearest videos had a near-duplicate option or let the past"
                           f"{' or the end anchor' if qtype == 'interp' else ''} point at "
                           "the answer by word or MiniLM similarity")
                    hint = "expected for videos unlike the others; more videos give more groups"
                    skipped["no group passed the symmetric check"] += 1
                failures.append(_failure(owners[e.story_id], qtype, why, hint))
            for members in grouping.groups:
                group_id = f"{qtype}-{n_groups:04d}"
                items += _group_items([part[j] for j in members], qtype, group_id, seed,
                                      owners, grouped_by="counterfactual" if cf else "caption")
                n_groups += 1
        counts[qtype] = {"stories": len(stories), "candidates": len(entries),
                         "skipped": dict(skipped), "groups": n_groups,
                         "items": n_groups * GROUP_SIZE, **dict(tally),
                         "key_ranks": {name: [round(float(x) / max(1, n_groups * GROUP_SIZE), 4)
                                              for x in v] for name, v in ranks.items()}}
    return BuildResult(items, failures, counts)


def _entries(stories: Sequence[Story], qtype: str, failures: list[Failure],
             skipped: Counter[str]) -> tuple[list[Entry], dict[str, Story]]:
    """Candidate items of one type after the clean-up rules; failures for the rest."""
    entries: list[Entry] = []
    owners: dict[str, Story] = {}
    seen: dict[str, str] = {}
    for story in stories:
        lay = layout(story, qtype)
        if lay is None:
            skipped["too few events"] += 1
            need = needed_events(qtype)
            failures.append(_failure(
                story, qtype, f"too few events ({len(story.events)}"
                + (f", split after event {story.split}" if story.split is not None else "")
                + f"; needs {need} or more" + (" with the split leaving enough after it"
                                                  if story.split is not None else "") + ")",
                "expected for short videos; they make items of shorter types"))
            continue
        past, truth, anchor = lay
        problem = entry_problem(past, truth, anchor)
        if problem:
            skipped[_reason(problem)] += 1
            failures.append(_failure(story, qtype, problem,
                                     "the item would be ambiguous or give its answer away"))
            continue
        question = _question(qtype, anchor)
        key = duplicate_key(question, render(truth))
        if key in seen:
            skipped["same question and answer as another item"] += 1
            failures.append(_failure(story, qtype, "same question and answer text as item "
                                     f"{seen[key]}:{qtype}", "duplicates are kept once"))
            continue
        seen[key] = story.id
        owners[story.id] = story
        entries.append(Entry(story.id, story.video_id, tuple(past), tuple(truth), anchor,
                             question, story.events))
    return entries, owners


def _reason(problem: str) -> str:
    """The reason class of an `entry_problem` message (for counts)."""
    for prefix, name in (("the answer repeats", "the answer repeats an event"),
                         ("the past caption already", "the past contains an answer event"),
                         ("the answer event", "the past contains an answer event"),
                         ("the end anchor", "the end anchor restates an answer event")):
        if problem.startswith(prefix):
            return name
    return problem


def _closeness(part: Sequence[Entry], qtype: str, vectors: Any,
               cf: Mapping[str, list[list[str]]]) -> np.ndarray:
    """Grouping similarity: MiniLM cosine of whole captions; with counterfactuals,
    averaged with the cosine of the seed's counterfactual to each partner's answer."""
    caps = np.stack([vectors.mean(e.events) for e in part])
    close = caps @ caps.T
    if not cf:
        return close
    answers = np.stack([vectors.mean(e.truth) for e in part])
    guided = []
    for e, cap in zip(part, caps, strict=True):
        seqs = cf.get(f"{e.story_id}:{qtype}", [])
        guided.append(vectors.mean(seqs[0]) if seqs else cap)
    cf_close = np.stack(guided) @ answers.T
    both = (close + cf_close) / 2
    return (both + both.T) / 2


def _group_items(members: Sequence[Entry], qtype: str, group_id: str, seed: int,
                 owners: Mapping[str, Story], grouped_by: str) -> list[BenchItem]:
    """The 4 items of one group: one option set, one letter arrangement, 4 keys."""
    order = list(range(len(members)))
    random.Random(f"{seed}:{group_id}:letters").shuffle(order)
    at = {LETTERS[pos]: members[k] for pos, k in enumerate(order)}
    options = {x: render(e.truth) for x, e in at.items()}
    sources = {x: e.story_id for x, e in at.items()}
    out = []
    for letter, entry in sorted(at.items(), key=lambda kv: kv[1].story_id):
        story = owners[entry.story_id]
        out.append(BenchItem(
            id=f"{story.id}:{qtype}", video_path=story.video_path, question_type=qtype,
            qa=MCQ(Question=entry.question, Options=dict(options),  # type: ignore[arg-type]
                   Answer=letter),  # type: ignore[arg-type]
            meta={"source_record": story.id, "video_id": story.video_id,
                  "domain": story.domain, "group": group_id, "grouped_by": grouped_by,
                  "option_kinds": {x: "answer" if x == letter else "other_video"
                                   for x in LETTERS},
                  "option_sources": dict(sources), "seed": seed,
                  "past_caption": entry.past_caption, "answer_events": list(entry.truth),
                  "end_anchor": entry.anchor}))
    return out


def quality(items: Sequence[BenchItem]) -> dict[str, Any]:
    """Quality checks of a benchmark.

    Returns:
        ``n``, ``by_type`` counts, ``letters`` counts, ``letter_chi2`` and ``letter_p``
        (Pearson chi-square against uniform A-D), ``duplicate_options`` (items with two
        options equal after `normalize`), ``near_duplicate_options`` (items with two
        options that are near duplicates, `nextevent.bench.textsim`),
        ``answer_among_distractors`` (a distractor equals the answer),
        ``duplicate_items`` (repeated question + answer text), ``groups`` (option sets
        per type), ``non_exchangeable_groups`` (option sets that do not appear in
        exactly 4 items with each option the key once), ``distractor_kinds`` counts.
    """
    letters = Counter(i.qa.Answer for i in items)
    stat, p = chi_square_uniform([letters.get(x, 0) for x in LETTERS])
    dup_opts = near_opts = ans_dup = 0
    keys: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    sets: dict[tuple[str, str], list[BenchItem]] = defaultdict(list)
    for item in items:
        norm = {x: normalize(o) for x, o in item.qa.Options.items()}
        dup_opts += len(set(norm.values())) < len(norm)
        texts = list(item.qa.Options.values())
        near_opts += any(near_duplicate(a, b) for i, a in enumerate(texts)
                         for b in texts[i + 1:])
        ans_dup += sum(v == norm[item.qa.Answer] for x, v in norm.items()
                       if x != item.qa.Answer) > 0
        keys[normalize(item.qa.Question) + "|" + norm[item.qa.Answer]
             + "|" + str(item.video_path)] += 1
        kinds.update(k for k in item.meta.get("option_kinds", {}).values() if k != "answer")
        sets[(item.question_type, "\x00".join(f"{x}={norm[x]}" for x in sorted(norm)))].append(
            item)
    broken = sum(len(group) != GROUP_SIZE or sorted(i.qa.Answer for i in group)
                 != list(LETTERS) for group in sets.values())
    by_type_groups = Counter(t for t, _ in sets)
    return {"n": len(items), "by_type": dict(Counter(i.question_type for i in items)),
            "letters": {x: letters.get(x, 0) for x in LETTERS}, "letter_chi2": stat,
            "letter_p": p, "duplicate_options": dup_opts, "near_duplicate_options": near_opts,
            "answer_among_distractors": ans_dup,
            "duplicate_items": sum(c - 1 for c in keys.values() if c > 1),
            "groups": dict(by_type_groups), "non_exchangeable_groups": broken,
            "distractor_kinds": dict(kinds)}


def write_items(items: Iterable[BenchItem], path: str | Path) -> int:
    """Write items as JSON Lines (one ``model_dump_json`` a line), atomically, creating the
    folder; returns how many.

    Raises:
        OSError: when the file cannot be written.
    """
    return write_jsonl(path, items)


def write_failures(failures: Iterable[Failure], path: str | Path) -> int:
    """Write `Failure` lines (JSON Lines, one per line, the same key once), atomically;
    returns how many.

    Raises:
        OSError: when the file cannot be written.
    """
    seen: set[str] = set()

    def first_of_key() -> Iterator[Failure]:
        for failure in failures:
            if failure.key not in seen:
                seen.add(failure.key)
                yield failure

    return write_jsonl(path, first_of_key())


def read_items(path: str | Path) -> list[BenchItem]:
    """Read a benchmark JSONL file (one `BenchItem` a line), refusing items that cannot
    be asked or scored (`nextevent.audit.items.mc_problem`: an empty id or question, an
    empty or repeated option, an answer letter not among the options), ids repeated in
    the file and a file without items (nothing to evaluate, filter or export).

    Raises:
        NextEventError: stage ``bench``, when the file is missing or has no items, or (a
            `JSONLError`,
            also a ``ValueError``) naming the line, when a line is not such an item.
    """
    path = Path(path)
    if not path.is_file():
        raise NextEventError("bench", f"benchmark {path} " + (
                             "is a folder, not a file" if path.is_dir() else "does not exist"),
                             "build one with `nextevent bench build`")
    from nextevent.audit.items import mc_problem

    hint = "rebuild the benchmark"
    items: list[BenchItem] = []
    first_line: dict[str, int] = {}
    for number, raw in iter_lines(path):
        item = decode_line(raw, BenchItem, path=path, number=number,
                           what="a FutureBench item", stage="bench", hint=hint)
        why = mc_problem(item.id, item.qa.Question, dict(item.qa.Options), item.qa.Answer)
        if why is None and item.id in first_line:
            why = f"id {item.id!r} repeats line {first_line[item.id]}"
        if why is not None:  # schema-valid but unanswerable or ambiguous: refuse the file
            raise JSONLError("bench", f"{path} line {number} is not a FutureBench item: "
                             f"{why}", hint, path, number)
        first_line[item.id] = number
        items.append(item)
    if not items:
        raise NextEventError("bench", f"benchmark {path} has no items",
                             "build one with `nextevent bench build` (a filter that "
                             "dropped every item says so in its .blind.json report)")
    return items
