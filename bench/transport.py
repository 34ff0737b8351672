"""Case ``transport``: entropic (Sinkhorn) and exact (EMD) optimal transport between feature samples.

Sinkhorn: ours (log-stabilised scalings with absorption) against POT's ``ot.sinkhorn2`` with numpy inputs and
``method="sinkhorn"``, ``"sinkhorn_log"`` and ``"sinkhorn_stabilized"``, and with torch inputs (POT's torch
backend, plain method). All run with the same iteration limit and stopping threshold (POT's defaults, 1,000 and
1e-9 on the L2 marginal error); ε is a multiple of the median cost. Reference: POT's log-domain method, which does
not underflow. A value that is NaN, or far from the reference, is the peer's answer as returned.

- Solver tables (one per d and ε): every solver gets the same precomputed float64 cost matrix (ours
  ``sinkhorn_from_cost(C)``, POT ``ot.sinkhorn2(a, b, M)`` with ``M`` the same memory), so they time the solvers.
- From-points tables (one per d): ours ``sinkhorn_distance(x, y)`` against ``ot.dist`` + ``ot.sinkhorn2`` (plain and
  log domain), so the time includes building the cost matrix (at d = 2,048 a float64 GEMM that dominates).
- Underflow table: two samples far apart and ε small enough that every entry of ``exp(-C/ε)`` underflows to 0,
  the regime where plain Sinkhorn-Knopp fails.

A Sinkhorn row stops repeating once its runs have taken ``SLOW_ROW_S`` (or ``--row-budget`` if smaller), after one
run (the table's notes list such rows): at n = 5,000 POT's log-domain method takes ~10 s per run and its stabilised
one 100 s or more at ε = 0.05 × median.

EMD: ours against ``ot.emd2`` with its default iteration limit and the assignment route
(``scipy.optimize.linear_sum_assignment`` on the cost matrix), exact for uniform weights and equal sizes, hence
the reference.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import numpy as np
import ot
import torch
from scipy.optimize import linear_sum_assignment

from bench._data import features
from bench._harness import Config, Impl, Table, measure
from ganmetrics.metrics.transport import ConvergenceWarning, cost_matrix, emd, sinkhorn_distance, sinkhorn_from_cost

NAME = "transport"
TITLE = "Sinkhorn and exact EMD"
MAX_ITER = 1000  # POT's default numItermax for ot.sinkhorn2
TOL = 1e-9  # POT's default stopThr and ours
SLOW_ROW_S = 20.0  # the most a Sinkhorn row spends on repeats, after its first run
FACTORS = (0.05, 0.1, 1.0)  # ε as a multiple of the median cost
UNDERFLOW_SHIFT = 1.0  # added to every coordinate of the second sample in the underflow table
UNDERFLOW_FACTOR = 0.0012  # ε / median cost there: C / ε > 745 everywhere (exp underflows to 0 below e^-745)


def _uniform(k: int, like: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    if isinstance(like, torch.Tensor):
        return torch.full((k,), 1.0 / k, dtype=like.dtype, device=like.device)
    return np.full(k, 1.0 / k)


def _pot_sinkhorn(M: np.ndarray | torch.Tensor, reg: float, method: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # POT warns on non-convergence and overflow; the value shows it
        value = ot.sinkhorn2(
            _uniform(M.shape[0], M), _uniform(M.shape[1], M), M, reg, method=method, numItermax=MAX_ITER, stopThr=TOL
        )
    return float(value)


def _pot_from_points(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, reg: float, method: str) -> float:
    return _pot_sinkhorn(ot.dist(x, y, metric="euclidean"), reg, method)


def _ours(call: Callable[[], float], name: str, unconverged: list[str]) -> float:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        value = call()
    if any(issubclass(w.category, ConvergenceWarning) for w in caught) and name not in unconverged:
        unconverged.append(name)
    return value


def _sinkhorn_measure(title: str, impls: list[Impl], config: Config, unconverged: list[str]) -> Table:
    """Time ``impls`` with the slow-row budget, take POT's log-domain value as the reference, add the notes."""
    budget = min(config.row_budget_s, SLOW_ROW_S)
    table = measure(title, impls, dataclasses.replace(config, min_runs=1, row_budget_s=budget), value_name="<P, C>")
    table.reference_name, table.reference = "POT sinkhorn_log", table.row("POT sinkhorn_log").value
    short = [
        f"{r.name}{f' ({r.note})' if r.note else ''}: {len(r.times)}"
        for r in table.rows
        if r.times and len(r.times) < config.repeats
    ]
    if short:
        table.notes.append(f"Cut short after using the row budget of {budget:.0f} s (runs made): {'; '.join(short)}.")
    if unconverged:
        table.notes.append(
            f"{', '.join(unconverged)} did not meet tol = {TOL} within {MAX_ITER} iterations "
            "(ConvergenceWarning); POT's methods stop at the same limit, silently."
        )
    return table


def _sample_pair(n: int, d: int, shift: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    return features(n, d, seed=21), features(n, d, seed=22, shift=shift)


def _costs(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, float]:
    """Return the float64 euclidean cost matrix (ours, accurate to ~1e-12) and its median entry."""
    C = cost_matrix(torch.from_numpy(x), torch.from_numpy(y), "euclidean")
    return C, float(C.median())


def _solver_impls(C: torch.Tensor, reg: float, unconverged: list[str]) -> list[Impl]:
    M = C.numpy()  # the same memory: POT and ours read the same matrix
    impls = [
        Impl(
            "sinkhorn_from_cost",
            lambda: _ours(lambda: sinkhorn_from_cost(C, reg, max_iter=MAX_ITER, tol=TOL), "ours", unconverged),
            ours=True,
        )
    ]
    impls += [
        Impl("POT sinkhorn", lambda: _pot_sinkhorn(M, reg, "sinkhorn"), note="numpy"),
        Impl("POT sinkhorn_log", lambda: _pot_sinkhorn(M, reg, "sinkhorn_log"), note="numpy"),
        Impl("POT sinkhorn_stabilized", lambda: _pot_sinkhorn(M, reg, "sinkhorn_stabilized"), note="numpy"),
        Impl("POT sinkhorn", lambda: _pot_sinkhorn(C, reg, "sinkhorn"), note="torch backend"),
    ]
    if torch.cuda.is_available():
        Cc = C.cuda()
        impls.insert(
            1,
            Impl(
                "sinkhorn_from_cost",
                lambda: _ours(
                    lambda: sinkhorn_from_cost(Cc, reg, max_iter=MAX_ITER, tol=TOL), "ours (CUDA)", unconverged
                ),
                ours=True,
                note="CUDA",
            ),
        )
    return impls


def solver_table(n: int, d: int, factor: float, config: Config) -> Table:
    C, median = _costs(*_sample_pair(n, d))
    reg = factor * median
    unconverged: list[str] = []
    table = _sinkhorn_measure(
        f"Sinkhorn solvers on one precomputed cost matrix, n = {n} per side, d = {d}, ε = {factor} × median cost "
        f"= {reg:.4g}",
        _solver_impls(C, reg, unconverged),
        config,
        unconverged,
    )
    table.notes.append(
        "Ours tests POT's stopping rule after every iteration, POT after every 10th, so POT may run "
        "up to 9 iterations more: the values then differ by about the tolerance."
    )
    return table


def points_table(n: int, d: int, factor: float, config: Config) -> Table:
    x, y = _sample_pair(n, d)
    reg = factor * _costs(x, y)[1]
    unconverged: list[str] = []
    impls = [
        Impl(
            "sinkhorn_distance",
            lambda: _ours(lambda: sinkhorn_distance(x, y, reg, max_iter=MAX_ITER, tol=TOL), "ours", unconverged),
            ours=True,
        )
    ]
    # POT's plain and log-domain methods only: the solver tables above show the others on the same problem.
    impls += [
        Impl("POT sinkhorn", lambda: _pot_from_points(x, y, reg, "sinkhorn"), note="numpy"),
        Impl("POT sinkhorn_log", lambda: _pot_from_points(x, y, reg, "sinkhorn_log"), note="numpy"),
    ]
    if torch.cuda.is_available():
        xc, yc = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
        impls.insert(
            1,
            Impl(
                "sinkhorn_distance",
                lambda: _ours(
                    lambda: sinkhorn_distance(xc, yc, reg, max_iter=MAX_ITER, tol=TOL), "ours (CUDA)", unconverged
                ),
                ours=True,
                note="CUDA",
            ),
        )
    table = _sinkhorn_measure(
        f"Sinkhorn from the points (cost matrix included), n = {n} per side, d = {d}, ε = {factor} × median cost "
        f"= {reg:.4g}",
        impls,
        config,
        unconverged,
    )
    table.notes.append(
        "Ours builds its cost matrix with cost_matrix (centred float64 expansion, near-duplicates "
        "recomputed); POT with ot.dist (float64 expansion)."
    )
    return table


def underflow_table(n: int, d: int, config: Config) -> Table:
    C, median = _costs(*_sample_pair(n, d, shift=UNDERFLOW_SHIFT))
    reg = UNDERFLOW_FACTOR * median
    unconverged: list[str] = []
    table = _sinkhorn_measure(
        f"Sinkhorn where exp(-C/ε) underflows, n = {n} per side, d = {d}, samples {UNDERFLOW_SHIFT:g} apart per "
        f"coordinate, ε = {UNDERFLOW_FACTOR} × median cost = {reg:.4g}",
        _solver_impls(C, reg, unconverged),
        config,
        unconverged,
    )
    underflow = float((torch.exp(-C / reg) == 0).double().mean())
    table.notes.append(
        f"{underflow:.0%} of the entries of exp(-C/ε) are 0 in float64 (smallest C / ε = "
        f"{float(C.min()) / reg:.0f}; e^-x is 0 beyond x = 745): there plain Sinkhorn-Knopp divides "
        "0 by 0. Solvers on the same matrix, as above. The speed-up line above compares with the "
        "fastest peer whatever its value: here only POT's log-domain method returns the cost."
    )
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

    impls = [
        Impl("emd", lambda: emd(x, y), ours=True),
        Impl("POT emd2", pot_emd, note="default numItermax"),
        Impl("linear_sum_assignment", assignment, note="scipy"),
    ]
    table = measure(f"Exact EMD, n = {n} per side, d = {d}", impls, config, value_name="EMD")
    table.reference_name, table.reference = (
        "linear_sum_assignment (exact here)",
        table.row("linear_sum_assignment").value,
    )
    if pot_warning:
        table.notes.append(f'POT emd2 stopped early and said so only in a warning: "{pot_warning[0]}".')
    table.notes.append(
        "Ours calls POT's network simplex with the iteration limit scaled to the problem (max(1e5, 50 n m)) and "
        "refuses to return a value that is not proven optimal; where it is slower than ot.emd2 it is because it "
        "runs on to the optimum where ot.emd2 stops at its default 100,000 iterations (and because it builds an "
        "accurate cost matrix)."
    )
    return table


def run(config: Config) -> list[Table]:
    n = config.pick(60, 5000, 5000)
    dims = config.pick((8,), (64, 2048), (64, 2048))
    tables = [solver_table(n, d, factor, config) for d in dims for factor in FACTORS]
    tables += [points_table(n, d, FACTORS[1], config) for d in dims]
    # Not at smoke scale: there POT's stabilised method returns NaN, by design of the table.
    tables += [underflow_table(n, dims[-1], config)] if config.scale != "smoke" else []
    # n = 5,000 under --full only: one run of ours takes ~16 s there and of the assignment route ~26 s (measured on
    # 2 cores), so the table alone takes minutes.
    emd_sizes = config.pick((50,), (1000, 2000), (1000, 2000, 5000))
    emd_d = config.pick(8, 2048, 2048)
    tables += [emd_table(size, emd_d, config) for size in emd_sizes]
    return tables
