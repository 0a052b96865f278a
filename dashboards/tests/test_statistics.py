"""The shared statistics against scipy, numpy's linear percentile and a few worked examples."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy import stats

from dashboards.stats import bootstrap_median_difference_ci, mann_whitney_u, percentile_cont


def test_three_waits_of_1_2_and_10_days_have_median_2_and_p90_8_4():
    assert percentile_cont([10, 1, 2], 0.5) == 2
    assert percentile_cont([10, 1, 2], 0.9) == pytest.approx(8.4)


def test_one_value_is_its_own_percentile_and_no_values_have_none():
    assert percentile_cont([3.5], 0.9) == 3.5
    assert percentile_cont([], 0.5) is None


@pytest.mark.parametrize("seed", range(5))
def test_percentiles_agree_with_numpy_linear(seed):
    rng = random.Random(seed)
    values = [rng.lognormvariate(0, 1) for _ in range(rng.randint(1, 60))]
    for q in (0.1, 0.5, 0.9):
        assert percentile_cont(values, q) == pytest.approx(float(np.percentile(values, 100 * q)))


@pytest.mark.parametrize("seed", range(6))
def test_mann_whitney_agrees_with_scipy_also_with_ties(seed):
    rng = random.Random(seed)
    # Whole days: many ties, as in real cycle times.
    a = [round(rng.lognormvariate(3, 0.5)) for _ in range(rng.randint(5, 40))]
    b = [round(rng.lognormvariate(2.8, 0.5)) for _ in range(rng.randint(5, 40))]
    ours = mann_whitney_u(a, b)
    theirs = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=True)
    assert ours.u == pytest.approx(theirs.statistic)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)


def test_identical_samples_give_p_1():
    assert mann_whitney_u([5, 5, 5], [5, 5]).p_value == 1.0


def test_the_bootstrap_repeats_itself_and_covers_a_clear_difference():
    rng = random.Random(1)
    a = [rng.gauss(30, 5) for _ in range(50)]
    b = [rng.gauss(20, 5) for _ in range(50)]
    first = bootstrap_median_difference_ci(a, b)
    assert first == bootstrap_median_difference_ci(a, b)
    assert first[0] < -10 + 4 and first[1] < 0 and first[0] < first[1]
