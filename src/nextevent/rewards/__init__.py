"""Rewards for next-event prediction: format, multiple-choice accuracy, think-answer
consistency (weight 0 unless set) and the open-ended NEP reward, plus adapters that
EasyR1, verl and TRL load (`nextevent.rewards.engines`).

Importing this package is cheap: torch and sentence-transformers load only when the
open-ended reward first embeds text (``pip install 'nextevent[rewards]'``).
"""

from nextevent.rewards.breakdown import RewardBreakdown
from nextevent.rewards.consistency import (
    Consistency,
    check_consistency,
    consistency_reward,
    think_conclusion,
    think_text,
)
from nextevent.rewards.format import extract_answer, format_reward, prediction_text
from nextevent.rewards.mcq import LETTERS, ExtractMode, answer_span, extract_choice, mcq_accuracy
from nextevent.rewards.open_ended import CONTENT_COMPONENTS, DEFAULT_WEIGHTS, Judge, NEPReward
from nextevent.rewards.rouge import rouge_l

__all__ = [
    "CONTENT_COMPONENTS",
    "Consistency",
    "DEFAULT_WEIGHTS",
    "LETTERS",
    "ExtractMode",
    "Judge",
    "NEPReward",
    "RewardBreakdown",
    "answer_span",
    "check_consistency",
    "consistency_reward",
    "extract_answer",
    "extract_choice",
    "format_reward",
    "mcq_accuracy",
    "prediction_text",
    "rouge_l",
    "think_conclusion",
    "think_text",
]
