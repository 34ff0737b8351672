"""FeatureStats' streaming covariance (symmetric rank-k updates of the upper triangle) against the two-pass
float64 formula, at the benchmark's feature dimension."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganmetrics.metrics.statistics import FeatureStats


def test_streamed_covariance_equals_the_two_pass_float64_formula_to_1e_12() -> None:
    # Float32 features in batches of 100 as an extractor hands them over, d = 512, with a large common offset
    # (the update's centring must cancel it). Reference: numpy's two-pass float64 mean and covariance. Both are
    # float64 sums of the same products in other orders: the 1e-12 relative to the largest entry.
    rng = np.random.default_rng(17)
    d = 512
    x = (rng.standard_normal((1500, d)) * rng.uniform(0.05, 0.5, d) + 30.0).astype(np.float32)
    stats = FeatureStats(d)
    for start in range(0, len(x), 100):
        stats.update(x[start : start + 100])
    x64 = x.astype(np.float64)
    centred = x64 - x64.mean(axis=0)
    expected = centred.T @ centred / (len(x) - 1)
    sigma = stats.sigma.numpy()
    assert np.abs(sigma - expected).max() <= 1e-12 * np.abs(expected).max()
    assert np.array_equal(sigma, sigma.T)
    assert np.abs(stats.mu.numpy() - x64.mean(axis=0)).max() <= 1e-12 * 30.0


def test_merging_streamed_shards_equals_streaming_everything() -> None:
    # Shards streamed separately (their M2 kept as upper triangles) then merged: the same statistics to 1e-12.
    rng = np.random.default_rng(18)
    x = rng.standard_normal((900, 64)) + 5.0
    whole = FeatureStats(64)
    for start in range(0, 900, 100):
        whole.update(x[start : start + 100])
    merged = FeatureStats(64)
    for shard in np.array_split(x, 3):
        part = FeatureStats(64)
        for start in range(0, len(shard), 70):
            part.update(shard[start : start + 70])
        merged.merge(part)
    scale = np.abs(whole.sigma.numpy()).max()
    assert np.abs(merged.sigma.numpy() - whole.sigma.numpy()).max() <= 1e-12 * scale


def test_batches_of_changing_sizes_reuse_the_row_buffer_without_changing_the_result() -> None:
    # The update keeps its (B + 1) x d row buffer between batches: growing, shrinking and one-row batches, float32
    # and float64 alike, must give the two-pass statistics (1e-12 relative, as above).
    rng = np.random.default_rng(19)
    x = rng.standard_normal((700, 48)) * 2.0 + 7.0
    stats = FeatureStats(48)
    start = 0
    for size, dtype in [(100, np.float64), (37, np.float32), (250, np.float64), (1, np.float32), (312, np.float32)]:
        stats.update(x[start : start + size].astype(dtype))
        x[start : start + size] = x[start : start + size].astype(dtype)  # what the statistics saw
        start += size
    centred = x - x.mean(axis=0)
    expected = centred.T @ centred / (len(x) - 1)
    assert stats.n == 700
    assert np.abs(stats.sigma.numpy() - expected).max() <= 1e-12 * np.abs(expected).max()
    assert np.abs(stats.mu.numpy() - x.mean(axis=0)).max() <= 1e-12 * 7.0


@pytest.mark.parametrize(
    ("bad", "count"),
    [([np.nan], 1), ([np.inf], 1), ([-np.inf, -np.inf], 2), ([np.inf, -np.inf], 2), ([np.nan, np.inf], 2)],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_batch_is_refused_with_its_count_and_leaves_the_statistics_as_they_were(
    bad: list[float], count: int, dtype: type
) -> None:
    # Float32 batches are checked through their float64 column sums (no magnitude scan): +Inf and -Inf in one
    # column (sum NaN), two -Inf (sum -Inf) and NaN must all be caught there, as the scan catches them in float64.
    rng = np.random.default_rng(20)
    stats = FeatureStats(3).update(rng.standard_normal((5, 3)))
    before = (stats.n, stats.mu.clone(), stats.sigma.clone())
    batch = rng.standard_normal((4, 3)).astype(dtype)
    batch[: len(bad), 1] = bad
    with pytest.raises(ValueError, match=f"^features: contains {count} NaN or Inf value"):
        stats.update(batch, name="features")
    assert stats.n == before[0]
    assert torch.equal(stats.mu, before[1]) and torch.equal(stats.sigma, before[2])


def test_float32_batches_at_the_top_of_their_range_give_finite_exact_statistics() -> None:
    # Float32 batches skip the magnitude scan because no float32 can overflow the float64 sums: entries near
    # float32's largest value (3.4e38) must still give the two-pass float64 covariance (1e-12 relative).
    rng = np.random.default_rng(21)
    x = (rng.uniform(-1.0, 1.0, (60, 8)) * np.finfo(np.float32).max).astype(np.float32)
    stats = FeatureStats(8)
    for start in range(0, 60, 20):
        stats.update(x[start : start + 20])
    x64 = x.astype(np.float64)
    centred = x64 - x64.mean(axis=0)
    expected = centred.T @ centred / 59
    sigma = stats.sigma.numpy()
    assert np.isfinite(sigma).all()
    assert np.abs(sigma - expected).max() <= 1e-12 * np.abs(expected).max()


def test_float64_batch_too_large_for_the_sums_is_refused_before_any_change() -> None:
    stats = FeatureStats(2)
    with pytest.raises(ValueError, match="^batch: values up to 1e\\+200 are too large"):
        stats.update(np.array([[1e200, 0.0], [0.0, 1.0]]))
    assert stats.n == 0
