"""``nextevent build --videos DIR --llm-config FILE`` end to end: vision roles on the
scripted server (frames of the real sample videos), text roles on the real SmolLM2 server
(llama-cpp-python), every stage from captioning to critique, then a rerun from the cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from llama_server import (
    llama_server,  # noqa: F401  (the fixture)
    mixed_roles_yaml,
    vision_only,
)
from scripted_server import ScriptedServer
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.store import read_records


def test_build_raw_videos_with_smollm2_text_roles(llama_server: str, bikes: Path,  # noqa: F811
                                                  bunny: Path, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for src in (bikes, bunny):
        shutil.copy(src, videos / src.name)
    run = tmp_path / "run"
    with ScriptedServer(vision_only) as server:
        config = mixed_roles_yaml(tmp_path / "llm.yaml", server.url, llama_server)
        args = ["build", "--videos", str(videos), "--out", str(run), "--llm-config",
                str(config), "--workers", "1", "--no-progress", "--min-past", "0.5",
                "--min-future", "0.5"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        vision_calls = len(server.calls)
        assert vision_calls >= 2  # a caption per video, a grounding per suitable video
        again = CliRunner().invoke(app, args)
        assert again.exit_code == 0, again.output
    for role in ("captioner", "planner"):
        assert f"model {role}" in result.output
    records = {r.video_id: r for r in read_records(run / "records.jsonl")}
    failures = [json.loads(line) for line in (run / "failures.jsonl").read_text().splitlines()
                ] if (run / "failures.jsonl").exists() else []
    failed = {f["input"]: f for f in failures}
    for vid in ("bikes", "bigbuckbunny"):  # each video: a record, or a failure naming why
        assert vid in records or (vid in failed and failed[vid]["stage"] and
                                  failed[vid]["error"]), (vid, failures)
    assert records, f"no video made it through SmolLM2: {failures}"
    for record in records.values():
        assert record.caption and record.caption.startswith("In clip ")
        assert len(record.events) >= 2 and record.caption_part1 and record.caption_part2
        assert 0 < record.split.split_s < record.video.duration_s  # type: ignore[union-attr]
        assert record.past is not None and (run / record.past.path).is_file()
        assert record.reasoning and record.reasoning.prediction_content
        assert record.critique and record.critique.conclusion in ("right", "wrong")
    usage = [json.loads(line) for line in (run / "usage.jsonl").read_text().splitlines()]
    assert usage[0]["roles"]["planner"]["completion_tokens"] > 0
    # the rerun takes every answer it had from the cache; it only asks again for videos
    # that failed (a failed call is not cached), never for finished ones
    retried = [v for v, f in failed.items() if f["stage"] != "causal" and v not in records]
    rerun_requests = sum(r["requests"] for r in usage[1]["roles"].values())
    assert (rerun_requests > 0) == bool(retried)
    assert sum(r["cache_hits"] for r in usage[1]["roles"].values()) >= (1 if retried else 0)
