"""The Fréchet distance and FeatureStats against independent references.

References: pytorch-fid's ``calculate_frechet_distance`` (scipy sqrtm), POT's Bures–Wasserstein distance
(an independent closed form for Gaussians), closed forms for diagonal covariances, numpy's mean/cov.
"""

from __future__ import annotations

import warnings

import numpy as np
import ot
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pytorch_fid.fid_score import calculate_frechet_distance

from ganmetrics.metrics import _psd, frechet
from ganmetrics.metrics.frechet import (
    FrechetReference,
    NegativeEigenvalueWarning,
    fid_from_features,
    frechet_distance,
)
from ganmetrics.metrics.statistics import FeatureStats


def _gaussian_features(rng: np.random.Generator, n: int, d: int, shift: float = 0.0, scale: float = 1.0):
    mixing = rng.standard_normal((d, d)) / np.sqrt(d)
    return (rng.standard_normal((n, d)) @ mixing) * scale + shift


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def _well_conditioned_covariance(rng: np.random.Generator, d: int) -> np.ndarray:
    # Σ = 0.5 I + B Bᵀ / d with B of rank d/4: eigenvalues in [0.5, ~2], so the condition number is small.
    b = rng.standard_normal((d, d // 4))
    return 0.5 * np.eye(d) + b @ b.T / d


@pytest.mark.slow  # 9-16 s on two idle cores; the quick run stays under 6 minutes
@pytest.mark.parametrize("d", [64, 2048])
def test_fid_matches_scipy_sqrtm_formula_on_well_conditioned_stats(d: int) -> None:
    # Both routes are backward stable in float64 on well-conditioned Σ; the issue asks 1e-9 relative.
    rng = np.random.default_rng(d)
    m1, m2 = rng.standard_normal(d), rng.standard_normal(d) * 0.1
    s1, s2 = _well_conditioned_covariance(rng, d), _well_conditioned_covariance(rng, d)
    expected = calculate_frechet_distance(m1, s1, m2, s2)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-9)


def test_fid_matches_pot_bures_wasserstein() -> None:
    # POT's closed form W2²(N(m1,S1), N(m2,S2)) is an independent implementation (its own sqrtm route).
    rng = np.random.default_rng(1)
    x = _gaussian_features(rng, 600, 128)
    y = _gaussian_features(rng, 600, 128, shift=-0.3, scale=0.8)
    m1, s1 = _moments(x)
    m2, s2 = _moments(y)
    expected = float(ot.gaussian.bures_wasserstein_distance(m1, m2, s1, s2)) ** 2
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-9)


def test_fid_closed_form_diagonal_covariances() -> None:
    # Diagonal Σ: FID = ‖Δμ‖² + Σ_i (√a_i − √b_i)²; float64 round-off only, so 1e-12 relative.
    rng = np.random.default_rng(2)
    d = 300
    a, b = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    m1, m2 = rng.standard_normal(d), rng.standard_normal(d)
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(m1, np.diag(a), m2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_fid_unit_mean_shift_in_2048_dims_is_2048() -> None:
    # μ 0 vs 1 with Σ = I at d = 2048: ‖Δμ‖² = 2048 and the covariance terms cancel exactly.
    d = 2048
    eye = np.eye(d)
    assert frechet_distance(np.zeros(d), eye, np.ones(d), eye) == pytest.approx(2048.0, rel=1e-12)


def test_fid_on_rank_deficient_stats_is_real_finite_and_matches_exact_feature_route() -> None:
    # N < d: the covariances are singular. The exact trace term is the nuclear norm of the centred
    # cross-product X̃Ỹᵀ/√((n1−1)(n2−1)), computed here independently in numpy by SVD. The stats route drops
    # the round-off null space (pivoted Cholesky) and must agree to 1e-12 (measured ≤ 2e-15 over seeds 3–7;
    # the sqrtm route is off by ~1e-8 here).
    rng = np.random.default_rng(3)
    n, d = 150, 400
    x = _gaussian_features(rng, n, d)
    y = _gaussian_features(rng, n, d, shift=0.05, scale=1.1)
    xc, yc = x - x.mean(0), y - y.mean(0)
    trace_sqrt = np.linalg.svd(xc @ yc.T / (n - 1), compute_uv=False).sum()
    m1, s1 = _moments(x)
    m2, s2 = _moments(y)
    expected = np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    with warnings.catch_warnings():
        warnings.simplefilter("error", NegativeEigenvalueWarning)
        from_stats = frechet_distance(m1, s1, m2, s2)
    from_features = fid_from_features(x, y)
    assert np.isfinite(from_stats) and from_stats >= 0
    assert from_stats == pytest.approx(expected, rel=1e-12)
    assert from_features == pytest.approx(expected, rel=1e-12)


def test_fid_from_features_matches_pytorch_fid_statistics_route() -> None:
    # fid_from_features = frechet of numpy mean / cov (ddof 1), the way pytorch-fid builds its statistics.
    rng = np.random.default_rng(4)
    x = _gaussian_features(rng, 400, 32)
    y = _gaussian_features(rng, 300, 32, shift=0.2)
    m1, s1 = _moments(x)
    m2, s2 = _moments(y)
    assert fid_from_features(x, y) == pytest.approx(calculate_frechet_distance(m1, s1, m2, s2), rel=1e-9)


def test_fid_accepts_torch_tensors_and_float32() -> None:
    rng = np.random.default_rng(5)
    x = _gaussian_features(rng, 200, 16).astype(np.float32)
    y = _gaussian_features(rng, 200, 16, shift=0.3).astype(np.float32)
    expected = fid_from_features(x.astype(np.float64), y.astype(np.float64))
    assert fid_from_features(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(expected, rel=1e-12)


def test_frechet_reference_reuses_factor_and_equals_function() -> None:
    rng = np.random.default_rng(6)
    m1, s1 = _moments(_gaussian_features(rng, 300, 24))
    ref = FrechetReference(m1, s1)
    for shift in (0.0, 0.5):
        m2, s2 = _moments(_gaussian_features(rng, 300, 24, shift=shift))
        assert ref(m2, s2) == pytest.approx(frechet_distance(m1, s1, m2, s2), rel=1e-13)


def test_negative_eigen_mass_beyond_roundoff_is_reported_with_its_size() -> None:
    # A covariance with a small negative eigenvalue (−1e-6 λ_max: not round-off, not clearly non-PSD).
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    lam = np.linspace(1.0, 2.0, 20)
    lam[0] = -2e-6
    bad = (q * lam) @ q.T
    with pytest.warns(NegativeEigenvalueWarning, match=r"negative eigenvalue.*-2e-06"):
        value = frechet_distance(np.zeros(20), bad, np.zeros(20), np.eye(20))
    assert np.isfinite(value) and value >= 0


@pytest.mark.parametrize("rank", [5, 39, 40])
def test_pivoted_cholesky_factor_reproduces_psd_matrix_with_its_rank(rank: int) -> None:
    # Σ = B Bᵀ with B of `rank` columns (d = 40): the factor must have that many columns and A Aᵀ = Σ to
    # round-off (1e-13 of max Σ_ii: the factor's own backward error is ~d·eps).
    rng = np.random.default_rng(20 + rank)
    b = rng.standard_normal((40, rank))
    sigma = torch.from_numpy(b @ b.T)
    a = _psd.pivoted_cholesky(sigma)
    assert a is not None and a.shape == (40, rank)
    assert torch.allclose(a @ a.T, sigma, rtol=0, atol=1e-13 * float(sigma.diagonal().max()))


def test_pivoted_cholesky_refuses_indefinite_matrix_whose_dropped_diagonal_is_zero() -> None:
    # [[1,0,0],[0,0,1],[0,1,0]] has eigenvalues {1, 1, -1}: after the first pivot every remaining diagonal entry
    # is 0, so only the check of the dropped Schur complement can see the -1.
    sigma = torch.tensor([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]], dtype=torch.float64)
    assert _psd.pivoted_cholesky(sigma) is None
    with pytest.raises(ValueError, match="sigma1: is not positive semi-definite"):
        frechet_distance(np.zeros(3), sigma.numpy(), np.zeros(3), np.eye(3))


def test_congruence_and_eigenvalues_equal_numpy_products() -> None:
    # Lᵀ Σ L by dsygst (lower triangle) against numpy's two matrix products, and its eigenvalues against
    # numpy's eigvalsh: both to 1e-12 relative (float64 round-off of O(d) sums, d = 64).
    rng = np.random.default_rng(21)
    s1, s2 = _well_conditioned_covariance(rng, 64), _well_conditioned_covariance(rng, 64)
    chol = torch.linalg.cholesky(torch.from_numpy(s1))
    expected = chol.numpy().T @ s2 @ chol.numpy()
    got = frechet._congruence(chol, torch.from_numpy(s2)).numpy()
    np.testing.assert_allclose(np.tril(got), np.tril(expected), rtol=0, atol=1e-12 * np.abs(expected).max())
    np.testing.assert_allclose(
        frechet._eigvalsh_lower(torch.from_numpy(got)).numpy(), np.linalg.eigvalsh(expected), rtol=1e-12
    )


@pytest.mark.parametrize("n", [30, 200])
def test_torch_linalg_route_for_other_devices_equals_lapack_route(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # CUDA tensors take the torch.linalg branches (eigh factor, two products, eigvalsh, svdvals); run them on
    # the CPU by emptying the LAPACK device list. Full-rank (n = 200 > d = 48) and rank-deficient (n = 30)
    # statistics; the routes differ by round-off only (1e-10 relative).
    rng = np.random.default_rng(22 + n)
    m1, s1 = _moments(_gaussian_features(rng, n, 48))
    m2, s2 = _moments(_gaussian_features(rng, n, 48, shift=0.1, scale=1.2))
    lapack = frechet_distance(m1, s1, m2, s2)
    monkeypatch.setattr(_psd, "LAPACK_DEVICES", ())
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(lapack, rel=1e-10)


# --- FeatureStats -------------------------------------------------------------------------------------------


def test_feature_stats_match_numpy_mean_and_cov() -> None:
    rng = np.random.default_rng(8)
    x = rng.standard_normal((500, 10)) * 3 + 100  # a large offset stresses the streaming update
    stats = FeatureStats(10)
    for chunk in np.array_split(x, 7):
        stats.update(chunk)
    # numpy's two-pass cov in float64; the Chan update agrees to round-off (1e-12 relative).
    np.testing.assert_allclose(stats.mu.numpy(), x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.sigma.numpy(), np.cov(x, rowvar=False), rtol=1e-10, atol=1e-12)
    assert stats.n == 500


@settings(max_examples=30, deadline=None)
@given(
    splits=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=6),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_feature_stats_batch_split_invariance(splits: list[int], seed: int) -> None:
    # Any split into batches, merged in any grouping, gives the same statistics to 1e-12 relative.
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((sum(splits), 5)) + rng.uniform(-50, 50, 5)
    whole = FeatureStats(5).update(x)
    parts, start = [], 0
    for size in splits:
        parts.append(FeatureStats(5).update(x[start : start + size]))
        start += size
    merged = FeatureStats(5)
    for part in parts:
        merged.merge(part)
    assert merged.n == whole.n
    np.testing.assert_allclose(merged.mu.numpy(), whole.mu.numpy(), rtol=1e-12, atol=1e-12)
    if whole.n >= 2:
        np.testing.assert_allclose(merged.sigma.numpy(), whole.sigma.numpy(), rtol=1e-12, atol=1e-12)


def test_feature_stats_from_moments_roundtrip_and_merge() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((40, 6)), rng.standard_normal((60, 6)) + 1
    merged = FeatureStats.from_moments(*_moments(a), n=40).merge(FeatureStats.from_moments(*_moments(b), n=60))
    both = np.concatenate([a, b])
    np.testing.assert_allclose(merged.sigma.numpy(), np.cov(both, rowvar=False), rtol=1e-12, atol=1e-13)


# --- properties ---------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**16), d=st.integers(min_value=1, max_value=12))
def test_fid_properties_identity_symmetry_nonnegativity(seed: int, d: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3 * d + 5, d)) * rng.uniform(0.1, 3)
    y = rng.standard_normal((3 * d + 5, d)) + rng.uniform(-1, 1)
    m1, s1 = _moments(x)
    m2, s2 = _moments(y)
    scale = np.trace(s1) + np.trace(s2) + 1.0
    # FID(x, x) is 0 up to cancellation round-off of tr Σ terms: 1e-10 of their size.
    assert frechet_distance(m1, s1, m1, s1) <= 1e-10 * scale
    forward, backward = frechet_distance(m1, s1, m2, s2), frechet_distance(m2, s2, m1, s1)
    assert forward >= 0
    assert forward == pytest.approx(backward, rel=1e-9, abs=1e-10 * scale)


# --- bad input ----------------------------------------------------------------------------------------------


def test_bad_input_mismatched_dims() -> None:
    with pytest.raises(ValueError, match="mu1 and mu2: feature dimensions differ"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_bad_input_mean_and_covariance_dims_differ() -> None:
    with pytest.raises(ValueError, match="mu1 and sigma1: dimensions differ"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))


def test_bad_input_too_few_samples() -> None:
    with pytest.raises(ValueError, match="y: needs at least 2 samples, got 1"):
        fid_from_features(np.zeros((5, 3)), np.zeros((1, 3)))


def test_bad_input_nan_in_features() -> None:
    x = np.zeros((5, 3))
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match="x: contains 1 NaN or Inf"):
        fid_from_features(x, np.ones((5, 3)))


def test_bad_input_inf_in_stats() -> None:
    sigma = np.eye(3)
    sigma[0, 0] = np.inf
    with pytest.raises(ValueError, match="sigma2: contains 1 NaN or Inf"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), sigma)


def test_bad_input_non_square_sigma() -> None:
    with pytest.raises(ValueError, match="sigma1: a covariance must be a square matrix"):
        frechet_distance(np.zeros(3), np.ones((3, 4)), np.zeros(3), np.eye(3))


def test_bad_input_asymmetric_sigma() -> None:
    sigma = np.eye(3)
    sigma[0, 1] = 0.5
    with pytest.raises(ValueError, match="sigma1: is not symmetric"):
        frechet_distance(np.zeros(3), sigma, np.zeros(3), np.eye(3))


@pytest.mark.parametrize("d", [2, 127, 128, 129, 300])
def test_symmetry_check_finds_one_asymmetric_entry_anywhere_against_the_full_comparison(d: int) -> None:
    # The check compares block rows with block columns (_psd._SYMMETRY_BLOCK = 128): every position, on both
    # sides of the diagonal and across block edges, must be found as the plain Σ == Σᵀ comparison finds it.
    rng = np.random.default_rng(d)
    a = rng.standard_normal((d, d))
    sigma = torch.from_numpy(a @ a.T)
    sigma = (sigma + sigma.T) / 2
    assert _psd._exactly_symmetric(sigma)
    for i, j in {(0, d - 1), (d - 1, 0), (d // 2, d // 3), (d - 1, d - 2), (min(127, d - 1), min(128, d - 1))}:
        bad = sigma.clone()
        bad[i, j] += 1.0
        assert _psd._exactly_symmetric(bad) == torch.equal(bad, bad.T) == (i == j)


def test_nearly_symmetric_sigma_is_symmetrised_and_an_exact_one_returned_as_is() -> None:
    # Within 1e-6 of the largest entry an asymmetric Σ is accepted as (Σ + Σᵀ) / 2; an exactly symmetric one is
    # returned itself (no copy).
    sigma = torch.eye(3, dtype=torch.float64) * 4.0
    assert _psd.check_covariance(sigma, "s") is sigma
    sigma[0, 1] = 1e-7
    expected = torch.eye(3, dtype=torch.float64) * 4.0
    expected[0, 1] = expected[1, 0] = 5e-8
    assert torch.equal(_psd.check_covariance(sigma, "s"), expected)


def test_bad_input_clearly_non_psd_sigma() -> None:
    with pytest.raises(ValueError, match="sigma2: is not positive semi-definite"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.diag([1.0, -0.5]))


def test_bad_input_one_dimensional_features() -> None:
    with pytest.raises(ValueError, match=r"x: expected a 2-D array \(rows are samples\), got shape \(5,\)"):
        fid_from_features(np.zeros(5), np.zeros((5, 1)))


def test_bad_input_not_an_array() -> None:
    with pytest.raises(TypeError, match="mu1: expected a numpy array or a torch tensor, got list"):
        frechet_distance([0.0, 0.0], np.eye(2), np.zeros(2), np.eye(2))


def test_bad_input_feature_stats_too_few_samples_for_sigma() -> None:
    stats = FeatureStats(3).update(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="FeatureStats: needs at least 2 samples, has 1"):
        _ = stats.sigma
