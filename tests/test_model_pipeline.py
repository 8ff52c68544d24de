"""The model-backed pipeline (V1 steps 1-8) against the scripted OpenAI-protocol server:
real sample videos and synthetic ones for frames, shots and cuts; faults at 30% of calls;
a rerun that completes from the cache; grounding snapped to bikes.mp4's shot boundary;
annotated records given steps 6-8 through the CLI; keys kept out of the run directory."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from scripted_server import Faults, ScriptedServer, user_text
from scripted_v1 import stage_of, v1_answer
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.llm import LLMConfig, RoleConfig
from nextevent.pipeline.config import BuildConfig, select_stages
from nextevent.pipeline.driver import run_build
from nextevent.pipeline.planner import PlannerConfig
from nextevent.records import NextEventError
from nextevent.store import read_records

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from make_videos import make_video  # noqa: E402

ROLES = ("captioner", "grounder", "planner", "reasoner", "rewriter", "critic")
FAILURE_STAGES = {"probe", "shots", "frames", "caption", "events", "causal", "split",
                  "ground", "cut", "predict", "rewrite", "critique"}


def scripted_roles(url: str, **overrides: Any) -> LLMConfig:
    """Every role on the scripted server, named ``scripted-<role>``; the reasoner answers
    in <think>/<answer> tags (structured: none), the others in JSON."""
    roles = {}
    for role in ROLES:
        fields: dict[str, Any] = {"base_url": url, "model": f"scripted-{role}",
                                  "timeout_s": 1.0, "max_retries": 1, "backoff_s": 0.05,
                                  "concurrency": 4,
                                  "structured": "none" if role == "reasoner" else "auto"}
        fields.update(overrides)
        roles[role] = RoleConfig(**fields)
    return LLMConfig(roles=roles)


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory: pytest.TempPathFactory, bunny: Path, bikes: Path) -> Path:
    """The two sample videos and six small synthetic ones (distinct textures and shots)."""
    folder = tmp_path_factory.mktemp("videos")
    shutil.copy(bunny, folder / bunny.name)
    shutil.copy(bikes, folder / bikes.name)
    for i in range(6):
        make_video(folder / f"synthetic_{i}.mp4", seconds=6, width=160, height=96,
                   shot_s=2.0, seed=100 + i)
    return folder


def run_model_build(videos: Path, config: BuildConfig, llm: LLMConfig, *, workers: int = 1,
                    **kwargs: Any) -> Any:
    """A raw-video build with models (no annotations) on the local engine."""
    return run_build(None, videos, config, llm=llm, workers=workers, **kwargs)


def outcome_by_video(run: Path, video_ids: list[str]) -> dict[str, str]:
    """Per video: ``record`` when its record is stored, else the stage of its failure."""
    records = {r.video_id for r in read_records(run / "records.jsonl")}
    failures: dict[str, str] = {}
    for line in (run / "failures.jsonl").read_text().splitlines():
        failure = json.loads(line)
        assert failure["error"].strip() and failure["hint"].strip()
        failures[failure["input"]] = failure["stage"]
    return {vid: "record" if vid in records else failures.get(vid, "MISSING")
            for vid in video_ids}


def test_faults_at_30_percent_then_rerun_completes_from_cache(
        video_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-PLANTED-fault-test-9f8e7d6c"
    monkeypatch.setenv("SCRIPTED_KEY", key)
    run = tmp_path / "run"
    vids = sorted(p.stem for p in video_dir.glob("*.mp4"))
    config = BuildConfig(run_dir=run,
                         planner=PlannerConfig(min_past_s=0.5, min_future_s=0.5))
    faults = Faults(rate=0.3, slow_s=1.5, retry_after="1", seed=3)
    with ScriptedServer(v1_answer, faults=faults, echo_auth_in_errors=True) as server:
        llm = scripted_roles(server.url, api_key_env="SCRIPTED_KEY")
        first = run_model_build(video_dir, config, llm, workers=2, show_progress=False)
        seen = server.outcomes()
        assert set(seen) == {"ok", "http500", "http429", "slow", "truncated", "not_json"}
        faulty = sum(n for kind, n in seen.items() if kind != "ok") / sum(seen.values())
        assert 0.2 < faulty < 0.4
        outcome = outcome_by_video(run, vids)
        # every video ends as a record or a failure that names its stage
        assert "MISSING" not in outcome.values()
        assert set(outcome.values()) <= {"record"} | FAILURE_STAGES
        failed = [v for v, o in outcome.items() if o not in ("record", "causal")]
        assert failed, "the fault plan should make some videos fail"
        assert first.videos_failed == len(failed)
        ok_keys = {c.key for c in server.calls if c.outcome == "ok"}
        calls_before = len(server.calls)

        server.set_faults(Faults(rate=0.0))
        second = run_model_build(video_dir, config, llm, workers=2, show_progress=False)
        rerun_calls = server.calls[calls_before:]

    outcome = outcome_by_video(run, vids)
    records = list(read_records(run / "records.jsonl"))
    unsuitable = [v for v, o in outcome.items() if o == "causal"]
    assert second.videos_failed == 0 and second.skipped == len(vids) - len(failed)
    assert second.videos_done + second.videos_unsuitable == len(failed)
    assert len(records) == len(vids) - len(unsuitable) == len({r.id for r in records})
    # no call that was answered before is made again; only failed ones are
    assert rerun_calls and not [c for c in rerun_calls if c.key in ok_keys]
    assert second.usage.total().cache_hits > 0
    for record in records:
        assert record.caption and len(record.events) == 4 and record.split.last_past_event == 1
        assert record.past is not None and (run / record.past.path).is_file()
        assert record.past.end_s == pytest.approx(record.split.split_s)
        assert record.reasoning and record.reasoning.prediction_content
        assert record.reasoning.rewritten_reasoning_content.startswith("The video shows")
        assert record.critique and record.critique.conclusion == "right"
        assert record.caption_part1.endswith("unlocks the bicycle.")
    usage_lines = (run / "usage.jsonl").read_text().splitlines()
    assert len(usage_lines) == 2
    for path in run.rglob("*"):  # the key never reaches the run directory
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def test_grounding_is_checked_repaired_and_snapped_to_a_shot_boundary(
        bikes: Path, tmp_path: Path) -> None:
    """bikes.mp4 has a shot change at 3.04 s: a grounded 00:03.10 snaps onto it; a time
    past the end is sent back once with the valid range."""
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(bikes, folder / "bikes.mp4")
    ground_answers = iter(['{"start_time": "00:12.00"}', '{"start_time": "00:03.10"}'])

    def answer(request: dict[str, Any]) -> Any:
        stage = stage_of(request)
        if stage == "causal":
            return json.dumps({"reasoning": "Unlocking leads to riding.", "suitable": True,
                               "split": "between Scene 2 and Scene 3"})
        if stage == "ground":
            return next(ground_answers)
        return v1_answer(request)

    run = tmp_path / "run"
    with ScriptedServer(answer) as server:
        summary = run_model_build(folder, BuildConfig(run_dir=run),
                                  scripted_roles(server.url), show_progress=False)
        grounds = [c.body for c in server.calls if c.body and stage_of(c.body) == "ground"]
    assert summary.videos_done == 1
    assert len(grounds) == 2
    text = user_text(grounds[0])
    assert "Frame at 00:00.00" in text and "lasts 00:10.00" in text and "Scene 3" in text
    assert "outside the video" in grounds[1]["messages"][-1]["content"]
    (record,) = read_records(run / "records.jsonl")
    assert record.split.event_boundary_s == pytest.approx(3.10)
    assert record.split.snapped_to == "shot_boundary"
    assert record.split.split_s == pytest.approx(3.04, abs=0.05)
    assert record.extra["model_pipeline"]["grounding"]["answer"] == "00:03.10"
    assert record.future is not None and record.future.start_s == record.split.split_s


def test_video_url_mode_and_skipped_stages(bunny: Path, tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(bunny, folder / "bunny.mp4")

    def answer(request: dict[str, Any]) -> Any:
        if stage_of(request) == "causal":
            return json.dumps({"reasoning": "r", "suitable": True,
                               "split": "between Scene 2 and Scene 3"})
        return v1_answer(request)

    llm = scripted_roles("http://unused")
    with ScriptedServer(answer) as server:
        for role in llm.roles.values():
            role.base_url = server.url
            role.video.mode = "video_url"
        config = BuildConfig(run_dir=tmp_path / "run",
                             stages=select_stages(skip="split,ground,cut,rewrite"))
        summary = run_model_build(folder, config, llm, show_progress=False)
        stages = [stage_of(c.body) for c in server.calls if c.body]
        caption = next(c.body for c in server.calls if c.body and stage_of(c.body) == "caption")
    assert summary.videos_done == 1
    assert sorted(stages) == ["caption", "causal", "critique", "events", "predict"]
    parts = caption["messages"][-1]["content"]
    assert parts[0] == {"type": "video_url",
                        "video_url": {"url": (folder / "bunny.mp4").resolve().as_uri()}}
    (record,) = read_records(tmp_path / "run" / "records.jsonl")
    assert record.past is None and record.cut_mode is None  # cut skipped: text-only
    assert record.extra["model_pipeline"]["grounding"]["answer"] == "proportional"
    assert record.caption_part1 == " ".join(e.text for e in record.events[:2])
    assert record.reasoning and record.reasoning.rewritten_prediction_content is None


def test_annotated_records_get_steps_6_to_8_through_the_cli(sample_dir: Path,
                                                           tmp_path: Path) -> None:
    run = tmp_path / "run"
    with ScriptedServer(v1_answer) as server:
        cfg = tmp_path / "llm.yaml"
        cfg.write_text(
            f"defaults: {{base_url: '{server.url}', timeout_s: 5}}\n"
            "roles:\n  reasoner: {model: scripted-reasoner, structured: none}\n"
            "  rewriter: {model: scripted-rewriter}\n  critic: {model: scripted-critic}\n")
        result = CliRunner().invoke(app, [
            "build", "--videos", str(sample_dir), "--annotations",
            str(ROOT / "examples" / "sample_events.jsonl"), "--out", str(run),
            "--llm-config", str(cfg), "--stages", "predict,rewrite,critique",
            "--splits-per-video", "2", "--workers", "1", "--no-progress"])
        assert result.exit_code == 0, result.output
        assert "model reasoner" in result.output and "model critic" in result.output
        calls = len(server.calls)
        again = CliRunner().invoke(app, [
            "build", "--videos", str(sample_dir), "--annotations",
            str(ROOT / "examples" / "sample_events.jsonl"), "--out", str(run),
            "--llm-config", str(cfg), "--splits-per-video", "2", "--workers", "1",
            "--no-progress"])
        assert again.exit_code == 0, again.output
        assert len(server.calls) == calls  # finished videos are skipped
    records = list(read_records(run / "records.jsonl"))
    assert len(records) == 4
    for record in records:
        assert all(e.timed for e in record.events)  # the annotation's events, with times
        assert record.past is not None
        assert record.reasoning and record.reasoning.rewritten_reasoning_content
        assert "caption" not in record.reasoning.rewritten_reasoning_content.lower()
        assert record.critique is not None


def test_bad_stage_names_and_missing_roles_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(NextEventError, match="unknown stage"):
        select_stages("predict,guess")
    assert select_stages(None, "cut") == frozenset(
        {"caption", "events", "causal", "split", "ground", "predict", "rewrite", "critique"})
    llm = LLMConfig(roles={"reasoner": RoleConfig(base_url="http://x/v1", model="m")})
    with pytest.raises(NextEventError, match="role captioner is not configured"):
        run_model_build(tmp_path, BuildConfig(run_dir=tmp_path / "run"), llm,
                        show_progress=False)
    cfg = BuildConfig(run_dir=tmp_path / "run", stages=select_stages("predict"))
    with pytest.raises(NextEventError, match="raw videos need the stages"):
        run_model_build(tmp_path, cfg, llm, show_progress=False)


def test_prompt_override_is_used_and_checked(bunny: Path, tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(bunny, folder / "bunny.mp4")
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "caption.txt").write_text(
        "[user]\nDescribe this clip of $duration, scene by scene. $video_note\n")
    with ScriptedServer(v1_answer) as server:
        config = BuildConfig(run_dir=tmp_path / "run", prompts_dir=prompts,
                             stages=select_stages("caption,events,causal"))
        run_model_build(folder, config, scripted_roles(server.url), show_progress=False)
        caption = next(c.body for c in server.calls if c.body and stage_of(c.body) == "caption")
    assert "Describe this clip of 00:05.28, scene by scene." in user_text(caption)
    assert caption["messages"][0]["role"] == "user"  # no [system] section: no system turn
    (prompts / "caption.txt").write_text("[user]\nDescribe $nonsense\n")
    with ScriptedServer(v1_answer) as server:
        config = BuildConfig(run_dir=tmp_path / "run2", prompts_dir=prompts)
        run_model_build(folder, config, scripted_roles(server.url), show_progress=False)
    failures = (tmp_path / "run2" / "failures.jsonl").read_text()
    assert "$nonsense" not in failures or "uses $nonsense" in failures
    assert '"stage":"prompts"' in failures
