"""Case ``memory``: peak resident memory of FID statistics streamed over N feature vectors, for growing N.

Each measurement runs in a fresh child process (``python -m bench.memory METHOD N D``), which imports everything
first, resets its peak-RSS mark (``/proc/self/clear_refs``; ``resource.getrusage`` where that is missing) and
records its RSS as the baseline, then streams N seeded float32 features
of dimension D in batches of 1,000 (as an extractor hands them over) into the method's accumulator and takes
the mean and covariance. The value reported is the peak RSS (``VmHWM``) above that baseline, so that it
shows what the statistics cost, not what the imports cost. Methods:

- ours: ``FeatureStats.update`` per batch (O(d²) float64 state);
- torchmetrics: ``FrechetInceptionDistance.update`` (float64 sums of x and x xᵀ, O(d²)) fed the features through
  an identity extractor, then mean and covariance from its states as its ``compute`` forms them;
- pytorch-fid: its ``get_activations`` pattern, a preallocated float64 ``(N, D)`` array filled batch by batch,
  then ``calculate_activation_statistics``' ``np.mean`` and ``np.cov`` (copied here: the real function needs
  image files);
- torch-fidelity: the batches kept as tensors, ``torch.cat``, then its own ``fid_features_to_statistics``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench._harness import Config, Row, Table

NAME = "memory"
TITLE = "Peak memory of streaming FID statistics"
METHODS = ("ours", "torchmetrics", "pytorch-fid", "torch-fidelity")
BATCH = 1000


def _batches(n: int, d: int):  # noqa: ANN202 - a generator of float32 arrays
    rng = np.random.default_rng(0)
    scales = rng.uniform(0.05, 0.5, size=d).astype(np.float32)
    for start in range(0, n, BATCH):
        yield rng.standard_normal((min(BATCH, n - start), d), dtype=np.float32) * scales + 0.5


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        return next(float(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024  # kB


def _reset_peak() -> float:
    """Reset the peak-RSS mark to the current RSS and return that (MiB).

    ``getrusage``'s ``ru_maxrss`` survives ``exec``: a child started from a large parent reports the parent's
    peak. On Linux the process's own high-water mark ``VmHWM`` is reset by writing 5 to ``clear_refs``.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status_mib("VmRSS")
    except OSError:  # not Linux: the rusage peak, which may include the parent's
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peak_mib() -> float:
    try:
        return _status_mib("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def child(method: str, n: int, d: int) -> dict[str, float]:
    """Stream the features into ``method``'s accumulator; return peak RSS (MiB), baseline, time, trace of Σ."""
    import torch

    from ganmetrics.metrics.statistics import FeatureStats

    torch.zeros(1).sum()
    baseline = _reset_peak()
    start = time.perf_counter()
    if method == "ours":
        stats = FeatureStats(d)
        for batch in _batches(n, d):
            stats.update(batch)
        sigma = stats.sigma.numpy()
    elif method == "torchmetrics":
        from torchmetrics.image.fid import FrechetInceptionDistance

        from bench.kernel import _Identity

        metric = FrechetInceptionDistance(feature=_Identity(d))
        for batch in _batches(n, d):
            metric.update(torch.from_numpy(batch), real=True)
        count = metric.real_features_num_samples
        mean = (metric.real_features_sum / count).unsqueeze(0)
        sigma = ((metric.real_features_cov_sum - count * mean.t().mm(mean)) / (count - 1)).numpy()
    elif method == "pytorch-fid":
        pred_arr = np.empty((n, d))
        start_idx = 0
        for batch in _batches(n, d):
            pred_arr[start_idx : start_idx + batch.shape[0]] = batch
            start_idx += batch.shape[0]
        np.mean(pred_arr, axis=0)
        sigma = np.cov(pred_arr, rowvar=False)
    elif method == "torch-fidelity":
        from torch_fidelity.metric_fid import fid_features_to_statistics

        kept = [torch.from_numpy(batch) for batch in _batches(n, d)]
        sigma = fid_features_to_statistics(torch.cat(kept))["sigma"]
    else:
        raise ValueError(f"method: unknown {method!r}")
    return {
        "peak_mib": _peak_mib(),
        "baseline_mib": baseline,
        "seconds": time.perf_counter() - start,
        "trace": float(np.trace(sigma)),
    }


def _measure_in_child(method: str, n: int, d: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.memory", method, str(n), str(d)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(config: Config) -> list[Table]:
    d = config.pick(64, 2048, 2048)
    sizes = config.pick((1000,), (10_000, 100_000), (10_000, 100_000))
    rows, traces = [], {}
    for n in sizes:
        for method in METHODS:
            result = _measure_in_child(method, n, d)
            traces[method, n] = result["trace"]
            row = Row(
                f"{method}, N = {n:,}",
                method == "ours",
                f"{result['seconds']:.1f} s, baseline {result['baseline_mib']:.0f} MiB",
            )
            row.value = result["peak_mib"] - result["baseline_mib"]
            rows.append(row)
    worst = max(abs(t - traces["ours", n]) / traces["ours", n] for (_, n), t in traces.items())
    notes = [
        f"One child per row; d = {d}, float32 features in batches of {BATCH}. Agreement: tr Σ of every method "
        f"within {worst:.1e} (relative) of ours."
    ]
    if len(sizes) > 1:
        growth = {m: rows[len(METHODS) + k].value - rows[k].value for k, m in enumerate(METHODS)}
        notes.insert(
            0,
            f"From N = {sizes[0]:,} to N = {sizes[1]:,} the peak grows by: "
            + ", ".join(f"{m} {g:.0f} MiB" for m, g in growth.items())
            + ".",
        )
    return [
        Table(
            f"Peak RSS above the post-import baseline, d = {d}",
            rows,
            "",
            None,
            value_name="peak RSS − baseline (MiB)",
            notes=notes,
            timed=False,
            value_format=".0f",
        )
    ]


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
