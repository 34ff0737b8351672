"""FeatureStats' streaming covariance (symmetric rank-k updates of the upper triangle) against the two-pass
float64 formula, at the benchmark's feature dimension."""

from __future__ import annotations

import numpy as np

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
