"""Train/validation split by video: no video has samples on both sides.

Several records (splits) and samples (strategies, QA pairs) can come from one video; a
split by sample would leak the video's content into validation. Videos are ranked by
``sha256(f"{seed}:split:{video_id}")`` and the first ``round(val_fraction * n_videos)``
go to validation, so the split is deterministic, does not depend on input order, and the
same seed gives the same validation videos for every strategy and target.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from nextevent.export.strategies import Sample
from nextevent.records import NextEventError


@dataclass
class SplitSamples:
    """Samples split by video.

    Attributes:
        train, validation: the samples of each side, in input order.
        validation_videos: the video ids on the validation side, sorted.
    """

    train: list[Sample]
    validation: list[Sample]
    validation_videos: list[str]

    def parts(self) -> list[tuple[str, list[Sample]]]:
        """``[("train", ...), ("validation", ...)]``, leaving out an empty validation."""
        parts = [("train", self.train)]
        if self.validation:
            parts.append(("validation", self.validation))
        return parts


def split_by_video(samples: Sequence[Sample], val_fraction: float = 0.0, seed: int = 0
                   ) -> SplitSamples:
    """Split ``samples`` into train and validation by video id.

    Args:
        samples: the samples (any strategy).
        val_fraction: share of the *videos* for validation, in [0, 1). With a positive
            fraction at least one video goes to each side.
        seed: the split seed.

    Raises:
        ValueError: when ``val_fraction`` is outside [0, 1).
        NextEventError: (stage ``export``) when a positive fraction is asked of samples
            from fewer than two videos.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    if val_fraction == 0.0:
        return SplitSamples(list(samples), [], [])
    videos = sorted({s.video_id for s in samples})
    if len(videos) < 2:
        raise NextEventError(
            "export",
            f"--val-fraction {val_fraction} needs samples from at least 2 videos; "
            f"these come from {len(videos)}",
            "export more videos, or leave --val-fraction at 0",
        )
    ranked = sorted(videos, key=lambda v: hashlib.sha256(f"{seed}:split:{v}".encode()).digest())
    n_val = min(len(videos) - 1, max(1, round(val_fraction * len(videos))))
    val_videos = set(ranked[:n_val])
    return SplitSamples(
        train=[s for s in samples if s.video_id not in val_videos],
        validation=[s for s in samples if s.video_id in val_videos],
        validation_videos=sorted(val_videos),
    )
