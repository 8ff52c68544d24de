"""Smart cut: frame-exact clips that re-encode only the pictures next to the split.

The past clip is the source's packets up to the end ``K0`` of the longest decode-order
prefix that is shown entirely before the split and before every later packet (stream
copy: it needs nothing after it), then libx264 pictures for the few frames shown between
that prefix and the split (none without B-frames, at most the reorder depth with them).
The future clip is libx264 pictures for the frames in ``[split, K1)``, then the source's
packets from the first clean keyframe ``K1 >= split`` on (stream copy). One decode from
``K0``'s GOP to ``K1`` (at most about one GOP) feeds both encoders. A split that falls on
a clean keyframe re-encodes nothing.

A keyframe is *clean* when it is an IDR picture, no earlier packet in decode order is
shown after it and no later packet is shown before it (no open-GOP leading pictures):
copying from it needs nothing before it. Open GOPs (non-IDR I pictures): the past's
re-encoded pictures are then decoded from the GOP before, and the future starts copying
only at an IDR picture, since switching from the spliced parameter sets back to the
source's is allowed only there; so an open-GOP file re-encodes the future up to its next
IDR (often its end): exact, but slower.

The spliced pictures carry their own SPS/PPS under ids the source does not use, added to
the track's ``avcC`` (`nextevent.media.h264`); they are encoded without B-frames at the
source profile, and their decode times are set ``pts - D``, ``D`` chosen so that decode
times keep increasing across the seam (the past's first spliced picture takes the decode
time of ``K0``, the future's last stays below ``K1``'s). Frame times are the source's (VFR
stays VFR); the rotation and sample aspect ratio come with the copied stream parameters.

What cannot be smart-cut raises `SmartCutUnsupported` (the caller falls back to the
accurate cut and records why): any codec but H.264 (HEVC included: libx265 cannot choose
its parameter-set ids), a track without ``avcC`` (Annex B, e.g. MPEG-TS), pixel formats
other than 8-bit 4:2:0, odd frame sizes, packets without timestamps or shown before the
stream's start (edit-list pre-roll).

Source: the smart-cut technique of avcut / LosslessCut / smartcut (re-encode only the
GOPs at the cut); H.264 parameter-set rules from ITU-T H.264 Sec. 7.4.1.2.1.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.codec.context import CodecContext
from av.container import OutputContainer
from av.packet import Packet
from av.video.frame import PictureType, VideoFrame
from av.video.stream import VideoStream

from nextevent.media import h264
from nextevent.media._io import (
    HINT_REENCODE,
    decode_threads,
    open_video,
    origin_pts,
    threaded,
    time_base,
)
from nextevent.records import NextEventError, Video

STAGE = "cut"
SMART_X264_OPTIONS = {"preset": "ultrafast", "crf": "16"}
"""libx264 settings of the spliced pictures: up to one GOP per cut (half on average) is
re-encoded, so it pays to stay close to the source. Measured on 227 frames of the 720p
``natural`` benchmark video (grain, camera motion), 2 shared cores: ``ultrafast`` crf 16 encodes at
61-82 fps against ``superfast``'s 42-51 at about the same size (34 KiB a frame), min PSNR
44.1 vs 46.8 dB; crf 20 halves the size but ``ultrafast`` falls to 41 dB. Tests check
>= 40 dB on every re-encoded frame; `benchmarks/bench_cut.py` reports it."""
PROFILES = {66: "baseline", 77: "main", 100: "high"}
"""Source profile_idc -> the libx264 profile that encodes the spliced pictures."""
PIX_FMTS = frozenset({"yuv420p", "yuvj420p"})


class SmartCutUnsupported(Exception):
    """The file cannot be smart-cut; the message says why (for the record's note)."""


@dataclass
class _Packet:
    """What the plan needs of one source packet, in decode order."""

    pts: int
    dts: int
    duration: int
    key: bool
    idr: bool


@dataclass
class SmartCut:
    """Outcome of `smart_cut`.

    Attributes:
        cut_s: the split time in seconds (``split_s``; the cut is frame-exact).
        past_reencoded, future_reencoded: frames of each clip encoded by libx264; every
            other frame is a copied source packet.
    """

    cut_s: float
    past_reencoded: int = 0
    future_reencoded: int = 0


@dataclass
class _Side:
    """One output clip: its container, the source-copy stream and the splice encoder."""

    path: Path
    shift: int
    delay: int
    durations: dict[int, int]
    container: OutputContainer | None = None
    stream: VideoStream | None = None
    encoder: CodecContext | None = None
    reencoded: int = 0

    def open(self, source: VideoStream, extradata: bytes | None) -> None:
        self.container = av.open(str(self.path), "w", format="mp4",
                                 options={"movflags": "+faststart"})
        self.stream = self.container.add_stream_from_template(source)
        self.stream.time_base = source.time_base
        if extradata is not None:
            self.stream.codec_context.extradata = extradata

    def copy(self, packet: Packet) -> None:
        assert self.container is not None and self.stream is not None
        assert packet.pts is not None and packet.dts is not None
        packet.pts -= self.shift
        packet.dts -= self.shift
        packet.stream = self.stream
        self.container.mux(packet)

    def splice(self, packets: list[Packet], length_size: int) -> None:
        assert self.container is not None and self.stream is not None
        for enc_packet in packets:
            assert enc_packet.pts is not None
            # the parameter sets live in avcC, not in the samples
            out = Packet(h264.annexb_to_length(bytes(enc_packet), length_size,
                                               drop=h264.PARAMETER_SETS))
            out.pts = enc_packet.pts - self.shift
            out.dts = enc_packet.pts - self.delay - self.shift
            out.duration = self.durations.get(enc_packet.pts, enc_packet.duration or 0)
            out.is_keyframe = enc_packet.is_keyframe
            out.time_base = self.stream.time_base
            out.stream = self.stream
            self.container.mux(out)

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


def smart_cut(video: Video, split_s: float, tmp_past: Path, tmp_future: Path) -> SmartCut:
    """Write the past and future clips of ``video`` split at ``split_s`` (seconds).

    Every frame of the past clip has source time ``< split_s``, every frame of the future
    clip ``>= split_s``; the future clip's timestamps start at 0.

    Returns:
        `SmartCut` with the frames each clip re-encoded.

    Raises:
        SmartCutUnsupported: the file's codec or layout cannot be smart-cut (see the
            module docstring); nothing useful was written.
        NextEventError: stage ``cut``, naming the file, when one side has no frames or
            the source fails to read.
    """
    container, stream = open_video(Path(video.path), STAGE)
    try:
        config = _check(stream)
        tb = time_base(stream)
        origin = origin_pts(stream)
        packets = _scan(container, stream, origin, config.length_size)
        split_pts = origin + _ceil_ticks(split_s, tb)  # first tick at or after split_s
        past_n = sum(p.pts < split_pts for p in packets)
        for side, n in (("past", past_n), ("future", len(packets) - past_n)):
            if n == 0:
                raise NextEventError(
                    STAGE, f"{video.path}: a split at {split_s:.3f} s leaves the {side} "
                    "segment without frames",
                    "choose a split point between two frames inside the video")
        plan = _copy_points(packets, split_pts)
        sps_id = min(set(range(32)) - config.used_ids())
        extradata = None
        if plan.k1 is None or plan.k1 > plan.k0:  # re-encoding: add x264's parameter sets
            sps, pps = _x264_parameter_sets(stream, config, sps_id)
            extradata = h264.merge_avcc(config, sps, pps).to_bytes()
    finally:
        container.close()
    durations = {p.pts: p.duration for p in packets}
    future_first = min(p.pts for p in packets if p.pts >= split_pts)
    # spliced decode times are pts - delay: the past's first one takes the decode slot of
    # k0 (after every copied packet), the future's last one stays before k1's
    past = _Side(tmp_past, origin, plan.first_pts - packets[plan.k0].dts, durations)
    future = _Side(tmp_future, future_first, _delay(packets, plan.k1), durations)
    container, stream = open_video(Path(video.path), STAGE)
    try:
        past.open(stream, extradata)
        future.open(stream, extradata)
        _run(container, stream, packets, plan, split_pts, past, future, config, sps_id)
    except av.error.FFmpegError as err:  # the accurate cut re-reads and names a bad file
        raise SmartCutUnsupported(f"splicing failed ({err})") from err
    finally:
        past.close()
        future.close()
        container.close()
    return SmartCut(float(split_s), past.reencoded, future.reencoded)


def _check(stream: VideoStream) -> h264.AvcConfig:
    ctx = stream.codec_context
    if ctx.name != "h264":
        raise SmartCutUnsupported(
            f"{ctx.name} video: the smart cut splices H.264 only, and the codec is not "
            "H.264" + (" (libx265 cannot choose its parameter-set ids)"
                       if ctx.name == "hevc" else ""))
    try:
        config = h264.parse_avcc(ctx.extradata)
    except h264.BitstreamError as err:
        raise SmartCutUnsupported(f"H.264 track: {err}") from err
    if config.profile not in PROFILES:
        raise SmartCutUnsupported(f"H.264 profile_idc {config.profile} (only baseline, main "
                                  "and high 8-bit are spliced)")
    pix = ctx.pix_fmt or ""
    if pix not in PIX_FMTS:
        raise SmartCutUnsupported(f"pixel format {pix or 'unknown'} (only 8-bit 4:2:0)")
    if ctx.width % 2 or ctx.height % 2:
        raise SmartCutUnsupported(f"odd frame size {ctx.width}x{ctx.height}")
    try:
        config.used_ids()
    except h264.BitstreamError as err:
        raise SmartCutUnsupported(f"H.264 parameter sets: {err}") from err
    return config


def _scan(container, stream: VideoStream, origin: int, length_size: int) -> list[_Packet]:
    packets: list[_Packet] = []
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packet.pts is None or packet.dts is None:
                raise SmartCutUnsupported("packets without timestamps")
            if packet.pts < origin or packet.is_discard:
                raise SmartCutUnsupported("packets shown before the stream start (pre-roll)")
            try:
                idr = packet.is_keyframe and h264.NAL_IDR in h264.nal_types(bytes(packet),
                                                                            length_size)
            except h264.BitstreamError as err:
                raise SmartCutUnsupported(f"packet at pts {packet.pts}: {err}") from err
            packets.append(_Packet(packet.pts, packet.dts, packet.duration or 0,
                                   packet.is_keyframe, idr))
    except av.error.FFmpegError as err:
        raise NextEventError(STAGE, f"{container.name}: reading packets failed: {err}",
                             HINT_REENCODE) from err
    return packets


@dataclass(frozen=True)
class _Plan:
    """Decode-order indexes of a smart cut.

    ``[0, k0)`` is copied into the past and ``[k1, end)`` into the future (``k1`` None:
    nothing after the split can be copied); the frames shown from ``first_pts`` up to the
    split and from the split up to ``k1`` are re-encoded, decoded from ``start`` (``<=
    k0``: the keyframe of ``k0``'s GOP, or of the GOP before when that one is not a clean
    IDR).
    """

    k0: int
    k1: int | None
    start: int
    first_pts: int


def _copy_points(packets: list[_Packet], split_pts: int) -> _Plan:
    n = len(packets)
    prefix_max = [-(2**62)] * (n + 1)  # largest pts of packets [0, i)
    for i, p in enumerate(packets):
        prefix_max[i + 1] = max(prefix_max[i], p.pts)
    suffix_min = [2**62] * (n + 1)  # smallest pts of packets [i, n)
    for i in range(n - 1, -1, -1):
        suffix_min[i] = min(suffix_min[i + 1], packets[i].pts)
    clean = [p.idr and prefix_max[i] < p.pts < suffix_min[i + 1]
             for i, p in enumerate(packets)]
    # the past copies the longest decode-order prefix shown entirely before the split and
    # before every later packet: it references nothing after it and leaves none of its
    # frames behind, so only the few pictures from its end to the split (at most the
    # B-frame reorder depth) are re-encoded, behind an IDR with the spliced parameter sets
    k0 = max(i for i in range(n) if prefix_max[i] < suffix_min[i] and prefix_max[i] < split_pts)
    # those pictures are decoded from their GOP's keyframe, or from the GOP before when
    # that keyframe is not a clean IDR (open GOP: its leading pictures need it)
    key = max((i for i in range(k0 + 1) if packets[i].key), default=0)
    start = key if clean[key] else max((i for i in range(key) if packets[i].key), default=0)
    # the future may start copying only at a clean keyframe (an IDR picture that needs
    # nothing before it and leaves no leading picture behind)
    k1 = next((i for i in range(k0, n) if clean[i] and packets[i].pts >= split_pts), None)
    return _Plan(k0, k1, start, suffix_min[k0])


def _delay(packets: list[_Packet], index: int | None) -> int:
    """The source's pts - dts (ticks) at the future's first copied keyframe."""
    if index is None or index >= len(packets):
        return 0
    return packets[index].pts - packets[index].dts


def _ceil_ticks(seconds: float, tb: Fraction) -> int:
    """Smallest tick count whose time (``to_seconds``) is ``>= seconds``."""
    ticks = int(Fraction(seconds) / tb)
    while float(ticks * tb) < seconds:
        ticks += 1
    while ticks > 0 and float((ticks - 1) * tb) >= seconds:
        ticks -= 1
    return ticks


def _encoder(stream: VideoStream, config: h264.AvcConfig, sps_id: int) -> CodecContext:
    src = stream.codec_context
    enc = CodecContext.create("libx264", "w")
    enc.width, enc.height = src.width, src.height
    enc.pix_fmt = src.pix_fmt  # yuvj420p stays full range: no range conversion
    enc.time_base = stream.time_base
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    enc.framerate = rate
    if src.sample_aspect_ratio:
        enc.sample_aspect_ratio = src.sample_aspect_ratio
    for attr in ("color_range", "colorspace", "color_primaries", "color_trc"):
        with contextlib.suppress(AttributeError, ValueError, TypeError):
            setattr(enc, attr, getattr(src, attr))  # same VUI colour signalling
    enc.flags |= av.codec.context.Flags.global_header
    # frame threads: x264 encodes in the background while the next source frames decode
    # (a mid-GOP cut of the 720p benchmark video: 0.75 s against 0.86 s with slice threads)
    enc.thread_type = "FRAME"
    enc.thread_count = decode_threads()
    enc.options = dict(SMART_X264_OPTIONS, profile=PROFILES[config.profile],
                       level=f"{config.level / 10:.1f}",
                       **{"x264-params": f"sps-id={sps_id}:bframes=0:repeat-headers=0"})
    enc.open()
    return enc


def _x264_parameter_sets(stream: VideoStream, config: h264.AvcConfig,
                         sps_id: int) -> tuple[list[bytes], list[bytes]]:
    enc = _encoder(stream, config, sps_id)
    nals = h264.split_annexb(bytes(enc.extradata or b""))
    sps = [n for n in nals if n[0] & 0x1F == h264.NAL_SPS]
    pps = [n for n in nals if n[0] & 0x1F == h264.NAL_PPS]
    if not sps or not pps:
        raise SmartCutUnsupported("libx264 wrote no parameter sets")
    return sps, pps


def _run(container, stream: VideoStream, packets: list[_Packet], plan: _Plan,
         split_pts: int, past: _Side, future: _Side, config: h264.AvcConfig,
         sps_id: int) -> None:
    k0, k1 = plan.k0, plan.k1
    decoded = 0
    expected = sum(p.pts >= plan.first_pts for p in packets[k0:k1])

    def feed(frame: VideoFrame) -> None:
        nonlocal decoded
        if frame.pts is None:
            raise SmartCutUnsupported("decoded frames without timestamps")
        if frame.pts < plan.first_pts:
            return  # decoded only as a reference: this frame was copied
        decoded += 1
        side = past if frame.pts < split_pts else future
        if side is future and past.encoder is not None:
            past.splice(list(past.encoder.encode(None)), config.length_size)
            past.encoder = None
        if side.encoder is None:
            side.encoder = _encoder(stream, config, sps_id)
        frame.pict_type = PictureType.NONE
        side.reencoded += 1
        side.splice(list(side.encoder.encode(frame)), config.length_size)

    def finish_decode() -> None:
        for frame in stream.decode(None):
            feed(frame)
        for side in (past, future):
            if side.encoder is not None:
                side.splice(list(side.encoder.encode(None)), config.length_size)
                side.encoder = None
        if decoded != expected:
            raise SmartCutUnsupported(f"the decoder gave {decoded} frames for {expected} "
                                      "packets around the split")

    index = 0
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        if index == 0:
            threaded(stream, packet)
        if index < k0:
            # k0's GOP (or the one before) is decoded too: the re-encoded pictures need it
            if index >= plan.start:
                for frame in stream.decode(packet):
                    feed(frame)
            past.copy(packet)
        elif k1 is None or index < k1:
            for frame in stream.decode(packet):
                feed(frame)
        else:
            if index == k1:
                finish_decode()
            future.copy(packet)
        index += 1
    if k1 is None or k1 >= index:
        finish_decode()
