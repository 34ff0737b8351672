"""Whether two sets of features or statistics were made the same way, and so give comparable numbers.

Mixing resize modes or weights silently moves FID by whole points. Every stats and feature file we write carries
a metadata record; two inputs are compared only when the fields below agree on both sides.
"""

from __future__ import annotations

import warnings
from typing import Any

# The fields that must agree for two inputs to be comparable ("resize" names the preprocessing protocol).
COMPARED_FIELDS = ("extractor", "weights_sha256", "resize", "numerics", "dims")
# Recorded values that count as equal. "fp32-fast" computes the same float32 network as "fp32", rounded
# differently (pool3 moves by ~1e-5 relative, as between machines with different core counts); bf16 and fp16
# move it by percents and are compared as themselves.
_SAME_AS = {("numerics", "fp32-fast"): "fp32"}
# Field names of records written before a rename: the network's numeric mode was recorded as "precision".
_RENAMED = {"precision": "numerics"}


def normalise(meta: dict[str, Any]) -> dict[str, Any]:
    """Return ``meta`` with fields recorded under an older name (``_RENAMED``) under their current name."""
    old = [key for key in _RENAMED if key in meta and _RENAMED[key] not in meta]
    if not old:
        return meta
    return {**{k: v for k, v in meta.items() if k not in old}, **{_RENAMED[k]: meta[k] for k in old}}


class UnknownProvenanceWarning(UserWarning):
    """An input carries no record of how it was made (e.g. a pytorch-fid stats file)."""


class ProvenanceMismatchError(ValueError):
    """Two inputs were made differently (extractor, weights, protocol, network numerics or dimensions)."""


def check_comparable(
    first: dict[str, Any], second: dict[str, Any], names: tuple[str, str], allow_mismatch: bool = False
) -> list[str]:
    """Return the compared fields whose values differ between two metadata records (empty when comparable).

    A field missing on either side is not compared; a side with no recorded field at all gets an
    ``UnknownProvenanceWarning``. Raises ``ProvenanceMismatchError`` naming both sides and every differing field
    unless ``allow_mismatch``, in which case the differing fields are only returned (for the caller to record).
    Records written before a field was renamed are read under the current name (``normalise``).
    """
    first, second = normalise(first), normalise(second)
    for meta, name in zip((first, second), names, strict=True):
        if not any(meta.get(key) is not None for key in COMPARED_FIELDS if key != "dims"):
            warnings.warn(
                f"{name}: unknown provenance (no extractor, weights or resize mode recorded); the comparison "
                "assumes it was made like the other side",
                UnknownProvenanceWarning,
                stacklevel=3,
            )
    differing = [
        key
        for key in COMPARED_FIELDS
        if first.get(key) is not None
        and second.get(key) is not None
        and _SAME_AS.get((key, first[key]), first[key]) != _SAME_AS.get((key, second[key]), second[key])
    ]
    if differing and not allow_mismatch:
        details = "; ".join(f"{key}: {first[key]!r} vs {second[key]!r}" for key in differing)
        raise ProvenanceMismatchError(
            f"{names[0]} and {names[1]} were not made the same way ({details}); the numbers would not be "
            "comparable. Recompute one side, or pass --allow-mismatch (allow_mismatch=True) to compare anyway."
        )
    return differing
