"""Which metric sees collapse? GAN objectives and remedies on the 2-D mixtures, and a controlled collapse.

Part 1 (training study): on ring8 and grid25 (``ganmetrics.train.data``), each objective and remedy of
``METHODS`` is trained by ``ganmetrics.train.train`` with the recipe fixed here (not the trainer's defaults),
for the same number of generator steps, over several seeds. The final generator is scored on ``n`` fresh
samples against ``n`` fresh real points: modes covered, high-quality fraction and KL of the mode histogram to
uniform (``ganmetrics.train.modes``), FID (Fréchet distance of the coordinates), KID, MMD², the debiased Sinkhorn
divergence, EMD, precision and recall, all through the public functions of ``ganmetrics.metrics``.

Part 2 (controlled collapse): a perfect sampler of the mixture, the same sampler with 1, 2, 4 or 7 modes
dropped (their mass moved uniformly to the remaining modes), and with every mode blurred (sigma x 2, 4, 8),
scored the same way: which metric moves with dropped modes, which with blur.

Outputs (default and full scales): ``bench/collapse/RESULTS.md`` and the figures next to it; at smoke scale
they go to the bench work directory instead (``$GANMETRICS_BENCH_WORK``).
"""

from __future__ import annotations

import datetime
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch
from tqdm import tqdm

from bench._harness import Config, environment, load_average
from ganmetrics.metrics.frechet import fid_from_features
from ganmetrics.metrics.mmd import kid, mmd2_unbiased
from ganmetrics.metrics.prdc import prdc
from ganmetrics.metrics.transport import emd, sinkhorn_divergence
from ganmetrics.mixtures import MIXTURES, Mixture2D
from ganmetrics.numerics import one_torch_thread
from ganmetrics.train import TrainConfig, loop, train
from ganmetrics.train.checkpoint import load_checkpoint
from ganmetrics.train.losses import recipe
from ganmetrics.train.models import build_models
from ganmetrics.train.modes import HIGH_QUALITY, KL_UNIFORM, MODES_COVERED, mode_statistics

NAME = "collapse"
TITLE = "Which metric sees collapse? GAN objectives and remedies on ring8 and grid25"
RESULTS_DIR = Path(__file__).with_name("collapse")
DATASETS = ("ring8", "grid25")

# The recipe of every method, explicit: the trainer's defaults may change, the study must not. Adam's betas
# and WGAN's clip value / gradient-penalty weight come from ganmetrics.train.losses.recipe and are written
# into the results file as used. The BCE methods share the trainer's 2-D recipe (losses.MLP_BCE_RECIPE: Adam
# lr 2e-3, betas (0, 0.9), R1 gamma 0.1, lr decayed to 0) except batch 128 (not 1024) and depth 2 (not 3): on
# two idle cores, one thread each, NS costs 6.5 ms a step at batch 128 and depth 2, WGAN-GP 23 ms, unrolled
# K = 5 32 ms; at batch 512 the last two cost 59 and 137 ms and depth 3 about 1.6x NS's time (these three measured
# at load average 3-4), which would leave about a third of the steps in the study's budget. Steps, not the
# recipe, kept the 250-step study from converging: in calibration runs NS with this recipe covered 8/8 ring8
# modes after 1500 steps (seeds 1, 2: 36-45 % high-quality), as did the trainer's recipe (batch 1024, depth 3:
# 33-79 %); after 250 steps the latter covered none.
# The default study then gave NS 7.6 ± 0.55 of 8 modes over seeds 0-4 (bench/collapse/RESULTS.md).
NETWORK = dict(z_dim=16, width=128, depth=2, lr_decay=True)
NS = dict(loss="ns", lr=2e-3, batch_size=128, d_steps=1, r1=0.1)
METHODS: dict[str, dict[str, Any]] = {
    "minimax": {**NS, "loss": "minimax"},
    "NS": NS,
    "WGAN-clip": dict(loss="wgan", lr=1e-3, batch_size=128, d_steps=5, r1=0.0),
    "WGAN-GP": dict(loss="wgan-gp", lr=1e-3, batch_size=128, d_steps=5, r1=0.0),
    "NS + feature matching": {**NS, "feature_matching": True},
    "NS + label smoothing": {**NS, "real_label": 0.9},
    "NS + instance noise": {**NS, "instance_noise": 0.1},
    "NS + historical averaging": {**NS, "historical_averaging": 1e-2},
    "NS + unrolled K=5": {**NS, "unroll": 5},
}
# Entropic regularisation of the Sinkhorn divergence, in the units of the coordinates (ring radius 2, grid
# spacing 2): 0.1 resolves the modes' spacing and converges in seconds at n = 500.
SINKHORN_REG = 0.1
SINKHORN_TOL = 1e-5
DROPPED = (1, 2, 4, 7)
BLUR = (2, 4, 8)
SNAPSHOTS = 5  # columns of the snapshot grid: step 0 and four more, evenly spaced

# (key, column title, higher is better)
METRICS: list[tuple[str, str, bool]] = [
    (MODES_COVERED, "modes", True),
    (HIGH_QUALITY, "high-quality", True),
    (KL_UNIFORM, "KL(modes‖U)", False),
    ("fid", "FID", False),
    ("kid", "KID", False),
    ("mmd2", "MMD²", False),
    ("sinkhorn", "Sinkhorn div.", False),
    ("emd", "EMD", False),
    ("precision", "precision", True),
    ("recall", "recall", True),
]


@dataclass(frozen=True)
class Sizes:
    steps: int
    seeds: int
    n: int  # points scored on each side
    workers: int


def sizes(config: Config) -> Sizes:
    return config.pick(
        Sizes(steps=8, seeds=1, n=80, workers=1),
        # 1500 steps: the 90 runs' training costs about 0.53 s of wall time per step on two idle cores (the
        # per-step costs above, summed over methods, datasets and seeds, halved by the two workers), plus the
        # seed-0 snapshots and the scoring: about 16 minutes estimated, 14 measured (859 s at load average 3).
        Sizes(steps=1500, seeds=5, n=500, workers=2),
        Sizes(steps=3000, seeds=10, n=1000, workers=2),
    )


def score(fake: torch.Tensor, real: torch.Tensor, mixture: Mixture2D) -> dict[str, float]:
    """Return every metric of ``METRICS`` for generated points ``fake`` against real points ``real``."""
    fake, real = fake.to(torch.float64), real.to(torch.float64)
    n = min(len(fake), len(real))
    result = dict(mode_statistics(fake, mixture.centres, mixture.sigma))
    pr = prdc(real, fake)
    sinkhorn = sinkhorn_divergence(real, fake, SINKHORN_REG, tol=SINKHORN_TOL)
    result.update(
        fid=fid_from_features(real, fake),
        kid=kid(real, fake, subsets=100, subset_size=n // 2, seed=0)[0],
        mmd2=mmd2_unbiased(real, fake).mmd2,
        sinkhorn=sinkhorn,
        emd=emd(real, fake),
        precision=pr.precision,
        recall=pr.recall,
    )
    return result


def _reference(mixture: Mixture2D, n: int, seed: int) -> torch.Tensor:
    return mixture.sample(n, torch.Generator().manual_seed(20_000 + seed))


def _train_job(job: tuple[str, str, int, Sizes, str]) -> dict[str, Any]:
    """Train one (dataset, method, seed) and score its final generator; seed 0 also returns its snapshots."""
    dataset, method, seed, size, work = job
    out = Path(work) / dataset / method.replace(" ", "_").replace("+", "").replace("=", "") / str(seed)
    snapshot_every = max(1, size.steps // (SNAPSHOTS - 1))
    config = TrainConfig(
        data=dataset,
        steps=size.steps,
        seed=seed,
        device="cpu",
        **NETWORK,
        **METHODS[method],
        eval_every=snapshot_every if seed == 0 else size.steps,
        eval_samples=max(16, size.n) if seed == 0 else 16,
        checkpoint_every=size.steps,
        log_every=size.steps,
    )
    started = time.perf_counter()
    # The trainer redraws its loss/metric/snapshot figures at every evaluation (~1-17 s each under load, far
    # more than the training steps here); the study draws its own figures, so the per-run ones are skipped.
    with mock.patch.object(loop, "_write_plots", lambda *args: None):
        train(config, out, overwrite=True, progress=False)
    wall = time.perf_counter() - started
    mixture = MIXTURES[dataset]()
    generator, _ = build_models((2,), config.z_dim, config.width, config.depth, critic_batch_norm=True)
    generator.load_state_dict(load_checkpoint(out / "checkpoint.pt")["generator"])
    generator.eval()
    with torch.no_grad():
        fake = generator(torch.randn(size.n, config.z_dim, generator=torch.Generator().manual_seed(10_000 + seed)))
    result: dict[str, Any] = {
        "dataset": dataset,
        "method": method,
        "seed": seed,
        "wall": wall,
        "metrics": score(fake, _reference(mixture, size.n, seed), mixture),
    }
    if seed == 0:
        result["snapshots"] = [(int(p.stem.split("_")[1]), np.load(p)) for p in sorted((out / "samples").glob("*.npy"))]
    return result


def conditions() -> list[str]:
    return ["perfect", *(f"{k} dropped" for k in DROPPED), *(f"σ × {f}" for f in BLUR)]


def _controlled_job(job: tuple[str, int, Sizes]) -> dict[str, Any]:
    """Score the perfect sampler, its mode-dropped and its blurred variants for one (dataset, seed)."""
    dataset, seed, size = job
    mixture = MIXTURES[dataset]()
    real = _reference(mixture, size.n, seed)
    draw = torch.Generator().manual_seed(30_000 + seed)
    order = torch.randperm(len(mixture.centres), generator=draw)
    variants = {"perfect": mixture}
    for k in DROPPED:
        variants[f"{k} dropped"] = Mixture2D(mixture.centres[order[k:]], mixture.sigma)
    for f in BLUR:
        variants[f"σ × {f}"] = Mixture2D(mixture.centres, mixture.sigma * f)
    return {
        "dataset": dataset,
        "seed": seed,
        "metrics": {name: score(v.sample(size.n, draw), real, mixture) for name, v in variants.items()},
    }


def _map(function: Any, jobs: list, workers: int, desc: str) -> list:
    """Return ``[function(job) for job in jobs]``, run by ``workers`` forked processes of one torch thread each (in
    this process, on one thread, for ``workers=1``), with a bar on stderr."""
    bar = tqdm(total=len(jobs), desc=desc, file=sys.stderr, dynamic_ncols=True)
    if workers == 1:
        results = []
        with one_torch_thread():
            for job in jobs:
                results.append(function(job))
                bar.update(1)
    else:
        with multiprocessing.get_context("fork").Pool(workers, torch.set_num_threads, (1,)) as pool:
            results = []
            for result in pool.imap(function, jobs, chunksize=1):
                results.append(result)
                bar.update(1)
    bar.close()
    return results


def _mean_sd(values: list[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "—"
    mean = statistics.fmean(finite)
    sd = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return f"{mean:.3g} ± {sd:.2g}"


def _table(title: str, rows: dict[str, list[dict[str, float]]], extra: dict[str, list[float]] | None = None) -> str:
    """Return a markdown table: one row per key of ``rows`` (its per-seed metric dicts), mean ± sd per metric."""
    head = ["", *(t + (" ↑" if up else " ↓") for _, t, up in METRICS)] + (["wall s"] if extra else [])
    lines = [f"#### {title}", "", "| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name, runs in rows.items():
        cells = [_mean_sd([r[key] for r in runs]) for key, _, _ in METRICS]
        if extra:
            cells.append(_mean_sd(extra[name]))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def normalised_change(per_condition: dict[str, list[dict[str, float]]], key: str, higher_better: bool) -> dict:
    """Return ``{condition: (mean(condition) - mean(perfect)) / max |change|}``, signed so that worse is positive."""
    means = {c: statistics.fmean(r[key] for r in runs) for c, runs in per_condition.items()}
    sign = -1.0 if higher_better else 1.0
    changes = {c: sign * (m - means["perfect"]) for c, m in means.items()}
    largest = max(abs(v) for v in changes.values()) or 1.0
    return {c: v / largest for c, v in changes.items()}


def _figure_metrics(controlled: dict[str, dict[str, list]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(controlled), 2, figsize=(11, 4.2 * len(controlled)), squeeze=False)
    for row, (dataset, per_condition) in enumerate(controlled.items()):
        for col, (label, xs, names) in enumerate(
            [
                ("modes dropped", [0, *DROPPED], ["perfect", *(f"{k} dropped" for k in DROPPED)]),
                ("blur: σ multiplied by", [1, *BLUR], ["perfect", *(f"σ × {f}" for f in BLUR)]),
            ]
        ):
            ax = axes[row][col]
            for i, (key, title, up) in enumerate(METRICS):
                change = normalised_change(per_condition, key, up)
                ax.plot(
                    xs,
                    [change[c] for c in names],
                    marker="o",
                    label=title,
                    linestyle="-" if i < 8 else "--",
                    color=plt.cm.tab10(i % 10),
                )
            ax.axhline(0, color="grey", linewidth=0.8)
            ax.set_xlabel(label)
            ax.set_ylabel("change from perfect / largest change (worse = up)")
            ax.set_title(f"{dataset}: metrics vs {'dropped modes' if col == 0 else 'blur'}")
            if col == 1:
                ax.set_xscale("log", base=2)
            ax.set_ylim(-1.1, 1.1)
    axes[0][1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, title="metric")
    fig.suptitle("Controlled collapse: each metric's move, normalised by its largest move over all perturbations")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _figure_snapshots(dataset: str, snapshots: dict[str, list], real: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max(len(s) for s in snapshots.values())
    fig, axes = plt.subplots(
        len(snapshots), columns, figsize=(1.9 * columns + 1.5, 1.9 * len(snapshots)), squeeze=False
    )
    limit = float(np.abs(real).max()) * 1.4
    ticks = [-round(limit / 1.4), 0, round(limit / 1.4)]
    for row, (method, shots) in enumerate(snapshots.items()):
        for col in range(columns):
            ax = axes[row][col]
            ax.set_xticks(ticks if row == len(snapshots) - 1 else [])
            ax.set_yticks(ticks if col == 0 else [])
            ax.tick_params(labelsize=7)
            ax.set_xlim(-limit, limit)
            ax.set_ylim(-limit, limit)
            if col >= len(shots):
                continue
            step, points = shots[col]
            ax.scatter(real[:, 0], real[:, 1], s=2, color="lightgrey", label="real")
            ax.scatter(points[:, 0], points[:, 1], s=2, color="tab:blue", label="generated")
            if row == 0:
                ax.set_title(f"step {step}", fontsize=9)
            if col == 0:
                ax.set_ylabel(f"{method}\nx₂", fontsize=8)
            if row == len(snapshots) - 1:
                ax.set_xlabel("x₁", fontsize=8)
    axes[0][0].legend(loc="lower left", fontsize=6, markerscale=3)
    fig.suptitle(f"{dataset}: generated (blue) over real (grey) samples, seed 0, one row per method")
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(path, dpi=80)
    plt.close(fig)


class Section:
    """A block of markdown for the runner (``markdown()``), like ``bench._harness.Table``."""

    def __init__(self, text: str) -> None:
        self.text = text

    def markdown(self) -> str:
        return self.text


def _recipes() -> str:
    lines = ["| method | loss | optimiser (betas) | lr | batch | D steps | other |", "|---|---|---|---:|---:|---:|---|"]
    for method, settings in METHODS.items():
        objective = recipe(settings["loss"], images=False)
        other = ", ".join(f"{k}={v}" for k, v in settings.items() if k not in ("loss", "lr", "batch_size", "d_steps"))
        if objective.clip is not None:
            other = ", ".join(filter(None, [other, f"clip={objective.clip}"]))
        if objective.gp_weight is not None:
            other = ", ".join(filter(None, [other, f"gp_weight={objective.gp_weight}"]))
        betas = f" {objective.betas}" if objective.betas else ""
        lines.append(
            f"| {method} | {settings['loss']} | {objective.optimizer}{betas} | {settings['lr']} | "
            f"{settings['batch_size']} | {settings['d_steps']} | {other or '—'} |"
        )
    return "\n".join(lines) + "\n"


def run(config: Config) -> list[Section]:
    """Run the study at ``config.scale`` and write the results file and figures; return its sections."""
    size = sizes(config)
    out = RESULTS_DIR
    if config.scale == "smoke":
        out = Path(os.environ.get("GANMETRICS_BENCH_WORK") or Path(tempfile.gettempdir()) / "ganmetrics-bench")
        out = out / "collapse"
    out.mkdir(parents=True, exist_ok=True)
    load_before, started = load_average(), time.perf_counter()
    when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="ganmetrics-collapse-") as work:
        # The costliest methods first, so that the workers finish together.
        costly = {"NS + unrolled K=5": 0, "WGAN-GP": 1, "WGAN-clip": 2}
        order = sorted(METHODS, key=lambda m: costly.get(m, len(costly)))
        jobs = [(d, m, s, size, work) for m in order for d in DATASETS for s in range(size.seeds)]
        trained = _map(_train_job, jobs, size.workers, "collapse: training")
    controlled_runs = _map(
        _controlled_job,
        [(d, s, size) for d in DATASETS for s in range(size.seeds)],
        size.workers,
        "collapse: controlled",
    )
    elapsed = time.perf_counter() - started

    sections = [
        f"Scale `{config.scale}`: {size.steps} generator steps per run, {size.seeds} seeds, {size.n} generated and "
        f"{size.n} real points scored, {size.workers} worker process(es) of one thread each. Started {when}; "
        f"{elapsed:.0f} s in all; load average (1/5/15 min) before {load_before}, after {load_average()}. "
        f"Sinkhorn divergence: euclidean cost, eps = {SINKHORN_REG}; MMD²: Gaussian kernel, median-heuristic "
        "bandwidth; KID: 100 subsets of n/2; precision/recall: k = 3 (Kynkäänniemi et al. 2019). Entries: mean ± "
        "sample standard deviation over seeds; ↑/↓: higher/lower is better.\n",
        "#### Recipes (fixed here; MLP G and D, width "
        f"{NETWORK['width']}, depth {NETWORK['depth']}, z_dim {NETWORK['z_dim']}, lr decayed linearly to 0)\n\n"
        + _recipes(),
    ]
    controlled: dict[str, dict[str, list]] = {}
    for dataset in DATASETS:
        runs = [r for r in trained if r["dataset"] == dataset]
        rows = {m: [r["metrics"] for r in runs if r["method"] == m] for m in METHODS}
        walls = {m: [r["wall"] for r in runs if r["method"] == m] for m in METHODS}
        sections.append(_table(f"{dataset}: final scores after {size.steps} steps", rows, walls))
        controlled[dataset] = {
            c: [r["metrics"][c] for r in controlled_runs if r["dataset"] == dataset] for c in conditions()
        }
        sections.append(
            _table(f"{dataset}: controlled collapse (perfect sampler, dropped modes, blur)", controlled[dataset])
        )
        snapshots = {m: r["snapshots"] for m in METHODS for r in runs if r["method"] == m and r["seed"] == 0}
        mixture = MIXTURES[dataset]()
        _figure_snapshots(dataset, snapshots, _reference(mixture, 1000, 0).numpy(), out / f"snapshots_{dataset}.png")
        sections.append(f"![{dataset} snapshots](snapshots_{dataset}.png)\n")
    _figure_metrics(controlled, out / "metrics_vs_collapse.png")
    sections.append("![metric vs modes dropped and blur](metrics_vs_collapse.png)\n")
    text = "\n".join(
        [
            f"# {TITLE}",
            "",
            "Written by `python -m bench collapse` (bench/collapse.py). Environment:",
            "",
            *environment(),
            "",
            *sections,
        ]
    )
    temporary = out / "RESULTS.md.tmp"
    temporary.write_text(text)
    os.replace(temporary, out / "RESULTS.md")
    return [Section(s) for s in sections[2:] if s.startswith("####")]
