"""Factors of covariance matrices: ``A`` with ``A Aᵀ = Σ``, of full rank by Cholesky or of the numerical rank.

Shared by the statistics (:class:`~ganmetrics.metrics.statistics.FeatureStats` keeps the exact factor of a small
feature sample) and the Fréchet distance (whose trace term is computed from two factors; see
:mod:`ganmetrics.metrics.frechet`). A Cholesky factor is used when every pivot² is above round-off; otherwise the
factor has the numerical rank: pivoted Cholesky (LAPACK ``dpstrf``) on the CPU, an eigen-decomposition elsewhere
or to report negative eigenvalues.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch

from ganmetrics.metrics._arrays import largest_abs

# Eigenvalues of a covariance below -_NON_PSD_RELATIVE * λ_max mean the input is no covariance at all.
_NON_PSD_RELATIVE = 1e-4
# Cholesky factors whose smallest pivot² is below this fraction of the largest diagonal entry are treated as
# rank-deficient (square roots of their round-off would otherwise enter the trace term).
_CHOLESKY_MIN_PIVOT = 1e-10


# Devices whose tensors go through scipy's LAPACK (pivoted Cholesky, dsygst, dsyevd, dgesdd), which torch either
# lacks or runs slower on the CPU; on any other device the same quantities come from torch.linalg.
LAPACK_DEVICES = ("cpu",)


class NegativeEigenvalueWarning(RuntimeWarning):
    """A covariance or product had negative eigenvalues beyond round-off; they were treated as zero."""


def roundoff(d: int, scale: float) -> float:
    """Return the round-off level ``d · eps · scale`` of a symmetric eigen-solver on a d×d matrix."""
    return d * torch.finfo(torch.float64).eps * scale


def check_covariance(sigma: torch.Tensor, name: str) -> torch.Tensor:
    """Return ``sigma`` symmetrised, after checking it is a square symmetric matrix.

    Raises ``ValueError`` when ``sigma`` is not square or asymmetric beyond 1e-6 of its largest entry.
    """
    if sigma.ndim != 2 or sigma.shape[0] != sigma.shape[1]:
        raise ValueError(f"{name}: a covariance must be a square matrix, got shape {tuple(sigma.shape)}")
    if _exactly_symmetric(sigma):  # what np.cov, pytorch-fid's files and FeatureStats give
        return sigma
    scale = largest_abs(sigma)
    asym = float(torch.linalg.vector_norm(sigma - sigma.T, ord=float("inf")))  # max |Σ - Σᵀ|
    if asym > 1e-6 * max(scale, 1e-300):
        raise ValueError(f"{name}: is not symmetric (max |Σ - Σᵀ| = {asym:.3g}, max |Σ| = {scale:.3g})")
    return sigma.add(sigma.T).mul_(0.5)


# Rows of Σ compared with its columns a block at a time, so that the transposed reads stay in cache: 6-7 ms at
# d = 2048 on 2 cores, against 33 ms for forming Σ − Σᵀ.
_SYMMETRY_BLOCK = 128


def _exactly_symmetric(sigma: torch.Tensor) -> bool:
    """Return whether the square ``sigma`` equals its transpose entry for entry (False if it holds a NaN)."""
    step = _SYMMETRY_BLOCK
    return all(torch.equal(sigma[i : i + step, i:], sigma[i:, i : i + step].T) for i in range(0, sigma.shape[0], step))


@dataclass(frozen=True)
class Factor:
    """A factor ``A`` with ``A Aᵀ = Σ`` and whether it came from a (well-conditioned) Cholesky."""

    a: torch.Tensor
    full_rank: bool


def _cholesky(sigma: torch.Tensor) -> torch.Tensor | None:
    """Return the lower Cholesky factor of ``sigma`` when it exists with every pivot² above round-off, else None.

    "Above round-off": the smallest pivot² is at least ``_CHOLESKY_MIN_PIVOT`` times the largest diagonal entry.
    """
    chol, info = torch.linalg.cholesky_ex(sigma)
    if int(info) != 0:
        return None
    pivots = torch.diagonal(chol) ** 2
    if float(pivots.min()) < _CHOLESKY_MIN_PIVOT * float(torch.diagonal(sigma).max()):
        return None
    return chol


def pivoted_cholesky(sigma: torch.Tensor) -> torch.Tensor | None:
    """Return a rank-revealing factor ``A`` (d×r) of the CPU matrix ``sigma``, or None when it is not PSD.

    LAPACK ``dpstrf`` (Cholesky with complete pivoting, Higham 1990) stops once every remaining pivot is below
    the round-off level ``tol = d · eps · max_i Σ_ii``: ``P Σ Pᵀ = L Lᵀ + R`` with ``L`` of ``r`` columns, and
    ``A = Pᵀ L``. The residual ``R`` vanishes in its first ``r`` rows and columns (the equations the factor
    solves); its trailing block, the Schur complement ``Σ_tt − L_t L_tᵀ`` that is dropped, is computed and must
    stay within ``2 tol`` entrywise. That holds for a PSD matrix (a PSD residual has ``|R_ij| ≤ sqrt(R_ii R_jj) ≤
    tol``); otherwise ``Σ`` has negative eigenvalues beyond round-off and None is returned, for the
    eigen-decomposition to report them. Costs O(d² r) instead of the O(d³) of an eigen-decomposition.
    """
    d = sigma.shape[0]
    tol = roundoff(d, float(torch.diagonal(sigma).max()))
    lower, pivots, rank, info = scipy.linalg.lapack.dpstrf(sigma.numpy().T, tol=tol, lower=1)
    if info < 0:
        raise RuntimeError(f"LAPACK dpstrf: illegal argument {-info}")
    order = torch.from_numpy(pivots.astype(np.int64) - 1)
    factor = torch.from_numpy(np.tril(lower[:, :rank]))
    trailing, dropped = order[rank:], factor[rank:]
    schur = torch.addmm(sigma[trailing][:, trailing], dropped, dropped.T, alpha=-1.0)
    if schur.numel() and float(torch.linalg.vector_norm(schur, ord=float("inf"))) > 2 * tol:
        return None
    a = torch.empty_like(factor)
    a[order] = factor
    return a


def _eigen_factor(sigma: torch.Tensor, name: str) -> torch.Tensor:
    """Return ``A = V_r Λ_r^½`` over the eigenvalues of ``sigma`` above ``d · eps · λ_max`` (``A Aᵀ ≈ Σ``).

    Negative eigenvalues beyond round-off are reported with a ``NegativeEigenvalueWarning`` naming their size;
    below ``-1e-4 λ_max`` the input is refused (ValueError).
    """
    d = sigma.shape[0]
    lam, vec = torch.linalg.eigh(sigma)
    lam_max = max(float(lam[-1]), 0.0)
    tol = roundoff(d, lam_max)
    lam_min = float(lam[0])
    if lam_min < -_NON_PSD_RELATIVE * lam_max or lam_max == 0.0 and lam_min < 0:
        raise ValueError(
            f"{name}: is not positive semi-definite (smallest eigenvalue {lam_min:.6g}, largest {lam_max:.6g})"
        )
    negative = lam[lam < -tol]
    if negative.numel():
        warnings.warn(
            f"{name}: {negative.numel()} negative eigenvalue(s) beyond round-off (sum {float(negative.sum()):.3g}, "
            f"smallest {lam_min:.3g}, round-off level {tol:.3g}); treated as 0",
            NegativeEigenvalueWarning,
            stacklevel=4,
        )
    keep = lam > tol
    return vec[:, keep] * torch.sqrt(lam[keep])


def psd_factor(sigma: torch.Tensor, name: str) -> Factor:
    """Return a factor ``A`` of the PSD matrix ``sigma`` (``A Aᵀ = Σ``).

    Cholesky when it succeeds with pivots above round-off (``full_rank``). Otherwise a factor of the numerical
    rank: on the CPU by pivoted Cholesky (``pivoted_cholesky``), elsewhere, or when that finds ``Σ`` not PSD, by
    ``Σ = V Λ Vᵀ`` with the eigenvalues above round-off (``_eigen_factor``, which warns on or refuses negative
    eigenvalues).
    """
    chol = _cholesky(sigma)
    if chol is not None:
        return Factor(chol, full_rank=True)
    a = pivoted_cholesky(sigma) if sigma.device.type in LAPACK_DEVICES else None
    return Factor(a if a is not None else _eigen_factor(sigma, name), full_rank=False)


def check_mean_cov(mu: torch.Tensor, sigma: torch.Tensor, names: tuple[str, str]) -> None:
    if sigma.shape[0] != mu.shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]}: dimensions differ (mean has {mu.shape[0]}, covariance {sigma.shape[0]})"
        )
