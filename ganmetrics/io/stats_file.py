"""Statistics files: an npz with ``mu`` and ``sigma`` (pytorch-fid's format, readable by it as is) plus ``n``
and a JSON ``metadata`` record saying how the statistics were made.

The record holds ``n``, ``dims``, ``dtype`` and ``ddof`` (always written) and what the caller adds: for statistics
of images, the extractor and layer, ``weights_sha256``, ``resize``, ``image_sizes``, ``ganmetrics_version`` (set
here when absent) and the ``command`` that made the file.

pytorch-fid (``save_fid_stats``), TTUR (``precalc_stats_example.py``) and clean-fid (``make_custom_stats``) all
write ``np.savez_compressed(path, mu=mu, sigma=sigma)``: these are read as is, with an empty metadata record,
i.e. unknown provenance (``provenance.check_comparable`` warns when such a file is compared).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ganmetrics._version import __version__
from ganmetrics.io.atomic import atomic_write
from ganmetrics.io.metadata import read_metadata_record


class Moments(Protocol):
    """What :func:`save_stats` writes: a mean (d,), a covariance (d, d) with ddof = 1, the sample count ``n`` and
    ``dims`` (``ganmetrics.metrics.statistics.FeatureStats`` is one)."""

    @property
    def mu(self) -> torch.Tensor: ...

    @property
    def sigma(self) -> torch.Tensor: ...

    n: int
    dims: int


@dataclass
class LoadedStats:
    """Statistics read from a file: mean, covariance, sample count (None when the file has none), metadata.

    ``FeatureStats.from_moments(loaded.mu, loaded.sigma, loaded.n)`` makes them mergeable statistics again.
    """

    path: Path
    mu: np.ndarray
    sigma: np.ndarray
    n: int | None
    metadata: dict[str, Any] = field(default_factory=dict)


def save_stats(path: str | Path, stats: Moments, metadata: dict[str, Any]) -> Path:
    """Write ``mu``, ``sigma`` (float64), ``n`` and ``metadata`` (JSON) to the npz ``path`` atomically."""
    target = Path(path)
    record = {
        "ganmetrics_version": __version__,
        **metadata,
        "n": stats.n,
        "dims": stats.dims,
        "dtype": "float64",
        "ddof": 1,
    }
    with atomic_write(target) as handle:
        np.savez(
            handle,
            mu=stats.mu.cpu().numpy(),
            sigma=stats.sigma.cpu().numpy(),
            n=np.int64(stats.n),
            metadata=np.array(json.dumps(record, sort_keys=True)),
        )
    return target


def load_stats(path: str | Path) -> LoadedStats:
    """Read a statistics npz (ours, pytorch-fid's, TTUR's or clean-fid's).

    Raises ``ValueError`` naming the file when it is missing, not an npz, lacks ``mu``/``sigma``, holds
    arrays of the wrong shape, complex, non-numeric or non-finite values, an ``n`` that is not one integer >= 2
    or disagrees with the metadata's, or a metadata record that is not a JSON object.
    """
    source = Path(path)
    if not source.is_file():
        raise ValueError(f"{source}: no such file")
    try:
        with np.load(source, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{source}: not a readable npz file ({exc})") from None
    missing = [key for key in ("mu", "sigma") if key not in arrays]
    if missing:
        raise ValueError(f"{source}: has no {' or '.join(missing)} (keys found: {sorted(arrays)})")
    mu, sigma = (_real_array(arrays[key], key, source) for key in ("mu", "sigma"))
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{source}: mu has shape {mu.shape} and sigma {sigma.shape}; expected (d,) and (d, d)")
    metadata = read_metadata_record(arrays, source)
    return LoadedStats(path=source, mu=mu, sigma=sigma, n=_sample_count(arrays, metadata, source), metadata=metadata)


def _real_array(array: np.ndarray, key: str, source: Path) -> np.ndarray:
    """Return ``array`` as float64; ``ValueError`` naming the file when it is complex, not numeric, or not finite."""
    if array.dtype.kind == "c":
        raise ValueError(f"{source}: {key} holds complex values ({array.dtype}); statistics must be real")
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{source}: {key} must hold real numbers, got dtype {array.dtype}")
    real = array.astype(np.float64)
    if not np.isfinite(real).all():
        raise ValueError(f"{source}: {key} holds {int((~np.isfinite(real)).sum())} NaN or Inf value(s)")
    return real


def _sample_count(arrays: dict[str, np.ndarray], metadata: dict[str, Any], source: Path) -> int | None:
    """Return the sample count of a statistics file: the ``n`` array and/or the metadata's ``n``, which must be
    integers >= 2 (a covariance needs two samples) and agree; None when the file records neither."""
    counts = []
    if "n" in arrays:
        n = arrays["n"]
        if n.ndim != 0 or n.dtype.kind not in "iu":
            raise ValueError(f"{source}: n must be one integer, got dtype {n.dtype} shape {n.shape}")
        counts.append(int(n))
    if "n" in metadata:
        recorded = metadata["n"]
        if isinstance(recorded, bool) or not isinstance(recorded, int):
            raise ValueError(f"{source}: the metadata's n must be an integer, got {recorded!r}")
        counts.append(recorded)
    if not counts:
        return None
    if min(counts) < 2:
        raise ValueError(f"{source}: n must be at least 2 (a covariance needs two samples), got {min(counts)}")
    if len(set(counts)) > 1:
        raise ValueError(f"{source}: n is {counts[0]} but its metadata record says {counts[1]}")
    return counts[0]


def is_stats_file(path: str | Path) -> bool:
    """Return whether ``path`` is an npz holding ``mu`` and ``sigma`` (rather than features)."""
    source = Path(path)
    if source.suffix.lower() != ".npz" or not source.is_file():
        return False
    try:
        with np.load(source, allow_pickle=False) as data:
            return {"mu", "sigma"} <= set(data.files)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return False
