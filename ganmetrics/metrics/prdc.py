"""Precision and recall of k-NN manifolds, and density and coverage, computed in distance blocks.

Precision and recall: Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative
Models" (NeurIPS), Sec. 2, eq. (1)-(2), with the conventions of ``torch_fidelity.metric_prc``. Density and
coverage: Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models" (ICML), eq. (1)-(2),
with the conventions of the authors' ``prdc.compute_prdc`` (clovaai/generative-evaluation-prdc).

The k-NN radius of a point is its distance to its k-th nearest neighbour in its own set, itself excluded: the
(k+1)-th smallest of its distances to all points of the set, its own zero included (torch-fidelity's
``kthvalue(k + 1)``, the reference code's ``get_kth_value(k + 1)``). A duplicate point therefore counts as a
neighbour at distance 0.

No n x n matrix is held: radii come from a running top-(k+1) over ``chunk_size x chunk_size`` distance blocks,
and membership counts from a second pass over blocks. Distances are Euclidean, float64, computed by
``ganmetrics.metrics.distances.cost_matrix`` (centred Gram expansion with exact recomputation of near-duplicate
pairs, so identical points are at distance exactly 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ganmetrics.defaults import DEFAULTS
from ganmetrics.metrics._arrays import ArrayLike, as_samples, check_int, check_same_dims
from ganmetrics.metrics.distances import cost_matrix


@dataclass(frozen=True)
class PRDCResult:
    """Precision, recall (fractions in [0, 1]), density (in [0, n_real / k]) and coverage (in [0, 1]).

    The field names equal ``ganmetrics.keys.PRECISION``, ``RECALL``, ``DENSITY`` and ``COVERAGE``.
    """

    precision: float
    recall: float
    density: float
    coverage: float


def _nearest_neighbour_distances(x: torch.Tensor, count: int, chunk_size: int) -> torch.Tensor:
    """Return the ``(n, count)`` smallest Euclidean distances of each row of ``x`` to all rows, ascending.

    Column 0 is the row's distance to itself (0); column ``k`` is its k-NN radius (see the module docstring).
    Blocks of ``chunk_size`` rows by ``chunk_size`` columns; a running ``topk`` keeps the ``count`` smallest.
    ``x`` is a float64 ``(n, d)`` tensor with ``n >= count``.
    """
    n = x.shape[0]
    radii: list[torch.Tensor] = []
    for i in range(0, n, chunk_size):
        rows = x[i : i + chunk_size]
        best: torch.Tensor | None = None
        for j in range(0, n, chunk_size):
            block = cost_matrix(rows, x[j : j + chunk_size], "euclidean")
            candidates = block if best is None else torch.cat([best, block], dim=1)
            best = candidates.topk(min(count, candidates.shape[1]), dim=1, largest=False).values
        if best is not None:  # always: the column loop runs at least once
            radii.append(best)
    return torch.cat(radii)


def prdc(
    real: ArrayLike,
    fake: ArrayLike,
    k: int = DEFAULTS["prdc_k"],
    density_k: int = DEFAULTS["prdc_density_k"],
    *,
    chunk_size: int = DEFAULTS["prdc_chunk_size"],
) -> PRDCResult:
    r"""Return precision, recall, density and coverage of ``fake`` against ``real`` as a ``PRDCResult``.

    With :math:`r_k(a)` the k-NN radius of ``a`` in its own set (k-th neighbour, itself excluded),
    :math:`B(a, r)` the closed ball and :math:`x_i` real, :math:`y_j` fake (``n`` real, ``m`` fake points):

    .. math::

        \mathrm{precision} = \frac{1}{m} \sum_j 1\big[\exists i:\ \|y_j - x_i\| \le r_k(x_i)\big],\qquad
        \mathrm{recall} = \frac{1}{n} \sum_i 1\big[\exists j:\ \|x_i - y_j\| \le r_k(y_j)\big],

        \mathrm{density} = \frac{1}{k' m} \sum_j \sum_i 1\big[\|y_j - x_i\| < r_{k'}(x_i)\big],\qquad
        \mathrm{coverage} = \frac{1}{n} \sum_i 1\big[\min_j \|x_i - y_j\| < r_{k'}(x_i)\big],

    with ``k`` for precision/recall and ``k' = density_k`` for density/coverage. Conventions, each the reference
    implementation's: precision and recall test ``<=`` (closed balls, as ``torch_fidelity.metric_prc`` and the
    original code of Kynkäänniemi et al.); density and coverage test strict ``<`` (as ``compute_prdc`` of
    Naeem et al.). The two agree unless a distance equals a radius exactly. Passing ``density_k=k`` gives the
    reference ``compute_prdc(real, fake, nearest_k=k)`` density and coverage.

    Parameters
    ----------
    real, fake:
        ``(n, d)`` and ``(m, d)`` features (numpy arrays or torch tensors, any device); computed on the device of
        ``real`` in float64. ``real`` needs more than ``max(k, density_k)`` rows, ``fake`` more than ``k``.
    k:
        Neighbourhood size of precision and recall (Kynkäänniemi et al. use 3), ``>= 1``.
    density_k:
        Neighbourhood size of density and coverage (Naeem et al. use 5), ``>= 1``.
    chunk_size:
        Rows (and columns) per distance block, ``>= 1``; memory grows as ``chunk_size**2``, the result does not
        depend on it (beyond ties at float64 round-off).

    Raises
    ------
    TypeError
        An input is not a numeric array/tensor; ``k``, ``density_k`` or ``chunk_size`` is not an integer.
    ValueError
        ``real`` or ``fake`` is not 2-D, holds NaN/Inf or has too few rows for its radii; the feature dimensions
        differ; ``k``, ``density_k`` or ``chunk_size`` is below 1.
    """
    k = check_int(k, "k", 1)
    density_k = check_int(density_k, "density_k", 1)
    chunk_size = check_int(chunk_size, "chunk_size", 1)
    x = as_samples(real, "real", min_samples=max(k, density_k) + 1)
    y = as_samples(fake, "fake", min_samples=k + 1, device=x.device)
    check_same_dims(x, y, ("real", "fake"))

    real_nn = _nearest_neighbour_distances(x, max(k, density_k) + 1, chunk_size)
    radius_real, radius_real_dc = real_nn[:, k], real_nn[:, density_k]
    radius_fake = _nearest_neighbour_distances(y, k + 1, chunk_size)[:, k]

    in_real_manifold = torch.zeros(y.shape[0], dtype=torch.bool, device=x.device)
    real_balls_hit = torch.zeros(y.shape[0], dtype=torch.float64, device=x.device)
    in_fake_manifold = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    nearest_fake = torch.full((x.shape[0],), torch.inf, dtype=torch.float64, device=x.device)
    for j in range(0, y.shape[0], chunk_size):
        fakes = slice(j, j + chunk_size)
        for i in range(0, x.shape[0], chunk_size):
            reals = slice(i, i + chunk_size)
            d = cost_matrix(y[fakes], x[reals], "euclidean")  # (fake rows, real columns)
            in_real_manifold[fakes] |= (d <= radius_real[reals]).any(dim=1)
            real_balls_hit[fakes] += (d < radius_real_dc[reals]).sum(dim=1)
            in_fake_manifold[reals] |= (d <= radius_fake[fakes, None]).any(dim=0)
            nearest_fake[reals] = torch.minimum(nearest_fake[reals], d.min(dim=0).values)

    return PRDCResult(
        precision=float(in_real_manifold.double().mean()),
        recall=float(in_fake_manifold.double().mean()),
        density=float(real_balls_hit.sum()) / (density_k * y.shape[0]),
        coverage=float((nearest_fake < radius_real_dc).double().mean()),
    )
