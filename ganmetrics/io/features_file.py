"""Feature files: ``.npy`` holding an (N, d) array, or ``.npz`` holding ``features`` (and optionally ``logits``
and a JSON ``metadata`` record)."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganmetrics.io.atomic import atomic_write
from ganmetrics.io.metadata import read_metadata_record

FEATURE_SUFFIXES = (".npy", ".npz")


@dataclass
class LoadedFeatures:
    """Arrays read from a feature file by name (``features``, maybe ``logits``) and the metadata record."""

    path: Path
    arrays: dict[str, np.ndarray]
    metadata: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> np.ndarray:
        """Return the 2-D array ``key``; ``ValueError`` naming the file when it is absent or not (N, d)."""
        if key not in self.arrays:
            raise ValueError(f"{self.path}: has no '{key}' array (arrays found: {sorted(self.arrays)})")
        array = self.arrays[key]
        if array.ndim != 2:
            raise ValueError(f"{self.path}: '{key}' must be a 2-D (N, d) array, got shape {array.shape}")
        return array


def load_features(path: str | Path) -> LoadedFeatures:
    """Read a ``.npy`` (its array is ``features``) or ``.npz`` feature file.

    Raises ``ValueError`` naming the file when it is missing or unreadable, or its metadata record is not a
    JSON object (``io.metadata.read_metadata_record``).
    """
    source = Path(path)
    if not source.is_file():
        raise ValueError(f"{source}: no such file")
    try:
        if source.suffix.lower() == ".npy":
            return LoadedFeatures(source, {"features": np.load(source, allow_pickle=False)})
        with np.load(source, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{source}: not a readable {source.suffix} file ({exc})") from None
    metadata = read_metadata_record(arrays, source)
    arrays.pop("metadata", None)
    return LoadedFeatures(source, arrays, metadata)


def save_features(path: str | Path, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> Path:
    """Write feature arrays atomically: ``.npy`` takes ``features`` alone; ``.npz`` every array plus metadata."""
    target = Path(path)
    with atomic_write(target) as handle:
        if target.suffix.lower() == ".npy":
            np.save(handle, arrays["features"])
        else:
            stored: dict[str, Any] = {**arrays, "metadata": np.array(json.dumps(metadata, sort_keys=True))}
            np.savez(handle, **stored)
    return target
