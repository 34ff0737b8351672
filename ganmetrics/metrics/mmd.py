"""Kernel two-sample statistics: the unbiased MMD^2 with a Gaussian kernel, and KID.

Both are the unbiased estimator of Gretton et al. 2012 ("A Kernel Two-Sample Test", JMLR 13, Lemma 6),

    MMD^2_u = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)
              - 2/(mn) sum_{i, j} k(x_i, y_j),

computed block by block (at most ``chunk_size x chunk_size`` pairs at a time, each block summed into a float64
accumulator) so that no m x n kernel matrix is ever held in memory. Within-sample sums use the symmetry of the
kernel: only pairs on or above the diagonal are computed (see ``_BlockSums.off_diagonal``). KID (Binkowski et
al. 2018) applies the same estimator with a cubic polynomial kernel to random subsets and reproduces
``torch_fidelity.metric_kid.kid_features_to_metric``.

Precision
    Both kernels are a function of one O(d) term per pair, the dot product of two rows; everything else is
    O(1) per pair or O(d) per row. ``precision="float32"`` (the default, ``DEFAULTS["mmd_matmul_dtype"]``)
    computes that dot product with a float32 matmul in full IEEE float32 (``exact_float32`` switches TF32 and
    other reduced-precision matmul paths off during the call and restores them afterwards), and the rest in
    float64: each sample is centred on its own mean in float64 before it is rounded to float32, so the matmul
    sees only the spread of each sample, never the distance between the two samples or their offset from 0;
    the row norms, the centring corrections (one value per row), the kernel values (exp, cube) and all sums
    are float64. Each dot product is then off by about 2^-24 ||a~|| ||b~||. Measured against the float64
    formula: below 1e-8 of the mean kernel value (d = 4 to 2,048, n = 20 to 10,000), which is 1e-9 relative
    on the benchmark's d = 2,048 features (bench/kernel.py) and up to 2e-7 relative on small samples (n ~ 100,
    d <= 256) whose MMD^2 is 1e-2 of the mean kernel value. A value near 0 (two samples of one distribution)
    is accurate in absolute terms only. The error grows with ||a~||^2 / sigma^2 for a Gaussian bandwidth far
    below the median distance (5.8e-7 relative, 1.2e-7 of the mean kernel value, at sigma = 0.15 x the median
    distance, d = 5). ``precision="float64"`` runs the matmul in float64 too and reproduces the formula to
    float64 round-off (1e-12 relative in the tests) at about half the speed of float32 on CPUs.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganmetrics.defaults import DEFAULTS
from ganmetrics.metrics._arrays import ArrayLike, as_samples, check_int, check_same_dims
from ganmetrics.numerics import exact_float32

# KID gathers its subsets in batches of at most this many bytes per sample side (in the matmul dtype): one
# batched matmul covers several subsets. Small batches keep the kernel blocks in cache; on the benchmark CPU
# 16-32 MiB (2-4 subsets of 1000 x 2048 in float32) ran 8 % faster than 256 MiB.
_KID_BATCH_BYTES = 32 * 1024**2

# The values of the ``precision`` argument: the dtype of the dot-product matmul (module docstring).
KERNEL_PRECISIONS = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class MMDResult:
    """An unbiased MMD^2 estimate and the Gaussian bandwidth ``sigma`` it was computed with.

    The field names equal ``ganmetrics.keys.MMD2`` and ``ganmetrics.keys.SIGMA``.
    """

    mmd2: float
    sigma: float


@dataclass(frozen=True)
class _Sample:
    """Rows prepared for one pairing of the estimator: ``rows`` (``(..., n, d)``, in the matmul dtype) and
    ``offsets`` (``(..., n)``, float64), see ``_KernelTerms``."""

    rows: torch.Tensor
    offsets: torch.Tensor

    def __len__(self) -> int:
        return self.rows.shape[-2]

    def block(self, start: int, stop: int) -> _Sample:
        return _Sample(self.rows[..., start:stop, :], self.offsets[..., start:stop])


@dataclass(frozen=True)
class _KernelTerms:
    """A kernel written as ``k(a_i, b_j) = profile(r_a_i . r_b_j + u_i + v_j)``, with ``x`` and ``y`` prepared for
    the three sums of the estimator.

    The rows ``r`` (``rows_x``, ``rows_y``, in the matmul dtype) are the samples centred on their own mean and
    scaled so that the matmul gives the dot-product term of the argument; being centred per sample, they carry
    only the spread of each sample, not the distance between the samples. The float64 offsets ``u``, ``v`` carry
    the rest of the argument and depend on the pairing: ``"x_x"`` for ``k(x_i, x_j)``, ``"y_y"``, and
    ``"x_y"``/``"y_x"`` for ``k(x_i, y_j)``. ``profile`` maps the float64 argument to kernel values in place.
    """

    profile: Callable[[torch.Tensor], torch.Tensor]
    rows_x: torch.Tensor
    rows_y: torch.Tensor
    offsets: dict[str, torch.Tensor]

    def sample(self, pairing: str) -> _Sample:
        """Return the rows and offsets of pairing ``"x_x"``, ``"y_y"``, ``"x_y"`` or ``"y_x"``."""
        return _Sample(self.rows_x if pairing[0] == "x" else self.rows_y, self.offsets[pairing])

    def take(
        self, index_x: torch.Tensor, index_y: torch.Tensor, buffers: tuple[torch.Tensor, torch.Tensor]
    ) -> _KernelTerms:
        """Return the terms of the rows ``index_x`` of ``x`` and ``index_y`` of ``y`` (the result gains the
        indices' leading dimensions); the rows are gathered into the flat ``buffers`` (reused across calls:
        a fresh allocation per call costs page faults comparable to the gather itself)."""

        def gather(rows: torch.Tensor, index: torch.Tensor, buffer: torch.Tensor) -> torch.Tensor:
            d = rows.shape[-1]
            out = buffer[: index.numel() * d].view(index.numel(), d)
            return torch.index_select(rows, 0, index.flatten(), out=out).view(*index.shape, d)

        index = {"x": index_x, "y": index_y}
        return _KernelTerms(
            self.profile,
            gather(self.rows_x, index_x, buffers[0]),
            gather(self.rows_y, index_y, buffers[1]),
            {pairing: offsets[index[pairing[0]]] for pairing, offsets in self.offsets.items()},
        )


def _centred(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``z`` minus its mean row (float64) and that mean."""
    center = z.mean(dim=0)
    return z - center, center


def _gaussian_terms(x: torch.Tensor, y: torch.Tensor, sigma: float, dtype: torch.dtype) -> _KernelTerms:
    """Return the terms of ``exp(-||a - b||^2 / (2 sigma^2))`` (see ``_KernelTerms``).

    With ``a = a~ + c_x``, ``b = b~ + c_y`` and ``D = c_x - c_y``:
    ``||a - b||^2 = ||a~||^2 + ||b~||^2 + ||D||^2 + 2 D . a~ - 2 D . b~ - 2 a~ . b~`` (``D = 0`` within a sample);
    the rows are ``a~ / sigma``. The argument ``-||a - b||^2 / (2 sigma^2)`` is clamped at 0 (a squared distance
    is never negative).
    """
    (xc, cx), (yc, cy) = _centred(x), _centred(y)
    shift = cx - cy
    factor = -0.5 / sigma**2
    norm_x, norm_y, half_shift = xc.square().sum(-1), yc.square().sum(-1), float(shift @ shift) / 2
    offsets = {
        "x_x": norm_x * factor,
        "y_y": norm_y * factor,
        "x_y": (norm_x + 2.0 * (xc @ shift) + half_shift) * factor,
        "y_x": (norm_y - 2.0 * (yc @ shift) + half_shift) * factor,
    }
    rows_x, rows_y = xc.div_(sigma).to(dtype), yc.div_(sigma).to(dtype)
    return _KernelTerms(lambda t: t.clamp_max_(0.0).exp_(), rows_x, rows_y, offsets)


def _cubic_polynomial_terms(x: torch.Tensor, y: torch.Tensor, dtype: torch.dtype) -> _KernelTerms:
    """Return the terms of the KID kernel ``(a . b / d + 1)^3`` (see ``_KernelTerms``).

    With ``a = a~ + c_a``, ``b = b~ + c_b``:
    ``a . b / d + 1 = a~ . b~ / d + (c_b . a~ / d + h) + (c_a . b~ / d + h)``, ``h = (c_a . c_b / d + 1) / 2``;
    the rows are ``a~ / sqrt(d)``.
    """
    d = x.shape[-1]
    (xc, cx), (yc, cy) = _centred(x), _centred(y)

    def offset(centred: torch.Tensor, center: torch.Tensor, partner: torch.Tensor) -> torch.Tensor:
        return (centred @ partner).div_(d).add_((float(center @ partner) / d + 1.0) / 2.0)

    offsets = {
        "x_x": offset(xc, cx, cx),
        "y_y": offset(yc, cy, cy),
        "x_y": offset(xc, cx, cy),
        "y_x": offset(yc, cy, cx),
    }
    rows_x, rows_y = xc.div_(math.sqrt(d)).to(dtype), yc.div_(math.sqrt(d)).to(dtype)
    return _KernelTerms(lambda t: t.pow_(3), rows_x, rows_y, offsets)


class _BlockSums:
    """Sums of kernel values over blocks of at most ``chunk_size x chunk_size`` pairs, in float64.

    Each block is one matmul, then in-place float64 steps in one reused buffer (on the CPU a fresh block-sized
    float64 allocation per block costs more in page faults than the steps themselves). Leading dimensions of
    the rows are batch dimensions.
    """

    def __init__(self, terms: _KernelTerms, chunk_size: int) -> None:
        self.terms, self.chunk_size = terms, chunk_size
        batch, m, n = terms.rows_x.shape[:-2], terms.rows_x.shape[-2], terms.rows_y.shape[-2]
        self.values = terms.offsets["x_x"].new_empty(math.prod(batch) * min(chunk_size, max(m, n)) ** 2)

    def kernel(self, a: _Sample, b: _Sample) -> torch.Tensor:
        """Return the block ``k(a_i, b_j)`` (a view of the reused buffer, valid until the next call)."""
        gram = a.rows @ b.rows.mT
        values = self.values[: gram.numel()].view(gram.shape).copy_(gram)
        return self.terms.profile(values.add_(a.offsets.unsqueeze(-1)).add_(b.offsets.unsqueeze(-2)))

    def off_diagonal(self, a: _Sample) -> torch.Tensor:
        """Return ``sum_{i != j} k(a_i, a_j)``.

        The kernel is symmetric, so only pairs on or above the diagonal are computed: rows in steps of
        ``h = ceil(chunk_size / 4)``, each against the columns from its first row on, in blocks of
        ``chunk_size``; pairs above the diagonal count twice. The computed share of the ``n x n`` pairs is
        ``(n + h) / (2 n)`` (square ``chunk_size`` blocks would give ``(n + chunk_size) / (2 n)``).
        """
        step = -(-self.chunk_size // 4)
        total = a.offsets.new_zeros(a.offsets.shape[:-1])
        for i in range(0, len(a), step):
            rows = a.block(i, i + step)
            for j in range(i, len(a), self.chunk_size):
                values = self.kernel(rows, a.block(j, j + self.chunk_size))
                if j == i:  # the block starts with the square rows x rows, whose pairs appear in both orders
                    values.diagonal(dim1=-2, dim2=-1).zero_()
                    total -= values[..., : len(rows)].sum(dim=(-2, -1))
                total += 2.0 * values.sum(dim=(-2, -1))
        return total

    def cross(self, a: _Sample, b: _Sample) -> torch.Tensor:
        """Return ``sum_{i, j} k(a_i, b_j)``."""
        step = self.chunk_size
        total = a.offsets.new_zeros(a.offsets.shape[:-1])
        for i in range(0, len(a), step):
            rows = a.block(i, i + step)
            for j in range(0, len(b), step):
                total += self.kernel(rows, b.block(j, j + step)).sum(dim=(-2, -1))
        return total


def _unbiased_mmd2(terms: _KernelTerms, chunk_size: int) -> torch.Tensor:
    """Return the unbiased MMD^2 (Gretton et al. 2012, Lemma 6) of the samples ``terms`` holds.

    Matmuls run in full IEEE precision (``exact_float32``: no TF32 or reduced-precision paths).
    """
    m, n = terms.rows_x.shape[-2], terms.rows_y.shape[-2]
    sums = _BlockSums(terms, chunk_size)
    with exact_float32():
        return (
            sums.off_diagonal(terms.sample("x_x")) / (m * (m - 1))
            + sums.off_diagonal(terms.sample("y_y")) / (n * (n - 1))
            - 2.0 * sums.cross(terms.sample("x_y"), terms.sample("y_x")) / (m * n)
        )


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Return the ``(p, q)`` squared Euclidean distances ``||a_i - b_j||^2``, clamped at 0."""
    sq = a @ b.mT
    sq.mul_(-2.0).add_(a.square().sum(-1).unsqueeze(-1)).add_(b.square().sum(-1).unsqueeze(-2))
    return sq.clamp_min_(0.0)


def _check_precision(precision: object) -> torch.dtype:
    """Return the matmul dtype named by ``precision``; raise ``TypeError``/``ValueError`` otherwise."""
    if not isinstance(precision, str):
        raise TypeError(f"precision: expected a string, got {type(precision).__name__}")
    if precision not in KERNEL_PRECISIONS:
        raise ValueError(f"precision: expected one of {', '.join(map(repr, KERNEL_PRECISIONS))}, got {precision!r}")
    return KERNEL_PRECISIONS[precision]


def _median_pairwise_distance(x: torch.Tensor, y: torch.Tensor, max_points: int, seed: int) -> float:
    """Return the median Euclidean distance over distinct pairs of pooled rows (see ``mmd2_unbiased``).

    The pooled rows are centred on their mean first (distances do not change; the float64 expansion
    ``||a||^2 + ||b||^2 - 2 a . b`` then loses less to cancellation).
    """
    m, n_pooled = x.shape[0], x.shape[0] + y.shape[0]
    if n_pooled > max_points:
        keep = torch.randperm(n_pooled, generator=torch.Generator().manual_seed(seed))[:max_points]
        keep = keep.to(x.device)
        from_x = keep < m
        z = torch.cat([x[keep[from_x]], y[keep[~from_x] - m]])
    else:
        z = torch.cat([x, y])
    z -= z.mean(dim=0)
    upper = torch.triu_indices(z.shape[0], z.shape[0], offset=1, device=z.device)
    distances = _squared_distances(z, z)[upper[0], upper[1]].sqrt_().sort().values
    half = distances.numel() // 2
    if distances.numel() % 2:
        return float(distances[half])
    return float((distances[half - 1] + distances[half]) / 2)


def mmd2_unbiased(
    x: ArrayLike,
    y: ArrayLike,
    sigma: float | None = DEFAULTS["mmd_sigma"],
    *,
    seed: int = DEFAULTS["seed"],
    chunk_size: int = DEFAULTS["mmd_chunk_size"],
    median_subsample: int = DEFAULTS["mmd_median_subsample"],
    precision: str = DEFAULTS["mmd_matmul_dtype"],
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

    Computation: on the device of ``x``, in kernel blocks of at most ``chunk_size x chunk_size`` entries, each
    summed into a float64 accumulator. Each sample is centred on its own mean (distances do not change) and
    squared distances are formed as
    :math:`\|\tilde a\|^2 + \|\tilde b\|^2 + \|D\|^2 + 2 D \cdot (\tilde a - \tilde b)
    - 2 \tilde a \cdot \tilde b` (``D`` the difference of the two means, 0 within a sample): the dot products
    of the centred rows by one matmul per block in ``precision``, everything else in float64 (module docstring,
    "Precision", for the error of the float32 default).

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
        round-off.
    median_subsample:
        Largest pooled sample the median heuristic uses as is.
    precision:
        ``"float32"`` or ``"float64"``: the dtype of the dot-product matmul (module docstring, "Precision").

    Raises
    ------
    TypeError
        An input is not a numeric array/tensor; ``sigma`` is not a real number; an integer argument is not an
        integer; ``precision`` is not a string.
    ValueError
        ``x`` or ``y`` is not 2-D, has fewer than 2 rows or holds NaN/Inf; the feature dimensions differ;
        ``sigma <= 0`` or not finite; the median heuristic gives 0 (more than half of the pairs coincide);
        ``chunk_size < 1`` or ``median_subsample < 2``; ``precision`` is not ``"float32"`` or ``"float64"``.
    """
    x = as_samples(x, "x")
    y = as_samples(y, "y", device=x.device)
    check_same_dims(x, y, ("x", "y"))
    chunk_size = check_int(chunk_size, "chunk_size", 1)
    median_subsample = check_int(median_subsample, "median_subsample", 2)
    dtype = _check_precision(precision)
    if sigma is not None:
        if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real):
            raise TypeError(f"sigma: expected a real number or None, got {type(sigma).__name__}")
        if not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma: must be a finite number > 0, got {sigma}")
    if sigma is None:
        sigma = _median_pairwise_distance(x, y, median_subsample, check_int(seed, "seed", 0))
        if sigma == 0.0:
            raise ValueError(
                "x, y: the median pairwise distance of the pooled sample is 0 (more than half of the pairs "
                "coincide); pass sigma explicitly"
            )
    sigma = float(sigma)
    mmd2 = _unbiased_mmd2(_gaussian_terms(x, y, sigma, dtype), chunk_size)
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
    subsets: int = DEFAULTS["kid_subsets"],
    subset_size: int = DEFAULTS["kid_subset_size"],
    seed: int = DEFAULTS["seed"],
    *,
    precision: str = DEFAULTS["mmd_matmul_dtype"],
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
    rather than ``np.random.RandomState``. Subsets are processed a few at a time with batched matmuls. Each
    sample is centred on its own full-sample mean (``c_x``, ``c_y``) and
    :math:`a \cdot b = \tilde a \cdot \tilde b + c_b \cdot \tilde a + c_a \cdot \tilde b + c_a \cdot c_b`:
    the matmul of the centred rows runs in ``precision``, the other terms, the kernel values and all sums in
    float64 (module docstring, "Precision", for the error of the float32 default).

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
    precision:
        ``"float32"`` or ``"float64"``: the dtype of the dot-product matmul (module docstring, "Precision").

    Raises
    ------
    TypeError
        An input is not a numeric array/tensor, an integer argument is not an integer, or ``precision`` is not
        a string.
    ValueError
        ``x`` or ``y`` is not 2-D, has fewer than 2 rows or holds NaN/Inf; the feature dimensions differ;
        ``subsets < 1``; ``subset_size < 2`` or larger than ``n_x`` or ``n_y``; ``seed < 0``; ``precision`` is
        not ``"float32"`` or ``"float64"``.
    """
    x = as_samples(x, "x")
    y = as_samples(y, "y", device=x.device)
    check_same_dims(x, y, ("x", "y"))
    subsets = check_int(subsets, "subsets", 1)
    subset_size = check_int(subset_size, "subset_size", 2)
    seed = check_int(seed, "seed", 0)
    dtype = _check_precision(precision)
    n_x, n_y = x.shape[0], y.shape[0]
    if subset_size > min(n_x, n_y):
        raise ValueError(f"subset_size: {subset_size} is larger than the number of samples (x: {n_x}, y: {n_y})")
    index_x, index_y = _kid_subset_indices(n_x, n_y, subsets, subset_size, seed)
    terms = _cubic_polynomial_terms(x, y, dtype)
    batch = max(1, _KID_BATCH_BYTES // (subset_size * x.shape[1] * terms.rows_x.element_size()))
    buffers = (
        terms.rows_x.new_empty(min(batch, subsets) * subset_size * x.shape[1]),
        terms.rows_y.new_empty(min(batch, subsets) * subset_size * x.shape[1]),
    )
    values = torch.cat(
        [
            _unbiased_mmd2(terms.take(ix.to(x.device), iy.to(x.device), buffers), subset_size)
            for ix, iy in zip(index_x.split(batch), index_y.split(batch), strict=True)
        ]
    )
    return float(values.mean()), float(values.std(correction=0))
