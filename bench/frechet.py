"""Case ``frechet``: one Fréchet distance from 2048-d statistics, ours against every peer's formula.

Peers: pytorch-fid's ``calculate_frechet_distance`` and clean-fid's ``frechet_distance`` (``scipy.linalg.sqrtm``
of ``Σ1 Σ2``), torchmetrics' ``_compute_fid`` (``torch.linalg.eigvals`` of ``Σ1 Σ2``), torch-fidelity's
``fid_statistics_to_metric`` (``numpy.linalg.eigvals``); and, for scale but not counted as a peer, the symmetric
route written here with numpy (``Σ1^½`` by ``eigh``, then the eigenvalues of ``Σ1^½ Σ2 Σ1^½``). Two tables:
full-rank statistics (N > d; the reference is the numpy symmetric route, on which all agree to ~1e-12) and
rank-deficient ones (N = 1,000 < d; the reference is exact: ``tr(Σ1^½ Σ2 Σ1^½)^½`` is the nuclear norm of
``X̃ Ỹᵀ / √((n1−1)(n2−1))`` with ``X̃, Ỹ`` the centred features, from numpy's SVD of that small matrix).
"""

from __future__ import annotations

import numpy as np
import torch

from bench._data import features, moments
from bench._harness import Config, Impl, Table, measure
from ganmetrics.metrics.frechet import FrechetReference, fid_from_features, frechet_distance

NAME = "frechet"
TITLE = "Fréchet distance from statistics"


def numpy_symmetric(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """Return the FID through ``Σ1^½`` (numpy ``eigh``) and the eigenvalues of ``Σ1^½ Σ2 Σ1^½``."""
    lam, vec = np.linalg.eigh(s1)
    root = (vec * np.sqrt(np.clip(lam, 0, None))) @ vec.T
    inner = np.linalg.eigvalsh(root @ s2 @ root)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(inner, 0, None)).sum())


def exact_from_features(x: np.ndarray, y: np.ndarray) -> float:
    """Return the FID with the trace term as the nuclear norm of the centred cross-product (exact for n ≤ d)."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    scale = np.sqrt((len(x) - 1) * (len(y) - 1))
    nuclear = np.linalg.svd(xc @ yc.T, compute_uv=False).sum() / scale
    diff = x.mean(0) - y.mean(0)
    trace = (xc**2).sum() / (len(x) - 1) + (yc**2).sum() / (len(y) - 1)
    return float(diff @ diff + trace - 2 * nuclear)


def _peers(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> list[Impl]:
    from cleanfid.fid import frechet_distance as cleanfid_frechet
    from pytorch_fid.fid_score import calculate_frechet_distance
    from torch_fidelity.metric_fid import fid_statistics_to_metric
    from torchmetrics.image.fid import _compute_fid

    t = [torch.from_numpy(a) for a in (mu1, s1, mu2, s2)]
    return [
        Impl("pytorch-fid", lambda: calculate_frechet_distance(mu1, s1, mu2, s2), note="scipy sqrtm"),
        Impl("clean-fid", lambda: cleanfid_frechet(mu1, s1, mu2, s2), note="scipy sqrtm"),
        Impl("torchmetrics", lambda: float(_compute_fid(*t)), note="torch eigvals"),
        Impl(
            "torch-fidelity",
            lambda: fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, False)[
                "frechet_inception_distance"
            ],
            note="numpy eigvals",
        ),
        Impl("numpy symmetric", lambda: numpy_symmetric(mu1, s1, mu2, s2), note="eigh, written here", baseline=True),
    ]


def _ours(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> list[Impl]:
    reference = FrechetReference(mu1, s1)
    impls = [
        Impl("frechet_distance", lambda: frechet_distance(mu1, s1, mu2, s2), ours=True),
        Impl("FrechetReference", lambda: reference(mu2, s2), ours=True, note="Σ1 factored once"),
    ]
    if torch.cuda.is_available():
        cuda = [torch.from_numpy(a).cuda() for a in (mu1, s1, mu2, s2)]
        impls.append(Impl("frechet_distance", lambda: frechet_distance(*cuda), ours=True, note="CUDA"))
    return impls


def run(config: Config) -> list[Table]:
    d = config.pick(64, 2048, 2048)
    n_full = config.pick(400, 6000, 10000)
    n_low = config.pick(40, 1000, 1000)
    x, y = features(n_full, d, seed=1), features(n_full, d, seed=2, shift=0.02)
    stats = (*moments(x), *moments(y))
    full = measure(
        f"Full-rank statistics: d = {d}, N = {n_full} per side",
        _ours(*stats) + _peers(*stats),
        config,
        reference_name="numpy symmetric route",
        reference=numpy_symmetric(*stats),
        value_name="FID",
    )
    x, y = features(n_low, d, seed=3), features(n_low, d, seed=4, shift=0.02)
    stats = (*moments(x), *moments(y))
    exact = exact_from_features(x, y)
    from_features = Impl("fid_from_features", lambda: fid_from_features(x, y), ours=True, note="features")
    low = measure(
        f"Rank-deficient statistics: d = {d}, N = {n_low} per side (rank {n_low - 1})",
        _ours(*stats) + [from_features] + _peers(*stats),
        config,
        reference_name="exact (numpy SVD of the centred cross-product)",
        reference=exact,
        value_name="FID",
        notes=[
            "The peers' error on rank-deficient statistics is silent: they return a finite number with no "
            "warning; square roots of round-off eigenvalues (~1e-16·λ_max) of the singular product add up."
        ],
    )
    return [full, low]
