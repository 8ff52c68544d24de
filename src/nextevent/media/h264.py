"""The few H.264 bitstream facts a smart cut needs (ITU-T H.264, ISO/IEC 14496-15).

* An MP4/MOV/MKV H.264 track stores NAL units length-prefixed; its decoder configuration
  (``avcC``, 14496-15 Sec. 5.3.3.1) lists the sequence and picture parameter sets (SPS,
  PPS) and may hold several, told apart by their ids.
* A smart cut splices libx264 output into such a track. The spliced pictures need their
  own SPS/PPS; written with ids the source does not use (x264's ``sps-id``) and added to
  the track's ``avcC``, both sets live side by side and every slice picks its own through
  its PPS id. The new set is activated only at IDR pictures (H.264 Sec. 7.4.1.2.1): each
  spliced run starts at an x264 IDR and each copied run at a source IDR.
* libx264 writes Annex B (start codes); `annexb_to_length` re-frames its packets.
"""

from __future__ import annotations

from dataclasses import dataclass

NAL_SLICE = 1
NAL_IDR = 5
SLICE_TYPES = frozenset({NAL_SLICE, NAL_IDR})
"""Coded slices of a picture (non-IDR, IDR); data partitions (2-4) are not counted."""
NAL_SPS = 7
NAL_PPS = 8
PARAMETER_SETS = frozenset({NAL_SPS, NAL_PPS})
HIGH_PROFILES = frozenset({100, 110, 122, 144})
"""Profiles whose ``avcC`` carries the chroma/bit-depth extension (14496-15 5.3.3.1.2)."""


class BitstreamError(ValueError):
    """An ``avcC`` or NAL unit that cannot be parsed."""


@dataclass(frozen=True)
class AvcConfig:
    """A parsed ``avcC`` record.

    Attributes:
        profile, compatibility, level: ``AVCProfileIndication``,
            ``profile_compatibility``, ``AVCLevelIndication``.
        length_size: bytes of each NAL length prefix (1, 2 or 4).
        sps, pps: the parameter-set NAL units (header byte included, no prefix).
        tail: bytes after the PPS list (High-profile extension), kept verbatim.
    """

    profile: int
    compatibility: int
    level: int
    length_size: int
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]
    tail: bytes = b""

    def used_ids(self) -> set[int]:
        """SPS and PPS ids present (one id space is enough: x264 gives both the same)."""
        ids = {_ue_fields(nal, 3, 1)[0] for nal in self.sps}
        ids |= {_ue_fields(nal, 0, 1)[0] for nal in self.pps}
        return ids

    def to_bytes(self) -> bytes:
        out = bytearray([1, self.profile, self.compatibility, self.level,
                         0xFC | (self.length_size - 1), 0xE0 | len(self.sps)])
        for nal in self.sps:
            out += len(nal).to_bytes(2, "big") + nal
        out.append(len(self.pps))
        for nal in self.pps:
            out += len(nal).to_bytes(2, "big") + nal
        return bytes(out + self.tail)


def parse_avcc(data: bytes | None) -> AvcConfig:
    """Parse an ``avcC`` record (14496-15 Sec. 5.3.3.1).

    Raises:
        BitstreamError: when ``data`` is empty, Annex B, or cut short.
    """
    if not data or data[0] != 1 or len(data) < 7:
        raise BitstreamError("the track has no avcC record (Annex B or raw H.264)")
    try:
        pos = 6
        sps, pos = _nal_list(data, pos, data[5] & 0x1F)
        pps, pos = _nal_list(data, pos + 1, data[pos])
    except IndexError as err:
        raise BitstreamError("avcC record cut short") from err
    if not sps or not pps:
        raise BitstreamError("avcC record without SPS or PPS")
    return AvcConfig(data[1], data[2], data[3], (data[4] & 3) + 1, tuple(sps), tuple(pps),
                     bytes(data[pos:]))


def merge_avcc(source: AvcConfig, sps: list[bytes], pps: list[bytes]) -> AvcConfig:
    """``source`` with extra parameter sets appended.

    The profile fields stay the source's (the caller encodes at the source profile); the
    level becomes the higher of the two, so a decoder reserves enough for both.
    """
    level = max([source.level] + [nal[3] for nal in sps])
    tail = source.tail
    if source.profile in HIGH_PROFILES and not tail:
        tail = bytes([0xFD, 0xF8, 0xF8, 0])  # 4:2:0, 8 bit, no SPS extensions
    return AvcConfig(source.profile, source.compatibility, level, source.length_size,
                     source.sps + tuple(sps), source.pps + tuple(pps), tail)


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte string (start codes ``00 00 01`` / ``00 00 00 01``).

    A start code cannot occur inside a NAL unit (emulation prevention, H.264 Sec. 7.4.1),
    so `bytes.find` locates every boundary; the zero bytes before a start code (the
    4-byte form, trailing_zero_8bits) are not part of the NAL unit before it.
    """
    nals: list[bytes] = []
    start = data.find(b"\x00\x00\x01")
    while start >= 0:
        start += 3
        end = data.find(b"\x00\x00\x01", start)
        nal = data[start:] if end < 0 else data[start:end].rstrip(b"\x00")
        if nal:
            nals.append(nal)
        start = end
    return nals


def annexb_to_length(data: bytes, length_size: int, drop: frozenset[int] = frozenset()
                     ) -> bytes:
    """Re-frame an Annex B access unit with ``length_size``-byte length prefixes, leaving
    out the NAL units whose ``nal_unit_type`` is in ``drop``."""
    return b"".join(len(nal).to_bytes(length_size, "big") + nal for nal in split_annexb(data)
                    if nal[0] & 0x1F not in drop)


def nal_types(data: bytes, length_size: int) -> list[int]:
    """``nal_unit_type`` of each NAL unit of a length-prefixed access unit.

    Raises:
        BitstreamError: when a length runs past the end of the packet.
    """
    types: list[int] = []
    pos = 0
    while pos + length_size <= len(data):
        size = int.from_bytes(data[pos:pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > len(data):
            raise BitstreamError("NAL length runs past the end of the packet")
        types.append(data[pos] & 0x1F)
        pos += size
    return types


def slice_count(data: bytes, length_size: int | None) -> int:
    """Coded slices (NAL units of types 1 and 5) in one access unit, length-prefixed with
    ``length_size``-byte lengths (an ``avcC`` track) or Annex B when ``length_size`` is
    None; 0 when the packet does not parse (H.264 Sec. 7.4.1.2)."""
    if length_size is None:
        types = [nal[0] & 0x1F for nal in split_annexb(data)]
    else:
        try:
            types = nal_types(data, length_size)
        except BitstreamError:
            return 0
    return sum(t in SLICE_TYPES for t in types)


def _nal_list(data: bytes, pos: int, count: int) -> tuple[list[bytes], int]:
    nals = []
    for _ in range(count):
        size = int.from_bytes(data[pos:pos + 2], "big")
        nal = bytes(data[pos + 2:pos + 2 + size])
        if len(nal) != size:
            raise IndexError
        nals.append(nal)
        pos += 2 + size
    return nals, pos


def _ue_fields(nal: bytes, skip_bytes: int, count: int) -> list[int]:
    """The first ``count`` Exp-Golomb ``ue(v)`` values after the header and ``skip_bytes``."""
    rbsp = nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")  # emulation prevention
    bits = "".join(f"{b:08b}" for b in rbsp[skip_bytes:skip_bytes + 8])
    values, pos = [], 0
    for _ in range(count):
        zeros = bits.find("1", pos) - pos
        if zeros < 0:
            raise BitstreamError("parameter set id does not parse")
        pos += zeros
        values.append(int(bits[pos:pos + zeros + 1], 2) - 1)
        pos += zeros + 1
    return values
