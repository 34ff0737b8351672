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
from PIL import Image  # noqa: E402


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
    ax.set_title("losses (means since the previous log)")
    if names:
        ax.legend(fontsize=8)
    _save(fig, path)


def plot_metrics(records: list[dict[str, Any]], names: list[str], path: Path) -> None:
    """Draw each metric in ``names`` against the step, one panel each (log scale where all values > 0)."""
    scored = [r for r in records if "metrics" in r]
    names = [n for n in names if any(n in r["metrics"] for r in scored)]
    cols = min(4, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):  # spare panels are blanked below
        points = [(r["step"], r["metrics"][name]) for r in scored if name in r["metrics"]]
        steps, values = zip(*points, strict=True)
        ax.plot(steps, values, marker="o", markersize=3)
        if min(values) > 0:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    _save(fig, path)


def plot_snapshots(real: np.ndarray, snapshots: list[tuple[int, np.ndarray]], path: Path, panels: int = 6) -> None:
    """Draw a row of scatter panels, real (grey) against generated (blue), at up to ``panels`` steps.

    The panels are evenly spaced over ``snapshots`` and always include the first and the last: the classic
    mode-collapse figure (e.g. Metz et al. 2017, Fig. 1).
    """
    chosen = sorted({round(i) for i in np.linspace(0, len(snapshots) - 1, min(panels, len(snapshots)))})
    lim = 1.2 * float(np.abs(real).max())
    fig, axes = plt.subplots(1, len(chosen), figsize=(2.4 * len(chosen), 2.6), squeeze=False)
    for ax, index in zip(axes[0], chosen, strict=True):
        step, fake = snapshots[index]
        ax.scatter(real[:, 0], real[:, 1], s=2, c="0.6", linewidths=0)
        ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:blue", linewidths=0)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
        ax.set_title(f"step {step}", fontsize=9)
    _save(fig, path)


def save_image_grid(images: torch.Tensor, path: Path, columns: int = 8) -> None:
    """Write uint8 images (B, C, H, W) as one PNG grid with ``columns`` columns and a 2 px border."""
    from torchvision.utils import make_grid

    grid = make_grid(images.cpu(), nrow=columns, padding=2)  # grey images come back as 3 channels
    Image.fromarray(grid.permute(1, 2, 0).numpy()).save(path)
