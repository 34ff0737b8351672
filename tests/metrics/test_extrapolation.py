"""FID∞ and IS∞: the reported points are FID_N / IS_N of the seeded subsamples (pytorch-fid's formula), the fit
equals numpy.polyfit on those points, the extrapolation removes the small-N bias on Gaussian data, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_fid.fid_score import calculate_frechet_distance

from ganmetrics.metrics.extrapolation import ExtrapolationResult, fid_infinity, is_infinity, subsample_sizes
from ganmetrics.metrics.inception_score import inception_score
from ganmetrics.metrics.statistics import FeatureStats


@pytest.fixture(scope="module")
def gaussians() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    real = rng.standard_normal((4000, 8))
    fake = rng.standard_normal((2000, 8)) + 0.5  # population FID = 8 · 0.5² = 2
    return real, fake


def test_fit_equals_numpy_polyfit_on_the_reported_points(gaussians: tuple[np.ndarray, np.ndarray]) -> None:
    real, fake = gaussians
    result = fid_infinity(real, fake)
    slope, intercept = np.polyfit(1.0 / np.asarray(result.sizes), np.asarray(result.values), 1)
    # Two least-squares routes on 15 points of order 1: agreement to 1e-9 relative.
    assert result.value == pytest.approx(intercept, rel=1e-9)
    assert result.slope == pytest.approx(slope, rel=1e-9)


def test_points_are_pytorch_fid_values_of_the_seeded_subsamples(gaussians: tuple[np.ndarray, np.ndarray]) -> None:
    real, fake = gaussians
    result = fid_infinity(real, fake, sizes=[300, 700, 2000], seed=4)
    generator = torch.Generator().manual_seed(4)  # the documented draw: one randperm per size, ascending sizes
    mu_r, sigma_r = real.mean(0), np.cov(real, rowvar=False)
    for size, value in zip(result.sizes, result.values, strict=True):
        sub = fake[torch.randperm(len(fake), generator=generator)[:size].numpy()]
        expected = calculate_frechet_distance(mu_r, sigma_r, sub.mean(0), np.cov(sub, rowvar=False))
        assert value == pytest.approx(expected, rel=1e-9)  # float64 round-off of sqrtm vs factorisation


def test_default_sizes_follow_the_authors_linspace() -> None:
    assert subsample_sizes(50_000, 15, 5000) == tuple(np.linspace(5000, 50_000, 15).astype("int32").tolist())
    assert subsample_sizes(2000, 3, 5000) == (1000, 1500, 2000)  # smallest lowered to n // 2


def test_extrapolation_removes_the_small_sample_bias_on_gaussians() -> None:
    rng = np.random.default_rng(0)
    real = rng.standard_normal((4000, 32))
    fake = rng.standard_normal((2000, 32)) + 0.25  # population FID = 32 · 0.25² = 2
    result = fid_infinity(real, fake, points=10, min_size=200)
    # FID_N is biased upward by terms of order d/N (here 32/200 at the smallest N, well above the sampling noise):
    # the slope is positive, every finite-N value exceeds the extrapolation, and FID∞ is closer to the population
    # value than the FID of all 2000 samples.
    assert result.slope > 0
    assert result.value < min(result.values)
    assert abs(result.value - 2.0) < abs(result.values[-1] - 2.0)


def test_feature_stats_as_reference_give_the_same_result(gaussians: tuple[np.ndarray, np.ndarray]) -> None:
    real, fake = gaussians
    from_stats = fid_infinity(FeatureStats.from_features(real), fake, sizes=[500, 2000])
    from_features = fid_infinity(real, fake, sizes=[500, 2000])
    assert from_stats.value == pytest.approx(from_features.value, rel=1e-12)  # same statistics, same route


def test_same_seed_same_result_other_seed_other_points(gaussians: tuple[np.ndarray, np.ndarray]) -> None:
    real, fake = gaussians
    first = fid_infinity(real, fake, sizes=[500, 1000, 1500], seed=1)
    assert fid_infinity(real, fake, sizes=[500, 1000, 1500], seed=1) == first
    assert fid_infinity(real, fake, sizes=[500, 1000, 1500], seed=2).values != first.values


def test_is_infinity_fits_inception_scores_of_the_subsamples() -> None:
    logits = np.random.default_rng(12).standard_normal((1200, 10)) * 3
    result = is_infinity(logits, points=4, min_size=300, seed=5)
    assert isinstance(result, ExtrapolationResult) and result.sizes == (300, 600, 900, 1200)
    generator = torch.Generator().manual_seed(5)
    for size, value in zip(result.sizes, result.values, strict=True):
        index = torch.randperm(len(logits), generator=generator)[:size].numpy()
        assert value == inception_score(logits[index], splits=1)[0]  # the same function on the same rows
    slope, intercept = np.polyfit(1.0 / np.asarray(result.sizes), np.asarray(result.values), 1)
    assert (result.value, result.slope) == pytest.approx((intercept, slope), rel=1e-9)


def test_a_single_size_is_refused(gaussians: tuple[np.ndarray, np.ndarray]) -> None:
    real, fake = gaussians
    with pytest.raises(ValueError, match="sizes: need at least two distinct sizes"):
        fid_infinity(real, fake, sizes=[500, 500])


def test_a_size_above_the_sample_is_refused(gaussians: tuple[np.ndarray, np.ndarray]) -> None:
    real, fake = gaussians
    with pytest.raises(ValueError, match="sizes: need at least two distinct sizes between 2 and 2000"):
        fid_infinity(real, fake, sizes=[500, 3000])


def test_too_few_samples_for_a_line_names_sizes() -> None:
    with pytest.raises(ValueError, match="sizes: 3 samples"):
        is_infinity(np.zeros((3, 4)))


def test_different_dimensions_name_real_and_fake(gaussians: tuple[np.ndarray, np.ndarray]) -> None:
    real, fake = gaussians
    with pytest.raises(ValueError, match="real and fake: feature dimensions differ"):
        fid_infinity(real[:, :4], fake)
