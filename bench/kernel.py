"""Case ``kernel``: KID (cubic polynomial kernel) and the Gaussian-kernel MMD² at d = 2048.

Inputs are float32 features, as every extractor returns them; each tool computes in its own precision:
torch-fidelity, clean-fid and torchmetrics entirely in the features' float32; ours (default
``matmul_dtype="float32"``) runs the dot-product matmuls in IEEE float32 on per-sample-centred rows and everything
else in float64, and with ``matmul_dtype="float64"`` entirely in float64 (rows so named). The reference
values are computed here in float64 numpy, independently of all of them.

Tables: (1) KID with the usual 100 subsets of 1,000: ours, torch-fidelity's ``kid_features_to_metric`` (numpy),
clean-fid's ``kernel_distance`` (numpy), torchmetrics' ``KernelInceptionDistance`` (torch; fed the features
through an identity "extractor"). The subsets are random and each tool draws its own, so these values agree
only up to the subset sampling error (stated below the table). (2) KID with one subset holding every sample:
no randomness left (the unbiased estimator does not depend on the order), so values must agree to rounding.
(3) The Gaussian-kernel MMD² at one fixed bandwidth, ours against naive numpy (three full kernel matrices).

KID is bound by its matmuls: the notes under table (1) give the floating-point work per subset and the rate
each tool reached, next to the machine's BLAS rates measured in the first table (sgemm/ssyrk/dgemm/dsyrk on
the shapes used here).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from bench._data import features
from bench._harness import Config, Impl, Table, measure
from ganmetrics.metrics._blas import matmul_nt_
from ganmetrics.metrics.mmd import kid, mmd2_unbiased

NAME = "kernel"
TITLE = "KID and Gaussian MMD²"


class _Identity(torch.nn.Module):
    """A torchmetrics "feature extractor" that returns its input, so it can be fed precomputed features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def numpy_poly_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Return the unbiased MMD² with ``k(a, b) = (a·b/d + 1)³`` in float64 numpy (full kernel matrices)."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    d, m, n = x.shape[1], len(x), len(y)

    def off_diagonal(k: np.ndarray) -> float:
        return float(k.sum() - np.trace(k))

    kxx = off_diagonal((x @ x.T / d + 1) ** 3) / (m * (m - 1))
    kyy = off_diagonal((y @ y.T / d + 1) ** 3) / (n * (n - 1))
    return kxx + kyy - 2 * float(((x @ y.T / d + 1) ** 3).sum()) / (m * n)


def numpy_gaussian_mmd2(x: np.ndarray, y: np.ndarray, sigma: float) -> float:
    """Return the unbiased Gaussian-kernel MMD² in float64 numpy, one full kernel matrix at a time."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    m, n = len(x), len(y)

    def kernel_sum(a: np.ndarray, b: np.ndarray, same: bool) -> float:
        sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        k = np.exp(-np.clip(sq, 0, None) / (2 * sigma**2))
        return float(k.sum() - (np.trace(k) if same else 0.0))

    return (
        kernel_sum(x, x, True) / (m * (m - 1))
        + kernel_sum(y, y, True) / (n * (n - 1))
        - 2 * kernel_sum(x, y, False) / (m * n)
    )


def kid_gflop(size: int, d: int, full_products: bool) -> float:
    """Return the GFLOP of one KID subset's dot products, 2 d per kernel entry formed.

    Ours forms the upper triangle of the pooled ``2 size`` rows' Gram matrix by one ``ssyrk``
    (``ganmetrics.metrics.mmd._pair_sums``): ``2 size (2 size + 1) / 2`` entries. numpy forms ``x @ x.T`` by
    ``syrk`` as well (it detects a matrix times its own transpose), so torch-fidelity and clean-fid form
    ``size (size + 1) / 2`` entries for each within-subset matrix and ``size²`` for the cross one: the same work.
    ``full_products``: three full ``size x size`` products, as torch's matmul computes them (torchmetrics).
    """
    entries = 3 * size**2 if full_products else size * (2 * size + 1)
    return 2 * d * entries / 1e9


def _kid_impls(x: np.ndarray, y: np.ndarray, subsets: int, size: int, with_float64: bool) -> list[Impl]:
    from cleanfid.fid import kernel_distance
    from torch_fidelity.metric_kid import kid_features_to_metric
    from torchmetrics.image.kid import KernelInceptionDistance

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def torchmetrics_kid() -> float:
        metric = KernelInceptionDistance(feature=_Identity(x.shape[1]), subsets=subsets, subset_size=size)
        metric.update(xt, real=True)
        metric.update(yt, real=False)
        return float(metric.compute()[0])

    impls = [
        Impl("kid", lambda: kid(x, y, subsets=subsets, subset_size=size)[0], ours=True),
        *(
            [
                Impl(
                    'kid(matmul_dtype="float64")',
                    lambda: kid(x, y, subsets=subsets, subset_size=size, matmul_dtype="float64")[0],
                    ours=True,
                )
            ]
            if with_float64
            else []
        ),
        Impl(
            "torch-fidelity",
            lambda: kid_features_to_metric(xt, yt, kid_subsets=subsets, kid_subset_size=size, verbose=False)[
                "kernel_inception_distance_mean"
            ],
        ),
        Impl("clean-fid", lambda: kernel_distance(x, y, num_subsets=subsets, max_subset_size=size)),
        Impl("torchmetrics", torchmetrics_kid),
    ]
    if torch.cuda.is_available():
        xc, yc = xt.cuda(), yt.cuda()
        impls.insert(1, Impl("kid", lambda: kid(xc, yc, subsets=subsets, subset_size=size)[0], ours=True, note="CUDA"))
    return impls


def _kid_flop_note(table: Table, subsets: int, size: int, d: int, peak: float) -> str:
    """Return the note on KID's matmul work: GFLOP per subset and the rate each timed row reached."""
    rates = []
    for r in table.rows:
        if r.times:
            work = subsets * kid_gflop(size, d, r.name == "torchmetrics")
            note = f" ({r.note})" if r.note else ""
            rates.append(f"{r.name}{note} {work / r.median:.0f} (best run {work / min(r.times):.0f})")
    return (
        f"Matmul-bound: per subset {kid_gflop(size, d, False):.3g} GFLOP of float32 dot products at d = {d} for "
        f"ours (one ssyrk over the pooled {2 * size} rows) and for the numpy peers (numpy forms x xᵀ by syrk), "
        f"{kid_gflop(size, d, True):.3g} GFLOP for torchmetrics (three full torch matmuls). Rate reached, in "
        f"GFLOP/s (work / median time, so everything else counts against it): {', '.join(rates)}; this "
        f'machine\'s measured float32 peak (table "BLAS rates", best of sgemm/ssyrk) is {peak:.0f}.'
    )


def _no_value(call: Callable[[], object]) -> Callable[[], None]:
    """Return ``call`` made to return None (a timed row without a value of its own)."""
    return lambda: (call(), None)[1]


def _one_thread(call: Callable[[], object]) -> Callable[[], object]:
    """Return ``call`` run with torch and every BLAS library on one thread (``numerics.map_on_cpu_threads``'s
    workers run their kernels so)."""
    from threadpoolctl import ThreadpoolController

    from ganmetrics.numerics import one_torch_thread

    libraries = ThreadpoolController()  # made once: threadpool_limits would scan the libraries in every timed call

    def run() -> object:
        with one_torch_thread(torch.device("cpu")), libraries.limit(limits=1, user_api="blas"):
            return call()

    return run


def _blas_rates(config: Config) -> tuple[Table, float, float]:
    """Return the table of the BLAS rates measured here on the shapes the kernel and statistics code uses, and the
    best float32 and float64 rates (GFLOP/s of the best run), the ceiling the notes compare against."""
    import scipy.linalg.blas as blas

    n, d, k = config.pick(256, 2000, 2000), config.pick(64, 2048, 2048), config.pick(100, 1000, 1000)
    rng = np.random.default_rng(0)
    a32 = rng.standard_normal((n, d), dtype=np.float32)
    a64 = rng.standard_normal((k, d))
    b32, b64 = a32.copy(), a64.copy()  # a second operand, so that numpy cannot switch to syrk
    t32, t64 = torch.from_numpy(a32), torch.from_numpy(a64)
    u32 = t32.T.contiguous()
    v32, g32 = torch.from_numpy(b32), torch.empty(n, n)  # ours: _blas.matmul_nt_, scipy's sgemm
    c32 = np.zeros((n, n), np.float32, order="F")
    c64 = np.zeros((d, d), order="F")
    cases = [  # name, call, flops (2 per multiply-add actually formed)
        (f"sgemm numpy (OpenBLAS), {n}×{d} · {d}×{n}", lambda: np.matmul(a32, b32.T), 2 * n * n * d),
        (f"sgemm torch (MKL), {n}×{d} · {d}×{n}", lambda: t32 @ u32, 2 * n * n * d),
        (f"sgemm scipy (OpenBLAS), {n}×{d} · {d}×{n}", lambda: matmul_nt_(g32, t32, v32), 2 * n * n * d),
        (
            f"ssyrk scipy (OpenBLAS), {n}×{d}",
            lambda: blas.ssyrk(1.0, a32.T, c=c32, trans=1, lower=1, overwrite_c=1),
            n * (n + 1) * d,
        ),
        (f"dgemm torch (MKL), {d}×{k} · {k}×{d}", lambda: t64.T @ t64, 2 * d * d * k),
        (f"dgemm numpy (OpenBLAS), {d}×{k} · {k}×{d}", lambda: np.matmul(a64.T, b64), 2 * d * d * k),
        (
            f"dsyrk scipy (OpenBLAS), {d}×{k}",
            lambda: blas.dsyrk(1.0, a64.T, beta=1.0, c=c64, trans=0, lower=1, overwrite_c=1),
            d * (d + 1) * k,
        ),
    ]
    cases += [  # the same calls with every kernel on one thread, as in the workers of map_on_cpu_threads
        (name.replace(", ", ", 1 thread, ", 1), _one_thread(call), flops)
        for name, call, flops in cases
        if not name.startswith("dgemm torch")
    ]
    table = measure(
        "BLAS rates on this machine (GFLOP/s = work / time)",
        [Impl(name, _no_value(call), warmup=call) for name, call, _ in cases],
        config,
        value_name="GFLOP/s (median run)",
    )
    best = {"float32": 0.0, "float64": 0.0}
    for row, (_, _, flops) in zip(table.rows, cases, strict=True):
        row.value = flops / row.median / 1e9
        row.note = f"best run {flops / min(row.times) / 1e9:.0f} GFLOP/s"
        precision = "float32" if row.name.startswith("s") else "float64"
        best[precision] = max(best[precision], flops / min(row.times) / 1e9)
    table.reference, table.timed, table.value_format = None, False, ".0f"
    table.notes.append(
        "Flops count the multiply-adds actually formed: 2 n² d for a product, n (n + 1) d for a syrk (one "
        "triangle). The sgemm rows multiply a matrix by a copy's transpose (numpy would otherwise switch to syrk); "
        "torch's with the transpose made contiguous beforehand. Ours: scipy's ssyrk for KID/MMD Gram tiles, its "
        "sgemm for the tiles off the diagonal, its dsyrk for FeatureStats.update (bench/README.md). Each timed "
        "call follows an untimed one of the same call: another library's threads still spinning from the "
        "previous row would otherwise halve the rate (measured: dsyrk 43 GFLOP/s right after numpy's dgemm, 86 "
        "after another dsyrk). The '1 thread' "
        "rows run with torch and BLAS on one thread, as the worker threads that share KID's subsets and MMD's "
        "tiles do: two of them run at once, one per core."
    )
    return table, best["float32"], best["float64"]


def run(config: Config) -> list[Table]:
    d = config.pick(32, 2048, 2048)
    n = config.pick(120, 10000, 10000)
    subsets, size = config.pick((5, 50), (100, 1000), (100, 1000))
    x = features(n, d, seed=11).astype(np.float32)
    y = features(n, d, seed=12, shift=0.01).astype(np.float32)
    exact_full = numpy_poly_mmd2(x, y)
    per_subset = np.array(
        [numpy_poly_mmd2(x[i * size : (i + 1) * size], y[i * size : (i + 1) * size]) for i in range(min(10, n // size))]
    )
    sampled = measure(
        f"KID, {subsets} subsets of {size}, from n = {n} per side, d = {d}",
        _kid_impls(x, y, subsets, size, with_float64=False),
        config,
        reference_name="unbiased MMD² of the full samples (float64 numpy)",
        reference=exact_full,
        value_name="KID mean",
        notes=[
            f"Each tool draws its own random subsets: the KID means differ by sampling, whose standard error "
            f"is about {per_subset.std() / np.sqrt(subsets):.2g} here (the spread of disjoint subsets' values "
            f"/ √{subsets}), i.e. {per_subset.std() / np.sqrt(subsets) / abs(exact_full):.1e} relative."
        ],
    )
    rates, peak32, _ = _blas_rates(config)
    sampled.notes.append(_kid_flop_note(sampled, subsets, size, d, peak32))
    n_exact = config.pick(80, 2000, 5000)
    xe, ye = x[:n_exact], y[:n_exact]
    exact = measure(
        f"KID with one subset of all n = {n_exact} samples per side (deterministic), d = {d}",
        _kid_impls(xe, ye, 1, n_exact, with_float64=True),
        config,
        reference_name="float64 numpy formula",
        reference=numpy_poly_mmd2(xe, ye),
        value_name="KID",
    )
    n_mmd = config.pick(100, 10000, 10000)
    xm, ym = x[:n_mmd], y[:n_mmd]
    sigma = mmd2_unbiased(xm, ym).sigma  # the median heuristic, then fixed for every implementation
    impls = [
        Impl("mmd2_unbiased", lambda: mmd2_unbiased(xm, ym, sigma=sigma).mmd2, ours=True),
        Impl(
            'mmd2_unbiased(matmul_dtype="float64")',
            lambda: mmd2_unbiased(xm, ym, sigma=sigma, matmul_dtype="float64").mmd2,
            ours=True,
        ),
        Impl("naive numpy", lambda: numpy_gaussian_mmd2(xm, ym, sigma), note="float64, full matrices"),
    ]
    if torch.cuda.is_available():
        xmc, ymc = torch.from_numpy(xm).cuda(), torch.from_numpy(ym).cuda()
        impls.insert(
            1, Impl("mmd2_unbiased", lambda: mmd2_unbiased(xmc, ymc, sigma=sigma).mmd2, ours=True, note="CUDA")
        )
    gaussian = measure(
        f"Gaussian-kernel MMD², n = {n_mmd} per side, d = {d}, σ = {sigma:.4g} (median heuristic, fixed)",
        impls,
        config,
        reference_name="naive numpy (float64)",
        reference=None,
        value_name="MMD²",
    )
    gaussian.reference_name, gaussian.reference = "naive numpy (float64)", gaussian.row("naive numpy").value
    return [rates, sampled, exact, gaussian]
