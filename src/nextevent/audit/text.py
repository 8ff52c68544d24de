"""Text features of the blind audit: words, option parts, numbers.

Words are lower case runs of letters and digits (punctuation stripped, so ``woman's``
gives ``woman``), minus a small English stopword list (`STOPWORDS`: articles,
pronouns, auxiliaries, common prepositions and conjunctions), so "the" and "a" never make
two options look alike. Everything here is plain Python, cached by text.
"""

from __future__ import annotations

import re
from functools import lru_cache


def _wordlist(text: str) -> list[str]:
    return text.split()


STOPWORDS: frozenset[str] = frozenset(_wordlist("""
a an the and or but nor so yet of to in on at by for with from into onto over under up
down out off about as than then that this these those there here it its is are was were
be been being am has have had do does did will would can could should may might must
he she they we you i him her them us me his hers their our your my who whom which what
when where while s t not no just also very too again once
"""))
"""Words that do not count as shared content (a short list on purpose)."""

_WORD = re.compile(r"[a-z0-9]+")
_PART = re.compile(r"\((\d+)\)\s*")
_NUMBER = re.compile(r"\d+:\d{1,2}(?:\.\d+)?|\d+(?:\.\d+)?")
NUMBER_WORDS: dict[str, int] = {w: i for i, w in enumerate(_wordlist(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"))}
UNIT_WORDS: frozenset[str] = frozenset(_wordlist("""
frame frames from to at s sec secs second seconds min mins minute minutes h hour hours
time times and between event events step steps scene scenes about around after before
"""))
"""Words an option may have besides numbers and still count as numeric (``Frames 4 to
6``, ``From 12.5 s to 30.0 s``, ``3 times``)."""


@lru_cache(maxsize=1 << 18)
def words(text: str) -> frozenset[str]:
    """Content word set of ``text``: lower case, punctuation stripped, stopwords out."""
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in STOPWORDS)


@lru_cache(maxsize=1 << 18)
def tokens(text: str) -> tuple[str, ...]:
    """All lower-case words of ``text`` in order (stopwords kept: for positions)."""
    return tuple(_WORD.findall(text.lower()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """``|a & b| / |a | b|``; 0 for two empty sets."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


@lru_cache(maxsize=1 << 18)
def raw_parts(text: str) -> tuple[str, ...]:
    """The events of an option rendered ``(1) ... (2) ...`` (FutureBench,
    `nextevent.bench.distractors.render`) as written; ``(text,)`` for any other text."""
    pieces = _PART.split(text)  # ["", "1", event 1, "2", event 2, ...]
    if len(pieces) >= 5 and not pieces[0].strip():
        return tuple(e.strip() for e in pieces[2::2])
    return (text.strip(),)


_QUOTED = re.compile(r'"([^"]+)"')


@lru_cache(maxsize=1 << 18)
def embed_parts(text: str) -> tuple[str, ...]:
    """What stands for an option in embedding space (its vector is their mean): the
    events of a ``(1) ... (2) ...`` option, else the event descriptions of an option made
    of quotes and at most 3 other words (T3 ``From "..." to "..."``), else the whole
    text."""
    events = raw_parts(text)
    if len(events) > 1:
        return events
    quoted = tuple(q.strip() for q in _QUOTED.findall(text) if q.strip())
    if quoted and len(tokens(_QUOTED.sub(" ", text))) <= 3:
        return quoted
    return events


@lru_cache(maxsize=1 << 18)
def parts(text: str) -> tuple[str, ...]:
    """`raw_parts` normalised (lower case, words only, stopwords kept): the form in which
    events are compared across options."""
    return tuple(" ".join(tokens(e)) for e in raw_parts(text))


@lru_cache(maxsize=1 << 18)
def number_key(text: str) -> tuple[float, ...] | None:
    """The numbers of a numeric option in reading order (``MM:SS.ss`` as seconds, number
    words up to twenty), or None when the option has any word besides numbers and
    `UNIT_WORDS` (then it is not numeric)."""
    low = text.lower()
    values: list[float] = []
    for m in _NUMBER.finditer(low):
        tok = m.group()
        if ":" in tok:
            mins, secs = tok.split(":", 1)
            values.append(60 * float(mins) + float(secs))
        else:
            values.append(float(tok))
    rest = _NUMBER.sub(" ", low)
    for w in _WORD.findall(rest):
        if w in NUMBER_WORDS:
            values.append(float(NUMBER_WORDS[w]))
        elif w not in UNIT_WORDS:
            return None
    return tuple(values) if values else None


@lru_cache(maxsize=1 << 16)
def sentences(text: str) -> tuple[str, ...]:
    """``text`` split after ``.``, ``!`` or ``?`` followed by a space (empty parts
    dropped); the whole text when it has no such break."""
    out = tuple(s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip())
    return out or ((text.strip(),) if text.strip() else ())
