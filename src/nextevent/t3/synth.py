"""Synthesize T3 items from timelines: the four aspects, seeded, deduplicated, length
filtered (Video-T3, Li et al., "Temporal Reasoning Transfer from Text to Video", arXiv
2410.06166, Sec. 3).

Per timeline and aspect, up to ``per_aspect`` items are drawn: each draw picks a task of
the aspect (tasks tried in a seeded random order until one applies), a template and a
form (``mc`` or ``open``). The random generator of a timeline is seeded by
``(seed, source, video id)``, so a video's items do not depend on which other videos are
in the input. Then, in this order:

1. **Dedupe**: an item whose (video, form, question, correct answer) was already drawn,
   or whose prompt and answer equal an earlier item's, is dropped.
2. **Length**: with ``max_tokens``, an item whose prompt plus answer has more tokens
   (`nextevent.t3.tokens`) is dropped.
3. **Number**: with ``num``, each aspect gives an equal share, taken in a seeded shuffled
   order (shares an aspect cannot fill go to the others); the kept items are written in
   generation order. With ``num``, tokens are counted only for the items looked at, so
   ``too_long`` counts those, not the whole input.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nextevent.export.base import atomic_writer
from nextevent.records import NEPRecord, VideoAnnotation
from nextevent.t3 import attribute, grounding, order, referring
from nextevent.t3.items import ASPECTS, FORMS, Question, T3Item, make_item
from nextevent.t3.timeline import Timeline, TimelineError, timeline_from_events
from nextevent.t3.tokens import TokenCounter

Generator = Callable[[Timeline, random.Random], Question | None]

TASKS: dict[str, dict[str, Generator]] = {
    "order": order.TASKS,
    "attribute": attribute.TASKS,
    "referring": referring.TASKS,
    "grounding": grounding.TASKS,
}
"""Aspect -> task name -> generator."""


@dataclass
class SynthConfig:
    """How to synthesize.

    Attributes:
        aspects: which aspects (subset of `nextevent.t3.items.ASPECTS`).
        per_aspect: draws per timeline and aspect.
        forms: ``mc`` and/or ``open``; each item's form is drawn among them.
        seed: seed of every random choice.
        num: most items in all (balanced over aspects), or None for all.
        max_tokens: most prompt + answer tokens per item, or None.
        counter: token counter for ``max_tokens`` and the items' ``tokens`` field;
            None writes no counts unless ``max_tokens`` is set (then whitespace words).
    """

    aspects: Sequence[str] = ASPECTS
    per_aspect: int = 2
    forms: Sequence[str] = FORMS
    seed: int = 0
    num: int | None = None
    max_tokens: int | None = None
    counter: TokenCounter | None = None

    def __post_init__(self) -> None:
        bad = [a for a in self.aspects if a not in TASKS]
        if bad or not self.aspects:
            raise ValueError(f"unknown aspect(s) {bad or self.aspects}; choose from "
                             f"{', '.join(ASPECTS)}")
        bad = [f for f in self.forms if f not in FORMS]
        if bad or not self.forms:
            raise ValueError(f"unknown form(s) {bad or self.forms}; choose from mc, open")
        if self.per_aspect < 1:
            raise ValueError("per_aspect must be at least 1")
        if self.num is not None and self.num < 1:
            raise ValueError("num must be at least 1")


@dataclass
class SynthResult:
    """What `synthesize` produced.

    Attributes:
        items: the kept items.
        timelines: timelines read.
        by_aspect, by_task, by_form: counts of kept items.
        duplicates: items dropped as duplicates.
        too_long: items dropped by ``max_tokens``.
        not_selected: items left out by ``num``.
        no_question: draws where no task of the aspect applied to the timeline.
    """

    items: list[T3Item] = field(default_factory=list)
    timelines: int = 0
    by_aspect: dict[str, int] = field(default_factory=dict)
    by_task: dict[str, int] = field(default_factory=dict)
    by_form: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    too_long: int = 0
    not_selected: int = 0
    no_question: dict[str, int] = field(default_factory=dict)


def timelines_from_annotations(
    annotations: Iterable[VideoAnnotation], *, max_frames: int = 16,
    min_interval_s: float = 1.0,
) -> tuple[list[Timeline], Counter[str]]:
    """One timeline per video (see `nextevent.t3.timeline.timeline_from_events`).

    Returns:
        The timelines and the count of videos skipped per reason (``overlap``,
        ``too_few_events``, ``other``).
    """
    timelines: list[Timeline] = []
    skipped: Counter[str] = Counter()
    for ann in annotations:
        try:
            timelines.append(timeline_from_events(
                ann.video_id, ann.source, ann.events, ann.duration_s,
                max_frames=max_frames, min_interval_s=min_interval_s))
        except TimelineError as err:
            skipped[_reason(err)] += 1
    return timelines, skipped


def timelines_from_records(
    records: Iterable[NEPRecord], *, max_frames: int = 16, min_interval_s: float = 1.0,
) -> tuple[list[Timeline], Counter[str]]:
    """One timeline per video of a run's records (``record.events``; the splits of one
    video share its events, so later records of a video are passed over), with the
    video's probed duration when the record has one."""
    seen: set[tuple[str, str]] = set()
    annotations = []
    for record in records:
        key = (record.source, record.video_id)
        if key in seen:
            continue
        seen.add(key)
        annotations.append(VideoAnnotation(
            video_id=record.video_id, source=record.source, events=record.events,
            duration_s=record.video.duration_s if record.video else None))
    return timelines_from_annotations(annotations, max_frames=max_frames,
                                      min_interval_s=min_interval_s)


def _reason(err: TimelineError) -> str:
    text = str(err)
    if "overlap" in text:
        return "overlap"
    if "fewer than 2" in text or "no events" in text:
        return "too_few_events"
    return "other"


def synthesize(timelines: Iterable[Timeline], config: SynthConfig | None = None) -> SynthResult:
    """Draw T3 items from ``timelines`` (steps in the module docstring).

    Raises:
        ValueError: for a bad `SynthConfig` (raised when it is built).
    """
    config = config or SynthConfig()
    result = SynthResult()
    drawn: list[T3Item] = []
    seen_question: set[str] = set()
    seen_prompt: set[str] = set()
    no_question: Counter[str] = Counter()
    for timeline in timelines:
        result.timelines += 1
        rng = random.Random(f"{config.seed}:{timeline.source}:{timeline.id}")
        for aspect in config.aspects:
            tasks = list(TASKS[aspect].values())
            for _ in range(config.per_aspect):
                rng.shuffle(tasks)
                question = next((q for q in (task(timeline, rng) for task in tasks)
                                 if q is not None), None)
                if question is None:
                    no_question[aspect] += 1
                    break  # no task applies: another draw cannot do better
                form = rng.choice(list(config.forms))
                item = make_item(timeline, question, form, rng)
                if item is None and "open" in config.forms:
                    item = make_item(timeline, question, "open", rng)
                if item is None:
                    no_question[aspect] += 1
                    continue
                qkey = _key(timeline.source, timeline.id, item.form, question.text,
                            question.correct)
                pkey = _key(item.prompt, item.answer)
                if qkey in seen_question or pkey in seen_prompt:
                    result.duplicates += 1
                    continue
                seen_question.add(qkey)
                seen_prompt.add(pkey)
                drawn.append(item)
    result.no_question = dict(no_question)

    counter = config.counter
    if counter is None and config.max_tokens is not None:
        counter = TokenCounter()
    if config.num is not None and config.num < len(drawn):
        keep = _select(drawn, config.num, random.Random(f"{config.seed}:select"), counter,
                       config.max_tokens, result)
        result.not_selected = len(drawn) - len(keep) - result.too_long
        drawn = [item for i, item in enumerate(drawn) if i in keep]
    elif counter is not None:
        passed = _count_and_filter(drawn, counter, config.max_tokens)
        result.too_long = len(drawn) - sum(passed)
        drawn = [item for item, ok in zip(drawn, passed, strict=True) if ok]

    result.items = drawn
    result.by_aspect = dict(Counter(i.aspect for i in drawn))
    result.by_task = dict(sorted(Counter(i.task for i in drawn).items()))
    result.by_form = dict(Counter(i.form for i in drawn))
    return result


def _key(*parts: str) -> str:
    return hashlib.sha1("\x00".join(parts).encode("utf-8")).hexdigest()


def _count_and_filter(items: Sequence[T3Item], counter: TokenCounter,
                      max_tokens: int | None) -> list[bool]:
    """Count tokens into each item's ``tokens``; True for the items within ``max_tokens``."""
    prompts = counter.count_batch([i.prompt for i in items]) if items else []
    unique = list(dict.fromkeys(i.answer for i in items))  # letters repeat a lot
    answer_counts = dict(zip(unique, counter.count_batch(unique) if unique else [],
                             strict=True))
    passed = []
    for item, p in zip(items, prompts, strict=True):
        a = answer_counts[item.answer]
        item.tokens = {"prompt": p, "answer": a, "counter": counter.name}
        passed.append(max_tokens is None or p + a <= max_tokens)
    return passed


def _select(items: list[T3Item], num: int, rng: random.Random, counter: TokenCounter | None,
            max_tokens: int | None, result: SynthResult, chunk: int = 512) -> set[int]:
    """Indices of ``num`` items balanced over aspects: each aspect's items are taken in a
    seeded shuffled order up to an equal share of what is still needed (shares of
    aspects that run out go to the others). Tokens are counted only for the items looked
    at, so a length filter with a small ``num`` does not count the whole input."""
    queues: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        queues.setdefault(item.aspect, []).append(i)
    for aspect in sorted(queues):
        rng.shuffle(queues[aspect])
    pos = dict.fromkeys(queues, 0)
    keep: set[int] = set()
    while len(keep) < num:
        active = [a for a in sorted(queues) if pos[a] < len(queues[a])]
        if not active:
            break
        need = num - len(keep)
        shares = [need // len(active) + (n < need % len(active)) for n in range(len(active))]
        for aspect, share in zip(active, shares, strict=True):
            taken = 0
            while taken < share and pos[aspect] < len(queues[aspect]):
                look = queues[aspect][pos[aspect]:pos[aspect] + max(share - taken, 1)]
                if counter is not None:
                    look = queues[aspect][pos[aspect]:pos[aspect] + max(share - taken, chunk)]
                    passed = _count_and_filter([items[i] for i in look], counter, max_tokens)
                else:
                    passed = [True] * len(look)
                for i, ok in zip(look, passed, strict=True):
                    pos[aspect] += 1
                    if not ok:
                        result.too_long += 1
                    elif taken < share:
                        keep.add(i)
                        taken += 1
                    else:  # counted but not needed in this round: look at it again later
                        pos[aspect] -= 1
                        break
    return keep


def write_items(items: Iterable[T3Item], path: str | Path) -> int:
    """Write items as JSON Lines to ``path`` (atomically: a killed run leaves no half
    file). Returns the number written."""
    n = 0
    with atomic_writer(Path(path)) as handle:
        for item in items:
            handle.write(item.model_dump_json(exclude_none=False) + "\n")
            n += 1
    return n


def read_items(path: str | Path) -> Iterator[T3Item]:
    """Yield the items of a ``T3.jsonl`` file.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: naming the line, when a line is not a T3 item.
    """
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield T3Item.model_validate(json.loads(line))
            except ValueError as err:
                raise ValueError(f"{path}: line {n} is not a T3 item ({err}); write the file "
                                 "with `nextevent t3 synth`") from err
