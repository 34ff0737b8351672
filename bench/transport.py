"""Case ``transport``: entropic (Sinkhorn) and exact (EMD) optimal transport between feature samples.

Sinkhorn: ours (log-stabilised scalings with absorption) against POT's ``ot.sinkhorn2`` with numpy inputs and
``method="sinkhorn"``, ``"sinkhorn_log"`` and ``"sinkhorn_stabilized"``, and with torch inputs (POT's torch
backend, plain method); every peer's time includes its ``ot.dist`` cost matrix (ours builds its own). All
run with the same iteration limit and stopping threshold (POT's defaults, 1,000 and 1e-9 on the L2 marginal
error) and the euclidean cost; ε is a multiple of the median cost. Reference: POT's log-domain method, which
does not underflow. A value that is NaN, or far from the reference, is the peer's answer as returned.

EMD: ours against ``ot.emd2`` with its default iteration limit and the assignment route
(``scipy.optimize.linear_sum_assignment`` on the cost matrix), exact for uniform weights and equal sizes, hence
the reference.
"""

from __future__ import annotations

import warnings

import numpy as np
import ot
import torch
from scipy.optimize import linear_sum_assignment

from bench._data import features
from bench._harness import Config, Impl, Table, measure
from ganmetrics.metrics.transport import ConvergenceWarning, emd, sinkhorn_distance

NAME = "transport"
TITLE = "Sinkhorn and exact EMD"
MAX_ITER = 1000  # POT's default numItermax for ot.sinkhorn2
TOL = 1e-9  # POT's default stopThr and ours


def _pot_sinkhorn(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, reg: float, method: str) -> float:
    n, m = x.shape[0], y.shape[0]
    uniform = (lambda k: torch.full((k,), 1.0 / k, dtype=x.dtype, device=x.device)) if isinstance(
        x, torch.Tensor) else (lambda k: np.full(k, 1.0 / k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # POT warns on non-convergence and overflow; the value shows it
        value = ot.sinkhorn2(uniform(n), uniform(m), ot.dist(x, y, metric="euclidean"), reg, method=method,
                             numItermax=MAX_ITER, stopThr=TOL)
    return float(value)


def _ours_sinkhorn(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, reg: float,
                   unconverged: list[str]) -> float:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        value = sinkhorn_distance(x, y, reg, max_iter=MAX_ITER, tol=TOL)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        unconverged.append("ours")
    return value


def sinkhorn_table(n: int, d: int, factor: float, config: Config) -> Table:
    x, y = features(n, d, seed=21), features(n, d, seed=22, shift=0.02)
    median = float(np.median(ot.dist(x, y, metric="euclidean")))
    reg = factor * median
    unconverged: list[str] = []
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    impls = [
        Impl("sinkhorn_distance", lambda: _ours_sinkhorn(x, y, reg, unconverged), ours=True),
        Impl("POT sinkhorn", lambda: _pot_sinkhorn(x, y, reg, "sinkhorn"), note="numpy"),
        Impl("POT sinkhorn_log", lambda: _pot_sinkhorn(x, y, reg, "sinkhorn_log"), note="numpy"),
        Impl("POT sinkhorn_stabilized", lambda: _pot_sinkhorn(x, y, reg, "sinkhorn_stabilized"), note="numpy"),
        Impl("POT sinkhorn", lambda: _pot_sinkhorn(xt, yt, reg, "sinkhorn"), note="torch backend"),
    ]
    if torch.cuda.is_available():
        xc, yc = xt.cuda(), yt.cuda()
        impls.insert(1, Impl("sinkhorn_distance", lambda: _ours_sinkhorn(xc, yc, reg, unconverged), ours=True,
                             note="CUDA"))
    table = measure(f"Sinkhorn, n = {n} per side, d = {d}, ε = {factor} × median cost = {reg:.4g}", impls, config,
                    value_name="<P, C>")
    log_row = table.row("POT sinkhorn_log")
    table.reference_name, table.reference = "POT sinkhorn_log", log_row.value
    if unconverged:
        table.notes.append(f"Ours did not meet tol = {TOL} within {MAX_ITER} iterations (ConvergenceWarning); "
                           "POT's methods stop at the same limit, silently.")
    return table


def emd_table(n: int, d: int, config: Config) -> Table:
    x, y = features(n, d, seed=31), features(n, d, seed=32, shift=0.02)
    pot_warning: list[str] = []

    def pot_emd() -> float:
        uniform = np.full(n, 1.0 / n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            cost, log = ot.emd2(uniform, uniform, ot.dist(x, y, metric="euclidean"), log=True)
        if log["warning"] is not None:
            pot_warning[:] = [str(log["warning"])]
        return float(cost)

    def assignment() -> float:
        cost = ot.dist(x, y, metric="euclidean")
        rows, cols = linear_sum_assignment(cost)
        return float(cost[rows, cols].mean())

    impls = [Impl("emd", lambda: emd(x, y), ours=True), Impl("POT emd2", pot_emd, note="default numItermax"),
             Impl("linear_sum_assignment", assignment, note="scipy")]
    table = measure(f"Exact EMD, n = {n} per side, d = {d}", impls, config, value_name="EMD")
    table.reference_name, table.reference = "linear_sum_assignment (exact here)", table.row(
        "linear_sum_assignment").value
    if pot_warning:
        table.notes.append(f"POT emd2 stopped early and said so only in a warning: \"{pot_warning[0]}\".")
    table.notes.append(
        "Ours calls POT's network simplex with the iteration limit scaled to the problem (max(1e5, 50 n m)) and "
        "refuses to return a value that is not proven optimal; where it is slower than ot.emd2 it is because it "
        "runs on to the optimum (and builds an accurate cost matrix)."
    )
    return table


def run(config: Config) -> list[Table]:
    n = config.pick(60, 2000, 5000)
    dims = config.pick((8,), (64, 2048), (64, 2048))
    factors = (0.05, 0.1, 1.0)
    tables = [sinkhorn_table(n, d, factor, config) for d in dims for factor in factors]
    emd_sizes = config.pick((50,), (1000, 2000), (1000, 2000, 5000))
    emd_d = config.pick(8, 2048, 2048)
    tables += [emd_table(size, emd_d, config) for size in emd_sizes]
    return tables
