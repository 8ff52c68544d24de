"""Exporters: LLaMA-Factory sharegpt, EasyR1 JSONL, and the V1-33K round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nextevent.export import (
    TARGETS,
    ExportOptions,
    export,
    export_easyr1,
    export_llamafactory,
    export_v1,
)
from nextevent.export.base import media_path
from nextevent.export.questions import NEP_QUESTIONS, PREV_QUESTIONS, nep_question
from nextevent.records import (
    Critique,
    Event,
    NEPRecord,
    NextEventError,
    Reasoning,
    Segment,
    SplitPlan,
    Video,
)
from nextevent.sources.v1 import import_v1
from nextevent.store import RunStore, safe_name

DATA = Path(__file__).parent / "data" / "export"
V1_FIXTURE = DATA / "next_event_prediction_v1.json"

EVENTS = [
    "A cyclist pumps up the back tyre of a bike.",
    "She straps on a helmet and climbs onto the saddle.",
    "She rides down the lane and turns onto the main road.",
    "She stops at a red light and waits.",
]


def make_record(run_dir: Path, n: int, *, past: bool = True, future: bool = True) -> NEPRecord:
    """A record as the pipeline writes it; its clip files are small stand-in files."""
    rid = f"vid{n:03d}#0"
    clip_dir = Path("clips") / safe_name(rid)
    segments = {}
    spans = (("past", past, (0.0, 6.0)), ("future", future, (6.0, 12.0)))
    for which, wanted, (start, end) in spans:
        if not wanted:
            continue
        rel = clip_dir / f"{which}.mp4"
        (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / rel).write_bytes(b"\x00\x00\x00\x18ftypmp42")
        segments[which] = Segment(path=rel.as_posix(), start_s=start, end_s=end,
                                  duration_s=end - start, frame_count=int((end - start) * 25))
    events = [Event(start_s=3.0 * i, end_s=3.0 * (i + 1), text=t) for i, t in enumerate(EVENTS)]
    return NEPRecord(
        id=rid,
        source="jsonl",
        video_id=f"vid{n:03d}",
        video=Video(path=str(run_dir.parent / "videos" / f"vid{n:03d}.mp4"), duration_s=12.0,
                    fps=25.0, frame_count=300, width=640, height=360, codec="h264"),
        events=events,
        split=SplitPlan(split_s=6.0, split_index=0, last_past_event=1, event_boundary_s=6.0,
                        snapped_to="shot_boundary", reason="after the cyclist mounts"),
        cut_mode="accurate" if segments else None,
        past=segments.get("past"),
        future=segments.get("future"),
        caption=" ".join(EVENTS),
        caption_part1=" ".join(EVENTS[:2]) + f" (clip {n})",
        caption_part2=" ".join(EVENTS[2:]) + f" (clip {n})",
    )


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    return run


@pytest.fixture
def records(run_dir: Path) -> list[NEPRecord]:
    return [make_record(run_dir, n) for n in range(30)]


# ---------------------------------------------------------------------- LLaMA-Factory


def _convert_like_llamafactory(sample: dict, attr: dict) -> tuple[list, list, list]:
    """The checks LLaMA-Factory's SharegptDatasetConverter (converter.py) and mm_plugin
    apply to one sample, driven by the dataset_info.json entry (parser.py defaults)."""
    tags = {"role_tag": "from", "content_tag": "value", "user_tag": "human",
            "assistant_tag": "gpt", **attr.get("tags", {})}
    columns = {"messages": "conversations", **attr.get("columns", {})}
    messages = sample[columns["messages"]]
    accept = ((tags["user_tag"], "observation"), (tags["assistant_tag"], "function_call"))
    for i, message in enumerate(messages):
        assert message[tags["role_tag"]] in accept[i % 2], f"bad role order in {messages}"
    assert len(messages) % 2 == 0
    videos = sample[columns["videos"]]
    n_tags = sum(m[tags["content_tag"]].count("<video>") for m in messages)
    assert n_tags == len(videos)
    return messages[:-1], messages[-1:], videos


def test_llamafactory_sharegpt_is_valid(run_dir: Path, records: list[NEPRecord], tmp_path: Path):
    out = tmp_path / "lf"
    result = export_llamafactory(records, run_dir, out, seed=3)

    data_file = out / "nextevent_nep_sft.json"
    assert result.files[:2] == [data_file.resolve(), (out / "dataset_info.json").resolve()]
    assert [f.name for f in result.files[2:]] == [  # training configs beside the data
        "nextevent_nep_sft_qwen2_5_vl_7b_full.yaml", "nextevent_nep_sft_qwen2_5_vl_7b_lora.yaml"]
    assert result.count == len(records) and result.failures == []
    samples = json.loads(data_file.read_text(encoding="utf-8"))
    attr = json.loads((out / "dataset_info.json").read_text())["nextevent_nep_sft"]
    assert len(samples) == len(records)
    for sample, record in zip(samples, records, strict=True):
        assert set(sample) == {"messages", "videos"}
        user, assistant = sample["messages"]
        assert user["role"] == "user" and assistant["role"] == "assistant"
        assert user["content"].startswith("<video>")
        assert user["content"].count("<video>") == 1 == len(sample["videos"])
        assert user["content"][len("<video>"):] in NEP_QUESTIONS
        assert assistant["content"] == record.caption_part2
        video = Path(sample["videos"][0])
        assert video.is_absolute() and video.is_file()
        assert video == (run_dir / record.past.path).resolve()
        _convert_like_llamafactory(sample, attr)


def test_dataset_info_entry_and_merge(run_dir: Path, records: list[NEPRecord], tmp_path: Path):
    out = tmp_path / "lf"
    out.mkdir()
    other = {"my_chat": {"file_name": "chat.json", "formatting": "sharegpt"}}
    (out / "dataset_info.json").write_text(json.dumps(other))

    export_llamafactory(records[:3], run_dir, out)
    export_llamafactory(records[3:5], run_dir, out, dataset_name="nep_prev", task="prev")
    export_llamafactory(records[:4], run_dir, out)  # rerun replaces its own entry

    info = json.loads((out / "dataset_info.json").read_text())
    assert set(info) == {"my_chat", "nextevent_nep_sft", "nep_prev"}
    assert info["my_chat"] == other["my_chat"]
    assert info["nextevent_nep_sft"] == {
        "file_name": "nextevent_nep_sft.json",
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "videos": "videos"},
        "tags": {"role_tag": "role", "content_tag": "content",
                 "user_tag": "user", "assistant_tag": "assistant"},
    }
    assert len(json.loads((out / "nextevent_nep_sft.json").read_text())) == 4
    prev = json.loads((out / "nep_prev.json").read_text())
    assert prev[0]["videos"] == [str((run_dir / records[3].future.path).resolve())]
    assert prev[0]["messages"][1]["content"] == records[3].caption_part1
    assert prev[0]["messages"][0]["content"][len("<video>"):] in PREV_QUESTIONS


def test_dataset_info_that_is_not_json_is_left_alone(run_dir: Path, records, tmp_path: Path):
    out = tmp_path / "lf"
    out.mkdir()
    (out / "dataset_info.json").write_text("{ not json")
    with pytest.raises(NextEventError, match="not valid JSON"):
        export_llamafactory(records, run_dir, out)
    assert (out / "dataset_info.json").read_text() == "{ not json"
    assert not (out / "nextevent_nep_sft.json").exists()


def test_text_only_and_missing_clips_become_failures(run_dir: Path, tmp_path: Path):
    good = make_record(run_dir, 1)
    text_only = make_record(run_dir, 2, past=False, future=False)
    gone = make_record(run_dir, 3)
    (run_dir / gone.past.path).unlink()
    for name in ("llamafactory", "easyr1", "verl", "hf"):  # one loop: the export driver
        result = export(name, [good, text_only, gone], run_dir, tmp_path / name)
        assert result.count == 1
        assert [f.input for f in result.failures] == [text_only.id, gone.id]
        assert {f.stage for f in result.failures} == {"export"}
        assert "text-only" in result.failures[0].error
        assert "missing" in result.failures[1].error
        assert all(f.hint for f in result.failures)


def test_a_rerun_without_validation_drops_the_stale_validation_part(run_dir: Path, records,
                                                                     tmp_path: Path):
    for name in ("llamafactory", "easyr1", "verl", "hf"):
        out = tmp_path / name
        first = export(name, records, run_dir, out, ExportOptions(val_fraction=0.2))
        validation = [f for f in first.files if "validation" in f.name]
        assert len(validation) == 1 and validation[0].is_file()
        again = export(name, records, run_dir, out)
        assert not validation[0].exists() and again.count == len(records)
        assert not [f for f in out.rglob("*") if "validation" in f.name]
    info = json.loads((tmp_path / "llamafactory" / "dataset_info.json").read_text())
    assert set(info) == {"nextevent_nep_sft"}


def test_placeholder_in_label_is_refused(run_dir: Path, tmp_path: Path):
    record = make_record(run_dir, 1)
    record.caption_part2 = "She rides off <video> down the road."
    result = export_llamafactory([record], run_dir, tmp_path / "lf")
    assert result.count == 0 and "<video>" in result.failures[0].error


def test_media_root_makes_paths_relative(run_dir: Path, records, tmp_path: Path):
    result = export_llamafactory(records[:2], run_dir, tmp_path / "lf", media_root=run_dir)
    samples = json.loads((tmp_path / "lf" / "nextevent_nep_sft.json").read_text())
    for sample, record in zip(samples, records[:2], strict=True):
        (video,) = sample["videos"]
        assert video == record.past.path  # clips/... relative to the run dir
        assert (run_dir / video).is_file()
    assert result.summary["media_dir"] == str(run_dir.resolve())

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = export_llamafactory(records[:2], run_dir, tmp_path / "lf2", media_root=elsewhere)
    assert result.count == 0 and len(result.failures) == 2
    assert "not under --media-root" in result.failures[0].error


def test_media_path_helper(run_dir: Path):
    assert media_path("clips/a/past.mp4", run_dir) == str((run_dir / "clips/a/past.mp4").resolve())
    assert media_path("clips/a/past.mp4", run_dir, run_dir / "clips") == "a/past.mp4"
    with pytest.raises(NextEventError):
        media_path("clips/a/past.mp4", run_dir, run_dir / "other")


# ---------------------------------------------------------------------- questions


def test_question_pools_are_varied_and_clean():
    for pool in (NEP_QUESTIONS, PREV_QUESTIONS):
        assert len(pool) >= 20 and len(set(pool)) == len(pool)
        assert not any("<" in q for q in pool)
    assert "What happens next in the video?" in NEP_QUESTIONS


def test_questions_vary_and_are_stable(run_dir: Path, records, tmp_path: Path):
    def questions(recs, seed, name):
        export_llamafactory(recs, run_dir, tmp_path / name, seed=seed)
        samples = json.loads((tmp_path / name / "nextevent_nep_sft.json").read_text())
        return {r.id: s["messages"][0]["content"] for r, s in zip(recs, samples, strict=True)}

    forward = questions(records, 0, "a")
    backward = questions(list(reversed(records)), 0, "b")
    assert forward == backward  # same question per record whatever the order
    assert len(set(forward.values())) >= 8  # 30 records over 21 questions vary
    reseeded = questions(records, 1, "c")
    assert reseeded != forward
    assert forward[records[0].id] == "<video>" + nep_question(records[0].id, 0)


# ---------------------------------------------------------------------- EasyR1


def test_easyr1_jsonl_fields(run_dir: Path, records, tmp_path: Path):
    out = tmp_path / "r1"
    result = export_easyr1(records, run_dir, out, seed=5)
    path = out / "nep_train.jsonl"
    assert result.files[0] == path.resolve() and result.count == len(records)
    assert [f.name for f in result.files[1:]] == ["nep_format.jinja", "train_grpo.sh"]
    assert result.summary["prompt_key"] == "problem"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(records)
    for row, record in zip(rows, records, strict=True):
        assert set(row) == {"problem", "answer", "videos"}
        assert row["problem"].count("<video>") == 1 == len(row["videos"])
        assert row["problem"] == "<video>" + nep_question(record.id, 5)
        assert row["answer"] == record.caption_part2
        assert Path(row["videos"][0]).is_file()


def test_exports_read_a_run_store(run_dir: Path, tmp_path: Path):
    with RunStore(run_dir) as store:
        for n in range(3):
            store.add_record(make_record(run_dir, n))
        result = export_easyr1(store.records(), run_dir, tmp_path / "r1")
    assert result.count == 3


def test_targets_are_called_alike(run_dir: Path, records, tmp_path: Path):
    assert set(TARGETS) == {"llamafactory", "easyr1", "v1", "verl", "trl", "hf"}
    options = ExportOptions(seed=1, media_root=None)
    for name in TARGETS:
        if name == "trl":  # decodes frames; these clips are stand-ins (see test_trainers.py)
            continue
        result = export(name, records[:2], run_dir, tmp_path / name, options)
        assert result.count == 2 and all(f.is_file() for f in result.files)
        assert result.summary["target"] == name
        # the target's own function, options as keywords, writes the same data file
        again = TARGETS[name].export(records[:2], run_dir, tmp_path / f"{name}-kw", seed=1)
        assert again.count == 2
        assert again.files[0].read_bytes() == result.files[0].read_bytes()
    with pytest.raises(ValueError, match="unknown target"):
        export("axolotl", records, run_dir, tmp_path / "x")
    with pytest.raises(TypeError):
        export_easyr1(records, run_dir, tmp_path / "x", frame_rate=2)  # no such option


# ---------------------------------------------------------------------- V1


def test_v1_import_maps_fields():
    records, failures = import_v1(V1_FIXTURE)
    assert failures == []
    assert [r.id for r in records] == ["v_kq3Jd8wPZr0#0", "K7QW2#0", "Pz81mQ4vBtE#0"]
    first = records[0]
    assert first.source == "v1" and first.video_id == "v_kq3Jd8wPZr0"
    assert first.video is None and first.past is None and first.future is None
    assert all(not e.timed for e in first.events) and len(first.events) == 4
    assert first.split.split_s == pytest.approx(13.3)
    assert first.split.last_past_event == 1  # "Scene 2" is the last past scene
    assert first.split.event_boundary_s == first.split.split_s
    assert first.split.snapped_to == "event_boundary" and first.split.reason == "V1-33K split"
    assert [e.text for e in first.future_events][0].startswith("He pours the eggs")
    assert first.extra["video_path"] == "first_part_video/activitynet/v_kq3Jd8wPZr0.mp4"
    assert first.extra["full_video_path"] == "video_dataset/activitynet/v_kq3Jd8wPZr0.mp4"
    assert first.reasoning.prediction_content.startswith("He will heat a pan")
    assert first.critique == Critique(critique=first.critique.critique, conclusion="right")
    assert records[1].critique.conclusion == "wrong"
    assert first.mc_qa[1].from_ == "gpt" and first.mc_qa[1].value == "B"
    third = records[2]
    assert third.reasoning is None and third.critique is None and third.mc_qa is None
    assert third.split.split_s == pytest.approx(72.4) and third.split.last_past_event == 2
    # Nothing needed a raw copy: the typed record reproduces every part of this file.
    assert all("v1_raw" not in r.extra and "v1_other" not in r.extra for r in records)


def test_v1_round_trip(run_dir: Path, tmp_path: Path):
    original = json.loads(V1_FIXTURE.read_text(encoding="utf-8"))
    records, failures = import_v1(V1_FIXTURE)
    assert failures == []
    result = export_v1(records, run_dir, tmp_path / "v1")
    assert result.count == 3 and result.failures == []
    written = json.loads((tmp_path / "v1" / "next_event_prediction.json").read_text())
    assert written == original
    # and the exported file imports to the same records
    again, _ = import_v1(tmp_path / "v1" / "next_event_prediction.json")
    assert [r.model_dump() for r in again] == [r.model_dump() for r in records]


def test_v1_round_trip_keeps_odd_spellings_and_unknown_keys(run_dir: Path, tmp_path: Path):
    entries = json.loads(V1_FIXTURE.read_text(encoding="utf-8"))
    entries[0]["o3_critique"]["Conclusion"] = "Right."
    entries[0]["source_dataset"] = "activitynet"
    entries[1]["mc_qa"] = [{"from": "human"}]  # no value: kept raw, typed None
    entries[1]["events"][0]["description"] = "  A woman   enters a bedroom.  "
    entries[2]["video_split"]["scenes_timestep"] = [{"Scene 3": "01:12.4"}]
    src = tmp_path / "odd.json"
    src.write_text(json.dumps(entries), encoding="utf-8")

    records, failures = import_v1(src)
    assert failures == []
    assert records[0].critique.conclusion == "right"
    assert records[1].mc_qa is None and records[1].events[0].text == "A woman enters a bedroom."
    assert records[2].split.split_s == pytest.approx(72.4)

    export_v1(records, run_dir, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "next_event_prediction.json").read_text()) == entries


def test_v1_raw_copy_is_dropped_once_the_record_changes(run_dir: Path, tmp_path: Path):
    entries = json.loads(V1_FIXTURE.read_text(encoding="utf-8"))
    entries[0]["o3_critique"]["Conclusion"] = "Right"
    src = tmp_path / "odd.json"
    src.write_text(json.dumps(entries), encoding="utf-8")
    (record, *_), _ = import_v1(src)
    record.critique = Critique(critique="A new critic disagrees.", conclusion="wrong")
    record.caption_part2 = "Something else happens."
    entry = export_v1([record], run_dir, tmp_path / "out")
    (written,) = json.loads((tmp_path / "out" / "next_event_prediction.json").read_text())
    assert entry.count == 1
    assert written["o3_critique"] == {"Critique": "A new critic disagrees.", "Conclusion": "wrong"}
    assert written["video_split"]["split_caption"]["caption_part2"] == "Something else happens."


def test_v1_export_of_a_pipeline_record(run_dir: Path, tmp_path: Path):
    record = make_record(run_dir, 7)
    record.split.split_s = 6.04
    record.reasoning = Reasoning(reasoning_content="She is ready to ride.",
                                 prediction_content="She rides away.")
    text_only = make_record(run_dir, 8, past=False, future=False)
    result = export_v1([record, text_only], run_dir, tmp_path / "v1")
    assert result.count == 1 and result.failures[0].input == text_only.id
    (entry,) = json.loads((tmp_path / "v1" / "next_event_prediction.json").read_text())
    assert entry["video_path"] == str((run_dir / record.past.path).resolve())
    assert entry["full_video_path"] == record.video.path
    assert entry["events"][2] == {"scene": "Scene 3", "description": EVENTS[2]}
    assert entry["video_split"]["scenes_timestep"] == [{"Scene 2": "00:06.04"}]
    assert entry["video_split"]["split_caption"] == {
        "caption_part1": record.caption_part1, "caption_part2": record.caption_part2}
    assert entry["ds_reasoning"] == {"reasoning_content": "She is ready to ride.",
                                     "prediction_content": "She rides away."}
    assert "o3_critique" not in entry and "mc_qa" not in entry and "oe_qa" not in entry

    export_v1([record], run_dir, tmp_path / "rel", media_root=run_dir)
    (entry,) = json.loads((tmp_path / "rel" / "next_event_prediction.json").read_text())
    assert entry["video_path"] == record.past.path
    assert entry["full_video_path"] == record.video.path  # outside media_root: kept absolute


def test_import_v1_reports_malformed_entries(tmp_path: Path):
    good = json.loads(V1_FIXTURE.read_text(encoding="utf-8"))[0]

    def variant(**changes):
        entry = json.loads(json.dumps(good))
        for dotted, value in changes.items():
            *parents, leaf = dotted.split(".")
            node = entry
            for key in parents:
                node = node[key]
            if value is ...:
                del node[leaf]
            else:
                node[leaf] = value
        return entry

    split = "video_split"
    entries = [
        good,                                                        # 0 ok
        ["not", "an", "object"],                                     # 1
        variant(video_path=...),                                     # 2
        variant(events=good["events"][:1]),                          # 3 one event
        variant(**{f"{split}.scenes_timestep": [{"Scene X": "00:13.30"}]}),   # 4
        variant(**{f"{split}.scenes_timestep": [{"Scene 4": "00:13.30"}]}),   # 5 no future
        variant(**{f"{split}.scenes_timestep": [{"Scene 9": "00:13.30"}]}),   # 6 no such
        variant(**{f"{split}.scenes_timestep": [{"Scene 2": "thirteen"}]}),   # 7
        variant(**{f"{split}.split_caption.caption_part2": ...}),    # 8
        variant(**{f"{split}.scenes_timestep": [{"Scene 2": "00:00.00"}]}),   # 9 empty past
        variant(**{"events": [{"scene": "Scene 1", "description": " "}] * 4}),  # 10
        variant(**{f"{split}.scenes_timestep": []}),                 # 11
        good,                                                        # 12 ok, repeated video
    ]
    src = tmp_path / "bad.json"
    src.write_text(json.dumps(entries), encoding="utf-8")
    records, failures = import_v1(src)

    assert [r.id for r in records] == ["v_kq3Jd8wPZr0#0", "v_kq3Jd8wPZr0#1"]
    assert records[1].split.split_index == 1
    assert [f.input for f in failures] == [f"{src}[{i}]" for i in range(1, 12)]
    assert {f.stage for f in failures} == {"import"}
    assert len({f.key for f in failures}) == len(failures)
    by_index = {int(f.input.rsplit("[", 1)[1][:-1]): f.error for f in failures}
    assert "not an object" in by_index[1]
    assert "video_path" in by_index[2]
    assert "at least 2" in by_index[3]
    assert "'Scene N'" in by_index[4]
    assert "outside Scene 1..Scene 3" in by_index[5] and "outside" in by_index[6]
    assert "MM:SS.ss" in by_index[7]
    assert "caption_part2" in by_index[8]
    assert "split time is 0" in by_index[9]
    assert "empty" in by_index[10]
    assert all(f"entry {i} " in by_index[i] for i in by_index)


def test_import_v1_rejects_a_file_that_is_not_a_list(tmp_path: Path):
    src = tmp_path / "obj.json"
    src.write_text('{"video_path": "x.mp4"}')
    with pytest.raises(NextEventError, match="not a list"):
        import_v1(src)
    with pytest.raises(NextEventError, match="does not exist"):
        import_v1(tmp_path / "missing.json")
