"""Mode statistics for the 2-D Gaussian-mixture benchmarks (ring of 8, 5x5 grid).

These are the three numbers the mode-collapse literature reports for the 2-D mixtures, following VEEGAN
(Srivastava et al. 2017, Sec. 5.1) and PacGAN (Lin et al. 2018, Sec. 5.1 and Table 1):

- *high-quality samples*: the fraction of samples within 3 sigma (Euclidean distance) of their nearest mode
  centre;
- *modes covered*: the number of modes with at least ``min_fraction`` of the samples within 3 sigma of the
  centre. PacGAN counts a mode as lost when fewer than 20 of its 2,500 samples are registered to it, so the
  default ``min_fraction = 20 / 2500 = 0.008`` reproduces that convention at 2,500 samples and scales it to
  other sample sizes;
- *reverse KL to uniform*: ``KL(p || u) = sum_k p_k log(p_k K)``, where ``p`` is the histogram of
  nearest-centre assignments of *all* samples (quality is measured separately above) and ``u`` the uniform
  distribution over the ``K`` modes (the true mixture weights). Empty bins contribute 0 (the limit
  ``0 log 0 = 0``), so the value is finite, lies in ``[0, log K]``, is 0 exactly for a balanced histogram and
  ``log K`` when every sample is assigned to one mode. Computed by ``ganmetrics.metrics.divergences.kl_divergence``.
"""

from __future__ import annotations

import torch

from ganmetrics.metrics._arrays import ArrayLike, as_samples, check_same_dims
from ganmetrics.metrics.divergences import kl_divergence

# PacGAN's threshold: a mode is lost with fewer than 20 of 2,500 samples within 3 sigma of it.
MIN_FRACTION = 20 / 2500

MODES_COVERED = "modes_covered"
HIGH_QUALITY = "high_quality"
KL_UNIFORM = "kl_uniform"


def mode_statistics(
    samples: ArrayLike, centres: ArrayLike, sigma: float, min_fraction: float = MIN_FRACTION
) -> dict[str, float]:
    """Return ``{"modes_covered", "high_quality", "kl_uniform"}`` for samples of an isotropic mixture.

    With ``d_i = min_k ||x_i - c_k||`` and ``a_i = argmin_k ||x_i - c_k||``:
    ``high_quality = mean_i [d_i <= 3 sigma]``;
    ``modes_covered = #{k : #{i : a_i = k, d_i <= 3 sigma} >= min_fraction * n}``;
    ``kl_uniform = sum_k p_k log(K p_k)`` with ``p_k = #{i : a_i = k} / n`` and ``0 log 0 = 0``.
    See the module docstring for the sources of each convention.

    Parameters: ``samples`` (n, d) generated points; ``centres`` (K, d) mode centres; ``sigma`` the common
    standard deviation of the components; ``min_fraction`` the share of the samples a mode needs.

    Raises ``ValueError`` for non-positive ``sigma``, ``min_fraction`` outside (0, 1], or mismatched dimensions.
    """
    if not sigma > 0:
        raise ValueError(f"sigma: must be positive, got {sigma!r}")
    if not 0 < min_fraction <= 1:
        raise ValueError(f"min_fraction: must lie in (0, 1], got {min_fraction!r}")
    x = as_samples(samples, "samples", min_samples=1)
    c = as_samples(centres, "centres", min_samples=1, device=x.device)
    check_same_dims(x, c, ("samples", "centres"))
    n, k = x.shape[0], c.shape[0]
    distance, nearest = torch.cdist(x, c).min(dim=1)
    good = distance <= 3 * sigma
    per_mode_good = torch.bincount(nearest[good], minlength=k)
    p = torch.bincount(nearest, minlength=k).to(torch.float64) / n
    return {
        MODES_COVERED: float((per_mode_good >= min_fraction * n).sum()),
        HIGH_QUALITY: float(good.to(torch.float64).mean()),
        KL_UNIFORM: kl_divergence(p, torch.full_like(p, 1.0 / k)),
    }
