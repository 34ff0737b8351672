"""Mode statistics of the 2-D benchmarks against independent computations (scipy, closed forms, counting)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import chi2, entropy

from ganmetrics.mixtures import grid, ring
from ganmetrics.train.modes import HIGH_QUALITY, KL_UNIFORM, MODES_COVERED, mode_statistics


def test_true_ring_samples_cover_every_mode_with_the_chi2_share_of_high_quality():
    mixture = ring()
    n = 40_000
    samples = mixture.sample(n, torch.Generator().manual_seed(0))
    stats = mode_statistics(samples, mixture.centres, mixture.sigma)
    # ||x - c||^2 / sigma^2 ~ chi2(2) for an isotropic 2-D Gaussian, so P(d <= 3 sigma) = chi2.cdf(9, 2).
    expected = chi2.cdf(9, 2)
    # Binomial standard error sqrt(p (1 - p) / n) ~ 5e-4; 5 standard errors.
    assert stats[HIGH_QUALITY] == pytest.approx(expected, abs=5 * math.sqrt(expected * (1 - expected) / n))
    assert stats[MODES_COVERED] == 8
    # Multinomial noise: E[KL] ~ (K - 1) / (2 n) ~ 1e-4; 0.002 is far above it and far below one missing mode.
    assert stats[KL_UNIFORM] < 2e-3


def test_kl_uniform_matches_scipy_entropy_including_empty_bins():
    mixture = grid()
    counts = np.zeros(25, dtype=int)
    counts[[0, 3, 7, 24]] = [50, 30, 15, 5]  # 21 empty bins
    samples = np.repeat(mixture.centres.numpy(), counts, axis=0)
    stats = mode_statistics(samples, mixture.centres, mixture.sigma)
    # scipy.stats.entropy(p, q) = sum p log(p / q), with 0 log 0 = 0; float64 round-off only.
    assert stats[KL_UNIFORM] == pytest.approx(entropy(counts / counts.sum(), np.full(25, 1 / 25)), abs=1e-12)


def test_all_samples_on_one_mode_give_one_mode_full_quality_and_kl_log_k():
    mixture = ring()
    samples = mixture.centres[2].repeat(1000, 1)
    stats = mode_statistics(samples, mixture.centres, mixture.sigma)
    # Closed forms: one covered mode, every sample at distance 0, KL(delta || uniform) = log 8.
    assert stats == {MODES_COVERED: 1.0, HIGH_QUALITY: 1.0, KL_UNIFORM: pytest.approx(math.log(8), abs=1e-12)}


def test_a_mode_needs_twenty_of_2500_samples_within_three_sigma_as_in_pacgan():
    mixture = ring()
    far = torch.zeros(2500, 2, dtype=torch.float64)  # the origin is 2 away from every centre: never high quality
    far[:20] = mixture.centres[0] + torch.tensor([2.9 * mixture.sigma, 0.0], dtype=torch.float64)  # 2.9 sigma
    far[20:39] = mixture.centres[1]
    stats = mode_statistics(far, mixture.centres, mixture.sigma)
    # Counting: mode 0 has 20 samples (>= 0.008 * 2500), mode 1 has 19 (< 20); 39 of 2500 are within 3 sigma.
    assert stats[MODES_COVERED] == 1
    assert stats[HIGH_QUALITY] == pytest.approx(39 / 2500, abs=1e-15)


def test_samples_just_outside_three_sigma_are_not_high_quality():
    mixture = ring()
    samples = mixture.centres + torch.tensor([3.01 * mixture.sigma, 0.0], dtype=torch.float64)
    assert mode_statistics(samples, mixture.centres, mixture.sigma)[HIGH_QUALITY] == 0.0


def test_non_positive_sigma_is_refused_by_name():
    with pytest.raises(ValueError, match="sigma"):
        mode_statistics(np.zeros((4, 2)), np.zeros((1, 2)), 0.0)


def test_min_fraction_outside_unit_interval_is_refused_by_name():
    with pytest.raises(ValueError, match="min_fraction"):
        mode_statistics(np.zeros((4, 2)), np.zeros((1, 2)), 0.1, min_fraction=1.5)


def test_samples_and_centres_of_different_dimension_are_refused():
    with pytest.raises(ValueError, match="samples and centres"):
        mode_statistics(np.zeros((4, 3)), np.zeros((1, 2)), 0.1)
