"""The figures of a report (matplotlib, Agg backend) and thumbnails of the original images (Pillow).

Each function draws plain data into one PNG file and returns nothing; every plot has a title, axis labels and
a legend.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from ganmetrics.io.images import rgb_array  # noqa: E402
from ganmetrics.metrics.extrapolation import ExtrapolationResult  # noqa: E402
from ganmetrics.report.content import ImageFile  # noqa: E402

THUMBNAIL_PIXELS = 96


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_thumbnail(image: ImageFile, path: Path, pixels: int = THUMBNAIL_PIXELS) -> None:
    """Write a PNG thumbnail of ``image``: longest side ``pixels``, aspect kept, RGB as the extractor decodes.

    Larger images are reduced (Lanczos); smaller ones are enlarged by a whole factor with nearest-neighbour
    sampling, so that each original pixel stays a visible square.
    """
    if image.member is None:
        source: Any = image.path
    else:
        with zipfile.ZipFile(image.path) as archive:
            source = io.BytesIO(archive.read(image.member))
    with Image.open(source) as opened:
        rgb = Image.fromarray(rgb_array(opened))
    factor = pixels // max(rgb.size)
    if factor > 1:
        rgb = rgb.resize((rgb.width * factor, rgb.height * factor), Image.Resampling.NEAREST)
    rgb.thumbnail((pixels, pixels), Image.Resampling.LANCZOS)
    rgb.save(path)


def plot_fid_against_sample_count(result: ExtrapolationResult, path: Path) -> None:
    """Draw FID_N against 1/N with the least-squares line and its intercept FID∞ (Chong & Forsyth 2020)."""
    inverse = 1.0 / np.asarray(result.sizes, dtype=np.float64)
    line = np.linspace(0.0, inverse.max() * 1.05, 50)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(inverse, result.values, "o", label="FID_N on seeded subsamples of the generated set")
    ax.plot(line, result.value + result.slope * line, "-", label=f"least-squares line, slope {result.slope:.4g}")
    ax.plot([0.0], [result.value], "s", color="tab:red", label=f"FID∞ = {result.value:.4g} (1/N → 0)")
    ax.set_xlabel("1 / N  (N = generated samples; all real samples used)")
    ax.set_ylabel("FID")
    ax.set_title("FID against sample count, extrapolated to N = ∞")
    secondary = ax.secondary_xaxis(
        "top", functions=(lambda u: 1 / np.maximum(u, 1e-12), lambda n: 1 / np.maximum(n, 1e-12))
    )
    secondary.set_xticks(list(result.sizes)[:: max(1, len(result.sizes) // 4)])
    secondary.set_xlabel("N")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_distance_histograms(
    real_nn: np.ndarray, fake_to_real: np.ndarray, test_to_real: np.ndarray | None, path: Path
) -> None:
    """Draw the distributions of nearest-real distances: real-to-real, generated-to-real, held-out-to-real."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    series = [
        (real_nn, "real → nearest other real (r₁)", "0.5"),
        (fake_to_real, "generated → nearest real", "tab:blue"),
    ]
    if test_to_real is not None:
        series.append((test_to_real, "held-out real → nearest real", "tab:green"))
    edges = np.histogram_bin_edges(np.concatenate([s[0] for s in series]), bins=40)
    for values, label, colour in series:
        ax.hist(values, bins=edges.tolist(), density=True, histtype="step", linewidth=1.5, color=colour, label=label)
    ax.set_xlabel("Euclidean distance in feature space")
    ax.set_ylabel("density")
    ax.set_title("Nearest-neighbour distances (copies pile up at 0)")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_scatter_2d(
    real: np.ndarray,
    fake: np.ndarray,
    centres: np.ndarray | None,
    path: Path,
    *,
    misses: np.ndarray | None = None,
    suspects: np.ndarray | None = None,
    title: str = "Real and generated samples",
) -> None:
    """Draw real (grey) and generated (blue) 2-D points, the mode centres, and the highlighted samples.

    ``misses``: indices of real points no generated point covers (orange rings); ``suspects``: indices of the
    generated points closest to a real point (red dots).
    """
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    ax.scatter(real[:, 0], real[:, 1], s=3, c="0.65", linewidths=0, label=f"real ({len(real)})")
    ax.scatter(fake[:, 0], fake[:, 1], s=3, c="tab:blue", linewidths=0, label=f"generated ({len(fake)})")
    if misses is not None and len(misses):
        ax.scatter(
            real[misses, 0],
            real[misses, 1],
            s=30,
            facecolors="none",
            edgecolors="tab:orange",
            label=f"real, not covered ({len(misses)})",
        )
    if suspects is not None and len(suspects):
        ax.scatter(
            fake[suspects, 0],
            fake[suspects, 1],
            s=12,
            c="tab:red",
            label=f"generated, closest to a real sample ({len(suspects)})",
        )
    if centres is not None:
        ax.scatter(centres[:, 0], centres[:, 1], marker="x", s=60, c="black", label="mode centres")
    ax.set(aspect="equal", xlabel="x₁", ylabel="x₂", title=title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    _save(fig, path)


def plot_metric_curves(records: Sequence[dict[str, Any]], names: Sequence[str], path: Path) -> None:
    """Draw each metric of ``names`` found in the records' ``"metrics"`` against the step, one panel each."""
    scored = [r for r in records if "metrics" in r]
    names = [n for n in names if any(n in r["metrics"] for r in scored)]
    cols = min(3, max(1, len(names)))
    rows = max(1, -(-len(names) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):  # spare panels are blanked below
        steps, values = zip(*[(r["step"], r["metrics"][name]) for r in scored if name in r["metrics"]], strict=True)
        ax.plot(steps, values, marker="o", markersize=3, label=f"{name} (last {values[-1]:.3g})")
        if min(values) > 0 and max(values) / min(values) > 20:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("generator step", fontsize=8)
        ax.set_ylabel(name, fontsize=8)
        ax.legend(fontsize=7)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    fig.suptitle("Metrics over training")
    _save(fig, path)
