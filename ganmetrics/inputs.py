"""From what a user points at (an image folder, a zip, a feature file, a stats file) to features or statistics.

This is the layer under the command line and the path-taking API: it knows the file kinds, runs the Inception
extractor when images are given (loading the network once for both sides), and keeps each side's metadata so
that incomparable inputs are refused (``ganmetrics.provenance``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganmetrics.defaults import DEFAULTS
from ganmetrics.distributed import extract_features_distributed
from ganmetrics.features.extract import EXTRACTOR
from ganmetrics.features.extractors.inception import FIDInceptionV3, load_fid_inception
from ganmetrics.io.features_file import FEATURE_SUFFIXES, load_features
from ganmetrics.io.stats_file import LoadedStats, is_stats_file, load_stats
from ganmetrics.metrics.frechet import FrechetReference
from ganmetrics.metrics.statistics import FeatureStats
from ganmetrics.reference_store import resolve_reference_path


class RankDeficientWarning(UserWarning):
    """Fewer samples than feature dimensions: the covariance is singular and FID is biased at this size."""


@dataclass
class ExtractionOptions:
    """How images are turned into features (see ``ganmetrics.features.extract.extract_features``)."""

    weights: str | Path | None = None
    resize: str = DEFAULTS["resize"]
    batch_size: int = DEFAULTS["batch_size"]
    num_workers: int | None = DEFAULTS["num_workers"]
    device: str | None = None
    precision: str = DEFAULTS["precision"]
    progress: bool = True
    skip_bad: bool = False
    recursive: bool = False


@dataclass
class Side:
    """One side of a comparison: its label (the path), arrays by name, and how they were made."""

    label: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def is_image_source(path: Path) -> bool:
    """Return whether ``path`` is read as images (a folder or a .zip) rather than as an array file."""
    return path.is_dir() or path.suffix.lower() == ".zip"


class InputLoader:
    """Loads sides of a comparison, running the FID Inception network (loaded at most once) on image inputs."""

    def __init__(self, options: ExtractionOptions | None = None) -> None:
        self.options = options or ExtractionOptions()
        self._model: tuple[FIDInceptionV3, str] | None = None

    def _network(self) -> tuple[FIDInceptionV3, str]:
        if self._model is None:
            opts = self.options
            device = opts.device if opts.device not in (None, "auto") else None
            if device is None:
                device = "cuda" if torch.cuda.is_available() else "cpu"
            elif str(device).startswith("cuda") and not torch.cuda.is_available():
                raise ValueError(f"device: {device!r} was asked for but CUDA is not available on this machine")
            self._model = load_fid_inception(opts.weights, device, progress=opts.progress)
        return self._model

    def arrays(self, path: str | Path, outputs: tuple[str, ...]) -> Side:
        """Return the arrays ``outputs`` (e.g. ``("pool3",)`` or ``("logits_unbiased",)``) of an input.

        Images are run through the network; an ``.npz`` feature file gives its arrays of those names (``pool3``
        is stored as ``features``); a ``.npy`` file is taken as the one requested array.
        """
        source = resolve_reference_path(path)
        if not source.exists():
            raise ValueError(f"{source}: no such file or folder")
        if is_image_source(source):
            model, sha256 = self._network()
            opts = self.options
            extraction = extract_features_distributed(
                source,
                model=model,
                resize=opts.resize,
                outputs=outputs,
                batch_size=opts.batch_size,
                num_workers=opts.num_workers,
                precision=opts.precision,
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
            arrays = {name: loaded.get(_stored_name(name, loaded.arrays)) for name in outputs}
        return Side(str(source), arrays, _side_metadata(loaded.metadata, outputs[0], arrays[outputs[0]]))

    def stats(self, path: str | Path) -> tuple[FeatureStats | LoadedStats, dict[str, Any]]:
        """Return the Gaussian statistics of an input and its metadata (a stats file is read as is).

        Warns (``RankDeficientWarning``) when the statistics come from fewer samples than dimensions.
        """
        source = resolve_reference_path(path)
        if is_stats_file(source):
            loaded = load_stats(source)
            meta = {**loaded.metadata, "dims": int(loaded.mu.shape[0])}
            meta.setdefault("n", loaded.n)
            return loaded, meta
        side = self.arrays(source, ("pool3",))
        features = side.arrays["pool3"]
        _warn_if_rank_deficient(side.label, *features.shape)
        return FeatureStats.from_features(features, side.label), side.metadata


def _stored_name(name: str, arrays: dict[str, np.ndarray]) -> str:
    """Return the key under which an output is stored in an npz: pool3 is ``features``; IS logits fall back."""
    if name == "pool3":
        return "features"
    if name == "logits_unbiased" and name not in arrays and "logits" in arrays:
        return "logits"
    return name


def _side_metadata(meta: dict[str, Any], output: str, array: np.ndarray) -> dict[str, Any]:
    """Return the metadata record of one side, reduced to the output compared and with its n and dims."""
    extractor = meta.get("extractor")
    if isinstance(extractor, dict):
        extractor = extractor.get(output, f"{EXTRACTOR}/{output}")
    record = {**meta, "extractor": extractor, "n": int(array.shape[0])}
    if array.ndim == 2:
        record["dims"] = int(array.shape[1])
    return record


def _warn_if_rank_deficient(label: str, n: int, dims: int) -> None:
    if n <= dims:
        warnings.warn(
            f"{label}: {n} samples for {dims} feature dimensions: the covariance is rank-deficient (rank at most "
            f"{n - 1}) and FID is biased upward at this sample size; use more than {dims} samples for "
            "comparable numbers",
            RankDeficientWarning,
            stacklevel=3,
        )


def frechet_between(first: FeatureStats | LoadedStats, second: FeatureStats | LoadedStats) -> float:
    """Return the Fréchet distance between two sides' statistics (exact low-rank route for features)."""
    ref = (
        FrechetReference.from_stats(first)
        if isinstance(first, FeatureStats)
        else FrechetReference(first.mu, first.sigma)
    )
    if isinstance(second, FeatureStats):
        return ref.distance_to_stats(second)
    return ref(second.mu, second.sigma)
