"""One scored response: the overall reward and the parts it is made of."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RewardBreakdown:
    """The reward of one response, as the engines log it.

    Attributes:
        overall: the reward the trainer optimises, in [0, 1]: the weighted mean of the
            components with a non-zero weight (format included).
        format: the format reward (`nextevent.rewards.format.format_reward`), 0 or 1.
        accuracy: the task score in [0, 1] without the format part: MCQ correctness, or
            for the open-ended reward the weighted mean of its content components.
        components: each content component's score in [0, 1] (``similarity``,
            ``rouge_l``, ``judge`` for the open-ended reward; ``consistency``, the
            think-answer consistency of `nextevent.rewards.consistency`, for a
            multiple-choice reward given a positive ``consistency_weight``); only those
            computed.
        answer: the text that was scored (the ``<answer>`` content, the extracted letter,
            or "" when none).
    """

    overall: float
    format: float
    accuracy: float
    components: dict[str, float] = field(default_factory=dict)
    answer: str = ""

    def as_dict(self) -> dict[str, float]:
        """Flat float scores: ``overall``, ``format``, ``accuracy`` and each component.

        This is the dict EasyR1 and verl log per key (the text ``answer`` is left out:
        engines average these values)."""
        return {
            "overall": self.overall,
            "format": self.format,
            "accuracy": self.accuracy,
            **self.components,
        }
