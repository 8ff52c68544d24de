"""Two rules that keep T3 items clean: events that overlap in the raw annotation, and
texts that say the same thing.

* **Raw overlap**: two events whose spans *as annotated* (before the importer trims an
  overlap, `nextevent.sources.clean` step 6) overlap by temporal IoU ``>= 0.5`` describe
  largely the same moment; "which comes first" or "what happens right after" between
  them has no clean answer, so they are never asked about together (`RAW_IOU_MAX`).
* **Near-duplicate texts**: two event texts whose normalised forms have a similarity
  ``>= 0.9`` (`NEAR_DUPLICATE`) read as the same event ("The credits of the video are
  shown." vs "The credits of a video are shown."; "He does a flip." vs "She does a
  flip."). They are never two options of one item, never the named event and an option,
  and an event with a near-duplicate elsewhere in the video is not named (its name would
  be ambiguous).

Normalisation (`normalise`): lower case; every run of characters other than letters and
digits becomes one space; the articles ``a``, ``an``, ``the`` are dropped; personal
pronouns (he, she, they, him, her, them, his, hers, their, theirs, himself, herself,
themselves) all become ``they``. Similarity is `difflib.SequenceMatcher.ratio` of the two
normalised strings (``2 M / T`` over characters, 1.0 for equal strings).
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from functools import lru_cache

RAW_IOU_MAX = 0.5
"""Events whose raw spans overlap by IoU at or above this are never paired."""
NEAR_DUPLICATE = 0.9
"""Texts at or above this normalised similarity are near-duplicates."""

_NON_WORD = re.compile(r"[^a-z0-9]+")
_ARTICLES = frozenset({"a", "an", "the"})
_PRONOUNS = frozenset({"he", "she", "they", "him", "her", "them", "his", "hers", "their",
                       "theirs", "himself", "herself", "themselves"})


@lru_cache(maxsize=1 << 16)
def normalise(text: str) -> str:
    """``text`` in the form near-duplicates are compared in (module docstring)."""
    out = []
    for word in _NON_WORD.sub(" ", text.lower()).split():
        if word in _ARTICLES:
            continue
        out.append("they" if word in _PRONOUNS else word)
    return " ".join(out)


@lru_cache(maxsize=1 << 18)
def _ratio(a: str, b: str) -> float:
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < NEAR_DUPLICATE or matcher.quick_ratio() < NEAR_DUPLICATE:
        return matcher.quick_ratio()  # an upper bound, already below the threshold
    return matcher.ratio()


def similarity(a: str, b: str) -> float:
    """Normalised similarity of two texts in ``[0, 1]`` (module docstring). Below
    `NEAR_DUPLICATE` the value may be an upper bound rather than the exact ratio."""
    na, nb = normalise(a), normalise(b)
    if na == nb:
        return 1.0
    if not na or not nb:
        return 0.0
    return _ratio(na, nb) if na < nb else _ratio(nb, na)


def near_duplicate(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are near-duplicates (similarity >= `NEAR_DUPLICATE`)."""
    return similarity(a, b) >= NEAR_DUPLICATE


def any_near_duplicate(texts: list[str]) -> bool:
    """True when two of ``texts`` are near-duplicates (or equal)."""
    return any(near_duplicate(texts[i], texts[j])
               for i in range(len(texts)) for j in range(i + 1, len(texts)))


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Temporal IoU of two spans ``(start_s, end_s)``: intersection over union of the
    intervals, 0 when the union is empty."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0
