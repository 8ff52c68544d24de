"""The smart cut on real frames: the sample videos and re-encodings of them with B-frames,
open GOPs, a non-zero start, variable frame rate and rotation (tests/badvideos.py).

Each clip is decoded frame by frame and compared with the source: the split rule, frame
counts and times, bit-identical copied frames and the PSNR of the re-encoded ones; then
Debian's ffprobe/ffmpeg must print nothing at ``-v error`` and headless chromium must play
every clip to its end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from badvideos import mpegts_copy, reencoded_mp4

from nextevent.media.cut import Clips, cut
from nextevent.media.probe import probe
from nextevent.records import NextEventError
from nextevent.report.browser import check_page, find_chromium

MIN_PSNR_DB = 40.0
"""Bound on every re-encoded frame (Y, U, V together) at the default quality."""


def _frames(path: Path) -> list[tuple[Fraction, np.ndarray]]:
    """(time in s from the stream start, yuv420p planes) of every decoded frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        tb = Fraction(stream.time_base.numerator, stream.time_base.denominator)
        start = stream.start_time or 0
        return [((frame.pts - start) * tb, frame.to_ndarray(format="yuv420p"))
                for frame in container.decode(stream)]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, bikes: Path, bunny: Path) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("smart_inputs")
    closed = {"preset": "veryfast", "g": "30", "bf": "3", "sc_threshold": "0"}
    return {
        "bikes": bikes,
        "bunny": bunny,
        "bframes": reencoded_mp4(bikes, out, "bframes.mp4", options=closed),
        "open_gop": reencoded_mp4(bikes, out, "open_gop.mp4", options={
            "preset": "veryfast", "bf": "3",
            "x264-params": "open-gop=1:keyint=30:scenecut=0:b-pyramid=normal"}),  # no IDR
        "open_gop_scenes": reencoded_mp4(bikes, out, "open_gop_scenes.mp4", options={
            "preset": "veryfast", "bf": "3", "x264-params": "open-gop=1:keyint=30"}),
        "start": reencoded_mp4(bikes, out, "start.mp4", options=closed, start_s=1.5),
        "vfr": reencoded_mp4(bikes, out, "vfr.mp4", options=closed, vfr=True),
        "rotated": reencoded_mp4(bikes, out, "rotated.mp4", options=closed, rotation=90),
        "fullrange": reencoded_mp4(bikes, out, "fullrange.mp4", options=closed,
                                   pix_fmt="yuvj420p"),
        "baseline": reencoded_mp4(bikes, out, "baseline.mp4", options={
            "preset": "veryfast", "g": "25", "profile": "baseline"}),
        "hevc": reencoded_mp4(bikes, out, "hevc.mp4", codec="libx265", options={
            "preset": "ultrafast", "x265-params": "keyint=30:log-level=error"}),
        "mpegts": mpegts_copy(bikes, out),
    }


SMART_CASES = [  # (input, split_s): inside GOPs, near their ends, on a shot boundary
    ("bikes", 3.3), ("bikes", 6.5), ("bikes", 3.04), ("bunny", 2.5),
    ("bframes", 4.1), ("bframes", 1.99), ("open_gop", 4.1), ("open_gop", 6.3),
    ("open_gop_scenes", 4.1), ("start", 3.3),
    ("vfr", 2.9), ("rotated", 5.0), ("fullrange", 6.1), ("baseline", 7.3),
]


@pytest.fixture(scope="module")
def smart_clips(inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
                ) -> dict[tuple[str, float], Clips]:
    out = tmp_path_factory.mktemp("smart_clips")
    return {(name, split_s): cut(probe(inputs[name]), split_s, out / f"{name}_{split_s}",
                                 "smart")
            for name, split_s in SMART_CASES}


@pytest.mark.parametrize("name,split_s", SMART_CASES)
def test_smart_cut_is_frame_exact_and_copies_frames_bit_identical(
        inputs: dict[str, Path], smart_clips: dict[tuple[str, float], Clips], name: str,
        split_s: float) -> None:
    clips = smart_clips[(name, split_s)]
    assert clips.mode == "smart" and clips.note is None
    source = _frames(inputs[name])
    before = [f for f in source if float(f[0]) < split_s]  # the project rule: float times
    after = [f for f in source if float(f[0]) >= split_s]
    for segment, expected, origin in ((clips.past, before, Fraction(0)),
                                      (clips.future, after, after[0][0])):
        got = _frames(Path(segment.path))
        # the split rule, frame count and every timestamp (VFR gaps and the start included)
        assert [t for t, _ in got] == [t - origin for t, _ in expected]
        assert segment.frame_count == len(got)
        assert segment.reencoded_frames is not None
        psnrs = [_psnr(a, b) for (_, a), (_, b) in zip(got, expected, strict=True)]
        exact = sum(p == float("inf") for p in psnrs)
        # the copied frames decode bit-identical; the re-encoded ones stay close
        assert exact >= len(got) - segment.reencoded_frames
        assert min(psnrs) >= MIN_PSNR_DB, (segment.path, min(psnrs))
    # only the partial GOPs next to the split are re-encoded (bunny: one GOP, all of it)
    total = clips.past.frame_count + clips.future.frame_count
    reencoded = clips.past.reencoded_frames + clips.future.reencoded_frames
    if name not in ("bunny", "open_gop", "open_gop_scenes"):
        assert reencoded < 0.6 * total, (reencoded, total)
    # the past copies up to the split but for the pictures held back by B-frame reordering
    # (bf 3 here; none without B-frames), open GOPs included
    assert clips.past.reencoded_frames <= (0 if name == "baseline" else 3), name
    if name == "rotated":
        assert probe(Path(clips.past.path)).rotation_deg == 90
        assert probe(Path(clips.future.path)).rotation_deg == 90


def test_a_split_on_a_keyframe_copies_everything(inputs: dict[str, Path],
                                                 tmp_path: Path) -> None:
    video = probe(inputs["bframes"])
    key_s = next(k for k in video.keyframes_s if k > 2)
    clips = cut(video, key_s, tmp_path / "key", "smart")
    assert (clips.past.reencoded_frames, clips.future.reencoded_frames) == (0, 0)
    source = _frames(inputs["bframes"])
    assert clips.past.frame_count == sum(float(t) < key_s for t, _ in source)
    assert all(_psnr(a, b) == float("inf") for (_, a), (_, b) in zip(
        _frames(Path(clips.future.path)), [f for f in source if float(f[0]) >= key_s],
        strict=True))


@pytest.mark.parametrize("name,why", [("hevc", "hevc"), ("mpegts", "avcC")])
def test_files_that_cannot_be_spliced_fall_back_to_accurate(
        inputs: dict[str, Path], tmp_path: Path, name: str, why: str) -> None:
    clips = cut(probe(inputs[name]), 4.1, tmp_path / name, "smart")
    assert clips.mode == "accurate"
    assert clips.note is not None and why in clips.note and "accurate" in clips.note
    assert clips.past.reencoded_frames == clips.past.frame_count
    source = _frames(inputs[name])
    past = _frames(Path(clips.past.path))
    assert [t for t, _ in past] == [t for t, _ in source if float(t) < 4.1]


def test_the_smart_cut_keeps_the_usual_errors(bikes: Path, tmp_path: Path) -> None:
    video = probe(bikes)
    out = tmp_path / "late"
    with pytest.raises(NextEventError) as info:
        cut(video, 9.98, out, "smart")  # after the last frame: no future frame
    assert info.value.stage == "cut" and "future" in str(info.value)
    assert list(out.iterdir()) == []


def _ffmpeg_tools() -> tuple[str, str]:
    tools = shutil.which("ffprobe"), shutil.which("ffmpeg")
    if None in tools:
        if os.environ.get("CI"):
            pytest.fail("Debian's ffmpeg is missing (scripts/test.sh installs it)")
        pytest.skip("no ffprobe/ffmpeg here: apt-get install ffmpeg")
    return tools  # type: ignore[return-value]


def test_ffprobe_and_ffmpeg_find_no_error_in_smart_clips(
        smart_clips: dict[tuple[str, float], Clips]) -> None:
    ffprobe, ffmpeg = _ffmpeg_tools()
    for clips in smart_clips.values():
        for segment in (clips.past, clips.future):
            probed = subprocess.run(
                [ffprobe, "-v", "error", "-show_streams", "-show_format", segment.path],
                capture_output=True, text=True, check=False)
            assert probed.returncode == 0 and probed.stderr == "", (segment.path,
                                                                    probed.stderr)
            # every frame decoded, kept at its own time (VFR: no frame-rate conversion)
            decoded = subprocess.run(
                [ffmpeg, "-v", "error", "-i", segment.path, "-fps_mode", "passthrough",
                 "-enc_time_base", "-1", "-f", "null", "-"],
                capture_output=True, text=True, check=False)
            assert decoded.returncode == 0 and decoded.stderr == "", (segment.path,
                                                                      decoded.stderr)
            count = subprocess.run(
                [ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
                 "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", segment.path],
                capture_output=True, text=True, check=True)
            assert int(count.stdout.strip().split(",")[0]) == segment.frame_count


def test_chromium_plays_every_smart_clip_to_its_end(
        smart_clips: dict[tuple[str, float], Clips], tmp_path: Path) -> None:
    try:
        chromium = find_chromium()
    except NextEventError as err:
        if os.environ.get("CI"):
            pytest.fail(f"{err} ({err.hint})")
        pytest.skip(f"{err} ({err.hint})")
    players = []
    for i, clips in enumerate(smart_clips.values()):
        for side, segment in (("past", clips.past), ("future", clips.future)):
            name = f"{i}_{side}.mp4"
            shutil.copyfile(segment.path, tmp_path / name)
            players.append(f'<video preload="none" src="{name}"></video>')
    page = tmp_path / "clips.html"
    page.write_text("<!doctype html><title>clips</title>" + "".join(players),
                    encoding="utf-8")
    check = check_page(page, timeout_s=120, media_timeout_s=60, chromium=chromium,
                       play=True)
    assert len(check.videos) == len(players)
    for video in check.videos:
        assert video["error"] is None and video["ended"], video
        assert video["frames"] and video["frames"] > 0, video
    assert check.console_errors == []


def test_a_build_records_the_mode_used_and_why(inputs: dict[str, Path], bikes: Path,
                                               tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nextevent.cli import app
    from nextevent.store import read_records

    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copyfile(bikes, videos / "bikes.mp4")
    shutil.copyfile(inputs["hevc"], videos / "bigbuckbunny.mp4")  # an HEVC file
    examples = Path(__file__).resolve().parents[1] / "examples" / "sample_events.jsonl"
    result = CliRunner().invoke(app, [
        "build", "--videos", str(videos), "--annotations", str(examples), "--out",
        str(tmp_path / "run")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    records = {r.video_id: r for r in read_records(tmp_path / "run" / "records.jsonl")}
    assert records["bikes"].cut_mode == "smart" and records["bikes"].cut_note is None
    hevc = records["bigbuckbunny"]
    assert hevc.cut_mode == "accurate" and "hevc" in (hevc.cut_note or "")
    assert hevc.past is not None and hevc.past.reencoded_frames == hevc.past.frame_count
    assert "accurate 1, smart 1 (1 fell back, see cut_note)" in result.output


def test_annexb_split_of_x264_output_keeps_every_nal_unit(bunny: Path) -> None:
    """libx264's Annex B access units (3- and 4-byte start codes) split into exactly the
    NAL units between the start codes; re-framed with length prefixes they parse back."""
    from av.codec.context import CodecContext

    from nextevent.media import h264

    enc = CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = 1280, 720, "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.options = {"preset": "ultrafast", "crf": "16"}
    packets = []
    with av.open(str(bunny)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == 8:
                break
            frame.pts = i
            packets += [bytes(p) for p in enc.encode(frame)]
    packets += [bytes(p) for p in enc.encode(None)]
    first = h264.split_annexb(packets[0])
    assert [nal[0] & 0x1F for nal in first][:2] == [h264.NAL_SPS, h264.NAL_PPS]
    assert h264.NAL_IDR in [nal[0] & 0x1F for nal in first]
    for data in packets:
        nals = h264.split_annexb(data)
        # every NAL unit, and nothing but them: the start codes removed
        joined = b"".join(b"\x00\x00\x01" + nal for nal in nals)
        assert joined == data.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01")
        framed = h264.annexb_to_length(data, 4)
        assert len(h264.nal_types(framed, 4)) == len(nals)
    assert h264.split_annexb(b"\x00\x00\x00\x01\x67\xaa\x00\x00\x01\x68\xbb") == [
        b"\x67\xaa", b"\x68\xbb"]
    assert h264.split_annexb(b"no start code") == []
