"""The one table of defaults that both the Python API and the command line read.

Keeping them here means a keyword argument and its ``--flag`` can never drift apart.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    # Inception Score: number of contiguous splits (Salimans et al. 2016, original code).
    "splits": 10,
    # KID: number of random subsets and their size (Binkowski et al. 2018; torch-fidelity's defaults).
    "subsets": 100,
    "subset_size": 1000,
    # Seed for every random choice a metric makes (KID subsets, MMD median-heuristic subsample).
    "seed": 0,
    # Gaussian-kernel bandwidth for MMD; None selects the median heuristic.
    "sigma": None,
    # Ground metric for optimal transport (ot.dist names: "euclidean", "sqeuclidean", ...).
    "metric": "euclidean",
    # Sinkhorn iteration limit and stopping threshold on the marginal violation (L1 norm).
    "max_iter": 10_000,
    "tol": 1e-9,
    # Largest cost matrix (in bytes) the exact EMD builds before refusing; override with max_bytes.
    "emd_max_bytes": 4 * 1024**3,
    # Largest sample the median heuristic looks at (a seeded subsample above it).
    "median_subsample": 2000,
    # MMD: rows per kernel block, so no (n x n) matrix is ever built (a 4096 x 4096 float64 block is 128 MiB).
    "mmd_chunk_size": 4096,
}
