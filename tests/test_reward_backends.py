"""Embedding backends of the open-ended reward: ONNX Runtime on the cached ONNX export of
the shipped all-MiniLM-L6-v2 against the PyTorch reference, on real ActivityNet pairs;
the export cache (reused, atomic, survives a killed export); choosing a backend and the
errors when its packages are missing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nextevent.rewards import NEPReward
from nextevent.rewards import backends as be
from nextevent.rewards.embedding import SentenceSimilarity, minilm_path

pytest.importorskip("onnxruntime", reason="the ONNX backends need the rewards extra")

ONNX_BOUNDS = {"onnx": (0.99999, 1e-4), "onnx-int8": (0.999, 0.1)}
"""Per backend: (least Pearson, largest |difference|) of similarity against torch."""


def final_name(path: Path, variant: str = "fp32") -> str:
    """The cache folder name of a finished export."""
    return f"{be.model_digest(path)}-{variant}-v{be.EXPORT_VERSION}"


@pytest.fixture(scope="module")
def pairs(annotations: Path) -> tuple[list[str], list[str]]:
    """300 real (prediction, caption_part2) pairs from ActivityNet Captions val: each video
    with 3+ events cut after its first half; the prediction is the true next event, the
    last past event, another video's future, or the first half of the reference."""
    raw = json.loads((annotations / "activitynet_val_subset.json").read_text())
    futures = []
    for vid in sorted(raw):
        sentences = [" ".join(s.split()) for s in raw[vid]["sentences"]]
        if len(sentences) >= 3:
            k = len(sentences) // 2
            futures.append((sentences[:k], sentences[k:]))
    preds, refs = [], []
    for i in range(300):
        past, future = futures[i % len(futures)]
        reference = " ".join(future)
        words = reference.split()
        choices = [future[0], past[-1], " ".join(futures[(i + 7) % len(futures)][1]),
                   " ".join(words[: max(1, len(words) // 2)])]
        preds.append(choices[i % 4])
        refs.append(reference)
    return preds, refs


@pytest.fixture(scope="module")
def torch_scores(pairs: tuple[list[str], list[str]]) -> np.ndarray:
    return np.array(SentenceSimilarity(backend="torch")(*pairs))


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_onnx_scores_agree_with_torch(
    backend: str, pairs: tuple[list[str], list[str]], torch_scores: np.ndarray
) -> None:
    sim = SentenceSimilarity(backend=backend)
    scores = np.array(sim(*pairs))
    least_r, most_diff = ONNX_BOUNDS[backend]
    assert np.corrcoef(scores, torch_scores)[0, 1] >= least_r
    assert np.abs(scores - torch_scores).max() < most_diff
    assert torch_scores.std() > 0.15  # the pairs span the range: agreement is not trivial
    emb = sim.encode(pairs[1][:3])
    assert emb.shape == (3, 384)
    assert np.allclose(np.linalg.norm(emb.numpy(), axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_onnx_score_does_not_depend_on_the_batch(
    backend: str, pairs: tuple[list[str], list[str]]
) -> None:
    preds, refs = pairs[0][:40], pairs[1][:40]
    together = SentenceSimilarity(backend=backend, batch_size=16)(preds, refs)
    alone = [SentenceSimilarity(backend=backend)([p], [r])[0]
             for p, r in zip(preds[:8], refs[:8], strict=True)]
    assert together[:8] == pytest.approx(alone, abs=1e-5)


def test_export_is_cached_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = minilm_path()
    stale = tmp_path / "nextevent" / "onnx" / ".tmp-killed-export"
    stale.mkdir(parents=True)
    (stale / "model.onnx").write_bytes(b"half a model")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))

    first = be.exported_model(path, "fp32")
    assert first.parent.parent == tmp_path / "nextevent" / "onnx"
    assert first.parent.name == final_name(path)
    meta = json.loads((first.parent / "export.json").read_text())
    assert meta["source"] == str(path.resolve()) and meta["versions"]["onnxruntime"]
    assert not stale.exists()  # a killed export's leftovers are cleared
    assert not list(first.parent.parent.glob(".tmp-*"))
    stamp = first.stat().st_mtime_ns

    def no_export(*args: object) -> None:
        raise AssertionError("the cached export should have been reused")

    monkeypatch.setattr(be, "_export_fp32", no_export)
    assert be.exported_model(path, "fp32") == first
    encoder = be.OnnxEncoder(path, "fp32")  # a new encoder, not the process-wide one
    assert encoder.onnx_path == first and first.stat().st_mtime_ns == stamp
    assert encoder.encode(["A man dives into the pool."]).shape == (1, 384)
    int8 = be.exported_model(path, "int8")  # quantized from the cached fp32 export
    assert int8.parent.name == final_name(path, "int8") and first.stat().st_mtime_ns == stamp
    assert int8.stat().st_size < 0.8 * first.stat().st_size  # int8 weights (embeddings fp32)


def test_failed_export_leaves_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    real = be._export_fp32

    def interrupted(model_path: Path, out: Path) -> None:
        out.write_bytes(b"the first bytes of a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(be, "_export_fp32", interrupted)
    with pytest.raises(KeyboardInterrupt):
        be.exported_model(minilm_path(), "fp32")
    assert not (tmp_path / "nextevent" / "onnx" / final_name(minilm_path())).exists()
    assert not list((tmp_path / "nextevent" / "onnx").glob(".tmp-*"))
    monkeypatch.setattr(be, "_export_fp32", real)
    assert be.exported_model(minilm_path(), "fp32").is_file()


def test_killed_export_is_never_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    env = {**os.environ}
    code = ("from nextevent.rewards.backends import exported_model; "
            "from nextevent.rewards.embedding import minilm_path; "
            "exported_model(minilm_path(), 'fp32')")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    root = tmp_path / "nextevent" / "onnx"
    deadline = time.monotonic() + 120
    while not list(root.glob(".tmp-*/raw.onnx")) and time.monotonic() < deadline:
        assert proc.poll() is None, "the export ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (root / final_name(minilm_path())).exists(), "a killed export left a model"
    assert list(root.glob(".tmp-*"))  # its temporary folder, removed an hour later
    assert be.exported_model(minilm_path(), "fp32").is_file()  # the lock was released


def test_choosing_a_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(be.BACKEND_ENV, raising=False)
    assert be.resolve_backend(None, "cpu") == "onnx"  # auto: onnxruntime and onnx installed
    assert be.resolve_backend("auto", "cuda") == "torch"
    assert NEPReward(backend="torch").similarity.backend == "torch"
    monkeypatch.setenv(be.BACKEND_ENV, "onnx-int8")  # engine-side reward files
    assert NEPReward().similarity.backend == "onnx-int8"
    assert NEPReward(backend="torch").similarity.backend == "torch"  # the argument wins
    monkeypatch.setenv(be.BACKEND_ENV, "tensorrt")
    with pytest.raises(ValueError, match="unknown reward backend 'tensorrt'.*REWARD_BACKEND"):
        NEPReward()
    with pytest.raises(ValueError, match="runs on the CPU"):
        be.resolve_backend("onnx", "cuda")


def test_missing_backend_package_names_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(be.BACKEND_ENV, raising=False)
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "onnxruntime", None)  # as if not installed
        with pytest.raises(ModuleNotFoundError,
                           match=r"needs onnxruntime.*pip install 'nextevent\[rewards\]'"):
            NEPReward(backend="onnx")
        m.setenv(be.BACKEND_ENV, "onnx-int8")
        with pytest.raises(ModuleNotFoundError, match="pip install onnxruntime onnx"):
            NEPReward()
        m.delenv(be.BACKEND_ENV)
        assert NEPReward().similarity.backend == "torch"  # auto falls back
    monkeypatch.setitem(sys.modules, "onnx", None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing cached: must export
    with pytest.raises(ModuleNotFoundError, match=r"needs onnx;.*nextevent\[rewards\]"):
        be.exported_model(minilm_path(), "fp32")
    assert be.resolve_backend(None, "cpu") == "torch"


def test_unwritable_cache_falls_back_or_names_the_folder(
    unusable_onnx_cache: Path, monkeypatch: pytest.MonkeyPatch,
    pairs: tuple[list[str], list[str]], torch_scores: np.ndarray,
    caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(be.BACKEND_ENV, raising=False)
    blocker = unusable_onnx_cache
    # auto: the same scores from torch, with a warning naming the folder
    sim = SentenceSimilarity()
    assert sim.backend == "onnx"
    with caplog.at_level("WARNING"):
        scores = np.array(sim(*pairs))
    assert sim.backend == "torch"
    assert np.abs(scores - torch_scores).max() < 1e-6
    assert str(blocker) in caplog.text and "using the torch backend" in caplog.text
    # asked for by name: one clear error, with the folder and what to do
    with pytest.raises(be.OnnxUnavailable, match=str(blocker)) as err:
        SentenceSimilarity(backend="onnx")(*pairs)
    assert "XDG_CACHE_HOME" in err.value.hint and "backend='torch'" in err.value.hint
    assert err.value.stage == "reward"


def test_damaged_cached_export_is_exported_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pairs: tuple[list[str], list[str]]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    model = be.exported_model(minilm_path(), "fp32")
    want = be.OnnxEncoder(minilm_path(), "fp32").encode(pairs[1][:20])
    model.write_bytes(model.read_bytes()[:1000])  # truncated after it was written
    encoder = be.OnnxEncoder(minilm_path(), "fp32")
    assert np.abs(encoder.encode(pairs[1][:20]) - want).max() < 1e-6
    assert encoder.onnx_path == model and model.stat().st_size > 1_000_000


def test_a_command_without_a_usable_onnx_cache_prints_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, annotations: Path,
    unusable_onnx_cache: Path
) -> None:
    """`bench build` embeds captions for its grouping: with the ONNX backend asked for and
    a cache folder that cannot be made, one error line and exit code 2, no traceback."""
    from typer.testing import CliRunner

    from nextevent.cli import app

    blocker = unusable_onnx_cache
    monkeypatch.setenv(be.BACKEND_ENV, "onnx")
    got = CliRunner().invoke(app, [
        "bench", "build", "--annotations", str(annotations / "activitynet_val_subset.json"),
        "--max-videos", "40", "--out", str(tmp_path / "bench")])
    assert got.exit_code == 2, got.output
    assert "error (reward): the onnx reward backend could not export" in got.output
    assert str(blocker) in got.output and "hint: set XDG_CACHE_HOME" in got.output
    assert isinstance(got.exception, SystemExit)  # typer's exit, not an escaped error
