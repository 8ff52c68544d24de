"""Contact sheets: one PNG strip per record showing the past, the cut and the future.

Layout (pixels)::

    bikes#0 · split at 3.04 s (shot boundary)                 video 10.00 s, 25 fps
    PAST 0.00-3.04 s                   ┃ FUTURE 3.04-10.00 s
    [frame][frame][frame][frame]       ┃ [frame][frame][frame][frame]
     0.00 s 0.99 s 2.01 s 3.00 s       ┃  3.04 s ...
    ==========timeline (events, split point, sampled frames)==========
    caption_part1 (past)               ┃ caption_part2 (future)

Frames come from the cut clips (not the source video), so the sheet shows exactly what
a model is given; times are seconds in the source video (clip time + segment start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from nextevent.media.frames import sample_frames
from nextevent.records import NEPRecord, NextEventError, Segment

STAGE = "report"
PAST_RGB = (52, 101, 164)
FUTURE_RGB = (224, 123, 57)
CUT_RGB = (214, 39, 40)
INK = (33, 37, 41)
MUTED = (108, 117, 125)
MARGIN = 18
TILE_GAP = 6
CUT_GAP = 40
MAX_TILE_WIDTH = 200
"""Widest frame tile in pixels: wide videos get lower tiles, so sheets stay near 1700 px
(shown about 0.7x on the report page; fonts are sized for that)."""
POSTER_WIDTH = 480
"""Width in pixels of the poster JPEGs (first frame of each clip) for the page's players."""


@dataclass
class ContactSheet:
    """A written contact sheet.

    Attributes:
        path: the PNG file.
        width, height: its size in pixels.
        past_times, future_times: source-video times (s) of the frames shown on each side.
        posters: ``{"past": path, "future": path}``: the first frame of each clip as a
            JPEG (``<sheet stem>.past.jpg``, ``.future.jpg``), when asked for.
    """

    path: Path
    width: int
    height: int
    past_times: list[float]
    future_times: list[float]
    posters: dict[str, Path] = field(default_factory=dict)


@cache
def _font(size: int, bold: bool = False):  # -> PIL.ImageFont.FreeTypeFont
    """DejaVu Sans from matplotlib's data folder (always installed beside matplotlib)."""
    from PIL import ImageFont

    try:
        import matplotlib

        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        return ImageFont.truetype(str(Path(matplotlib.get_data_path(), "fonts", "ttf", name)),
                                  size)
    except (ImportError, OSError):
        return ImageFont.load_default(size)


def _wrap(text: str, font, width: int) -> list[str]:
    """Greedy word wrap of ``text`` into lines at most ``width`` pixels wide."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and font.getlength(candidate) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def spread_fps(duration_s: float, frames: int, frame_s: float) -> float:
    """A sampling rate for `sample_frames` that spreads ``frames`` samples from the clip's
    first frame to its last one (which starts at ``duration_s - frame_s``), so a past
    strip ends on the frame just before the split point.

    Args:
        duration_s: clip duration in seconds.
        frames: samples wanted (>= 1).
        frame_s: the clip's frame interval in seconds.
    """
    span = duration_s - 1.05 * frame_s  # a little before the last frame's start
    if frames <= 1 or span <= 0:
        return frames / max(duration_s, 1e-3)
    return (frames - 1) / span


def _sample(run_dir: Path, segment: Segment, frames: int, frame_s: float,
            tile_height: int, aspect: float) -> list[tuple[float, np.ndarray]]:
    path = run_dir / segment.path
    if not path.is_file():
        raise NextEventError(STAGE, f"clip {path} does not exist",
                             "rebuild the run, or pass the run directory the clips were cut "
                             "into")
    max_pixels = int(tile_height * tile_height * aspect * 1.05) + 1
    max_pixels = max(max_pixels, POSTER_WIDTH * int(POSTER_WIDTH / aspect))
    fps = spread_fps(segment.duration_s, frames, frame_s)
    sampled = sample_frames(path, fps=fps, max_frames=frames, max_pixels=max_pixels)
    return [(segment.start_s + t, rgb) for t, rgb in sampled]


def write_contact_sheet(record: NEPRecord, run_dir: Path, out_path: Path, *,
                        frames_per_side: int = 4, tile_height: int = 120,
                        posters: bool = False) -> ContactSheet:
    """Draw one record's contact sheet: past frames, a cut line at the split point, future
    frames, timestamps, a timeline of the events and the two captions.

    Args:
        record: a record with cut clips (``past`` and ``future`` set).
        run_dir: the run directory the clip paths are relative to.
        out_path: the PNG to write (folders are created).
        frames_per_side: frames sampled from each clip, spread from its first frame to
            its last.
        tile_height: height of each frame tile in pixels, lowered for wide videos so no
            tile is wider than `MAX_TILE_WIDTH`.
        posters: also write the first frame of each clip as a JPEG beside the sheet, for
            the ``poster`` of a ``<video>`` player (`POSTER_WIDTH` pixels wide).

    Returns:
        The written sheet, with the times of the frames shown.

    Raises:
        NextEventError: stage ``report`` when the record has no clips or a clip file is
            missing; stage ``probe`` or ``frames`` when a clip cannot be decoded.
        ValueError: when ``frames_per_side`` or ``tile_height`` is below 1.
    """
    from PIL import Image, ImageDraw

    if frames_per_side < 1 or tile_height < 1:
        raise ValueError(f"frames_per_side and tile_height must be >= 1 "
                         f"(got {frames_per_side}, {tile_height})")
    if record.past is None or record.future is None:
        raise NextEventError(STAGE, f"record {record.id} has no cut clips",
                             "contact sheets need records built from video files")
    video = record.video
    aspect = (video.width / video.height) if video else 16 / 9
    if video and video.rotation_deg in (90, 270):
        aspect = 1 / aspect
    frame_s = 1.0 / video.fps if video else 0.04
    tile_height = max(1, min(tile_height, round(MAX_TILE_WIDTH / aspect)))
    past = _sample(run_dir, record.past, frames_per_side, frame_s, tile_height, aspect)
    future = _sample(run_dir, record.future, frames_per_side, frame_s, tile_height, aspect)
    if not past or not future:
        raise NextEventError("frames", f"record {record.id}: a clip gave no frames",
                             "re-cut the record; the clip may be empty")

    tiles = {side: [Image.fromarray(rgb).resize(
        (max(1, round(tile_height * rgb.shape[1] / rgb.shape[0])), tile_height))
        for _, rgb in frames] for side, frames in (("past", past), ("future", future))}
    side_w = {side: sum(t.width for t in ts) + TILE_GAP * (len(ts) - 1)
              for side, ts in tiles.items()}
    width = MARGIN * 2 + side_w["past"] + CUT_GAP + side_w["future"]
    cut_x = MARGIN + side_w["past"] + CUT_GAP // 2

    f_title, f_label = _font(24, True), _font(18, True)
    f_small, f_text = _font(16), _font(19)
    caption_w = {"past": side_w["past"] + CUT_GAP // 2 - 12,
                 "future": side_w["future"] + CUT_GAP // 2 - 4}
    wrapped = {"past": _wrap(record.caption_part1, f_text, caption_w["past"]),
               "future": _wrap(record.caption_part2, f_text, caption_w["future"])}
    line_h = 26
    y_title, y_label = MARGIN, MARGIN + 42
    y_tiles = y_label + 30
    y_stamp = y_tiles + tile_height + 6
    y_timeline = y_stamp + 30
    y_caption = y_timeline + 50
    height = y_caption + 30 + line_h * max(len(v) for v in wrapped.values()) + MARGIN

    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    snapped = record.split.snapped_to.replace("_", " ")
    draw.text((MARGIN, y_title), f"{record.id}  ·  split at {record.split.split_s:.2f} s "
              f"({snapped})", font=f_title, fill=INK)
    if video:
        info = f"video {video.duration_s:.2f} s, {video.fps:g} fps, {video.width}x{video.height}"
        draw.text((width - MARGIN, y_title + 6), info, font=f_small, fill=MUTED, anchor="ra")

    spans = {"past": (record.past, PAST_RGB, "PAST"),
             "future": (record.future, FUTURE_RGB, "FUTURE")}
    x0 = {"past": MARGIN, "future": cut_x + CUT_GAP // 2}
    for side, frames in (("past", past), ("future", future)):
        segment, color, name = spans[side]
        draw.text((x0[side], y_label), f"{name}  {segment.start_s:.2f}–{segment.end_s:.2f} s",
                  font=f_label, fill=color)
        x = x0[side]
        for tile, (t, _) in zip(tiles[side], frames, strict=True):
            sheet.paste(tile, (x, y_tiles))
            draw.rectangle((x, y_tiles + tile_height - 4, x + tile.width - 1,
                            y_tiles + tile_height - 1), fill=color)
            draw.text((x + tile.width // 2, y_stamp), f"{t:.2f} s", font=f_small, fill=INK,
                      anchor="ma")
            x += tile.width + TILE_GAP

    # cut line through labels, tiles and timestamps, with the split time on top
    draw.line((cut_x, y_label - 4, cut_x, y_timeline - 6), fill=CUT_RGB, width=3)
    draw.polygon([(cut_x - 8, y_label - 12), (cut_x + 8, y_label - 12), (cut_x, y_label - 2)],
                 fill=CUT_RGB)

    _timeline(draw, record, (MARGIN, y_timeline, width - MARGIN, y_timeline + 16),
              [t for t, _ in past + future], f_small)

    for side in ("past", "future"):
        segment, color, _ = spans[side]
        field = "caption_part1 (past)" if side == "past" else "caption_part2 (future)"
        draw.text((x0[side], y_caption), field, font=f_label, fill=color)
        for i, line in enumerate(wrapped[side]):
            draw.text((x0[side], y_caption + 30 + i * line_h), line, font=f_text, fill=INK)
    draw.line((cut_x, y_caption, cut_x, height - MARGIN), fill=(230, 230, 230), width=1)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_path, format="PNG", optimize=True)
    result = ContactSheet(out_path, width, height, [round(t, 3) for t, _ in past],
                          [round(t, 3) for t, _ in future])
    if posters:
        for side, frames in (("past", past), ("future", future)):
            first = Image.fromarray(frames[0][1])
            if first.width > POSTER_WIDTH:
                first = first.resize((POSTER_WIDTH, round(first.height * POSTER_WIDTH
                                                          / first.width)))
            result.posters[side] = out_path.with_name(f"{out_path.stem}.{side}.jpg")
            first.save(result.posters[side], format="JPEG", quality=85)
    return result


def _timeline(draw, record: NEPRecord, box: tuple[int, int, int, int],
              frame_times: list[float], font) -> None:
    """A bar for the whole video: past in blue, future in orange, event boundaries as white
    gaps, the split point in red and a tick at each frame shown."""
    x0, y0, x1, y1 = box
    duration = record.video.duration_s if record.video else (record.future.end_s
                                                             if record.future else 0.0)
    if duration <= 0:
        return

    def at(t: float) -> float:
        return x0 + (x1 - x0) * min(max(t / duration, 0.0), 1.0)

    split = record.split.split_s
    draw.rectangle((x0, y0, at(split), y1), fill=PAST_RGB)
    draw.rectangle((at(split), y0, x1, y1), fill=FUTURE_RGB)
    for event in record.events[1:]:
        if event.start_s is not None and not math.isclose(event.start_s, split, abs_tol=1e-3):
            x = at(event.start_s)
            draw.line((x, y0, x, y1), fill="white", width=2)
    for t in frame_times:
        x = at(t)
        draw.line((x, y1 + 1, x, y1 + 6), fill=INK, width=2)
    draw.line((at(split), y0 - 4, at(split), y1 + 4), fill=CUT_RGB, width=3)
    draw.text((x0, y1 + 8), "0 s", font=font, fill=MUTED)
    draw.text((x1, y1 + 8), f"{duration:.2f} s", font=font, fill=MUTED, anchor="ra")
    draw.text((at(split), y1 + 8), f"split {split:.2f} s", font=font, fill=CUT_RGB,
              anchor="ma")
