"""The Ray engine writes the same records as the local engine (sample and synthetic videos)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nextevent.pipeline.planner import PlannerConfig
from nextevent.pipeline.ray_runner import run_build_ray
from nextevent.pipeline.runner import run_build
from nextevent.pipeline.stages import BuildConfig
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
            summary = run_build_ray(imported.annotations, videos, config, workers=2,
                                    show_progress=False)
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
    first = run_build_ray(load_annotations(EXAMPLES, "jsonl").annotations, sample_dir, config,
                          show_progress=False)
    before = (tmp_path / "run" / "records.jsonl").read_bytes()
    again = run_build_ray(load_annotations(EXAMPLES, "jsonl").annotations, sample_dir, config,
                          show_progress=False)
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
    refused = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "x"), "--engine", "ray",
                                       "--llm-config", str(ROOT / "examples" / "llm.yaml")])
    assert refused.exit_code != 0 and "media stages only" in refused.output
