"""Blind baselines: each maps an item *without its key* to a letter, or abstains.

A baseline scores every option from what a model could read without the video (the
options, the question, the past caption) and picks the best score. Families (the gate of
`nextevent.audit.report` gives each its own margin):

* ``option-only``: the options alone (and, for presence in the question, the question):
  length, word and MiniLM centrality, shared event sets and positions, numeric rank.
* ``question-only``: similarity of each option to the question and to the end anchor.
* ``past-text``: similarity of each option to the past caption (FutureBench only).

Ties between the best options are broken by a random choice seeded by ``seed``, the
baseline name and the item's *content* (question, past, anchor, the option texts sorted),
never by letter order and never by the item id: the same unordered options always get
the same pick, whatever letters they sit under. When every option ties (nothing tells
them apart), or the feature does not apply (a non-numeric option for a numeric
baseline, no past caption), the baseline abstains (None); the scorer counts an abstention
as a random guess, ``1/len(options)``.

These are the artefact tests of multiple-choice benchmarks that must resist language
priors (Video-MME-style blind baselines; TVBench, Cores et al. 2024; VCR-Bench, 2025):
shortcuts from how distractors were built, not from the world. No function here reads
`AuditItem.answer`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from nextevent.audit.embed import TextVectors
from nextevent.audit.items import AuditItem
from nextevent.audit.text import (
    embed_parts,
    jaccard,
    number_key,
    parts,
    sentences,
    tokens,
    words,
)

OPTION_ONLY = "option-only"
QUESTION_ONLY = "question-only"
PAST_TEXT = "past-text"
MODEL = "model"
FAMILIES: tuple[str, ...] = (OPTION_ONLY, QUESTION_ONLY, PAST_TEXT, MODEL)

Score = float | tuple[float, ...]


class Features:
    """What the baselines read of one item, computed on first use.

    Args:
        item: the item (its ``answer`` is never read).
        vectors: the MiniLM vectors (`TextVectors`), already holding every text
            `embedding_texts` lists; None when no MiniLM baseline runs.
    """

    def __init__(self, item: AuditItem, vectors: TextVectors | None = None) -> None:
        self.letters = list(item.options)
        self.texts = [item.options[x] for x in self.letters]
        self.question = item.question
        self.past = item.past_text
        self.anchor = item.anchor
        self.vectors = vectors

    @cached_property
    def words(self) -> list[frozenset[str]]:
        return [words(t) for t in self.texts]

    @cached_property
    def parts(self) -> list[tuple[str, ...]]:
        return [parts(t) for t in self.texts]

    @cached_property
    def numbers(self) -> list[tuple[float, ...]] | None:
        keys = [number_key(t) for t in self.texts]
        return None if any(k is None for k in keys) else keys  # type: ignore[return-value]

    @cached_property
    def question_words(self) -> frozenset[str]:
        return words(self.question)

    @cached_property
    def question_vector(self) -> np.ndarray:
        assert self.vectors is not None
        return self.vectors.mean(question_parts(self.question))

    @cached_property
    def option_vectors(self) -> np.ndarray:
        assert self.vectors is not None
        return np.stack([self.vectors.mean(embed_parts(t)) for t in self.texts])

    def text_vector(self, text: str, split: bool = False) -> np.ndarray:
        assert self.vectors is not None
        return self.vectors.mean(sentences(text) if split else (text,))

    def tie_seed(self, seed: int, name: str) -> str:
        return "\x00".join([str(seed), name, self.question, self.past or "", self.anchor or "",
                            *sorted(self.texts)])


_QUOTED = re.compile(r'"([^"]+)"')


def question_parts(question: str) -> tuple[str, ...]:
    """What the MiniLM question baselines embed of a question: the event descriptions it
    quotes (``What happens after "..."?``; T3 and FutureBench interpolation questions),
    whose mean vector stands for the question, so the template's wording adds no noise and
    quoted events share encodings with the options; the whole question when it quotes
    nothing."""
    quoted = tuple(q.strip() for q in _QUOTED.findall(question) if q.strip())
    return quoted or (question,)


def embedding_texts(item: AuditItem, families: set[str]) -> list[str]:
    """The texts the MiniLM baselines of ``families`` encode for ``item``."""
    out = [p for t in item.options.values() for p in embed_parts(t)]
    if QUESTION_ONLY in families:
        out += list(question_parts(item.question))
        if item.anchor:
            out.append(item.anchor)
    if PAST_TEXT in families and item.past_text:
        out += list(sentences(item.past_text))
    return out


# ---------------------------------------------------------------- option-only scores

def _length_chars(f: Features) -> list[Score]:
    return [float(len(t.strip())) for t in f.texts]


def _length_words(f: Features) -> list[Score]:
    return [float(len(tokens(t))) for t in f.texts]


def _centrality_words(f: Features) -> list[Score]:
    n = len(f.texts)
    return [sum(sorted(jaccard(f.words[i], f.words[j]) for j in range(n) if j != i)) / (n - 1)
            for i in range(n)]


def _centrality_minilm(f: Features) -> list[Score]:
    v = f.option_vectors
    n = len(f.texts)
    sims = [[float(np.dot(v[i], v[j])) for j in range(n)] for i in range(n)]
    return [sum(sorted(sims[i][j] for j in range(n) if j != i)) / (n - 1) for i in range(n)]


def _agreement(seqs: list[tuple[str, ...]]) -> list[float]:
    """Per option: how many (position, other option) pairs hold the same part."""
    out = []
    for i, a in enumerate(seqs):
        out.append(float(sum(1 for j, b in enumerate(seqs) if j != i
                             for x, y in zip(a, b, strict=False) if x == y)))
    return out


def _positional(f: Features) -> list[Score]:
    multi = all(len(p) > 1 for p in f.parts)
    seqs = f.parts if multi else [tokens(t) for t in f.texts]
    return _agreement(seqs)  # type: ignore[arg-type]


def _event_set(f: Features) -> list[Score] | None:
    if not all(len(p) > 1 for p in f.parts):
        return None
    sets = [frozenset(p) for p in f.parts]
    agree = _agreement(f.parts)
    shared = [any(j != i and sets[j] == s for j in range(len(sets)))
              for i, s in enumerate(sets)]
    if not any(shared):
        return None
    return [(1.0, agree[i]) if shared[i] else (0.0, agree[i]) for i in range(len(sets))]


def _numeric_rank(k: int) -> Callable[[Features], list[Score] | None]:
    def score(f: Features) -> list[Score] | None:
        keys = f.numbers
        if keys is None:
            return None
        distinct = sorted(set(keys))
        if k > len(distinct):
            return None
        return [1.0 if key == distinct[k - 1] else 0.0 for key in keys]
    return score


def _numeric_median(f: Features) -> list[Score] | None:
    keys = f.numbers
    if keys is None:
        return None
    values = [sum(k) / len(k) for k in keys]
    median = float(np.median(values))
    mean = float(np.mean(values))
    return [(-abs(v - median), -abs(v - mean)) for v in values]


def _named(f: Features) -> list[Score] | None:
    q = f.question_words
    if not q:
        return None
    return [len(w & q) / len(w) if w else 0.0 for w in f.words]


# ---------------------------------------------------------------- question / past scores

def _overlap(f: Features, text: str | None) -> list[Score] | None:
    if not text:
        return None
    ref = words(text)
    if not ref:
        return None
    return [jaccard(w, ref) for w in f.words]


def _cosine(f: Features, text: str | None, split: bool = False) -> list[Score] | None:
    if not text or not text.strip():
        return None
    ref = f.text_vector(text, split)
    return [float(np.dot(v, ref)) for v in f.option_vectors]


@dataclass(frozen=True)
class Baseline:
    """One blind baseline.

    Attributes:
        name: as in reports (``longest_chars``, ``past_minilm_min``, ...).
        family: ``option-only``, ``question-only`` or ``past-text``.
        score: features -> one score per option (in the item's letter order), or None
            to abstain.
        pick: ``max`` or ``min``: which score wins.
        minilm: whether it needs MiniLM vectors.
        doc: one line on what it picks.
    """

    name: str
    family: str
    score: Callable[[Features], list[Score] | None]
    pick: str = "max"
    minilm: bool = False
    doc: str = ""

    def predict(self, f: Features, seed: int = 0) -> str | None:
        """The picked letter for an item's `Features`, or None (abstain)."""
        scores = self.score(f)
        if scores is None:
            return None
        keyed = [_rounded(s) for s in scores]
        best = max(keyed) if self.pick == "max" else min(keyed)
        winners = [i for i, s in enumerate(keyed) if s == best]
        if len(winners) == len(keyed):
            return None
        if len(winners) == 1:
            return f.letters[winners[0]]
        rng = random.Random(f.tie_seed(seed, self.name))
        winners.sort(key=lambda i: f.texts[i])
        return f.letters[rng.choice(winners)]


def _rounded(s: Score) -> Score:
    if isinstance(s, tuple):
        return tuple(round(x, 6) for x in s)
    return round(s, 6)


def _q(f: Features) -> list[Score] | None:
    return _overlap(f, f.question)


def _qv(f: Features) -> list[Score] | None:
    if not f.question.strip():
        return None
    return [float(np.dot(v, f.question_vector)) for v in f.option_vectors]


def _a(f: Features) -> list[Score] | None:
    return _overlap(f, f.anchor)


def _av(f: Features) -> list[Score] | None:
    return _cosine(f, f.anchor)


def _p(f: Features) -> list[Score] | None:
    return _overlap(f, f.past)


def _pv(f: Features) -> list[Score] | None:
    return _cosine(f, f.past, split=True)


BASELINES: dict[str, Baseline] = {b.name: b for b in [
    Baseline("longest_chars", OPTION_ONLY, _length_chars, "max", doc="most characters"),
    Baseline("shortest_chars", OPTION_ONLY, _length_chars, "min", doc="fewest characters"),
    Baseline("longest_words", OPTION_ONLY, _length_words, "max", doc="most words"),
    Baseline("shortest_words", OPTION_ONLY, _length_words, "min", doc="fewest words"),
    Baseline("centrality_words", OPTION_ONLY, _centrality_words, "max",
             doc="highest mean word Jaccard to the other options"),
    Baseline("outlier_words", OPTION_ONLY, _centrality_words, "min",
             doc="lowest mean word Jaccard to the other options"),
    Baseline("centrality_minilm", OPTION_ONLY, _centrality_minilm, "max", minilm=True,
             doc="highest mean MiniLM cosine to the other options"),
    Baseline("outlier_minilm", OPTION_ONLY, _centrality_minilm, "min", minilm=True,
             doc="lowest mean MiniLM cosine to the other options"),
    Baseline("event_set_consensus", OPTION_ONLY, _event_set, "max",
             doc="an option whose set of events another option shares; among those, the "
             "one agreeing most with the others position by position"),
    Baseline("positional_consensus", OPTION_ONLY, _positional, "max",
             doc="most (position, other option) agreements of events, or of words for "
             "one-sentence options"),
    *[Baseline(f"numeric_rank_{k}", OPTION_ONLY, _numeric_rank(k), "max",
               doc=f"numeric options only: the {k}-th smallest") for k in range(1, 5)],
    Baseline("numeric_median", OPTION_ONLY, _numeric_median, "max",
             doc="numeric options only: closest to the median (then the mean)"),
    Baseline("named_in_question", OPTION_ONLY, _named, "max",
             doc="largest share of the option's words present in the question"),
    Baseline("not_named_in_question", OPTION_ONLY, _named, "min",
             doc="smallest share of the option's words present in the question"),
    Baseline("question_overlap_words", QUESTION_ONLY, _q, "max",
             doc="highest word Jaccard to the question (end anchor included)"),
    Baseline("question_overlap_words_min", QUESTION_ONLY, _q, "min",
             doc="lowest word Jaccard to the question"),
    Baseline("question_minilm", QUESTION_ONLY, _qv, "max", minilm=True,
             doc="highest MiniLM cosine to the question (its quoted events)"),
    Baseline("question_minilm_min", QUESTION_ONLY, _qv, "min", minilm=True,
             doc="lowest MiniLM cosine to the question (its quoted events)"),
    Baseline("anchor_overlap_words", QUESTION_ONLY, _a, "max",
             doc="highest word Jaccard to the end anchor"),
    Baseline("anchor_overlap_words_min", QUESTION_ONLY, _a, "min",
             doc="lowest word Jaccard to the end anchor"),
    Baseline("anchor_minilm", QUESTION_ONLY, _av, "max", minilm=True,
             doc="highest MiniLM cosine to the end anchor"),
    Baseline("anchor_minilm_min", QUESTION_ONLY, _av, "min", minilm=True,
             doc="lowest MiniLM cosine to the end anchor"),
    Baseline("past_overlap_words", PAST_TEXT, _p, "max",
             doc="highest word Jaccard to the past caption"),
    Baseline("past_overlap_words_min", PAST_TEXT, _p, "min",
             doc="lowest word Jaccard to the past caption"),
    Baseline("past_minilm", PAST_TEXT, _pv, "max", minilm=True,
             doc="highest MiniLM cosine to the past caption"),
    Baseline("past_minilm_min", PAST_TEXT, _pv, "min", minilm=True,
             doc="lowest MiniLM cosine to the past caption"),
]}
"""Every blind baseline by name."""


def resolve(names: Sequence[str] | None) -> list[Baseline]:
    """The baselines called ``names`` (None: all of `BASELINES`).

    Raises:
        ValueError: for an unknown name (the message lists the known ones).
    """
    if names is None:
        return list(BASELINES.values())
    bad = [n for n in names if n not in BASELINES]
    if bad:
        raise ValueError(f"unknown baseline(s) {bad}; known: {', '.join(BASELINES)}")
    return [BASELINES[n] for n in dict.fromkeys(names)]


def predict(items: Sequence[AuditItem], *, baselines: Sequence[str] | None = None,
            embedder: object | None = None, seed: int = 0,
            vectors: TextVectors | None = None) -> dict[str, dict[str, str | None]]:
    """Run blind baselines on items.

    Args:
        items: the items; ``answer`` is never read.
        baselines: names from `BASELINES`; None runs all.
        embedder: an `nextevent.audit.embed.Encoder` for the MiniLM baselines; None
            loads all-MiniLM-L6-v2 (offline) when one of them runs.
        seed: seed of tie breaks.
        vectors: a `TextVectors` to reuse (its cache survives calls); overrides
            ``embedder``.

    Returns:
        baseline name -> item id -> picked letter, or None for an abstention (scored as
        a random guess, ``1/len(options)``, by `nextevent.audit.report`).

    Raises:
        ValueError: for an unknown baseline name or an item with fewer than 2 options.
    """
    chosen = resolve(baselines)
    for item in items:
        if len(item.options) < 2:
            raise ValueError(f"item {item.id} has {len(item.options)} option(s); need >= 2")
    minilm = [b for b in chosen if b.minilm]
    if minilm and vectors is None:
        vectors = TextVectors(embedder)  # type: ignore[arg-type]
    if minilm:
        families = {b.family for b in minilm}
        assert vectors is not None
        vectors.add(t for item in items for t in embedding_texts(item, families))
    out: dict[str, dict[str, str | None]] = {b.name: {} for b in chosen}
    for item in items:
        f = Features(item, vectors if minilm else None)
        for b in chosen:
            out[b.name][item.id] = b.predict(f, seed)
    return out
