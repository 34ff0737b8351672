"""The training-loop API: metric objects with ``update()`` / ``compute()`` / ``reset()``, and an ``Evaluator``
that extracts features once per batch and feeds every requested metric.

The formulas are those of ``ganmetrics.metrics`` (no second copy). The generated side is accumulated batch by
batch; the reference side is computed once and kept. FID streams float64 statistics (memory O(d²)); KID, MMD
and the transport metrics keep float32 features on the CPU, up to ``max_samples``.

Images are tensors (N, 3, H, W) on any device: uint8 in [0, 255], or floating point with an explicit
``input_range`` of (0, 1) or (-1, 1). With ``features="raw"`` the batches are feature rows (N, d) instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganmetrics import keys
from ganmetrics.defaults import DEFAULTS
from ganmetrics.features.extract import EXTRACTOR, exact_float32
from ganmetrics.features.inception import load_fid_inception
from ganmetrics.features.resize import preprocess
from ganmetrics.inputs import ExtractionOptions, InputLoader
from ganmetrics.io.stats_file import LoadedStats
from ganmetrics.metrics.frechet import FeatureStats, FrechetReference
from ganmetrics.metrics.inception_score import inception_score
from ganmetrics.metrics.mmd import kid, mmd2_unbiased
from ganmetrics.metrics.transport import emd, sinkhorn_distance
from ganmetrics.provenance import check_comparable

INPUT_RANGES = ((0.0, 1.0), (-1.0, 1.0))
FEATURE_KINDS = ("inception", "raw")
# Slack on the range check of float images: resampling and float arithmetic overshoot by a few ulps.
_RANGE_SLACK = 1e-4


class ImageFeatures:
    """Image batches to FID Inception outputs: validates dtype, range and channels; loads the network once."""

    def __init__(
        self,
        weights: str | Path | None = None,
        resize: str = DEFAULTS["resize"],
        device: str | torch.device | None = None,
        input_range: tuple[float, float] | None = None,
    ) -> None:
        if input_range is not None and tuple(input_range) not in INPUT_RANGES:
            raise ValueError(f"input_range: must be one of {INPUT_RANGES} (or None for uint8), got {input_range!r}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device: {device!r} was asked for but CUDA is not available")
        self.model, self.weights_sha256 = load_fid_inception(weights, self.device)
        self.resize = resize
        self.input_range = None if input_range is None else tuple(input_range)

    @property
    def metadata(self) -> dict[str, Any]:
        """How the features are made (the fields ``provenance.check_comparable`` compares, less ``extractor``)."""
        return {"weights_sha256": self.weights_sha256, "resize": self.resize}

    def __call__(self, images: torch.Tensor, outputs: Sequence[str]) -> dict[str, torch.Tensor]:
        """Return the requested outputs (float32, on the network's device) for a batch of images."""
        unit = self._as_unit(images)
        with exact_float32(), torch.inference_mode():
            x = preprocess(unit.to(self.device), self.resize)
            return self.model(x, outputs=tuple(outputs))

    def _as_unit(self, images: torch.Tensor) -> torch.Tensor:
        """Return uint8 images as they are, float images mapped to [0, 1]; errors name the problem."""
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images: expected a torch tensor (N, 3, H, W), got {type(images).__name__}")
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images: expected shape (N, 3, H, W) with 3 channels, got {tuple(images.shape)}")
        if images.dtype == torch.uint8:
            if self.input_range is not None:
                raise ValueError(f"images: uint8 images are in [0, 255], but input_range={self.input_range} was set")
            return images
        if not images.is_floating_point():
            raise TypeError(f"images: expected uint8 (0-255) or a float dtype, got {images.dtype}")
        if self.input_range is None:
            raise ValueError("images: float images need an explicit input_range of (0, 1) or (-1, 1)")
        low, high = float(images.min()), float(images.max())
        lo, hi = self.input_range
        if not (lo - _RANGE_SLACK <= low and high <= hi + _RANGE_SLACK):
            raise ValueError(f"images: values lie in [{low:.4g}, {high:.4g}], outside input_range ({lo:g}, {hi:g})")
        unit = images if lo == 0.0 else (images + 1) / 2
        return unit.clamp(0.0, 1.0)


class Metric:
    """Base of the metric objects: the generated side accumulated by ``update``, ``compute``, ``reset``.

    ``feature`` names the Inception output the metric reads (``pool3`` or ``logits_unbiased``). With
    ``features="inception"`` ``update`` takes images (through ``extractor``); with ``"raw"`` feature rows.
    """

    name = ""
    feature = "pool3"
    needs_reference = True

    def __init__(self, reference: Any = None, *, features: str = "inception", extractor: ImageFeatures | None = None,
                 max_samples: int = DEFAULTS["max_samples"], **kwargs: Any) -> None:
        if features not in FEATURE_KINDS:
            raise ValueError(f"features: must be one of {FEATURE_KINDS}, got {features!r}")
        self.features = features
        self.extractor = extractor if extractor is not None or features == "raw" else ImageFeatures()
        self.max_samples = max_samples
        self.kwargs = kwargs
        self.reference_metadata: dict[str, Any] = {}
        if self.needs_reference:
            if reference is None:
                raise ValueError(f"reference: the {self.name} metric needs a reference (stats, features or images)")
            self._set_reference(reference)
        self.reset()

    # -- the generated side -------------------------------------------------------------------------------------
    def update(self, batch: torch.Tensor | np.ndarray) -> None:
        """Add a batch of generated images (or feature rows with ``features="raw"``)."""
        self.update_features(self._features_of(batch)[self.feature])

    def _features_of(self, batch: torch.Tensor | np.ndarray) -> dict[str, torch.Tensor]:
        if self.features == "raw":
            rows = torch.as_tensor(batch)
            if rows.ndim != 2:
                raise ValueError(f"batch: raw features must be (N, d) rows, got shape {tuple(rows.shape)}")
            return {self.feature: rows}
        return self.extractor(torch.as_tensor(batch), (self.feature,))

    def update_features(self, rows: torch.Tensor) -> None:
        """Add feature rows (N, d) of generated samples; float32 on the CPU, at most ``max_samples`` in all."""
        rows = rows.detach().to("cpu", torch.float32)
        if self._rows and rows.shape[1] != self._rows[0].shape[1]:
            raise ValueError(f"batch: has {rows.shape[1]} feature dimensions, earlier batches had {self._rows[0].shape[1]}")
        if self._count + rows.shape[0] > self.max_samples:
            raise ValueError(
                f"{self.name}: more than max_samples={self.max_samples} samples would be kept in memory; raise "
                "max_samples or evaluate fewer samples"
            )
        self._rows.append(rows)
        self._count += rows.shape[0]

    def reset(self) -> None:
        """Forget the generated side (the reference is kept)."""
        self._rows: list[torch.Tensor] = []
        self._count = 0

    def generated(self) -> torch.Tensor:
        """Return the generated features accumulated so far; ``ValueError`` before any ``update``."""
        if not self._rows:
            raise ValueError(f"{self.name}: compute() was called before any update()")
        return torch.cat(self._rows)

    def compute(self) -> dict[str, float]:
        """Return the metric's values by output key (``ganmetrics.keys``)."""
        raise NotImplementedError

    # -- the reference side -------------------------------------------------------------------------------------
    def _set_reference(self, reference: Any) -> None:
        self.reference = _reference_features(reference, self.feature, self.features, self.extractor)
        self.reference_metadata = self.reference.metadata

    def _reference_rows(self) -> torch.Tensor:
        if self.reference.rows is None:
            raise ValueError(f"reference: the {self.name} metric needs reference features, not only statistics")
        return self.reference.rows

    def _sizes(self, generated: torch.Tensor) -> dict[str, Any]:
        return {keys.N1: self.reference.n, keys.N2: int(generated.shape[0]), keys.DIMS: int(generated.shape[1])}


class _Reference:
    """The reference side of a metric: feature rows and/or Fréchet statistics, and how they were made."""

    def __init__(self, rows: torch.Tensor | None, stats: FeatureStats | LoadedStats | None, metadata: dict[str, Any]):
        self.rows, self.metadata = rows, metadata
        self._stats = stats
        self._frechet: FrechetReference | None = None
        self.n = int(rows.shape[0]) if rows is not None else metadata.get("n")

    def frechet(self) -> FrechetReference:
        """The reference's Fréchet factorisation, computed on first use and kept."""
        if self._frechet is None:
            stats = self._stats if self._stats is not None else FeatureStats.from_features(self.rows, "reference")
            self._frechet = (
                FrechetReference.from_stats(stats)
                if isinstance(stats, FeatureStats)
                else FrechetReference(stats.mu, stats.sigma)
            )
        return self._frechet


def _reference_features(reference: Any, feature: str, kind: str, extractor: ImageFeatures | None) -> _Reference:
    """Return the reference side from a path (stats, features, images), FeatureStats, or a tensor/array."""
    if isinstance(reference, _Reference):
        return reference
    if isinstance(reference, FeatureStats):
        return _Reference(None, reference, {"n": reference.n, "dims": reference.dims})
    if isinstance(reference, (str, Path)):
        opts = ExtractionOptions(
            weights=None, resize=extractor.resize if extractor else DEFAULTS["resize"], progress=False,
            device=str(extractor.device) if extractor else None,
        )
        loader = InputLoader(opts)
        if extractor is not None:
            loader._model = (extractor.model, extractor.weights_sha256)
        if feature == "pool3":
            stats, meta = loader.stats(reference)
            if isinstance(stats, LoadedStats):
                return _Reference(None, stats, meta)
        side = loader.arrays(reference, (feature,))
        return _Reference(torch.from_numpy(np.asarray(side.arrays[feature], dtype=np.float32)), None, side.metadata)
    if kind == "raw":
        rows = torch.as_tensor(reference).detach().to("cpu", torch.float32)
        if rows.ndim != 2:
            raise ValueError(f"reference: raw features must be (N, d) rows, got shape {tuple(rows.shape)}")
        return _Reference(rows, None, {"n": int(rows.shape[0]), "dims": int(rows.shape[1])})
    images = torch.as_tensor(reference)
    rows = torch.cat([extractor(images[i : i + DEFAULTS["batch_size"]], (feature,))[feature].cpu()
                      for i in range(0, images.shape[0], DEFAULTS["batch_size"])])
    meta = {**extractor.metadata, "extractor": f"{EXTRACTOR}/{feature}", "n": int(rows.shape[0]),
            "dims": int(rows.shape[1])}
    return _Reference(rows.float(), None, meta)


class FID(Metric):
    """Fréchet Inception Distance against a fixed reference; the generated side streams float64 statistics."""

    name = "fid"

    def reset(self) -> None:
        self._stats: FeatureStats | None = None

    def update_features(self, rows: torch.Tensor) -> None:
        if self._stats is None:
            self._stats = FeatureStats(int(rows.shape[1]), device=rows.device)
        self._stats.update(rows)

    def compute(self) -> dict[str, float]:
        if self._stats is None:
            raise ValueError("fid: compute() was called before any update()")
        value = self.reference.frechet().distance_to_stats(self._stats)
        return {keys.FID: value, keys.N1: self.reference.n, keys.N2: self._stats.n, keys.DIMS: self._stats.dims}


class InceptionScore(Metric):
    """Inception Score of the generated images (logits without the fc bias, as the original implementation)."""

    name = "is"
    feature = "logits_unbiased"
    needs_reference = False

    def compute(self) -> dict[str, float]:
        logits = self.generated()
        mean, std = inception_score(logits, splits=self.kwargs.get("splits", DEFAULTS["splits"]))
        return {keys.IS_MEAN: mean, keys.IS_STD: std, keys.N1: int(logits.shape[0]), keys.DIMS: int(logits.shape[1])}


class KID(Metric):
    """Kernel Inception Distance (cubic polynomial kernel, seeded subsets) against the reference features."""

    name = "kid"

    def compute(self) -> dict[str, float]:
        generated = self.generated()
        mean, std = kid(self._reference_rows(), generated, **self.kwargs)
        return {keys.KID_MEAN: mean, keys.KID_STD: std, **self._sizes(generated)}


class MMD(Metric):
    """Unbiased Gaussian-kernel MMD² against the reference features (median-heuristic bandwidth by default)."""

    name = "mmd"

    def compute(self) -> dict[str, float]:
        generated = self.generated()
        result = mmd2_unbiased(self._reference_rows(), generated, **self.kwargs)
        return {keys.MMD2: result.mmd2, keys.SIGMA: result.sigma, **self._sizes(generated)}


class Sinkhorn(Metric):
    """Entropic OT cost (log-domain Sinkhorn) against the reference features; needs ``reg``."""

    name = "sinkhorn"

    def compute(self) -> dict[str, float]:
        generated = self.generated()
        if "reg" not in self.kwargs:
            raise ValueError("sinkhorn: needs reg (the entropic regularisation), e.g. metric_kwargs={'sinkhorn': {'reg': 0.1}}")
        return {keys.SINKHORN: sinkhorn_distance(self._reference_rows(), generated, **self.kwargs),
                **self._sizes(generated)}


class EMD(Metric):
    """Exact earth mover's distance against the reference features."""

    name = "emd"

    def compute(self) -> dict[str, float]:
        generated = self.generated()
        return {keys.EMD: emd(self._reference_rows(), generated, **self.kwargs), **self._sizes(generated)}


METRICS: dict[str, type[Metric]] = {cls.name: cls for cls in (FID, InceptionScore, KID, MMD, Sinkhorn, EMD)}


class Evaluator:
    """Several metrics on the same generated samples, with features extracted once per batch.

    >>> ev = Evaluator(["fid", "kid"], reference="ref_stats_and_features.npz")   # doctest: +SKIP
    >>> for images in batches: ev.update(images)                                   # doctest: +SKIP
    >>> ev.compute()  # {"fid": ..., "kid_mean": ..., "kid_std": ..., "n1": ..., "n2": ..., "dims": ...}

    ``metric_kwargs`` passes keywords to each metric's function (``{"kid": {"subset_size": 500}}``). The
    reference is computed once, at construction, and shared by the metrics that use the same features.
    Raises ``ValueError`` for an unknown metric name, a reference made differently from these features
    (extractor, weights or resize mode), or ``compute()`` before ``update()``.
    """

    def __init__(
        self,
        metrics: Sequence[str] = ("fid",),
        reference: Any = None,
        *,
        features: str = "inception",
        weights: str | Path | None = None,
        resize: str = DEFAULTS["resize"],
        device: str | torch.device | None = None,
        input_range: tuple[float, float] | None = None,
        max_samples: int = DEFAULTS["max_samples"],
        metric_kwargs: dict[str, dict[str, Any]] | None = None,
        seed: int = DEFAULTS["seed"],
        allow_mismatch: bool = False,
    ) -> None:
        unknown = [m for m in metrics if m not in METRICS]
        if unknown or not metrics:
            raise ValueError(f"metrics: unknown {unknown or 'empty list'}; valid names are {', '.join(METRICS)}")
        if features not in FEATURE_KINDS:
            raise ValueError(f"features: must be one of {FEATURE_KINDS}, got {features!r}")
        self.features = features
        self.extractor = ImageFeatures(weights, resize, device, input_range) if features == "inception" else None
        kwargs = metric_kwargs or {}
        unknown_kwargs = [m for m in kwargs if m not in metrics]
        if unknown_kwargs:
            raise ValueError(f"metric_kwargs: names metrics not requested: {', '.join(unknown_kwargs)}")
        references: dict[str, _Reference] = {}
        self.metrics: dict[str, Metric] = {}
        for name in metrics:
            cls = METRICS[name]
            extra = dict(kwargs.get(name, {}))
            if name in ("kid", "mmd"):
                extra.setdefault("seed", seed)
            ref = None
            if cls.needs_reference:
                if reference is None:
                    raise ValueError(f"reference: the {name} metric needs a reference (stats, features or images)")
                if cls.feature not in references:
                    references[cls.feature] = _reference_features(reference, cls.feature, features, self.extractor)
                ref = references[cls.feature]
                if self.extractor is not None:
                    ours = {**self.extractor.metadata, "extractor": f"{EXTRACTOR}/{cls.feature}"}
                    check_comparable(ref.metadata, ours, ("reference", "generated features"), allow_mismatch)
            self.metrics[name] = cls(ref, features=features, extractor=self.extractor, max_samples=max_samples, **extra)

    def update(self, batch: torch.Tensor | np.ndarray) -> None:
        """Add a batch of generated images (or feature rows); the network runs once for all metrics."""
        wanted = tuple(dict.fromkeys(m.feature for m in self.metrics.values()))
        if self.features == "raw":
            outputs = {name: torch.as_tensor(batch) for name in wanted}
            if outputs[wanted[0]].ndim != 2:
                raise ValueError(f"batch: raw features must be (N, d) rows, got shape {tuple(outputs[wanted[0]].shape)}")
        else:
            outputs = self.extractor(torch.as_tensor(batch), wanted)
        for metric in self.metrics.values():
            metric.update_features(outputs[metric.feature])

    def compute(self) -> dict[str, float]:
        """Return every metric's values in one dict (``n1``, ``n2``, ``dims`` from the last metric that has them)."""
        result: dict[str, float] = {}
        for metric in self.metrics.values():
            result.update(metric.compute())
        return result

    def reset(self) -> None:
        """Forget the generated samples; the references are kept."""
        for metric in self.metrics.values():
            metric.reset()


def evaluate_generator(
    generator_fn: Callable[[torch.Tensor], torch.Tensor] | torch.nn.Module,
    n: int,
    batch_size: int,
    seed: int,
    reference: Any,
    *,
    latent_dim: int | None = None,
    latent_fn: Callable[[int, torch.Generator], torch.Tensor] | None = None,
    device: str | torch.device | None = None,
    **evaluator_kwargs: Any,
) -> dict[str, float]:
    """Return the metrics of ``n`` samples of a generator, drawn under ``torch.no_grad()`` reproducibly.

    Latents come from ``latent_fn(batch, generator)`` or, given ``latent_dim``, ``torch.randn`` on the CPU with a
    ``torch.Generator`` seeded with ``seed`` (so CPU and GPU runs see the same latents). A module's train/eval
    mode is restored afterwards. Other keywords go to :class:`Evaluator`.
    """
    if (latent_dim is None) == (latent_fn is None):
        raise ValueError("latent_dim, latent_fn: give exactly one")
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n: needs at least 2 samples, got {n!r}")
    evaluator = Evaluator(reference=reference, device=device, **evaluator_kwargs)
    rng = torch.Generator().manual_seed(seed)
    module = generator_fn if isinstance(generator_fn, torch.nn.Module) else None
    was_training = module.training if module is not None else False
    target = torch.device(device) if device is not None else _module_device(module)
    if module is not None:
        module.eval()
    try:
        with torch.no_grad():
            for start in range(0, n, batch_size):
                size = min(batch_size, n - start)
                z = latent_fn(size, rng) if latent_fn is not None else torch.randn(size, latent_dim, generator=rng)
                evaluator.update(generator_fn(z.to(target)))
    finally:
        if module is not None:
            module.train(was_training)
    return evaluator.compute()


def _module_device(module: torch.nn.Module | None) -> torch.device:
    if module is None:
        return torch.device("cpu")
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")
