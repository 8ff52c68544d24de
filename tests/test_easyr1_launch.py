"""The EasyR1 launch starts: our ``train_grpo.sh`` through EasyR1's own data path.

A run built with ``--clip-fps 4 --clip-max-pixels 9000`` is exported with ``--target
easyr1`` (``--format jsonl``, ``parquet``, ``frames``), and the export's ``train_grpo.sh``
runs, unchanged, from a vendored EasyR1 checkout (hiyouga/EasyR1 b44b311b, files under
``tests/data/vendor/easyr1/upstream``, unmodified) with a ``python3`` on PATH that is
`easyr1_check`'s ``launch`` in EasyR1's venv (``.cache/venvs/easyr1``: transformers 4.57.6,
qwen-vl-utils 0.0.14, datasets 5.0.1, omegaconf 2.3.0, torchdata 0.11.0, decord 0.6.0,
torchvision 0.28.0, all on the CPU torch). That merges the script's overrides over
EasyR1's ``examples/config.yaml`` and ``PPOConfig`` as ``verl/trainer/main.py`` does, builds
the tokenizer and processor with EasyR1's functions, runs ``create_dataloader`` (the
overlong-prompt filter decodes every video with qwen-vl-utils' ``fetch_video`` at the
config's ``min_pixels``/``max_pixels``/``video_fps``) and takes the first batch of the
train and validation loaders. Before the fix the script kept ``examples/config.yaml``'s
``min_pixels: 262144`` above ``data.max_pixels`` and this stopped in ``smart_resize``
(`test_without_min_pixels_the_dataset_build_fails` keeps that failure visible).

The ``frames`` layout is also read by the V1 (NEP) fork's own ``RLHFDataset``
(sail-sg/Video-Next-Event-Prediction ``EasyR1/verl/utils/dataset.py`` fb9b315e, vendored
under ``nep-fork``), which reads Parquet and images only.

What needs a GPU (vLLM rollout, FSDP actor, the reward during training) is not run here.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextevent.cli import app
from nextevent.export.easyr1 import MIN_PIXELS, LaunchSettings, launch_settings
from nextevent.export.sampling import VideoSampling
from nextevent.store import read_records

pytest.importorskip("pyarrow")
from venvs import ensure_venv  # noqa: E402

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples" / "sample_events.jsonl"
CHECK = HERE / "easyr1_check.py"
UPSTREAM = HERE / "data" / "vendor" / "easyr1" / "upstream"
CLIP_FPS, CLIP_MAX_PIXELS = 4.0, 9000
EASYR1_INSTALLS = (
    # what a fresh EasyR1 (requirements.txt) gets for its data path, pinned; omegaconf 2.4
    # rejects EasyR1's PPOConfig (``logger: Tuple[str]`` with two values), so 2.3.0
    ("transformers==4.57.6", "qwen-vl-utils==0.0.14", "datasets==5.0.1", "omegaconf==2.3.0",
     "torchdata==0.11.0", "codetiming==1.4.0", "tensordict==0.10.0", "decord==0.6.0",
     "torchvision==0.28.0", "pyyaml", "jinja2"),
)
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "2",
           "PYTHONDONTWRITEBYTECODE": "1"}  # nothing written into the vendored tree


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("easyr1") / "run"
    result = invoke("build", "--videos", str(sample_dir), "--annotations", str(EXAMPLES),
                    "--out", str(out), "--splits-per-video", "2", "--workers", "1",
                    "--no-progress", "--clip-fps", str(CLIP_FPS),
                    "--clip-max-pixels", str(CLIP_MAX_PIXELS))
    assert result.exit_code == 0, result.output
    return out


def export(run: Path, out: Path, *extra: str) -> Path:
    result = invoke("export", str(run), "--target", "easyr1", "--out", str(out),
                    "--val-fraction", "0.5", *extra)
    assert result.exit_code == 0, result.output
    return out


def script_values(script: Path) -> dict[str, str]:
    return dict(re.findall(r"^\s+data\.(\w+)=(\S+) \\$", script.read_text(), re.M))


def run_in(python: Path, *args: str, cwd: Path | None = None, env: dict | None = None,
           timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env={"PATH": "/usr/bin:/bin", **OFFLINE,
                                                "HOME": str(Path.home()), **(env or {})})


def result_of(proc: subprocess.CompletedProcess, what: str) -> dict:
    for line in proc.stdout.splitlines():
        if line.startswith("NEXTEVENT_RESULT "):
            return json.loads(line[len("NEXTEVENT_RESULT "):])
    raise AssertionError(f"{what} failed ({proc.returncode}):\n"
                         f"{(proc.stdout + proc.stderr)[-6000:]}")


@pytest.fixture(scope="module")
def easyr1(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """EasyR1's venv python, a tiny Qwen2.5-VL processor folder, and a bin folder whose
    ``python3`` is `easyr1_check` ``launch`` in that venv."""
    python = ensure_venv("easyr1", EASYR1_INSTALLS)
    work = tmp_path_factory.mktemp("easyr1-env")
    result_of(run_in(python, str(CHECK), "processor", str(work / "processor")), "processor")
    bin_dir = work / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "python3"
    shim.write_text(f'#!/bin/sh\nexec "{python}" "{CHECK}" launch "$@"\n')
    shim.chmod(0o755)
    return python, work / "processor", bin_dir


def launch(easyr1: tuple[Path, Path, Path], script: Path,
           *overrides: str) -> subprocess.CompletedProcess:
    """Run ``script`` (a ``train_grpo.sh``) from the vendored EasyR1 checkout, one batch of
    2 rows per loader (the ``$@`` the script passes on)."""
    python, processor, bin_dir = easyr1
    return subprocess.run(
        ["bash", str(script), "data.rollout_batch_size=2", "data.val_batch_size=2",
         *overrides], capture_output=True, text=True, cwd=UPSTREAM, timeout=600,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", **OFFLINE, "HOME": str(Path.home()),
             "MODEL_PATH": str(processor), "N_GPUS": "1"})


def clip_frames(run: Path) -> dict[str, int]:
    """Frames of each clip of the run, by resolved path."""
    out = {}
    for record in read_records(run / "records.jsonl"):
        for segment in (record.past, record.future):
            out[str((run / segment.path).resolve())] = segment.frame_count
    return out


# ------------------------------------------------------------------------ settings only


def test_launch_settings_keep_min_pixels_at_most_max_pixels() -> None:
    assert launch_settings() == LaunchSettings(video_fps=2.0, min_pixels=MIN_PIXELS,
                                               max_pixels=16384)
    clips = VideoSampling(fps=1.5, max_pixels=2000, fps_from_clips=True,
                          max_pixels_from_clips=True)
    assert launch_settings(clips) == LaunchSettings(1.5, 2000, 2000)
    with pytest.raises(ValueError, match="data.min_pixels 262144"):
        LaunchSettings(video_fps=2.0, min_pixels=262144, max_pixels=16384)


@pytest.mark.parametrize("data_format", ["jsonl", "parquet", "frames"])
def test_script_takes_the_clip_values(clip_run: Path, tmp_path: Path, data_format: str) -> None:
    out = export(clip_run, tmp_path / data_format, "--format", data_format)
    values = script_values(out / "train_grpo.sh")
    assert values["video_fps"] == str(CLIP_FPS)
    assert values["max_pixels"] == str(CLIP_MAX_PIXELS)
    assert int(values["min_pixels"]) == MIN_PIXELS <= CLIP_MAX_PIXELS
    suffix = ".jsonl" if data_format == "jsonl" else ".parquet"
    assert values["train_files"] == f'"{(out / ("nep_train" + suffix)).resolve()}"'
    assert values["val_files"] == f'"{(out / ("nep_train_validation" + suffix)).resolve()}"'


def test_format_switch_leaves_no_stale_data_file(clip_run: Path, tmp_path: Path) -> None:
    out = export(clip_run, tmp_path / "r1")
    assert (out / "nep_train.jsonl").is_file()
    export(clip_run, out, "--format", "parquet")
    assert sorted(p.name for p in out.iterdir()) == [
        "nep_format.jinja", "nep_train.parquet", "nep_train_validation.parquet",
        "train_grpo.sh"]


def test_format_is_refused_for_other_targets_and_unknown_layouts(clip_run: Path,
                                                                 tmp_path: Path) -> None:
    result = invoke("export", str(clip_run), "--target", "llamafactory", "--out",
                    str(tmp_path / "lf"), "--format", "parquet")
    assert result.exit_code == 2 and "is for --target easyr1" in " ".join(result.output.split())
    result = invoke("export", str(clip_run), "--target", "easyr1", "--out",
                    str(tmp_path / "r1"), "--format", "csv")
    assert result.exit_code == 2 and "not an EasyR1 layout" in " ".join(result.output.split())


def test_frames_rows(clip_run: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq
    from PIL import Image

    out = export(clip_run, tmp_path / "frames", "--format", "frames", "--frames", "5")
    table = pq.read_table(out / "nep_train.parquet")
    assert table.column_names == ["problem", "answer", "images"]
    meta = json.loads(table.schema.metadata[b"huggingface"])
    assert meta["info"]["features"]["images"] == {"feature": {"_type": "Image"},
                                                  "_type": "List"}
    for row in table.to_pylist():
        assert 1 <= len(row["images"]) <= 5
        assert row["problem"].startswith("<image>" * len(row["images"]))
        assert "<image>" not in row["problem"][len("<image>") * len(row["images"]):]
        for image in row["images"]:
            with Image.open(io.BytesIO(image["bytes"])) as picture:
                assert picture.format == "JPEG"
                assert picture.width * picture.height <= CLIP_MAX_PIXELS


# ------------------------------------------------------------------ EasyR1's own code


def check_video_batches(got: dict, run: Path) -> None:
    data = got["data"]
    assert data["min_pixels"] <= data["max_pixels"] == CLIP_MAX_PIXELS
    assert data["video_fps"] == CLIP_FPS and data["min_pixels"] == MIN_PIXELS
    assert data["prompt_key"] == "problem" and data["video_key"] == "videos"
    assert got["reward"]["name"] == "compute_score"
    assert got["reward"]["function"].endswith("rewards/engines/easyr1_reward.py")
    assert got["video_backend"] == "decord"
    frames = clip_frames(run)
    assert got["videos"], "no video reached the loaders"
    for video, seen in got["videos"].items():
        # data.video_fps == the clips' fps: qwen-vl-utils keeps every clip frame (an even
        # count: its FRAME_FACTOR 2), and each frame within [min_pixels, max_pixels]
        n, _, height, width = seen["frames"]
        assert n == frames[video] - frames[video] % 2, (video, seen, frames[video])
        assert data["min_pixels"] <= height * width <= data["max_pixels"]
        assert seen["grid_thw"] == [n // 2, height // 14, width // 14]
    for name in ("train", "val"):
        batch = got["batches"][name]
        length = data["max_prompt_length"]
        assert batch["tensors"] == {
            "input_ids": {"shape": [2, length], "dtype": "torch.int64"},
            "attention_mask": {"shape": [2, length], "dtype": "torch.int64"},
            "position_ids": {"shape": [2, 4, length], "dtype": "torch.int64"}}
        for row in batch["rows"]:
            assert len(row["videos"]) == 1 and row["image_tokens"] == 0
            grid = got["videos"][row["videos"][0]]
            assert row["video_tokens"] == grid["tokens"] > 0  # the prompt holds its video
            assert row["ground_truth"]


@pytest.mark.parametrize("data_format", ["jsonl", "parquet"])
def test_easyr1_launch_reaches_the_first_batch(clip_run: Path, tmp_path: Path, easyr1,
                                               data_format: str) -> None:
    out = export(clip_run, tmp_path / data_format, "--format", data_format)
    proc = launch(easyr1, out / "train_grpo.sh")
    got = result_of(proc, f"EasyR1 launch of {out / 'train_grpo.sh'}")
    suffix = ".jsonl" if data_format == "jsonl" else ".parquet"
    assert got["data"]["train_files"] == str((out / f"nep_train{suffix}").resolve())
    assert got["versions"]["transformers"] == "4.57.6"
    assert got["versions"]["qwen-vl-utils"] == "0.0.14"
    check_video_batches(got, clip_run)


def test_without_min_pixels_the_dataset_build_fails(clip_run: Path, tmp_path: Path,
                                                    easyr1) -> None:
    """The script as it was before the fix (no ``data.min_pixels``): EasyR1's config keeps
    ``min_pixels: 262144`` above ``data.max_pixels`` and qwen-vl-utils stops."""
    out = export(clip_run, tmp_path / "old")
    script = out / "train_grpo.sh"
    text = script.read_text()
    assert "    data.min_pixels=" in text
    old = tmp_path / "old_train_grpo.sh"
    old.write_text("".join(line for line in text.splitlines(keepends=True)
                           if "data.min_pixels=" not in line))
    proc = launch(easyr1, old)
    assert proc.returncode != 0
    assert "max_pixels of image must be greater than or equal to min_pixels" in proc.stderr


def test_frames_launch_and_the_nep_fork_read_the_frames(clip_run: Path, tmp_path: Path,
                                                        easyr1) -> None:
    out = export(clip_run, tmp_path / "frames", "--format", "frames", "--frames", "6")
    got = result_of(launch(easyr1, out / "train_grpo.sh"), "EasyR1 launch (frames)")
    data = got["data"]
    assert data["image_key"] == "images" and data["min_pixels"] <= data["max_pixels"]
    assert got["images"]
    for image in got["images"]:
        width, height = image["size"]
        assert data["min_pixels"] <= width * height <= data["max_pixels"]
    for name in ("train", "val"):
        for row in got["batches"][name]["rows"]:
            assert 1 <= row["images"] <= 6 and row["video_tokens"] == 0
            assert row["image_tokens"] == sum(t * h * w // 4 for t, h, w in row["grids"])

    python, processor, _ = easyr1
    proc = run_in(python, str(CHECK), "fork", str(out / "nep_train.parquet"), str(processor),
                  str(data["min_pixels"]), str(data["max_pixels"]))
    fork = result_of(proc, "the NEP fork's RLHFDataset")
    assert len(fork["rows"]) == 2
    for row in fork["rows"]:
        assert 1 <= row["images"] <= 6
        assert row["image_tokens"] == row["grid_tokens"] > 0
        assert all(data["min_pixels"] <= w * h <= data["max_pixels"] for w, h in row["sizes"])
        assert row["ground_truth"]
    assert fork["batch"]["input_ids"]["shape"][0] == 2

