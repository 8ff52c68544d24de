"""nextevent.media on the real sample videos and on generated bad inputs (tests/badvideos.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from badvideos import (
    VFR_DURATIONS_MS,
    audio_only_mp4,
    corrupt_mp4,
    empty_mp4,
    gop_mp4,
    mpegts_copy,
    non_ascii_copy,
    odd_size_mp4,
    reencoded_mp4,
    rotated_mp4,
    synthetic_shots_mp4,
    truncated_faststart_mp4,
    truncated_mp4,
    vfr_mp4,
)

from nextevent.media import cut, detect_shots, frame_times, probe, sample_frames
from nextevent.records import NextEventError, Segment, Video

# Shot boundaries of bikes.mp4, established by looking at the frames on both sides of each
# candidate (contact sheets of 1.16/1.20, 3.00/3.04, 5.44/5.48, 7.44/7.48, 9.64/9.68 s):
# road marking -> man in a suit; taxi roof -> taxi rear with a cyclist; cyclist -> street
# behind a railing; railing -> pedestrian and parked bike; parked bike -> close-up of bike
# wheels. The fast car passing the taxi near 4.0 s is motion inside one shot.
BIKES_SHOTS_S = [1.20, 3.04, 5.48, 7.48, 9.68]


# ----------------------------------------------------------------------------- helpers


def decoded(path: Path, rgb: set[int] | None = None) -> list[tuple[float, np.ndarray | None, bool]]:
    """Every frame of ``path`` as (time s, RGB array, key frame), decoded with plain PyAV.

    Only frames whose index is in ``rgb`` (negative indexes count from the end) get their
    pixels; the others carry None.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        frames = list(container.decode(stream))
        want = {i % len(frames) for i in (rgb or ())}
        return [(float((f.pts - start) * stream.time_base),
                 f.to_ndarray(format="rgb24") if i in want else None, bool(f.key_frame))
                for i, f in enumerate(frames)]


def pixels(path: Path, index: int) -> np.ndarray:
    """RGB pixels of frame ``index`` of ``path`` (negative counts from the end)."""
    array = decoded(path, {index})[index][1]
    assert array is not None
    return array


def mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute pixel difference of two RGB frames, cropped to the common size."""
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    return float(np.abs(a[:h, :w].astype(np.int16) - b[:h, :w].astype(np.int16)).mean())


def assert_no_leak(source: Path, split_s: float, past: Segment, future: Segment) -> None:
    """The past holds exactly the source frames before ``split_s``, the future the rest."""
    src = frame_times(source)
    n_past = sum(t < split_s for t in src)
    past_t, future_t = frame_times(Path(past.path)), frame_times(Path(future.path))
    assert len(past_t) == n_past == past.frame_count
    assert len(future_t) == len(src) - n_past == future.frame_count
    assert past_t == pytest.approx(src[:n_past], abs=1e-6)
    assert future_t[0] == pytest.approx(0.0, abs=1e-9)
    assert future_t == pytest.approx([t - src[n_past] for t in src[n_past:]], abs=1e-6)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, bikes: Path) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("badvideos")
    return {
        "truncated": truncated_mp4(bikes, out),
        "truncated_faststart": truncated_faststart_mp4(bikes, out),
        "corrupt": corrupt_mp4(out),
        "empty": empty_mp4(out),
        "audio_only": audio_only_mp4(out),
        "rotated_90": rotated_mp4(out, 90),
        "rotated_270": rotated_mp4(out, 270),
        "vfr": vfr_mp4(out),
        "odd": odd_size_mp4(out),
        "non_ascii": non_ascii_copy(bikes, out),
        "gop25": gop_mp4(bikes, out, gop=25),
        "synthetic": synthetic_shots_mp4(out, seconds=6.0, shot_s=2.0),
        "mpegts": mpegts_copy(bikes, out),
    }


# ----------------------------------------------------------------------------- probe


def test_probe_bunny(bunny: Path) -> None:
    v = probe(bunny)
    frames = decoded(bunny)
    assert (v.width, v.height, v.codec) == (1280, 720, "h264")
    assert v.fps == pytest.approx(25.0)
    assert v.frame_count == len(frames) == 132
    assert v.duration_s == pytest.approx(len(frames) / 25.0)  # 5.28 s, the README's "5.3"
    assert v.rotation_deg == 0 and not v.variable_frame_rate
    assert v.keyframes_s == [t for t, _, key in frames if key] == [0.0]
    assert Path(v.path).is_absolute()


def test_probe_bikes(bikes: Path) -> None:
    v = probe(bikes)
    frames = decoded(bikes)
    assert (v.width, v.height, v.codec) == (640, 272, "h264")
    assert v.fps == pytest.approx(25.0)
    assert v.frame_count == len(frames) == 250
    assert v.duration_s == pytest.approx(10.0)
    assert v.keyframes_s == pytest.approx([t for t, _, key in frames if key])
    assert len(v.keyframes_s) > 1 and not v.variable_frame_rate


def test_probe_variable_frame_rate(generated: dict[str, Path]) -> None:
    v = probe(generated["vfr"])
    assert v.variable_frame_rate
    expected = np.cumsum([0, *VFR_DURATIONS_MS[:-1]]) / 1000.0
    assert frame_times(generated["vfr"]) == pytest.approx(list(expected))
    assert v.frame_count == len(VFR_DURATIONS_MS)


@pytest.mark.parametrize("degrees", [90, 270])
def test_probe_reads_display_rotation(generated: dict[str, Path], degrees: int) -> None:
    v = probe(generated[f"rotated_{degrees}"])
    assert v.rotation_deg == degrees
    assert (v.width, v.height) == (64, 48)  # coded size, before rotation


def test_probe_non_ascii_name(generated: dict[str, Path], bikes: Path) -> None:
    v = probe(generated["non_ascii"])
    assert Path(v.path).name == "видео_ß.mp4"
    assert v.model_dump(exclude={"path"}) == probe(bikes).model_dump(exclude={"path"})


def test_times_count_from_the_first_frame(generated: dict[str, Path], bikes: Path,
                                          tmp_path: Path) -> None:
    ts = generated["mpegts"]
    with av.open(str(ts)) as container:
        assert container.streams.video[0].start_time > 0  # the case being tested
    v, mp4 = probe(ts), probe(bikes)
    assert v.duration_s == pytest.approx(mp4.duration_s)
    assert v.keyframes_s == pytest.approx(mp4.keyframes_s)
    assert frame_times(ts) == pytest.approx(frame_times(bikes))
    assert detect_shots(ts) == pytest.approx(detect_shots(bikes))
    past, future, *_ = cut(v, 5.3, tmp_path / "ts", "accurate")
    assert_no_leak(ts, 5.3, past, future)


BAD_INPUTS = {
    "truncated": "not a readable media file",
    "truncated_faststart": "truncated",
    "corrupt": "not a readable media file",
    "empty": "empty",
    "audio_only": "no video stream",
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_probe_rejects_bad_input(generated: dict[str, Path], kind: str) -> None:
    path = generated[kind]
    with pytest.raises(NextEventError) as info:
        probe(path)
    assert info.value.stage == "probe"
    assert str(path) in str(info.value) and BAD_INPUTS[kind] in str(info.value)
    assert info.value.hint


def test_probe_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NextEventError) as info:
        probe(tmp_path / "nope.mp4")
    assert info.value.stage == "probe" and "nope.mp4" in str(info.value)


@pytest.mark.parametrize("stage,fn", [
    ("shots", detect_shots),
    ("frames", frame_times),
])
@pytest.mark.parametrize("kind", ["truncated", "corrupt", "empty", "audio_only"])
def test_other_stages_reject_bad_input(generated: dict[str, Path], kind: str, stage: str,
                                       fn: Callable[[Path], object]) -> None:
    with pytest.raises(NextEventError) as info:
        fn(generated[kind])
    assert info.value.stage == stage and str(generated[kind]) in str(info.value)


# ----------------------------------------------------------------------------- shots


def test_shots_bikes_match_the_boundaries_seen(bikes: Path) -> None:
    found = detect_shots(bikes)
    assert len(found) == len(BIKES_SHOTS_S)
    for got, truth in zip(found, BIKES_SHOTS_S, strict=True):
        assert abs(got - truth) <= 1 / 25 + 1e-6


def test_shots_bunny_is_one_shot(bunny: Path) -> None:
    assert detect_shots(bunny) == []


def test_shots_synthetic_cuts(generated: dict[str, Path]) -> None:
    # the generator cuts every 2.0 s (50 frames at 25 fps) of a 6 s video
    assert detect_shots(generated["synthetic"]) == pytest.approx([2.0, 4.0])


@pytest.mark.parametrize("min_shot_s", [0.3, 1.9, 2.3])  # none, some, most merged
def test_shot_merging_is_pyscenedetects_flash_filter(bikes: Path, min_shot_s: float) -> None:
    """Cuts closer than the minimum shot length merge exactly as ContentDetector merges
    them (its FlashFilter, fed only the frames that can change its state)."""
    assert detect_shots(bikes, min_shot_s=min_shot_s) == _pyscenedetect_reference(
        bikes, min_shot_s)[1]


def test_shots_min_shot_length_merges(bikes: Path) -> None:
    # shots of bikes last 1.2-2.44 s; asking for 2.3 s shots must drop some boundaries
    assert len(detect_shots(bikes, min_shot_s=2.3)) < len(BIKES_SHOTS_S)


def _pyscenedetect_reference(path: Path, min_shot_s: float = 0.6
                              ) -> tuple[list[float], list[float]]:
    """(frame scores, shot starts in s) from PySceneDetect's own ContentDetector, fed the
    same thumbnails and frame times as `detect_shots` (every frame, full decode)."""
    from fractions import Fraction

    from scenedetect.common import FrameTimecode, Timecode
    from scenedetect.detectors import ContentDetector

    from nextevent.media.shots import thumbnail, thumbnail_size

    detector = ContentDetector(threshold=27.0, min_scene_len=min_shot_s)
    scores, cuts = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        tb = Fraction(stream.time_base.numerator, stream.time_base.denominator)
        rate = Fraction(stream.average_rate.numerator, stream.average_rate.denominator)
        origin = stream.start_time or 0
        for frame in container.decode(stream):
            img = thumbnail(frame, thumbnail_size(frame.width, frame.height, 256))
            tc = FrameTimecode(Timecode(pts=frame.pts - origin, time_base=tb), fps=rate)
            cuts += detector.process_frame(tc, img)
            scores.append(detector._frame_score)
    return scores, sorted({float(c.seconds) for c in cuts if c.seconds > 0})


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuvj420p", "yuv444p"])
def test_shots_equal_pyscenedetect_content_detector(tmp_path: Path, bikes: Path,
                                                    pix_fmt: str) -> None:
    """The fast score is ContentDetector's content_val to the last bit, and the cuts are
    the ones ContentDetector itself finds on the same frames; full-range and 4:4:4 video
    take the swscale thumbnail path."""
    from nextevent.media.shots import ContentScore, thumbnail, thumbnail_size

    video = bikes if pix_fmt == "yuv420p" else reencoded_mp4(
        bikes, tmp_path, f"{pix_fmt}.mp4", options={"crf": "18"}, pix_fmt=pix_fmt)
    ref_scores, ref_cuts = _pyscenedetect_reference(video)
    score = ContentScore()
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        ours = [score(thumbnail(f, thumbnail_size(f.width, f.height, 256)))
                for f in container.decode(stream)]
    assert ours == ref_scores
    assert max(ours) > 27.0  # the comparison covered the cuts, not only quiet frames
    assert detect_shots(video) == ref_cuts
    assert len(ref_cuts) == len(BIKES_SHOTS_S)


@pytest.mark.parametrize("sample", ["bikes", "bunny"])
def test_shot_thumbnail_is_pyscenedetects_linear_downscale(
        request: pytest.FixtureRequest, sample: str) -> None:
    """The plane-by-plane thumbnail is within a few levels of PySceneDetect's own input
    (the full BGR frame shrunk by cv2 linear interpolation): only chroma is filtered
    at half resolution."""
    import cv2

    from nextevent.media.shots import thumbnail, thumbnail_size

    with av.open(str(request.getfixturevalue(sample))) as container:
        for i, frame in enumerate(container.decode(video=0)):
            size = thumbnail_size(frame.width, frame.height, 256)
            ours = thumbnail(frame, size).astype(int)
            ref = cv2.resize(frame.to_ndarray(format="bgr24"), size,
                             interpolation=cv2.INTER_LINEAR).astype(int)
            assert ours.shape == (size[1], size[0], 3) and size[0] == 256
            assert np.abs(ours - ref).mean() < 3.0, i


@pytest.mark.parametrize("downscale_width", [256, 1280, 426])  # factors 5, 1, ~3.004
def test_shot_thumbnail_strided_path_is_cv2_linear_to_the_byte(bunny: Path,
                                                              downscale_width: int) -> None:
    """An odd whole factor takes every 5th (or every) pixel by slicing; that is exactly
    what cv2's linear resize gives there, and a non-whole factor uses cv2.resize."""
    import cv2

    from nextevent.media.shots import thumbnail, thumbnail_size

    with av.open(str(bunny)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == 12:
                break
            w, h = thumbnail_size(frame.width, frame.height, downscale_width)
            ref = np.empty((h * 3 // 2, w), np.uint8)
            chroma = ref[h:].reshape(2, h // 2, w // 2)
            for plane, rows, cols, dst in (
                    (frame.planes[0], frame.height, frame.width, ref[:h]),
                    (frame.planes[1], frame.height // 2, frame.width // 2, chroma[0]),
                    (frame.planes[2], frame.height // 2, frame.width // 2, chroma[1])):
                src = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
                cv2.resize(src[:rows, :cols], (dst.shape[1], dst.shape[0]), dst=dst,
                           interpolation=cv2.INTER_LINEAR)
            expected = cv2.cvtColor(ref, cv2.COLOR_YUV2BGR_I420)
            assert np.array_equal(thumbnail(frame, (w, h)), expected), i


# ----------------------------------------------------------------------------- decoder threads


@pytest.fixture(scope="module")
def sliced(tmp_path_factory: pytest.TempPathFactory, bikes: Path) -> dict[int, Path]:
    """bikes.mp4 re-encoded with exactly 1 and 4 slices per picture (x264 on one thread,
    so the slice count does not follow the machine's cores)."""
    out = tmp_path_factory.mktemp("sliced")
    return {n: reencoded_mp4(bikes, out, f"slices{n}.mp4", options={
        "x264-params": f"threads=1:sliced-threads=0:slices={n}"}) for n in (1, 4)}


def test_slice_count_reads_the_slices_of_every_picture(sliced: dict[int, Path]) -> None:
    from nextevent.media import h264

    for n, path in sliced.items():
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            length_size = h264.parse_avcc(stream.codec_context.extradata).length_size
            packets = [bytes(p) for p in container.demux(stream) if p.size]
        assert {h264.slice_count(p, length_size) for p in packets} == {n}
        # the same access unit in Annex B (start codes), as an MPEG-TS track carries it
        annexb = b"".join(b"\x00\x00\x00\x01" + packets[0][i + length_size:i + length_size + size]
                          for i, size in _nal_spans(packets[0], length_size))
        assert h264.slice_count(annexb, None) == n
    assert h264.slice_count(b"\x00\x00\x00\x09garbage", 4) == 0  # a length past the end


def _nal_spans(data: bytes, length_size: int) -> list[tuple[int, int]]:
    spans, pos = [], 0
    while pos < len(data):
        size = int.from_bytes(data[pos:pos + length_size], "big")
        spans.append((pos, size))
        pos += length_size + size
    return spans


@pytest.mark.parametrize("slices,threads,expected", [
    (4, 2, "SLICE"), (4, 4, "SLICE"),  # a slice for every thread: slice threads
    (4, 8, "AUTO"),                    # fewer slices than threads: frame threads
    (1, 2, "AUTO"), (1, 1, "AUTO"),    # single-slice pictures: frame threads only
])
def test_decoder_threads_follow_the_slices_and_decode_the_same_frames(
        sliced: dict[int, Path], monkeypatch: pytest.MonkeyPatch, slices: int, threads: int,
        expected: str) -> None:
    """Slice threads when every picture has a slice for each of the worker's threads, else
    frame threads; either way `decode` gives every frame, identical to a plain decode."""
    from nextevent.media._io import DECODE_THREADS_ENV, decode, open_video

    monkeypatch.setenv(DECODE_THREADS_ENV, str(threads))
    container, stream = open_video(sliced[slices], "test")
    with container:
        ours = [(f.pts, f.to_ndarray(format="yuv420p")) for f in decode(container, stream)]
        assert stream.thread_type.name == expected
        assert stream.codec_context.thread_count == threads
    with av.open(str(sliced[slices])) as container:
        plain = [(f.pts, f.to_ndarray(format="yuv420p")) for f in container.decode(video=0)]
    assert [p for p, _ in ours] == [p for p, _ in plain] and len(plain) == 250
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(ours, plain, strict=True))


def test_other_codecs_keep_frame_threads(tmp_path: Path, bikes: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from nextevent.media._io import DECODE_THREADS_ENV, decode, open_video

    monkeypatch.setenv(DECODE_THREADS_ENV, "2")
    mpeg4 = reencoded_mp4(bikes, tmp_path, "mpeg4.mp4", codec="mpeg4")
    container, stream = open_video(mpeg4, "test")
    with container:
        assert sum(1 for _ in decode(container, stream)) == 250
        assert stream.thread_type.name == "AUTO"


# ----------------------------------------------------------------------------- accurate cut


@pytest.mark.parametrize("sample,split_s", [
    ("bikes", 3.04),   # exactly on a shot boundary frame: that frame belongs to the future
    ("bikes", 6.5),    # between two frames, inside a shot
    ("bunny", 2.5),    # between two frames of one continuous shot
])
def test_accurate_cut_is_frame_exact(request: pytest.FixtureRequest, tmp_path: Path,
                                     sample: str, split_s: float) -> None:
    source: Path = request.getfixturevalue(sample)
    video = probe(source)
    past, future, *_ = cut(video, split_s, tmp_path / "clip", "accurate")
    assert sorted(p.name for p in (tmp_path / "clip").iterdir()) == ["future.mp4", "past.mp4"]
    assert (past.start_s, past.end_s, future.start_s, future.end_s) == (
        0.0, split_s, split_s, video.duration_s)
    assert_no_leak(source, split_s, past, future)
    assert past.duration_s == pytest.approx(past.frame_count / video.fps, abs=1e-3)
    assert future.duration_s == pytest.approx(future.frame_count / video.fps, abs=1e-3)

    n = past.frame_count
    src = decoded(source, {n - 1, n})
    before, after = src[n - 1][1], src[n][1]
    assert before is not None and after is not None
    last_past = pixels(Path(past.path), -1)
    first_future = pixels(Path(future.path), 0)
    # pixels: each side of the cut matches its own source frame, not the other side's
    # (mean abs differences measured: 1.1-2.0 to the right frame after x264 at crf 20,
    # 3.8-5.4 to the neighbour inside a shot, 53 across the bikes shot boundary)
    assert mad(last_past, before) < 0.6 * mad(last_past, after)
    assert mad(first_future, after) < 0.6 * mad(first_future, before)
    assert max(mad(last_past, before), mad(first_future, after)) < 3.0
    assert (probe(Path(past.path)).width, probe(Path(past.path)).height) == (
        video.width, video.height)


def test_accurate_cut_odd_size_vfr_rotation(generated: dict[str, Path], tmp_path: Path) -> None:
    odd = probe(generated["odd"])
    past, future, *_ = cut(odd, 0.3, tmp_path / "odd", "accurate")
    assert_no_leak(generated["odd"], 0.3, past, future)
    out = probe(Path(past.path))
    assert (out.width, out.height) == (odd.width - 1, odd.height - 1)  # 65x49 -> 64x48

    vfr = probe(generated["vfr"])
    past, future, *_ = cut(vfr, 0.25, tmp_path / "vfr", "accurate")
    assert_no_leak(generated["vfr"], 0.25, past, future)  # irregular times kept exactly

    rot = probe(generated["rotated_90"])
    past, future, *_ = cut(rot, 0.5, tmp_path / "rot", "accurate")
    assert probe(Path(past.path)).rotation_deg == probe(Path(future.path)).rotation_deg == 90


def test_cut_rejects_split_outside_and_leaves_nothing(bikes: Path, tmp_path: Path) -> None:
    video = probe(bikes)
    for split_s in (0.0, -1.0, video.duration_s, video.duration_s + 1):
        with pytest.raises(NextEventError) as info:
            cut(video, split_s, tmp_path / "x", "accurate")
        assert info.value.stage == "cut" and str(bikes) in str(info.value)
    # inside the duration but after the last frame (9.96 s): the future would be empty
    out = tmp_path / "late"
    with pytest.raises(NextEventError) as info:
        cut(video, 9.98, out, "accurate")
    assert info.value.stage == "cut" and "future" in str(info.value)
    assert list(out.iterdir()) == []  # no clip, no temporary file left behind


def test_cut_names_the_file_when_the_source_went_bad(bikes: Path, tmp_path: Path) -> None:
    copy = non_ascii_copy(bikes, tmp_path)
    video = probe(copy)
    copy.write_bytes(b"\x00" * 1000)
    for mode in ("accurate", "fast"):
        with pytest.raises(NextEventError) as info:
            cut(video, 3.04, tmp_path / mode, mode)
        assert info.value.stage == "cut" and str(copy) in str(info.value)


def test_cut_non_ascii_paths(generated: dict[str, Path], tmp_path: Path) -> None:
    video = probe(generated["non_ascii"])
    past, future, *_ = cut(video, 5.0, tmp_path / "клип", "accurate")
    assert_no_leak(generated["non_ascii"], 5.0, past, future)


# ----------------------------------------------------------------------------- fast cut


def test_fast_cut_at_mid_keyframe(generated: dict[str, Path], tmp_path: Path) -> None:
    source = generated["gop25"]
    video = probe(source)
    src = decoded(source)
    keys = [t for t, _, key in src if key]
    inside = [k for k in keys if 0 < k < video.duration_s]
    assert inside, "the generated video must have keyframes inside"
    split_s = 4.3
    nearest = min(inside, key=lambda k: abs(k - split_s))
    past, future, *_ = cut(video, split_s, tmp_path / "fast", "fast")
    assert past.end_s == future.start_s == pytest.approx(nearest)
    assert_no_leak(source, past.end_s, past, future)
    n = past.frame_count
    # stream copy: decoded pixels are bit-identical to the source on both sides of the cut
    assert np.array_equal(pixels(Path(past.path), -1), pixels(source, n - 1))
    assert np.array_equal(pixels(Path(future.path), 0), pixels(source, n))
    assert future.duration_s == pytest.approx(video.duration_s - past.end_s, abs=1e-3)


def test_fast_cut_on_source_keyframes(bikes: Path, tmp_path: Path) -> None:
    video = probe(bikes)
    past, future, *_ = cut(video, 5.3, tmp_path / "fast", "fast")
    assert past.end_s in video.keyframes_s
    assert past.end_s == min(video.keyframes_s[1:], key=lambda k: abs(k - 5.3))
    assert_no_leak(bikes, past.end_s, past, future)


def test_fast_cut_without_inner_keyframe_says_use_accurate(bunny: Path, tmp_path: Path) -> None:
    video = probe(bunny)
    assert video.keyframes_s == [0.0]
    with pytest.raises(NextEventError) as info:
        cut(video, 2.0, tmp_path / "fast", "fast")
    assert info.value.stage == "cut" and "--cut accurate" in info.value.hint
    assert str(bunny) in str(info.value)
    assert not (tmp_path / "fast").exists()


# ----------------------------------------------------------------------------- frames


def test_frame_times_match_probe(bikes: Path) -> None:
    times = frame_times(bikes)
    assert len(times) == probe(bikes).frame_count
    assert times == sorted(times) and times[0] == 0.0
    assert np.diff(times) == pytest.approx(0.04)


def test_sample_frames_limits(bunny: Path) -> None:
    samples = sample_frames(bunny, fps=2.0, max_frames=6, max_pixels=320 * 180)
    times = [t for t, _ in samples]
    assert len(samples) == 6  # 5.28 s at 2 fps is 11 targets; spread to 6 over the video
    assert times == sorted(times) and times[-1] > 4.0
    all_times = frame_times(bunny)
    assert all(min(abs(t - a) for a in all_times) < 1e-6 for t in times)
    for _, rgb in samples:
        assert rgb.dtype == np.uint8 and rgb.shape[2] == 3
        assert rgb.shape[0] * rgb.shape[1] <= 320 * 180
        assert rgb.shape[1] / rgb.shape[0] == pytest.approx(16 / 9, rel=0.02)
    few = sample_frames(bunny, fps=1.0, max_frames=100, max_pixels=10**7)
    assert [t for t, _ in few] == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    assert few[0][1].shape == (720, 1280, 3)  # never upscaled
    # the sampled pixels are the decoded frame's pixels
    assert mad(few[2][1], pixels(bunny, 50)) < 1.0


def test_sample_frames_turns_rotated_video_upright(generated: dict[str, Path]) -> None:
    # coded frames are 64x48 with a red top-left quarter; the display matrix says rotate
    # 90 degrees counter-clockwise, which moves the top-left corner to the bottom-left
    (_, rgb), = sample_frames(generated["rotated_90"], fps=1, max_frames=1, max_pixels=10**6)
    assert rgb.shape == (64, 48, 3)
    red = (rgb[..., 0] > 200) & (rgb[..., 1] < 60)
    assert red[-8:, :8].all() and not red[:8, :8].any()


def test_sample_frames_seeks_sparse_samples(bikes: Path) -> None:
    # 0.2 fps over 10 s: samples 5 s apart, reached by seeking (bikes has keyframes between)
    samples = sample_frames(bikes, fps=0.2, max_frames=10, max_pixels=64 * 64)
    assert [t for t, _ in samples] == pytest.approx([0.0, 5.0])
    small = sample_frames(bikes, fps=25, max_frames=250, max_pixels=64 * 64)
    assert np.array_equal(samples[1][1], small[125][1])  # same frame, seeked or not
    assert len(small) == len(frame_times(bikes))


def test_video_record_is_the_contract(bikes: Path) -> None:
    v = probe(bikes)
    assert Video.model_validate(v.model_dump()) == v
