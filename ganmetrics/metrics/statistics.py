"""Streaming, mergeable feature statistics (mean and covariance), the input of the Fréchet distance.

The statistics room: arrays in, moments out; no files (``ganmetrics.io.stats_file`` reads and writes the moments
as arrays plus metadata) and no distances (``ganmetrics.metrics.frechet``).
"""

from __future__ import annotations

import math

import torch

from ganmetrics.metrics._arrays import (
    ArrayLike,
    as_float64,
    as_float_tensor,
    as_samples,
    check_int,
    check_magnitude,
    largest_abs,
    raise_non_finite,
)
from ganmetrics.metrics._blas import syrk_
from ganmetrics.metrics._psd import Factor, check_covariance, check_mean_cov, psd_factor
from ganmetrics.numerics import one_torch_thread


class FeatureStats:
    """Streaming, mergeable sample mean and covariance of feature vectors, accumulated in float64.

    Holds ``n``, the mean and ``M2 = Σ_i (x_i − μ)(x_i − μ)ᵀ`` (its upper triangle: what lies below the diagonal
    is unspecified); memory O(d²) whatever the number of samples.
    Batches are combined with the pairwise update of Chan, Golub & LeVeque (1979):

    .. math:: n = n_a + n_b,\\quad δ = μ_b − μ_a,\\quad μ = μ_a + δ n_b / n,\\quad
              M_2 = M_{2,a} + M_{2,b} + δ δ^T n_a n_b / n

    so the result does not depend on how the data were split into batches (up to float64 round-off).
    ``sigma`` uses ddof = 1, like ``numpy.cov`` and pytorch-fid.
    """

    def __init__(self, dims: int, device: torch.device | str | None = None) -> None:
        self.dims = check_int(dims, "dims", 1)
        self.n = 0
        self._mean = torch.zeros(dims, dtype=torch.float64, device=device)
        self._m2 = torch.zeros(dims, dims, dtype=torch.float64, device=device)
        self._feature_factor: Factor | None = None
        # The rows of the last update's rank-k product, kept: a fresh (B + 1) x d buffer per batch costs page
        # faults comparable to centring the batch.
        self._rows = torch.empty(0, dims, dtype=torch.float64, device=device)

    @classmethod
    def from_features(cls, x: ArrayLike, name: str = "features") -> FeatureStats:
        """Return the statistics of one feature sample (rows are samples), keeping the exact low-rank factor."""
        xs = as_samples(x, name)
        stats = cls(xs.shape[1], device=xs.device)
        stats.update(xs, name=name)
        if xs.shape[0] <= xs.shape[1]:
            centred = xs - stats._mean
            stats._feature_factor = Factor(centred.T / (xs.shape[0] - 1) ** 0.5, full_rank=False)
        return stats

    @classmethod
    def from_moments(cls, mu: ArrayLike, sigma: ArrayLike, n: int) -> FeatureStats:
        """Return statistics rebuilt from a mean, a covariance (ddof = 1) and the sample count ``n ≥ 2``."""
        mu_t = as_float64(mu, "mu", ndim=1)
        sigma_t = check_covariance(as_float64(sigma, "sigma", ndim=2, device=mu_t.device), "sigma")
        check_mean_cov(mu_t, sigma_t, ("mu", "sigma"))
        n = check_int(n, "n", 2)
        stats = cls(mu_t.shape[0], device=mu_t.device)
        stats.n, stats._mean, stats._m2 = n, mu_t, sigma_t * (n - 1)
        return stats

    def update(self, batch: ArrayLike, *, name: str = "batch") -> FeatureStats:
        """Add a batch of feature rows (B, d); returns ``self``.

        The Chan et al. update with ``M_{2,b} = Σ_i (x_i − μ_b)(x_i − μ_b)ᵀ``, in one symmetric rank-(B + 1) update
        of ``M2``'s upper triangle: ``M2 += Rᵀ R`` with ``R`` the B centred rows and the row
        ``δ (n_a n_b / n)^{1/2}`` (``_blas.syrk_``, half the flops of a general product, no d × d temporary); the
        steps around it on one torch thread (``numerics.one_torch_thread``).

        Float32 batches are not scanned for their magnitude: sums of d products of float32 values fit in float64
        whatever the values (``_arrays.check_magnitude`` with ``power=2`` passes for every float32 up to
        3.4e38), and a NaN or Inf shows in the float64 column sums, which cannot overflow (B · 3.4e38), so the
        batch mean is finite exactly when every entry is: one pass over the batch fewer. Other types are scanned
        as ``as_float64`` does. A refused batch leaves the statistics as they were.
        """
        with one_torch_thread(self._mean.device):
            xb = as_float_tensor(batch, name, ndim=2, device=self._mean.device)
            if xb.shape[1] != self.dims:
                raise ValueError(f"{name}: has {xb.shape[1]} feature dimensions, the statistics have {self.dims}")
            if xb.dtype != torch.float32:
                largest = largest_abs(xb)
                if not math.isfinite(largest):
                    raise_non_finite(xb, name)
                check_magnitude(largest, name, terms=self.dims, power=2)
            n_a, n_b = self.n, xb.shape[0]
            if self._rows.shape[0] < n_b + 1:
                self._rows = self._mean.new_empty(n_b + 1, self.dims)
            rows = self._rows[: n_b + 1]
            centred = rows[:n_b].copy_(xb)  # float64 (exact for float32 input)
            mean_b = centred.mean(dim=0)
            if not bool(torch.isfinite(mean_b).all()):
                raise_non_finite(xb, name)
            centred.sub_(mean_b)
            delta = mean_b - self._mean
            torch.mul(delta, (n_a * n_b / (n_a + n_b)) ** 0.5, out=rows[n_b])
            syrk_(self._m2, rows, transpose=True, beta=1.0)
        self._mean = self._mean + delta * (n_b / (n_a + n_b))
        self.n = n_a + n_b
        self._feature_factor = None
        return self

    def merge(self, other: FeatureStats) -> FeatureStats:
        """Add the samples summarised by ``other`` (e.g. another process's shard); returns ``self``."""
        if not isinstance(other, FeatureStats):
            raise TypeError(f"other: expected FeatureStats, got {type(other).__name__}")
        if other.dims != self.dims:
            raise ValueError(f"other: has {other.dims} feature dimensions, these statistics have {self.dims}")
        if other.n:
            dev = self._mean.device
            self._combine(other.n, other._mean.to(dev), other._m2.to(dev))
        return self

    def _combine(self, n_b: int, mean_b: torch.Tensor, m2_b: torch.Tensor) -> None:
        n_a = self.n
        n = n_a + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._m2 = self._m2 + m2_b + torch.outer(delta, delta) * (n_a * n_b / n)
        self.n = n
        self._feature_factor = None

    @property
    def mu(self) -> torch.Tensor:
        """The sample mean (d,), float64."""
        self._require(1)
        return self._mean

    @property
    def sigma(self) -> torch.Tensor:
        """The sample covariance (d, d) with ddof = 1, float64 and exactly symmetric."""
        self._require(2)
        sigma = self._m2.triu()
        return sigma.add_(sigma.T.tril(-1)).div_(self.n - 1)  # in place: two d x d temporaries, not four

    def covariance_factor(self, name: str) -> Factor:
        """Return a factor of ``sigma``: the centred features themselves when kept, else a PSD factorisation."""
        if self._feature_factor is not None:
            return self._feature_factor
        return psd_factor(self.sigma, name)

    def _require(self, n: int) -> None:
        if self.n < n:
            raise ValueError(f"FeatureStats: needs at least {n} samples, has {self.n}")
