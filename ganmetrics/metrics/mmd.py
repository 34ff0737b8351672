"""Kernel two-sample statistics: the unbiased MMD^2 with a Gaussian kernel, and KID.

Both are the unbiased estimator of Gretton et al. 2012 ("A Kernel Two-Sample Test", JMLR 13, Lemma 6),

    MMD^2_u = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)
              - 2/(mn) sum_{i, j} k(x_i, y_j),

computed tile by tile on the pooled sample ``z = [x; y]`` (at most ``chunk_size x chunk_size`` pairs at a time,
summed into float64 accumulators) so that no m x n kernel matrix is ever held in memory. KID (Binkowski et al.
2018) applies the same estimator with a cubic polynomial kernel to random subsets and reproduces
``torch_fidelity.metric_kid.kid_features_to_metric``.

Speed
    The work is the dot products of the rows (2 d flops per pair), the rest is O(1) per pair. Each unordered pair
    of rows is formed once: the Gram matrix of the pooled sample is symmetric, so only tiles on or above its
    diagonal are computed, the diagonal tiles by a symmetric rank-k update (BLAS ``?syrk``, ``_blas.syrk_``).
    That is ``(m + n)^2 d`` flops for the three sums of the estimator: as much as two ``syrk`` for the
    within-sample sums and one product for the cross sum (what numpy does for ``x @ x.T``), two thirds of three
    general products, and what the peers do. On the CPU the gain is in what surrounds the BLAS calls:

    - Threads. The work is cut into jobs (KID: one per subset; MMD and CMMD: one per tile pair of
      ``chunk_size`` rows) shared among as many worker threads as torch has CPU threads, each running its
      kernels on one thread (``numerics.map_on_cpu_threads``; ``_blas`` calls BLAS without the GIL). The
      kernel values, memory-bound steps that one thread did while the other core waited, now run on every core,
      and no operation waits for the threads at a barrier. KID of 100 subsets of 1,000 (d = 2,048, 2 cores):
      4.6 s where the subsets one after the other, each ``ssyrk`` on two BLAS threads, took 5.5 s (medians of 5
      interleaved runs, the same values to the bit; bench/RESULTS.md, section ``kernel``, for the peers).
    - No float64 copy of the inputs. float32 features are taken as they are and centred in cache-sized chunks
      of rows (``_centre_rows``), not converted, centred and rounded back in passes over the whole sample: 0.19 s
      instead of about 0.5 s for 10,000 x 2,048 per side.
    - Kernel values in float64 strips of ``_VALUE_BLOCK`` entries that stay in cache.

Precision
    Both kernels are a function of one O(d) term per pair, the dot product of two rows; everything else is
    O(1) per pair or O(d) per row. ``matmul_dtype="float32"`` (the default, ``DEFAULTS["mmd_matmul_dtype"]``)
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
    distance, d = 5). ``matmul_dtype="float64"`` runs the matmul in float64 too and reproduces the formula to
    float64 round-off (1e-12 relative in the tests) at about half the speed of float32 on CPUs.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import torch

from ganmetrics.defaults import DEFAULTS
from ganmetrics.metrics._arrays import (
    ArrayLike,
    as_checked_samples,
    check_finite_result,
    check_int,
    check_magnitude,
    check_same_dims,
    check_seed,
)
from ganmetrics.metrics._blas import matmul_nt_, syrk_
from ganmetrics.metrics._chunks import float64_buffer, row_chunks, sum_rows
from ganmetrics.metrics.distances import cost_matrix
from ganmetrics.numerics import exact_float32, map_on_cpu_threads

# Kernel values are formed in float64 row strips of at most this many entries (2 MiB, kept in cache between the
# steps of one strip: offsets, profile, sum).
_VALUE_BLOCK = 2**18

# Rows per job of ``_centred_terms``: fixed (not by thread count), so that the means' sums do not depend on it.
_CENTRE_JOB_ROWS = 512

# The values of the ``matmul_dtype`` argument: the dtype of the dot-product matmul (module docstring).
MATMUL_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class MMDResult:
    """An unbiased MMD^2 estimate and the Gaussian bandwidth ``sigma`` it was computed with.

    The field names equal ``ganmetrics.keys.MMD2`` and ``ganmetrics.keys.SIGMA``.
    """

    mmd2: float
    sigma: float


@dataclass(frozen=True)
class _KernelTerms:
    """A kernel written as ``k(a_i, b_j) = profile(r_i . r_j + o_i + o_j)`` on the pooled sample ``z = [x; y]``.

    ``rows`` (``(m + n, d)``, in the matmul dtype, the ``m`` rows of ``x`` first) are the samples centred on their
    own mean and scaled so that the matmul gives the dot-product term of the argument; being centred per sample,
    they carry only the spread of each sample, not the distance between the samples. The float64 offsets carry
    the rest of the argument and depend on the pairing: ``within[i]`` when ``z_i`` and ``z_j`` come from the same
    sample, ``cross[i]`` when not. ``profile`` maps the float64 argument to kernel values in place.
    """

    profile: Callable[[torch.Tensor], torch.Tensor]
    rows: torch.Tensor
    within: torch.Tensor
    cross: torch.Tensor
    m: int

    def take(self, index_x: torch.Tensor, index_y: torch.Tensor, buffer: torch.Tensor) -> _KernelTerms:
        """Return the terms of the rows ``index_x`` of ``x`` and ``index_y`` of ``y``, gathered into the flat
        ``buffer`` (reused across calls: a fresh allocation per call costs page faults comparable to the
        gather itself)."""
        index = torch.cat([index_x, index_y + self.m])
        d = self.rows.shape[1]
        rows = torch.index_select(self.rows, 0, index, out=buffer[: index.numel() * d].view(index.numel(), d))
        return _KernelTerms(self.profile, rows, self.within[index], self.cross[index], index_x.numel())

    def block(self, gram: torch.Tensor, i: int, j: int, out: torch.Tensor) -> torch.Tensor:
        """Return the float64 kernel values ``k(z_a, z_b)`` of the block whose dot products ``gram`` holds, rows
        from ``i`` and columns from ``j``, written into ``out`` (flat, at least ``gram.numel()`` entries)."""
        values = out[: gram.numel()].view(gram.shape).copy_(gram)
        rows, cols = range(i, i + gram.shape[0]), range(j, j + gram.shape[1])
        for r in _split(rows, self.m):
            for c in _split(cols, self.m):
                offsets = self.within if (r.start < self.m) == (c.start < self.m) else self.cross
                part = values[r.start - i : r.stop - i, c.start - j : c.stop - j]
                part.add_(offsets[r.start : r.stop].unsqueeze(-1)).add_(offsets[c.start : c.stop])
        return self.profile(values)


def _split(indices: range, boundary: int) -> list[range]:
    """Return ``indices`` split at ``boundary`` (the first row of ``y`` in the pooled sample) into 1 or 2 ranges."""
    if indices.start < boundary < indices.stop:
        return [range(indices.start, boundary), range(boundary, indices.stop)]
    return [indices]


def _tiles(n: int, tile: int) -> list[range]:
    """Return ``range(n)`` cut into ``ceil(n / tile)`` consecutive ranges of near-equal length."""
    count = -(-n // tile)
    edges = [round(k * n / count) for k in range(count + 1)]
    return [range(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


class _Workspace:
    """The buffers of one worker (``_tile_sums``: a float32/float64 Gram tile and a float64 strip of kernel values;
    ``kid``: the gathered rows of a subset), kept across its jobs: on the CPU a fresh large allocation per job
    costs more in page faults than the work on it."""

    def __init__(self) -> None:
        self.gram = torch.empty(0)
        self.values = torch.empty(0)
        self.rows = torch.empty(0)

    def get(self, name: str, numel: int, like: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        buffer = getattr(self, name)
        if buffer.numel() < numel or buffer.dtype != dtype or buffer.device != like.device:
            buffer = like.new_empty(numel, dtype=dtype)
            setattr(self, name, buffer)
        return buffer[:numel]


def _tile_pairs(n: int, tile: int) -> list[tuple[range, range]]:
    """Return the pairs ``(rows, cols)`` of ``_tiles(n, tile)`` on and above the diagonal, row by row."""
    tiles = _tiles(n, tile)
    return [(rows, cols) for k, rows in enumerate(tiles) for cols in tiles[k:]]


def _tile_sums(terms: _KernelTerms, rows: range, cols: range, workspace: _Workspace) -> torch.Tensor:
    """Return the float64 parts ``(U_xx, U_yy, S_xy)`` of ``_pair_sums`` from the tile pair ``(rows, cols)`` (on or
    above the diagonal of the pooled sample's Gram matrix).

    A diagonal tile by one BLAS ``?syrk`` (its upper triangle, half the work of a matrix product), the others by
    one matrix product (``_blas``). Kernel values are then taken in row strips of at most ``_VALUE_BLOCK``
    entries; in a diagonal tile each strip starts at its first row's diagonal and the entries on and below the
    diagonal are zeroed after the profile. Callers run it inside ``numerics.exact_float32`` (no TF32 or
    reduced-precision matmul paths), through ``_map_tiles`` or ``numerics.map_on_cpu_threads``.
    """
    m, diagonal = terms.m, rows == cols
    gram = workspace.get("gram", len(rows) * len(cols), terms.rows, terms.rows.dtype).view(len(rows), len(cols))
    values = workspace.get("values", min(_VALUE_BLOCK, gram.numel()), terms.rows, torch.float64)
    if diagonal:
        syrk_(gram, terms.rows[rows.start : rows.stop])
    else:
        matmul_nt_(gram, terms.rows[rows.start : rows.stop], terms.rows[cols.start : cols.stop])
    sums = terms.within.new_zeros(3)
    strip = max(1, values.numel() // len(cols))
    for s in range(0, len(rows), strip):
        i, j = rows.start + s, cols.start + (s if diagonal else 0)
        block = terms.block(gram[s : s + strip, j - cols.start :], i, j, values)
        if diagonal:
            block[:, : block.shape[0]].triu_(1)
        _add_sums(sums, block, i, j, m)
    return sums


def _pair_sums(terms: _KernelTerms, tile: int, workspace: _Workspace) -> torch.Tensor:
    """Return the float64 sums ``(U_xx, U_yy, S_xy)``: ``U_xx = sum_{i<j} k(x_i, x_j)``, ``U_yy`` likewise and
    ``S_xy = sum_{i,j} k(x_i, y_j)``, on the calling thread.

    The pooled sample is cut into tiles of at most ``tile`` rows; only tile pairs on or above the diagonal are
    formed (each pair of rows once, ``_tile_sums``), and their parts are added in the order of ``_tile_pairs``.
    Callers run it inside ``numerics.exact_float32``.
    """
    parts = [_tile_sums(terms, rows, cols, workspace) for rows, cols in _tile_pairs(terms.rows.shape[0], tile)]
    return torch.stack(parts).sum(dim=0)


def _map_tiles(terms: _KernelTerms, tile: int) -> torch.Tensor:
    """Return ``_pair_sums(terms, tile, ...)`` with the tile pairs shared among CPU threads
    (``numerics.map_on_cpu_threads``: each worker a workspace of its own), in full IEEE precision
    (``numerics.exact_float32``); the parts are added in the same order, so the sums do not depend on the threads.
    """
    with exact_float32():
        parts = map_on_cpu_threads(
            _tile_pairs(terms.rows.shape[0], tile),
            lambda pair, workspace: _tile_sums(terms, *pair, workspace),
            _Workspace,
            terms.rows.device,
        )
    return torch.stack(parts).sum(dim=0)


def _add_sums(sums: torch.Tensor, block: torch.Tensor, i: int, j: int, m: int) -> None:
    """Add the kernel values ``block`` (rows from ``i``, columns from ``j`` of the pooled upper triangle) to
    ``sums = (U_xx, U_yy, S_xy)``; ``m`` is the first row of ``y``."""
    split = min(max(m - j, 0), block.shape[1])  # columns before it are x's
    if i < m:
        rows_x = block[: m - i]
        sums[0] += rows_x[:, :split].sum()
        sums[2] += rows_x[:, split:].sum()
    if i + block.shape[0] > m:  # rows of y: their columns in the upper triangle are all y's
        sums[1] += block[max(m - i, 0) :].sum()


def _unbiased_mmd2(sums: torch.Tensor, m: int, n: int) -> torch.Tensor:
    """Return the unbiased MMD^2 (Gretton et al. 2012, Lemma 6) from ``_pair_sums``' ``(U_xx, U_yy, S_xy)``."""
    return 2.0 * sums[0] / (m * (m - 1)) + 2.0 * sums[1] / (n * (n - 1)) - 2.0 * sums[2] / (m * n)


def _centre_rows(
    sample: torch.Tensor,
    center: torch.Tensor,
    partners: torch.Tensor,
    scale: float,
    buffer: torch.Tensor,
    out: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
) -> None:
    """Write ``(sample - center) / scale`` into ``out[0]`` (the matmul dtype), the float64 dot products
    ``(sample - center) @ partners`` into ``out[1]`` (``(n, p)``) and the squared norms ``||sample_i - center||^2``
    into ``out[2]``.

    Chunk by chunk (``_chunks.row_chunks``) through the float64 ``buffer``: every step on a chunk (centring, dot
    products, norms, scaling, rounding to the matmul dtype) runs while it is in cache. float32 to float64 is
    exact, so the values are those of a float64 copy of the whole sample, which took 5x as long (10,000 x 2,048
    float32 features). ``sample``: float32/float64 ``(n, d)``; ``center``: float64 ``(d,)``; ``partners``:
    float64 ``(d, p)``.
    """
    rows_out, dots, norms = out
    inverse = 1.0 / scale
    for rows in row_chunks(sample):
        chunk = buffer[: len(rows)].copy_(sample[rows.start : rows.stop]).sub_(center)
        torch.mm(chunk, partners, out=dots[rows.start : rows.stop])
        torch.linalg.vecdot(chunk, chunk, out=norms[rows.start : rows.stop])
        rows_out[rows.start : rows.stop].copy_(chunk.mul_(inverse))


@dataclass(frozen=True)
class _Centred:
    """One sample's part of ``_centred_terms``: its float64 mean ``center``, and in float64 the dot products
    ``dots`` (``(n, p)``) of its centred rows with the partner vectors and their squared norms ``norms``."""

    center: torch.Tensor
    dots: torch.Tensor
    norms: torch.Tensor


def _centred_terms(
    x: torch.Tensor,
    y: torch.Tensor,
    scale: float,
    dtype: torch.dtype,
    partners: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, _Centred, _Centred]:
    """Return the pooled rows ``[x~; y~] / scale`` in ``dtype`` (``a~`` a row minus its sample's float64 mean
    ``c``) and each sample's ``_Centred`` terms, with the partner vectors ``partners(c_x, c_y)`` for ``x`` and
    ``partners(c_y, c_x)`` for ``y`` (``(d, p)``).

    Two passes, each in jobs of ``_CENTRE_JOB_ROWS`` rows shared among CPU threads
    (``numerics.map_on_cpu_threads``), every job chunk by chunk through its worker's float64 buffer
    (``_chunks``): the float64 sums of each job's rows, added in job order into the means; then the centred rows
    (``_centre_rows``). The jobs do not depend on the thread count, nor do the values. ``x``, ``y``:
    float32/float64 ``(m, d)``, ``(n, d)``.
    """
    samples, starts = (x, y), (0, x.shape[0])
    jobs = [(k, rows) for k, sample in enumerate(samples) for rows in _tiles(sample.shape[0], _CENTRE_JOB_ROWS)]

    def block(job: tuple[int, range]) -> torch.Tensor:
        return samples[job[0]][job[1].start : job[1].stop]

    buffer = partial(float64_buffer, [block(job) for job in jobs])  # one per worker
    sums = map_on_cpu_threads(jobs, lambda job, chunk: sum_rows(block(job), chunk), buffer, x.device)
    centers = [
        torch.stack([total for (k, _), total in zip(jobs, sums, strict=True) if k == side]).sum(dim=0)
        / samples[side].shape[0]
        for side in (0, 1)
    ]
    pair = (partners(centers[0], centers[1]), partners(centers[1], centers[0]))
    n_pooled = x.shape[0] + y.shape[0]
    rows = x.new_empty(n_pooled, x.shape[1], dtype=dtype)
    dots = x.new_empty(n_pooled, pair[0].shape[1], dtype=torch.float64)
    norms = x.new_empty(n_pooled, dtype=torch.float64)

    def centre(job: tuple[int, range], buffer: torch.Tensor) -> None:
        k, part = job
        lo, hi = starts[k] + part.start, starts[k] + part.stop
        _centre_rows(block(job), centers[k], pair[k], scale, buffer, (rows[lo:hi], dots[lo:hi], norms[lo:hi]))

    map_on_cpu_threads(jobs, centre, buffer, x.device)
    m = x.shape[0]
    return rows, _Centred(centers[0], dots[:m], norms[:m]), _Centred(centers[1], dots[m:], norms[m:])


def gaussian_terms(x: torch.Tensor, y: torch.Tensor, sigma: float, dtype: torch.dtype) -> _KernelTerms:
    """Return the terms of the Gaussian kernel ``exp(-||a - b||^2 / (2 sigma^2))`` (see ``_KernelTerms``).

    With ``a = a~ + c_x``, ``b = b~ + c_y`` and ``D = c_x - c_y``:
    ``||a - b||^2 = ||a~||^2 + ||b~||^2 + ||D||^2 + 2 D . a~ - 2 D . b~ - 2 a~ . b~`` (``D = 0`` within a sample);
    the rows are ``a~ / sigma``. The argument ``-||a - b||^2 / (2 sigma^2)`` is clamped at 0 (a squared distance
    is never negative). ``x``, ``y``: float32/float64 ``(m, d)``, ``(n, d)`` on one device (float32 is taken as
    is: its float64 values are exact); ``dtype``: the matmul dtype.
    """
    rows, tx, ty = _centred_terms(x, y, sigma, dtype, lambda own, other: (own - other).unsqueeze(-1))
    shift = tx.center - ty.center
    factor = -0.5 / sigma**2
    half_shift = float(shift @ shift) / 2
    within = torch.cat([tx.norms, ty.norms]).mul_(factor)
    # ty.dots hold y~ . (c_y - c_x) = -(y~ . D)
    cross = torch.cat([tx.norms + 2.0 * tx.dots[:, 0], ty.norms + 2.0 * ty.dots[:, 0]]).add_(half_shift)
    return _KernelTerms(lambda t: t.clamp_max_(0.0).exp_(), rows, within, cross.mul_(factor), x.shape[0])


def gaussian_kernel_blocks(
    x: torch.Tensor, y: torch.Tensor, sigma: float, chunk_size: int
) -> Iterator[tuple[range, range, torch.Tensor]]:
    """Yield ``(rows, cols, block)``: the tiles on and above the diagonal of the Gaussian kernel matrix of the pooled
    sample ``z = [x; y]``, ``block[a, b] = exp(-||z_i - z_j||^2 / (2 sigma^2))`` for ``i = rows[a]``,
    ``j = cols[b]``, in float64.

    The kernel of ``mmd2_unbiased`` with ``matmul_dtype="float64"`` (``gaussian_terms``), tiles of at most
    ``chunk_size`` rows; the matrix is symmetric, so the tiles below the diagonal are the transposes of those
    yielded. Each block is a view of one reused buffer, valid until the next one is yielded. ``x``, ``y``: float64
    ``(m, d)``, ``(n, d)`` on one device.
    """
    terms = gaussian_terms(x, y, sigma, torch.float64)
    tiles = _tiles(terms.rows.shape[0], chunk_size)
    gram_buffer = terms.rows.new_empty(max(map(len, tiles)) ** 2)
    values = torch.empty_like(gram_buffer)
    for k, rows in enumerate(tiles):
        for cols in tiles[k:]:
            gram = gram_buffer[: len(rows) * len(cols)].view(len(rows), len(cols))
            matmul_nt_(gram, terms.rows[rows.start : rows.stop], terms.rows[cols.start : cols.stop])
            yield rows, cols, terms.block(gram, rows.start, cols.start, values)


def _cubic_polynomial_terms(x: torch.Tensor, y: torch.Tensor, dtype: torch.dtype) -> _KernelTerms:
    """Return the terms of the KID kernel ``(a . b / d + 1)^3`` (see ``_KernelTerms``).

    With ``a = a~ + c_a``, ``b = b~ + c_b``:
    ``a . b / d + 1 = a~ . b~ / d + (c_b . a~ / d + h) + (c_a . b~ / d + h)``, ``h = (c_a . c_b / d + 1) / 2``;
    the rows are ``a~ / sqrt(d)``. ``x``, ``y``: float32/float64 ``(m, d)``, ``(n, d)`` on one device.
    """
    d = x.shape[-1]
    partners = lambda own, other: torch.stack([own, other], dim=-1)  # noqa: E731 - (d, 2): c_own, c_other
    rows, tx, ty = _centred_terms(x, y, math.sqrt(d), dtype, partners)

    def offsets(part: torch.Tensor, center: torch.Tensor, partner: torch.Tensor) -> torch.Tensor:
        return (part / d).add_((float(center @ partner) / d + 1.0) / 2.0)

    # dots[:, 0]: a~ . c_own, dots[:, 1]: a~ . c_other
    within = torch.cat([offsets(tx.dots[:, 0], tx.center, tx.center), offsets(ty.dots[:, 0], ty.center, ty.center)])
    cross = torch.cat([offsets(tx.dots[:, 1], tx.center, ty.center), offsets(ty.dots[:, 1], ty.center, tx.center)])
    return _KernelTerms(lambda t: t.pow_(3), rows, within, cross, x.shape[0])


def _check_matmul_dtype(matmul_dtype: object) -> torch.dtype:
    """Return the torch dtype named by ``matmul_dtype``; raise ``TypeError``/``ValueError`` otherwise."""
    if not isinstance(matmul_dtype, str):
        raise TypeError(f"matmul_dtype: expected a string, got {type(matmul_dtype).__name__}")
    if matmul_dtype not in MATMUL_DTYPES:
        raise ValueError(f"matmul_dtype: expected one of {', '.join(map(repr, MATMUL_DTYPES))}, got {matmul_dtype!r}")
    return MATMUL_DTYPES[matmul_dtype]


def _median_pairwise_distance(x: torch.Tensor, y: torch.Tensor, max_points: int, seed: int) -> float:
    """Return the median Euclidean distance over distinct pairs of pooled rows (see ``gaussian_bandwidth``); the
    distances are ``distances.cost_matrix``'s."""
    m, n_pooled = x.shape[0], x.shape[0] + y.shape[0]
    if n_pooled > max_points:
        keep = torch.randperm(n_pooled, generator=torch.Generator().manual_seed(seed))[:max_points]
        keep = keep.to(x.device)
        from_x = keep < m
        z = torch.cat([x[keep[from_x]], y[keep[~from_x] - m]])
    else:
        z = torch.cat([x, y])
    z = z.to(torch.float64)
    upper = torch.triu_indices(z.shape[0], z.shape[0], offset=1, device=z.device)
    distances = cost_matrix(z, z, "euclidean")[upper[0], upper[1]]
    half = distances.numel() // 2
    if distances.numel() % 2:
        return float(distances.kthvalue(half + 1).values)
    return float((distances.kthvalue(half).values + distances.kthvalue(half + 1).values) / 2)


def gaussian_bandwidth(
    x: torch.Tensor,
    y: torch.Tensor,
    sigma: float | None = DEFAULTS["mmd_sigma"],
    *,
    seed: int = DEFAULTS["seed"],
    median_subsample: int = DEFAULTS["mmd_median_subsample"],
) -> float:
    r"""Return the Gaussian bandwidth of ``mmd2_unbiased``: ``sigma`` itself when given, else the median heuristic.

    Median heuristic: :math:`\sigma = \mathrm{median}_{i<j} \|z_i - z_j\|` over the distinct pairs of the
    pooled sample ``z = [x; y]`` (rows of ``x`` first). For an even number of pairs the median is the mean of
    the two middle values (the ``np.median`` convention). When the pooled sample has more than
    ``median_subsample`` rows the median is taken over the rows ``torch.randperm(m + n,
    generator=torch.Generator().manual_seed(seed))[:median_subsample]`` (drawn on the CPU, so identical on every
    device).

    Parameters
    ----------
    x, y:
        Validated float32/float64 ``(m, d)`` and ``(n, d)`` samples on one device (``_arrays.as_checked_samples``);
        the distances are taken in float64.
    sigma:
        The bandwidth, ``> 0``, or ``None`` for the median heuristic.
    seed, median_subsample:
        The subsample's seed (``>= 0``) and largest pooled sample used as is (``>= 2``).

    Raises
    ------
    TypeError
        ``sigma`` is not a real number or ``None``; ``seed`` or ``median_subsample`` is not an integer.
    ValueError
        ``sigma <= 0`` or not finite; ``median_subsample < 2``; ``seed`` outside [0, 2**64 - 1]; the median
        heuristic gives 0 (more than half of the pairs coincide).
    """
    median_subsample = check_int(median_subsample, "median_subsample", 2)
    seed = check_seed(seed)
    if sigma is not None:
        if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real):
            raise TypeError(f"sigma: expected a real number or None, got {type(sigma).__name__}")
        if not (math.isfinite(sigma) and sigma > 0 and 0.0 < float(sigma) * float(sigma) < math.inf):
            raise ValueError(f"sigma: must be a finite number > 0 whose square is a positive float64, got {sigma}")
        return float(sigma)
    median = _median_pairwise_distance(x, y, median_subsample, seed)
    if median == 0.0:
        raise ValueError(
            "x, y: the median pairwise distance of the pooled sample is 0 (more than half of the pairs "
            "coincide); pass sigma explicitly"
        )
    return median


def mmd2_unbiased(
    x: ArrayLike,
    y: ArrayLike,
    sigma: float | None = DEFAULTS["mmd_sigma"],
    *,
    seed: int = DEFAULTS["seed"],
    chunk_size: int = DEFAULTS["mmd_chunk_size"],
    median_subsample: int = DEFAULTS["mmd_median_subsample"],
    matmul_dtype: str = DEFAULTS["mmd_matmul_dtype"],
) -> MMDResult:
    r"""Return the unbiased Gaussian-kernel MMD^2 of ``x`` and ``y`` and the bandwidth used, as ``MMDResult``.

    Gretton et al. 2012, "A Kernel Two-Sample Test" (JMLR 13), Lemma 6, with
    :math:`k(a, b) = \exp(-\|a - b\|^2 / (2\sigma^2))`:

    .. math::

        \mathrm{MMD}^2_u = \frac{1}{m(m-1)} \sum_{i \neq j} k(x_i, x_j)
            + \frac{1}{n(n-1)} \sum_{i \neq j} k(y_i, y_j) - \frac{2}{mn} \sum_{i, j} k(x_i, y_j).

    The estimate is unbiased, so it can be slightly negative when the two distributions are close.

    Bandwidth: ``sigma``, or with ``sigma=None`` the median heuristic over the pooled sample (subsampled to
    ``median_subsample`` rows with ``seed``), as ``gaussian_bandwidth`` defines it.

    Computation: on the device of ``x``, in tiles of at most ``chunk_size`` rows of the pooled sample, each
    summed into float64 accumulators (module docstring). Each sample is centred on its own mean (distances do
    not change) and squared distances are formed as
    :math:`\|\tilde a\|^2 + \|\tilde b\|^2 + \|D\|^2 + 2 D \cdot (\tilde a - \tilde b)
    - 2 \tilde a \cdot \tilde b` (``D`` the difference of the two means, 0 within a sample): the dot products
    of the centred rows by one matmul per tile in ``matmul_dtype``, everything else in float64 (module
    docstring, "Precision", for the error of the float32 default).

    Parameters
    ----------
    x, y:
        ``(m, d)`` and ``(n, d)`` samples (numpy arrays or torch tensors, any device), ``m, n >= 2``.
    sigma:
        Gaussian bandwidth, ``> 0``; ``None`` selects the median heuristic.
    seed:
        Seed of the median-heuristic subsample (unused when ``sigma`` is given or no subsample is needed).
    chunk_size:
        Rows per tile of the pooled sample; memory grows as ``chunk_size**2``, the result does not depend on it
        beyond round-off.
    median_subsample:
        Largest pooled sample the median heuristic uses as is.
    matmul_dtype:
        ``"float32"`` or ``"float64"``: the dtype of the dot-product matmul (module docstring, "Precision").

    Raises
    ------
    TypeError
        An input is not a numeric array/tensor; ``sigma`` is not a real number; an integer argument is not an
        integer; ``matmul_dtype`` is not a string.
    ValueError
        ``x`` or ``y`` is not 2-D, has fewer than 2 rows or holds NaN/Inf; the feature dimensions differ;
        ``sigma <= 0`` or not finite; the median heuristic gives 0 (more than half of the pairs coincide);
        ``chunk_size < 1`` or ``median_subsample < 2``; ``matmul_dtype`` is not ``"float32"`` or ``"float64"``.
    """
    x = as_checked_samples(x, "x")[0]
    y = as_checked_samples(y, "y", device=x.device)[0]
    check_same_dims(x, y, ("x", "y"))
    chunk_size = check_int(chunk_size, "chunk_size", 1)
    dtype = _check_matmul_dtype(matmul_dtype)
    sigma = gaussian_bandwidth(x, y, sigma, seed=seed, median_subsample=median_subsample)
    sums = _map_tiles(gaussian_terms(x, y, sigma, dtype), chunk_size)
    return MMDResult(mmd2=check_finite_result(float(_unbiased_mmd2(sums, x.shape[0], y.shape[0])), "mmd2"), sigma=sigma)


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
    matmul_dtype: str = DEFAULTS["mmd_matmul_dtype"],
    chunk_size: int = DEFAULTS["mmd_chunk_size"],
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
    rather than ``np.random.RandomState``. Each sample is centred on its own full-sample mean (``c_x``, ``c_y``)
    and :math:`a \cdot b = \tilde a \cdot \tilde b + c_b \cdot \tilde a + c_a \cdot \tilde b + c_a \cdot c_b`:
    the matmul of the centred rows runs in ``matmul_dtype``, the other terms, the kernel values and all sums in
    float64 (module docstring, "Precision", for the error of the float32 default). Per subset, the pooled
    ``2 subset_size`` rows are gathered into one reused buffer and their Gram matrix is formed by one symmetric
    rank-k update (module docstring, "Speed") when ``2 subset_size <= chunk_size``, else in tiles; on the CPU
    the subsets are shared among threads (``numerics.map_on_cpu_threads``), each value computed whole by one. When
    ``subset_size`` equals both sample sizes every subset is the whole of both samples (the estimator does not
    depend on the order of the rows): the value is computed once, without a gather, and the std is 0.

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
    matmul_dtype:
        ``"float32"`` or ``"float64"``: the dtype of the dot-product matmul (module docstring, "Precision").
    chunk_size:
        Largest tile of a subset's pooled Gram matrix, in rows (memory ``chunk_size**2`` entries); the result
        does not depend on it beyond round-off.

    Raises
    ------
    TypeError
        An input is not a numeric array/tensor, an integer argument is not an integer, or ``matmul_dtype`` is not
        a string.
    ValueError
        ``x`` or ``y`` is not 2-D, has fewer than 2 rows, holds NaN/Inf or values whose cubed kernel would
        overflow (``_arrays.check_magnitude``); the feature dimensions differ; ``subsets < 1``;
        ``subset_size < 2`` or larger than ``n_x`` or ``n_y``; ``seed`` outside [0, 2**64 - 1]; ``chunk_size < 1``;
        ``matmul_dtype`` is not ``"float32"`` or ``"float64"``.
    """
    x, largest_x = as_checked_samples(x, "x")
    y, largest_y = as_checked_samples(y, "y", device=x.device)
    check_same_dims(x, y, ("x", "y"))
    subsets = check_int(subsets, "subsets", 1)
    subset_size = check_int(subset_size, "subset_size", 2)
    seed = check_seed(seed)
    chunk_size = check_int(chunk_size, "chunk_size", 1)
    dtype = _check_matmul_dtype(matmul_dtype)
    n_x, n_y = x.shape[0], y.shape[0]
    if subset_size > min(n_x, n_y):
        raise ValueError(f"subset_size: {subset_size} is larger than the number of samples (x: {n_x}, y: {n_y})")
    for largest, name in ((largest_x, "x"), (largest_y, "y")):  # the std squares the cubed kernel
        check_magnitude(largest, name, terms=subset_size**2, power=6)
        check_magnitude(largest, name, terms=x.shape[1], dtype=dtype)
    terms = _cubic_polynomial_terms(x, y, dtype)
    if subset_size == n_x == n_y:  # every subset holds every row: one value, the MMD^2 of the full samples
        value = float(_unbiased_mmd2(_map_tiles(terms, chunk_size), n_x, n_y))
        return check_finite_result(value, "kid_mean"), 0.0
    index_x, index_y = _kid_subset_indices(n_x, n_y, subsets, subset_size, seed)
    index_x, index_y = index_x.to(x.device), index_y.to(x.device)

    def subset_value(k: int, workspace: _Workspace) -> torch.Tensor:
        rows = workspace.get("rows", 2 * subset_size * x.shape[1], terms.rows, terms.rows.dtype)
        sums = _pair_sums(terms.take(index_x[k], index_y[k], rows), chunk_size, workspace)
        return _unbiased_mmd2(sums, subset_size, subset_size)

    with exact_float32():
        values = torch.stack(map_on_cpu_threads(range(subsets), subset_value, _Workspace, x.device))
    mean, std = float(values.mean()), float(values.std(correction=0))
    return check_finite_result(mean, "kid_mean"), check_finite_result(std, "kid_std")
