"""Optimal transport: Sinkhorn against POT (plain and log domain), EMD against POT, scipy and closed forms."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable

import numpy as np
import ot
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from ganmetrics.metrics.transport import (
    ConvergenceWarning,
    _sinkhorn,
    cost_matrix,
    emd,
    sinkhorn_distance,
    sinkhorn_from_cost,
)

METRICS = ["euclidean", "sqeuclidean"]


def samples(seed: int, n: int = 40, m: int = 55, d: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(loc=0.5, scale=1.3, size=(m, d))


def histogram(seed: int, n: int, zeros: int = 0) -> np.ndarray:
    w = np.random.default_rng(seed).random(n)
    w[:zeros] = 0.0
    return w / w.sum()


def on_sphere(seed: int, n: int, d: int, radius: float) -> np.ndarray:
    z = np.random.default_rng(seed).normal(size=(n, d))
    return radius * z / np.linalg.norm(z, axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------- cost matrix


def test_cost_matrix_matches_direct_differences_where_the_gram_expansion_cancels() -> None:
    # Points 1e3 from the origin with neighbours 1e-6 away: |x|^2 + |y|^2 - 2 x.y (POT's ot.dist) loses all
    # digits of those distances; scipy's cdist takes coordinate differences and is exact to a few ulps.
    rng = np.random.default_rng(0)
    x = 1e3 + rng.normal(size=(30, 4))
    y = np.concatenate([x[:10] + 1e-6 * rng.normal(size=(10, 4)), 1e3 + rng.normal(size=(20, 4))])
    expected = cdist(x, y)
    assert np.abs(ot.dist(x, y, metric="euclidean") - expected)[:10, :10].max() > 1e-6  # the case is hard
    got = cost_matrix(torch.from_numpy(x), torch.from_numpy(y), "euclidean").numpy()
    # Entries kept from the expansion have relative error <= ~1e-12 by construction (see cost_matrix); the
    # recomputed ones are direct like cdist's. 1e-11 relative leaves a margin for the dot product's rounding.
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=0)
    squared = cost_matrix(torch.from_numpy(x), torch.from_numpy(y), "sqeuclidean").numpy()
    np.testing.assert_allclose(squared, cdist(x, y, "sqeuclidean"), rtol=1e-11, atol=0)


def test_cost_matrix_of_a_sample_with_itself_has_an_exactly_zero_diagonal() -> None:
    x = torch.from_numpy(30.0 + np.random.default_rng(1).normal(size=(20, 8)))
    assert torch.equal(torch.diagonal(cost_matrix(x, x.clone(), "euclidean")), torch.zeros(20, dtype=torch.float64))


# ------------------------------------------------------------------------------------------------ sinkhorn


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("reg", [1.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_sinkhorn_matches_pot_plain_sinkhorn(metric: str, reg: float, weighted: bool) -> None:
    x, y = samples(2)
    a, b = (histogram(3, len(x), zeros=2), histogram(4, len(y))) if weighted else (None, None)
    pa, pb = (a, b) if weighted else ([], [])
    with np.errstate(divide="ignore"):  # POT divides by the zero weights (harmlessly: 1/inf = 0)
        expected = ot.sinkhorn2(pa, pb, ot.dist(x, y, metric=metric), reg, stopThr=1e-13, numItermax=100_000)
    got = sinkhorn_distance(x, y, reg, a=a, b=b, ground_cost=metric, tol=1e-13, max_iter=100_000)
    # Both stop with an L2 column-marginal violation <= 1e-13, so the plans differ by ~1e-13 and their costs
    # by ~1e-13 * max C (<= 30 here); the two cost matrices differ by ~1e-15 relative (ot.dist's expansion vs
    # ours). Measured differences are <= 3e-13 relative; 1e-10 is a margin of 300 that still catches any
    # wrong convention (eps scaling, marginal order, entropy term), which moves the value by > 1e-3.
    assert got == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(("metric", "reg"), [("euclidean", 0.05), ("sqeuclidean", 1.0)])
def test_sinkhorn_matches_pot_sinkhorn_log_where_plain_sinkhorn_underflows(metric: str, reg: float) -> None:
    # Features of norm 30 (Inception-like magnitudes) with a small eps: every entry of exp(-C/eps) is below
    # the smallest double, so plain Sinkhorn-Knopp divides by zero; POT's log-domain solver does not.
    x, y = on_sphere(5, 40, 256, 30.0), on_sphere(6, 50, 256, 30.0)
    M = ot.dist(x, y, metric=metric)
    assert (np.exp(-M / reg) == 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = ot.sinkhorn2([], [], M, reg, stopThr=1e-12)
        expected = ot.sinkhorn2([], [], M, reg, method="sinkhorn_log", stopThr=1e-12, numItermax=100_000)
    assert not plain == pytest.approx(expected, rel=1e-3)  # POT's plain solver is wrong (or NaN) here
    got = sinkhorn_distance(x, y, reg, ground_cost=metric, tol=1e-12, max_iter=100_000)
    # Same stopping rule on both sides (L2 violation <= 1e-12): differences of ~1e-12 * max C / cost; measured
    # <= 1e-13 relative. 1e-9 relative keeps a margin of 1000.
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("metric", "reg", "offset"), [("euclidean", 0.1, 100.0), ("sqeuclidean", 1.0, 40.0)])
def test_sinkhorn_matches_pot_sinkhorn_log_when_an_outlier_column_of_the_kernel_underflows(
    metric: str, reg: float, offset: float
) -> None:
    # One target point far from all sources: its whole column of exp(-C/eps) (and of the row-normalised
    # kernel) is 0, so scaling iterations alone divide by zero; the absorption into log-domain potentials
    # must take over (without it the result is NaN).
    x, y = samples(33)
    y[0] += offset
    M = ot.dist(x, y, metric=metric)
    assert (np.exp(-M / reg)[:, 0] == 0).all()
    expected = ot.sinkhorn2([], [], M, reg, method="sinkhorn_log", stopThr=1e-12, numItermax=100_000)
    got = sinkhorn_distance(x, y, reg, ground_cost=metric, tol=1e-12, max_iter=100_000)
    # Stopping at an L2 violation <= 1e-12 bounds the cost difference by ~1e-12 * max C / cost ~ 1e-11 (the
    # outlier's costs reach 1.7e3 for a cost of 149); measured 2e-11. 1e-9 relative keeps a margin of 50.
    assert got == pytest.approx(expected, rel=1e-9)


def test_sinkhorn_from_a_single_point_is_the_weighted_mean_distance() -> None:
    # A Dirac source admits one plan, P = b: the cost is sum_j b_j |x - y_j| for every eps.
    x, y = samples(7, n=1, m=30)
    b = histogram(8, 30)
    expected = float(b @ cdist(x, y)[0])
    # The plan is exact after the first iteration (rows and columns both match); rounding only: 1e-13.
    assert sinkhorn_distance(x, y, 0.3, b=b) == pytest.approx(expected, rel=1e-13)


def test_sinkhorn_accepts_torch_float32_and_numpy_alike() -> None:
    x, y = samples(9)
    xf, yf = x.astype(np.float32), y.astype(np.float32)
    from_numpy = sinkhorn_distance(xf.astype(np.float64), yf.astype(np.float64), 0.5, tol=1e-12)
    from_torch = sinkhorn_distance(torch.from_numpy(xf), torch.from_numpy(yf), 0.5, tol=1e-12)
    # The same float64 values reach the same deterministic computation: equal to rounding (1e-14).
    assert from_torch == pytest.approx(from_numpy, rel=1e-14)


def test_sinkhorn_warns_with_iterations_and_error_when_not_converged() -> None:
    x, y = samples(10)
    with pytest.warns(ConvergenceWarning, match=r"after 3 iterations \(max_iter=3\).*marginal error"):
        value = sinkhorn_distance(x, y, 0.01, max_iter=3)
    assert math.isfinite(value)


def test_sinkhorn_stays_finite_when_stopped_early_in_the_underflow_regime() -> None:
    x, y = on_sphere(11, 30, 64, 30.0), on_sphere(12, 30, 64, 30.0)
    with pytest.warns(ConvergenceWarning, match="after 5 iterations"):
        value = sinkhorn_distance(x, y, 0.01, max_iter=5)
    # A finite transport cost lies between the smallest and the largest entry of C.
    C = cdist(x, y)
    assert C.min() <= value <= C.max()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sinkhorn_and_emd_on_cuda_match_cpu() -> None:
    x, y = samples(13)
    xc, yc = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
    # Same float64 algorithm, different reduction orders: 1e-11 relative.
    on_cpu = sinkhorn_distance(x, y, 0.2, tol=1e-12)
    assert sinkhorn_distance(xc, yc, 0.2, tol=1e-12) == pytest.approx(on_cpu, rel=1e-11)
    assert emd(xc, yc) == pytest.approx(emd(x, y), rel=1e-11)


# ------------------------------------------------------------------------------------- sinkhorn on a cost matrix


@pytest.mark.parametrize("reg", [1.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_sinkhorn_from_cost_matches_pot_sinkhorn2_on_the_same_matrix(reg: float, weighted: bool) -> None:
    x, y = samples(40)
    M = cdist(x, y)
    a, b = (histogram(41, len(x), zeros=2), histogram(42, len(y), zeros=1)) if weighted else (None, None)
    # POT is given the support only (rows and columns of zero weight carry no mass): its solvers divide by or take
    # the logarithm of zero weights.
    pa, pb, support = (a[2:], b[1:], M[2:, 1:]) if weighted else ([], [], M)
    plain = ot.sinkhorn2(pa, pb, support, reg, stopThr=1e-13, numItermax=100_000)
    log_domain = ot.sinkhorn2(pa, pb, support, reg, method="sinkhorn_log", stopThr=1e-13, numItermax=100_000)
    got = sinkhorn_from_cost(M, reg, a=a, b=b, tol=1e-13, max_iter=100_000)
    # The same matrix and the same stopping rule (L2 column violation <= 1e-13): the plans differ by ~1e-13 and
    # the costs by ~1e-13 * max C / cost (~1e-12 here); measured <= 3e-13 relative. 1e-10 keeps a margin of 300
    # and still catches any wrong convention (eps scaling, marginal order, entropy term: > 1e-3).
    assert got == pytest.approx(plain, rel=1e-10)
    assert got == pytest.approx(log_domain, rel=1e-10)


def test_sinkhorn_from_cost_matches_pot_sinkhorn_log_where_plain_sinkhorn_underflows() -> None:
    # Costs of 40 to 45 with eps = 0.05: every entry of exp(-M/eps) is below the smallest double.
    M = 40.0 + 5.0 * np.random.default_rng(43).random((30, 45))
    reg = 0.05
    assert (np.exp(-M / reg) == 0).all()
    expected = ot.sinkhorn2([], [], M, reg, method="sinkhorn_log", stopThr=1e-12, numItermax=100_000)
    # Stopping at an L2 violation <= 1e-12 moves the cost by ~1e-12 * 45 / 40; 1e-9 relative keeps a margin.
    assert sinkhorn_from_cost(M, reg, tol=1e-12, max_iter=100_000) == pytest.approx(expected, rel=1e-9)


def test_sinkhorn_from_cost_accepts_negative_costs_as_pot_does() -> None:
    # A constant shift of C leaves the entropic plan unchanged, so the value moves by the shift; POT's log-domain
    # solver on the shifted matrix is the independent reference. Same stopping rule as above: 1e-9 relative.
    M = cdist(*samples(44)) - 6.0
    assert (M < 0).any()
    expected = ot.sinkhorn2([], [], M, 0.3, method="sinkhorn_log", stopThr=1e-12, numItermax=100_000)
    assert sinkhorn_from_cost(M, 0.3, tol=1e-12, max_iter=100_000) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("metric", METRICS)
def test_sinkhorn_distance_equals_sinkhorn_from_cost_on_scipy_cdist(metric: str) -> None:
    x, y = samples(45)
    a = histogram(46, len(x), zeros=3)
    C = cdist(x, y, "euclidean" if metric == "euclidean" else "sqeuclidean")
    # The two cost matrices agree to ~1e-15 relative (see test_cost_matrix_*); the same solver runs on both, so
    # the values agree to ~1e-14; 1e-12 allowed.
    expected = sinkhorn_from_cost(C, 0.4, a=a, tol=1e-12)
    assert sinkhorn_distance(x, y, 0.4, a=a, ground_cost=metric, tol=1e-12) == pytest.approx(expected, rel=1e-12)


def test_sinkhorn_from_cost_leaves_the_cost_matrix_unchanged() -> None:
    C = torch.from_numpy(cdist(*samples(47)))
    before = C.clone()
    sinkhorn_from_cost(C, 0.2)
    assert torch.equal(C, before)


@pytest.mark.parametrize(("eps", "offset"), [(0.1, 0.0), (0.1, 100.0), (0.01, 0.0)])
def test_sinkhorn_checked_every_ten_iterations_as_on_gpus_matches_pot_sinkhorn_log(eps: float, offset: float) -> None:
    # On the CPU convergence is checked after every iteration; on other devices in blocks of up to 10, halved when
    # a scaling leaves the safe range. That schedule runs here on the CPU, through absorptions (the outlier column
    # of exp(-C/eps) underflows; eps = 0.01 needs several) and without. Stopping rule 1e-12: 1e-9 relative as in
    # the underflow tests above.
    x, y = samples(50)
    y[0] += offset
    M = cdist(x, y)
    expected = ot.sinkhorn2([], [], M, eps, method="sinkhorn_log", stopThr=1e-12, numItermax=100_000)
    uniform = (
        torch.full((len(x),), 1.0 / len(x), dtype=torch.float64),
        torch.full((len(y),), 1.0 / len(y), dtype=torch.float64),
    )
    cost, _, error = _sinkhorn(torch.from_numpy(M), *uniform, eps, 100_000, 1e-12, check_every=10)
    assert error <= 1e-12
    assert cost == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("function", [sinkhorn_distance, sinkhorn_from_cost])
def test_sinkhorn_convergence_warning_points_at_the_callers_line(function: Callable[..., float]) -> None:
    x, y = samples(48)
    args = (x, y, 0.01) if function is sinkhorn_distance else (cdist(x, y), 0.01)
    with pytest.warns(ConvergenceWarning) as caught:
        function(*args, max_iter=2)
    assert caught[0].filename == __file__


# ----------------------------------------------------------------------------------------------------- emd


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("weighted", [False, True])
def test_emd_matches_pot_network_simplex(metric: str, weighted: bool) -> None:
    x, y = samples(14)
    a, b = (histogram(15, len(x), zeros=3), histogram(16, len(y))) if weighted else (None, None)
    pa, pb = (a, b) if weighted else ([], [])
    expected = ot.emd2(pa, pb, ot.dist(x, y, metric=metric))
    # The same linear programme on cost matrices equal to ~1e-15 relative: the optima agree to ~1e-14.
    assert emd(x, y, a=a, b=b, ground_cost=metric) == pytest.approx(expected, rel=1e-10)


def test_emd_of_equal_uniform_samples_is_the_optimal_assignment_cost() -> None:
    # Birkhoff: with n points of mass 1/n on each side an optimal plan is a permutation (Hungarian algorithm).
    x, y = samples(17, n=60, m=60)
    C = cdist(x, y)
    rows, cols = linear_sum_assignment(C)
    # Two exact solvers on costs equal to a few ulps: 1e-10 relative is ample.
    assert emd(x, y) == pytest.approx(C[rows, cols].sum() / 60, rel=1e-10)


@pytest.mark.parametrize("shape", ["(n,)", "(n, 1)"])
@pytest.mark.parametrize("weighted", [False, True])
def test_emd_in_one_dimension_matches_scipy_wasserstein_distance(shape: str, weighted: bool) -> None:
    rng = np.random.default_rng(18)
    u, v = rng.normal(size=45), rng.normal(loc=0.4, size=70)
    wu, wv = (histogram(19, 45, zeros=2), histogram(20, 70)) if weighted else (None, None)
    expected = scipy.stats.wasserstein_distance(u, v, wu, wv)
    if shape == "(n, 1)":
        u, v = u[:, None], v[:, None]
    # Same CDF formula as scipy's, summed in a different order: 1e-12 relative.
    assert emd(u, v, a=wu, b=wv) == pytest.approx(expected, rel=1e-12)


def test_emd_in_one_dimension_with_sqeuclidean_cost_matches_pot() -> None:
    # The closed form is for |x - y|; the squared cost goes through the network simplex.
    rng = np.random.default_rng(21)
    u, v = rng.normal(size=30), rng.normal(size=35)
    expected = ot.emd2([], [], ot.dist(u[:, None], v[:, None]))
    assert emd(u, v, ground_cost="sqeuclidean") == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("metric", METRICS)
def test_emd_between_a_sample_and_its_translate_is_the_shift(metric: str) -> None:
    # W1(mu, mu + t) = |t| (any coupling moves the mean by t, and 1-Lipschitz z -> z.t/|t| bounds it below);
    # W2^2(mu, mu + t) = |t|^2. The translate is rounded once per coordinate: ~1e-15 relative; 1e-12 allowed.
    x, _ = samples(22, n=50, d=3)
    t = np.array([0.3, -0.4, 1.2])
    expected = np.linalg.norm(t) if metric == "euclidean" else t @ t
    assert emd(x, x + t, ground_cost=metric) == pytest.approx(expected, rel=1e-12)


def test_emd_between_diracs_is_their_distance() -> None:
    p, q = np.array([[1.0, 2.0, -3.0]]), np.array([[0.5, 0.0, 1.0]])
    assert emd(p, q) == pytest.approx(math.dist(p[0], q[0]), rel=1e-14)
    assert emd(p, q, ground_cost="sqeuclidean") == pytest.approx(math.dist(p[0], q[0]) ** 2, rel=1e-14)


def test_emd_from_a_weighted_sample_to_a_dirac_is_the_weighted_mean_distance() -> None:
    x, q = samples(23, n=25, m=1)
    a = histogram(24, 25)
    assert emd(x, q, a=a) == pytest.approx(float(a @ cdist(x, q)[:, 0]), rel=1e-13)


def test_emd_refuses_a_non_optimal_network_simplex_result() -> None:
    x, y = samples(25)
    with pytest.raises(RuntimeError, match=r"stopped before the optimum.*max_iter=5"):
        emd(x, y, max_iter=5)


# ----------------------------------------------------------------------------------------------- properties

# Coordinates within [-5, 5] keep C / eps <= 7 for the Sinkhorn runs below, which then converge quickly.
points = st.integers(1, 6).flatmap(
    lambda n: arrays(np.float64, (n, 2), elements=st.floats(-5, 5, allow_nan=False, allow_infinity=False))
)
shifts = arrays(np.float64, (2,), elements=st.floats(-100, 100, allow_nan=False, allow_infinity=False))


@settings(max_examples=40, deadline=None)
@given(x=points, y=points, shift=shifts)
def test_transport_costs_are_translation_invariant(x: np.ndarray, y: np.ndarray, shift: np.ndarray) -> None:
    # Shifting both samples rounds each coordinate once (|error| <= 1.2e-14 for |coordinates| <= 105); every
    # cost entry moves by <= 3e-14 and so does the optimum: 1e-10 absolute is a wide margin.
    assert emd(x + shift, y + shift) == pytest.approx(emd(x, y), abs=1e-10)
    moved = sinkhorn_distance(x + shift, y + shift, 2.0, tol=1e-13)
    assert moved == pytest.approx(sinkhorn_distance(x, y, 2.0, tol=1e-13), abs=1e-10)


@settings(max_examples=40, deadline=None)
@given(x=points, y=points, metric=st.sampled_from(METRICS))
def test_emd_is_symmetric_and_non_negative(x: np.ndarray, y: np.ndarray, metric: str) -> None:
    forward = emd(x, y, ground_cost=metric)
    assert forward >= 0.0
    # The transposed linear programme has the same optimum; cost entries agree to a few ulps.
    assert emd(y, x, ground_cost=metric) == pytest.approx(forward, rel=1e-12, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(x=points, metric=st.sampled_from(METRICS))
def test_emd_of_a_sample_with_itself_is_zero(x: np.ndarray, metric: str) -> None:
    # The identity plan costs exactly 0 because identical points get a cost of exactly 0. With repeated points the
    # network simplex may return another plan: its reduced-cost test uses an absolute tolerance, so costs far
    # below it look equal to 0 (seen: 1.7e-22 with coordinates of 3.3e-22). Bound: 1e-12 of max(data scale, 1).
    assert 0.0 <= emd(x, x.copy(), ground_cost=metric) <= 1e-12 * max(float(np.abs(x).max()), 1.0)


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("reg", [0.0, -1.0, math.inf, math.nan])
def test_sinkhorn_rejects_a_non_positive_or_non_finite_reg(reg: float) -> None:
    x, y = samples(26)
    with pytest.raises(ValueError, match="reg"):
        sinkhorn_distance(x, y, reg)


def test_sinkhorn_rejects_a_reg_so_small_that_the_scaled_cost_overflows() -> None:
    x, y = samples(34)
    with pytest.raises(ValueError, match=r"reg: 1e-320 is below the smallest usable value"):
        sinkhorn_distance(x, y, 1e-320)


@pytest.mark.parametrize("metric", METRICS)
def test_sinkhorn_refuses_a_reg_below_the_smallest_usable_value_and_names_that_value(metric: str) -> None:
    # Issue 14, item 6: reg = 1e-300 on ordinary costs ran 47 s and printed Infinity. The smallest usable value is
    # 2**-40 max |C_ij| (exponents C / reg up to 2**40 keep a round-off of 2**-13); C from scipy's cdist.
    x, y = samples(35)
    C = cdist(x, y) if metric == "euclidean" else cdist(x, y, "sqeuclidean")
    smallest = C.max() * 2.0**-40
    with pytest.raises(ValueError, match=re.escape(f"reg: 1e-300 is below the smallest usable value {smallest:.3g} ")):
        sinkhorn_distance(x, y, 1e-300, ground_cost=metric)
    with pytest.raises(ValueError, match=re.escape(f"smallest usable value {smallest:.3g} ")):
        sinkhorn_from_cost(C, smallest * 0.99)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the floor itself is accepted, converged or not
        assert math.isfinite(sinkhorn_from_cost(C, smallest * 1.01, max_iter=5))


@pytest.mark.parametrize("max_iter", [np.int64(50), np.int32(50)])
def test_sinkhorn_and_emd_accept_numpy_integer_max_iter(max_iter: np.integer) -> None:
    x, y = samples(36)
    assert sinkhorn_distance(x, y, 0.5, max_iter=max_iter) == sinkhorn_distance(x, y, 0.5, max_iter=50)
    assert emd(x, y, max_iter=np.int64(10**6)) == emd(x, y)


@pytest.mark.parametrize("max_iter", [True, 2.5, "10"])
def test_sinkhorn_and_emd_reject_a_max_iter_that_is_not_an_integer(max_iter: object) -> None:
    x, y = samples(37)
    with pytest.raises(TypeError, match="max_iter: expected an integer"):
        sinkhorn_distance(x, y, 0.5, max_iter=max_iter)
    with pytest.raises(TypeError, match="max_iter: expected an integer"):
        emd(x, y, max_iter=max_iter)


def test_sinkhorn_rejects_one_dimensional_samples() -> None:
    with pytest.raises(ValueError, match=r"x: expected a 2-D array"):
        sinkhorn_distance(np.arange(5.0), np.arange(5.0)[:, None], 1.0)


@pytest.mark.parametrize("function", [sinkhorn_distance, emd])
def test_transport_rejects_samples_of_different_dimensions(function: Callable[..., float]) -> None:
    x, _ = samples(27, d=3)
    _, y = samples(27, d=4)
    args = (1.0,) if function is sinkhorn_distance else ()
    with pytest.raises(ValueError, match=r"x and y: feature dimensions differ \(3 vs 4\)"):
        function(x, y, *args)


@pytest.mark.parametrize("function", [sinkhorn_distance, emd])
def test_transport_rejects_nan_in_samples(function: Callable[..., float]) -> None:
    x, y = samples(28)
    y[3, 1] = np.nan
    args = (1.0,) if function is sinkhorn_distance else ()
    with pytest.raises(ValueError, match=r"y: contains 1 NaN"):
        function(x, y, *args)


@pytest.mark.parametrize("function", [sinkhorn_distance, emd])
def test_transport_rejects_negative_weights(function: Callable[..., float]) -> None:
    x, y = samples(29)
    a = np.full(len(x), 1.0 / len(x))
    a[0], a[1] = -0.1, a[1] + 0.1
    args = (1.0,) if function is sinkhorn_distance else ()
    with pytest.raises(ValueError, match=r"a: has negative weights"):
        function(x, y, *args, a=a)


@pytest.mark.parametrize("function", [sinkhorn_distance, emd])
def test_transport_rejects_weights_not_summing_to_one(function: Callable[..., float]) -> None:
    x, y = samples(30)
    args = (1.0,) if function is sinkhorn_distance else ()
    with pytest.raises(ValueError, match=r"b: weights sum to 55\.0, not 1"):
        function(x, y, *args, b=np.ones(len(y)))


@pytest.mark.parametrize("function", [sinkhorn_distance, emd])
def test_transport_rejects_an_unknown_ground_cost(function: Callable[..., float]) -> None:
    x, y = samples(31)
    args = (1.0,) if function is sinkhorn_distance else ()
    with pytest.raises(ValueError, match=r"ground_cost: 'cosine' is not supported"):
        function(x, y, *args, ground_cost="cosine")


def test_emd_size_guard_states_the_bytes_the_cost_matrix_needs() -> None:
    x, y = samples(32, n=10, m=20)
    with pytest.raises(ValueError, match=r"10 x 20 float64 cost matrix would need 1600 bytes.*max_bytes=1000"):
        emd(x, y, max_bytes=1000)
    assert emd(x, y, max_bytes=1600) == pytest.approx(ot.emd2([], [], ot.dist(x, y, metric="euclidean")), rel=1e-10)


def test_emd_rejects_three_dimensional_input() -> None:
    with pytest.raises(ValueError, match=r"x: expected a 2-D array"):
        emd(np.zeros((2, 3, 4)), np.zeros((2, 4)))


def test_sinkhorn_from_cost_rejects_a_one_dimensional_cost() -> None:
    with pytest.raises(ValueError, match=r"C: expected a 2-D array"):
        sinkhorn_from_cost(np.ones(5), 1.0)


def test_sinkhorn_from_cost_rejects_an_empty_cost() -> None:
    with pytest.raises(ValueError, match=r"C: is empty"):
        sinkhorn_from_cost(np.ones((0, 3)), 1.0)


def test_sinkhorn_from_cost_rejects_nan_and_inf_costs() -> None:
    C = np.ones((4, 5))
    C[1, 2], C[3, 0] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"C: contains 2 NaN or Inf"):
        sinkhorn_from_cost(C, 1.0)


def test_sinkhorn_from_cost_rejects_a_list() -> None:
    with pytest.raises(TypeError, match=r"C: expected a numpy array or a torch tensor, got list"):
        sinkhorn_from_cost([[0.0, 1.0], [1.0, 0.0]], 1.0)


@pytest.mark.parametrize(("name", "size"), [("a", 5), ("b", 4)])
def test_sinkhorn_from_cost_rejects_weights_that_do_not_match_the_cost_shape(name: str, size: int) -> None:
    # C is 4 x 5: a weighs its 4 rows, b its 5 columns.
    weights = {name: np.full(size, 1.0 / size)}
    expected = 4 if name == "a" else 5
    with pytest.raises(ValueError, match=rf"{name}: has {size} weights for {expected} samples"):
        sinkhorn_from_cost(np.ones((4, 5)), 1.0, **weights)


def test_sinkhorn_from_cost_rejects_a_reg_so_small_that_the_scaled_cost_overflows() -> None:
    # Negative costs count by their magnitude: the smallest usable reg for |C| up to 1e10 is 1e10 * 2**-40.
    with pytest.raises(ValueError, match=r"reg: 1e-300 is below the smallest usable value 0.00909 for costs up to 1e"):
        sinkhorn_from_cost(np.array([[0.0, -1e10], [1.0, 0.0]]), 1e-300)


@pytest.mark.parametrize("function", [sinkhorn_distance, sinkhorn_from_cost])
@pytest.mark.parametrize(("option", "value"), [("max_iter", 0), ("tol", -1e-9), ("tol", math.nan)])
def test_sinkhorn_rejects_invalid_iteration_options(function: Callable[..., float], option: str, value: float) -> None:
    x, y = samples(49)
    args = (x, y, 1.0) if function is sinkhorn_distance else (cdist(x, y), 1.0)
    with pytest.raises(ValueError, match=rf"{option}: must be"):
        function(*args, **{option: value})
