"""Reward files that training engines load by path, and what they share.

Each engine imports a custom reward from a Python file it is pointed at (it does not
import a package), so each adapter here is a self-standing file that imports
`nextevent.rewards` (installed with ``pip install 'nextevent[rewards]'``):

=========  ======================  =================================================
engine     file                    point the engine at it
=========  ======================  =================================================
EasyR1     ``easyr1_reward.py``    ``worker.reward.reward_function=<path>:compute_score``
                                   (``:compute_score_mcq`` for FutureBench-style MCQ)
verl       ``verl_reward.py``      ``custom_reward_function.path=<path>``,
                                   ``custom_reward_function.name=compute_score`` (or
                                   ``compute_score_batch`` with
                                   ``reward_model.reward_manager=batch``)
TRL        ``trl_rewards.py``      ``GRPOTrainer(reward_funcs=[nep_reward, format_reward])``
=========  ======================  =================================================

`adapter_path` gives the absolute path of a file for a launch script or config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Engine = Literal["easyr1", "verl", "trl"]

ADAPTER_FILES: dict[str, str] = {
    "easyr1": "easyr1_reward.py",
    "verl": "verl_reward.py",
    "trl": "trl_rewards.py",
}
"""The reward file of each engine, in this folder."""

DATA_SOURCE_NEP = "nextevent/nep"
"""verl ``data_source`` of open-ended next-event prediction rows (reference: caption_part2)."""

DATA_SOURCE_MCQ = "nextevent/mcq"
"""verl ``data_source`` of multiple-choice rows (reference: the option letter)."""


def adapter_path(engine: Engine) -> Path:
    """Absolute path of ``engine``'s reward file.

    Raises:
        ValueError: for an engine without an adapter (lists the ones there are).
    """
    if engine not in ADAPTER_FILES:
        raise ValueError(
            f"no reward adapter for engine {engine!r}; choose one of {sorted(ADAPTER_FILES)}"
        )
    return Path(__file__).resolve().parent / ADAPTER_FILES[engine]
