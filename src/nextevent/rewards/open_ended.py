"""The open-ended next-event-prediction (NEP) reward: how close the predicted future is
to what really happens next.

V1 (Wang et al., arXiv 2505.22457, Sec. 3-4) labels each past segment with
``caption_part2``, the description of the future segment. A model's prediction (the
``<answer>`` text when the response has one, see
`nextevent.rewards.format.prediction_text`) is scored against it by up to three content
components and the format reward:

- ``similarity``: cosine similarity of sentence embeddings, clipped to [0, 1]
  (`nextevent.rewards.embedding.SentenceSimilarity`; all-MiniLM-L6-v2, offline).
- ``rouge_l``: ROUGE-L F-measure of word tokens (`nextevent.rewards.rouge.rouge_l`).
- ``judge``: any callable ``(predictions, references) -> scores in [0, 1]``, e.g. an LLM
  judge asked whether the prediction is right given the inherent uncertainty of the
  future (V1's critique step). This module imports no model client; pass a judge in.
- ``format``: 1 for the think-then-answer shape (`nextevent.rewards.format`), else 0.

Weights are relative: ``overall`` is the weighted mean of the components with a
positive weight and ``accuracy`` the weighted mean of the content components alone. A
component whose weight is 0 (or absent) is not computed. The default is similarity only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from nextevent.rewards.breakdown import RewardBreakdown
from nextevent.rewards.embedding import DEFAULT_BATCH_SIZE, SentenceSimilarity
from nextevent.rewards.format import format_reward, prediction_text
from nextevent.rewards.rouge import rouge_l

Judge = Callable[[Sequence[str], Sequence[str]], Sequence[float]]
"""``judge(predictions, references)`` -> one score in [0, 1] per pair. The predictions are
the extracted answer texts, the references the ``caption_part2`` texts."""

CONTENT_COMPONENTS = ("similarity", "rouge_l", "judge")
"""Content components of the NEP reward, in the order they are reported."""

DEFAULT_WEIGHTS: Mapping[str, float] = {"similarity": 1.0}
"""Similarity only; add ``format`` (e.g. 0.1) when the trainer has no separate format reward."""


class NEPReward:
    """Score next-event predictions against ``caption_part2``, batched.

    Args:
        weights: relative weight per component, keys among ``similarity``, ``rouge_l``,
            ``judge`` and ``format``; at least one content weight must be positive.
            None for `DEFAULT_WEIGHTS`.
        batch_size: texts per embedding forward pass.
        judge: the callable behind the ``judge`` component (see `Judge`); required when
            ``weights["judge"] > 0``.
        model_path, device, cache_size: for the embedding model, as in
            `nextevent.rewards.embedding.SentenceSimilarity`.
        backend: where the embeddings are computed: ``torch``, ``onnx``, ``onnx-int8``
            or ``auto``; None reads ``NEXTEVENT_REWARD_BACKEND`` (default ``auto``: ``onnx``
            on the CPU when onnxruntime is installed, else ``torch``). See
            `nextevent.rewards.backends`.

    Raises:
        ValueError: for an unknown component, a negative weight, no positive content
            weight, a judge weight without a judge, or an unknown backend.
        ModuleNotFoundError: when the backend asked for is not installed.

    Example:
        >>> reward = NEPReward({"similarity": 0.9, "format": 0.1})
        >>> [b.overall for b in reward(responses, captions_part2)]
    """

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        judge: Judge | None = None,
        model_path: str | Path | None = None,
        device: str | None = None,
        cache_size: int = 65536,
        backend: str | None = None,
    ) -> None:
        self.weights = _check_weights(dict(DEFAULT_WEIGHTS if weights is None else weights))
        if self.weights.get("judge", 0.0) > 0 and judge is None:
            raise ValueError(
                "weights give the judge component a positive weight but no judge was passed; "
                "pass judge=callable(predictions, references) -> scores in [0, 1]"
            )
        self.judge = judge
        self.similarity = SentenceSimilarity(model_path, device, batch_size, cache_size, backend)

    @property
    def active(self) -> tuple[str, ...]:
        """The content components computed (positive weight), in report order."""
        return tuple(c for c in CONTENT_COMPONENTS if self.weights.get(c, 0.0) > 0)

    def __call__(
        self, predictions: Sequence[str], references: Sequence[str]
    ) -> list[RewardBreakdown]:
        """Score each response against its reference.

        Args:
            predictions: model responses, raw (``<think>``/``<answer>`` tags allowed; the
                ``<answer>`` text is what is scored).
            references: the ``caption_part2`` text for each response, same length.

        Returns:
            One `RewardBreakdown` per response, in order; ``answer`` is the scored text.

        Raises:
            ValueError: when the lengths differ, a reference is empty, or the judge
                returns the wrong number of scores or a score outside [0, 1].
            TypeError: when an item is not a string.
        """
        _check_inputs(predictions, references)
        answers = [prediction_text(p) for p in predictions]
        refs = list(references)
        parts: dict[str, list[float]] = {}
        if "similarity" in self.active:
            parts["similarity"] = self.similarity(answers, refs)
        if "rouge_l" in self.active:
            parts["rouge_l"] = [rouge_l(a, r) for a, r in zip(answers, refs, strict=True)]
        if "judge" in self.active:
            parts["judge"] = self._judge(answers, refs)
        formats = [format_reward(p) for p in predictions]
        content_total = sum(self.weights[c] for c in self.active)
        format_weight = self.weights.get("format", 0.0)
        out = []
        for i, answer in enumerate(answers):
            components = {c: parts[c][i] for c in self.active}
            accuracy = sum(self.weights[c] * s for c, s in components.items()) / content_total
            overall = (content_total * accuracy + format_weight * formats[i]) / (
                content_total + format_weight
            )
            out.append(RewardBreakdown(overall, formats[i], accuracy, components, answer))
        return out

    def scores(self, predictions: Sequence[str], references: Sequence[str]) -> list[float]:
        """Only the ``overall`` reward of each response (see `__call__`)."""
        return [b.overall for b in self(predictions, references)]

    def _judge(self, answers: list[str], refs: list[str]) -> list[float]:
        assert self.judge is not None
        values = [float(v) for v in self.judge(answers, refs)]
        if len(values) != len(answers):
            raise ValueError(
                f"the judge returned {len(values)} scores for {len(answers)} predictions"
            )
        bad = [v for v in values if not 0.0 <= v <= 1.0]
        if bad:
            raise ValueError(f"the judge returned scores outside [0, 1]: {bad[:5]}")
        return values


def _check_weights(weights: dict[str, float]) -> dict[str, float]:
    known = (*CONTENT_COMPONENTS, "format")
    unknown = sorted(set(weights) - set(known))
    if unknown:
        raise ValueError(f"unknown reward components {unknown}; use {list(known)}")
    weights = {k: float(v) for k, v in weights.items()}
    negative = {k: v for k, v in weights.items() if not v >= 0}
    if negative:
        raise ValueError(f"reward weights must be >= 0, got {negative}")
    if not any(weights.get(c, 0.0) > 0 for c in CONTENT_COMPONENTS):
        raise ValueError(
            f"give at least one content component a positive weight ({list(CONTENT_COMPONENTS)}); "
            f"got {weights}"
        )
    return weights


def _check_inputs(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} references; "
            "give one reference (caption_part2) per prediction"
        )
    for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
        if not isinstance(p, str) or not isinstance(r, str):
            raise TypeError(f"prediction and reference {i} must be strings, got "
                            f"{type(p).__name__} and {type(r).__name__}")
        if not r.strip():
            raise ValueError(
                f"reference {i} is empty; every prediction needs the future caption "
                "(caption_part2) it is scored against"
            )
