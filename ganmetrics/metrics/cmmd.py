r"""CMMD (Jayasumana et al. 2024, "Rethinking FID: Towards a Better Evaluation Metric for Image Generation",
CVPR, section 4): the Gaussian-kernel MMD between CLIP ViT-L/14@336 image embeddings, L2-normalised, with
bandwidth :math:`\sigma = 10`, scaled by 1000.

Two estimators of MMD^2 (Gretton et al. 2012, "A Kernel Two-Sample Test", JMLR 13):

``cmmd``
    The reference definition (google-research ``cmmd/distance.py``): the biased V-statistic of Gretton et al.'s
    Eq. 5, where each within-sample mean runs over all :math:`m^2` pairs *including* :math:`i = j`
    (:math:`k(x_i, x_i) = 1`). The number the paper and its code report.
``cmmd_unbiased``
    The unbiased U-statistic (Lemma 6, ``mmd.mmd2_unbiased``), without the :math:`i = j` pairs.

They differ by :math:`(1 - \overline{k}_{xx}^{\,\ne})/m + (1 - \overline{k}_{yy}^{\,\ne})/n` (times 1000), with
:math:`\overline{k}^{\,\ne}` the mean kernel value over distinct pairs: the V-statistic is larger, and stays
positive for two samples of one distribution, where the unbiased one scatters around 0. With unit vectors and
:math:`\sigma = 10` every kernel value lies in :math:`[e^{-0.02}, 1]`, so the gap is at most
:math:`1000 (1 - e^{-0.02})(1/m + 1/n) \approx 19.8 (1/m + 1/n)`: 0.04 at 1,000 images per side, small against
the differences between models the paper reports (0.1 to a few units), yet not negligible when comparing
close models on small samples. Report ``cmmd`` to compare with published numbers.

Both are computed by ``mmd``'s block-wise machinery (rows centred per sample, dot products by one matmul per
block in ``matmul_dtype``, kernel values and sums in float64), on the L2-normalised rows.
"""

from __future__ import annotations

import torch

from ganmetrics.defaults import DEFAULTS
from ganmetrics.metrics._arrays import ArrayLike, as_samples, check_int, check_same_dims
from ganmetrics.metrics.mmd import _check_matmul_dtype, _map_tiles, gaussian_terms, mmd2_unbiased

SIGMA = 10.0
SCALE = 1000.0


def _unit_rows(x: ArrayLike, name: str, device: torch.device | None = None) -> torch.Tensor:
    """Return the rows of ``x`` (float64) divided by their Euclidean norms; raise on a zero row."""
    samples = as_samples(x, name, device=device)
    norms = samples.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError(f"{name}: row {int((norms[:, 0] == 0).nonzero()[0])} is all zeros and has no direction")
    return samples / norms


def cmmd(
    x: ArrayLike,
    y: ArrayLike,
    *,
    chunk_size: int = DEFAULTS["mmd_chunk_size"],
    matmul_dtype: str = DEFAULTS["mmd_matmul_dtype"],
) -> float:
    r"""Return CMMD as the reference defines it: 1000 x the biased (V-statistic) Gaussian MMD^2, sigma = 10, of
    the L2-normalised rows of ``x`` and ``y``.

    .. math::

        \mathrm{CMMD} = 1000 \Big( \frac{1}{m^2} \sum_{i, j} k(\hat x_i, \hat x_j)
            + \frac{1}{n^2} \sum_{i, j} k(\hat y_i, \hat y_j) - \frac{2}{mn} \sum_{i, j} k(\hat x_i, \hat y_j) \Big),
        \quad k(a, b) = e^{-\|a - b\|^2 / (2 \cdot 10^2)}, \quad \hat z = z / \|z\|

    (Jayasumana et al. 2024, section 4; Gretton et al. 2012, Eq. 5; google-research ``cmmd/distance.py``).
    The sums include ``i = j`` (``k = 1``); see the module docstring for the difference from
    ``cmmd_unbiased``. Rows are normalised here, so already-normalised CLIP embeddings pass unchanged.

    Parameters
    ----------
    x, y:
        ``(m, d)`` and ``(n, d)`` embeddings (numpy or torch, any device), ``m, n >= 2``; for CMMD proper, CLIP
        ViT-L/14@336 image embeddings (``ganmetrics cmmd`` extracts them).
    chunk_size:
        Rows per kernel block (memory grows as its square; the value does not depend on it beyond round-off).
    matmul_dtype:
        ``"float32"`` or ``"float64"``: the dtype of the dot-product matmul (``ganmetrics.metrics.mmd``).

    Raises
    ------
    TypeError, ValueError
        As ``mmd.mmd2_unbiased`` for the arrays, ``chunk_size`` and ``matmul_dtype``; ``ValueError`` for an all-zero
        row (it has no direction to normalise).
    """
    x = _unit_rows(x, "x")
    y = _unit_rows(y, "y", device=x.device)
    check_same_dims(x, y, ("x", "y"))
    terms = gaussian_terms(x, y, SIGMA, _check_matmul_dtype(matmul_dtype))
    upper_xx, upper_yy, between = _map_tiles(terms, check_int(chunk_size, "chunk_size", 1))
    m, n = x.shape[0], y.shape[0]
    within_x = (2.0 * upper_xx + m) / m**2  # sum over i < j counts each pair once; k(x_i, x_i) = 1
    within_y = (2.0 * upper_yy + n) / n**2
    return SCALE * float(within_x + within_y - 2.0 * between / (m * n))


def cmmd_unbiased(
    x: ArrayLike,
    y: ArrayLike,
    *,
    chunk_size: int = DEFAULTS["mmd_chunk_size"],
    matmul_dtype: str = DEFAULTS["mmd_matmul_dtype"],
) -> float:
    r"""Return 1000 x the unbiased Gaussian MMD^2 (sigma = 10) of the L2-normalised rows of ``x`` and ``y``.

    ``mmd.mmd2_unbiased`` (Gretton et al. 2012, Lemma 6: within-sample sums over ``i != j`` only) on the
    normalised rows, scaled as CMMD. It can be slightly negative for two samples of one distribution; see the
    module docstring for its difference from ``cmmd``. Parameters and errors as ``cmmd``.
    """
    x = _unit_rows(x, "x")
    y = _unit_rows(y, "y", device=x.device)
    return SCALE * mmd2_unbiased(x, y, SIGMA, chunk_size=chunk_size, matmul_dtype=matmul_dtype).mmd2
