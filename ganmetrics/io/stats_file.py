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

    Raises ``ValueError`` naming the file when it is missing, not an npz, lacks ``mu``/``sigma``, or holds
    arrays of the wrong shape.
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
    mu, sigma = arrays["mu"].astype(np.float64), arrays["sigma"].astype(np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{source}: mu has shape {mu.shape} and sigma {sigma.shape}; expected (d,) and (d, d)")
    try:
        metadata = json.loads(str(arrays["metadata"])) if "metadata" in arrays else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: its metadata record is not valid JSON ({exc})") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{source}: its metadata record is not a JSON object")
    n = int(arrays["n"]) if "n" in arrays else metadata.get("n")
    return LoadedStats(path=source, mu=mu, sigma=sigma, n=n, metadata=metadata)


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
