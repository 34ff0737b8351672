"""Feature and statistics npz files that are malformed are refused with one error naming the file (issue 14,
items 3, 9, 10 and the smaller ones): metadata that is not a JSON object, complex or non-finite statistics, a
sample count that is not one integer >= 2 or disagrees with the metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ganmetrics.io.features_file import load_features
from ganmetrics.io.stats_file import load_stats


def gaussian(seed: int = 0, n: int = 30, d: int = 4) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed).standard_normal((n, d))
    return x.mean(0), np.cov(x, rowvar=False)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (json.dumps([1, 2]), "its metadata record must be a JSON object, got a JSON list"),
        (json.dumps("text"), "its metadata record must be a JSON object, got a JSON str"),
        (json.dumps(3), "its metadata record must be a JSON object, got a JSON int"),
        ("{bad", "its metadata record is not valid JSON"),
    ],
)
@pytest.mark.parametrize("kind", ["features", "stats"])
def test_metadata_that_is_not_a_json_object_is_refused_naming_the_file(
    tmp_path: Path, kind: str, record: str, message: str
) -> None:
    # Before: a list gave AttributeError: 'list' object has no attribute 'get'; bad JSON a message without the file.
    path = tmp_path / f"{kind}.npz"
    mu, sigma = gaussian()
    arrays = {"features": np.ones((3, 2))} if kind == "features" else {"mu": mu, "sigma": sigma}
    np.savez(path, **arrays, metadata=np.array(record))
    with pytest.raises(ValueError, match=f"^{path}: {message}"):
        (load_features if kind == "features" else load_stats)(path)


def test_metadata_that_is_not_one_string_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "f.npz"
    np.savez(path, features=np.ones((3, 2)), metadata=np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=f"^{path}: its metadata record must be one JSON string"):
        load_features(path)


@pytest.mark.parametrize("key", ["mu", "sigma"])
def test_complex_statistics_are_refused_naming_the_file_and_array(tmp_path: Path, key: str) -> None:
    # Before: numpy's "Casting complex values to real discards the imaginary part" and {"fid": 0.0}, exit 0.
    mu, sigma = gaussian()
    arrays = {"mu": mu, "sigma": sigma, key: {"mu": mu, "sigma": sigma}[key] + 0j}
    path = tmp_path / "s.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=f"^{path}: {key} holds complex values"):
        load_stats(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_statistics_are_refused_naming_the_file(tmp_path: Path, bad: float) -> None:
    mu, sigma = gaussian()
    mu[1] = bad
    path = tmp_path / "s.npz"
    np.savez(path, mu=mu, sigma=sigma)
    with pytest.raises(ValueError, match=f"^{path}: mu holds 1 NaN or Inf value"):
        load_stats(path)


def test_statistics_of_text_are_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.npz"
    np.savez(path, mu=np.array(["a", "b"]), sigma=np.eye(2))
    with pytest.raises(ValueError, match=f"^{path}: mu must hold real numbers"):
        load_stats(path)


@pytest.mark.parametrize(
    ("n", "metadata", "message"),
    [
        (np.int64(-5), None, "n must be at least 2 .*got -5"),
        (np.int64(1), None, "n must be at least 2 .*got 1"),
        (None, {"n": "many"}, "the metadata's n must be an integer, got 'many'"),
        (None, {"n": True}, "the metadata's n must be an integer, got True"),
        (None, {"n": 2.5}, "the metadata's n must be an integer, got 2.5"),
        (np.array([1, 2]), None, r"n must be one integer, got dtype int64 shape \(2,\)"),
        (np.float64(30.0), None, "n must be one integer, got dtype float64"),
        (np.int64(30), {"n": 31}, "n is 30 but its metadata record says 31"),
    ],
)
def test_sample_count_that_is_not_one_integer_of_at_least_2_is_refused_naming_the_file(
    tmp_path: Path, n: np.ndarray | None, metadata: dict | None, message: str
) -> None:
    # Before: reported as "n1": -5 / "n1": "many"; a vector n gave a message without the file.
    mu, sigma = gaussian()
    arrays = {"mu": mu, "sigma": sigma}
    if n is not None:
        arrays["n"] = n
    if metadata is not None:
        arrays["metadata"] = np.array(json.dumps(metadata))
    path = tmp_path / "s.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=f"^{path}: {message}"):
        load_stats(path)


def test_consistent_sample_counts_are_read(tmp_path: Path) -> None:
    mu, sigma = gaussian()
    path = tmp_path / "s.npz"
    np.savez(path, mu=mu, sigma=sigma, n=np.int32(30), metadata=np.array(json.dumps({"n": 30})))
    loaded = load_stats(path)
    assert loaded.n == 30 and type(loaded.n) is int
    np.savez(path, mu=mu, sigma=sigma)  # pytorch-fid's format: no count at all
    assert load_stats(path).n is None
