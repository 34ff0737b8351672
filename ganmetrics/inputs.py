"""The inputs room: from what a user points at to features or statistics, for the CLI and the Python API alike.

A source is ``ref:NAME`` (a shipped reference), a statistics npz, a feature file (.npy / .npz), an image folder,
a .zip of images, an in-memory (N, d) array or tensor of features, a :class:`FeatureStats` or a loaded statistics
file. ``InputLoader.side(source, name, needs)`` resolves any of them, once, into a :class:`Side`: the feature rows,
the logits and/or the Gaussian statistics a metric consumes, with the metadata record that says how they were
made (``ganmetrics.provenance`` refuses to compare sides made differently). Images are run through the extractor
of :class:`ExtractionOptions` (``ganmetrics.features.extractors``), loaded at most once per loader, on the device
``resolve_device`` chooses. ``NetworkRunner`` runs in-memory image batches through the same network (the
Evaluator's generated batches). This module knows no metric.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganmetrics.defaults import DEFAULTS
from ganmetrics.distributed import extract_features_distributed
from ganmetrics.features.extract import NUMERICS, numeric_network, resolve_device
from ganmetrics.features.extractors import ExtractorSpec, get_extractor, load_extractor
from ganmetrics.features.protocols import get_protocol
from ganmetrics.io.features_file import FEATURE_SUFFIXES, load_features
from ganmetrics.io.images import list_image_files, list_zip_images
from ganmetrics.io.stats_file import LoadedStats, is_stats_file, load_stats
from ganmetrics.metrics._arrays import as_float64
from ganmetrics.metrics.statistics import FeatureStats
from ganmetrics.provenance import WEIGHTS_KIND
from ganmetrics.reference_store import resolve_reference_path

# What a metric consumes of a side: feature rows, Gaussian statistics of the rows, or classifier logits.
ROWS, STATS, LOGITS = "rows", "stats", "logits"
# The logits the Inception Score reads (without the fc bias, as the original code and torch-fidelity).
LOGITS_OUTPUT = "logits_unbiased"


class RankDeficientWarning(UserWarning):
    """Fewer samples than feature dimensions: the covariance is singular and FID is biased at this size."""


@dataclass
class ExtractionOptions:
    """How images become features: the extractor and its preprocessing protocol, the numeric mode, the batching,
    the device, and how image folders are read (see ``ganmetrics.features.extract.extract_features``).

    ``protocol`` and ``batch_size`` default (None) to the extractor's own; ``device`` None or "auto" chooses CUDA
    when available. ``numerics`` is "fp32" (exact), "fp32-fast", "bf16" or "fp16".
    """

    extractor: str = DEFAULTS["extract_extractor"]
    protocol: str | None = DEFAULTS["extract_protocol"]
    weights: str | Path | None = None
    batch_size: int | None = DEFAULTS["extract_batch_size"]
    num_workers: int | None = DEFAULTS["extract_num_workers"]
    device: str | None = None
    numerics: str = DEFAULTS["extract_numerics"]
    progress: bool = True
    skip_bad: bool = False
    recursive: bool = False

    def __post_init__(self) -> None:
        spec = self.spec
        if self.protocol is None:
            self.protocol = spec.default_protocol
        elif self.protocol not in spec.protocols:
            raise ValueError(f"protocol: {self.protocol!r} is not one of {spec.name}'s: {', '.join(spec.protocols)}")
        if self.numerics not in NUMERICS:
            raise ValueError(f"numerics: expected one of {', '.join(NUMERICS)}, got {self.numerics!r}")
        resolve_device(self.device)  # an unknown or unavailable device is refused before anything runs

    @property
    def spec(self) -> ExtractorSpec:
        """The extractor's registry entry (``ValueError`` for an unknown name)."""
        return get_extractor(self.extractor)


@dataclass
class Side:
    """One side of a comparison: its label, arrays by output name, statistics if asked for, and how it was made."""

    label: str
    arrays: dict[str, Any] = field(default_factory=dict)  # (N, d) numpy arrays or tensors by output name
    metadata: dict[str, Any] = field(default_factory=dict)
    stats: FeatureStats | LoadedStats | None = None

    def rows(self, output: str) -> np.ndarray | torch.Tensor:
        """The (N, d) array ``output``; ``ValueError`` naming the side when it holds only statistics."""
        if output not in self.arrays:
            raise ValueError(
                f"{self.label}: holds only a mean and covariance (statistics); this metric needs the feature rows "
                "(images, a feature file or an array)"
            )
        return self.arrays[output]


def is_image_source(path: Path) -> bool:
    """Return whether ``path`` is read as images (a folder or a .zip) rather than as an array file."""
    return path.is_dir() or path.suffix.lower() == ".zip"


class NetworkRunner:
    """In-memory image batches -> extractor outputs: protocol, then the network in its numeric mode.

    ``runner(images, outputs)`` takes (N, 3, H, W) uint8 in [0, 255] or float in [0, 1] on any device and returns
    float32 outputs on the network's device, ``batch_size`` images at a time. ``numerics`` is one of
    ``features.extract.NUMERICS``, applied as folder extraction applies it (``extract.numeric_network``).
    """

    def __init__(
        self, model: torch.nn.Module, protocol: str, batch_size: int, device: torch.device, numerics: str = "fp32"
    ) -> None:
        self.protocol, self.batch_size, self.device, self.numerics = protocol, batch_size, device, numerics
        self.model, self._memory_format, self._numeric_mode = numeric_network(model, numerics, device)
        self._apply = get_protocol(protocol).apply

    def __call__(self, images: torch.Tensor, outputs: Sequence[str]) -> dict[str, torch.Tensor]:
        parts: dict[str, list[torch.Tensor]] = {name: [] for name in outputs}
        with self._numeric_mode(), torch.inference_mode():
            for chunk in images.split(self.batch_size):
                x = self._apply(chunk.to(self.device)).contiguous(memory_format=self._memory_format)
                for name, rows in self.model(x, tuple(outputs)).items():
                    parts[name].append(rows.float())
        return {name: torch.cat(rows) for name, rows in parts.items()}


class InputLoader:
    """Resolves sources into sides, running the extractor (loaded at most once) on image inputs."""

    def __init__(self, options: ExtractionOptions | None = None) -> None:
        self.options = options or ExtractionOptions()
        self._model: tuple[torch.nn.Module, str | None] | None = None

    @property
    def feature(self) -> str:
        """The default output of the extractor (``pool3`` for the FID Inception): the rows the metrics compare."""
        return self.options.spec.default_output

    def network(self) -> tuple[torch.nn.Module, str | None]:
        """Return ``(module, weights_sha256)`` of the extractor, loading it on first use."""
        if self._model is None:
            opts = self.options
            self._model = load_extractor(opts.spec, opts.weights, resolve_device(opts.device), progress=opts.progress)
        return self._model

    def runner(self) -> NetworkRunner:
        """Return a :class:`NetworkRunner` over this loader's network and options."""
        model, _ = self.network()
        opts = self.options
        batch_size = opts.batch_size or opts.spec.default_batch_size
        return NetworkRunner(model, str(opts.protocol), batch_size, next(model.parameters()).device, opts.numerics)

    def provenance(self) -> dict[str, Any]:
        """The metadata record of this loader's default feature (what ``check_comparable`` compares)."""
        opts = self.options
        model, sha256 = self.network()
        kind = {WEIGHTS_KIND: model.weights_kind} if getattr(model, "weights_kind", None) else {}
        return {
            "extractor": opts.spec.extractor_id(self.feature),
            "weights_sha256": sha256,
            **kind,
            "resize": opts.protocol,
            "numerics": opts.numerics,
            "dims": opts.spec.outputs[self.feature],
        }

    def count(self, source: Any) -> int | None:
        """Return how many samples an input holds, read without extracting anything; None when unrecorded.

        Rows of an array, ``n`` of statistics, image files of a folder (``recursive`` as in the options) or zip,
        rows of a feature file. Checking both sides of a comparison this way first means a missing, empty or
        unreadable side is reported before the other side's (possibly long) extraction. Raises ``ValueError``
        (or ``FileNotFoundError``) naming the input when it is missing, empty or of no known kind.
        """
        if isinstance(source, (FeatureStats, LoadedStats)):
            return source.n
        if isinstance(source, (np.ndarray, torch.Tensor)):
            return int(source.shape[0]) if source.ndim else None
        path = resolve_reference_path(source)
        if path.is_dir():
            return len(list_image_files(path, self.options.recursive))
        if path.suffix.lower() == ".zip":
            return len(list_zip_images(path))
        if not path.exists():
            raise ValueError(f"{path}: no such file or folder")
        if is_stats_file(path):
            return load_stats(path).n
        if path.suffix.lower() not in FEATURE_SUFFIXES:
            raise ValueError(
                f"{path}: not an image folder, a .zip of images, or a feature file ({', '.join(FEATURE_SUFFIXES)})"
            )
        return int(load_features(path).get("features").shape[0])

    def side(self, source: Any, name: str, needs: Sequence[str]) -> Side:
        """Return the side ``source`` resolves to, holding what ``needs`` (``ROWS``, ``STATS``, ``LOGITS``) asks.

        ``name`` labels an in-memory source in messages. Raises ``ValueError`` naming the source when it cannot
        give what is needed (e.g. rows from a statistics file), plus what the loaders raise.
        """
        if isinstance(source, (FeatureStats, LoadedStats)):
            side = _stats_side(source, name)
        elif isinstance(source, (np.ndarray, torch.Tensor)):
            if source.ndim != 2:
                raise ValueError(f"{name}: feature arrays must be (N, d), got shape {tuple(source.shape)}")
            output = LOGITS_OUTPUT if LOGITS in needs and ROWS not in needs else self.feature
            side = Side(name, {output: source}, {"n": int(source.shape[0]), "dims": int(source.shape[1])})
        else:
            path = resolve_reference_path(source)
            if is_stats_file(path):
                side = _stats_side(load_stats(path), str(source))
            else:
                outputs = ((self.feature,) if ROWS in needs or STATS in needs else ()) + (
                    (LOGITS_OUTPUT,) if LOGITS in needs else ()
                )
                side = self.arrays(path, outputs)
                side.label = str(source)
        if STATS in needs and side.stats is None:
            rows = side.rows(self.feature)
            warn_if_rank_deficient(side.label, *rows.shape)
            side.stats = FeatureStats.from_features(rows, side.label)
        elif STATS in needs and side.metadata.get("n") is not None:  # statistics that record their sample count
            warn_if_rank_deficient(side.label, side.metadata["n"], side.metadata["dims"])
        if ROWS in needs:
            side.rows(self.feature)
        return side

    def arrays(self, path: str | Path, outputs: tuple[str, ...]) -> Side:
        """Return the arrays ``outputs`` (e.g. ``("pool3",)`` or ``("logits_unbiased",)``) of a path input.

        Images are run through the network; an ``.npz`` feature file gives its arrays of those names (the
        default output is stored as ``features``); a ``.npy`` file is taken as the one requested array. Arrays
        read from files are checked as the metrics check them (``metrics._arrays.as_float64``: no NaN/Inf,
        complex or overflowing values), with messages naming the file.
        """
        source = resolve_reference_path(path)
        if not source.exists():
            raise ValueError(f"{source}: no such file or folder")
        if is_image_source(source):
            model, sha256 = self.network()
            opts = self.options
            extraction = extract_features_distributed(
                source,
                extractor=opts.extractor,
                model=model,
                resize=opts.protocol,
                outputs=outputs,
                batch_size=opts.batch_size,
                num_workers=opts.num_workers,
                numerics=opts.numerics,
                progress=opts.progress,
                skip_bad=opts.skip_bad,
                recursive=opts.recursive,
            )
            meta = {**extraction.metadata, "weights_sha256": sha256}
            arrays = {name: extraction.features[name] for name in outputs}
            return Side(str(source), arrays, _side_metadata(meta, outputs[0], arrays[outputs[0]]))
        if source.suffix.lower() not in FEATURE_SUFFIXES:
            raise ValueError(
                f"{source}: not an image folder, a .zip of images, or a feature file ({', '.join(FEATURE_SUFFIXES)})"
            )
        loaded = load_features(source)
        if source.suffix.lower() == ".npy":
            if len(outputs) != 1:
                raise ValueError(f"{source}: a .npy file holds one array; {len(outputs)} were needed")
            arrays = {outputs[0]: loaded.get("features")}
        else:
            arrays = {name: loaded.get(_stored_name(name, self.feature, loaded.arrays)) for name in outputs}
        for name, array in arrays.items():  # NaN, Inf, complex or overflowing values, named by the file
            as_float64(array, f"{source}" if len(arrays) == 1 else f"{source} ({name})")
        return Side(str(source), arrays, _side_metadata(loaded.metadata, outputs[0], arrays[outputs[0]]))


def _stats_side(stats: FeatureStats | LoadedStats, label: str) -> Side:
    """A side holding statistics only, with their n and dims in the metadata."""
    if isinstance(stats, FeatureStats):
        return Side(label, {}, {"n": stats.n, "dims": stats.dims}, stats)
    meta = {**stats.metadata, "dims": int(stats.mu.shape[0])}
    meta.setdefault("n", stats.n)
    return Side(str(stats.path) if label == "reference" else label, {}, meta, stats)


def _stored_name(name: str, feature: str, arrays: Mapping[str, np.ndarray]) -> str:
    """Return the key under which an output is stored in an npz: the extractor's default output ``feature``
    (pool3 for inception) is ``features``; IS logits fall back."""
    if name == feature:
        return "features"
    if name == LOGITS_OUTPUT and name not in arrays and "logits" in arrays:
        return "logits"
    return name


def _side_metadata(meta: dict[str, Any], output: str, array: np.ndarray) -> dict[str, Any]:
    """Return the metadata record of one side, reduced to the output compared and with its n and dims."""
    extractor = meta.get("extractor")
    if isinstance(extractor, dict):
        extractor = extractor.get(output)
    record = {**meta, "extractor": extractor, "n": int(array.shape[0])}
    if array.ndim == 2:
        record["dims"] = int(array.shape[1])
    return record


# Class counts of the classifiers whose logits the Inception Score is defined on: the FID Inception (1008, with
# 8 unused classes) and ImageNet classifiers (1000).
LOGITS_WIDTHS = (1008, 1000)
_LOGITS_OUTPUTS = ("logits", "logits_unbiased")


def check_logits(label: str, logits: Any, metadata: dict[str, Any], assume_logits: bool = False) -> None:
    """Raise ``ValueError`` unless the logits (N, K) read from the input ``label`` can be classifier logits.

    A file whose metadata lists its ``outputs`` decides: it must hold logits. An ``.npz`` without that record
    stored the array under the name ``logits`` (or ``logits_unbiased``), which says what it is. A ``.npy`` says
    nothing: its width must be one of ``LOGITS_WIDTHS`` (2,048 columns are pool3 features, on which IS gives a
    meaningless number near 1), or the caller states it holds logits (``assume_logits``, ``--assume-logits``).
    """
    outputs = metadata.get("outputs")
    if isinstance(outputs, list):
        if not any(name in outputs for name in _LOGITS_OUTPUTS):
            raise ValueError(
                f"{label}: its metadata records the outputs {', '.join(map(str, outputs))}, not "
                "logits; the Inception Score needs logits (ganmetrics features --logits)"
            )
        return
    if Path(label).suffix.lower() == ".npz":
        return
    width = int(logits.shape[1])
    if width in LOGITS_WIDTHS or assume_logits:
        return
    hint = "; 2048 is the width of its pool3 features, which are not logits" if width == 2048 else ""
    raise ValueError(
        f"{label}: has {width} columns, but the logits of the FID Inception have 1008 classes (ImageNet "
        f"classifiers 1000){hint}. If these are another classifier's logits, pass --assume-logits "
        "(assume_logits=True)"
    )


def warn_if_rank_deficient(label: str, n: int, dims: int) -> None:
    """Warn (``RankDeficientWarning``) when FID statistics of ``label`` come from ``n <= dims`` samples.

    The one policy for every FID side: features, images and statistics files alike, in ``fid``, ``all``,
    ``check`` and the API that reads paths.
    """
    if n <= dims:
        warnings.warn(
            f"{label}: {n} samples for {dims} feature dimensions: the covariance is rank-deficient (rank at most "
            f"{n - 1}) and FID is biased upward at this sample size; use more than {dims} samples for "
            "comparable numbers",
            RankDeficientWarning,
            stacklevel=4,
        )
