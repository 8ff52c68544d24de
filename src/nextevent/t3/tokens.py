"""Token counts for length control (Video-T3, Li et al., arXiv 2410.06166: T3 data is
length-filtered and its token lengths analysed against the model's context).

`load_counter` gives a `TokenCounter`:

* ``None``: whitespace words (``len(text.split())``), no dependency;
* a ``tokenizer.json`` file, or a folder holding one: the `tokenizers` library (fast,
  batched), special tokens not added;
* a folder with another transformers tokenizer: ``AutoTokenizer.from_pretrained(folder,
  local_files_only=True)``. Nothing is ever downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nextevent.records import NextEventError

_HINT = ("pass a local tokenizer.json file or a transformers tokenizer folder, or leave "
         "--tokenizer out to count whitespace words")


class TokenCounter:
    """Counts tokens of texts. ``name`` says which counter (written into items and stats,
    with the tokenizer's full path); ``short_name`` is for plot labels.

    The base class counts whitespace-separated words.
    """

    name = "whitespace"
    short_name = "whitespace"

    def count(self, text: str) -> int:
        """Tokens in ``text``."""
        return self.count_batch([text])[0]

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        """Tokens in each of ``texts``."""
        return [len(t.split()) for t in texts]


class TokenizersCounter(TokenCounter):
    """Counts with a ``tokenizers.Tokenizer`` loaded from a ``tokenizer.json`` file."""

    def __init__(self, path: Path) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as err:
            raise NextEventError("tokens", "counting with a tokenizer.json needs the "
                                 "tokenizers package", "pip install 'nextevent[t3]'") from err
        try:
            self._tok = Tokenizer.from_file(str(path))
        except Exception as err:  # tokenizers raises a bare Exception on bad files
            raise NextEventError("tokens", f"cannot load tokenizer {path}: {err}", _HINT) from err
        # A tokenizer.json may carry the model's truncation and padding (all-MiniLM-L6-v2
        # truncates at 128): counts must be of the whole text, unpadded.
        self._tok.no_truncation()
        self._tok.no_padding()
        self.name = f"tokenizer:{path}"
        self.short_name = f"tokenizer:{path.parent.name}/{path.name}"

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        encodings = self._tok.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]


class TransformersCounter(TokenCounter):
    """Counts with a transformers tokenizer folder (no ``tokenizer.json``)."""

    def __init__(self, path: Path) -> None:
        try:
            from transformers import AutoTokenizer
        except ImportError as err:
            raise NextEventError("tokens", f"{path} has no tokenizer.json and transformers "
                                 "is not installed", _HINT) from err
        try:
            self._tok: Any = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        except Exception as err:  # noqa: BLE001 - many loader errors; report them as one
            raise NextEventError("tokens", f"cannot load a tokenizer from {path}: {err}",
                                 _HINT) from err
        self.name = f"transformers:{path}"
        self.short_name = f"transformers:{path.name}"

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        ids = self._tok(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        return [len(x) for x in ids]


def load_counter(path: str | Path | None) -> TokenCounter:
    """The token counter for ``--tokenizer`` (rules in the module docstring).

    Raises:
        NextEventError: stage ``tokens``, when the path does not exist or holds no
            loadable tokenizer.
    """
    if path is None:
        return TokenCounter()
    path = Path(path)
    if path.is_file():
        return TokenizersCounter(path)
    if path.is_dir():
        if (path / "tokenizer.json").is_file():
            return TokenizersCounter(path / "tokenizer.json")
        return TransformersCounter(path)
    raise NextEventError("tokens", f"tokenizer path {path} does not exist", _HINT)
