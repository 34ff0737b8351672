"""Neighbour analysis, authenticity, realism, coverage misses and C_T against brute-force numpy/scipy formulas.

The references hold the full distance matrix (``scipy.spatial.distance.cdist``) and transcribe each paper's
formula directly: the realism score as the authors' code (squared distances, radii above the median set to 0,
``eps = 1e-5``), authenticity as dgm-eval's ``compute_authpct``, C_T as Meehan et al.'s ``C_T``/``Zu`` with
``scipy.stats.mannwhitneyu``. Distances are float64 in both; our cost matrix agrees with cdist to ~1e-12
relative (its docstring), hence ``rtol=1e-9``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import mannwhitneyu

from ganmetrics.metrics.memorization import (
    REALISM_EPS,
    c_t_statistic,
    data_copying_test,
    kmeans_cells,
    mann_whitney_z,
    nearest_centre,
    sample_neighbours,
)

RTOL = 1e-9


def _gaussian(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d))


def _brute_force(real: np.ndarray, fake: np.ndarray, k: int, realism_k: int, coverage_k: int) -> dict:
    real_real = cdist(real, real)
    np.fill_diagonal(real_real, np.inf)
    radii = np.sort(real_real, axis=1)  # column c: distance to the (c + 1)-th nearest other real sample
    fake_real = cdist(fake, real)
    order = np.argsort(fake_real, axis=1, kind="stable")[:, :k]
    r1 = radii[:, 0]
    nearest = fake_real.min(axis=1)
    # dgm-eval compute_authpct: authentic iff the nearest real's own NN distance < the generated sample's distance
    authentic = r1[fake_real.argmin(axis=1)] < nearest
    # Kynkäänniemi et al.'s code: squared radii, pruned above the 50th percentile, realism on squared distances
    squared_radii = radii[:, realism_k - 1] ** 2
    squared_radii[squared_radii > np.percentile(squared_radii, 50)] = 0
    realism_code = np.max(squared_radii[None, :] / (fake_real**2 + REALISM_EPS), axis=1)
    coverage_radius = radii[:, coverage_k - 1]
    real_to_fake = fake_real.min(axis=0)
    return {
        "distances": np.take_along_axis(fake_real, order, axis=1),
        "indices": order,
        "r1": r1,
        "authpct": 100 * authentic.mean(),
        "realism": np.sqrt(realism_code),
        "misses": set(np.flatnonzero(~(real_to_fake < coverage_radius))),
        "real_to_fake": real_to_fake,
        "coverage_radius": coverage_radius,
    }


@pytest.mark.parametrize("seed", [0, 1])
def test_sample_neighbours_match_brute_force_numpy(seed: int) -> None:
    real, fake = _gaussian(60, 5, seed), _gaussian(45, 5, seed + 10) * 1.3
    ours = sample_neighbours(real, fake, k=4, realism_k=3, coverage_k=5)
    ref = _brute_force(real, fake, 4, 3, 5)
    np.testing.assert_allclose(ours.fake_to_real_distances, ref["distances"], rtol=RTOL)
    np.testing.assert_array_equal(ours.fake_to_real_indices, ref["indices"])  # continuous data: no ties
    np.testing.assert_allclose(ours.real_nn_distance, ref["r1"], rtol=RTOL)
    np.testing.assert_allclose(100 * (1 - ours.unauthentic_fraction), ref["authpct"], rtol=RTOL)
    np.testing.assert_allclose(ours.realism, ref["realism"], rtol=RTOL)
    np.testing.assert_allclose(ours.real_to_fake_distance, ref["real_to_fake"], rtol=RTOL)
    np.testing.assert_allclose(ours.coverage_radius, ref["coverage_radius"], rtol=RTOL)
    assert set(ours.coverage_misses.tolist()) == ref["misses"]
    misses_ratio = ours.real_to_fake_distance[ours.coverage_misses] / ours.coverage_radius[ours.coverage_misses]
    assert np.all(np.diff(misses_ratio) <= 0)  # least covered first


def test_sample_neighbours_coverage_equals_prdc_coverage() -> None:
    from ganmetrics.metrics.prdc import prdc

    real, fake = _gaussian(80, 4, 3), _gaussian(70, 4, 4) + 0.5
    assert sample_neighbours(real, fake, coverage_k=5).coverage == prdc(real, fake, k=3, density_k=5).coverage


def test_sample_neighbours_blocked_equals_unblocked() -> None:
    real, fake = _gaussian(53, 6, 5), _gaussian(41, 6, 6)
    whole = sample_neighbours(real, fake, k=3, chunk_size=4096)
    blocked = sample_neighbours(real, fake, k=3, chunk_size=7)
    for name in ("fake_to_real_distances", "real_nn_distance", "realism", "real_to_fake_distance"):
        np.testing.assert_allclose(getattr(blocked, name), getattr(whole, name), rtol=1e-12, err_msg=name)
    np.testing.assert_array_equal(blocked.fake_to_real_indices, whole.fake_to_real_indices)


def test_copied_training_set_is_unauthentic_and_independent_sample_is_not() -> None:
    real = _gaussian(400, 8, 7)
    copied = sample_neighbours(real, real[:200].copy())
    assert copied.unauthentic_fraction == 1.0  # every copy sits at distance 0 <= r_1
    np.testing.assert_array_equal(copied.fake_to_real_indices[:, 0], np.arange(200))
    assert np.all(copied.relative_nn_distance == 0)
    independent = sample_neighbours(real, _gaussian(200, 8, 8))
    # A fresh sample is unauthentic when it and its nearest real sample are mutual nearest neighbours: about half
    # the time in moderate dimension, far from 1.
    assert independent.unauthentic_fraction < 0.75
    assert np.all(np.isfinite(copied.realism))  # eps keeps the realism of an exact copy finite


def test_relative_nn_distance_is_distance_over_the_real_neighbours_own_distance() -> None:
    real = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]])
    fake = np.array([[0.25, 0.0], [5.0, 2.0]])
    ours = sample_neighbours(real, fake, k=1, realism_k=1, coverage_k=1)
    np.testing.assert_allclose(ours.relative_nn_distance, [0.25 / 1.0, 2.0 / 4.0])
    np.testing.assert_array_equal(ours.unauthentic, [True, True])


def test_sample_neighbours_refuses_fewer_real_samples_than_k() -> None:
    with pytest.raises(ValueError, match="real: needs at least 6 samples"):
        sample_neighbours(_gaussian(5, 3, 0), _gaussian(5, 3, 1), k=3, coverage_k=5)
    with pytest.raises(ValueError, match="feature dimensions differ"):
        sample_neighbours(_gaussian(10, 3, 0), _gaussian(5, 4, 1))
    with pytest.raises(ValueError, match="realism_eps"):
        sample_neighbours(_gaussian(10, 3, 0), _gaussian(5, 3, 1), realism_eps=0.0)


def test_mann_whitney_z_uses_scipys_u_and_the_authors_continuity_correction() -> None:
    rng = np.random.default_rng(0)
    fake, test = rng.random(30), rng.random(23)
    fake[:5] = test[:5]  # ties count one half
    u = mannwhitneyu(fake, test, alternative="less").statistic
    pairs = (fake[:, None] > test[None, :]).sum() + 0.5 * (fake[:, None] == test[None, :]).sum()
    assert u == pairs
    expected = (u - (30 * 23 / 2 - 0.5)) / np.sqrt(30 * 23 * (30 + 23 + 1) / 12)
    assert mann_whitney_z(fake, test) == pytest.approx(expected, rel=1e-12)


def _reference_c_t(train, train_cells, test, test_cells, fake, fake_cells, tau):
    """Meehan et al.'s C_T / Zu_cells / Zu (data_copying_tests.py), transcribed with cdist for the 1-NN."""
    cells = train_cells.max() + 1
    z = np.zeros(cells)
    for c in range(cells):
        t = train[train_cells == c]
        lp = cdist(test[test_cells == c], t).min(axis=1)
        if (fake_cells == c).sum():
            lq = cdist(fake[fake_cells == c], t).min(axis=1)
            u = mannwhitneyu(lq, lp, alternative="less").statistic
            m, n = len(lq), len(lp)
            z[c] = (u - (n * m / 2 - 0.5)) / np.sqrt(n * m * (n + m + 1) / 12)
    pn = np.bincount(test_cells, minlength=cells) / len(test)
    keep = np.bincount(fake_cells, minlength=cells) / len(fake) > tau
    return pn[keep] @ z[keep] / pn[keep].sum()


def test_c_t_statistic_matches_the_authors_formula_on_given_cells() -> None:
    rng = np.random.default_rng(1)
    train, test, fake = rng.standard_normal((90, 3)), rng.standard_normal((60, 3)), rng.standard_normal((70, 3)) * 0.8
    labels = [(z[:, 0] > 0).astype(int) + 2 * (z[:, 1] > 0.5).astype(int) for z in (train, test, fake)]
    tau = 5 / 70
    ours = c_t_statistic(train, test, fake, *labels, tau=tau, chunk_size=16)
    assert ours.c_t == pytest.approx(_reference_c_t(train, labels[0], test, labels[1], fake, labels[2], tau), rel=1e-9)
    assert ours.included.tolist() == (np.bincount(labels[2], minlength=4) / 70 > tau).tolist()


def test_c_t_flags_a_copied_training_set_and_not_an_independent_sample() -> None:
    train, test = _gaussian(300, 6, 20), _gaussian(200, 6, 21)
    copied = data_copying_test(train, test, train[:200].copy(), cells=3, seed=0)
    independent = data_copying_test(train, test, _gaussian(200, 6, 22), cells=3, seed=0)
    assert copied.c_t < -3
    assert abs(independent.c_t) < 3
    # A generator that adds small noise to training samples is still much closer than fresh samples are.
    noisy = data_copying_test(train, test, train[:200] + 0.05 * _gaussian(200, 6, 23), cells=3, seed=0)
    assert noisy.c_t < -3


def test_c_t_refuses_cells_without_test_samples_and_too_strict_tau() -> None:
    train, test, fake = _gaussian(30, 2, 0), _gaussian(20, 2, 1), _gaussian(20, 2, 2)
    zeros = np.zeros(20, dtype=int)
    with pytest.raises(ValueError, match="cell\\(s\\) 1 hold no training or no test sample"):
        c_t_statistic(train, test, fake, np.arange(30) % 2, zeros, zeros)
    halves = np.arange(20) % 2
    with pytest.raises(ValueError, match="tau: no cell holds more than"):
        c_t_statistic(train, test, fake, np.arange(30) % 2, halves, halves, tau=0.5)
    with pytest.raises(ValueError, match="test_cells: expected 20 labels"):
        c_t_statistic(train, test, fake, np.zeros(30, dtype=int), zeros[:5], zeros)


def test_kmeans_recovers_separated_cluster_centres() -> None:
    rng = np.random.default_rng(4)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = np.concatenate([c + 0.1 * rng.standard_normal((50, 2)) for c in centres])
    found = kmeans_cells(points, 3, seed=0).numpy()
    expected = np.stack([points[i * 50 : (i + 1) * 50].mean(axis=0) for i in range(3)])
    order = [int(np.argmin(np.linalg.norm(expected - c, axis=1))) for c in found]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(found, expected[order], rtol=1e-12, atol=1e-12)
    labels = nearest_centre(points, found).numpy()
    assert len(set(labels[:50])) == len(set(labels[50:100])) == len(set(labels[100:])) == 1
