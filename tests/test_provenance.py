"""Inputs made with random test weights are compared only with each other (issue 14, section 3)."""

from __future__ import annotations

import pytest

from ganmetrics.provenance import (
    RANDOM_TEST_WEIGHTS,
    WEIGHTS_KIND,
    ProvenanceMismatchError,
    RandomTestWeightsWarning,
    check_comparable,
)

RANDOM = {"extractor": "fid-inception-v3/pool3", "weights_sha256": "aa", WEIGHTS_KIND: RANDOM_TEST_WEIGHTS}
REAL = {"extractor": "fid-inception-v3/pool3", "weights_sha256": "bb"}
PEER_STATS: dict = {}  # a pytorch-fid stats file: nothing recorded


@pytest.mark.parametrize("other", [REAL, PEER_STATS])
@pytest.mark.parametrize("allow_mismatch", [False, True])
def test_random_test_weights_are_refused_against_any_other_input_even_with_allow_mismatch(
    other: dict, allow_mismatch: bool
) -> None:
    for first, second, names in ((RANDOM, other, ("r.npz", "o.npz")), (other, RANDOM, ("o.npz", "r.npz"))):
        with pytest.raises(ProvenanceMismatchError, match="^r.npz was made with random test weights .* o.npz was not"):
            check_comparable(first, second, names, allow_mismatch)


def test_two_random_test_weight_inputs_are_compared_with_a_warning() -> None:
    with pytest.warns(RandomTestWeightsWarning, match="never report it"):
        assert check_comparable(RANDOM, dict(RANDOM), ("a", "b")) == []


def test_an_unmarked_input_made_with_the_same_weights_file_counts_as_random_test() -> None:
    # Same SHA-256, same weights: e.g. statistics written before the marker existed.
    unmarked = {key: value for key, value in RANDOM.items() if key != WEIGHTS_KIND}
    with pytest.warns(RandomTestWeightsWarning):
        assert check_comparable(unmarked, RANDOM, ("old.npz", "new.npz")) == []
