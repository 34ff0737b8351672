"""Kernel two-sample statistics: the unbiased MMD^2 with a Gaussian kernel, and KID.

Both are the unbiased estimator of Gretton et al. 2012 ("A Kernel Two-Sample Test", JMLR 13, Lemma 6),

    MMD^2_u = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)
              - 2/(mn) sum_{i, j} k(x_i, y_j),

computed block by block (``chunk_size`` rows at a time, float64 throughout) so that no m x n kernel matrix is
ever held in memory. Within-sample blocks use the symmetry of the kernel: only blocks on or above the diagonal
are computed. KID (Binkowski et al. 2018) applies the same estimator with a cubic polynomial kernel to random
subsets and reproduces ``torch_fidelity.metric_kid.kid_features_to_metric``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch

from ganmetrics.defaults import DEFAULTS
from ganmetrics.metrics._arrays import ArrayLike, as_samples, check_int, check_same_dims

Kernel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# KID gathers its subsets in batches of at most this many bytes per sample side (float64), so that one
# batched matmul covers several subsets without a large memory peak.
_KID_BATCH_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class MMDResult:
    """An unbiased MMD^2 estimate and the Gaussian bandwidth ``sigma`` it was computed with.

    The field names equal ``ganmetrics.keys.MMD2`` and ``ganmetrics.keys.SIGMA``.
    """

    mmd2: float
    sigma: float


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Return the ``(..., p, q)`` squared Euclidean distances ``||a_i - b_j||^2``, clamped at 0."""
    sq = a @ b.mT
    sq.mul_(-2.0).add_(a.square().sum(-1).unsqueeze(-1)).add_(b.square().sum(-1).unsqueeze(-2))
    return sq.clamp_min_(0.0)


def _gaussian_kernel(a: torch.Tensor, b: torch.Tensor, sigma: float) -> torch.Tensor:
    """Return ``exp(-||a_i - b_j||^2 / (2 sigma^2))`` for all row pairs."""
    return _squared_distances(a, b).mul_(-0.5 / sigma**2).exp_()


def _cubic_polynomial_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Return the KID kernel ``(a_i . b_j / d + 1)^3`` for all row pairs (``d`` = feature dimension)."""
    return (a @ b.mT).div_(a.shape[-1]).add_(1.0).pow_(3)


def _off_diagonal_sum(a: torch.Tensor, kernel: Kernel, chunk_size: int) -> torch.Tensor:
    """Return ``sum_{i != j} k(a_i, a_j)`` over the rows of ``a`` (leading dimensions are batch dims)."""
    n = a.shape[-2]
    total = a.new_zeros(a.shape[:-2])
    for i in range(0, n, chunk_size):
        rows = a[..., i : i + chunk_size, :]
        block = kernel(rows, rows)
        block.diagonal(dim1=-2, dim2=-1).zero_()
        total += block.sum(dim=(-2, -1))
        for j in range(i + chunk_size, n, chunk_size):
            total += 2.0 * kernel(rows, a[..., j : j + chunk_size, :]).sum(dim=(-2, -1))
    return total


def _cross_sum(a: torch.Tensor, b: torch.Tensor, kernel: Kernel, chunk_size: int) -> torch.Tensor:
    """Return ``sum_{i, j} k(a_i, b_j)`` (leading dimensions are batch dimensions)."""
    total = a.new_zeros(a.shape[:-2])
    for i in range(0, a.shape[-2], chunk_size):
        rows = a[..., i : i + chunk_size, :]
        for j in range(0, b.shape[-2], chunk_size):
            total += kernel(rows, b[..., j : j + chunk_size, :]).sum(dim=(-2, -1))
    return total


def _unbiased_mmd2(x: torch.Tensor, y: torch.Tensor, kernel: Kernel, chunk_size: int) -> torch.Tensor:
    """Return the unbiased MMD^2 (Gretton et al. 2012, Lemma 6) of ``(..., m, d)`` and ``(..., n, d)``."""
    m, n = x.shape[-2], y.shape[-2]
    return (
        _off_diagonal_sum(x, kernel, chunk_size) / (m * (m - 1))
        + _off_diagonal_sum(y, kernel, chunk_size) / (n * (n - 1))
        - 2.0 * _cross_sum(x, y, kernel, chunk_size) / (m * n)
    )


def _median_pairwise_distance(x: torch.Tensor, y: torch.Tensor, max_points: int, seed: int) -> float:
    """Return the median Euclidean distance over distinct pairs of pooled rows (see ``mmd2_unbiased``)."""
    m, n_pooled = x.shape[0], x.shape[0] + y.shape[0]
    if n_pooled > max_points:
        keep = torch.randperm(n_pooled, generator=torch.Generator().manual_seed(seed))[:max_points]
        keep = keep.to(x.device)
        from_x = keep < m
        z = torch.cat([x[keep[from_x]], y[keep[~from_x] - m]])
    else:
        z = torch.cat([x, y])
    upper = torch.triu_indices(z.shape[0], z.shape[0], offset=1, device=z.device)
    distances = _squared_distances(z, z)[upper[0], upper[1]].sqrt_().sort().values
    half = distances.numel() // 2
    if distances.numel() % 2:
        return float(distances[half])
    return float((distances[half - 1] + distances[half]) / 2)


def mmd2_unbiased(
    x: ArrayLike,
    y: ArrayLike,
    sigma: float | None = DEFAULTS["sigma"],
    *,
    seed: int = DEFAULTS["seed"],
    chunk_size: int = DEFAULTS["mmd_chunk_size"],
    median_subsample: int = DEFAULTS["median_subsample"],
) -> MMDResult:
    r"""Return the unbiased Gaussian-kernel MMD^2 of ``x`` and ``y`` and the bandwidth used, as ``MMDResult``.

    Gretton et al. 2012, "A Kernel Two-Sample Test" (JMLR 13), Lemma 6, with
    :math:`k(a, b) = \exp(-\|a - b\|^2 / (2\sigma^2))`:

    .. math::

        \mathrm{MMD}^2_u = \frac{1}{m(m-1)} \sum_{i \neq j} k(x_i, x_j)
            + \frac{1}{n(n-1)} \sum_{i \neq j} k(y_i, y_j) - \frac{2}{mn} \sum_{i, j} k(x_i, y_j).

    The estimate is unbiased, so it can be slightly negative when the two distributions are close.

    Bandwidth: with ``sigma=None`` the median heuristic picks
    :math:`\sigma = \mathrm{median}_{i<j} \|z_i - z_j\|` over the distinct pairs of the pooled sample
    ``z = [x; y]`` (rows of ``x`` first). For an even number of pairs the median is the mean of the two middle
    values (the ``np.median`` convention). When the pooled sample has more than ``median_subsample`` rows the
    median is taken over the rows ``torch.randperm(m + n, generator=torch.Generator().manual_seed(seed))
    [:median_subsample]`` (drawn on the CPU, so identical on every device).

    Computation: float64 on the device of ``x``, kernel blocks of at most ``chunk_size x chunk_size`` entries,
    each summed into a float64 accumulator; squared distances are formed as
    :math:`\|a\|^2 + \|b\|^2 - 2 a \cdot b` after subtracting the pooled mean (which leaves distances
    unchanged and reduces cancellation).

    Parameters
    ----------
    x, y:
        ``(m, d)`` and ``(n, d)`` samples (numpy arrays or torch tensors, any device), ``m, n >= 2``.
    sigma:
        Gaussian bandwidth, ``> 0``; ``None`` selects the median heuristic.
    seed:
        Seed of the median-heuristic subsample (unused when ``sigma`` is given or no subsample is needed).
    chunk_size:
        Rows per kernel block; memory grows as ``chunk_size**2``, the result does not depend on it beyond
        float64 round-off.
    median_subsample:
        Largest pooled sample the median heuristic uses as is.

    Raises
    ------
    TypeError
        An input is not a numeric array/tensor; ``sigma`` is not a real number; an integer argument is not an
        integer.
    ValueError
        ``x`` or ``y`` is not 2-D, has fewer than 2 rows or holds NaN/Inf; the feature dimensions differ;
        ``sigma <= 0`` or not finite; the median heuristic gives 0 (more than half of the pairs coincide);
        ``chunk_size < 1`` or ``median_subsample < 2``.
    """
    x = as_samples(x, "x")
    y = as_samples(y, "y", device=x.device)
    check_same_dims(x, y, ("x", "y"))
    chunk_size = check_int(chunk_size, "chunk_size", 1)
    median_subsample = check_int(median_subsample, "median_subsample", 2)
    if sigma is not None:
        if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real):
            raise TypeError(f"sigma: expected a real number or None, got {type(sigma).__name__}")
        if not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma: must be a finite number > 0, got {sigma}")
    center = (x.sum(dim=0) + y.sum(dim=0)) / (x.shape[0] + y.shape[0])
    x, y = x - center, y - center
    if sigma is None:
        sigma = _median_pairwise_distance(x, y, median_subsample, check_int(seed, "seed", 0))
        if sigma == 0.0:
            raise ValueError(
                "x, y: the median pairwise distance of the pooled sample is 0 (more than half of the pairs "
                "coincide); pass sigma explicitly"
            )
    sigma = float(sigma)
    mmd2 = _unbiased_mmd2(x, y, partial(_gaussian_kernel, sigma=sigma), chunk_size)
    return MMDResult(mmd2=float(mmd2), sigma=sigma)


def _kid_subset_indices(
    n_x: int, n_y: int, subsets: int, subset_size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(subsets, subset_size)`` CPU index tensors into ``x`` and ``y``.

    Each row is an independent uniform draw without replacement (the first ``subset_size`` entries of a
    ``torch.randperm``); draws alternate x, y, x, y, ... from one CPU generator seeded with ``seed``.
    """
    generator = torch.Generator().manual_seed(seed)
    rows_x, rows_y = [], []
    for _ in range(subsets):
        rows_x.append(torch.randperm(n_x, generator=generator)[:subset_size])
        rows_y.append(torch.randperm(n_y, generator=generator)[:subset_size])
    return torch.stack(rows_x), torch.stack(rows_y)


def kid(
    x: ArrayLike,
    y: ArrayLike,
    subsets: int = DEFAULTS["subsets"],
    subset_size: int = DEFAULTS["subset_size"],
    seed: int = DEFAULTS["seed"],
) -> tuple[float, float]:
    r"""Return the Kernel Inception Distance ``(mean, std)`` over ``subsets`` random subsets.

    Binkowski et al. 2018, "Demystifying MMD GANs" (ICLR), Sec. 4 / Appendix: for each of ``subsets``
    subsets, ``subset_size`` rows of ``x`` and ``subset_size`` rows of ``y`` are drawn uniformly without
    replacement (each subset independently of the others, see ``_kid_subset_indices``), and the unbiased
    MMD^2 (Gretton et al. 2012, Lemma 6; the ``mmd_est="unbiased"`` estimator of the original code and of
    torch-fidelity) is computed with the cubic polynomial kernel

    .. math:: k(a, b) = \left(\tfrac{1}{d}\, a \cdot b + 1\right)^3 .

    The mean and the standard deviation (``ddof = 0``, ``np.std`` as in ``torch_fidelity.metric_kid``) are
    taken over the subset values. With ``subsets=1`` and ``subset_size`` equal to both sample sizes the
    result is the unbiased MMD^2 of the full samples. Same conventions as torch-fidelity; the subsets differ
    because the indices come from a ``torch.Generator`` (drawn on the CPU: the same subsets on every device)
    rather than ``np.random.RandomState``. Subsets are processed in batches with batched matmuls, float64.

    Parameters
    ----------
    x, y:
        ``(n_x, d)`` and ``(n_y, d)`` features (numpy arrays or torch tensors, any device), at least 2 rows.
    subsets:
        Number of random subsets, ``>= 1``.
    subset_size:
        Rows per subset from each side, ``2 <= subset_size <= min(n_x, n_y)``.
    seed:
        Seed of the subset draws.

    Raises
    ------
    TypeError
        An input is not a numeric array/tensor, or an integer argument is not an integer.
    ValueError
        ``x`` or ``y`` is not 2-D, has fewer than 2 rows or holds NaN/Inf; the feature dimensions differ;
        ``subsets < 1``; ``subset_size < 2`` or larger than ``n_x`` or ``n_y``; ``seed < 0``.
    """
    x = as_samples(x, "x")
    y = as_samples(y, "y", device=x.device)
    check_same_dims(x, y, ("x", "y"))
    subsets = check_int(subsets, "subsets", 1)
    subset_size = check_int(subset_size, "subset_size", 2)
    seed = check_int(seed, "seed", 0)
    n_x, n_y = x.shape[0], y.shape[0]
    if subset_size > min(n_x, n_y):
        raise ValueError(
            f"subset_size: {subset_size} is larger than the number of samples (x: {n_x}, y: {n_y})"
        )
    index_x, index_y = _kid_subset_indices(n_x, n_y, subsets, subset_size, seed)
    batch = max(1, _KID_BATCH_BYTES // (subset_size * x.shape[1] * x.element_size()))
    # Two row blocks per side: the within-subset sums then skip one of their four blocks (symmetry).
    block = -(-subset_size // 2)
    values = torch.cat(
        [
            _unbiased_mmd2(x[ix.to(x.device)], y[iy.to(x.device)], _cubic_polynomial_kernel, block)
            for ix, iy in zip(index_x.split(batch), index_y.split(batch), strict=True)
        ]
    )
    return float(values.mean()), float(values.std(correction=0))
