"""MM:SS.ss timecodes (`nextevent.timecode`) on V1-33K's own split times."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from nextevent.timecode import format_timestamp, parse_timestamp

V1_FIXTURE = Path(__file__).parent / "data" / "export" / "next_event_prediction_v1.json"


def v1_split_times() -> list[str]:
    """The ``scenes_timestep`` values of the V1-33K fixture entries."""
    entries = json.loads(V1_FIXTURE.read_text(encoding="utf-8"))
    return [time for e in entries for step in e["video_split"]["scenes_timestep"]
            for time in step.values()]


def test_v1_split_times_parse_to_seconds_and_format_back():
    times = v1_split_times()
    assert times == ["00:13.30", "00:21.05", "01:12.40"]
    seconds = [parse_timestamp(t) for t in times]
    assert seconds == pytest.approx([13.3, 21.05, 72.4])
    assert [format_timestamp(s) for s in seconds] == times


def test_format_rounds_to_the_centisecond_and_keeps_counting_minutes():
    assert format_timestamp(0) == "00:00.00"
    assert format_timestamp(6.04) == "00:06.04"
    assert format_timestamp(59.999) == "01:00.00"  # rounds up into the next minute
    assert format_timestamp(59.994) == "00:59.99"
    assert format_timestamp(3725.5) == "62:05.50"  # no hours field
    assert format_timestamp(5.28) == "00:05.28"  # bigbuckbunny.mp4's duration


def test_parse_takes_the_spellings_met_in_data_and_model_answers():
    assert parse_timestamp(" 00:13.30 ") == pytest.approx(13.3)
    assert parse_timestamp("01:12.4") == pytest.approx(72.4)  # one decimal
    assert parse_timestamp("00:13") == 13.0  # no fraction
    assert parse_timestamp("0:13.") == 13.0
    assert parse_timestamp("1:02:03.5") == pytest.approx(3723.5)  # HH:MM:SS.ss
    assert parse_timestamp("7.25") == 7.25  # plain seconds
    assert parse_timestamp("00:75.00") == 75.0  # fields are not range-checked


@pytest.mark.parametrize("bad", ["13 seconds", "", "-1", "nan", "inf", "00:13:", "1:2:3:4",
                                 "00:-3.00", "thirteen"])
def test_parse_refuses_what_is_no_time(bad: str):
    with pytest.raises(ValueError, match="timestamp"):
        parse_timestamp(bad)


def test_malformed_text_names_the_expected_form():
    with pytest.raises(ValueError, match=r"'thirteen' is not MM:SS\.ss"):
        parse_timestamp("thirteen")


@pytest.mark.parametrize("bad", [-0.01, math.inf, math.nan])
def test_format_refuses_what_is_no_time(bad: float):
    with pytest.raises(ValueError, match="not a finite time"):
        format_timestamp(bad)
