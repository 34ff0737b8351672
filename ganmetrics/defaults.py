"""The one table of defaults that the Python API, the command line and the trainer read.

Keeping them here means a keyword argument and its ``--flag`` can never drift apart. Keys are namespaced by what
they configure: ``is_``, ``kid_``, ``mmd_``, ``mmd_test_``, ``ot_``/``sinkhorn_``/``emd_``, ``prdc_``,
``extrapolation_``, ``ci_`` (metrics; the registry's option specs point at them), ``extract_`` (how images become
features), ``evaluator_`` and ``train_``; ``seed`` is shared by every random choice a metric makes.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    # Inception Score: number of contiguous splits (Salimans et al. 2016, original code).
    "is_splits": 10,
    # KID: number of random subsets and their size (Binkowski et al. 2018; torch-fidelity's defaults).
    "kid_subsets": 100,
    "kid_subset_size": 1000,
    # Seed for every random choice a metric makes (KID subsets, MMD median-heuristic subsample).
    "seed": 0,
    # Gaussian-kernel bandwidth for MMD; None selects the median heuristic.
    "mmd_sigma": None,
    # Ground metric for optimal transport (ot.dist names: "euclidean", "sqeuclidean", ...).
    "ot_ground_cost": "euclidean",
    # Sinkhorn iteration limit and stopping threshold on the marginal violation (L2 norm, as POT's stopThr).
    "sinkhorn_max_iter": 10_000,
    "sinkhorn_tol": 1e-9,
    # Largest cost matrix (in bytes) the exact EMD builds before refusing; override with max_bytes.
    "emd_max_bytes": 4 * 1024**3,
    # Largest sample the median heuristic looks at (a seeded subsample above it).
    "mmd_median_subsample": 2000,
    # MMD, KID, CMMD: rows per tile of the pooled sample's Gram matrix, so no (n x n) matrix is ever built (a
    # 2048 x 2048 float64 tile is 32 MiB, one per worker thread); 2,048 cuts the 4,000 pooled rows of a KID of
    # 2,000 per side into three tile pairs, which two threads share (ganmetrics.numerics.map_on_cpu_threads).
    "mmd_chunk_size": 2048,
    # Feature extraction: the extractor (ganmetrics.features.extractors), its preprocessing protocol
    # (ganmetrics.features.protocols), images per network batch, DataLoader workers (None: min(os.cpu_count(), 8)),
    # and the numeric mode ("fp32" exact, "fp32-fast" BatchNorm folded, "bf16"/"fp16" autocast;
    # ganmetrics.features.extract.NUMERICS).
    "extract_extractor": "inception",
    "extract_protocol": None,  # None: the extractor's first protocol ("pytorch-fid" for inception)
    "extract_batch_size": None,  # None: the extractor's default batch size (50 for inception)
    "extract_num_workers": None,
    "extract_numerics": "fp32",
    # GAN trainer (ganmetrics.train, `ganmetrics train`): the README's run on built-in data takes about a minute
    # on 2 CPU cores. Width is the MLP's hidden units or the DCGAN base channel count.
    "train_data": "ring8",
    "train_loss": "ns",
    "train_steps": 2000,
    "train_lr_decay": True,
    "train_real_label": 1.0,
    "train_instance_noise": 0.0,
    "train_device": "auto",
    "train_z_dim": 16,
    "train_width": 128,
    "train_depth": 3,
    "train_image_size": 32,
    "train_data_root": "data",
    "train_eval_every": 500,
    "train_eval_samples": 1000,
    "train_checkpoint_every": 500,
    "train_log_every": 50,
    # Sinkhorn while training on 2-D mixtures: regularisation in coordinate units, and a stopping threshold
    # looser than "tol" (its cost moves by < 0.1 % between 1e-5 and 1e-6; 1e-9 takes > 10,000 iterations).
    "train_sinkhorn_reg": 0.05,
    "train_sinkhorn_tol": 1e-5,
    # Training-loop metrics that keep all generated features (KID, MMD, OT): the most they keep in memory.
    "evaluator_max_samples": 50_000,
    # Precision/recall (Kynkaanniemi et al. 2019) use the k-th nearest neighbour radius with k = prdc_k; density
    # and coverage (Naeem et al. 2020) use density_coverage_k (their recommended 5). Rows per distance block.
    "prdc_k": 3,
    "prdc_density_k": 5,
    "prdc_chunk_size": 4096,
    # FID-infinity / IS-infinity (Chong & Forsyth 2020): number of subsample sizes and the smallest size.
    "extrapolation_points": 15,
    "extrapolation_min_size": 5000,
    # Percentile-bootstrap confidence intervals: level and number of resamples.
    "ci_level": 0.95,
    "ci_resamples": 200,
    # MMD permutation two-sample test: number of random permutations.
    "mmd_test_permutations": 1000,
    # Exact EMD: the network simplex's iteration limit (POT's numItermax); None scales it with the problem size,
    # max(100_000, 50 n m), because POT's default 100,000 stops short of the optimum at n = m = 5,000.
    "emd_max_iter": None,
    # MMD^2 and KID: dtype of the one matmul per kernel block ("float32": about twice the speed of "float64" on
    # CPUs; row norms, centring terms, kernel values and sums stay float64 either way, see ganmetrics.metrics.mmd).
    "mmd_matmul_dtype": "float32",
    # Report (ganmetrics.report): nearest real neighbours shown per generated sample, and the number of k-means
    # cells of the C_T data-copying test (Meehan et al. 2020; dgm-eval's compute_CTscore uses 3).
    "report_k": 3,
    "ct_cells": 3,
}
