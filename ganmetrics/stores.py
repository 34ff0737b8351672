"""The Evaluator's sides: image batches to features (``ImageFeatures``), the fixed reference (``Reference``), and
the stores of the generated side (``RowStore`` keeps feature rows, ``MomentStore`` streams float64 statistics).

Split out of ``ganmetrics.evaluate`` so that the Evaluator reads as a collection of metrics over these stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ganmetrics.defaults import DEFAULTS
from ganmetrics.distributed import gather_rows, gather_stats
from ganmetrics.inputs import ExtractionOptions, InputLoader
from ganmetrics.io.stats_file import LoadedStats
from ganmetrics.metrics.frechet import FrechetReference
from ganmetrics.metrics.statistics import FeatureStats

INPUT_RANGES = ((0.0, 1.0), (-1.0, 1.0))
FEATURE_KINDS = ("inception", "raw")
# Slack on the range check of float images: resampling and float arithmetic overshoot by a few ulps.
_RANGE_SLACK = 1e-4


class ImageFeatures:
    """Image batches to extractor outputs: validates dtype, range and channels; loads the network once.

    The network, its device and preprocessing come from the inputs room (``InputLoader.runner``), the same
    loading and device choice as the command line's.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        resize: str | None = DEFAULTS["extract_protocol"],
        device: str | torch.device | None = None,
        input_range: tuple[float, float] | None = None,
        batch_size: int | None = DEFAULTS["extract_batch_size"],
        extractor: Any = DEFAULTS["extract_extractor"],
        numerics: str = DEFAULTS["extract_numerics"],
        skip_bad: bool = False,
        recursive: bool = False,
    ) -> None:
        if input_range is not None and tuple(input_range) not in INPUT_RANGES:
            raise ValueError(f"input_range: must be one of {INPUT_RANGES} (or None for uint8), got {input_range!r}")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        options = ExtractionOptions(
            extractor=extractor,
            protocol=resize,
            weights=weights,
            batch_size=batch_size,
            device=None if device is None else str(device),
            numerics=numerics,
            progress=False,
            skip_bad=skip_bad,
            recursive=recursive,
        )
        self.loader = InputLoader(options)
        self.runner = self.loader.runner()
        self.model, self.weights_sha256 = self.loader.network()
        self.device = self.runner.device
        self.resize = self.runner.protocol
        self.batch_size = self.runner.batch_size
        self.feature = self.loader.feature
        self.input_range = None if input_range is None else tuple(input_range)

    @property
    def metadata(self) -> dict[str, Any]:
        """How the default feature is made (the record ``provenance.check_comparable`` compares)."""
        return self.loader.provenance()

    def __call__(self, images: torch.Tensor, outputs: Sequence[str]) -> dict[str, torch.Tensor]:
        """Return the requested outputs (float32, on the network's device), ``batch_size`` images at a time."""
        return self.runner(self.to_unit(images), outputs)

    def to_unit(self, images: torch.Tensor) -> torch.Tensor:
        """Return uint8 images as they are, float images mapped from ``input_range`` to [0, 1].

        Raises ``TypeError`` for a non-tensor or an integer dtype other than uint8, ``ValueError`` for a shape
        other than (N, 3, H, W), an empty batch, uint8 images with ``input_range`` set, float images without
        it, or float values outside it (the message names the range found and the one expected).
        """
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images: expected a torch tensor (N, 3, H, W), got {type(images).__name__}")
        if images.ndim != 4 or images.shape[1] != 3:
            channels = f"{images.shape[1]} channel(s)" if images.ndim == 4 else f"{images.ndim} dimensions"
            raise ValueError(
                f"images: expected RGB images of shape (N, 3, H, W), got shape {tuple(images.shape)} ({channels}); "
                "repeat a gray channel with images.expand(-1, 3, -1, -1)"
            )
        if images.shape[0] == 0:
            raise ValueError("images: the batch is empty")
        if images.dtype == torch.uint8:
            if self.input_range is not None:
                lo, hi = self.input_range
                raise ValueError(
                    f"images: uint8 images are read as [0, 255], but input_range=({lo:g}, {hi:g}) (for float "
                    "images) was set; pass input_range=None or convert the images to float"
                )
            return images
        if not images.is_floating_point():
            raise TypeError(
                f"images: dtype {images.dtype} is not accepted; expected uint8 in [0, 255], or a float dtype with "
                "input_range (0, 1) or (-1, 1)"
            )
        low, high = float(images.min()), float(images.max())
        if self.input_range is None:
            raise ValueError(
                f"images: float images (values in [{low:.4g}, {high:.4g}]) need an explicit input_range of (0, 1) "
                "or (-1, 1); uint8 images are read as [0, 255]"
            )
        lo, hi = self.input_range
        if not (lo - _RANGE_SLACK <= low and high <= hi + _RANGE_SLACK):
            hint = "; images in [0, 255] should be passed as uint8" if high > 2 else ""
            raise ValueError(
                f"images: values lie in [{low:.4g}, {high:.4g}], outside the expected input_range ({lo:g}, {hi:g})"
                + hint
            )
        unit = images if lo == 0.0 else (images + 1) / 2
        return unit.clamp(0.0, 1.0)


class Reference:
    """The reference side: feature rows (float32, CPU) and/or Fréchet statistics, and how they were made."""

    def __init__(
        self, rows: torch.Tensor | None, stats: FeatureStats | LoadedStats | None, metadata: dict[str, Any]
    ) -> None:
        self.rows, self.stats, self.metadata = rows, stats, metadata
        self._frechet: FrechetReference | None = None
        self.n: int | None
        if rows is not None:
            self.n, self.dims = int(rows.shape[0]), int(rows.shape[1])
        elif isinstance(stats, FeatureStats):
            self.n, self.dims = stats.n, stats.dims
        elif stats is not None:
            self.n, self.dims = stats.n if stats.n is not None else metadata.get("n"), int(stats.mu.shape[0])
        else:
            raise ValueError("reference: holds neither feature rows nor statistics")

    def frechet(self) -> FrechetReference:
        """The reference's Fréchet factorisation, computed on first use and kept."""
        if self._frechet is None:
            if self.stats is None:
                self._frechet = FrechetReference.from_features(self.require_rows("fid"), "reference")
            elif isinstance(self.stats, FeatureStats):
                self._frechet = FrechetReference.from_stats(self.stats)
            else:
                names = ("reference mu", "reference sigma")
                self._frechet = FrechetReference(self.stats.mu, self.stats.sigma, names=names)
        return self._frechet

    def require_rows(self, metric: str) -> torch.Tensor:
        if self.rows is None:
            raise ValueError(
                f"reference: the {metric} metric needs reference features (images, a feature file or a tensor); "
                "a statistics file or FeatureStats holds only the mean and covariance"
            )
        return self.rows


class RowStore:
    """Generated feature rows, float32 on the CPU, at most ``max_samples`` (KID, MMD, OT, IS)."""

    def __init__(self, label: str, max_samples: int) -> None:
        if not isinstance(max_samples, int) or max_samples < 2:
            raise ValueError(f"max_samples: expected an integer >= 2, got {max_samples!r}")
        self.label, self.max_samples = label, max_samples
        self.clear()

    def clear(self) -> None:
        self._rows: list[torch.Tensor] = []
        self._count = 0

    def add(self, rows: torch.Tensor) -> None:
        rows = rows.detach().to("cpu", torch.float32)
        if self._rows and rows.shape[1] != self._rows[0].shape[1]:
            raise ValueError(
                f"batch: has {rows.shape[1]} feature dimensions, earlier batches had {self._rows[0].shape[1]}"
            )
        if self._count + rows.shape[0] > self.max_samples:
            raise ValueError(
                f"{self.label}: {self._count} + {rows.shape[0]} generated samples would exceed max_samples="
                f"{self.max_samples} kept in memory (float32, {4 * rows.shape[1]} bytes each); raise max_samples "
                "or evaluate fewer samples"
            )
        self._rows.append(rows)
        self._count += rows.shape[0]

    def collect(self, sync: bool) -> torch.Tensor | None:
        """All rows (of every rank when ``sync``: a collective), None when there are none."""
        local = torch.cat(self._rows) if self._rows else torch.empty(0, 0)
        rows = gather_rows(local, max_rows=self.max_samples) if sync else local
        return rows if rows.shape[0] else None


class MomentStore:
    """Generated features as streaming float64 statistics on their device (FID): memory O(d²).

    While no more samples than dimensions have been seen, their rows are kept as well (at most d² numbers, as
    many as the statistics hold), so that the FID of few samples takes the exact low-rank route of
    ``FeatureStats.from_features`` instead of an eigen-decomposition of a singular d×d covariance.
    """

    def __init__(self, label: str, max_samples: int) -> None:
        self.label = label
        self.clear()

    def clear(self) -> None:
        self._stats: FeatureStats | None = None
        self._rows: list[torch.Tensor] | None = []

    def add(self, rows: torch.Tensor) -> None:
        rows = rows.detach()
        if self._stats is None:
            self._stats = FeatureStats(int(rows.shape[1]), device=rows.device)
        self._stats.update(rows)
        if self._rows is not None and self._stats.n <= self._stats.dims:
            self._rows.append(rows.to(self._stats.mu.device, torch.float64))
        else:
            self._rows = None

    def collect(self, sync: bool) -> FeatureStats | None:
        """The statistics (merged over the ranks when ``sync``: a collective), None before any update."""
        if sync:
            return gather_stats(self._stats)
        if self._stats is not None and self._rows is not None and self._stats.n >= 2:
            return FeatureStats.from_features(torch.cat(self._rows), "generated")
        return self._stats
