"""The Ray engine writes the same records as the local engine (sample and synthetic videos)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_server import llama_server  # noqa: F401  (the fixture)

from nextevent.pipeline.config import BuildConfig
from nextevent.pipeline.driver import run_build
from nextevent.pipeline.planner import PlannerConfig
from nextevent.sources import load_annotations
from nextevent.store import read_records

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "sample_events.jsonl"
sys.path.insert(0, str(ROOT / "benchmarks"))
from make_videos import make_dataset  # noqa: E402


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A 2-CPU Ray instance on loopback, stopped after the module."""
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT / "src")}})
    yield
    ray.shutdown()


def _record_set(run: Path) -> list[tuple]:
    records = list(read_records(run / "records.jsonl"))
    ids = [r.id for r in records]
    assert len(ids) == len(set(ids)), "duplicate records"
    rows = []
    for r in records:
        assert r.past and r.future
        assert (run / r.past.path).stat().st_size > 0
        assert (run / r.future.path).stat().st_size > 0
        rows.append((r.id, r.split.split_s, r.caption_part1, r.caption_part2,
                     r.past.frame_count, r.future.frame_count, r.cut_mode))
    return sorted(rows)


def _failure_set(run: Path) -> list[tuple]:
    """(input, stage, error) of each failure line; fast mode fails bunny (no keyframe)."""
    path = run / "failures.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return sorted((f["input"], f["stage"], f["error"]) for f in map(json.loads, lines))


def _both(ann: Path, videos: Path, tmp: Path, mode: str, splits: int) -> tuple[list, list]:
    results = []
    for engine in ("local", "ray"):
        imported = load_annotations(ann, "jsonl")
        config = BuildConfig(run_dir=tmp / engine, cut_mode=mode,  # type: ignore[arg-type]
                             planner=PlannerConfig(splits_per_video=splits))
        if engine == "local":
            summary = run_build(imported.annotations, videos, config, workers=1,
                                show_progress=False)
        else:
            summary = run_build(imported.annotations, videos, config, engine="ray",
                                workers=2, show_progress=False)
        assert summary.videos_done >= 1, (tmp / engine / "failures.jsonl").read_text()
        results.append((_record_set(tmp / engine), _failure_set(tmp / engine)))
    return results[0], results[1]


@pytest.mark.parametrize("mode", ["accurate", "fast"])
def test_ray_matches_local_on_the_samples(local_ray: None, sample_dir: Path, tmp_path: Path,
                                          mode: str) -> None:
    local, on_ray = _both(EXAMPLES, sample_dir, tmp_path, mode, splits=2)
    assert len(local[0]) >= (3 if mode == "accurate" else 1)
    assert on_ray == local


def test_ray_matches_local_on_synthetic_videos(local_ray: None, tmp_path: Path) -> None:
    ann = make_dataset(tmp_path / "videos", count=4, seconds=6, width=96, height=64,
                       shot_s=1.5)
    local, on_ray = _both(ann, tmp_path / "videos", tmp_path, "accurate", splits=2)
    assert len({row[0].split("#")[0] for row in local[0]}) == 4 and not local[1]
    assert on_ray == local


def test_ray_rerun_adds_nothing(local_ray: None, sample_dir: Path, tmp_path: Path) -> None:
    config = BuildConfig(run_dir=tmp_path / "run", planner=PlannerConfig(splits_per_video=2))
    first = run_build(load_annotations(EXAMPLES, "jsonl").annotations, sample_dir, config,
                      engine="ray", workers=2, show_progress=False)
    before = (tmp_path / "run" / "records.jsonl").read_bytes()
    again = run_build(load_annotations(EXAMPLES, "jsonl").annotations, sample_dir, config,
                      engine="ray", workers=2, show_progress=False)
    assert first.records_new > 0
    assert again.records_new == 0 and again.skipped == first.videos_done
    assert (tmp_path / "run" / "records.jsonl").read_bytes() == before


def test_cli_build_engine_ray(local_ray: None, sample_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nextevent.cli import app

    args = ["build", "--videos", str(sample_dir), "--annotations", str(EXAMPLES),
            "--splits-per-video", "2", "--no-progress"]
    for engine in ("local", "ray"):
        result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / engine),
                                          "--engine", engine, "--workers", "2"])
        assert result.exit_code == 0, result.output
    assert _record_set(tmp_path / "ray") == _record_set(tmp_path / "local")


def _records(run: Path) -> list[dict]:
    """Every record of a run as JSON, sorted by id (clip paths are run-relative)."""
    records = [r.model_dump(mode="json") for r in read_records(run / "records.jsonl")]
    assert len({r["id"] for r in records}) == len(records), "duplicate records"
    return sorted(records, key=lambda r: r["id"])


def _build(args: list[str], out: Path, engine: str) -> str:
    from typer.testing import CliRunner

    from nextevent.cli import app

    result = CliRunner().invoke(app, [*args, "--out", str(out), "--engine", engine,
                                      "--workers", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    return result.output


def test_model_stages_on_ray_match_local_for_annotated_videos(
        local_ray: None, sample_dir: Path, tmp_path: Path) -> None:
    """``--stages predict,rewrite,critique`` on annotated videos: cut on Ray workers, the
    calls from the driver; the same records as local; a Ray rerun sends no call."""
    from scripted_server import ScriptedServer
    from scripted_v1 import v1_answer

    with ScriptedServer(v1_answer) as server:
        cfg = tmp_path / "llm.yaml"
        cfg.write_text(
            f"defaults: {{base_url: '{server.url}', timeout_s: 10}}\n"
            "roles:\n  reasoner: {model: scripted-reasoner, structured: none}\n"
            "  rewriter: {model: scripted-rewriter}\n  critic: {model: scripted-critic}\n")
        args = ["build", "--videos", str(sample_dir), "--annotations", str(EXAMPLES),
                "--llm-config", str(cfg), "--stages", "predict,rewrite,critique",
                "--splits-per-video", "2"]
        _build(args, tmp_path / "local", "local")
        local_calls = len(server.calls)
        output = _build(args, tmp_path / "ray", "ray")
        ray_calls = len(server.calls) - local_calls
        assert "--engine ray" in output and "model critic" in output
        _build(args, tmp_path / "ray", "ray")  # rerun on Ray
        assert len(server.calls) == local_calls + ray_calls
    local, on_ray = _records(tmp_path / "local"), _records(tmp_path / "ray")
    assert len(local) == 4 and on_ray == local
    assert ray_calls == local_calls > 0  # the Ray run asked what the local run asked
    for record in on_ray:
        assert record["reasoning"]["rewritten_reasoning_content"] and record["critique"]
        assert (tmp_path / "ray" / record["past"]["path"]).stat().st_size > 0


def test_raw_videos_on_ray_match_local_with_smollm2_text_roles(
        local_ray: None, llama_server: str, bikes: Path, bunny: Path,  # noqa: F811
        tmp_path: Path) -> None:
    """Raw videos, V1 steps 1-8: frames, shots and cuts on Ray workers, vision roles on
    the scripted server, text roles on the real SmolLM2 server; records equal to a local
    run (separate run directories and caches); a Ray rerun sends no answered call."""
    import shutil

    from llama_server import mixed_roles_yaml, vision_only
    from scripted_server import ScriptedServer

    videos = tmp_path / "videos"
    videos.mkdir()
    for src in (bikes, bunny):
        shutil.copy(src, videos / src.name)
    with ScriptedServer(vision_only) as server:
        cfg = mixed_roles_yaml(tmp_path / "llm.yaml", server.url, llama_server)
        args = ["build", "--videos", str(videos), "--llm-config", str(cfg),
                "--min-past", "0.5", "--min-future", "0.5"]
        _build(args, tmp_path / "local", "local")
        _build(args, tmp_path / "ray", "ray")
        vision_calls = len(server.calls)
        _build(args, tmp_path / "ray", "ray")  # rerun on Ray
        assert len(server.calls) == vision_calls
    local, on_ray = _records(tmp_path / "local"), _records(tmp_path / "ray")
    assert on_ray == local
    usage = [json.loads(line) for line in (tmp_path / "ray" / "usage.jsonl").read_text()
             .splitlines()]
    assert sum(r["answers"] for r in usage[0]["roles"].values()) > 0
    failed = _failure_set(tmp_path / "ray")
    retried = [f for f in failed if f[1] != "causal" and f[0] not in {r["video_id"]
                                                                     for r in on_ray}]
    if not retried:  # nothing failed: the rerun sent no request at all
        assert sum(r["requests"] for r in usage[1]["roles"].values()) == 0


def test_rerun_on_ray_after_faults_sends_only_the_failed_calls(
        local_ray: None, tmp_path: Path) -> None:
    """Exactly-once across engines: a local build with 30% faulty calls, then a rerun on
    Ray into the same run; no call answered before is sent again, and every video ends."""
    from make_videos import make_video
    from scripted_server import Faults, ScriptedServer
    from scripted_v1 import v1_answer

    from nextevent.llm import LLMConfig, RoleConfig

    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(6):
        make_video(videos / f"synthetic_{i}.mp4", seconds=6, width=160, height=96,
                   shot_s=2.0, seed=200 + i)
    config = BuildConfig(run_dir=tmp_path / "run",
                         planner=PlannerConfig(min_past_s=0.5, min_future_s=0.5))
    with ScriptedServer(v1_answer, faults=Faults(rate=0.3, seed=5)) as server:
        llm = LLMConfig(roles={role: RoleConfig(
            base_url=server.url, model=f"scripted-{role}", timeout_s=2.0, max_retries=1,
            backoff_s=0.05, structured="none" if role == "reasoner" else "auto")
            for role in ("captioner", "grounder", "planner", "reasoner", "rewriter", "critic")})
        first = run_build(None, videos, config, llm=llm, workers=2, show_progress=False)
        answered = {c.key for c in server.calls if c.outcome == "ok"}
        before = len(server.calls)
        server.set_faults(Faults(rate=0.0))
        second = run_build(None, videos, config, llm=llm, engine="ray", workers=2,
                           show_progress=False)
        rerun = server.calls[before:]
    assert first.videos_failed > 0, "the fault plan should make some videos fail"
    assert rerun and not [c for c in rerun if c.key in answered]
    assert second.videos_failed == 0
    assert second.videos_done + second.videos_unsuitable == first.videos_failed
    records = _records(tmp_path / "run")
    assert len(records) == 6 - first.videos_unsuitable - second.videos_unsuitable
