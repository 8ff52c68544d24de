"""`nextevent build` on a folder of bad and edge-case inputs: one failure line each, the run
goes on, nothing is written outside --out, and a rerun duplicates nothing."""

from __future__ import annotations

import json
from pathlib import Path

from badvideos import (
    audio_only_mp4,
    corrupt_mp4,
    empty_mp4,
    non_ascii_copy,
    rotated_mp4,
    truncated_mp4,
    vfr_mp4,
)
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.records import Failure
from nextevent.store import read_records

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sample_events.jsonl"


def _bikes_events() -> list[dict]:
    for line in EXAMPLES.read_text().splitlines():
        row = json.loads(line)
        if row["video_id"] == "bikes":
            return row["events"]
    raise KeyError("bikes")


def _two(duration: float) -> list[dict]:
    half = round(duration / 2, 2)
    return [{"start": 0.0, "end": half, "text": "A red square sits in the corner."},
            {"start": half, "end": duration, "text": "The square stays where it is."}]


def _snapshot(root: Path, out: Path) -> dict[str, int]:
    return {str(p): p.stat().st_size for p in root.rglob("*")
            if p.is_file() and out not in p.parents}


def test_every_bad_input_is_one_failure_and_the_run_goes_on(
    tmp_path: Path, bikes: Path, bunny: Path
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "bikes.mp4").write_bytes(bikes.read_bytes())
    (videos / "late.mp4").write_bytes(bikes.read_bytes())
    non_ascii_copy(bikes, videos)
    rotated = rotated_mp4(videos)
    vfr = vfr_mp4(videos)
    bad = {
        "truncated": truncated_mp4(bunny, videos),
        "corrupt": corrupt_mp4(videos),
        "zero_length": empty_mp4(videos),
        "audio_only": audio_only_mp4(videos),
    }
    bikes_events = _bikes_events()
    rows = [
        {"video_id": "bikes", "events": bikes_events},
        {"video_id": "non_ascii", "video": "видео_ß.mp4", "events": bikes_events},
        {"video_id": "rotated", "video": rotated.name, "events": _two(1.0)},
        {"video_id": "vfr", "video": vfr.name, "events": _two(0.6)},
        # events beyond the file's 10 s: the late one is dropped, the rest still cut
        {"video_id": "late", "events": [*bikes_events,
                                        {"start": 30.0, "end": 35.0, "text": "Too late."}]},
        *({"video_id": vid, "video": path.name, "events": bikes_events}
          for vid, path in bad.items()),
        {"video_id": "missing", "events": bikes_events},
        {"video_id": "escape", "video": "../../etc/passwd", "events": bikes_events},
        {"video_id": "absolute", "video": "/etc/passwd", "events": bikes_events},
        {"video_id": "empty_text", "video": "bikes.mp4",
         "events": [{"start": 0.0, "end": 1.2, "text": "   "}, *bikes_events[1:]]},
    ]
    ann = tmp_path / "events.jsonl"
    ann.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                   encoding="utf-8")
    out = tmp_path / "run"
    before = _snapshot(tmp_path, out)
    args = ["build", "--videos", str(videos), "--annotations", str(ann), "--out", str(out),
            "--min-past", "0.2", "--min-future", "0.2", "--workers", "1", "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output

    assert _snapshot(tmp_path, out) == before, "build wrote or changed files outside --out"
    records = list(read_records(out / "records.jsonl"))
    by_video = {r.video_id: r for r in records}
    assert set(by_video) == {"bikes", "non_ascii", "rotated", "vfr", "late", "empty_text"}
    assert by_video["rotated"].video.rotation_deg == 90
    assert by_video["vfr"].video.variable_frame_rate
    assert all(e.start_s < 10.0 for e in by_video["late"].events)
    assert len(by_video["empty_text"].events) == len(bikes_events) - 1

    lines = (out / "failures.jsonl").read_text(encoding="utf-8").splitlines()
    failures = [Failure.model_validate_json(line) for line in lines]
    stage_of = {f.input.split("#")[0]: f.stage for f in failures if "empty_text" not in f.input}
    expected = {"truncated": "probe", "corrupt": "probe", "zero_length": "probe",
                "audio_only": "probe", "missing": "resolve", "escape": "resolve",
                "absolute": "resolve", "late": "events"}
    assert stage_of == expected
    for f in failures:  # each names its input and says what to do
        assert f.error and f.hint
    for vid, path in bad.items():
        (failure,) = [f for f in failures if f.input == vid]
        assert path.name in failure.error
    assert [f.stage for f in failures if "empty_text" in f.input] == ["import"]
    assert len(failures) == len(expected) + 1  # one line per bad input
    assert "failures: probe" in result.output and "failures: resolve" in result.output

    # a rerun retries the failed inputs but writes no failure or record twice
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert (out / "failures.jsonl").read_text(encoding="utf-8").splitlines() == lines
    assert len(list(read_records(out / "records.jsonl"))) == len(records)
