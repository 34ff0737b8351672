"""The MMD two-sample test: a permutation p-value and the standard error of the unbiased MMD^2 estimate.

The statistic is the unbiased Gaussian-kernel MMD^2 of Gretton et al. 2012 ("A Kernel Two-Sample Test", JMLR 13,
Lemma 6), the value ``ganmetrics.metrics.mmd.mmd2_unbiased`` returns. With the pooled sample
``z = [x; y]`` (``N = m + n`` rows), the pooled kernel matrix ``K`` and the indicator ``a`` of the rows labelled
x, every relabelling's statistic follows from ``K a`` and the row sums ``r = K 1``:

    S_xx = aᵀKa − m,   S_xy = aᵀr − aᵀKa,   S_yy = 1ᵀr − 2 aᵀr + aᵀKa − n   (k(z, z) = 1 on the diagonal)
    MMD^2_u = S_xx / (m(m−1)) + S_yy / (n(n−1)) − 2 S_xy / (mn).

``K`` is never held: kernel blocks of ``chunk_size`` rows (``mmd.gaussian_kernel_blocks``, the kernel of
``mmd2_unbiased`` with ``matmul_dtype="float64"``; each block above the diagonal also serves as its transpose) are
multiplied by the indicators of a batch of permutations (the observed labelling first), so all permutations cost
one pass over the upper half of ``K`` per batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ganmetrics.defaults import DEFAULTS
from ganmetrics.metrics._arrays import ArrayLike, as_samples, check_int, check_same_dims, check_seed
from ganmetrics.metrics.mmd import gaussian_bandwidth, gaussian_kernel_blocks

# Permutations are processed in batches whose (N x batch) float64 indicator matrix stays below this many bytes.
_PERMUTATION_BATCH_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class MMDTestResult:
    """The observed unbiased MMD^2, the bandwidth, the permutation p-value, the number of permutations, and the
    standard error of the MMD^2 estimate (see ``mmd2_standard_error``)."""

    mmd2: float
    sigma: float
    p_value: float
    permutations: int
    std_error: float


def _kernel_products(
    x: torch.Tensor, y: torch.Tensor, labels: torch.Tensor, sigma: float, chunk_size: int
) -> torch.Tensor:
    """Return ``K @ labels`` for the Gaussian kernel matrix ``K`` of the pooled rows ``[x; y]``, block by block (each
    block above the diagonal serves its transpose below it too)."""
    out = torch.zeros_like(labels)
    for rows, cols, block in gaussian_kernel_blocks(x, y, sigma, chunk_size):
        out[rows.start : rows.stop] += block @ labels[cols.start : cols.stop]
        if rows != cols:
            out[cols.start : cols.stop] += block.T @ labels[rows.start : rows.stop]
    return out


def _statistics(products: torch.Tensor, labels: torch.Tensor, row_sums: torch.Tensor, m: int, n: int) -> torch.Tensor:
    """Return the unbiased MMD^2 of each labelling (column of ``labels``) from ``K @ labels`` (module docstring)."""
    aka = (labels * products).sum(dim=0)
    ar = labels.T @ row_sums
    total = row_sums.sum()
    s_xx = aka - m
    s_xy = ar - aka
    s_yy = total - 2 * ar + aka - n
    return s_xx / (m * (m - 1)) + s_yy / (n * (n - 1)) - 2 * s_xy / (m * n)


def _standard_error(within: torch.Tensor, row_sums: torch.Tensor, m: int, n: int) -> float:
    """Return the first-order standard error from ``within`` = kernel sums over each row's own sample."""
    cross = row_sums - within  # sums over the other sample
    h_x = (within[:m] - 1) / (m - 1) - cross[:m] / n
    h_y = (within[m:] - 1) / (n - 1) - cross[m:] / m
    variance = 4 * h_x.var(correction=1) / m + 4 * h_y.var(correction=1) / n
    return math.sqrt(max(float(variance), 0.0))


def _permutation_statistics(
    x: ArrayLike, y: ArrayLike, sigma: float | None, permutations: int, seed: int, chunk_size: int
) -> tuple[torch.Tensor, float, float]:
    """Return the statistics of the observed labelling and ``permutations`` random ones, sigma, standard error.

    Validates the inputs (named ``x``, ``y``, ``permutations``, ``seed``, ``chunk_size``; ``sigma`` through
    ``gaussian_bandwidth``, which also gives the median-heuristic bandwidth when ``sigma`` is None).
    """
    xs = as_samples(x, "x")
    ys = as_samples(y, "y", device=xs.device)
    check_same_dims(xs, ys, ("x", "y"))
    chunk_size = check_int(chunk_size, "chunk_size", 1)
    permutations = check_int(permutations, "permutations", 0)
    seed = check_seed(seed)
    sigma = gaussian_bandwidth(xs, ys, sigma, seed=seed)
    m, n = xs.shape[0], ys.shape[0]
    big_n = m + n
    generator = torch.Generator().manual_seed(seed)
    orders = [torch.arange(big_n)] + [torch.randperm(big_n, generator=generator) for _ in range(permutations)]
    batch = max(1, _PERMUTATION_BATCH_BYTES // (8 * big_n) - 1)
    values, own_sums = [], None
    for start in range(0, len(orders), batch):
        chunk = orders[start : start + batch]
        labels = torch.zeros(big_n, len(chunk) + 1, dtype=torch.float64)
        for column, order in enumerate(chunk):
            labels[order[:m], column] = 1
        labels[:, -1] = 1  # the last column gives the row sums r = K 1
        labels = labels.to(xs.device)
        products = _kernel_products(xs, ys, labels, sigma, chunk_size)
        row_sums = products[:, -1]
        if own_sums is None:  # the observed labelling: each row's kernel sum over its own sample
            own_sums = torch.cat([products[:m, 0], row_sums[m:] - products[m:, 0]])
        values.append(_statistics(products[:, :-1], labels[:, :-1], row_sums, m, n))
    assert own_sums is not None  # the first chunk always holds the observed labelling
    return torch.cat(values), sigma, _standard_error(own_sums, row_sums, m, n)


def mmd2_standard_error(
    x: ArrayLike,
    y: ArrayLike,
    sigma: float | None = DEFAULTS["mmd_sigma"],
    *,
    seed: int = DEFAULTS["seed"],
    chunk_size: int = DEFAULTS["mmd_chunk_size"],
) -> float:
    r"""Return the standard error of the unbiased Gaussian MMD^2 of ``x`` and ``y`` (first-order, Hoeffding).

    The unbiased MMD^2 (Gretton et al. 2012, Lemma 6) is a two-sample U-statistic; its variance is, to first
    order in 1/m and 1/n (Hoeffding decomposition; Lehmann 1951, Serfling 1980 Sec. 5.5; for m = n the
    :math:`\sigma_u^2/m` of Gretton et al. 2012, Corollary 16),

    .. math::

        \operatorname{Var} \mathrm{MMD}^2_u \approx \frac{4}{m} \operatorname{Var}_x h_x(x)
            + \frac{4}{n} \operatorname{Var}_y h_y(y),\quad
        h_x(x) = \mathbb{E}_{x'} k(x, x') - \mathbb{E}_y k(x, y),\quad
        h_y(y) = \mathbb{E}_{y'} k(y, y') - \mathbb{E}_x k(x, y),

    estimated by plugging in, for each sample point, the leave-one-out mean over its own sample and the mean
    over the other, :math:`\hat h_x(x_i) = \frac{1}{m-1}\sum_{j\ne i} k(x_i, x_j) - \frac1n \sum_a k(x_i, y_a)`
    (and likewise for ``y``), and taking their sample variances (``ddof = 1``). The returned value is the
    square root. It describes the estimator's spread under alternatives (P ≠ Q); when P = Q the first-order term
    vanishes and the true spread is of order 1/n, not 1/√n.

    Parameters are those of ``mmd2_unbiased`` (``sigma=None`` takes its median heuristic with ``seed``).

    Raises ``TypeError``/``ValueError`` as ``mmd2_unbiased`` (inputs named ``x``, ``y``).
    """
    return _permutation_statistics(x, y, sigma, 0, seed, chunk_size)[2]


def mmd_permutation_test(
    x: ArrayLike,
    y: ArrayLike,
    sigma: float | None = DEFAULTS["mmd_sigma"],
    *,
    permutations: int = DEFAULTS["mmd_test_permutations"],
    seed: int = DEFAULTS["seed"],
    chunk_size: int = DEFAULTS["mmd_chunk_size"],
) -> MMDTestResult:
    r"""Return the permutation two-sample test of ``x`` and ``y`` on the unbiased Gaussian MMD^2, as ``MMDTestResult``.

    Gretton et al. 2012, Sec. 5 (tests by resampling): under :math:`H_0: P = Q` the labels of the pooled sample
    are exchangeable, so the observed statistic is compared with its values under ``permutations`` random
    relabellings :math:`\pi_1..\pi_P` (``torch.randperm(m + n)`` from a CPU generator seeded with ``seed``; the
    first ``m`` entries are labelled x):

    .. math:: p = \frac{1 + \#\{b : \mathrm{MMD}^2_u(\pi_b) \ge \mathrm{MMD}^2_u\}}{1 + P}

    (Phipson & Smyth 2010: the observed labelling counts as one permutation, so ``p >= 1/(1 + P)`` and the test
    is exact at level ``α`` when ``p <= α`` rejects). The kernel and bandwidth are fixed across permutations:
    ``sigma``, or the median heuristic of ``mmd2_unbiased`` on the pooled sample. ``mmd2`` is the observed
    statistic (equal to ``mmd2_unbiased(..., matmul_dtype="float64")`` up to float64 round-off); ``std_error`` as
    ``mmd2_standard_error``.

    Parameters are those of ``mmd2_unbiased``, plus ``permutations`` (``>= 1``).

    Raises ``TypeError``/``ValueError`` as ``mmd2_unbiased`` (inputs named ``x``, ``y``), and for
    ``permutations < 1``.
    """
    permutations = check_int(permutations, "permutations", 1)
    stats, sigma, std_error = _permutation_statistics(x, y, sigma, permutations, seed, chunk_size)
    p_value = (1 + int((stats[1:] >= stats[0]).sum())) / (1 + permutations)
    return MMDTestResult(
        mmd2=float(stats[0]), sigma=sigma, p_value=p_value, permutations=permutations, std_error=std_error
    )
