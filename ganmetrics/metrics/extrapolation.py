"""Effectively unbiased FID and Inception Score: FID∞ and IS∞ by extrapolation in 1/N.

Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and Where to Find Them" (CVPR), Sec. 3.
FID_N computed on N generated samples has a bias that is, to first order, linear in 1/N; so FID_N is computed on
seeded subsamples of several sizes N, the line ``FID_N = FID∞ + slope / N`` is fitted by ordinary least squares,
and FID∞ is its value at 1/N = 0. IS∞ is the same with the Inception Score. Only the generated side is
subsampled; the reference statistics stay fixed, as in the authors' code (``score_infinity.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ganmetrics.defaults import DEFAULTS
from ganmetrics.metrics._arrays import ArrayLike, as_samples, check_int, check_seed
from ganmetrics.metrics.frechet import FrechetReference
from ganmetrics.metrics.inception_score import inception_score
from ganmetrics.metrics.statistics import FeatureStats


@dataclass(frozen=True)
class ExtrapolationResult:
    """The extrapolated value at 1/N = 0, the fitted slope in 1/N, and the fitted points ``(N, value_N)``."""

    value: float
    slope: float
    sizes: tuple[int, ...]
    values: tuple[float, ...]


def subsample_sizes(n: int, points: int, min_size: int) -> tuple[int, ...]:
    """Return the distinct sizes ``linspace(min(min_size, n // 2), n, points)`` truncated to integers.

    The authors' ``np.linspace(5000, num_im, num_points).astype('int32')``, with the smallest size lowered to
    ``n // 2`` when fewer than ``2 * min_size`` samples are given. Raises ``ValueError`` when fewer than two
    distinct sizes of at least 2 result.
    """
    low = min(min_size, n // 2)
    sizes = tuple(sorted({int(s) for s in np.linspace(low, n, points).astype(np.int64)}))
    if len(sizes) < 2 or sizes[0] < 2:
        raise ValueError(
            f"sizes: {n} samples with points={points}, min_size={min_size} give sizes {sizes}; at least two "
            "distinct subsample sizes >= 2 are needed to fit a line"
        )
    return sizes


def fit_in_inverse_size(sizes: Sequence[int], values: Sequence[float]) -> tuple[float, float]:
    """Return ``(intercept, slope)`` of the least-squares line ``value = intercept + slope / N``."""
    u = np.asarray([1.0 / s for s in sizes], dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    u_mean, v_mean = u.mean(), v.mean()
    slope = float(((u - u_mean) * (v - v_mean)).sum() / ((u - u_mean) ** 2).sum())
    return float(v_mean - slope * u_mean), slope


def _extrapolate(
    statistic: Callable[[torch.Tensor], float],
    n: int,
    sizes: Sequence[int] | None,
    points: int,
    min_size: int,
    seed: int,
) -> ExtrapolationResult:
    """Evaluate ``statistic(indices)`` on one seeded subsample per size and extrapolate to 1/N = 0.

    Subsample of size N: ``torch.randperm(n, generator)[:N]`` (without replacement), with one CPU generator
    seeded with ``seed`` drawing a fresh permutation per size, smallest size first.
    """
    points = check_int(points, "points", 2)
    min_size = check_int(min_size, "min_size", 2)
    seed = check_seed(seed)
    if sizes is None:
        chosen = subsample_sizes(n, points, min_size)
    else:
        chosen = tuple(sorted({check_int(s, "sizes", 2) for s in sizes}))
        if len(chosen) < 2 or chosen[-1] > n:
            raise ValueError(f"sizes: need at least two distinct sizes between 2 and {n}, got {list(sizes)}")
    generator = torch.Generator().manual_seed(seed)
    values = tuple(statistic(torch.randperm(n, generator=generator)[:size]) for size in chosen)
    value, slope = fit_in_inverse_size(chosen, values)
    return ExtrapolationResult(value=value, slope=slope, sizes=chosen, values=values)


def fid_infinity(
    real: ArrayLike | FeatureStats,
    fake: ArrayLike,
    *,
    sizes: Sequence[int] | None = None,
    points: int = DEFAULTS["extrapolation_points"],
    min_size: int = DEFAULTS["extrapolation_min_size"],
    seed: int = DEFAULTS["seed"],
) -> ExtrapolationResult:
    """Return FID∞ (Chong & Forsyth 2020): FID_N of subsamples of ``fake`` extrapolated linearly in 1/N to 0.

    .. math:: \\mathrm{FID}_N \\approx \\mathrm{FID}_\\infty + \\frac{s}{N}

    fitted by least squares over the sizes ``N`` (default ``subsample_sizes(len(fake), points, min_size)``: 15
    sizes from 5000 to all samples). Each FID_N is ``fid_from_features`` between all of ``real`` (or the given
    statistics) and a seeded subsample of N rows of ``fake`` (see ``_extrapolate``).

    Parameters: ``real`` reference features ``(n_r, d)`` or their ``FeatureStats``; ``fake`` generated features
    ``(n, d)``; ``sizes`` explicit subsample sizes (at least two distinct, between 2 and n); ``points``,
    ``min_size`` the default grid; ``seed`` the subsample seed.

    Raises ``TypeError``/``ValueError`` on bad arrays (named ``real``/``fake``), mismatched dimensions, or sizes
    that cannot give a line.
    """
    y = as_samples(fake, "fake")
    if isinstance(real, FeatureStats):
        reference = FrechetReference.from_stats(real, "real")
        dims = real.dims
    else:
        x = as_samples(real, "real", device=y.device)
        reference, dims = FrechetReference.from_features(x, "real"), x.shape[1]
    if dims != y.shape[1]:
        raise ValueError(f"real and fake: feature dimensions differ ({dims} vs {y.shape[1]})")

    def fid_of_subsample(index: torch.Tensor) -> float:
        return reference.distance_to_stats(FeatureStats.from_features(y[index.to(y.device)], "fake"))

    return _extrapolate(fid_of_subsample, y.shape[0], sizes, points, min_size, seed)


def is_infinity(
    logits: ArrayLike,
    *,
    sizes: Sequence[int] | None = None,
    points: int = DEFAULTS["extrapolation_points"],
    min_size: int = DEFAULTS["extrapolation_min_size"],
    splits: int = 1,
    seed: int = DEFAULTS["seed"],
) -> ExtrapolationResult:
    """Return IS∞ (Chong & Forsyth 2020): the Inception Score of subsamples extrapolated linearly in 1/N to 0.

    Each IS_N is the mean of ``inception_score(logits[subsample], splits)``; ``splits=1`` by default, as the
    authors' ``calculate_inception_score(pred, num_splits=1)``. Sizes, seeds and fit as ``fid_infinity``.

    Raises ``TypeError``/``ValueError`` on bad ``logits`` or sizes that cannot give a line.
    """
    scores = as_samples(logits, "logits")

    def is_of_subsample(index: torch.Tensor) -> float:
        return inception_score(scores[index.to(scores.device)], splits=splits)[0]

    return _extrapolate(is_of_subsample, scores.shape[0], sizes, points, min_size, seed)
