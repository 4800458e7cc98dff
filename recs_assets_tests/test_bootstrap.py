"""Paired bootstrap: hand-computed point estimates, input checks, determinism and planted coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recs_assets.core.bootstrap import BootstrapInterval, paired_bootstrap


def test_point_estimates_match_hand_computation():
    a, b = np.array([0.5, 0.0, 1.0, 0.5]), np.array([0.25, 0.25, 0.5, 0.0])
    result = paired_bootstrap(a, b, n_resamples=200)
    # mean(a) = 2 / 4 = 0.5, mean(b) = 1 / 4 = 0.25
    assert result.ratio == pytest.approx(2.0)
    assert result.difference == pytest.approx(0.25)
    assert (result.n_users, result.n_resamples, result.level) == (4, 200, 0.95)
    assert result.ratio_low <= result.ratio_high and result.difference_low <= result.difference <= result.difference_high


def test_ratio_is_inf_when_baseline_scores_zero_and_nan_when_both_do():
    assert paired_bootstrap(np.array([0.0, 1.0]), np.zeros(2), n_resamples=50).ratio == math.inf
    assert math.isnan(paired_bootstrap(np.zeros(3), np.zeros(3), n_resamples=50).ratio)


def test_resamples_with_zero_baseline_mean_give_infinite_upper_bound_quietly():
    a, b = np.array([1.0, 1.0, 1.0]), np.array([1.0, 0.0, 0.0])  # mean(b*) = 0 in (2/3)^3 of resamples
    with np.errstate(all="raise"):
        result = paired_bootstrap(a, b, n_resamples=500)
    assert result.ratio == pytest.approx(3.0) and result.ratio_high == math.inf and result.ratio_low >= 1.0


def test_mismatched_lengths_and_no_users_raise():
    with pytest.raises(ValueError, match="same users: 3 scores in a but 2 in b"):
        paired_bootstrap(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="no users"):
        paired_bootstrap(np.array([]), np.array([]))


def test_same_seed_gives_the_same_interval_and_another_seed_does_not():
    rng = np.random.default_rng(1)
    a, b = rng.random(300), rng.random(300)
    first, again = paired_bootstrap(a, b, n_resamples=300, seed=7), paired_bootstrap(a, b, n_resamples=300, seed=7)
    assert first == again
    assert paired_bootstrap(a, b, n_resamples=300, seed=8) != first


def test_blocked_resampling_covers_every_resample(monkeypatch):
    # blocks of 3 resamples of 10 users: 100 resamples need 34 blocks, the last one partial
    monkeypatch.setattr("recs_assets.core.bootstrap._BLOCK_ELEMENTS", 30)
    rng = np.random.default_rng(2)
    a, b = rng.random(10), rng.random(10) + 0.1
    result = paired_bootstrap(a, b, n_resamples=100)
    assert all(math.isfinite(v) for v in (result.ratio_low, result.ratio_high, result.difference_low, result.difference_high))
    assert result.difference_low < result.difference < result.difference_high


def test_clearly_better_list_has_ratio_interval_above_one_and_identical_lists_contain_one():
    rng = np.random.default_rng(3)
    b = rng.beta(2, 5, size=1000)
    better = paired_bootstrap(np.clip(b + 0.05 + rng.normal(0, 0.05, size=1000), 0, 1), b)
    assert better.ratio_low > 1 and better.difference_low > 0
    same = paired_bootstrap(b, b)
    assert same.ratio_low == same.ratio == same.ratio_high == 1.0
    assert same.difference_low == same.difference_high == 0.0


def test_intervals_cover_the_planted_ratio_and_difference_about_95_percent_of_the_time():
    population = np.random.default_rng(4)
    b = population.beta(2, 5, size=5000)
    a = np.clip(b + 0.03 + population.normal(0, 0.1, size=5000), 0, 1)  # correlated with b, as two rankers are
    true_ratio, true_difference = a.mean() / b.mean(), a.mean() - b.mean()

    draw, replicates, covered_ratio, covered_difference = np.random.default_rng(5), 300, 0, 0
    for replicate in range(replicates):
        users = draw.integers(0, 5000, size=400)
        result = paired_bootstrap(a[users], b[users], n_resamples=400, seed=replicate)
        covered_ratio += result.ratio_low <= true_ratio <= result.ratio_high
        covered_difference += result.difference_low <= true_difference <= result.difference_high
    assert 0.90 <= covered_ratio / replicates <= 0.99
    assert 0.90 <= covered_difference / replicates <= 0.99


def test_as_text_reads_ratio_difference_and_users():
    result = BootstrapInterval(1.1372, 1.0912, 1.1893, 0.03671, 0.02512, 0.04799, 969, 1000, 0.95)
    assert result.as_text() == "1.137× (95 % CI 1.09–1.19); +0.0367 (95 % CI +0.0251 to +0.0480) over 969 users"
