"""Question pools for next-event and previous-event prediction prompts.

V1 (Wang et al., arXiv 2505.22457, Sec. 4, training strategies) asks each SFT sample one
question drawn from a pool of paraphrases, so the model learns the task rather than one
phrasing. These pools are written for nextevent; none is copied from V1's scripts.

A record's question is chosen with ``random.Random(f"{seed}:{record_id}")``: the same
record gets the same question for a seed whatever order records come in, and a different
seed reshuffles the choice. The questions hold no ``<video>`` placeholder; exporters add it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

NEP_QUESTIONS: tuple[str, ...] = (
    "What happens next in the video?",
    "Watch the clip and predict the events that come right after it ends.",
    "The video stops here. Describe what most likely happens afterwards.",
    "Based on what you have seen so far, how does the scene continue?",
    "Predict the rest of the video: what takes place after this clip?",
    "If the video kept playing, what would we see next?",
    "Given the actions shown so far, describe the events that follow.",
    "This is the first part of a longer video. What happens in the remaining part?",
    "How does the activity in this clip carry on after the last frame?",
    "Forecast the next events in this video and describe them.",
    "What do the people or objects in the video do after this point?",
    "Continue the story of this video: what occurs after the clip ends?",
    "From the events shown, infer what the video shows next.",
    "Describe the most likely continuation of this video.",
    "What is the next thing that happens once this clip is over?",
    "The clip is cut short. Tell me what happens in the part that was cut off.",
    "Think about where the action is heading. What happens next?",
    "After the final moment of this clip, what takes place?",
    "Using the clip as context, predict and describe the upcoming events.",
    "What will the video show after this segment?",
    "Reason about the sequence so far and describe what comes after it.",
)
"""Next-event prediction: the model sees the past segment and describes the future."""

PREV_QUESTIONS: tuple[str, ...] = (
    "What happened before this part of the video?",
    "This clip starts partway through a video. Describe what happened earlier.",
    "Infer the events that led up to the start of this clip.",
    "What took place in the video before the moment this clip begins?",
    "Describe the earlier part of the video that this clip continues from.",
    "Working backwards from what you see, what must have happened first?",
    "What events came before the first frame of this clip?",
    "Reconstruct the beginning of this video: what happened before this segment?",
    "Given how this clip begins, what was going on just before it?",
    "This is the second half of a video. What happens in the first half?",
    "How did the scene get to this point? Describe the preceding events.",
    "What did the people or objects in the video do before this point?",
    "Explain what most likely happened earlier in the video.",
    "Predict the part of the video that comes before this clip.",
    "Before this segment starts, what does the video show?",
    "What sequence of events set up what you see in this clip?",
    "Describe the lead-up to the events in this clip.",
    "Tell me what happened in the video prior to this segment.",
    "Infer and describe the earlier events that this clip follows.",
    "What came first in this video, before the part shown here?",
)
"""Previous-event prediction (abduction): the model sees the future segment and describes
the past."""


CAPTION_QUESTIONS: tuple[str, ...] = (
    "Describe this video in detail.",
    "Write a detailed caption for the whole video.",
    "What happens in this video, from start to finish?",
    "Give a detailed account of the events in this video, in order.",
    "Summarise everything the video shows, step by step.",
    "Narrate the video: describe each event as it happens.",
    "Provide a thorough description of the video.",
    "Describe the people, objects and actions in this video in the order they appear.",
)
"""Full-video captioning (the captioning control of V1 Sec. 4): the model sees the whole
video and describes it."""

WHATS_NEXT_QUESTIONS: tuple[str, ...] = (
    'The video has just shown this: "{event}" What happens next? Describe the rest of the '
    "video in detail.",
    'After the moment where "{event}", what does the video show? Describe it.',
    'Right after "{event}", how do the events of the video continue?',
    'Given that the video just showed "{event}", describe the events that follow.',
    'Scene: "{event}" Describe what happens after this scene in the video.',
    'Find the moment where "{event}" and describe everything that happens after it.',
)
"""Full-video what-happens-next (V1's ``full_video_what_happens_next`` control): the model
sees the whole video and is told the last past scene; ``{event}`` is that scene's text."""


def pick_question(pool: Sequence[str], record_id: str, seed: int = 0) -> str:
    """One question from ``pool`` for ``record_id``, stable for a given ``seed``.

    Raises:
        ValueError: when ``pool`` is empty.
    """
    if not pool:
        raise ValueError("question pool is empty")
    return random.Random(f"{seed}:{record_id}").choice(list(pool))


def nep_question(record_id: str, seed: int = 0) -> str:
    """A next-event prediction question for a record (from `NEP_QUESTIONS`)."""
    return pick_question(NEP_QUESTIONS, record_id, seed)


def prev_question(record_id: str, seed: int = 0) -> str:
    """A previous-event prediction question for a record (from `PREV_QUESTIONS`)."""
    return pick_question(PREV_QUESTIONS, record_id, seed)


def caption_question(record_id: str, seed: int = 0) -> str:
    """A full-video captioning question for a record (from `CAPTION_QUESTIONS`)."""
    return pick_question(CAPTION_QUESTIONS, record_id, seed)


def whats_next_question(record_id: str, event: str, seed: int = 0) -> str:
    """A full-video what-happens-next question quoting ``event`` (the last past scene's
    text), from `WHATS_NEXT_QUESTIONS`."""
    return pick_question(WHATS_NEXT_QUESTIONS, record_id, seed).format(event=event.strip())
