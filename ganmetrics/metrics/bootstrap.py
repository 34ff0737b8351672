"""Percentile-bootstrap confidence intervals for two-sample metrics (FID, KID, MMD).

Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 13 (the percentile interval): the statistic is
recomputed on ``resamples`` bootstrap samples, each drawn with replacement, and the interval is the
``(1 − level)/2`` and ``(1 + level)/2`` quantiles of those values (linear interpolation between order
statistics, ``numpy.quantile``'s default). By default both samples are resampled, independently, so the interval
reflects the sampling variability of the real and the generated sets; ``resample="fake"`` keeps the real set
fixed (e.g. a fixed reference set) and resamples the generated one only.

Resampling with replacement repeats points; estimators that treat distinct indices as independent draws (the
unbiased MMD^2 and KID) see those repeats as extra similarity, so their bootstrap values are biased upward by
about ``E k(x, x) / n`` per side. The interval is a measure of spread, not a bias correction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganmetrics.defaults import DEFAULTS
from ganmetrics.metrics._arrays import ArrayLike, as_samples, check_int, check_same_dims, check_seed
from ganmetrics.metrics.frechet import FrechetReference
from ganmetrics.metrics.mmd import kid, mmd2_unbiased
from ganmetrics.metrics.statistics import FeatureStats

RESAMPLE_MODES = ("both", "fake")


@dataclass(frozen=True)
class BootstrapInterval:
    """A percentile-bootstrap interval ``[low, high]`` at confidence ``level`` from ``resamples`` resamples."""

    low: float
    high: float
    resamples: int
    level: float


def bootstrap_interval(
    statistic: Callable[[torch.Tensor, torch.Tensor], float],
    real: ArrayLike,
    fake: ArrayLike,
    *,
    level: float = DEFAULTS["ci_level"],
    resamples: int = DEFAULTS["ci_resamples"],
    resample: str = "both",
    seed: int = DEFAULTS["seed"],
) -> BootstrapInterval:
    """Return the percentile-bootstrap interval of ``statistic(real*, fake*)`` over bootstrap samples.

    Resample ``b`` (``b = 0 .. resamples-1``) draws, from one CPU ``torch.Generator`` seeded with ``seed``,
    ``torch.randint(n_real, (n_real,))`` (when ``resample="both"``) and then ``torch.randint(n_fake, (n_fake,))``
    row indices; ``statistic`` receives the float64 resampled tensors (on ``real``'s device).

    Parameters
    ----------
    statistic:
        A function of the two samples returning a float (e.g. ``fid_from_features``).
    real, fake:
        ``(n, d)`` and ``(m, d)`` samples (numpy arrays or torch tensors), at least 2 rows each.
    level:
        Confidence level in (0, 1).
    resamples:
        Number of bootstrap samples, ``>= 2``.
    resample:
        ``"both"`` (default) or ``"fake"`` (``real`` fixed).
    seed:
        Seed of the resampling.

    Raises ``TypeError``/``ValueError`` on bad samples (named ``real``/``fake``), ``level`` outside (0, 1),
    ``resamples < 2``, an unknown ``resample`` mode.
    """
    x = as_samples(real, "real")
    y = as_samples(fake, "fake", device=x.device)
    check_same_dims(x, y, ("real", "fake"))
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0.0 < level < 1.0:
        raise ValueError(f"level: the confidence level must be a number in (0, 1), got {level!r}")
    resamples = check_int(resamples, "resamples", 2)
    if resample not in RESAMPLE_MODES:
        raise ValueError(f"resample: {resample!r} is not one of {', '.join(RESAMPLE_MODES)}")
    generator = torch.Generator().manual_seed(check_seed(seed))
    values = []
    for _ in range(resamples):
        xb = x[torch.randint(x.shape[0], (x.shape[0],), generator=generator).to(x.device)] if resample == "both" else x
        yb = y[torch.randint(y.shape[0], (y.shape[0],), generator=generator).to(y.device)]
        values.append(float(statistic(xb, yb)))
    ends = torch.quantile(
        torch.tensor(values, dtype=torch.float64), torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    )
    return BootstrapInterval(low=float(ends[0]), high=float(ends[1]), resamples=resamples, level=float(level))


def fid_interval(
    real: ArrayLike,
    fake: ArrayLike,
    *,
    level: float = DEFAULTS["ci_level"],
    resamples: int = DEFAULTS["ci_resamples"],
    resample: str = "both",
    seed: int = DEFAULTS["seed"],
) -> BootstrapInterval:
    """Return the percentile-bootstrap interval of the FID (``fid_from_features``); see ``bootstrap_interval``.

    With ``resample="fake"`` the real side is factored once and reused.
    """
    fixed = FrechetReference.from_features(as_samples(real, "real"), "real") if resample == "fake" else None

    def statistic(xb: torch.Tensor, yb: torch.Tensor) -> float:
        reference = fixed if fixed is not None else FrechetReference.from_features(xb, "real")
        return reference.distance_to_stats(FeatureStats.from_features(yb, "fake"))

    return bootstrap_interval(statistic, real, fake, level=level, resamples=resamples, resample=resample, seed=seed)


def kid_interval(
    real: ArrayLike,
    fake: ArrayLike,
    *,
    subsets: int = DEFAULTS["kid_subsets"],
    subset_size: int = DEFAULTS["kid_subset_size"],
    kid_seed: int = DEFAULTS["seed"],
    level: float = DEFAULTS["ci_level"],
    resamples: int = DEFAULTS["ci_resamples"],
    resample: str = "both",
    seed: int = DEFAULTS["seed"],
) -> BootstrapInterval:
    """Return the percentile-bootstrap interval of the KID mean (``kid(real*, fake*, subsets, subset_size,
    kid_seed)[0]``, the same subset draws in every resample); see ``bootstrap_interval``."""

    def statistic(xb: torch.Tensor, yb: torch.Tensor) -> float:
        return kid(xb, yb, subsets=subsets, subset_size=subset_size, seed=kid_seed)[0]

    return bootstrap_interval(statistic, real, fake, level=level, resamples=resamples, resample=resample, seed=seed)


def mmd_interval(
    real: ArrayLike,
    fake: ArrayLike,
    *,
    sigma: float | None = DEFAULTS["mmd_sigma"],
    level: float = DEFAULTS["ci_level"],
    resamples: int = DEFAULTS["ci_resamples"],
    resample: str = "both",
    seed: int = DEFAULTS["seed"],
) -> BootstrapInterval:
    """Return the percentile-bootstrap interval of the unbiased Gaussian MMD^2 (``mmd2_unbiased``).

    The bandwidth is fixed for all resamples: ``sigma`` if given, else the median heuristic on the original
    samples (``mmd2_unbiased(real, fake, seed=seed).sigma``), so the interval is that of one kernel's MMD^2.
    See ``bootstrap_interval``.
    """
    bandwidth = mmd2_unbiased(real, fake, sigma=sigma, seed=seed).sigma if sigma is None else sigma

    def statistic(xb: torch.Tensor, yb: torch.Tensor) -> float:
        return mmd2_unbiased(xb, yb, sigma=bandwidth).mmd2

    return bootstrap_interval(statistic, real, fake, level=level, resamples=resamples, resample=resample, seed=seed)
