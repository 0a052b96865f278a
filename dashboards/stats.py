"""The statistics every dashboard shares, in plain Python: percentiles as PostgreSQL's percentile_cont
computes them, a seeded bootstrap of a difference in medians, and the Mann–Whitney U test.

Plain Python on purpose: the same numbers on SQLite (where the database cannot compute percentiles) and
in the pilot comparison, without a numerical library at run time. The tests check these against scipy.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20260
MIN_CASES = 10
ALPHA = 0.05


def percentile_cont(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks, exactly PostgreSQL's percentile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def median(values: Sequence[float]) -> float | None:
    return percentile_cont(values, 0.5)


@dataclass(frozen=True)
class MannWhitney:
    u: float
    p_value: float


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> MannWhitney:
    """Two-sided Mann–Whitney U of `a` against `b`: normal approximation with tie and continuity
    correction (scipy.stats.mannwhitneyu(a, b, method="asymptotic") gives the same U and p)."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks_a = 0.0
    tie_term = 0.0
    i = 0
    n = n1 + n2
    while i < n:
        j = i
        while j + 1 < n and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        rank = (i + j) / 2 + 1
        ties = j - i + 1
        tie_term += ties**3 - ties
        ranks_a += rank * sum(1 for k in range(i, j + 1) if pooled[k][1] == 0)
        i = j + 1
    u1 = ranks_a - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:
        return MannWhitney(u=u1, p_value=1.0)
    z = (abs(u1 - mean) - 0.5) / math.sqrt(variance)
    p = math.erfc(max(z, 0.0) / math.sqrt(2))
    return MannWhitney(u=u1, p_value=min(1.0, p))


def bootstrap_median_difference_ci(
    a: Sequence[float],
    b: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of median(b) − median(a); the fixed seed repeats the same interval."""
    rng = random.Random(seed)
    differences = []
    for _ in range(resamples):
        sample_a = rng.choices(a, k=len(a))
        sample_b = rng.choices(b, k=len(b))
        differences.append(percentile_cont(sample_b, 0.5) - percentile_cont(sample_a, 0.5))
    tail = (1 - level) / 2
    return percentile_cont(differences, tail), percentile_cont(differences, 1 - tail)
