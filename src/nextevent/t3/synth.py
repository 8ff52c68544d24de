"""Synthesize T3 items from timelines: the four aspects, seeded, deduplicated, length
filtered, audited (Video-T3, Li et al., "Temporal Reasoning Transfer from Text to Video",
arXiv 2410.06166, Sec. 3).

Per timeline and aspect, up to ``per_aspect`` orbits are drawn: each draw picks a task of
the aspect (tasks tried in a seeded random order until one applies), which returns an
`nextevent.t3.items.Orbit` (the questions sharing one option list, each option the key
of one of them), and a form (``mc`` or ``open``) for all its questions. The random
generator of a timeline is seeded by ``(seed, source, video id)``, so a video's items do
not depend on which other videos are in the input. An orbit is kept or dropped whole at
every step below, so each option stays the key of exactly one kept member. In order:

1. **Dedupe**: an orbit any of whose items repeats the (video, form, question, correct
   answer) or the prompt and answer of an earlier item is dropped.
2. **Length**: with ``max_tokens``, an orbit with an item whose prompt plus answer has
   more tokens (`nextevent.t3.tokens`) is dropped.
3. **Number**: with ``num``, each aspect gives an equal share of items, whole orbits
   taken in a seeded shuffled order while they fit (shares an aspect cannot fill go to
   the others); the kept items are written in generation order. With ``num``, tokens are
   counted only for the orbits looked at, so ``too_long`` counts those.
4. **Gate** (`nextevent.t3.gate`, `t3 synth --gate`): the blind audit of
   `nextevent.audit` runs on the multiple-choice items; orbits a failing baseline solves
   are dropped until every task with >= 100 items passes, or synthesis stops naming
   the baseline and task.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nextevent.jsonl import JSONLError, decode_line, iter_lines, write_jsonl
from nextevent.records import Failure, NEPRecord, VideoAnnotation
from nextevent.t3 import attribute, grounding, order, referring
from nextevent.t3.items import ASPECTS, FORMS, Orbit, T3Item, make_items
from nextevent.t3.timeline import Timeline, TimelineError, timeline_from_events
from nextevent.t3.tokens import TokenCounter

Generator = Callable[[Timeline, random.Random], Orbit | None]

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
        orbits: orbits kept.
        by_aspect, by_task, by_form: counts of kept items.
        duplicates: items dropped as duplicates (with their orbits).
        too_long: items dropped by ``max_tokens`` (with their orbits).
        not_selected: items left out by ``num``.
        no_question: draws where no task of the aspect applied to the timeline.
        pairs_blocked: event pairs of the timelines never asked about together, per rule
            (``raw_iou``: raw spans overlap by IoU >= 0.5; ``near_duplicate`` texts).
        gate: what the audit gate did (`nextevent.t3.gate.GateResult`), or None.
    """

    items: list[T3Item] = field(default_factory=list)
    timelines: int = 0
    orbits: int = 0
    by_aspect: dict[str, int] = field(default_factory=dict)
    by_task: dict[str, int] = field(default_factory=dict)
    by_form: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    too_long: int = 0
    not_selected: int = 0
    no_question: dict[str, int] = field(default_factory=dict)
    pairs_blocked: dict[str, int] = field(default_factory=dict)
    gate: Any = None


def timelines_from_annotations(
    annotations: Iterable[VideoAnnotation], *, max_frames: int = 16,
    min_interval_s: float = 1.0, raw_ends: dict[str, list[float | None]] | None = None,
    failures: list[Failure] | None = None,
) -> tuple[list[Timeline], Counter[str]]:
    """One timeline per video (see `nextevent.t3.timeline.timeline_from_events`).

    Args:
        annotations: the videos; ``extra["duration_from"]`` names where a duration came
            from (default ``annotation``; `nextevent.t3.durations` sets
            ``durations_file``).
        max_frames, min_interval_s: the frame sampling.
        raw_ends: video id -> raw end per event (`nextevent.t3.raw.match_raw`), for the
            raw-overlap rule; None when unknown.
        failures: when given, one `Failure` (stage ``t3``) per skipped video is appended.

    Returns:
        The timelines and the count of videos skipped per reason (``overlap``,
        ``too_few_events``, ``other``).
    """
    timelines: list[Timeline] = []
    skipped: Counter[str] = Counter()
    for ann in annotations:
        ends = (raw_ends or {}).get(ann.video_id)
        try:
            timelines.append(timeline_from_events(
                ann.video_id, ann.source, ann.events, ann.duration_s,
                max_frames=max_frames, min_interval_s=min_interval_s,
                raw_ends=ends if ends is not None and len(ends) == len(ann.events) else None,
                duration_from=str(ann.extra.get("duration_from", "annotation"))))
        except TimelineError as err:
            reason = _reason(err)
            skipped[reason] += 1
            if failures is not None:
                failures.append(Failure(
                    input=ann.video_id, stage="t3", key=f"t3:{ann.source}:{ann.video_id}",
                    error=f"video {ann.video_id} skipped ({reason}): {err}",
                    hint="a T3 text video needs at least 2 events visible in its frames; "
                         "lower --min-interval or raise --max-frames to see short events"))
    return timelines, skipped


def timelines_from_records(
    records: Iterable[NEPRecord], *, max_frames: int = 16, min_interval_s: float = 1.0,
    failures: list[Failure] | None = None,
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
        duration = record.video.duration_s if record.video else None
        annotations.append(VideoAnnotation(
            video_id=record.video_id, source=record.source, events=record.events,
            duration_s=duration, extra={"duration_from": "probe"}))
    return timelines_from_annotations(annotations, max_frames=max_frames,
                                      min_interval_s=min_interval_s, failures=failures)


def _reason(err: TimelineError) -> str:
    text = str(err)
    if "overlap" in text:
        return "overlap"
    if "fewer than 2" in text or "no events" in text:
        return "too_few_events"
    return "other"


def synthesize(timelines: Iterable[Timeline], config: SynthConfig | None = None) -> SynthResult:
    """Draw T3 items from ``timelines`` (steps 1-3 in the module docstring; the gate,
    step 4, is `nextevent.t3.gate.gate`, run by `t3 synth` on the result).

    Raises:
        ValueError: for a bad `SynthConfig` (raised when it is built).
    """
    config = config or SynthConfig()
    result = SynthResult()
    orbits: list[list[T3Item]] = []
    seen_question: set[str] = set()
    seen_prompt: set[str] = set()
    no_question: Counter[str] = Counter()
    blocked: Counter[str] = Counter()
    for timeline in timelines:
        result.timelines += 1
        blocked.update(_blocked_pairs(timeline))
        rng = random.Random(f"{config.seed}:{timeline.source}:{timeline.id}")
        for aspect in config.aspects:
            tasks = list(TASKS[aspect].values())
            for _ in range(config.per_aspect):
                rng.shuffle(tasks)
                orbit = next((o for o in (task(timeline, rng) for task in tasks)
                              if o is not None), None)
                if orbit is None:
                    no_question[aspect] += 1
                    break  # no task applies: another draw cannot do better
                form = rng.choice(list(config.forms))
                items = make_items(timeline, orbit, form, rng)
                keys = [(_key(timeline.source, timeline.id, item.form, q.text, q.correct),
                         _key(item.prompt, item.answer))
                        for item, q in zip(items, orbit.questions, strict=True)]
                if (any(qk in seen_question or pk in seen_prompt for qk, pk in keys)
                        or len({qk for qk, _ in keys}) < len(keys)):
                    result.duplicates += len(items)
                    continue
                for qk, pk in keys:
                    seen_question.add(qk)
                    seen_prompt.add(pk)
                orbits.append(items)
    result.no_question = dict(no_question)
    result.pairs_blocked = {k: blocked.get(k, 0) for k in ("raw_iou", "near_duplicate")}

    counter = config.counter
    if counter is None and config.max_tokens is not None:
        counter = TokenCounter()
    total = sum(len(o) for o in orbits)
    if config.num is not None and config.num < total:
        keep = _select(orbits, config.num, random.Random(f"{config.seed}:select"), counter,
                       config.max_tokens, result)
        kept = [o for i, o in enumerate(orbits) if i in keep]
        result.not_selected = total - sum(len(o) for o in kept) - result.too_long
        orbits = kept
    elif counter is not None:
        flat = [item for o in orbits for item in o]
        passed = iter(_count_and_filter(flat, counter, config.max_tokens))
        kept = []
        for o in orbits:
            ok = [next(passed) for _ in o]
            if all(ok):
                kept.append(o)
            else:
                result.too_long += len(o)
        orbits = kept
    return finish(result, orbits)


def finish(result: SynthResult, orbits: Sequence[Sequence[T3Item]]) -> SynthResult:
    """Set ``result``'s items and counts from the kept ``orbits``; returns ``result``."""
    drawn = [item for o in orbits for item in o]
    result.items = drawn
    result.orbits = len(orbits)
    result.by_aspect = dict(Counter(i.aspect for i in drawn))
    result.by_task = dict(sorted(Counter(i.task for i in drawn).items()))
    result.by_form = dict(Counter(i.form for i in drawn))
    return result


def _blocked_pairs(timeline: Timeline) -> Counter[str]:
    """Event pairs of ``timeline`` that `Timeline.paired` refuses, per rule."""
    from nextevent.t3.similar import RAW_IOU_MAX, iou, near_duplicate

    out: Counter[str] = Counter()
    segs = timeline.segments
    for i in range(len(segs)):
        for j in range(i + 1, len(segs)):
            if segs[i].text == segs[j].text:
                continue  # same text: never nameable, not a pair rule
            if near_duplicate(segs[i].text, segs[j].text):
                out["near_duplicate"] += 1
            else:
                a, b = segs[i].raw_span, segs[j].raw_span
                if a is not None and b is not None and iou(a, b) >= RAW_IOU_MAX:
                    out["raw_iou"] += 1
    return out


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


def _select(orbits: list[list[T3Item]], num: int, rng: random.Random,
            counter: TokenCounter | None, max_tokens: int | None, result: SynthResult,
            chunk: int = 128) -> set[int]:
    """Indices of orbits holding at most ``num`` items, balanced over aspects.

    Each aspect's orbits are looked at in a seeded shuffled order and taken whole while
    they fit in an equal share of what is still needed; one that does not fit waits for
    a later round (shares of aspects that run out go to the others). When equal shares
    cannot be met exactly (the orbits left are too big), any aspect may fill what is
    left. Tokens are counted only for the orbits looked at (in chunks), so a length
    filter with a small ``num`` does not count the whole input."""
    queues: dict[str, list[int]] = {}
    for i, orbit in enumerate(orbits):
        queues.setdefault(orbit[0].aspect, []).append(i)
    for aspect in sorted(queues):
        rng.shuffle(queues[aspect])
    pos = dict.fromkeys(queues, 0)
    waiting: dict[str, list[int]] = {a: [] for a in queues}
    fits: dict[int, bool] = {}
    keep: set[int] = set()

    def ok(i: int, aspect: str) -> bool:
        if counter is None:
            return True
        if i not in fits:
            ahead = queues[aspect][pos[aspect]:pos[aspect] + chunk]
            look = [j for j in dict.fromkeys([i, *ahead]) if j not in fits]
            flat = [item for j in look for item in orbits[j]]
            passed = iter(_count_and_filter(flat, counter, max_tokens))
            for j in look:
                fits[j] = all([next(passed) for _ in orbits[j]])
        return fits[i]

    def fill(aspect: str, share: int) -> int:
        got = 0
        still = []
        for i in waiting[aspect]:
            if got + len(orbits[i]) <= share:
                keep.add(i)
                got += len(orbits[i])
            else:
                still.append(i)
        waiting[aspect] = still
        while got < share and pos[aspect] < len(queues[aspect]):
            i = queues[aspect][pos[aspect]]
            size = len(orbits[i])
            if not ok(i, aspect):
                pos[aspect] += 1
                result.too_long += size
                continue
            pos[aspect] += 1
            if got + size > share:
                waiting[aspect].append(i)
                continue
            keep.add(i)
            got += size
        return got

    taken = 0
    while taken < num:
        active = [a for a in sorted(queues) if pos[a] < len(queues[a]) or waiting[a]]
        if not active:
            break
        need = num - taken
        shares = [need // len(active) + (n < need % len(active)) for n in range(len(active))]
        got = sum(fill(aspect, share) for aspect, share in zip(active, shares, strict=True))
        if not got:  # equal shares cannot be met exactly: any aspect fills what is left
            got = 0
            for aspect in active:
                got += fill(aspect, num - taken - got)
            if not got:
                break
        taken += got
    return keep


def write_items(items: Iterable[T3Item], path: str | Path) -> int:
    """Write items as JSON Lines to ``path`` (atomically: a killed run leaves no half
    file; `nextevent.jsonl.write_jsonl`). Returns the number written.

    Raises:
        OSError: when the file cannot be written.
    """
    return write_jsonl(path, items)


def read_items(path: str | Path) -> Iterator[T3Item]:
    """Yield the items of a ``T3.jsonl`` file; a multiple-choice item that cannot be
    asked or scored (`nextevent.audit.items.mc_problem`: an answer letter not among its
    options, an empty or repeated option, an empty id or prompt) is refused.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        JSONLError: (stage ``t3``; a `nextevent.records.NextEventError` and a
            ``ValueError``) naming the file and the line, when a line is not a T3 item.
    """
    from nextevent.audit.items import mc_problem

    hint = "write the file with `nextevent t3 synth`"
    for number, raw in iter_lines(path):
        item = decode_line(raw, T3Item, path=path, number=number, what="a T3 item",
                           stage="t3", hint=hint)
        why = mc_problem(item.id, item.prompt, item.options, item.answer) if (
            item.form == "mc") else None
        if why is not None:
            raise JSONLError("t3", f"{path} line {number} is not a T3 item: {why}", hint,
                             Path(path), number)
        yield item
