"""ganmetrics: evaluation of generative models with the numbers of the reference implementations.

The public API, re-exported here: ``compute`` (the one way from inputs to numbers, through the metric registry),
the metric functions (pure math on feature arrays), streaming statistics, the training-loop Evaluator, and
``report`` (the HTML/JSON report of ``ganmetrics.report``).
"""

from ganmetrics._version import __version__
from ganmetrics.evaluate import EMD, FID, KID, MMD, Evaluator, InceptionScore, Sinkhorn, evaluate_generator
from ganmetrics.inputs import ExtractionOptions
from ganmetrics.metrics.frechet import FrechetReference, fid_from_features, frechet_distance
from ganmetrics.metrics.inception_score import inception_score
from ganmetrics.metrics.mmd import MMDResult, kid, mmd2_unbiased
from ganmetrics.metrics.statistics import FeatureStats
from ganmetrics.metrics.transport import emd, sinkhorn_distance, sinkhorn_from_cost
from ganmetrics.registry import METRICS, MetricSpec, compute
from ganmetrics.report import report  # the function; its modules stay importable as ganmetrics.report.<module>

__all__ = [
    "EMD",
    "FID",
    "KID",
    "MMD",
    "InceptionScore",
    "Sinkhorn",
    "Evaluator",
    "ExtractionOptions",
    "FeatureStats",
    "FrechetReference",
    "METRICS",
    "MMDResult",
    "MetricSpec",
    "__version__",
    "compute",
    "emd",
    "evaluate_generator",
    "fid_from_features",
    "frechet_distance",
    "inception_score",
    "kid",
    "mmd2_unbiased",
    "report",
    "sinkhorn_distance",
    "sinkhorn_from_cost",
]
