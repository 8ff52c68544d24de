"""Importers, the cleaning rule and video lookup, on the real annotation subsets in tests/data.

Expected numbers are derived in the tests by reading the files independently (json.load,
plain line splitting), never copied from the importer's output.
"""

from __future__ import annotations

import json
import os
import random
import re
import unicodedata
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from nextevent.records import Event, NextEventError, VideoAnnotation
from nextevent.sources import FORMATS, ImportResult, guess_format, load_annotations
from nextevent.sources.base import FORMAT_NAMES
from nextevent.sources.clean import TOLERANCE_S, CleanStats, clean_events
from nextevent.sources.resolve import VIDEO_EXTENSIONS, VideoIndex, resolve_video

DATA = Path(__file__).parent / "data" / "sources"
YOUCOOK2 = DATA / "youcookii_annotations_sample.json"


def norm(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------- shared checks


def assert_clean(result: ImportResult) -> None:
    """The invariants of the cleaning rule, for every video of an import."""
    for ann in result.annotations:
        assert ann.events, ann.video_id
        for event in ann.events:
            assert event.text == norm(event.text) and event.text
            assert event.start_s is not None and event.end_s is not None
            assert 0 <= event.start_s <= event.end_s
            if ann.duration_s is not None:
                assert event.end_s <= ann.duration_s, (ann.video_id, event)
        for a, b in pairwise(ann.events):
            assert (a.start_s, a.end_s) <= (b.start_s, b.end_s), ann.video_id
            assert a.end_s <= b.start_s, (ann.video_id, a, b)  # no overlap


def assert_accounted(result: ImportResult) -> None:
    """Every raw event is kept, a duplicate, or has a failure; every failure is counted."""
    s = result.stats
    dropped = (s["empty_text"] + s["invalid_times"] + s["rejected"] + s["overlap_dropped"]
               + s["bad_events"])
    assert s["events"] == sum(len(a.events) for a in result.annotations)
    assert s["events_in"] == s["events"] + s["duplicates"] + dropped
    assert s["videos"] == len(result.annotations)
    dropped_lines = [f for f in result.failures if f.stage == "import"]
    assert len(dropped_lines) == dropped + s["malformed"] + s["videos_failed"]
    clip_lines = [f for f in result.failures if f.stage == "events"]  # one per video
    assert sum(int(re.search(r"clipped (\d+) event", f.error)[1]) for f in clip_lines) \
        == s["clipped"]
    assert len(dropped_lines) + len(clip_lines) == len(result.failures)
    assert len({f.key for f in result.failures}) == len(result.failures)
    for failure in result.failures:
        assert failure.hint


# ---------------------------------------------------------------- ActivityNet Captions


@pytest.fixture(scope="module")
def anet_raw(annotations: Path) -> dict:
    return json.loads((annotations / "activitynet_val_subset.json").read_text())


@pytest.fixture(scope="module")
def anet(annotations: Path) -> ImportResult:
    return load_annotations(annotations / "activitynet_val_subset.json", "activitynet")


def test_activitynet_counts(anet: ImportResult, anet_raw: dict) -> None:
    assert len(anet_raw) == 1000  # tests/data/annotations/README.md
    assert anet.stats["videos"] == len(anet_raw)
    assert [a.video_id for a in anet.annotations] == list(anet_raw)
    assert all(a.source == "activitynet" for a in anet.annotations)
    assert anet.stats["events_in"] == sum(len(v["sentences"]) for v in anet_raw.values())
    assert anet.stats["malformed"] == anet.stats["videos_failed"] == 0
    for ann in anet.annotations:
        assert ann.duration_s == anet_raw[ann.video_id]["duration"]
    assert_accounted(anet)


def test_activitynet_sorted_non_overlapping_stripped(anet: ImportResult,
                                                     anet_raw: dict) -> None:
    assert_clean(anet)
    sentences = [s for v in anet_raw.values() for s in v["sentences"]]
    # README counts sentences with spaces at either end; some only have doubled inner spaces.
    # the count is in tests/data/annotations/README.md (subset)
    assert sum(s != s.strip() for s in sentences) == 2506
    assert anet.stats["stripped"] == sum(s != norm(s) for s in sentences)
    reordered = sum(v["timestamps"] != sorted(v["timestamps"]) for v in anet_raw.values())
    assert anet.stats["sorted"] == reordered
    kept_texts = {e.text for a in anet.annotations for e in a.events}
    assert kept_texts <= {norm(s) for s in sentences}


def test_activitynet_overlapping_videos_are_the_ones_changed(anet: ImportResult,
                                                            anet_raw: dict) -> None:
    overlapping = set()
    for vid, v in anet_raw.items():
        spans = sorted(v["timestamps"])
        if any(a[1] > b[0] for a, b in pairwise(spans)):
            overlapping.add(vid)
    assert len(overlapping) == 664  # tests/data/annotations/README.md (subset)
    changed = set()
    for ann in anet.annotations:
        raw = anet_raw[ann.video_id]
        raw_ends = sorted(min(e, raw["duration"]) for _, e in raw["timestamps"])
        if len(ann.events) < len(raw["timestamps"]) or \
                sorted(e.end_s for e in ann.events) != raw_ends:
            changed.add(ann.video_id)
    # Clipping alone changes an end too; those videos are the 5 below, all also checked.
    clipped_only = changed - overlapping
    assert overlapping <= changed
    assert all(any(e > anet_raw[v]["duration"] for _, e in anet_raw[v]["timestamps"])
               for v in clipped_only)
    assert anet.stats["overlaps_trimmed"] + anet.stats["overlap_dropped"] >= len(overlapping)


def test_activitynet_events_past_the_duration_are_clipped(anet: ImportResult,
                                                          anet_raw: dict) -> None:
    over = [(vid, e) for vid, v in anet_raw.items() for _, e in v["timestamps"]
            if e > v["duration"] + TOLERANCE_S]
    assert len(over) == 5  # all 5 such events of the val split are in the subset
    assert anet.stats["clipped"] == len(over)
    late_start = sum(s >= v["duration"] for v in anet_raw.values() for s, _ in v["timestamps"])
    assert anet.stats["rejected"] == late_start == 0
    by_id = {a.video_id: a for a in anet.annotations}
    for vid, _ in over:  # each is its video's last event: it now ends at the duration
        assert by_id[vid].events[-1].end_s == anet_raw[vid]["duration"]
    # Ends over the duration by float noise only (95.04 vs 95.03999999999999) are snapped.
    noise = sum(v["duration"] < e <= v["duration"] + TOLERANCE_S
                for v in anet_raw.values() for _, e in v["timestamps"])
    assert anet.stats["end_snapped"] == noise > 0


def test_activitynet_spot_check(anet: ImportResult, anet_raw: dict) -> None:
    # v_bXdq2zI1Ms0: [0, 10.23], [10.6, 39.84], [38.01, 73.1]; the 2nd overlaps the 3rd.
    raw = anet_raw["v_bXdq2zI1Ms0"]
    assert raw["timestamps"] == [[0, 10.23], [10.6, 39.84], [38.01, 73.1]]
    ann = next(a for a in anet.annotations if a.video_id == "v_bXdq2zI1Ms0")
    assert [(e.start_s, e.end_s) for e in ann.events] == [(0, 10.23), (10.6, 38.01),
                                                          (38.01, 73.1)]
    assert [e.text for e in ann.events] == [s.strip() for s in raw["sentences"]]
    # v_gOniW-yEZ0k: [0, 2.51] and [0, 6.93] share a start: the shorter one is dropped.
    assert anet_raw["v_gOniW-yEZ0k"]["timestamps"][:2] == [[0, 2.51], [0, 6.93]]
    ann = next(a for a in anet.annotations if a.video_id == "v_gOniW-yEZ0k")
    assert [(e.start_s, e.end_s) for e in ann.events] == [(0, 6.11), (6.11, 12.63)]
    failure = next(f for f in anet.failures if f.input == "v_gOniW-yEZ0k")
    assert "activitynet_val_subset.json" in failure.error and "v_gOniW-yEZ0k" in failure.error
    assert "event 1 of 3" in failure.error and "dropped" in failure.error


# ---------------------------------------------------------------- Charades-STA


@pytest.fixture(scope="module")
def charades_lines(annotations: Path) -> list[str]:
    text = (annotations / "charades_sta_test_subset.txt").read_text()
    return [line for line in text.split("\n") if line.strip()]


@pytest.fixture(scope="module")
def charades(annotations: Path) -> ImportResult:
    return load_annotations(annotations / "charades_sta_test_subset.txt",
                            "charades-sta")


def test_charades_counts(charades: ImportResult, charades_lines: list[str]) -> None:
    assert len(charades_lines) == 1134  # tests/data/annotations/README.md
    assert charades.stats["events_in"] == len(charades_lines)
    ids = list(dict.fromkeys(line.split(" ", 1)[0] for line in charades_lines))
    assert [a.video_id for a in charades.annotations] == ids
    assert all(a.duration_s is None and a.source == "charades-sta"
               for a in charades.annotations)
    sentences = [line.split("##", 1)[1] for line in charades_lines]
    assert charades.stats["stripped"] == sum(s != norm(s) for s in sentences) > 0
    assert charades.stats["malformed"] == 0
    assert_clean(charades)
    assert_accounted(charades)


def test_charades_same_moment_queries_keep_one(charades: ImportResult,
                                               charades_lines: list[str]) -> None:
    # 3MSZA: the file's first lines are queries for one span; only the last is kept.
    lines = [ln for ln in charades_lines if ln.startswith("3MSZA ")]
    spans = Counter(tuple(ln.split("##")[0].split()[1:]) for ln in lines)
    ann = next(a for a in charades.annotations if a.video_id == "3MSZA")
    assert len(ann.events) == len(spans)
    same = [ln for ln in lines if ln.startswith("3MSZA 24.3 30.4##")]
    assert len(same) >= 2
    kept = next(e for e in ann.events if e.start_s == 24.3)
    assert kept.end_s <= 30.4 and kept.text == norm(same[-1].split("##", 1)[1])
    dropped = [f for f in charades.failures if f.input == "3MSZA"]
    assert len(dropped) >= len(same) - 1
    assert all("line " in f.error and "charades_sta_test_subset.txt" in f.error for f in dropped)


# ---------------------------------------------------------------- TACoS


@pytest.fixture(scope="module")
def tacos_raw(annotations: Path) -> dict:
    return json.loads((annotations / "tacos_test_subset.json").read_text())


@pytest.fixture(scope="module")
def tacos(annotations: Path) -> ImportResult:
    return load_annotations(annotations / "tacos_test_subset.json", "tacos")


def test_tacos_counts_and_duplicates(tacos: ImportResult, tacos_raw: dict) -> None:
    assert len(tacos_raw) == 6  # tests/data/annotations/README.md
    assert [a.video_id for a in tacos.annotations] == list(tacos_raw)
    assert tacos.stats["events_in"] == sum(len(v["sentences"]) for v in tacos_raw.values())
    duplicates = 0
    for v in tacos_raw.values():
        pairs = [(norm(s), tuple(t)) for s, t in zip(v["sentences"], v["timestamps"], strict=True)]
        duplicates += len(pairs) - len(set(pairs))
    assert tacos.stats["duplicates"] == duplicates > 0
    sentences = [s for v in tacos_raw.values() for s in v["sentences"]]
    assert tacos.stats["stripped"] == sum(s != norm(s) for s in sentences)
    over = sum(e > v["num_frames"] for v in tacos_raw.values() for _, e in v["timestamps"])
    assert tacos.stats["clipped"] == over
    assert_clean(tacos)
    assert_accounted(tacos)
    for ann in tacos.annotations:  # no event repeats within a video after cleaning
        assert len({(e.text, e.start_s) for e in ann.events}) == len(ann.events)


def test_tacos_frames_become_seconds(tacos: ImportResult, tacos_raw: dict) -> None:
    raw = tacos_raw["s30-d52.avi"]
    assert raw["fps"] == 29.4 and raw["num_frames"] == 7346
    ann = next(a for a in tacos.annotations if a.video_id == "s30-d52.avi")
    assert ann.duration_s == pytest.approx(249.8639, abs=1e-4)  # 7346 / 29.4, by hand
    # The earliest annotated frame is 141 (several annotators start there); the next
    # distinct start is frame 361, so the first event spans 141..361 frames.
    starts = sorted({s for s, _ in raw["timestamps"]})
    assert starts[:2] == [141, 361]
    first = ann.events[0]
    assert first.start_s == pytest.approx(4.7959, abs=1e-4)  # 141 / 29.4, by hand
    assert first.end_s == pytest.approx(12.2789, abs=1e-4)  # 361 / 29.4, by hand
    for other in tacos.annotations:
        v = tacos_raw[other.video_id]
        assert other.duration_s == pytest.approx(v["num_frames"] / v["fps"])
        assert other.events[0].start_s == pytest.approx(
            min(s for s, _ in v["timestamps"]) / v["fps"])
        assert other.extra["fps"] == v["fps"]


# ---------------------------------------------------------------- YouCook2 (fixture)


def test_youcook2_fixture() -> None:
    raw = json.loads(YOUCOOK2.read_text())["database"]
    result = load_annotations(YOUCOOK2, "youcook2")
    with_sentences = [vid for vid, v in raw.items()
                      if any("sentence" in a for a in v["annotations"])]
    assert [a.video_id for a in result.annotations] == with_sentences
    ann = result.annotations[0]
    assert ann.source == "youcook2"
    assert ann.extra == {k: raw[ann.video_id][k] for k in ("subset", "recipe_type",
                                                          "video_url")}
    # id 2 [58, 80] is listed before id 1 [40, 62]; [40, 62] is trimmed at 58;
    # [170, 190] ends after the duration 186.5 and is clipped.
    assert [(e.start_s, e.end_s) for e in ann.events] == [(12, 31), (40, 58), (58, 80),
                                                          (170, 186.5)]
    assert ann.events[0].text == "slice the bread and butter one side of each slice"
    assert ann.events[1].text == "lay cheese between the unbuttered sides"
    assert result.stats["clipped"] == 1 and result.stats["sorted"] == 1
    assert result.stats["overlaps_trimmed"] == 1 and result.stats["stripped"] == 2
    (failure,) = [f for f in result.failures if f.stage == "import"]
    (clip,) = [f for f in result.failures if f.stage == "events"]
    assert failure.input == "Qw7eRt5yUi0" and "test split" in failure.error
    assert clip.stage == "events" and "'" + ann.events[3].text[:40] + "' ending 190.00s" \
        in clip.error
    assert_clean(result)
    assert_accounted(result)


# ---------------------------------------------------------------- JSONL


def write_lines(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
                    + "\n", encoding="utf-8")
    return path


def test_jsonl_reads_fields_and_skips_bad_lines(tmp_path: Path) -> None:
    good = {"video_id": "a", "video": "clips/a.mp4", "duration": 10.0, "caption": "All.",
            "lang": "en", "events": [{"start": 4, "end": 8, "text": "second"},
                                     {"start_s": 0, "end_s": 5, "text": " first  one "}]}
    path = write_lines(tmp_path / "ann.jsonl", [
        good,
        "{not json",
        {"events": []},
        {"video_id": "b", "events": [{"start": "zero", "end": 2, "text": "x"},
                                     {"start": 1, "end": 2, "text": "ok"}, 7]},
        "",
        {"video_id": "a", "events": []},
        {"video_id": "c", "events": "nope"},
        {"video_id": "d"},
        {"video_id": "e", "events": [{"text": "scene one"}, {"text": "scene two"}]},
        {"video_id": "f", "duration": -1},
    ])
    result = load_annotations(path, "jsonl")
    by_id = {a.video_id: a for a in result.annotations}
    assert list(by_id) == ["a", "b", "d", "e"]
    a = by_id["a"]
    assert (a.video_ref, a.duration_s, a.caption, a.extra) == ("clips/a.mp4", 10.0, "All.",
                                                               {"lang": "en"})
    assert [(e.start_s, e.end_s, e.text) for e in a.events] == [(0, 4, "first one"),
                                                                (4, 8, "second")]
    assert [e.text for e in by_id["b"].events] == ["ok"]
    assert by_id["d"].events == []  # no events: kept for the captioning path
    assert [(e.timed, e.text) for e in by_id["e"].events] == [(False, "scene one"),
                                                              (False, "scene two")]
    errors = [f.error for f in result.failures]
    for lineno in (2, 3, 6, 7, 10):
        assert any(f"line {lineno} " in e for e in errors), lineno
    assert any("repeats video_id 'a' of line 1" in e for e in errors)
    assert any("line 4 event 1 of 3" in e and "not a number" in e for e in errors)
    assert any("line 4 event 3 of 3" in e for e in errors)
    assert result.stats["malformed"] == 5
    assert_accounted(result)


# ---------------------------------------------------------------- file-level errors


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(NextEventError) as err:
        load_annotations(tmp_path / "nope.json", "activitynet")
    assert err.value.stage == "import" and "does not exist" in str(err.value)
    assert all(name in err.value.hint for name in FORMAT_NAMES)
    with pytest.raises(NextEventError) as err:
        load_annotations(tmp_path, "tacos")
    assert "not a file" in str(err.value)
    with pytest.raises(NextEventError) as err:
        load_annotations(YOUCOOK2, "srt")
    assert "'srt'" in str(err.value) and all(n in str(err.value) for n in FORMAT_NAMES)
    assert "youcook2" in err.value.hint
    assert load_annotations(YOUCOOK2, "YouCook2").stats["videos"] == 2
    assert set(FORMATS) == set(FORMAT_NAMES)


@pytest.mark.parametrize(("rel", "wrong", "right"), [
    ("tacos_test_subset.json", "activitynet", "tacos"),
    ("activitynet_val_subset.json", "tacos", "activitynet"),
    ("activitynet_val_subset.json", "charades-sta", "activitynet"),
    ("activitynet_val_subset.json", "youcook2", "activitynet"),
    ("charades_sta_test_subset.txt", "jsonl", "charades-sta"),
    ("charades_sta_test_subset.txt", "tacos", "charades-sta"),
])
def test_wrong_format_raises_with_a_guess(annotations: Path, rel: str, wrong: str,
                                          right: str) -> None:
    path = annotations / rel
    assert guess_format(path) == right
    with pytest.raises(NextEventError) as err:
        load_annotations(path, wrong)
    assert err.value.stage == "import"
    assert f"not a {wrong} annotation file" in str(err.value)
    assert f"--format {right}" in err.value.hint
    assert all(name in err.value.hint for name in FORMAT_NAMES)


def test_youcook2_file_is_not_jsonl_and_binary_is_no_format(tmp_path: Path) -> None:
    assert guess_format(YOUCOOK2) == "youcook2"
    with pytest.raises(NextEventError, match="not a activitynet annotation file"):
        load_annotations(YOUCOOK2, "activitynet")
    binary = tmp_path / "video.mp4"
    binary.write_bytes(b"\x00\x00\x00\x18ftypmp42\xff\xfe\x80")
    with pytest.raises(NextEventError, match="not UTF-8"):
        load_annotations(binary, "jsonl")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(NextEventError, match="holds no videos"):
        load_annotations(empty, "charades-sta")


def test_bad_entries_do_not_stop_a_file(tmp_path: Path) -> None:
    anet = {"v_ok": {"duration": 20, "timestamps": [[0, 5], [5, 9]], "sentences": ["a", "b"]},
            "v_nodur": {"timestamps": [[0, 1]], "sentences": ["x"]},
            "v_len": {"duration": 9, "timestamps": [[0, 1]], "sentences": ["x", "y"]},
            "v_pair": {"duration": 9, "timestamps": [[0, 1, 2], [1, 2]],
                       "sentences": ["x", "y"]},
            "v_late": {"duration": 9, "timestamps": [[9.5, 12]], "sentences": ["late"]}}
    path = tmp_path / "anet.json"
    path.write_text(json.dumps(anet))
    result = load_annotations(path, "activitynet")
    assert [a.video_id for a in result.annotations] == ["v_ok", "v_pair"]
    inputs = Counter(f.input for f in result.failures)
    assert inputs == {"v_nodur": 1, "v_len": 1, "v_pair": 1, "v_late": 2}
    late = [f.error for f in result.failures if f.input == "v_late"]
    assert any("starts at 9.500 s, at or after the end of the video (9.000 s)" in e
               for e in late)
    assert result.stats["rejected"] == 1 and result.stats["videos_failed"] == 1
    assert_accounted(result)

    path = tmp_path / "charades.txt"
    path.write_text("AAAAA 1.0 2.0##one\nAAAAA one 2.0##bad time\nno hashes here\n"
                    "AAAAA 3.0 2.0##reversed\n")
    result = load_annotations(path, "charades-sta")
    assert [e.text for e in result.annotations[0].events] == ["one"]
    errors = [f.error for f in result.failures]
    assert any("line 2 has times that are not numbers" in e for e in errors)
    assert any("line 3 has no '##'" in e for e in errors)
    assert any("line 4" in e and "ends (2.0 s) before it starts (3.0 s)" in e for e in errors)


# ---------------------------------------------------------------- the cleaning rule


def test_clean_events_rule() -> None:
    raw = [
        (10.0, 20.0, "  third\tevent "),
        (0.0, 6.0, "first"),
        (5.0, 9.0, "second"),
        (0.0005, 6.0004, "first"),  # duplicate within 1 ms
        (12.0, 14.0, "   "),  # empty text
        (20.0, 99.0, "last"),  # ends after the duration: clipped
        (30.0, 40.0, "too late"),  # starts at the duration: rejected
        (10.0, 15.0, "shorter, same start"),  # trimmed to zero by 'third event': dropped
    ]
    stats = CleanStats()
    events, failures = clean_events(raw, 30.0, "ann.json", video_id="vid1", stats=stats)
    assert [(e.start_s, e.end_s, e.text) for e in events] == [
        (0.0, 5.0, "first"), (5.0, 9.0, "second"), (10.0, 20.0, "third event"),
        (20.0, 30.0, "last")]
    assert stats.as_dict() == {
        "events_in": 8, "stripped": 1, "empty_text": 1, "invalid_times": 0, "rejected": 1,
        "clipped": 1, "end_snapped": 0, "duplicates": 1, "sorted": 1,
        "overlaps_trimmed": 1, "overlap_dropped": 1}
    *failures, clip = failures
    assert len(failures) == 3
    for failure in failures:
        assert failure.input == "vid1" and failure.stage == "import" and failure.hint
        assert failure.error.startswith("ann.json: video vid1: event ")
    assert "event 5 of 8" in failures[0].error and "no text" in failures[0].error
    assert "event 7 of 8 ('too late') starts at 30.000 s" in failures[1].error
    assert "event 8 of 8 ('shorter, same start')" in failures[2].error
    assert len({f.key for f in failures}) == 3
    assert clip.input == "vid1" and clip.stage == "events"
    assert "clipped 1 event(s) to the end: 'last' ending 99.00s" in clip.error


@pytest.mark.parametrize(("start", "end", "why"), [
    (-1.0, 2.0, "negative start"),
    (3.0, 2.0, "ends (2.0 s) before it starts (3.0 s)"),
    (1.0, None, "only one of its times"),
    ("1", 2.0, "not a number"),
    (True, 2.0, "not a number"),
    (float("nan"), 2.0, "not finite"),
])
def test_clean_events_invalid_times(start: object, end: object, why: str) -> None:
    stats = CleanStats()
    events, failures = clean_events([(0.0, 1.0, "ok"), (start, end, "bad")], None, "f.txt",
                                    stats=stats)  # type: ignore[list-item]
    assert [e.text for e in events] == ["ok"]
    assert stats.invalid_times == 1 and len(failures) == 1
    assert why in failures[0].error and failures[0].input == "f.txt"


def test_clean_events_untimed_and_float_noise() -> None:
    events, failures = clean_events([(None, None, "b"), (None, None, "a"), (None, None, "b")],
                                    None, "x")
    assert [(e.timed, e.text) for e in events] == [(False, "b"), (False, "a")]
    assert failures == []
    events, failures = clean_events([(0.0, 1.0, "timed"), (None, None, "untimed")], None, "x")
    assert [e.text for e in events] == ["timed"] and "no times" in failures[0].error
    stats = CleanStats()
    events, _ = clean_events([(0, 95.04, "a")], 95.03999999999999, "x", stats=stats)
    assert events[0].end_s == 95.03999999999999
    assert (stats.clipped, stats.end_snapped) == (0, 1)


def test_clean_events_invariants_on_random_input() -> None:
    rng = random.Random(7)
    for _ in range(300):
        duration = rng.choice([None, rng.uniform(5, 60)])
        raw: list[tuple[float | None, float | None, str]] = []
        for _ in range(rng.randint(0, 12)):
            start = round(rng.uniform(0, 70), rng.choice([0, 1, 2]))
            raw.append((start, start + round(rng.uniform(0, 30), 1),
                        rng.choice(["a", " b", "c  d", "", "e"])))
        stats = CleanStats()
        events, failures = clean_events(raw, duration, "rand", stats=stats)
        for a, b in pairwise(events):
            assert a.start_s <= b.start_s and a.end_s <= b.start_s
        if duration is not None:
            assert all(e.end_s <= duration for e in events)
        dropped = stats.empty_text + stats.rejected + stats.overlap_dropped
        assert len(raw) == len(events) + stats.duplicates + dropped == stats.events_in
        assert len(failures) == dropped + (stats.clipped > 0)  # + one line naming the clipped
        assert all(isinstance(e, Event) and e.text == norm(e.text) for e in events)


# ---------------------------------------------------------------- video lookup


def ann(video_id: str, source: str = "jsonl", ref: str | None = None) -> VideoAnnotation:
    return VideoAnnotation(video_id=video_id, source=source, events=[], video_ref=ref)


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_resolve_activitynet_prefix_and_subfolders(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    abc = touch(videos / "abc123.mp4")
    yc = touch(videos / "training" / "113" / "kT9fGHu2wQe.webm")
    nested = touch(videos / "1025" / "5165003914.mkv")
    index = VideoIndex(videos)
    assert len(index) == 3
    assert index.resolve(ann("v_abc123", "activitynet")) == abc
    assert index.resolve(ann("abc123", "activitynet")) == abc
    assert index.resolve(ann("kT9fGHu2wQe", "youcook2")) == yc
    assert index.resolve(ann("1025/5165003914")) == nested
    assert index.resolve(ann("x", ref="training/113/kT9fGHu2wQe.webm")) == yc
    v_file = touch(videos / "v_abc123.mkv")
    assert VideoIndex(videos).resolve(ann("v_abc123", "activitynet")) == v_file


@pytest.mark.parametrize("ext", VIDEO_EXTENSIONS)
def test_resolve_every_extension_any_case(tmp_path: Path, ext: str) -> None:
    for name in (f"low.{ext}", f"up.{ext.upper()}"):
        touch(tmp_path / name)
    touch(tmp_path / "low.txt")
    index = VideoIndex(tmp_path)
    assert index.resolve(ann("low")).name == f"low.{ext}"
    assert index.resolve(ann("up")).name == f"up.{ext.upper()}"


def test_resolve_prefers_mp4_and_the_extension_in_the_id(tmp_path: Path) -> None:
    touch(tmp_path / "s30-d52.mkv")
    touch(tmp_path / "s30-d52.mp4")
    avi = touch(tmp_path / "s30-d52.avi")
    index = VideoIndex(tmp_path)
    assert index.resolve(ann("s30-d52")).suffix == ".mp4"
    assert index.resolve(ann("s30-d52.avi", "tacos")) == avi
    avi.unlink()
    assert VideoIndex(tmp_path).resolve(ann("s30-d52.avi", "tacos")).suffix == ".mp4"


def test_resolve_non_ascii_names(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "crème brûlée 日本")
    path = touch(tmp_path / f"{nfd}.mp4")
    index = VideoIndex(tmp_path)
    nfc = unicodedata.normalize("NFC", "crème brûlée 日本")
    assert nfc != nfd
    assert index.resolve(ann(nfc)) == path
    assert index.resolve(ann("x", ref=f"{nfc}.mp4")).name == path.name
    assert index.resolve(ann("y", ref=f"{nfd}.mp4")) == path


@pytest.mark.parametrize("ref", ["../../etc/passwd", "/etc/passwd", "a/../../b.mp4",
                                 "..\\..\\x.mp4", "C:/Windows/x.mp4", ".."])
def test_resolve_refuses_paths_outside(tmp_path: Path, ref: str) -> None:
    videos = tmp_path / "videos"
    touch(videos / "ok.mp4")
    touch(tmp_path / "b.mp4")
    index = VideoIndex(videos)
    with pytest.raises(NextEventError) as err:
        index.resolve(ann("ok", ref=ref))
    assert err.value.stage == "resolve" and repr(ref) in str(err.value)
    assert "relative to the --videos folder" in err.value.hint
    with pytest.raises(NextEventError) as err:
        index.resolve(ann(ref))
    assert err.value.stage == "resolve"


def test_resolve_refuses_symlinks_outside(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    secret = touch(tmp_path / "outside" / "secret.mp4")
    touch(videos / "real.mp4")
    os.symlink(secret, videos / "leak.mp4")
    os.symlink(tmp_path / "outside", videos / "linked")
    os.symlink(videos / "real.mp4", videos / "alias.mp4")
    index = VideoIndex(videos)
    for bad in (ann("leak"), ann("x", ref="leak.mp4"), ann("x", ref="linked/secret.mp4")):
        with pytest.raises(NextEventError) as err:
            index.resolve(bad)
        assert err.value.stage == "resolve" and "outside the videos folder" in str(err.value)
    assert index.resolve(ann("alias")) == videos / "alias.mp4"  # a link inside is fine
    with pytest.raises(NextEventError):
        index.resolve(ann("secret"))  # symlinked folders are not searched
    relaxed = VideoIndex(videos, allow_outside_symlinks=True)
    assert relaxed.resolve(ann("leak")) == videos / "leak.mp4"


def test_resolve_missing_and_ambiguous(tmp_path: Path) -> None:
    touch(tmp_path / "Clip.mp4")
    touch(tmp_path / "a" / "dup.mp4")
    touch(tmp_path / "b" / "dup.mkv")
    index = VideoIndex(tmp_path)
    with pytest.raises(NextEventError) as err:
        index.resolve(ann("v_gone", "activitynet"))
    message = str(err.value)
    assert err.value.stage == "resolve"
    assert f"no video file for id 'v_gone' under {tmp_path.resolve()}" in message
    assert "tried v_gone.mp4, gone.mp4" in message and ".wmv" in message
    assert "--videos" in err.value.hint
    with pytest.raises(NextEventError) as err:
        index.resolve(ann("clip"))
    assert "Clip.mp4" in err.value.hint
    with pytest.raises(NextEventError, match="several folders"):
        index.resolve(ann("dup"))
    with pytest.raises(NextEventError, match="does not exist"):
        index.resolve(ann("x", ref="nothere.mp4"))
    with pytest.raises(NextEventError) as err:
        VideoIndex(tmp_path / "nope")
    assert err.value.stage == "resolve"


def test_resolve_video_convenience_and_many_files(tmp_path: Path) -> None:
    for i in range(2000):
        touch(tmp_path / f"vid{i:05d}.mp4")
    index = VideoIndex(tmp_path)
    assert len(index) == 2000
    assert all(index.resolve(ann(f"vid{i:05d}")).name == f"vid{i:05d}.mp4"
               for i in range(0, 2000, 7))
    assert resolve_video(tmp_path, ann("vid01999")) == tmp_path.resolve() / "vid01999.mp4"


def test_malformed_activitynet_and_tacos_entries_fail_alone(tmp_path: Path) -> None:
    good_an = {"duration": 10.0, "timestamps": [[0, 4], [4, 9]], "sentences": ["a", "b"]}
    an = {"good": good_an, "listy": [1, 2], "nokeys": {"duration": 5.0},
          "uneven": {**good_an, "sentences": ["a"]}, "notlists": {**good_an, "timestamps": 3}}
    good_tacos = {"num_frames": 250, "fps": 25.0, "timestamps": [[0, 100], [100, 200]],
                  "sentences": ["a", "b"]}
    tacos = {"good.avi": good_tacos, "listy.avi": "x", "nofps.avi": {"timestamps": []},
             "uneven.avi": {**good_tacos, "timestamps": [[0, 10]]},
             "zerofps.avi": {**good_tacos, "fps": 0}}
    expected = {"listy": "not an object", "nokeys": "missing 'timestamps', 'sentences'",
                "uneven": "2 timestamps but 1 sentences", "notlists": "must be lists"}
    for fmt, data, names in (("activitynet", an, expected),
                             ("tacos", tacos, {"listy.avi": "not an object",
                                               "uneven.avi": "1 timestamps but 2 sentences",
                                               "nofps.avi": "missing 'num_frames', 'fps'",
                                               "zerofps.avi": "fps 0 is not a positive"})):
        path = tmp_path / f"{fmt}.json"
        path.write_text(json.dumps(data))
        result = load_annotations(path, fmt)
        assert [a.video_id for a in result.annotations] == [next(iter(data))]
        for vid, why in names.items():
            (failure,) = [f for f in result.failures if vid in f.input or vid in f.error]
            assert why in failure.error, (vid, failure.error)
