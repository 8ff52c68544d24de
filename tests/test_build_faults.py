"""`nextevent build` faults found by a fault hunt (media side, no models): a video corrupted
partway with no decoding pass before a copying cut, annotation files edited in place,
untimed events, huge integers, bad planner durations, and messages that misled."""

from __future__ import annotations

import json
import math
from pathlib import Path

import av
import av.error
import numpy as np
import pytest
import typer
from av.stream import Disposition
from badvideos import reencoded_mp4, truncated_faststart_mp4
from typer.testing import CliRunner

from nextevent.cli import _exit_if_nothing_built, app
from nextevent.jsonl import JSONLError, decode_line
from nextevent.media.cut import cut
from nextevent.media.probe import probe
from nextevent.pipeline.build_options import DIGEST, read_build_options
from nextevent.pipeline.planner import PlannerConfig, plan_splits
from nextevent.records import Event, NextEventError
from nextevent.samples import copy_samples
from nextevent.sources import load_annotations
from nextevent.store import read_records

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sample_events.jsonl"
HUGE = "1" + "0" * 400  # beyond float range, within Python's int-string limit
TOO_LONG = "1" + "0" * 5000  # beyond Python's int-string limit (4300 digits)


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    # an exit status, never an exception escaping the command (a traceback)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return result.exit_code, result.output


def _bikes_row() -> dict:
    rows = [json.loads(line) for line in EXAMPLES.read_text().splitlines() if line.strip()]
    return next(r for r in rows if r["video_id"] == "bikes")


def _failures(run: Path) -> list[dict]:
    path = run / "failures.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _decodes(path: Path) -> bool:
    try:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                pass
    except av.error.FFmpegError:
        return False
    return True


# ----------------------------------------------------------- 1. corrupted partway, no shots


@pytest.fixture(scope="module")
def corrupt_tail(tmp_path_factory: pytest.TempPathFactory, bikes: Path) -> Path:
    """bikes.mp4 with its index first and every byte from 70 % on random (seeded): it
    opens and probes, and its last seconds do not decode."""
    videos = tmp_path_factory.mktemp("corrupt_tail")
    full = truncated_faststart_mp4(bikes, videos, fraction=1.0)
    data = bytearray(full.read_bytes())
    start = int(len(data) * 0.7)
    data[start:] = np.random.default_rng(0).integers(0, 256, len(data) - start,
                                                     dtype=np.uint8).tobytes()
    target = videos / "bikes.mp4"
    target.write_bytes(bytes(data))
    full.unlink()
    assert not _decodes(target)
    return target


@pytest.mark.parametrize("mode", ["smart", "fast"])
def test_copying_cut_without_shots_writes_no_record_of_a_video_corrupt_partway(
        tmp_path: Path, corrupt_tail: Path, mode: str) -> None:
    ann = tmp_path / "bikes.jsonl"
    ann.write_text(json.dumps(_bikes_row()) + "\n")
    run = tmp_path / "run"
    args = ("build", "--videos", str(corrupt_tail.parent), "--annotations", str(ann),
            "--out", str(run), "--splits-per-video", "3", "--no-shots", "--cut", mode,
            "--workers", "1", "--no-progress")
    for _ in range(2):  # a rerun keeps the same state
        code, output = _invoke(*args)
        records = list(read_records(run / "records.jsonl")) if (run / "records.jsonl").exists() \
            else []
        for record in records:  # no record whose clips do not decode
            assert _decodes(run / record.future.path) and _decodes(run / record.past.path)
        assert records == []
        assert code == 1 and "no record was written" in output, output
        failures = _failures(run)
        assert len(failures) == 1, failures
        assert failures[0]["input"] == "bikes"
        assert "bikes.mp4" in failures[0]["error"]
        assert "decoding failed near" in failures[0]["error"]


def test_closing_message_counts_the_records_a_failed_video_kept(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every video lost some splits but records were cut: the run made data, so it warns
    and exits 0; with no record at all it is an error (exit 1)."""
    _exit_if_nothing_built(2, 0, 0, 2, tmp_path, records=2)
    out = " ".join(capsys.readouterr().out.split())
    assert "every video failed" not in out
    assert "no video ended whole (2 of 2 lost splits or stages)" in out
    assert "records.jsonl holds 2 record(s)" in out
    with pytest.raises(typer.Exit) as exit_info:
        _exit_if_nothing_built(2, 0, 0, 2, tmp_path, records=0)
    assert exit_info.value.exit_code == 1
    assert "every video failed (2 of 2); no record was written" in " ".join(
        capsys.readouterr().out.split())


def test_a_config_error_writes_nothing_into_the_run(tmp_path: Path, sample_dir: Path) -> None:
    """An unset API key variable or a --prompts override that does not parse stops the
    build before build_options.json (or anything else) is written."""
    cfg = tmp_path / "llm.yaml"
    cfg.write_text("defaults: {base_url: 'http://127.0.0.1:1/v1'}\nroles:\n"
                   "  reasoner: {model: r, api_key_env: NEXTEVENT_TEST_UNSET_KEY}\n"
                   "  rewriter: {model: w}\n  critic: {model: c}\n")
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "predict.txt").write_text("no sections at all {{")
    good = tmp_path / "good.yaml"
    good.write_text(cfg.read_text().replace(", api_key_env: NEXTEVENT_TEST_UNSET_KEY", ""))
    for config, extra, said in ((cfg, (), "NEXTEVENT_TEST_UNSET_KEY"),
                                (good, ("--prompts", str(prompts)), "predict")):
        run = tmp_path / f"run-{said}"
        code, output = _invoke("build", "--videos", str(sample_dir), "--annotations",
                               str(EXAMPLES), "--out", str(run), "--llm-config", str(config),
                               "--stages", "predict,rewrite,critique", "--no-progress",
                               *extra)
        assert code == 2, output
        assert said in output
        assert not run.exists() or not any(run.iterdir()), sorted(run.iterdir())


# -------------------------------------------------------------- 2. annotation edited in place


def _bikes_build(tmp_path: Path) -> tuple[Path, Path, tuple[str, ...]]:
    """(annotation file, run dir, build arguments) of a fast build of bikes alone."""
    videos = tmp_path / "videos"
    copy_samples(videos)
    (videos / "bigbuckbunny.mp4").unlink()
    ann = tmp_path / "events.jsonl"
    ann.write_text(json.dumps(_bikes_row()) + "\n")
    run = tmp_path / "run"
    return ann, run, ("build", "--videos", str(videos), "--annotations", str(ann), "--out",
                      str(run), "--no-shots", "--cut", "fast", "--workers", "1",
                      "--no-progress")


def test_annotation_file_edited_in_place_is_a_changed_option(tmp_path: Path) -> None:
    ann, run, args = _bikes_build(tmp_path)
    assert _invoke(*args)[0] == 0
    first = read_build_options(run)
    assert first is not None and len(first[DIGEST]) == 64
    before = (run / "records.jsonl").read_bytes()

    row = _bikes_row()
    row["events"][0]["text"] = "An edited first event."
    ann.write_text(json.dumps(row) + "\n")
    code, output = _invoke(*args)
    flat = " ".join(output.split())
    assert code == 2 and "the file changed since the first build" in flat, output
    assert "--force" in flat and "--out" in flat
    assert (run / "records.jsonl").read_bytes() == before

    code, output = _invoke(*args, "--force")
    assert code == 0, output
    texts = [r.events[0].text for r in read_records(run / "records.jsonl")]
    assert texts and set(texts) == {"An edited first event."}


def test_stored_options_without_a_digest_still_resume(tmp_path: Path) -> None:
    ann, run, args = _bikes_build(tmp_path)
    assert _invoke(*args)[0] == 0
    options = run / "build_options.json"
    stored = json.loads(options.read_text())
    digest = stored.pop(DIGEST)
    options.write_text(json.dumps(stored))  # as an older build wrote it
    code, output = _invoke(*args)
    assert code == 0, output
    assert read_build_options(run)[DIGEST] == digest


# ------------------------------------------------------------------------ 3. untimed events


def test_untimed_events_without_models_fail_clearly(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    copy_samples(videos)
    ann = tmp_path / "untimed.jsonl"
    ann.write_text(json.dumps({"video_id": "u", "video": "bikes.mp4",
                               "events": [{"text": "a"}, {"text": "b"}]}) + "\n")
    run = tmp_path / "run"
    code, output = _invoke("build", "--videos", str(videos), "--annotations", str(ann),
                           "--out", str(run), "--workers", "1", "--no-progress")
    assert code == 1, output
    failures = _failures(run)
    assert len(failures) == 1, failures
    assert failures[0]["stage"] == "events"
    assert "without start/end times" in failures[0]["error"]
    assert "--llm-config" in failures[0]["hint"] and "start and end" in failures[0]["hint"]
    assert "unexpected" not in failures[0]["error"]


# ------------------------------------------------------------------------- 4. huge integers


@pytest.mark.parametrize("fmt, text", [
    ("jsonl", f'{{"video_id": "g", "duration": {HUGE}}}'),
    ("jsonl", f'{{"video_id": "g", "events": [{{"start": 0, "end": {HUGE}, "text": "a"}}, '
              '{"start": 2, "end": 4, "text": "b"}]}'),
    ("jsonl", f'{{"video_id": "g", "duration": {TOO_LONG}}}'),
    ("activitynet", f'{{"v_g": {{"duration": 6, "timestamps": [[0, {HUGE}], [2, 4]], '
                    '"sentences": ["a", "b"]}}'),
    ("activitynet", f'{{"v_g": {{"duration": {HUGE}, "timestamps": [[0, 1], [2, 4]], '
                    '"sentences": ["a", "b"]}}'),
    ("activitynet", f'{{"v_g": {{"duration": {TOO_LONG}, "timestamps": [], '
                    '"sentences": []}}'),
    ("youcook2", f'{{"database": {{"g": {{"duration": 6, "annotations": ['
                 f'{{"segment": [0, {HUGE}], "sentence": "a"}}, '
                 '{"segment": [2, 4], "sentence": "b"}]}}}'),
])
def test_huge_integers_are_an_entry_failure_or_an_import_error(
        tmp_path: Path, fmt: str, text: str) -> None:
    path = tmp_path / ("a.jsonl" if fmt == "jsonl" else "a.json")
    path.write_text(text + "\n")
    try:
        result = load_annotations(path, fmt)
    except NextEventError as err:  # nothing readable: the CLI prints it as one line
        assert err.stage == "import" and len(str(err)) < 600
        return
    errors = [f.error for f in result.failures]
    assert any("not finite" in e or "not a positive number" in e for e in errors)
    assert all(len(e) < 600 for e in errors), errors


def test_huge_integer_in_a_run_file_line_is_a_line_error(tmp_path: Path) -> None:
    with pytest.raises(JSONLError, match="integer too long"):
        decode_line(f'{{"id": {TOO_LONG}}}', path=tmp_path / "records.jsonl", number=3)


# -------------------------------------------------------------------- 5. planner durations


@pytest.mark.parametrize("option, value", [
    ("--min-past", "nan"), ("--min-past", "-5"), ("--min-future", "-1"),
    ("--min-future", "inf"), ("--snap-tolerance", "nan"), ("--snap-tolerance", "-0.5"),
])
def test_bad_planner_durations_are_refused(tmp_path: Path, option: str, value: str) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    run = tmp_path / "run"
    code, output = _invoke("build", "--videos", str(videos), "--annotations", str(EXAMPLES),
                           "--out", str(run), option, value, "--no-progress")
    assert code == 2 and "give seconds >= 0" in output and option in output, output
    assert not (run / "build_options.json").exists()


def test_predictions_without_a_model_are_refused(tmp_path: Path) -> None:
    # without --llm-config nothing asks the reasoner: K was stored as built, and a later
    # build with a model then took the records as done
    copy_samples(tmp_path / "videos")
    run = tmp_path / "run"
    code, output = _invoke("build", "--videos", str(tmp_path / "videos"), "--annotations",
                           str(EXAMPLES), "--out", str(run), "--predictions", "3",
                           "--no-progress")
    assert code == 2 and "--llm-config" in output and "--predictions" in output, output
    assert not (run / "build_options.json").exists()


# ----------------------------------------------------------------------------- 6. messages


def test_unreadable_video_points_at_permissions(
        bikes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # root reads any file, so the kernel's refusal is played by av.open, which raises
    # av.error.PermissionError (errno 13) for a file the user may not read
    def refuse(*args: object, **kwargs: object) -> None:
        raise av.error.PermissionError(13, "Permission denied", str(bikes))

    monkeypatch.setattr(av, "open", refuse)
    with pytest.raises(NextEventError) as err:
        probe(bikes)
    assert "permission denied" in str(err.value)
    assert "permissions" in err.value.hint and "re-encode" not in err.value.hint


def test_audio_with_cover_art_says_attached_picture(tmp_path: Path) -> None:
    path = tmp_path / "song.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        audio = out.add_stream("aac", rate=44_100)
        audio.layout = "mono"
        cover = out.add_stream("mjpeg", rate=1)
        cover.width = cover.height = 64
        cover.pix_fmt = "yuvj420p"
        cover.disposition = Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
        for packet in cover.encode(picture.reformat(format="yuvj420p")) + cover.encode(None):
            out.mux(packet)
        t = np.arange(44_100) / 44_100
        wave = (0.3 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 44_100, 0
        for packet in audio.encode(frame) + audio.encode(None):
            out.mux(packet)
    with pytest.raises(NextEventError) as err:
        probe(path)
    message = str(err.value)
    assert "no video stream" in message and "attached picture" in message
    assert "audio, video" not in message


def test_plan_failure_suggests_accurate_only_to_the_fast_cut() -> None:
    events = [Event(start_s=0.0, end_s=1.0, text="a"), Event(start_s=1.0, end_s=2.0, text="b")]
    strict = PlannerConfig(min_past_s=5.0, min_future_s=5.0)
    with pytest.raises(NextEventError) as smart:
        plan_splits("v", events, 2.0, config=strict)
    assert "--cut accurate" not in smart.value.hint
    with pytest.raises(NextEventError) as fast:
        plan_splits("v", events, 2.0, keyframes_s=[0.0, 1.0], config=strict)
    assert "--cut accurate" in fast.value.hint


def test_smart_fallback_note_names_the_codec_not_libx265(tmp_path: Path, bikes: Path) -> None:
    mpeg4 = reencoded_mp4(bikes, tmp_path, "mpeg4.mp4", codec="mpeg4")
    clips = cut(probe(mpeg4), 2.0, tmp_path / "clips", "smart")
    assert clips.mode == "accurate" and clips.note is not None
    assert "mpeg4" in clips.note and "not H.264" in clips.note
    assert "libx265" not in clips.note
