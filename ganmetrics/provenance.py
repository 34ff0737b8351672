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


# The metadata field that marks features and statistics made with the seeded random weights of
# ``ganmetrics weights random`` (``features.random_weights``), and its value: numbers for trying the pipeline and
# for tests, never for reporting. They are compared only with each other.
WEIGHTS_KIND = "weights_kind"
RANDOM_TEST_WEIGHTS = "random-test"


class RandomTestWeightsWarning(UserWarning):
    """Both inputs were made with random test weights: the numbers check the pipeline and mean nothing."""


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

    Inputs made with random test weights (``WEIGHTS_KIND`` is ``RANDOM_TEST_WEIGHTS``) are compared only with
    each other (or with an input recording the same ``weights_sha256``, made with the same file before it was
    marked), with a ``RandomTestWeightsWarning``; against any other input ``ProvenanceMismatchError`` is raised
    even with ``allow_mismatch``, since such a number would look like a real one.

    Records written before a field was renamed are read under the current name (``normalise``).
    """
    first, second = normalise(first), normalise(second)
    random = [meta.get(WEIGHTS_KIND) == RANDOM_TEST_WEIGHTS for meta in (first, second)]
    same_weights = first.get("weights_sha256") is not None and first.get("weights_sha256") == second.get(
        "weights_sha256"
    )
    if random[0] != random[1] and not same_weights:
        test_side, other = names if random[0] else names[::-1]
        raise ProvenanceMismatchError(
            f"{test_side} was made with random test weights (ganmetrics weights random) and {other} was not: "
            "such numbers are for trying the pipeline and tests only, never comparable with real features "
            "(--allow-mismatch does not change this)"
        )
    if any(random):
        warnings.warn(
            f"{names[0]} and {names[1]} were made with random test weights: the result checks the pipeline and "
            "means nothing; never report it",
            RandomTestWeightsWarning,
            stacklevel=3,
        )
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
