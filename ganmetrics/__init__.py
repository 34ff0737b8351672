"""ganmetrics: evaluation of generative models with the numbers of the reference implementations.

The public API, re-exported here: the metric functions (pure math on feature arrays), streaming statistics,
and the training-loop Evaluator.
"""

__version__ = "0.1.0"

from ganmetrics.evaluate import EMD, FID, KID, MMD, Evaluator, InceptionScore, Sinkhorn, evaluate_generator  # noqa: E402
from ganmetrics.metrics.frechet import FeatureStats, FrechetReference, fid_from_features, frechet_distance  # noqa: E402
from ganmetrics.metrics.inception_score import inception_score  # noqa: E402
from ganmetrics.metrics.mmd import MMDResult, kid, mmd2_unbiased  # noqa: E402
from ganmetrics.metrics.transport import emd, sinkhorn_distance, sinkhorn_divergence, sinkhorn_from_cost  # noqa: E402

__all__ = [
    "EMD",
    "FID",
    "KID",
    "MMD",
    "InceptionScore",
    "Sinkhorn",
    "Evaluator",
    "FeatureStats",
    "FrechetReference",
    "MMDResult",
    "__version__",
    "emd",
    "evaluate_generator",
    "fid_from_features",
    "frechet_distance",
    "inception_score",
    "kid",
    "mmd2_unbiased",
    "sinkhorn_distance",
    "sinkhorn_divergence",
    "sinkhorn_from_cost",
]
