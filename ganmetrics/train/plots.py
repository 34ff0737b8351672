"""PNG figures of a run (matplotlib, Agg backend): loss and metric curves, 2-D snapshots, image grids.

Each function reads plain data (the records of ``metrics.jsonl``, sample arrays) and writes one file, so the
figures of a run can be redrawn from its output directory alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib import ticker  # noqa: E402
from PIL import Image  # noqa: E402

from ganmetrics.train.modes import HIGH_QUALITY, MODES_COVERED, mode_statistics  # noqa: E402

# The y-axis label of each metric panel. Distances on raw 2-D points are in coordinate units; on images, in the
# units of the Inception features.
METRIC_LABELS = {
    "fid": "FID (units²)",
    "kid_mean": "KID (polynomial kernel)",
    "mmd2": "MMD² (Gaussian kernel)",
    "sinkhorn": "Sinkhorn cost (units)",
    "emd": "EMD (units)",
    "modes_covered": "modes covered",
    "high_quality": "fraction within 3σ of a mode",
    "kl_uniform": "KL(modes ‖ uniform) (nats)",
}
REAL_COLOUR, FAKE_COLOUR, CENTRE_COLOUR = "0.6", "tab:blue", "tab:red"


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_losses(records: list[dict[str, Any]], path: Path) -> None:
    """Draw every logged loss against the step, one line each."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = sorted({name for r in records for name in r.get("losses", {})})
    for name in names:
        points = [(r["step"], r["losses"][name]) for r in records if name in r.get("losses", {})]
        ax.plot(*zip(*points, strict=True), label=name)
    ax.set_xlabel("generator step")
    ax.set_ylabel("value (BCE losses in nats)")
    ax.set_title("Training losses (mean over the steps since the previous log line)", fontsize=10)
    if names:
        ax.legend(fontsize=8)
    _save(fig, path)


def _readable_log_axis(ax: Any, values: list[float]) -> None:
    """Use a log y axis with plain-number ticks (1, 2, 5 per decade) when the values span over a decade."""
    low, high = min(values), max(values)
    if low <= 0 or high / low < 10:
        return
    ax.set_yscale("log")
    subs = (1.0, 2.0, 5.0) if high / low < 1e3 else (1.0,)
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def plot_metrics(records: list[dict[str, Any]], names: list[str], path: Path, modes: int | None = None) -> None:
    """Draw each metric in ``names`` against the step, one panel each (log scale where the values span a decade).

    ``modes``: the number of modes of a mixture, drawn as the target of the ``modes_covered`` panel (and 1 as the
    target of ``high_quality``).
    """
    scored = [r for r in records if "metrics" in r]
    names = [n for n in names if any(n in r["metrics"] for r in scored)]
    cols = min(4, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows + 0.6), squeeze=False)
    targets = {"modes_covered": modes, "high_quality": 1.0 if modes else None}
    for ax, name in zip(axes.flat, names, strict=False):  # spare panels are blanked below
        points = [(r["step"], r["metrics"][name]) for r in scored if name in r["metrics"]]
        steps, values = zip(*points, strict=True)
        ax.plot(steps, values, marker="o", markersize=3, color=FAKE_COLOUR, label="generated vs real")
        if targets.get(name) is not None:
            ax.axhline(targets[name], color="0.3", linestyle="--", linewidth=1, label="ideal")
        else:
            _readable_log_axis(ax, list(values))
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("generator step", fontsize=8)
        ax.set_ylabel(METRIC_LABELS.get(name, name), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    handles = {h.get_label(): h for ax in axes.flat for h in ax.get_lines()}
    fig.legend(handles.values(), handles.keys(), loc="upper right", fontsize=8, ncol=len(handles))
    fig.suptitle(
        "Metrics of the generator's fixed latent batch against the real reference sample",
        fontsize=10,
        x=0.01,
        ha="left",
    )
    _save(fig, path)


def plot_snapshots(
    real: np.ndarray,
    snapshots: list[tuple[int, np.ndarray]],
    path: Path,
    centres: np.ndarray,
    sigma: float,
    panels: int = 6,
) -> None:
    """Draw a row of scatter panels, real (grey) against generated (blue), at up to ``panels`` steps.

    The panels are evenly spaced over ``snapshots`` and always include the first and the last: the classic
    mode-collapse figure (e.g. Metz et al. 2017, Fig. 1). Mode ``centres`` (K, 2) are marked, and each panel
    prints the modes covered and the high-quality fraction of its samples (``modes.mode_statistics`` with the
    components' ``sigma``).
    """
    chosen = sorted({round(i) for i in np.linspace(0, len(snapshots) - 1, min(panels, len(snapshots)))})
    lim = 1.2 * float(np.abs(real).max())
    fig, axes = plt.subplots(1, len(chosen), figsize=(2.5 * len(chosen), 3.3), squeeze=False, sharey=True)
    for ax, index in zip(axes[0], chosen, strict=True):
        step, fake = snapshots[index]
        stats = mode_statistics(fake, centres, sigma)
        ax.scatter(real[:, 0], real[:, 1], s=3, c=REAL_COLOUR, linewidths=0, label="real")
        ax.scatter(fake[:, 0], fake[:, 1], s=2, c=FAKE_COLOUR, linewidths=0, label="generated")
        ax.scatter(
            centres[:, 0],
            centres[:, 1],
            s=30,
            marker="x",
            c=CENTRE_COLOUR,
            linewidths=0.8,
            label="mode centre",
            zorder=3,
        )
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
        ax.tick_params(labelsize=7)
        ax.set_xlabel("x", fontsize=8)
        ax.set_title(
            f"step {step}\n{stats[MODES_COVERED]:.0f}/{len(centres)} modes, "
            f"{100 * stats[HIGH_QUALITY]:.0f} % within 3σ",
            fontsize=8,
        )
    axes[0][0].set_ylabel("y", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=3, fontsize=8, markerscale=2)
    fig.suptitle(
        "Generated samples over training (fixed latent batch) against real points", fontsize=10, x=0.01, ha="left"
    )
    _save(fig, path)


def save_image_grid(images: torch.Tensor, path: Path, columns: int = 8) -> None:
    """Write uint8 images (B, C, H, W) as one PNG grid with ``columns`` columns and a 2 px border."""
    from torchvision.utils import make_grid

    grid = make_grid(images.cpu(), nrow=columns, padding=2)  # grey images come back as 3 channels
    Image.fromarray(grid.permute(1, 2, 0).numpy()).save(path)
