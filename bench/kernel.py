"""Case ``kernel``: KID (cubic polynomial kernel) and the Gaussian-kernel MMD² at d = 2048.

Inputs are float32 features, as every extractor returns them; each tool computes in its own precision:
torch-fidelity, clean-fid and torchmetrics entirely in the features' float32; ours (default
``precision="float32"``) runs the dot-product matmuls in IEEE float32 on per-sample-centred rows and everything
else in float64, and with ``precision="float64"`` entirely in float64 (rows so named). The reference
values are computed here in float64 numpy, independently of all of them.

Tables: (1) KID with the usual 100 subsets of 1,000: ours, torch-fidelity's ``kid_features_to_metric`` (numpy),
clean-fid's ``kernel_distance`` (numpy), torchmetrics' ``KernelInceptionDistance`` (torch; fed the features
through an identity "extractor"). The subsets are random and each tool draws its own, so these values agree
only up to the subset sampling error (stated below the table). (2) KID with one subset holding every sample:
no randomness left (the unbiased estimator does not depend on the order), so values must agree to rounding.
(3) The Gaussian-kernel MMD² at one fixed bandwidth, ours against naive numpy (three full kernel matrices).

KID is bound by its matmuls: the notes under table (1) give the floating-point work per subset and the rate
each tool reached.
"""

from __future__ import annotations

import numpy as np
import torch

from bench._data import features
from bench._harness import Config, Impl, Table, measure
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


def kid_gflop(size: int, d: int, ours: bool) -> float:
    """Return the GFLOP of one KID subset's matmuls: 2 d per kernel entry computed.

    The peers compute the three ``size x size`` Gram matrices in full; ours computes the within-subset ones on
    and above the diagonal only, in strips of ``ceil(size / 4)`` rows (``ganmetrics.metrics.mmd._BlockSums``):
    ``(size² + size · ceil(size / 4)) / 2`` entries each.
    """
    within = (size**2 + size * -(-size // 4)) / 2 if ours else size**2
    return 2 * d * (2 * within + size**2) / 1e9


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
                    'kid(precision="float64")',
                    lambda: kid(x, y, subsets=subsets, subset_size=size, precision="float64")[0],
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


def _kid_flop_note(table: Table, subsets: int, size: int, d: int) -> str:
    """Return the note on KID's matmul work: GFLOP per subset and the rate each timed row reached."""
    rates = [
        f"{r.name}{f' ({r.note})' if r.note else ''} {subsets * kid_gflop(size, d, r.ours) / r.median:.0f}"
        for r in table.rows
        if r.times
    ]
    return (
        f"Matmul-bound: per subset the peers compute three {size}×{size} Gram matrices at d = {d}, "
        f"{kid_gflop(size, d, False):.3g} GFLOP; ours uses the symmetry of the two within-subset ones, "
        f"{kid_gflop(size, d, True):.3g} GFLOP (2.25 of the 3 matrices). Matmul rate reached, in GFLOP/s "
        f"(work / median time, so everything else counts against it): {', '.join(rates)}. Ours is torch's "
        f"batched float32 matmul (MKL), the peers' numpy's (OpenBLAS) or torch's; in a profile of ours the "
        f"rest (input checks, centring, gathering the rows, float64 kernel values and sums) took about 10 %."
    )


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
    sampled.notes.append(_kid_flop_note(sampled, subsets, size, d))
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
            'mmd2_unbiased(precision="float64")',
            lambda: mmd2_unbiased(xm, ym, sigma=sigma, precision="float64").mmd2,
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
    return [sampled, exact, gaussian]
