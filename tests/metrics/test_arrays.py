"""The shared input checks of the metrics: magnitude (issue 14, items 4 and 5), integers (item 11), seeds."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pytest
import torch

from ganmetrics.metrics._arrays import as_checked_float, as_float64, check_int, check_magnitude, check_seed, largest_abs
from ganmetrics.metrics.frechet import fid_from_features, frechet_distance
from ganmetrics.metrics.inception_score import inception_score
from ganmetrics.metrics.mmd import kid, mmd2_unbiased
from ganmetrics.metrics.prdc import prdc
from ganmetrics.metrics.statistics import FeatureStats
from ganmetrics.metrics.transport import emd, sinkhorn_distance

FLOAT64_MAX = np.finfo(np.float64).max


def normal(seed: int, n: int = 40, d: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d))


# Every metric on (x, y) feature samples, with options small enough for 40 rows.
SAMPLE_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], object]] = {
    "fid": fid_from_features,
    "mmd": lambda x, y: mmd2_unbiased(x, y),
    "kid": lambda x, y: kid(x, y, subsets=2, subset_size=20),
    "sinkhorn": lambda x, y: sinkhorn_distance(x, y, 1.0),
    "emd": lambda x, y: emd(x, y),
    "prdc": lambda x, y: prdc(x, y, k=3, density_k=3),
}


@pytest.mark.parametrize("scale", [1e160, 1e200])
@pytest.mark.parametrize("metric", SAMPLE_METRICS)
def test_every_sample_metric_refuses_features_whose_squares_overflow(metric: str, scale: float) -> None:
    # Before: fid/mmd/kid returned NaN, emd stopped with "Raise max_iter" (the cost matrix was Inf).
    x, y = normal(0), normal(1) * scale
    with pytest.raises(ValueError, match=r"^(y|fake): values up to .* are too large: sums of their squares"):
        SAMPLE_METRICS[metric](x, y)


def test_frechet_distance_refuses_a_mean_whose_square_overflows() -> None:
    # Before: frechet_distance(mu * 1e200, ...) returned inf.
    x = normal(2)
    mu, sigma = x.mean(0), np.cov(x, rowvar=False)
    with pytest.raises(ValueError, match=r"^mu1: values up to .* are too large"):
        frechet_distance(mu * 1e200, sigma, mu, sigma)
    with pytest.raises(ValueError, match=r"^sigma2: values up to .* are too large"):
        frechet_distance(mu, sigma, mu, sigma * 1e300)


def test_magnitude_limit_is_the_largest_entry_whose_sums_of_squares_fit() -> None:
    # The limit sqrt(float64_max / (8 k)) from the module docstring, computed here with numpy.
    k = 2048
    limit = math.sqrt(FLOAT64_MAX / (8 * k))
    check_magnitude(limit * (1 - 1e-9), "x", terms=k)
    with pytest.raises(ValueError, match=re.escape(f"entries must stay below {limit:.3g})")):
        check_magnitude(limit * (1 + 1e-9), "x", terms=k)
    # The sum the limit protects is finite at the limit: k terms of 8 * limit**2 (the centred, cross-term bound).
    assert np.isfinite(np.float64(k) * 8 * np.float64(limit) ** 2)


def test_kid_refuses_features_whose_cubed_kernel_overflows_although_their_squares_fit() -> None:
    # 1e60 passes the square check (limit ~1e152), but the std of (a.b / d + 1)**3 holds ~1e720.
    x, y = normal(3), normal(4) * 1e60
    assert math.isfinite(fid_from_features(x, y))
    with pytest.raises(ValueError, match=r"^y: values up to .* squares raised to the power 6"):
        kid(x, y, subsets=2, subset_size=20)


def test_fid_refuses_features_whose_covariance_products_overflow_although_their_squares_fit() -> None:
    # 1e100 passes the square check, but the trace term multiplies two covariances: ~1e400 in float64.
    x, y = normal(5), normal(6) * 1e100
    assert math.isfinite(SAMPLE_METRICS["emd"](x, y))
    with pytest.raises(ValueError, match=r"^y: values up to .* squares raised to the power 2"):
        fid_from_features(x, y)


def test_large_features_within_each_metrics_limit_give_finite_values() -> None:
    scales = {"fid": 1e70, "kid": 1e15, "mmd": 1e140, "sinkhorn": 1e140, "emd": 1e140, "prdc": 1e140}
    for metric, scale in scales.items():
        x, y = normal(5) * scale, normal(6) * scale
        # Sinkhorn's reg is in cost units: it scales with the features.
        value = sinkhorn_distance(x, y, scale) if metric == "sinkhorn" else SAMPLE_METRICS[metric](x, y)
        values = value if isinstance(value, tuple) else getattr(value, "__dict__", {"v": value}).values()
        assert all(math.isfinite(v) for v in values), metric


def test_as_float64_accepts_a_scalar_tensor() -> None:
    assert float(as_float64(torch.tensor(3.0), "s")) == 3.0


@pytest.mark.parametrize("value", [np.int64(3), np.int32(3), np.uint8(3), 3])
def test_check_int_accepts_every_integral_type_and_returns_a_python_int(value: object) -> None:
    result = check_int(value, "k", 1)
    assert result == 3 and type(result) is int


@pytest.mark.parametrize("value", [True, np.bool_(True), 3.0, "3", None])
def test_check_int_rejects_bools_and_non_integers(value: object) -> None:
    with pytest.raises(TypeError, match="^k: expected an integer"):
        check_int(value, "k", 1)


def test_inception_score_accepts_numpy_integer_splits_and_rejects_bools() -> None:
    # Issue 14, item 11: splits=np.int64(2) raised "got int64".
    logits = normal(7, n=30, d=10)
    assert inception_score(logits, splits=np.int64(2)) == inception_score(logits, splits=2)
    with pytest.raises(TypeError, match="splits: expected an integer, got bool"):
        inception_score(logits, splits=True)


def test_feature_stats_accept_numpy_integer_counts() -> None:
    x = normal(8)
    rebuilt = FeatureStats.from_moments(x.mean(0), np.cov(x, rowvar=False), np.int64(40))
    assert rebuilt.n == 40 and type(rebuilt.n) is int
    assert FeatureStats(np.int64(8)).dims == 8


@pytest.mark.parametrize("seed", [2**64, 99999999999999999999999, -1])
def test_seeds_outside_the_generator_range_are_refused_naming_the_seed(seed: int) -> None:
    # Before: "Overflow when unpacking long long", without the option's name.
    with pytest.raises(ValueError, match=r"^seed: must be at (most 18446744073709551615|least 0)"):
        check_seed(seed)
    with pytest.raises(ValueError, match=r"^seed: must be at"):
        kid(normal(9), normal(10), subsets=2, subset_size=20, seed=seed)


def test_the_largest_seed_is_accepted() -> None:
    assert math.isfinite(kid(normal(11), normal(12), subsets=2, subset_size=20, seed=2**64 - 1)[0])


@pytest.mark.parametrize(
    ("values", "expected"),
    [([0.5, -3.0, 2.0], 3.0), ([4.0, -1.0], 4.0), ([-0.0], 0.0), ([1.0, -math.inf], math.inf), ([math.inf], math.inf)],
)
def test_largest_abs_is_the_max_of_abs(values: list[float], expected: float) -> None:
    t = torch.tensor(values, dtype=torch.float64)
    assert largest_abs(t) == expected == float(t.abs().max())


@pytest.mark.parametrize("values", [[math.nan, 1.0], [1.0, math.nan], [-math.inf, math.nan]])
def test_largest_abs_is_nan_when_any_entry_is_nan(values: list[float]) -> None:
    assert math.isnan(largest_abs(torch.tensor(values, dtype=torch.float64)))


@pytest.mark.parametrize(
    ("array", "dtype"),
    [
        (np.array([[1.5, -4.0]], dtype=np.float32), torch.float32),
        (np.array([[1.5, -4.0]]), torch.float64),
        (np.array([[1, -4]], dtype=np.int64), torch.float64),
        (torch.tensor([[1.5, -4.0]], dtype=torch.float16), torch.float64),
    ],
)
def test_as_checked_float_keeps_float32_and_gives_the_largest_entry(array: object, dtype: torch.dtype) -> None:
    t, largest = as_checked_float(array, "x", ndim=2)
    assert t.dtype == dtype and largest == 4.0
    torch.testing.assert_close(t.double(), as_float64(array, "x", ndim=2), rtol=0, atol=0)


def test_as_checked_float_refuses_nan_in_float32_as_as_float64_does() -> None:
    bad = np.array([[1.0, np.nan]], dtype=np.float32)
    with pytest.raises(ValueError, match="x: contains 1 NaN or Inf value"):
        as_checked_float(bad, "x")
    with pytest.raises(ValueError, match="x: contains 1 NaN or Inf value"):
        as_float64(bad, "x")
