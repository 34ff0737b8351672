"""MMD permutation test and standard error: brute-force numpy oracles (explicit kernel matrix, the Lemma 6 formula
per permutation, the Hoeffding projection by loops), agreement with mmd2_unbiased, Monte Carlo spread, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from ganmetrics.metrics.mmd import mmd2_unbiased
from ganmetrics.metrics.two_sample import MMDTestResult, mmd2_standard_error, mmd_permutation_test


@pytest.fixture(scope="module")
def samples() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(21)
    return rng.standard_normal((40, 3)), rng.standard_normal((30, 3)) + 0.3


def lemma6(k: np.ndarray, in_x: np.ndarray) -> float:
    """Gretton et al. 2012, Lemma 6, from the pooled kernel matrix and a boolean mask of the x rows."""
    kxx, kyy, kxy = k[np.ix_(in_x, in_x)], k[np.ix_(~in_x, ~in_x)], k[np.ix_(in_x, ~in_x)]
    m, n = kxx.shape[0], kyy.shape[0]
    return (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean()


def test_p_value_equals_brute_force_permutations(samples: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = samples
    result = mmd_permutation_test(x, y, sigma=1.5, permutations=99, seed=8)
    z = np.vstack([x, y])
    k = np.exp(-cdist(z, z, "sqeuclidean") / (2 * 1.5**2))
    observed = lemma6(k, np.arange(70) < 40)
    generator = torch.Generator().manual_seed(8)  # the documented relabellings: first m of each randperm are x
    count = 0
    for _ in range(99):
        mask = np.zeros(70, dtype=bool)
        mask[torch.randperm(70, generator=generator)[:40].numpy()] = True
        # Strictly above / below by more than round-off (1e-12) on this data; the counts are then exact.
        count += lemma6(k, mask) >= observed
    assert result.p_value == (1 + count) / 100
    assert result.mmd2 == pytest.approx(observed, abs=1e-13)  # sums of ~5000 kernel values <= 1, normalised


def test_observed_statistic_equals_mmd2_unbiased_with_its_median_bandwidth(
    samples: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = samples
    result = mmd_permutation_test(x, y, permutations=10)
    reference = mmd2_unbiased(x, y, matmul_dtype="float64")  # the permutation test's statistic is all float64
    assert result.sigma == reference.sigma
    assert result.mmd2 == pytest.approx(reference.mmd2, abs=1e-13)  # two float64 summation orders


def test_standard_error_equals_the_hoeffding_projection_by_loops(samples: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = samples
    m, n = len(x), len(y)
    kxx = np.exp(-cdist(x, x, "sqeuclidean") / 2)
    kyy = np.exp(-cdist(y, y, "sqeuclidean") / 2)
    kxy = np.exp(-cdist(x, y, "sqeuclidean") / 2)
    h_x = [sum(kxx[i, j] for j in range(m) if j != i) / (m - 1) - kxy[i].mean() for i in range(m)]
    h_y = [sum(kyy[a, b] for b in range(n) if b != a) / (n - 1) - kxy[:, a].mean() for a in range(n)]
    expected = np.sqrt(4 * np.var(h_x, ddof=1) / m + 4 * np.var(h_y, ddof=1) / n)
    assert mmd2_standard_error(x, y, sigma=1.0) == pytest.approx(expected, rel=1e-12)  # float64 sums of 40 terms
    assert mmd_permutation_test(x, y, sigma=1.0, permutations=5).std_error == pytest.approx(expected, rel=1e-12)


def test_standard_error_matches_the_monte_carlo_spread_under_an_alternative() -> None:
    rng = np.random.default_rng(22)
    draws = [(rng.standard_normal((80, 2)), rng.standard_normal((60, 2)) + [0.8, 0.0]) for _ in range(150)]
    spread = np.std([mmd2_unbiased(x, y, sigma=1.0).mmd2 for x, y in draws], ddof=1)
    estimates = [mmd2_standard_error(x, y, sigma=1.0) for x, y in draws[:10]]
    # A first-order formula: at m, n ~ 70 and a clear alternative the second-order term is a few percent, the
    # Monte Carlo std of 150 draws is within ~12% (2 sd), and single estimates vary ~10%; 30% is the margin.
    assert np.median(estimates) == pytest.approx(spread, rel=0.3)


def test_clearly_different_samples_get_the_smallest_p_value() -> None:
    rng = np.random.default_rng(23)
    result = mmd_permutation_test(rng.standard_normal((50, 2)), rng.standard_normal((50, 2)) + 3, permutations=49)
    assert isinstance(result, MMDTestResult)
    assert result.p_value == 1 / 50  # no relabelling comes near the observed separation
    assert result.permutations == 49


def test_chunk_size_does_not_change_the_test(samples: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = samples
    a = mmd_permutation_test(x, y, permutations=30, chunk_size=9)
    b = mmd_permutation_test(x, y, permutations=30)
    assert a.p_value == b.p_value
    assert a.mmd2 == pytest.approx(b.mmd2, abs=1e-13) and a.std_error == pytest.approx(b.std_error, rel=1e-12)


def test_zero_permutations_are_refused(samples: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="permutations: must be at least 1"):
        mmd_permutation_test(*samples, permutations=0)


def test_one_dimensional_x_is_refused_by_name(samples: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="x: expected a 2-D array"):
        mmd2_standard_error(np.zeros(10), samples[1])


def test_non_positive_sigma_is_refused(samples: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="sigma: must be a finite number > 0"):
        mmd_permutation_test(*samples, sigma=0.0, permutations=5)
