"""Through the command line: inputs made with a different extractor, weights, resize mode or dims are refused
with one error naming both inputs and the field; ``--allow-mismatch`` computes anyway and records the fields in
the JSON output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import ot
import pytest
from cli_run import run, run_json
from pytorch_fid.fid_score import calculate_frechet_distance

from ganmetrics.io.features_file import save_features
from ganmetrics.io.stats_file import save_stats
from ganmetrics.metrics.statistics import FeatureStats
from ganmetrics.provenance import (
    RANDOM_TEST_WEIGHTS,
    WEIGHTS_KIND,
    ProvenanceMismatchError,
    RandomTestWeightsWarning,
    check_comparable,
)

_MADE_LIKE = {
    "extractor": "fid-inception-v3/pool3",
    "weights_sha256": "a" * 64,
    "resize": "pytorch-fid",
    "numerics": "fp32",
}


def _sample(seed: int, n: int = 120, d: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)) + seed * 0.1


def _stats_file(path: Path, x: np.ndarray, **changes: object) -> Path:
    return save_stats(path, FeatureStats.from_features(x), {**_MADE_LIKE, **changes})


def _features_file(path: Path, x: np.ndarray, **changes: object) -> Path:
    return save_features(path, {"features": x}, {**_MADE_LIKE, **changes})


@pytest.mark.parametrize(
    ("field", "other"),
    [
        ("resize", "clean"),
        ("weights_sha256", "b" * 64),
        ("extractor", "fid-inception-v3/block768"),
        ("numerics", "bf16"),
    ],
)
def test_fid_refuses_stats_made_differently_naming_both_files_and_field(tmp_path: Path, field: str, other: str) -> None:
    first = _stats_file(tmp_path / "first.npz", _sample(1))
    second = _stats_file(tmp_path / "second.npz", _sample(2), **{field: other})
    code, out, err = run("fid", first, second)
    assert code == 1 and out == ""
    assert f"{first} and {second} were not made the same way ({field}: {_MADE_LIKE[field]!r} vs {other!r})" in err
    assert "--allow-mismatch" in err and "Traceback" not in err


def test_fid_allow_mismatch_computes_and_records_the_fields(tmp_path: Path) -> None:
    x, y = _sample(1), _sample(2)
    first = _stats_file(tmp_path / "first.npz", x)
    second = _stats_file(tmp_path / "second.npz", y, resize="tf", weights_sha256="c" * 64)
    result = run_json("fid", first, second, "--allow-mismatch")
    assert result["mismatch_allowed"] == ["weights_sha256", "resize"]
    expected = calculate_frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert result["fid"] == pytest.approx(expected, rel=1e-9)  # scipy sqrtm vs eigen route, float64


def test_fid_refuses_stats_of_different_dims_naming_both(tmp_path: Path) -> None:
    first = _stats_file(tmp_path / "five.npz", _sample(1, d=5))
    second = _stats_file(tmp_path / "four.npz", _sample(2, d=4))
    code, _, err = run("fid", first, second)
    assert code == 1 and f"{first} and {second} were not made the same way (dims: 5 vs 4)" in err


@pytest.mark.parametrize("command", ["kid", "mmd", "emd", "sinkhorn"])
def test_feature_metrics_refuse_features_made_with_other_weights(tmp_path: Path, command: str) -> None:
    first = _features_file(tmp_path / "first.npz", _sample(1))
    second = _features_file(tmp_path / "second.npz", _sample(2), weights_sha256="d" * 64)
    # KID's default subset size (1000) exceeds these 120 rows and would be refused first, before provenance.
    extra = {"sinkhorn": ["--reg", "1.0"], "kid": ["--subset-size", "50"]}.get(command, [])
    code, _, err = run(command, first, second, *extra)
    assert code == 1
    assert f"{first} and {second} were not made the same way (weights_sha256: {'a' * 64!r} vs {'d' * 64!r})" in err


def test_emd_allow_mismatch_records_the_field_and_equals_pot(tmp_path: Path) -> None:
    x, y = _sample(1, n=60), _sample(2, n=50)
    first = _features_file(tmp_path / "first.npz", x)
    second = _features_file(tmp_path / "second.npz", y, resize="clean")
    result = run_json("emd", first, second, "--allow-mismatch")
    assert result["mismatch_allowed"] == ["resize"]
    expected = ot.emd2(np.full(60, 1 / 60), np.full(50, 1 / 50), ot.dist(x, y, metric="euclidean"))
    assert result["emd"] == pytest.approx(expected, rel=1e-9)  # same LP; float64 round-off of the cost sum


def test_inputs_made_the_same_way_compare_without_a_mismatch_record(tmp_path: Path) -> None:
    first = _stats_file(tmp_path / "first.npz", _sample(1))
    second = _stats_file(tmp_path / "second.npz", _sample(2))
    assert "mismatch_allowed" not in run_json("fid", first, second)


def test_fp32_fast_statistics_compare_with_fp32_ones(tmp_path: Path) -> None:
    # fp32-fast is the same float32 network rounded differently: comparable with fp32, no mismatch recorded.
    x, y = _sample(1), _sample(2)
    first = _stats_file(tmp_path / "first.npz", x)
    second = _stats_file(tmp_path / "second.npz", y, numerics="fp32-fast")
    result = run_json("fid", first, second)
    assert "mismatch_allowed" not in result
    expected = calculate_frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert result["fid"] == pytest.approx(expected, rel=1e-9)  # scipy sqrtm vs eigen route, float64


def test_records_written_with_the_old_precision_field_compare_as_numerics(tmp_path: Path) -> None:
    # Files written before the rename say "precision" for the network's numeric mode: still compared, under the
    # current name, so a bf16 file made that way is refused against an fp32 one.
    old = {key: value for key, value in _MADE_LIKE.items() if key != "numerics"}
    first = _stats_file(tmp_path / "first.npz", _sample(1))
    second = save_stats(tmp_path / "second.npz", FeatureStats.from_features(_sample(2)), {**old, "precision": "bf16"})
    code, _, err = run("fid", first, second)
    assert code == 1 and "(numerics: 'fp32' vs 'bf16')" in err


# -- random test weights (issue 14, section 3): compared only with each other

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
