"""``ganmetrics.testing``: each assertion passes on the good side of its threshold with the value an
independent computation gives (numpy, POT, scipy), fails with value, threshold, sizes and provenance in the
message, and refuses a threshold that is not a number; the fixture records values for JUnit XML."""

from __future__ import annotations

import numpy as np
import ot
import pytest
from pytorch_fid.fid_score import calculate_frechet_distance

from ganmetrics.reference_store import default_root, mixture_sample
from ganmetrics.testing import (
    MetricRegression,
    assert_emd_below,
    assert_fid_below,
    assert_is_above,
    assert_kid_below,
    assert_mmd_below,
    assert_sinkhorn_below,
    metric_regression,  # noqa: F401  (the fixture, used by name below)
)

pytestmark = pytest.mark.filterwarnings("ignore::ganmetrics.provenance.UnknownProvenanceWarning")


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.standard_normal((80, 4)), rng.standard_normal((70, 4)) * 1.3 + 0.5


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray, kernel) -> float:
    """Gretton et al. 2012, Lemma 6, written with full kernel matrices in numpy."""
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    m, n = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean()
    )


def test_fid_value_is_the_frechet_distance_and_failure_message_is_complete(pair) -> None:
    x, y = pair
    expected = calculate_frechet_distance(y.mean(0), np.cov(y, rowvar=False), x.mean(0), np.cov(x, rowvar=False))
    measurement = assert_fid_below(x, y, expected * 1.001)
    assert measurement.value == pytest.approx(expected, rel=1e-9)  # scipy sqrtm vs eigen route, float64
    with pytest.raises(AssertionError) as failure:
        assert_fid_below(x, y, expected * 0.999)
    message = str(failure.value)
    assert message.startswith(f"fid = {expected:.6g} is not below the threshold {expected * 0.999:g}")
    assert "n1=70, n2=80, dims=4" in message
    assert "reference reference: unknown provenance dims=4; samples samples: unknown provenance dims=4" in message


def test_kid_value_is_the_cubic_kernel_unbiased_mmd(pair) -> None:
    x, y = pair[0][:70], pair[1]
    # One subset as large as both samples is each whole sample (kid's docstring): the full-sample estimate.
    expected = _unbiased_mmd2(y, x, lambda a, b: (a @ b.T / a.shape[1] + 1) ** 3)  # Binkowski et al. 2018
    value = assert_kid_below(x, y, expected + 1e-3, subsets=1, subset_size=70, seed=0).value
    assert value == pytest.approx(expected, rel=1e-6)  # float32 dot products by default (mmd.py): issue's 1e-6
    with pytest.raises(AssertionError, match=r"kid = .* is not below the threshold 0 "):
        assert_kid_below(x, y, 0.0, subsets=1, subset_size=70)


def test_mmd_value_is_the_gaussian_kernel_unbiased_mmd(pair) -> None:
    x, y = pair
    sigma = 1.5
    expected = _unbiased_mmd2(y, x, lambda a, b: np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / (2 * sigma**2)))
    measurement = assert_mmd_below(x, y, expected + 1e-6, sigma=sigma)
    assert measurement.value == pytest.approx(expected, rel=1e-6)  # float32 dot products by default (mmd.py)
    with pytest.raises(AssertionError, match=r"mmd = .* is not below"):
        assert_mmd_below(x, y, expected - 1e-6, sigma=sigma)


def test_sinkhorn_value_equals_pot(pair) -> None:
    x, y = pair
    expected = ot.sinkhorn2(
        np.full(70, 1 / 70),
        np.full(80, 1 / 80),
        ot.dist(y, x, metric="euclidean"),
        0.5,
        method="sinkhorn_log",
        numItermax=10_000,
        stopThr=1e-12,
    )
    value = assert_sinkhorn_below(x, y, float(expected) + 0.01, reg=0.5).value
    assert value == pytest.approx(float(expected), rel=1e-6)  # both converged to ~1e-9 marginal violation


def test_emd_on_shipped_reference_equals_pot_and_names_its_provenance() -> None:
    samples = mixture_sample("grid25", 300, seed=5)
    reference = np.load(default_root() / "grid25-2500.npz")["features"].astype(np.float64)
    cost = ot.dist(reference, samples.astype(np.float64), metric="euclidean")
    expected = ot.emd2(np.full(2500, 1 / 2500), np.full(300, 1 / 300), cost)
    assert assert_emd_below(samples, "ref:grid25-2500", expected + 1e-6).value == pytest.approx(expected, rel=1e-9)
    with pytest.raises(AssertionError) as failure:
        assert_emd_below(samples, "ref:grid25-2500", expected - 1e-6)
    assert "reference ref:grid25-2500: extractor=raw-coordinates dims=2" in str(failure.value)


def test_is_above_uses_the_salimans_formula() -> None:
    logits = np.random.default_rng(1).standard_normal((60, 12)) * 2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(p.mean(0))), axis=1))))
    assert assert_is_above(logits, expected - 1e-6, splits=1).value == pytest.approx(expected, rel=1e-10)
    with pytest.raises(AssertionError, match=r"is = .* is not above the threshold"):
        assert_is_above(logits, expected + 1e-6, splits=1)


def test_is_above_on_the_shipped_synthetic_reference_reads_its_stored_logits() -> None:
    with np.load(default_root() / "synthetic-32px-inception-pytorch-fid-random-weights.npz") as data:
        logits = data["logits_unbiased"].astype(np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(p.mean(0))), axis=1))))
    value = assert_is_above("ref:synthetic-32px-inception-pytorch-fid-random-weights", 1.0, splits=1).value
    assert value == pytest.approx(expected, rel=1e-10)  # float64 log-softmax vs numpy


@pytest.mark.parametrize("threshold", ["1.0", None, True])
def test_threshold_that_is_not_a_number_is_refused(pair, threshold: object) -> None:
    x, y = pair
    with pytest.raises(TypeError, match="threshold: expected a number"):
        assert_fid_below(x, y, threshold)


def test_unknown_option_is_refused_naming_it(pair) -> None:
    x, y = pair
    with pytest.raises(ValueError, match="options: emd does not take reg"):
        assert_emd_below(x, y, 1.0, reg=0.1)


def test_fixture_records_value_and_threshold_for_junit(
    pair,
    metric_regression: MetricRegression,  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    x, y = pair
    measurement = metric_regression.emd_below(x, y, 10.0)
    assert ("emd", measurement.value) in request.node.user_properties
    assert ("emd_threshold", 10.0) in request.node.user_properties
    with pytest.raises(AssertionError):
        metric_regression.emd_below(x, y, 0.0)
    assert request.node.user_properties[-2:] == [("emd", measurement.value), ("emd_threshold", 0.0)]
