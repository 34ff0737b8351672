"""Divergences between histograms: scipy on the same inputs, direct numpy formulas, the identities of GAN theory
(Scheffé's TV, JS bounds, disjoint supports where EMD still sees the shift), zeros, 2-D binning against numpy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from ganmetrics.metrics.divergences import (
    F_GENERATORS,
    f_divergence,
    grid_2d,
    histogram_2d,
    jeffrey_divergence,
    js_divergence,
    kl_divergence,
    neyman_chi2,
    pearson_chi2,
    reverse_kl_divergence,
    squared_hellinger,
    total_variation,
)
from ganmetrics.metrics.transport import emd


@pytest.fixture()
def pq() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    p, q = rng.random(12) + 0.01, rng.random(12) + 0.01
    return p / p.sum(), q / q.sum()


def test_kl_reverse_kl_and_jeffrey_equal_scipy_entropy(pq: tuple[np.ndarray, np.ndarray]) -> None:
    p, q = pq
    # Sums of 12 terms of order 0.1 in float64: agreement to 1e-12 absolute leaves ~1000 ulp of slack.
    assert kl_divergence(p, q) == pytest.approx(entropy(p, q), abs=1e-12)
    assert reverse_kl_divergence(p, q) == pytest.approx(entropy(q, p), abs=1e-12)
    assert jeffrey_divergence(p, q) == pytest.approx(entropy(p, q) + entropy(q, p), abs=1e-12)


def test_js_equals_scipy_jensenshannon_squared(pq: tuple[np.ndarray, np.ndarray]) -> None:
    p, q = pq
    assert js_divergence(p, q) == pytest.approx(jensenshannon(p, q) ** 2, abs=1e-12)  # natural log in both


def test_tv_chi2_and_hellinger_equal_their_direct_formulas(pq: tuple[np.ndarray, np.ndarray]) -> None:
    p, q = pq
    assert total_variation(p, q) == pytest.approx(0.5 * np.abs(p - q).sum(), abs=1e-12)
    assert pearson_chi2(p, q) == pytest.approx(((p - q) ** 2 / q).sum(), abs=1e-12)
    assert neyman_chi2(p, q) == pytest.approx(((p - q) ** 2 / p).sum(), abs=1e-12)
    assert squared_hellinger(p, q) == pytest.approx(((np.sqrt(p) - np.sqrt(q)) ** 2).sum(), abs=1e-12)


def test_total_variation_is_the_largest_event_difference_scheffe() -> None:
    rng = np.random.default_rng(4)
    for _ in range(5):
        p, q = rng.random(7), rng.random(7)
        p, q = p / p.sum(), q / q.sum()
        events = itertools.chain.from_iterable(itertools.combinations(range(7), r) for r in range(8))
        sup = max(abs(p[list(a)].sum() - q[list(a)].sum()) for a in events)
        assert total_variation(p, q) == pytest.approx(sup, abs=1e-14)  # sums of at most 7 terms < 1


def test_js_is_zero_for_equal_histograms_and_positive_otherwise_and_at_most_ln2() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        p, q = rng.random(9) * (rng.random(9) > 0.3), rng.random(9) * (rng.random(9) > 0.3)
        p[0] = q[1] = 1.0  # not all zero
        assert js_divergence(p, p) == 0.0  # f(1) = 0 exactly
        assert 0.0 < js_divergence(p, q) <= math.log(2) + 1e-15


@pytest.mark.parametrize("shift", [0.5, 3.0, 100.0])
def test_disjoint_diracs_saturate_kl_js_tv_while_emd_equals_the_shift(shift: float) -> None:
    # Two Diracs at 0 and `shift` on a grid: the histograms have disjoint supports whatever the shift (the WGAN
    # argument of Arjovsky et al. 2017, Example 1).
    p, q = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert kl_divergence(p, q) == math.inf
    assert reverse_kl_divergence(p, q) == math.inf
    assert js_divergence(p, q) == pytest.approx(math.log(2), abs=1e-15)
    assert total_variation(p, q) == 1.0
    assert squared_hellinger(p, q) == 2.0
    assert emd(np.array([[0.0]]), np.array([[shift]])) == pytest.approx(shift, rel=1e-15)


def test_zero_cells_of_p_contribute_nothing_to_kl() -> None:
    # KL([1/2, 1/2, 0] || [1/4, 1/4, 1/2]) = ln 2 by hand.
    assert kl_divergence(np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])) == pytest.approx(math.log(2), 1e-15)
    assert reverse_kl_divergence(np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])) == math.inf


def test_counts_are_normalised_like_probabilities(pq: tuple[np.ndarray, np.ndarray]) -> None:
    p, q = pq
    assert kl_divergence(7 * p, 0.3 * q) == pytest.approx(kl_divergence(p, q), abs=1e-14)


def test_generic_f_divergence_with_a_plain_callable_equals_the_named_one(pq: tuple[np.ndarray, np.ndarray]) -> None:
    p, q = pq
    value = f_divergence(torch.from_numpy(p), torch.from_numpy(q), lambda t: (t - 1) ** 2)
    assert value == pytest.approx(pearson_chi2(p, q), abs=1e-15)


def test_plain_callable_without_slope_is_refused_when_q_misses_mass_of_p() -> None:
    with pytest.raises(ValueError, match="f_prime_infinity"):
        f_divergence(np.array([0.5, 0.5]), np.array([1.0, 0.0]), lambda t: (t - 1) ** 2)


def test_generator_slope_at_infinity_gives_the_direct_tv_on_partial_supports() -> None:
    p, q = np.array([0.2, 0.3, 0.5, 0.0]), np.array([0.0, 0.6, 0.1, 0.3])
    # q = 0 < p in cell 0 contributes p·f'(inf) = 0.2·½; p = 0 < q contributes q·f(0) = 0.3·½.
    assert f_divergence(p, q, F_GENERATORS["total_variation"]) == pytest.approx(0.5 * np.abs(p - q).sum(), 1e-15)
    assert f_divergence(p, q, F_GENERATORS["neyman_chi2"]) == math.inf  # f(0) = inf where p = 0 < q


def test_histogram_2d_equals_numpy_histogram2d_over_n() -> None:
    rng = np.random.default_rng(6)
    samples = rng.standard_normal((3000, 2)) * 1.5
    samples[:3] = [[2.0, 0.0], [-2.0, 1.0], [0.5, 3.0]]  # on the outer edges (the last bin is closed)
    bounds = ((-2.0, 2.0), (-1.0, 3.0))
    counts, _, _ = np.histogram2d(samples[:, 0], samples[:, 1], bins=9, range=bounds)
    assert np.array_equal(histogram_2d(samples, 9, bounds).numpy(), counts / len(samples))  # exact


def test_grid_2d_gives_the_bin_centres_of_histogram_2d() -> None:
    bounds = ((-2.0, 2.0), (-1.0, 3.0))
    centres = grid_2d(4, bounds)
    # A point at each centre lands in the cell with the same index.
    hist = histogram_2d(centres.reshape(-1, 2), 4, bounds)
    assert torch.equal(hist, torch.full((4, 4), 1 / 16, dtype=torch.float64))
    assert centres[1, 2].tolist() == [-0.5, 1.5]


def test_negative_entry_names_the_histogram() -> None:
    with pytest.raises(ValueError, match="q: has negative entries"):
        kl_divergence(np.array([0.5, 0.5]), np.array([1.5, -0.5]))


def test_all_zero_histogram_is_refused() -> None:
    with pytest.raises(ValueError, match="p: all entries are zero"):
        js_divergence(np.zeros(3), np.ones(3))


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="p and q: shapes differ"):
        total_variation(np.ones((2, 2)), np.ones(4))


def test_histogram_of_three_columns_names_samples() -> None:
    with pytest.raises(ValueError, match="samples: expected 2 columns"):
        histogram_2d(np.zeros((5, 3)), 4, ((0, 1), (0, 1)))


def test_histogram_with_an_empty_range_names_range() -> None:
    with pytest.raises(ValueError, match="range: each axis needs finite lo < hi"):
        histogram_2d(np.zeros((5, 2)), 4, ((0, 1), (1, 1)))
