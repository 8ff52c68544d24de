"""Video-T3: text-only temporal reasoning data that transfers to video.

Li et al., "Temporal Reasoning Transfer from Text to Video", arXiv 2410.06166, Sec. 3:
the temporal bottleneck of video LLMs is in the language decoder, and text-only temporal
tasks about videos written as text (``Frame 1: ...``) fix much of it. This package
synthesizes those tasks from any timed event sequence (the importers of
`nextevent.sources`, or a run's records) or from independent image captions composed into
pseudo-videos, in the four aspects:

* **order** (`nextevent.t3.order`): which of two events comes first; the order of k
  shuffled events;
* **attribute** (`nextevent.t3.attribute`): how a property computed from the timestamps
  (the event in progress; the count of events shown so far) changes across frames;
* **referring** (`nextevent.t3.referring`): what happens right before / after an event;
* **grounding** (`nextevent.t3.grounding`): at which frames / in which time span an
  event is seen;

each with several templates, multiple-choice and open answers. `nextevent.t3.tokens`
counts tokens for length filtering, `nextevent.t3.stats` draws histograms and
`nextevent.t3.mix` mixes the items with general instruction data into a LLaMA-Factory
dataset. Typical use::

    timelines, skipped = timelines_from_annotations(load_annotations(path, "activitynet")
                                                    .annotations)
    result = synthesize(timelines, SynthConfig(seed=0, num=10_000))
    write_items(result.items, "T3.jsonl")
"""

from __future__ import annotations

from nextevent.t3.frames import compose_pseudo_videos, read_captions
from nextevent.t3.items import ASPECTS, FORMS, Orbit, Question, T3Item, make_items
from nextevent.t3.mix import mix_files, mix_samples, read_general, write_mix
from nextevent.t3.stats import length_stats, write_stats
from nextevent.t3.synth import (
    TASKS,
    SynthConfig,
    SynthResult,
    read_items,
    synthesize,
    timelines_from_annotations,
    timelines_from_records,
    write_items,
)
from nextevent.t3.timeline import Segment, Timeline, TimelineError, timeline_from_events
from nextevent.t3.tokens import TokenCounter, load_counter

__all__ = [
    "ASPECTS",
    "FORMS",
    "TASKS",
    "Orbit",
    "Question",
    "Segment",
    "SynthConfig",
    "SynthResult",
    "T3Item",
    "Timeline",
    "TimelineError",
    "TokenCounter",
    "compose_pseudo_videos",
    "length_stats",
    "load_counter",
    "make_items",
    "mix_files",
    "mix_samples",
    "read_captions",
    "read_general",
    "read_items",
    "synthesize",
    "timeline_from_events",
    "timelines_from_annotations",
    "timelines_from_records",
    "write_items",
    "write_mix",
    "write_stats",
]
