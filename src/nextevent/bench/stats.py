"""Statistics for benchmark reports: bootstrap and Wilson intervals, chi-square balance.

* `bootstrap_ci`: percentile bootstrap over items (Efron & Tibshirani, "An Introduction
  to the Bootstrap", 1993, ch. 13).
* `wilson_ci`: Wilson score interval of a binomial proportion (Wilson, JASA 1927).
* `chi_square_uniform`: Pearson's goodness-of-fit test of counts against a uniform
  distribution, with the exact survival function of the chi-square distribution for
  integer degrees of freedom (no SciPy needed).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

Z95 = 1.959963984540054
"""Two-sided 95% normal quantile."""


def bootstrap_ci(values: Sequence[float], *, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampling items).

    Args:
        values: per-item scores (e.g. 0/1 correctness, or a per-item accuracy in [0, 1]).
        n_boot: bootstrap resamples.
        seed: seed of the resampling.
        level: coverage, in (0, 1).

    Returns:
        ``(lo, hi)``; ``(0.0, 0.0)`` for no values.

    Raises:
        ValueError: for ``n_boot < 1`` or ``level`` outside (0, 1).
    """
    if n_boot < 1 or not 0 < level < 1:
        raise ValueError(f"need n_boot >= 1 and 0 < level < 1, got {n_boot}, {level}")
    n = len(values)
    if n == 0:
        return (0.0, 0.0)
    rng = random.Random(seed)
    vals = list(map(float, values))
    means = sorted(sum(vals[rng.randrange(n)] for _ in range(n)) / n for _ in range(n_boot))
    alpha = (1 - level) / 2
    lo = means[max(0, math.floor(alpha * n_boot))]
    hi = means[min(n_boot - 1, math.ceil((1 - alpha) * n_boot) - 1)]
    return (lo, hi)


def wilson_ci(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of ``successes / n`` (95% for the default ``z``).

    Raises:
        ValueError: when ``n < 0`` or ``successes`` is outside ``[0, n]``.
    """
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-square variable with integer ``df`` degrees of freedom.

    Raises:
        ValueError: for ``df < 1``.
    """
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if x <= 0:
        return 1.0
    half = x / 2
    if df % 2 == 0:  # sum_{i < df/2} e^-h h^i / i!
        term = total = math.exp(-half)
        for i in range(1, df // 2):
            term *= half / i
            total += term
        return min(1.0, total)
    total = math.erfc(math.sqrt(half))
    term = math.sqrt(2 * x / math.pi) * math.exp(-half)  # df = 3 term
    for k in range(3, df + 1, 2):
        total += term
        term *= x / k
    return min(1.0, total)


def chi_square_uniform(counts: Sequence[int]) -> tuple[float, float]:
    """Pearson's chi-square statistic and p-value of ``counts`` against a uniform split.

    Returns:
        ``(statistic, p_value)``; ``(0.0, 1.0)`` when there are no counts.

    Raises:
        ValueError: for fewer than two categories or a negative count.
    """
    if len(counts) < 2 or any(c < 0 for c in counts):
        raise ValueError(f"need >= 2 non-negative counts, got {list(counts)}")
    total = sum(counts)
    if total == 0:
        return (0.0, 1.0)
    expected = total / len(counts)
    stat = sum((c - expected) ** 2 / expected for c in counts)
    return (stat, chi2_sf(stat, len(counts) - 1))


def accuracy_summary(values: Sequence[float], *, seed: int = 0) -> dict[str, object]:
    """``{"accuracy", "ci95", "n"}`` of per-item scores in [0, 1], bootstrap 95% CI."""
    n = len(values)
    acc = sum(values) / n if n else 0.0
    return {"accuracy": acc, "ci95": list(bootstrap_ci(values, seed=seed)), "n": n}
