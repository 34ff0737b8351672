"""Optimal transport between feature samples: the entropic (Sinkhorn) cost and the exact earth mover's distance.

Both compare two discrete measures ``sum_i a_i delta(x_i)`` and ``sum_j b_j delta(y_j)`` through the ground cost
``C_ij = c(x_i, y_j)``, computed as POT's ``ot.dist(x, y, metric=metric)`` defines it (``cost_matrix``);
``sinkhorn_from_cost`` takes the cost matrix itself, as ``ot.sinkhorn2`` does. The reference implementations
reproduced are POT's ``ot.sinkhorn2`` (method ``"sinkhorn"`` and ``"sinkhorn_log"``) and ``ot.emd2``; for
one-dimensional samples under the euclidean cost, ``scipy.stats.wasserstein_distance``.
"""

from __future__ import annotations

import math
import numbers
import warnings

import ot
import torch

from ganmetrics.defaults import DEFAULTS
from ganmetrics.metrics._arrays import ArrayLike, as_float64, as_samples, as_weights, check_int, check_same_dims
from ganmetrics.metrics.distances import cost_matrix

GROUND_COSTS = ("euclidean", "sqeuclidean")

# Sinkhorn scalings are kept within [exp(-_ABSORB), exp(_ABSORB)]; beyond, they are absorbed into the potentials.
_ABSORB = 50.0
# Sinkhorn iterations between convergence checks off the CPU (each check synchronises with the device); on the
# CPU every iteration is checked, at the cost of two vector operations.
_CHECK_EVERY = 10
# The smallest usable regularisation, relative to the largest |C_ij|: the iterations work with exponents C / reg,
# which float64 holds with an absolute round-off of half an ulp. Up to 2**40 that is 2**-13 (1.2e-4), so the plan's
# entries keep about four digits; below it the exponents lose all meaning (at 2**53 their ulp reaches 1).
_MIN_REG_RELATIVE = 2.0**-40


class ConvergenceWarning(RuntimeWarning):
    """An iterative transport solver stopped before meeting its optimality criterion."""


def _check_ground_cost(ground_cost: str) -> None:
    if ground_cost not in GROUND_COSTS:
        raise ValueError(f"ground_cost: {ground_cost!r} is not supported; choose one of {', '.join(GROUND_COSTS)}")


def _support(
    weights: ArrayLike | None, n: int, name: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Return the positive weights normalised to sum exactly to 1 and their indices (None when all are kept).

    ``as_weights`` has checked that the weights sum to 1, so at least one is positive.
    """
    w = as_weights(weights, n, name, device=device)
    keep = w > 0
    if bool(keep.all()):
        return w / w.sum(), None
    w = w[keep]
    return w / w.sum(), torch.nonzero(keep)[:, 0]


def _measure(points: torch.Tensor, weights: ArrayLike | None, weights_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the support points with positive weight and their weights normalised to sum exactly to 1."""
    w, kept = _support(weights, points.shape[0], weights_name, points.device)
    return (points if kept is None else points[kept]), w


def _check_solver_options(reg: float, max_iter: int, tol: float) -> None:
    if isinstance(reg, bool) or not isinstance(reg, numbers.Real) or not math.isfinite(reg) or reg <= 0:
        raise ValueError(f"reg: the entropic regularisation must be a finite number > 0, got {reg!r}")
    check_int(max_iter, "max_iter", 1)
    if not tol >= 0:
        raise ValueError(f"tol: must be >= 0, got {tol!r}")


def sinkhorn_from_cost(
    C: ArrayLike,
    reg: float,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    max_iter: int = DEFAULTS["sinkhorn_max_iter"],
    tol: float = DEFAULTS["sinkhorn_tol"],
) -> float:
    r"""Return the transport cost ``<P, C>`` of the entropic optimal plan ``P`` for a given cost matrix ``C``.

    .. math::

        P = \arg\min_{P \ge 0,\; P 1 = a,\; P^T 1 = b} \langle P, C\rangle
            + \varepsilon \sum_{ij} P_{ij} (\log P_{ij} - 1),
        \qquad \text{returned value } \langle P, C \rangle = \sum_{ij} P_{ij} C_{ij}

    (Cuturi 2013, "Sinkhorn distances", eq. (2); the value is the "dual-Sinkhorn divergence" ``d_M^lambda``
    without the entropy term). ``P = diag(e^{f/eps}) K diag(e^{g/eps})`` with ``K = exp(-C/eps)`` is found by
    the Sinkhorn-Knopp alternating scalings; at convergence the value equals POT's ``ot.sinkhorn2(a, b, C,
    reg)`` and ``ot.sinkhorn2(..., method="sinkhorn_log")`` on the same matrix.

    The iterations run in the log domain with absorption (Schmitzer 2019, "Stabilized sparse scaling
    algorithms for entropy regularized transport problems", Algorithm 2; Chizat et al. 2018): the potentials
    ``f, g`` are kept separately and the scalings multiply the stabilised kernel ``exp((f_i + g_j - C_ij)/eps)``
    by cheap matrix-vector products. The potentials start at ``f_i = min_j C_ij``, ``g = 0``, so that every row
    of the kernel holds an entry 1. When a scaling leaves ``[e^-50, e^50]`` or stops being finite (where
    ``exp(-C/eps)`` underflows: large costs, small ``eps``), the last good scalings are absorbed into ``f, g``
    and a Sinkhorn iteration is made exactly in the log domain (``logsumexp``), so the result stays finite and
    accurate where plain Sinkhorn-Knopp returns NaN. Convergence is checked on the L2 (Euclidean) norm of the
    column-marginal violation, ``|P^T 1 - b|_2 <= tol``, POT's ``stopThr`` rule (rows are exact after each
    iteration), after every iteration on the CPU (where the check costs nothing next to the matrix-vector
    products) and every 10 on other devices (each check synchronises with the device); POT checks every 10,
    so it may run up to 9 iterations more to the same criterion. Zero-weight rows and columns carry no mass and
    are dropped. ``C`` is not modified; one work matrix of its size is allocated.

    Parameters
    ----------
    C : (n, m) ground costs ``C_ij`` (numpy or torch, any device; computed in float64 on ``C``'s device). Any
        finite real costs are accepted, as by POT.
    reg : the entropic regularisation ``eps > 0``, in the units of ``C``.
    a, b : weights of the rows and of the columns (non-negative, summing to 1); uniform ``1/n`` and ``1/m`` when
        None.
    max_iter : iteration limit; tol : stopping threshold on the L2 marginal violation (POT's ``stopThr``).

    Raises
    ------
    ValueError : ``reg <= 0``, not finite, or below ``2**-40 max |C_ij|`` (the smallest usable value: the
        exponents ``C / reg`` lose their meaning to round-off beyond 2**40), ``max_iter < 1``, ``tol < 0``,
        ``C`` not 2-D, empty or holding NaN/Inf, and invalid weights (wrong length for ``C``'s rows or columns,
        negative, not summing to 1 or all zero; see ``as_weights``).
    TypeError : ``C`` or weights that are not numpy arrays or torch tensors.

    Warns
    -----
    ConvergenceWarning : when ``max_iter`` iterations end with the marginal violation above ``tol``; the value
        returned is then the cost of the last (finite) iterate.
    """
    _check_solver_options(reg, max_iter, tol)
    Ct = as_float64(C, "C", ndim=2)
    at, rows = _support(a, Ct.shape[0], "a", Ct.device)
    bt, cols = _support(b, Ct.shape[1], "b", Ct.device)
    if rows is not None:
        Ct = Ct[rows]
    if cols is not None:
        Ct = Ct[:, cols]
    return _sinkhorn_value(Ct, at, bt, float(reg), max_iter, tol)


def sinkhorn_distance(
    x: ArrayLike,
    y: ArrayLike,
    reg: float,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    ground_cost: str = DEFAULTS["ot_ground_cost"],
    max_iter: int = DEFAULTS["sinkhorn_max_iter"],
    tol: float = DEFAULTS["sinkhorn_tol"],
) -> float:
    r"""Return the entropic transport cost ``<P, C>`` between two weighted samples (``sinkhorn_from_cost`` on C).

    .. math::

        C_{ij} = |x_i - y_j| \text{ ("euclidean") or } |x_i - y_j|^2 \text{ ("sqeuclidean")}, \qquad
        \text{value} = \langle P, C \rangle \text{ of the entropic plan } P \text{ (see sinkhorn\_from\_cost)}

    The cost matrix is built by ``cost_matrix`` (POT's ``ot.dist(x, y, metric)``, computed more accurately) and
    the plan found by the log-stabilised Sinkhorn iterations described in ``sinkhorn_from_cost``; the value
    equals POT's ``ot.sinkhorn2(a, b, ot.dist(x, y, metric), reg)`` (methods ``"sinkhorn"`` and
    ``"sinkhorn_log"``) at convergence. Zero-weight points carry no mass and are dropped.

    Parameters
    ----------
    x, y : (n, d) and (m, d) samples (numpy or torch, any device; computed in float64 on ``x``'s device).
    reg : the entropic regularisation ``eps > 0``, in the units of the cost ``C``.
    a, b : weights of the samples (non-negative, summing to 1); uniform ``1/n`` and ``1/m`` when None.
    ground_cost : ground cost, ``"euclidean"`` (``|x - y|``) or ``"sqeuclidean"`` (``|x - y|^2``), as ``ot.dist``.
    max_iter : iteration limit; tol : stopping threshold on the L2 marginal violation (POT's ``stopThr``).

    Raises
    ------
    ValueError : ``reg <= 0``, not finite, or below ``2**-40 max |C_ij|`` (the smallest usable value: the
        exponents ``C / reg`` lose their meaning to round-off beyond 2**40), ``max_iter < 1``, ``tol < 0``,
        unknown ``ground_cost``, inputs that are not 2-D, empty, hold NaN/Inf or differ in dimension, and invalid
        weights (see ``as_weights``).
    TypeError : inputs that are not numpy arrays or torch tensors.

    Warns
    -----
    ConvergenceWarning : when ``max_iter`` iterations end with the marginal violation above ``tol``; the value
        returned is then the cost of the last (finite) iterate.
    """
    _check_solver_options(reg, max_iter, tol)
    _check_ground_cost(ground_cost)
    xt = as_samples(x, "x", min_samples=1)
    yt = as_samples(y, "y", min_samples=1, device=xt.device)
    check_same_dims(xt, yt, ("x", "y"))
    xt, at = _measure(xt, a, "a")
    yt, bt = _measure(yt, b, "b")
    return _sinkhorn_value(cost_matrix(xt, yt, ground_cost), at, bt, float(reg), max_iter, tol)


def _sinkhorn_value(C: torch.Tensor, a: torch.Tensor, b: torch.Tensor, eps: float, max_iter: int, tol: float) -> float:
    """Return ``<P, C>`` of the entropic plan (validated inputs, positive weights), warning if not converged.

    Called directly by the public functions, so that the warning points at the user's call (stacklevel 3).
    """
    low, high = torch.aminmax(C)
    largest = max(-float(low), float(high))
    smallest_usable = largest * _MIN_REG_RELATIVE
    if eps < smallest_usable:
        raise ValueError(
            f"reg: {eps!r} is below the smallest usable value {smallest_usable:.3g} for costs up to {largest:.3g}: "
            f"the exponents C / reg would exceed 2**40, where float64 round-off leaves the entropic plan meaningless"
        )
    check_every = 1 if C.device.type == "cpu" else _CHECK_EVERY
    cost, iterations, error = _sinkhorn(C, a, b, eps, max_iter, tol, check_every)
    if not math.isfinite(cost):
        raise ValueError(f"reg: Sinkhorn gave a non-finite cost ({cost}) with reg={eps!r}; raise reg")
    if error > tol:
        warnings.warn(
            f"Sinkhorn: no convergence after {iterations} iterations (max_iter={max_iter}): the L2 marginal error "
            f"is {error:.3g} > tol={tol:.3g}; the returned cost is that of an approximate plan. Raise max_iter or "
            "reg.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return cost


def _sinkhorn(
    C: torch.Tensor, a: torch.Tensor, b: torch.Tensor, eps: float, max_iter: int, tol: float, check_every: int
) -> tuple[float, int, float]:
    """Return ``(<P, C>, iterations, L2 marginal error)`` of log-stabilised Sinkhorn-Knopp (see
    ``sinkhorn_from_cost``), checking convergence every ``check_every`` iterations at most. ``C`` is read only;
    the kernel lives in one work matrix ``K``."""
    log_a, log_b = a.log(), b.log()
    inv_eps = 1.0 / eps
    # Potentials in units of eps. f_i = min_j C_ij / eps puts an entry 1 in every row of the stabilised kernel.
    f = C.amin(dim=1).mul_(inv_eps)
    g = torch.zeros_like(b)
    K = torch.empty_like(C)
    low, high = math.exp(-_ABSORB), math.exp(_ABSORB)
    iterations, block = 0, check_every
    while True:
        # Stabilised kernel exp(f_i + g_j - C_ij / eps): the current plan, with scalings u = v = 1.
        torch.sub(f[:, None], C, alpha=inv_eps, out=K).add_(g).exp_()
        u, v = torch.ones_like(a), torch.ones_like(b)
        Ktu = K.T @ u
        error = float(torch.linalg.vector_norm(Ktu - b))
        while error > tol and iterations < max_iter:
            steps = min(block, max_iter - iterations)
            u_new, v_new, Ktu_new = u, v, Ktu
            for _ in range(steps):
                v_new = b / Ktu_new
                u_new = a / (K @ v_new)
                Ktu_new = K.T @ u_new
            scalings = torch.cat([u_new, v_new])
            if not bool(((scalings > low) & (scalings < high)).all()):
                block = max(1, block // 2)
                break
            u, v, Ktu = u_new, v_new, Ktu_new
            iterations += steps
            error = float(torch.linalg.vector_norm(v * Ktu - b))
            block = min(check_every, 2 * block)
        else:
            return float(u @ (K.mul_(C) @ v)), iterations, error
        # A scaling left the safe range (or overflowed): absorb the last good one into the potentials and make
        # one exact log-domain iteration, which also moves the potentials on where the stabilised kernel
        # underflows. K serves as the work matrix of the logsumexps.
        f = f + u.log()
        g = log_b - torch.logsumexp(torch.sub(f[:, None], C, alpha=inv_eps, out=K), dim=0)
        f = log_a - torch.logsumexp(torch.sub(g[None, :], C, alpha=inv_eps, out=K), dim=1)
        iterations += 1


def _as_points(x: ArrayLike, name: str, device: torch.device | None = None) -> torch.Tensor:
    """Return ``x`` as a float64 (n, d) tensor, reading a 1-D vector of length n as n points on the line."""
    if getattr(x, "ndim", None) == 1:
        x = x.reshape(-1, 1)
    return as_samples(x, name, min_samples=1, device=device)


def emd(
    x: ArrayLike,
    y: ArrayLike,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    ground_cost: str = DEFAULTS["ot_ground_cost"],
    max_iter: int | None = DEFAULTS["emd_max_iter"],
    max_bytes: int = DEFAULTS["emd_max_bytes"],
) -> float:
    r"""Return the exact earth mover's distance (optimal transport cost) between two weighted samples.

    .. math::

        \mathrm{EMD}(a, b) = \min_{P \ge 0,\; P 1 = a,\; P^T 1 = b} \sum_{ij} P_{ij} C_{ij},
        \qquad C_{ij} = |x_i - y_j| \text{ ("euclidean") or } |x_i - y_j|^2 \text{ ("sqeuclidean")}

    (Rubner et al. 2000, "The earth mover's distance as a metric for image retrieval"; with the euclidean cost
    this is the Wasserstein-1 distance, with the squared one the squared Wasserstein-2 distance.) The linear
    programme is solved exactly by POT's network simplex, ``ot.emd2(a, b, ot.dist(x, y, metric))`` (Bonneel et
    al. 2011), on a cost matrix computed as ``cost_matrix`` describes. One-dimensional samples (shape (n,) or
    (n, 1)) under the euclidean cost use the closed form ``int |F_a(t) - F_b(t)| dt`` of the cumulative
    distribution functions instead, which equals ``scipy.stats.wasserstein_distance(x, y, a, b)`` and needs no
    cost matrix. Weights are normalised to sum exactly to 1; zero-weight points are dropped.

    Parameters
    ----------
    x, y : (n, d) and (m, d) samples, or 1-D vectors (numpy or torch, any device; the cost matrix is built in
        float64 on ``x``'s device and solved on the CPU).
    a, b : weights of the samples (non-negative, summing to 1); uniform ``1/n`` and ``1/m`` when None.
    ground_cost : ground cost, ``"euclidean"`` or ``"sqeuclidean"``, as ``ot.dist``.
    max_iter : the network simplex's iteration limit (POT's ``numItermax``); None scales it with the problem,
        ``max(100_000, 50 n m)`` (POT's default 100,000 stops short of the optimum already at n = m = 5,000,
        returning a cost 4% too high).
    max_bytes : the largest float64 cost matrix (``8 n m`` bytes) to build; larger problems are refused.

    Raises
    ------
    ValueError : unknown ``ground_cost``, ``max_iter < 1``, a cost matrix above ``max_bytes`` (the message states the
        bytes needed), inputs that are empty, more than 2-D, hold NaN/Inf or differ in dimension, and invalid
        weights (see ``as_weights``).
    TypeError : inputs that are not numpy arrays or torch tensors.
    RuntimeError : when the network simplex stops at ``max_iter`` before proving optimality: POT's cost is then
        that of an intermediate basis, which can lie above or below the EMD (4x below after 5 iterations on 40
        points), so no value is returned.
    """
    _check_ground_cost(ground_cost)
    if max_iter is not None:
        check_int(max_iter, "max_iter", 1)
    check_int(max_bytes, "max_bytes", 0)
    xt = _as_points(x, "x")
    yt = _as_points(y, "y", device=xt.device)
    check_same_dims(xt, yt, ("x", "y"))
    xt, at = _measure(xt, a, "a")
    yt, bt = _measure(yt, b, "b")
    if xt.shape[1] == 1 and ground_cost == "euclidean":
        return _emd_1d(xt[:, 0], yt[:, 0], at, bt)
    n, m = xt.shape[0], yt.shape[0]
    needed = 8 * n * m
    if needed > max_bytes:
        raise ValueError(
            f"emd: the {n} x {m} float64 cost matrix would need {needed} bytes ({needed / 2**30:.2f} GiB), above "
            f"max_bytes={max_bytes}; pass a larger max_bytes to allow it"
        )
    limit = max(100_000, 50 * n * m) if max_iter is None else max_iter
    C = cost_matrix(xt, yt, ground_cost).cpu().numpy()
    with warnings.catch_warnings():
        # POT warns on its own when not optimal; the result code is read and reported below instead.
        warnings.simplefilter("ignore", UserWarning)
        cost, log = ot.emd2(at.cpu().numpy(), bt.cpu().numpy(), C, numItermax=limit, log=True)
    if log["warning"] is not None:
        raise RuntimeError(
            f"emd: the network simplex stopped before the optimum ({log['warning']}; POT result code "
            f"{log['result_code']}, max_iter={limit}); its cost {float(cost):.6g} is not the earth mover's distance "
            "(it can be too high or too low), so none is returned. Raise max_iter."
        )
    return float(cost)


def _emd_1d(x: torch.Tensor, y: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> float:
    """Return ``int |F_a(t) - F_b(t)| dt`` for weighted points on the line (the CDFs are step functions)."""
    x_sorted, x_order = torch.sort(x)
    y_sorted, y_order = torch.sort(y)
    zero = x.new_zeros(1)
    cdf_a = torch.cat([zero, torch.cumsum(a[x_order], dim=0)])
    cdf_b = torch.cat([zero, torch.cumsum(b[y_order], dim=0)])
    t = torch.sort(torch.cat([x, y])).values
    # On [t_k, t_k+1) each CDF equals its cumulative weight up to the last point <= t_k.
    at_a = cdf_a[torch.searchsorted(x_sorted, t[:-1], right=True)]
    at_b = cdf_b[torch.searchsorted(y_sorted, t[:-1], right=True)]
    return float((at_a - at_b).abs() @ torch.diff(t))
