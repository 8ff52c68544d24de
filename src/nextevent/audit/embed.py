"""Sentence embeddings for the MiniLM baselines: each unique text encoded once, batched.

The default encoder is all-MiniLM-L6-v2 (Reimers & Gurevych, "Sentence-BERT", EMNLP
2019), loaded offline by `nextevent.rewards.embedding.SentenceSimilarity`. A
FutureBench option ``(1) e1 (2) e2 ...`` is embedded as the normalised mean of its
events' embeddings, and a past caption as the normalised mean of its sentences': the
events repeat across options and items, so far fewer texts are encoded (tens of
thousands of items need only their unique event sentences), and no text is truncated at
MiniLM's 256 word pieces. Texts are keyed without surrounding spaces and final full
stops (``"A man runs."`` and a quoted ``"A man runs"`` share one encoding).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np


class Encoder(Protocol):
    """Anything with ``encode(texts) -> (len(texts), dim)`` unit-norm vectors (a numpy
    array or a torch tensor), e.g. `nextevent.rewards.embedding.SentenceSimilarity`."""

    def encode(self, texts: Sequence[str]) -> Any: ...


def text_key(text: str) -> str:
    """The form a text is encoded and cached in: stripped, final full stops dropped."""
    return text.strip().rstrip(".").rstrip() or text.strip()


class TextVectors:
    """Unit-norm vectors of texts, computed once per unique text.

    Args:
        encoder: an `Encoder`; None loads all-MiniLM-L6-v2 on first use.

    Raises:
        ModuleNotFoundError: on first use, when the default model's packages are missing.
    """

    def __init__(self, encoder: Encoder | None = None) -> None:
        self._encoder = encoder
        self._vec: dict[str, np.ndarray] = {}

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            from nextevent.rewards.embedding import SentenceSimilarity

            self._encoder = SentenceSimilarity()
        return self._encoder

    def add(self, texts: Iterable[str]) -> None:
        """Encode the texts not seen yet (one batched call)."""
        todo = list(dict.fromkeys(k for k in map(text_key, texts) if k not in self._vec))
        if not todo:
            return
        out = self.encoder.encode(todo)
        arr = np.asarray(out.numpy() if hasattr(out, "numpy") else out, dtype=np.float64)
        if arr.shape[0] != len(todo):
            raise ValueError(f"encoder returned {arr.shape[0]} vectors for {len(todo)} texts")
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        arr = arr / np.where(norms == 0, 1, norms)
        for text, vec in zip(todo, arr, strict=True):
            self._vec[text] = vec

    def mean(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised mean vector of ``texts`` (each must have been `add`-ed), float64,
        summed in sorted text order so the same texts in any order give the same bits."""
        keys = sorted(map(text_key, texts))
        if len(keys) == 1:
            return self._vec[keys[0]]
        v = np.mean([self._vec[k] for k in keys], axis=0)
        n = float(np.linalg.norm(v))
        return v / n if n else v
