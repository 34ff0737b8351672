"""The debiased Sinkhorn divergence (transport.sinkhorn_divergence) against POT, closed forms and its limits.

Conventions checked: POT's ``ot.bregman.empirical_sinkhorn_divergence`` debiases ``<P, C>`` without the entropy
term (its ``empirical_sinkhorn2`` is ``ot.sinkhorn2``, the linear cost) and clamps at 0: that is our
``entropic_term=False``. Feydy et al.'s ``S_eps`` (the default) includes ``eps KL(P | a b^T)``; its reference is
computed here from POT's log-domain plans with numpy.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import ot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from ganmetrics.metrics.divergences import histogram_2d, js_divergence, kl_divergence
from ganmetrics.metrics.transport import ConvergenceWarning, emd, sinkhorn_distance, sinkhorn_divergence

# Both solvers run to a marginal violation of 1e-12 (ours) and 1e-13 (POT's reference plans); the values then
# agree to ~1e-12 relative (measured < 1e-11 on these inputs). 1e-9 leaves room for other BLAS orderings.
TIGHT = 1e-12
AGREE = 1e-9
CASES = [("sqeuclidean", 0.5), ("sqeuclidean", 2.0), ("euclidean", 0.2), ("euclidean", 1.0)]


def _samples(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.random(60) + 0.1, rng.random(40) + 0.1
    return rng.normal(size=(60, 2)), rng.normal(size=(40, 2)) * 0.7 + 0.5, a / a.sum(), b / b.sum()


def _pot_entropic_cost(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, reg: float, metric: str) -> float:
    """``<P, C> + reg sum P log(P / (a b^T))`` of POT's log-domain plan (the primal objective of Feydy et al.)."""
    cost = ot.dist(x, y, metric=metric)
    plan = ot.sinkhorn(a, b, cost, reg, method="sinkhorn_log", stopThr=1e-13, numItermax=100_000)
    return float((plan * cost).sum() + reg * (plan * np.log(plan / np.outer(a, b))).sum())


@pytest.mark.parametrize(("metric", "reg"), CASES)
def test_divergence_matches_feydy_formula_on_pot_plans(metric: str, reg: float):
    x, y, a, b = _samples()
    expected = (
        _pot_entropic_cost(x, y, a, b, reg, metric)
        - 0.5 * _pot_entropic_cost(x, x, a, a, reg, metric)
        - 0.5 * _pot_entropic_cost(y, y, b, b, reg, metric)
    )
    ours = sinkhorn_divergence(x, y, reg, a, b, ground_cost=metric, tol=TIGHT, max_iter=100_000)
    assert ours == pytest.approx(expected, rel=AGREE)


@pytest.mark.parametrize(("metric", "reg"), CASES)
def test_without_entropic_term_matches_pot_empirical_sinkhorn_divergence(metric: str, reg: float):
    x, y, a, b = _samples(1)
    expected = ot.bregman.empirical_sinkhorn_divergence(
        x, y, reg, a, b, metric=metric, stopThr=1e-13, numIterMax=100_000
    )
    assert expected > 0  # POT clamps at 0; the comparison is only meaningful above it
    ours = sinkhorn_divergence(x, y, reg, a, b, ground_cost=metric, tol=TIGHT, max_iter=100_000, entropic_term=False)
    assert ours == pytest.approx(float(expected), rel=AGREE)


@pytest.mark.slow  # 9-16 s on two idle cores; the quick run stays under 6 minutes
@pytest.mark.parametrize("reg", [0.1, 1.0, 10.0])
def test_translation_adds_the_squared_shift_the_gaussian_closed_form_for_equal_covariances(reg: float):
    # For the squared euclidean cost, |x - (y + t)|^2 = |x - y|^2 - 2 <x - y, t> + |t|^2 and the middle term
    # splits into row and column terms absorbed by the potentials: OT_eps(a, a + t) = OT_eps(a, a) + |t|^2
    # exactly, so S_eps = |t|^2 for every eps. Between Gaussians of equal covariance this is the closed form of
    # Janati et al. 2020 (NeurIPS, "Entropic OT between unbalanced Gaussian measures has a closed form"),
    # S_eps(N(m1, S), N(m2, S)) = |m1 - m2|^2; here it holds exactly for the empirical measures. (With unequal
    # covariances the closed form is that of the continuous Gaussians, which samples match only up to a
    # sampling error of order n^-1/2, Genevay et al. 2019; no tight test can be made from it.)
    x = np.random.default_rng(2).multivariate_normal([0, 0], [[1.0, 0.3], [0.3, 0.5]], size=50)
    shift = np.array([0.3, -0.7])
    value = sinkhorn_divergence(x, x + shift, reg, ground_cost="sqeuclidean", tol=TIGHT, max_iter=100_000)
    assert value == pytest.approx(float(shift @ shift), rel=AGREE)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    reg=st.sampled_from([1.0, 3.0]),
    metric=st.sampled_from(["euclidean", "sqeuclidean"]),
)
def test_divergence_is_non_negative_symmetric_and_zero_on_identical_samples(seed: int, reg: float, metric: str):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(12, 3)) * 0.4, rng.normal(size=(9, 3)) * rng.random() * 0.8  # costs of O(1)
    xy = sinkhorn_divergence(x, y, reg, ground_cost=metric)
    yx = sinkhorn_divergence(y, x, reg, ground_cost=metric)
    # Feydy et al. 2019, Theorem 1: S_eps >= 0. Round-off of three O(1) values and the marginal tolerance
    # (default 1e-9) times costs of O(1): 1e-8 absolute.
    assert xy >= -1e-8
    assert xy == pytest.approx(yx, rel=1e-7, abs=1e-8)
    assert sinkhorn_divergence(x, x.copy(), reg, ground_cost=metric) == 0.0  # three identical problems cancel exactly


def test_large_eps_tends_to_half_the_energy_distance():
    # eps -> inf: S_eps -> 1/2 MMD^2 with kernel -C (Feydy et al., Theorem 1); for C = |x - y| that is half
    # the energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| (V-statistics). The gap is O(1/eps): measured
    # 2.1e-5 relative at eps = 1e4 and 2.1e-4 at 1e3.
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(30, 2)) + 1
    energy = 2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean()
    assert sinkhorn_divergence(x, y, 1e4) == pytest.approx(energy / 2, rel=1e-4)


def test_small_eps_tends_to_the_earth_movers_distance():
    # eps -> 0: S_eps -> W (euclidean cost). Measured gaps: 0.8 % at eps = 1e-2, 0.17 % at 3e-3.
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(30, 2)) + 1
    assert sinkhorn_divergence(x, y, 3e-3, max_iter=100_000) == pytest.approx(emd(x, y), rel=3e-3)


def _lecture(theta: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """P = (0, U(0, 1)) and Q = (theta, U(0, 1)) on the same uniform draws (the lecture's example)."""
    u = np.random.default_rng(0).random(n)
    return np.stack([np.zeros(n), u], axis=1), np.stack([np.full(n, theta), u], axis=1)


@pytest.mark.parametrize("theta", [0.25, -0.5, 1.0])
def test_lecture_example_w_is_theta_js_is_log2_kl_is_infinite(theta: float):
    p, q = _lecture(theta, 200)
    # Q is P shifted by theta: the identity matching is optimal, W = |theta| (float64 round-off, 1e-12).
    assert emd(p, q) == pytest.approx(abs(theta), rel=1e-12)
    # Histograms with 0 and theta in different x-bins have disjoint supports: JS = ln 2, KL = inf.
    bounds = ((-1.125, 1.125), (0.0, 1.0))  # x-bins 0.25 wide, 0 and theta in the middle of different bins
    hp, hq = histogram_2d(p, 9, bounds), histogram_2d(q, 9, bounds)
    assert js_divergence(hp, hq) == pytest.approx(math.log(2), rel=1e-12)
    assert kl_divergence(hp, hq) == math.inf
    # The debiased divergence tends to W as eps -> 0 (test above): at eps = 1e-2 it lies below W, within 10 %
    # (measured 6.7 % at theta = 0.25, where eps is largest relative to W).
    assert 0.9 * abs(theta) < sinkhorn_divergence(p, q, 1e-2) < abs(theta)


def test_lecture_example_at_theta_zero_the_divergence_is_zero_where_sinkhorn_is_biased():
    p, q = _lecture(0.0, 200)
    assert emd(p, q) == 0.0
    assert sinkhorn_divergence(p, q, 1e-2) == 0.0
    # The entropic plan spreads mass along the segment: <P, C> > 0 between identical samples.
    assert sinkhorn_distance(p, q, 1e-2) > 1e-3


@pytest.mark.slow
def test_lecture_example_reproduces_the_issue_numbers_at_eps_1e_3():
    # Issue 16: sinkhorn_distance(P, Q, reg=1e-3) gives 4.9e-4 at theta = 0 and 1.45e-3 at theta = 1e-3 (500
    # points, numpy default_rng(0), the default 10,000 iterations, which stop short of tol there), while emd gives
    # 0 and 1e-3. The divergence gives exactly 0 at theta = 0.
    p, q = _lecture(0.0, 500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert sinkhorn_distance(p, q, 1e-3) == pytest.approx(4.9e-4, rel=1e-2)
        assert sinkhorn_distance(*_lecture(1e-3, 500), 1e-3) == pytest.approx(1.45e-3, rel=1e-2)
        assert sinkhorn_divergence(p, q, 1e-3) == 0.0
    assert emd(*_lecture(1e-3, 500)) == pytest.approx(1e-3, rel=1e-12)


def test_divergence_refuses_bad_input_naming_it():
    x, y, _, _ = _samples()
    with pytest.raises(ValueError, match="reg"):
        sinkhorn_divergence(x, y, 0.0)
    with pytest.raises(ValueError, match="ground_cost"):
        sinkhorn_divergence(x, y, 1.0, ground_cost="cityblock")
    with pytest.raises(ValueError, match="x and y"):
        sinkhorn_divergence(x, y[:, :1], 1.0)
