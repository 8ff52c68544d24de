"""Text comparisons of the FutureBench builder: near duplicates, containment, words.

Two event sentences are *similar* (`similar`) when, after `normalize` (lower case, no
punctuation), they are equal or difflib's ``SequenceMatcher`` ratio (Ratcliff/Obershelp:
``2 * matches / total length``) reaches `NEAR_DUPLICATE` (0.9), on the normalised text
or on its `canonical` form, in which he/she/his/her (and man/woman, boy/girl) read as one
word and the articles a/an/the are dropped: "The credits of the video are shown." and
"The credits of a video are shown." are the same option, and so are "He does..." and
"She does...". They are *near duplicates* (`near_duplicate`) when similar or when one
contains the other on word boundaries.

Content words (`content_words`) are lower-case words minus a short English stopword
list; the group checks of `nextevent.bench.groups` compare texts by them.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from functools import lru_cache

_NON_WORD = re.compile(r"[^\w\s]")
_WORD = re.compile(r"[a-z0-9]+")

NEAR_DUPLICATE = 0.9
"""Ratio at or above which two normalised texts are the same (fraction)."""

_PERSON = {"he": "_p", "she": "_p", "him": "_p", "her": "_p", "his": "_p", "hers": "_p",
           "himself": "_p", "herself": "_p", "man": "_m", "woman": "_m", "boy": "_b",
           "girl": "_b", "men": "_ms", "women": "_ms"}
_ARTICLES = frozenset({"a", "an", "the"})

STOPWORDS: frozenset[str] = frozenset(str.split("""
a an the and or but nor so yet of to in on at by for with from into onto over under up
down out off about as than then that this these those there here it its is are was were
be been being am has have had do does did will would can could should may might must
he she they we you i him her them us me his hers their our your my who whom which what
when where while not no just also very too again once s t
"""))
"""Words that carry no content for the group checks (a short list on purpose)."""


@lru_cache(maxsize=1 << 18)
def normalize(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed: the form options are compared
    in."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


@lru_cache(maxsize=1 << 16)
def canonical(text: str) -> str:
    """`normalize`, then he/she/him/her/his/hers (and man/woman, boy/girl) folded into one
    token each and the articles a/an/the dropped."""
    return " ".join(_PERSON.get(w, w) for w in normalize(text).split() if w not in _ARTICLES)


@lru_cache(maxsize=1 << 18)
def content_words(text: str) -> frozenset[str]:
    """Lower-case words of ``text`` minus `STOPWORDS`."""
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in STOPWORDS)


def ratio_at_least(a: str, b: str, threshold: float = NEAR_DUPLICATE) -> bool:
    """Whether difflib's ``SequenceMatcher(None, a, b).ratio()`` (0-1, 1 = equal) is
    >= ``threshold``; its cheap upper bounds are tried first."""
    if a == b:
        return True
    if 2 * min(len(a), len(b)) < threshold * (len(a) + len(b)):
        return False  # the ratio is at most 2 * min / (len a + len b)
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return (matcher.real_quick_ratio() >= threshold and matcher.quick_ratio() >= threshold
            and matcher.ratio() >= threshold)


def contains(haystack: str, needle: str) -> bool:
    """Whether normalised ``needle`` occurs in normalised ``haystack`` on word boundaries
    (an empty needle is never contained)."""
    n, h = normalize(needle), normalize(haystack)
    return bool(n) and f" {n} " in f" {h} "


@lru_cache(maxsize=1 << 18)
def similar(a: str, b: str, threshold: float = NEAR_DUPLICATE) -> bool:
    """Whether the ratio of two texts reaches ``threshold`` on their normalised or their
    `canonical` form (equal forms included)."""
    na, nb = normalize(a), normalize(b)
    if na == nb:
        return True
    ca, cb = canonical(a), canonical(b)
    return ca == cb or ratio_at_least(na, nb, threshold) or ratio_at_least(ca, cb, threshold)


@lru_cache(maxsize=1 << 18)
def near_duplicate(a: str, b: str, threshold: float = NEAR_DUPLICATE) -> bool:
    """Whether two texts read as the same (module docstring): `similar`, or one
    contains the other (normalised or canonical, on word boundaries)."""
    if similar(a, b, threshold):
        return True
    na, nb, ca, cb = normalize(a), normalize(b), canonical(a), canonical(b)
    return (contains(na, nb) or contains(nb, na) or contains(ca, cb) or contains(cb, ca))
