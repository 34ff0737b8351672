"""Regression helpers for a project's own tests: ``assert_fid_below(samples, reference, threshold)`` and the
same for KID, MMD², Sinkhorn and EMD, ``assert_is_above`` for the Inception Score, and a pytest fixture.

Samples and references are paths (image folders, zips, feature or stats files, ``ref:NAME`` of the shipped
references) or (N, d) feature arrays. A failure raises ``AssertionError`` whose message gives the value, the
threshold, the sample sizes and the provenance of both sides (extractor, weights hash, resize mode, dims)::

    from ganmetrics.testing import assert_emd_below
    assert_emd_below(generated_points, "ref:ring8-10000", 0.1)

The fixture ``metric_regression`` (enable it with ``pytest_plugins = ["ganmetrics.testing"]`` in a
``conftest.py``) offers the same assertions and records each value and threshold in the test's
``user_properties``, which pytest writes into its JUnit XML (``--junitxml``)::

    def test_generator_quality(metric_regression):
        metric_regression.fid_below("samples/", "ref:my-stats", 25.0)

``synthetic_images`` gives the deterministic images the project's golden tests and shipped references use.
"""

from __future__ import annotations

from typing import Any

from ganmetrics.checks import Input, Measurement, direction, measure, passes
from ganmetrics.reference_store import synthetic_images

pytest: Any
try:
    import pytest
except ModuleNotFoundError:  # the assertions work without pytest; only the fixture needs it
    pytest = None

__all__ = [
    "assert_emd_below",
    "assert_fid_below",
    "assert_is_above",
    "assert_kid_below",
    "assert_metric",
    "assert_mmd_below",
    "assert_sinkhorn_below",
    "synthetic_images",
]


def assert_metric(
    metric: str, samples: Input, reference: Input | None, threshold: float, **options: Any
) -> Measurement:
    """Return the measurement of ``metric`` when it is on the good side of ``threshold``; else raise.

    Below for the distances (fid, kid, mmd, sinkhorn, emd), above for ``"is"``; strictly. ``options`` go to
    ``checks.measure`` (metric options, ``allow_mismatch``, ``loader``).

    Raises ``AssertionError`` with the value, threshold, sizes and provenance when the check fails;
    ``TypeError`` when ``threshold`` is not a real number; what ``checks.measure`` raises otherwise.
    """
    _check_threshold(threshold)
    return _judge(measure(metric, samples, reference, **options), threshold)


def _check_threshold(threshold: Any) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"threshold: expected a number, got {type(threshold).__name__} {threshold!r}")


def _judge(measurement: Measurement, threshold: float) -> Measurement:
    """Return ``measurement`` when it passes ``threshold``; else raise ``AssertionError`` describing it."""
    metric, value = measurement.metric, measurement.value
    if not passes(metric, value, threshold):
        side = direction(metric)
        raise AssertionError(
            f"{metric} = {value:.6g} is not {side} the threshold {threshold:g} ({measurement.describe()})"
        )
    return measurement


def assert_fid_below(samples: Input, reference: Input, threshold: float, **options: Any) -> Measurement:
    """Assert FID(reference, samples) < threshold (see :func:`assert_metric`)."""
    return assert_metric("fid", samples, reference, threshold, **options)


def assert_kid_below(samples: Input, reference: Input, threshold: float, **options: Any) -> Measurement:
    """Assert the mean KID < threshold; options ``subsets``, ``subset_size``, ``seed``."""
    return assert_metric("kid", samples, reference, threshold, **options)


def assert_mmd_below(samples: Input, reference: Input, threshold: float, **options: Any) -> Measurement:
    """Assert the unbiased Gaussian MMD² < threshold; options ``sigma``, ``seed``."""
    return assert_metric("mmd", samples, reference, threshold, **options)


def assert_sinkhorn_below(samples: Input, reference: Input, threshold: float, **options: Any) -> Measurement:
    """Assert the entropic OT cost < threshold; option ``reg`` is required, ``metric``, ``max_iter``, ``tol``."""
    return assert_metric("sinkhorn", samples, reference, threshold, **options)


def assert_emd_below(samples: Input, reference: Input, threshold: float, **options: Any) -> Measurement:
    """Assert the exact earth mover's distance < threshold; option ``metric``."""
    return assert_metric("emd", samples, reference, threshold, **options)


def assert_is_above(samples: Input, threshold: float, **options: Any) -> Measurement:
    """Assert the Inception Score mean > threshold (samples: logits or images); option ``splits``."""
    return assert_metric("is", samples, None, threshold, **options)


class MetricRegression:
    """The assertions of this module bound to one test, recording each result in its ``user_properties``."""

    def __init__(self, user_properties: list[tuple[str, Any]]) -> None:
        self.user_properties = user_properties

    def _record(
        self, metric: str, samples: Input, reference: Input | None, threshold: float, **options: Any
    ) -> Measurement:
        _check_threshold(threshold)
        measurement = measure(metric, samples, reference, **options)
        self.user_properties.extend([(metric, measurement.value), (f"{metric}_threshold", threshold)])
        return _judge(measurement, threshold)

    def fid_below(self, samples: Input, reference: Input, threshold: float, **options: Any) -> Measurement:
        return self._record("fid", samples, reference, threshold, **options)

    def kid_below(self, samples: Input, reference: Input, threshold: float, **options: Any) -> Measurement:
        return self._record("kid", samples, reference, threshold, **options)

    def mmd_below(self, samples: Input, reference: Input, threshold: float, **options: Any) -> Measurement:
        return self._record("mmd", samples, reference, threshold, **options)

    def sinkhorn_below(self, samples: Input, reference: Input, threshold: float, **options: Any) -> Measurement:
        return self._record("sinkhorn", samples, reference, threshold, **options)

    def emd_below(self, samples: Input, reference: Input, threshold: float, **options: Any) -> Measurement:
        return self._record("emd", samples, reference, threshold, **options)

    def is_above(self, samples: Input, threshold: float, **options: Any) -> Measurement:
        return self._record("is", samples, None, threshold, **options)


if pytest is not None:

    @pytest.fixture
    def metric_regression(request: pytest.FixtureRequest) -> MetricRegression:
        """The metric assertions for this test; values and thresholds land in its JUnit ``properties``."""
        return MetricRegression(request.node.user_properties)
