"""Divergences between two histograms (or densities on a common grid): the f-divergence family of GAN theory.

An f-divergence (Csiszár 1967; Ali & Silvey 1966) with convex generator ``f``, ``f(1) = 0``, is

    D_f(P || Q) = Σ_x q(x) f(p(x) / q(x)),

with the limits that make it well defined on any support: cells where ``p = q = 0`` contribute 0; cells where
``q = 0 < p`` contribute ``p · f'(∞)`` with ``f'(∞) = lim_{t→∞} f(t) / t`` (infinite for KL, so KL(P||Q) = ∞
when P puts mass where Q has none); cells where ``p = 0 < q`` contribute ``q · f(0)`` (``f(0) = ∞`` for reverse
KL). The named divergences are those of Nowozin et al. 2016 ("f-GAN", Table 1), in nats, except Jensen–Shannon,
which carries the ½ of its definition (so 0 ≤ JS ≤ ln 2):

    total variation   f(t) = ½|t − 1|                       TV = ½ Σ |p − q|
    Kullback–Leibler  f(t) = t ln t                          KL = Σ p ln(p/q)
    reverse KL        f(t) = −ln t                           KL(Q || P)
    Jensen–Shannon    f(t) = ½[t ln t − (t + 1) ln((t + 1)/2)]   ½ KL(P || M) + ½ KL(Q || M), M = (P + Q)/2
    Pearson χ²        f(t) = (t − 1)²                        Σ (p − q)² / q
    Neyman χ²         f(t) = (1 − t)² / t                     Σ (p − q)² / p
    squared Hellinger f(t) = (√t − 1)²                       Σ (√p − √q)²  (in [0, 2]; no ½)
    Jeffrey           f(t) = (t − 1) ln t                    KL(P || Q) + KL(Q || P)

Inputs are non-negative arrays of one shape (counts, probabilities, or density values on a uniform grid), each
divided by its own sum first: for densities on a uniform grid the result is the divergence of the discretised
distributions (the Riemann sum of the continuous one). ``histogram_2d`` and ``grid_2d`` bin 2-D samples and
give the matching cell centres at which a known density can be evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch

from ganmetrics.metrics._arrays import ArrayLike, as_float64, as_samples, check_int

# The extent of a 2-D grid: ((x_lo, x_hi), (y_lo, y_hi)).
Range2D = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class FGenerator:
    """A convex ``f`` with ``f(1) = 0``, elementwise on ``t = p/q >= 0`` (``t = 0`` included), and ``f'(∞)``."""

    f: Callable[[torch.Tensor], torch.Tensor]
    f_prime_infinity: float


def _js_generator(t: torch.Tensor) -> torch.Tensor:
    return 0.5 * (torch.xlogy(t, t) - torch.xlogy(t + 1, (t + 1) / 2))


F_GENERATORS: dict[str, FGenerator] = {
    "total_variation": FGenerator(lambda t: 0.5 * (t - 1).abs(), 0.5),
    "kl": FGenerator(lambda t: torch.xlogy(t, t), math.inf),
    "reverse_kl": FGenerator(lambda t: -torch.log(t), 0.0),
    "jensen_shannon": FGenerator(_js_generator, 0.5 * math.log(2.0)),
    "pearson_chi2": FGenerator(lambda t: (t - 1) ** 2, math.inf),
    "neyman_chi2": FGenerator(lambda t: (1 - t) ** 2 / t, 1.0),
    "squared_hellinger": FGenerator(lambda t: (t.sqrt() - 1) ** 2, 1.0),
    "jeffrey": FGenerator(lambda t: (t - 1) * torch.log(t), math.inf),
}


def as_distribution(p: ArrayLike, name: str, device: torch.device | None = None) -> torch.Tensor:
    """Return ``p`` flattened to a float64 probability vector (divided by its sum).

    Raises ``ValueError`` when ``p`` is empty, holds NaN/Inf or a negative entry, or sums to 0; ``TypeError`` when
    it is not a numeric array or tensor.
    """
    t = as_float64(p, name, device=device).reshape(-1)
    if bool((t < 0).any()):
        raise ValueError(f"{name}: has negative entries (minimum {float(t.min()):.3g}); expected a histogram")
    total = t.sum()
    if float(total) == 0.0:
        raise ValueError(f"{name}: all entries are zero; a histogram needs positive mass")
    return t / total


def _pair(p: ArrayLike, q: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``p`` and ``q`` as probability vectors on ``p``'s device, after checking the shapes agree."""
    pt = as_distribution(p, "p")
    qt = as_distribution(q, "q", device=pt.device)
    shape_p, shape_q = tuple(p.shape), tuple(q.shape)
    if shape_p != shape_q:
        raise ValueError(f"p and q: shapes differ ({shape_p} vs {shape_q}); both must be binned on one grid")
    return pt, qt


def f_divergence(
    p: ArrayLike,
    q: ArrayLike,
    f: FGenerator | Callable[[torch.Tensor], torch.Tensor],
    *,
    f_prime_infinity: float | None = None,
) -> float:
    r"""Return :math:`D_f(P \| Q) = \sum_x q(x) f(p(x)/q(x))` between two histograms, possibly ``inf``.

    Zeros (see the module docstring): ``p = q = 0`` contributes 0; ``q = 0 < p`` contributes
    :math:`p\, f'(\infty)`; ``p = 0 < q`` contributes :math:`q\, f(0)` (``f`` is evaluated at ``t = 0``).

    Parameters
    ----------
    p, q:
        Non-negative arrays of one shape (numpy or torch, any device), each normalised to sum 1.
    f:
        An ``FGenerator`` (e.g. ``F_GENERATORS["kl"]``), or a callable applied elementwise to a float64 tensor
        of ratios ``t >= 0`` (it must accept ``t = 0`` wherever ``p = 0 < q``).
    f_prime_infinity:
        :math:`\lim_{t\to\infty} f(t)/t`, required with a plain callable when ``p`` has mass where ``q = 0``;
        taken from the generator otherwise.

    Raises
    ------
    TypeError
        ``p`` or ``q`` is not a numeric array/tensor.
    ValueError
        ``p`` or ``q`` is empty, negative, all zero or holds NaN/Inf; the shapes differ; ``p`` has mass where
        ``q = 0`` and no ``f_prime_infinity`` is known.
    """
    pt, qt = _pair(p, q)
    generator = f.f if isinstance(f, FGenerator) else f
    slope = f.f_prime_infinity if isinstance(f, FGenerator) and f_prime_infinity is None else f_prime_infinity
    support = qt > 0
    ratio = pt[support] / qt[support]
    total = float((qt[support] * generator(ratio)).sum())
    outside = float(pt[~support].sum())
    if outside > 0:
        if slope is None:
            raise ValueError("f_prime_infinity: p has mass where q = 0, so lim f(t)/t is needed; pass f_prime_infinity")
        total += outside * slope
    return total


def total_variation(p: ArrayLike, q: ArrayLike) -> float:
    """Return the total variation distance ½ Σ |p − q| (= sup_A |P(A) − Q(A)|, Scheffé's identity), in [0, 1]."""
    return f_divergence(p, q, F_GENERATORS["total_variation"])


def kl_divergence(p: ArrayLike, q: ArrayLike) -> float:
    """Return KL(P || Q) = Σ p ln(p/q) in nats; ``inf`` when q = 0 < p somewhere (= scipy.stats.entropy(p, q))."""
    return f_divergence(p, q, F_GENERATORS["kl"])


def reverse_kl_divergence(p: ArrayLike, q: ArrayLike) -> float:
    """Return the reverse KL, KL(Q || P) = Σ q ln(q/p) in nats; ``inf`` when p = 0 < q somewhere."""
    return f_divergence(p, q, F_GENERATORS["reverse_kl"])


def js_divergence(p: ArrayLike, q: ArrayLike) -> float:
    """Return the Jensen–Shannon divergence ½ KL(P || M) + ½ KL(Q || M), M = (P + Q)/2, in nats, in [0, ln 2].

    Equals ``scipy.spatial.distance.jensenshannon(p, q) ** 2`` (natural logarithm); ln 2 on disjoint supports.
    """
    return f_divergence(p, q, F_GENERATORS["jensen_shannon"])


def pearson_chi2(p: ArrayLike, q: ArrayLike) -> float:
    """Return Pearson's χ²(P || Q) = Σ (p − q)² / q; ``inf`` when q = 0 < p somewhere."""
    return f_divergence(p, q, F_GENERATORS["pearson_chi2"])


def neyman_chi2(p: ArrayLike, q: ArrayLike) -> float:
    """Return Neyman's χ²(P || Q) = Σ (p − q)² / p; ``inf`` when p = 0 < q somewhere."""
    return f_divergence(p, q, F_GENERATORS["neyman_chi2"])


def squared_hellinger(p: ArrayLike, q: ArrayLike) -> float:
    """Return the squared Hellinger distance Σ (√p − √q)² (f-GAN's convention without ½: in [0, 2])."""
    return f_divergence(p, q, F_GENERATORS["squared_hellinger"])


def jeffrey_divergence(p: ArrayLike, q: ArrayLike) -> float:
    """Return Jeffrey's divergence KL(P || Q) + KL(Q || P) = Σ (p − q) ln(p/q); ``inf`` on unequal supports."""
    return f_divergence(p, q, F_GENERATORS["jeffrey"])


def _check_range(value: object) -> Range2D:
    """Return ``((x_lo, x_hi), (y_lo, y_hi))`` from a range argument, checking each ``lo < hi`` is finite."""
    try:
        (x_lo, x_hi), (y_lo, y_hi) = cast(Range2D, value)
        bounds = ((float(x_lo), float(x_hi)), (float(y_lo), float(y_hi)))
    except (TypeError, ValueError):
        raise TypeError(f"range: expected ((x_lo, x_hi), (y_lo, y_hi)), got {value!r}") from None
    for lo, hi in bounds:
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"range: each axis needs finite lo < hi, got {value!r}")
    return bounds


def _bin_edges(lo: float, hi: float, bins: int, device: torch.device) -> torch.Tensor:
    """Return ``bins + 1`` edges computed as ``numpy.linspace`` does (``lo + i · step``, last edge ``hi``)."""
    edges = torch.arange(bins + 1, dtype=torch.float64, device=device) * ((hi - lo) / bins) + lo
    edges[-1] = hi
    return edges


def histogram_2d(samples: ArrayLike, bins: int, range: Range2D) -> torch.Tensor:
    """Return the ``(bins, bins)`` fraction of ``samples`` in each cell of a uniform grid over ``range``.

    Entry ``[i, j]`` is the fraction of the rows ``(x, y)`` with ``x`` in the i-th x-bin and ``y`` in the j-th
    y-bin (``numpy.histogram2d(x, y, bins, range)[0] / n``: half-open bins ``[lo, hi)``, the last closed on the
    right; points outside the range are dropped, so the total is below 1 when some fall outside).

    Raises ``ValueError``/``TypeError`` when ``samples`` is not an ``(n, 2)`` array, ``bins < 1`` or ``range``
    is not two finite increasing pairs.
    """
    points = as_samples(samples, "samples", min_samples=1)
    if points.shape[1] != 2:
        raise ValueError(f"samples: expected 2 columns (x, y), got shape {tuple(points.shape)}")
    bins = check_int(bins, "bins", 1)
    index = []
    inside = torch.ones(points.shape[0], dtype=torch.bool, device=points.device)
    for axis, (lo, hi) in enumerate(_check_range(range)):
        values = points[:, axis].contiguous()
        edges = _bin_edges(lo, hi, bins, points.device)
        cell = torch.bucketize(values, edges, right=True)  # numpy.searchsorted(edges, values, side="right")
        cell[values == edges[-1]] -= 1
        inside &= (cell >= 1) & (cell <= bins)
        index.append(cell - 1)
    flat = index[0][inside] * bins + index[1][inside]
    counts = torch.bincount(flat, minlength=bins * bins).to(torch.float64)
    return (counts / points.shape[0]).reshape(bins, bins)


def grid_2d(bins: int, range: Range2D, device: torch.device | str | None = None) -> torch.Tensor:
    """Return the ``(bins, bins, 2)`` cell centres of the grid of ``histogram_2d`` (``[i, j] = (x_i, y_j)``).

    Evaluate a known density at ``grid_2d(bins, range).reshape(-1, 2)`` and reshape to ``(bins, bins)`` to compare
    it with ``histogram_2d`` of samples through any divergence here (both are normalised to sum 1 there).
    """
    bins = check_int(bins, "bins", 1)
    axes = []
    for lo, hi in _check_range(range):
        edges = _bin_edges(lo, hi, bins, torch.device(device) if device is not None else torch.device("cpu"))
        axes.append((edges[:-1] + edges[1:]) / 2)
    gx, gy = torch.meshgrid(axes[0], axes[1], indexing="ij")
    return torch.stack([gx, gy], dim=-1)
