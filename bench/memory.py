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
- torch-fidelity: the batches kept as tensors, ``torch.cat``, then its own ``fid_features_to_statistics``;
- in the timing table only, ``dsyrk alone``: ours' BLAS calls without anything around them (the same dsyrk per
  batch, on zeros, between the same generated batches), the time no implementation on this BLAS goes below.
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
TITLE = "Peak memory and time of streaming FID statistics"
METHODS = ("ours", "torchmetrics", "pytorch-fid", "torch-fidelity")
BATCH = 1000
# Timing only: ours' update without its conversion and centring, i.e. only its dsyrk per batch (on zeros, between
# the same generated batches): the time ours cannot go below with this BLAS.
BOUND = "dsyrk alone"


_GENERATION_SECONDS = [0.0]  # time spent making the features, subtracted from each method's time


def _batches(n: int, d: int):  # noqa: ANN202 - a generator of float32 arrays
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    scales = rng.uniform(0.05, 0.5, size=d).astype(np.float32)
    for first in range(0, n, BATCH):
        batch = rng.standard_normal((min(BATCH, n - first), d), dtype=np.float32) * scales + 0.5
        _GENERATION_SECONDS[0] += time.perf_counter() - start
        yield batch
        start = time.perf_counter()


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


def child(method: str, n: int, d: int) -> dict[str, float | None]:
    """Stream the features into ``method``'s accumulator; return peak RSS (MiB), baseline, time, trace of Σ."""
    import torch
    from torch_fidelity.metric_fid import fid_features_to_statistics
    from torchmetrics.image.fid import FrechetInceptionDistance

    from bench.kernel import _Identity
    from ganmetrics.metrics._blas import syrk_
    from ganmetrics.metrics.statistics import FeatureStats

    torch.zeros(1).sum()
    _GENERATION_SECONDS[0] = 0.0
    baseline = _reset_peak()
    start = time.perf_counter()
    if method == "ours":
        stats = FeatureStats(d)
        for batch in _batches(n, d):
            stats.update(batch)
        sigma = stats.sigma.numpy()
    elif method == "torchmetrics":
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
        kept = [torch.from_numpy(batch) for batch in _batches(n, d)]
        sigma = fid_features_to_statistics(torch.cat(kept))["sigma"]
    elif method == BOUND:
        m2, rows = torch.zeros(d, d, dtype=torch.float64), torch.zeros(BATCH + 1, d, dtype=torch.float64)
        for batch in _batches(n, d):
            syrk_(m2, rows[: batch.shape[0] + 1], transpose=True, beta=1.0)
        sigma = None  # no covariance: the rows above are not the features
    else:
        raise ValueError(f"method: unknown {method!r}")
    seconds = time.perf_counter() - start - _GENERATION_SECONDS[0]
    trace = None if sigma is None else float(np.trace(sigma))
    return {"peak_mib": _peak_mib(), "baseline_mib": baseline, "seconds": seconds, "trace": trace}


def _measure_in_children(methods: tuple[str, ...], n: int, d: int, one_child: bool) -> dict[str, dict[str, float]]:
    """Return each method's ``child`` result: one fresh child process per method, or with ``one_child`` (smoke
    scale: one interpreter start instead of four) all methods in turn in one child, each after a peak reset."""
    results = {}
    for group in [methods] if one_child else [(method,) for method in methods]:
        out = subprocess.run(
            [sys.executable, "-m", "bench.memory", ",".join(group), str(n), str(d)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        lines = out.stdout.strip().splitlines()[-len(group) :]
        results.update({method: json.loads(line) for method, line in zip(group, lines, strict=True)})
    return results


def run(config: Config) -> list[Table]:
    d = config.pick(64, 2048, 2048)
    sizes = config.pick((1000,), (10_000, 100_000), (10_000, 100_000))
    rows, traces, last_round = [], {}, {}
    for n in sizes:
        timed = (BOUND,) if n == sizes[-1] else ()  # the last size's runs are the timing's first round
        last_round = _measure_in_children(METHODS + timed, n, d, one_child=config.scale == "smoke")
        for method, result in last_round.items():
            if method == BOUND:
                continue
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
        f"One child per row (smoke scale: one child for all); d = {d}, float32 features in batches of {BATCH}. "
        f"Agreement: tr Σ of every method within {worst:.1e} (relative) of ours."
    ]
    if len(sizes) > 1:
        growth = {m: rows[len(METHODS) + k].value - rows[k].value for k, m in enumerate(METHODS)}
        notes.insert(
            0,
            f"From N = {sizes[0]:,} to N = {sizes[1]:,} the peak grows by: "
            + ", ".join(f"{m} {round(g) or 0} MiB" for m, g in growth.items())
            + ".",
        )
    memory = Table(
        f"Peak RSS above the post-import baseline, d = {d}",
        rows,
        "",
        None,
        value_name="peak RSS − baseline (MiB)",
        notes=notes,
        timed=False,
        value_format=".0f",
    )
    return [memory, _timing(sizes[-1], d, config, last_round)]


def _timing(n: int, d: int, config: Config, first_round: dict[str, dict[str, float]]) -> Table:
    """Return the time each method takes to stream ``n`` features into mean and covariance: the memory runs at
    ``n`` are the first round, then more rounds of fresh children, methods round-robin (the harness's rule)."""
    rows = [Row(method, method == "ours", "") for method in METHODS]
    rows.append(Row(BOUND, False, "ours' dsyrk calls only: no conversion, no centring", baseline=True))
    for round_ in range(max(config.min_runs, config.repeats)):
        for row in rows:
            result = first_round[row.name] if round_ == 0 else _measure_in_children((row.name,), n, d, False)[row.name]
            row.times.append(result["seconds"])
            row.value = result["trace"]
    flops = n * d * (d + 1) / 1e9
    ours, bound = rows[0], rows[-1]
    best_peer = min((row for row in rows[1:-1]), key=lambda row: row.median)
    notes = [
        "Seconds inside the child from the first batch to the covariance, without making the features (the same "
        "seeded generator for every method, timed and subtracted) and without imports.",
        f"Work: the float64 M2 is {flops:.3g} GFLOP as a symmetric rank-k update (ours: one dsyrk per batch; "
        f"torch-fidelity and pytorch-fid: numpy's cov on all N rows, whose x xᵀ numpy forms by syrk too), twice "
        f"that as a general product (torchmetrics' float64 x xᵀ). Ours ran at {flops / ours.median:.0f} GFLOP/s "
        f"(median run; best run {flops / min(ours.times):.0f}); the dsyrk peak is in the `kernel` case's table "
        f'"BLAS rates".',
        f"Limit: the dsyrk calls alone took {bound.median:.3g} s ({flops / bound.median:.0f} GFLOP/s): ours spends "
        f"{ours.median / bound.median - 1:.0%} beyond them, and nothing built on this dsyrk can beat "
        f"{best_peer.name} by more than {best_peer.median / bound.median:.2f}× here.",
    ]
    return Table(
        f"Time to stream N = {n:,} features of d = {d} into mean and covariance",
        rows,
        "pytorch-fid (numpy two-pass float64 cov)",
        rows[METHODS.index("pytorch-fid")].value,
        value_name="tr Σ",
        notes=notes,
    )


if __name__ == "__main__":
    for name in sys.argv[1].split(","):
        print(json.dumps(child(name, int(sys.argv[2]), int(sys.argv[3]))), flush=True)
