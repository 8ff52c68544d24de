"""Training-ready clips (``nextevent build --clip-fps F --clip-max-pixels N``) on the real
sample videos: the kept frames are the ones the grid rule predicts from the source's own
frame times, at most N pixels, still frame-exact at the split, and the exports' training
configs sample them at F and N.

The rule (`nextevent.media.cut`): each clip keeps the first source frame at or after each
grid time ``start + k / F``, each source frame at most once; ``start`` is the clip's first
frame (0 s for the past, the first frame at or after the split for the future). The
predictions here use the set formulation ("for each grid time, the first frame at or after
it"), not the cut's running one.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import yaml
from av.video.reformatter import Interpolation, VideoReformatter
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.export import export_llamafactory
from nextevent.media.cut import MIN_CLIP_PIXELS, check_resample, clip_size, cut
from nextevent.media.probe import probe
from nextevent.store import read_records

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sample_events.jsonl"
SOURCE_FPS = 25  # both sample videos
# bikes.mp4 cuts from one shot to the next between 5.44 and 5.48 s (see test_media.py).
BIKES_SHOT_S = 5.48


# ----------------------------------------------------------------------------- helpers


def frames_of(path: Path) -> tuple[list[Fraction], tuple[int, int], Fraction]:
    """Exact frame times (s from the stream start), (width, height) and stream duration (s)
    of a video, decoded with plain PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        tb = stream.time_base
        times = [(f.pts - start) * tb for f in container.decode(stream)]
        size = (stream.codec_context.width, stream.codec_context.height)
        duration = (stream.duration or 0) * tb
    return [Fraction(t) for t in times], size, Fraction(duration)


def rgb_at(path: Path, index: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """RGB pixels of frame ``index`` of ``path``, scaled to ``size`` by swscale."""
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                if size is not None:
                    frame = VideoReformatter().reformat(
                        frame, width=size[0], height=size[1], interpolation=Interpolation.AREA)
                return frame.to_ndarray(format="rgb24")
    raise IndexError(index)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def predicted(times: list[Fraction], origin: Fraction, fps: float) -> list[Fraction]:
    """For each grid time ``origin + k / fps`` up to the last frame, the first of ``times``
    at or after it (each frame once)."""
    step = 1 / Fraction(str(fps))
    kept: list[Fraction] = []
    k = 0
    while origin + k * step <= times[-1]:
        grid = origin + k * step
        first = min(t for t in times if t >= grid)
        if not kept or first != kept[-1]:
            kept.append(first)
        k += 1
    return kept


def split_source(source: Path, split_s: float) -> tuple[list[Fraction], list[Fraction]]:
    times, _, _ = frames_of(source)
    return [t for t in times if float(t) < split_s], [t for t in times if float(t) >= split_s]


def assert_resampled(source: Path, split_s: float, fps: float | None,
                     max_pixels: int | None, clips) -> None:
    """Everything a resampled cut promises, checked on the decoded files."""
    past_src, future_src = split_source(source, split_s)
    _, src_size, _ = frames_of(source)
    want_past = predicted(past_src, Fraction(0), fps) if fps else past_src
    want_future = predicted(future_src, future_src[0], fps) if fps else future_src
    for segment, want, shift in ((clips.past, want_past, Fraction(0)),
                                 (clips.future, want_future, future_src[0])):
        times, (w, h), duration = frames_of(Path(segment.path))
        # the split rule and the frame counts: exactly the predicted source frames
        assert [t + shift for t in times] == want
        assert segment.frame_count == segment.reencoded_frames == len(want)
        if fps and fps < SOURCE_FPS:
            gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
            assert all(abs(g - 1 / Fraction(str(fps))) < Fraction(1, SOURCE_FPS) for g in gaps)
            # LLaMA-Factory samples floor(duration x video_fps) frames (capped at the count)
            assert math.floor(duration * Fraction(str(fps))) >= len(times)
        assert w % 2 == 0 and h % 2 == 0 and w <= src_size[0] and h <= src_size[1]
        if max_pixels is not None:
            assert w * h <= max_pixels
            assert abs(h - w * src_size[1] / src_size[0]) <= 1  # aspect within a pixel
    assert all(float(t) < split_s for t in want_past)
    assert all(float(t) >= split_s for t in want_future)
    assert want_future[0] == future_src[0]  # the future opens on the first frame >= split


# ----------------------------------------------------------------------------- cut


@pytest.mark.parametrize(("name", "split_s", "fps", "max_pixels"), [
    ("bunny", 2.5, 2.0, 16384),
    ("bikes", 4.9, 3.0, MIN_CLIP_PIXELS),
    ("bikes", 3.3, 0.7, None),       # fps only: source size
    ("bunny", 2.02, None, 320 * 180),  # size only: every source frame
])
def test_resampled_cut_keeps_the_predicted_frames(request: pytest.FixtureRequest, tmp_path: Path,
                                                  name: str, split_s: float, fps: float | None,
                                                  max_pixels: int | None) -> None:
    source = request.getfixturevalue(name)
    for mode in ("accurate", "smart"):
        clips = cut(probe(source), split_s, tmp_path / mode, mode, fps=fps,
                    max_pixels=max_pixels)
        assert clips.mode == "accurate"
        if mode == "smart":
            assert clips.note is not None and "--clip-fps" in clips.note
        else:
            assert clips.note is None
        assert clips.past.end_s == clips.future.start_s == split_s
        assert_resampled(source, split_s, fps, max_pixels, clips)


def test_bunny_sizes(bunny: Path, tmp_path: Path) -> None:
    clips = cut(probe(bunny), 2.5, tmp_path, "accurate", fps=2.0, max_pixels=16384)
    assert frames_of(Path(clips.past.path))[1] == (170, 96)  # 16320 px, 1280:720 -> 170:95.6
    # past grid 0, 0.5, ... 2.0 s on 25 fps frames (0.04 s apart): 0.0, 0.52, 1.0, 1.52, 2.0
    times = frames_of(Path(clips.past.path))[0]
    assert times == [Fraction(0), Fraction(52, 100), Fraction(1), Fraction(152, 100),
                     Fraction(2)]


def test_split_stays_frame_exact_at_a_shot_cut(bikes: Path, tmp_path: Path) -> None:
    """At a real shot cut the past's last frame is the old shot and the future's first the
    new one, in pixels: the kept frames are the source frames named by their times."""
    clips = cut(probe(bikes), BIKES_SHOT_S, tmp_path, "accurate", fps=2.0, max_pixels=16384)
    assert_resampled(bikes, BIKES_SHOT_S, 2.0, 16384, clips)
    past_src, _ = split_source(bikes, BIKES_SHOT_S)
    _, size, _ = frames_of(Path(clips.future.path))
    first_future = rgb_at(Path(clips.future.path), 0)
    last_past = rgb_at(Path(clips.past.path), clips.past.frame_count - 1)
    new_shot = rgb_at(bikes, len(past_src), size)       # source frame at 5.48 s
    old_shot = rgb_at(bikes, len(past_src) - 1, size)   # source frame at 5.44 s
    assert mad(first_future, new_shot) < 6 < mad(first_future, old_shot)
    # the past's last kept frame is the one at or after 5.0 s: 5.00 s, of the old shot
    kept = predicted(past_src, Fraction(0), 2.0)[-1]
    assert kept == 5
    assert mad(last_past, rgb_at(bikes, past_src.index(kept), size)) < 6
    assert mad(last_past, old_shot) > 6  # not the last source frame before the split
    assert mad(last_past, new_shot) > 6


def test_faster_grid_than_the_source_keeps_every_frame_once(bikes: Path, tmp_path: Path) -> None:
    clips = cut(probe(bikes), 4.9, tmp_path, "accurate", fps=30.0, max_pixels=10**8)
    past_src, future_src = split_source(bikes, 4.9)
    assert clips.past.frame_count == len(past_src) and clips.future.frame_count == len(
        future_src)
    assert frames_of(Path(clips.past.path))[1] == (640, 272)  # never upscaled
    assert_resampled(bikes, 4.9, 30.0, 10**8, clips)


def test_fast_refuses_and_bad_values_raise(bikes: Path, tmp_path: Path) -> None:
    video = probe(bikes)
    with pytest.raises(ValueError, match="fast cut copies"):
        cut(video, 4.9, tmp_path, "fast", fps=2.0)
    with pytest.raises(ValueError, match="fast cut copies"):
        cut(video, 4.9, tmp_path, "fast", max_pixels=16384)
    for fps in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="fps must be"):
            check_resample(fps, None)
    with pytest.raises(ValueError, match="max_pixels must be at least 4096"):
        cut(video, 4.9, tmp_path, "accurate", max_pixels=MIN_CLIP_PIXELS - 1)
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(("width", "height", "max_pixels"), [
    (1280, 720, 16384), (640, 272, 4096), (641, 273, 5000), (272, 640, 4096),
    (1920, 1080, 50176), (1280, 720, 1280 * 720), (720, 1280, 100_000), (3840, 1600, 12345),
])
def test_clip_size_rule(width: int, height: int, max_pixels: int) -> None:
    w, h = clip_size(width, height, max_pixels)
    assert w % 2 == 0 and h % 2 == 0 and 2 <= w <= width and 2 <= h <= height
    assert w * h <= max_pixels
    assert abs(h - w * height / width) <= 1
    # the largest such width: no wider even width fits at its nearest even height
    for w2 in range(w + 2, width + 1, 2):
        assert w2 * 2 * round(w2 * height / width / 2) > max_pixels


def test_clip_size_without_a_limit_crops_odd_sides_only() -> None:
    assert clip_size(641, 273) == (640, 272)
    assert clip_size(641, 273, 10**6) == (640, 272)
    assert clip_size(1280, 720, 1280 * 720) == (1280, 720)


# ----------------------------------------------------------------------------- build + export


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def build(sample_dir: Path, out: Path, *extra: str):
    return invoke("build", "--videos", str(sample_dir), "--annotations", str(EXAMPLES),
                  "--out", str(out), "--splits-per-video", "2", "--workers", "1",
                  "--no-progress", *extra)


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("clips") / "run"
    result = build(sample_dir, out, "--clip-fps", "1.5", "--clip-max-pixels", "8192")
    assert result.exit_code == 0, result.output
    return out


def test_build_records_say_how_the_clips_were_written(clip_run: Path) -> None:
    records = list(read_records(clip_run / "records.jsonl"))
    assert len(records) == 4
    for r in records:
        assert r.clip_fps == 1.5 and r.clip_max_pixels == 8192
        assert r.cut_mode == "accurate"  # smart asked for (the default), re-encoded in full
        assert r.cut_note is not None and "--clip-fps" in r.cut_note
        assert r.video and r.past and r.future
        source = Path(r.video.path)
        split = r.split.split_s
        past_src, future_src = split_source(source, split)
        past_t, past_size, _ = frames_of(clip_run / r.past.path)
        future_t, _, _ = frames_of(clip_run / r.future.path)
        assert past_t == predicted(past_src, Fraction(0), 1.5)
        assert [t + future_src[0] for t in future_t] == predicted(future_src,
                                                                  future_src[0], 1.5)
        assert past_size[0] * past_size[1] <= 8192
    options = json.loads((clip_run / "build_options.json").read_text())
    assert options["clip-fps"] == 1.5 and options["clip-max-pixels"] == 8192


def test_rerun_with_other_clip_values_is_refused(clip_run: Path, sample_dir: Path) -> None:
    result = build(sample_dir, clip_run, "--clip-fps", "2", "--clip-max-pixels", "8192")
    assert result.exit_code != 0
    assert "clip-fps" in result.output and "--force" in result.output


@pytest.mark.parametrize(("args", "option", "words"), [
    (["--cut", "fast", "--clip-fps", "2"], "'--cut'", "cannot change the frame rate"),
    (["--cut", "fast", "--clip-max-pixels", "16384"], "'--cut'", "--cut smart or accurate"),
    (["--clip-fps", "0"], "'--clip-fps'", "frames per second > 0"),
    (["--clip-fps", "-2"], "'--clip-fps'", "frames per second > 0"),
    (["--clip-fps", "nan"], "'--clip-fps'", "not a frame rate"),
    (["--clip-max-pixels", "4095"], "'--clip-max-pixels'", "at least 4096"),
])
def test_cli_rejects_bad_clip_options(sample_dir: Path, tmp_path: Path, args: list[str],
                                      option: str, words: str) -> None:
    result = build(sample_dir, tmp_path / "run", *args)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert option in text and words in text
    assert not (tmp_path / "run").exists()  # refused before anything was written


def llamafactory_values(out: Path) -> list[tuple[float, int]]:
    values = []
    for config in sorted(out.glob("*.yaml")):
        data = yaml.safe_load(config.read_text())
        values.append((data["video_fps"], data["video_max_pixels"]))
    assert len(values) == 2  # full and LoRA
    return values


def test_exports_sample_at_the_clip_values(clip_run: Path, tmp_path: Path) -> None:
    result = invoke("export", str(clip_run), "--target", "llamafactory", "--out",
                    str(tmp_path / "lf"))
    assert result.exit_code == 0, result.output
    assert llamafactory_values(tmp_path / "lf") == [(1.5, 8192), (1.5, 8192)]
    assert "video_fps: 1.5 (the clips' --clip-fps)" in result.output
    result = invoke("export", str(clip_run), "--target", "easyr1", "--out",
                    str(tmp_path / "r1"))
    assert result.exit_code == 0, result.output
    script = (tmp_path / "r1" / "train_grpo.sh").read_text()
    assert "data.video_fps=1.5 \\" in script and "data.max_pixels=8192 \\" in script


def test_export_of_plain_clips_keeps_the_template_values(sample_dir: Path,
                                                         tmp_path: Path) -> None:
    run = tmp_path / "plain"
    result = build(sample_dir, run, "--no-shots")
    assert result.exit_code == 0, result.output
    records = list(read_records(run / "records.jsonl"))
    assert all(r.clip_fps is None and r.clip_max_pixels is None for r in records)
    assert all(r.cut_note is None or "--clip" not in r.cut_note for r in records)
    result = invoke("export", str(run), "--target", "llamafactory", "--out", str(tmp_path / "lf"))
    assert result.exit_code == 0, result.output
    assert llamafactory_values(tmp_path / "lf") == [(2.0, 16384), (2.0, 16384)]
    assert "the clips'" not in result.output


def test_export_of_clips_that_disagree_keeps_the_template_value(clip_run: Path,
                                                                tmp_path: Path) -> None:
    records = list(read_records(clip_run / "records.jsonl"))
    # as if two runs' records were exported together: one pair of them at another rate
    mixed = [records[0].model_copy(update={"clip_fps": 3.0}), *records[1:]]
    result = export_llamafactory(mixed, clip_run, tmp_path)
    assert llamafactory_values(tmp_path) == [(2.0, 8192), (2.0, 8192)]  # pixels agree
    assert "different frame rates (1.5, 3.0 fps)" in result.summary["video sampling"]


def test_easyr1_skips_a_one_frame_clip_its_video_reader_would_refuse(
        sample_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = build(sample_dir, run, "--clip-fps", "0.5", "--clip-max-pixels", "9000")
    assert result.exit_code == 0, result.output
    records = list(read_records(run / "records.jsonl"))
    short = [r.id for r in records if r.past is not None and r.past.frame_count < 2]
    assert short, "the case being tested: a past of one frame at 0.5 fps"
    result = invoke("export", str(run), "--target", "easyr1", "--out", str(tmp_path / "r1"))
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "r1" / "nep_train.jsonl").read_text().splitlines()
    assert len(rows) == len(records) - len(short)
    assert "needs at least 2" in result.output
    failures = [json.loads(x) for x in (run / "failures.jsonl").read_text().splitlines()]
    skipped = [f for f in failures if "needs at least 2" in f["error"]]
    assert len(skipped) == len(short) and all("--format frames" in f["hint"] for f in skipped)
