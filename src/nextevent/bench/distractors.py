"""Distractors for FutureBench options: reordered truth and mined hard negatives.

Kinds (each option's kind is stored in the item's ``meta.option_kinds``):

* ``order``: the true events in a wrong order (V1 paper, FutureBench: options that test
  temporal order).
* ``swap``: the true events with one or more replaced by hard negatives: the nearest
  neighbours, by all-MiniLM-L6-v2 cosine similarity (`nextevent.rewards.embedding`), among
  events of *other* videos of the same domain (here: the same annotation source).
* ``counterfactual``: model-written continuations that are plausible but contradict the
  past (`nextevent.bench.counterfactual`, only when a model is configured).

No option equals another after `normalize`; `distinct` enforces it.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_NON_WORD = re.compile(r"[^\w\s]")


def normalize(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed: the form options are compared
    in."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def render(events: Sequence[str]) -> str:
    """Option text of an event sequence: the sentence for one event, else ``(1) ... (2)
    ...`` in order."""
    if len(events) == 1:
        return events[0]
    return " ".join(f"({i}) {e}" for i, e in enumerate(events, 1))


def seq_key(events: Sequence[str]) -> str:
    """Normalised identity of a whole event sequence (as its option reads)."""
    return normalize(render(events))


def order_distractors(target: Sequence[str], rng: random.Random, n: int) -> list[list[str]]:
    """Up to ``n`` reorderings of ``target`` that read differently from it.

    Returns:
        Distinct permutations (as lists); none for fewer than two distinct events.
    """
    seen = {seq_key(target)}
    perms = list(itertools.permutations(target)) if len(target) <= 6 else [
        rng.sample(list(target), len(target)) for _ in range(50)]
    rng.shuffle(perms)
    out: list[list[str]] = []
    for perm in perms:
        key = seq_key(perm)
        if key not in seen:
            seen.add(key)
            out.append(list(perm))
            if len(out) == n:
                break
    return out


@dataclass
class NeighbourIndex:
    """Event sentences of a corpus with their MiniLM embeddings, for hard-negative mining.

    Attributes:
        texts: unique event sentences.
        owners: for each text, the set of video ids it occurs in.
        domains: for each text, the set of domains (annotation sources) it occurs in.
        vectors: unit-normalised embeddings, shape ``(len(texts), 384)``.
    """

    texts: list[str]
    owners: list[set[str]]
    domains: list[set[str]]
    vectors: np.ndarray
    _row: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, events: Sequence[tuple[str, str, str]], model_path: str | None = None,
              batch_size: int = 64) -> NeighbourIndex:
        """Embed ``(video_id, domain, text)`` triples with all-MiniLM-L6-v2 (offline).

        Raises:
            ModuleNotFoundError: when sentence-transformers or the model package is missing.
        """
        from nextevent.rewards.embedding import load_sentence_model

        row: dict[str, int] = {}
        texts: list[str] = []
        owners: list[set[str]] = []
        domains: list[set[str]] = []
        for vid, domain, text in events:
            if text not in row:
                row[text] = len(texts)
                texts.append(text)
                owners.append(set())
                domains.append(set())
            owners[row[text]].add(vid)
            domains[row[text]].add(domain)
        model = load_sentence_model(model_path)
        vectors = model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                               normalize_embeddings=True, show_progress_bar=False)
        return cls(texts, owners, domains, np.asarray(vectors, dtype=np.float32), row)

    def nearest(self, text: str, video_id: str, domain: str, k: int,
                avoid: set[str]) -> list[str]:
        """The ``k`` most similar sentences to ``text`` from other videos of ``domain``.

        Args:
            text: an event sentence in the index.
            video_id: the video the sentence belongs to (its sentences are excluded).
            domain: only sentences of this domain count.
            k: how many to return.
            avoid: normalised texts that may not be returned (the true events, ...).

        Raises:
            KeyError: when ``text`` was not indexed.
        """
        sims = self.vectors @ self.vectors[self._row[text]]
        out: list[str] = []
        seen = set(avoid)
        for j in np.argsort(-sims):
            cand = self.texts[int(j)]
            if video_id in self.owners[j] or domain not in self.domains[j]:
                continue
            key = normalize(cand)
            if key in seen:
                continue
            seen.add(key)
            out.append(cand)
            if len(out) == k:
                break
        return out


def swap_distractors(target: Sequence[str], index: NeighbourIndex, video_id: str,
                     domain: str, rng: random.Random, n: int,
                     pool: int = 5) -> list[list[str]]:
    """Up to ``n`` copies of ``target`` with 1..ceil(len/2) events swapped for hard
    negatives (each drawn from the ``pool`` nearest neighbours of the event it replaces).

    Returns:
        Sequences that differ from ``target`` and from each other after `normalize`.
    """
    avoid = {normalize(t) for t in target}
    neighbours = {t: index.nearest(t, video_id, domain, pool, avoid) for t in set(target)}
    seen = {seq_key(target)}
    out: list[list[str]] = []
    for _ in range(20 * n):
        if len(out) == n:
            break
        m = rng.randint(1, max(1, (len(target) + 1) // 2))
        positions = rng.sample(range(len(target)), m)
        seq = list(target)
        for p in positions:
            if neighbours[target[p]]:
                seq[p] = rng.choice(neighbours[target[p]])
        key = seq_key(seq)
        if key not in seen and len({normalize(e) for e in seq}) == len(seq):
            seen.add(key)
            out.append(seq)
    return out
