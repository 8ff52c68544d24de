"""ROUGE-L F-measure from the longest common subsequence of word tokens.

ROUGE-L (Lin, "ROUGE: A Package for Automatic Evaluation of Summaries", ACL Workshop
2004, Sec. 3.1): with ``L`` the length of the longest common subsequence (LCS) of the
prediction's and the reference's tokens, ``P = L / len(prediction)``,
``R = L / len(reference)`` and ``F = 2PR / (P + R)`` (the balanced F, beta = 1).

Tokens are the runs of ``[a-z0-9]`` after lower-casing, as Google's ``rouge-score``
package tokenizes by default (no stemming). Written here rather than depending on
``rouge-score``: the whole metric is the LCS below, and that package pulls in ``nltk``
and ``absl-py`` for a tokenizer we do not need.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lower-cased ``[a-z0-9]+`` runs of ``text`` (the ROUGE tokens)."""
    return _TOKEN.findall(text.lower())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences.

    Dynamic programming over one row, O(len(a) * len(b)) time, O(min) memory.
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    previous = [0] * (len(b) + 1)
    for token_a in a:
        current = [0]
        for j, token_b in enumerate(b):
            if token_a == token_b:
                current.append(previous[j] + 1)
            else:
                left, up = current[j], previous[j + 1]
                current.append(left if left > up else up)
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure of one prediction against one reference, in [0, 1].

    Returns:
        0.0 when either text has no token, 1.0 for the same token sequence.

    Raises:
        TypeError: when an argument is not a string.
    """
    if not isinstance(prediction, str) or not isinstance(reference, str):
        raise TypeError("rouge_l takes two strings (prediction, reference)")
    pred, ref = tokens(prediction), tokens(reference)
    common = lcs_length(pred, ref)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)
