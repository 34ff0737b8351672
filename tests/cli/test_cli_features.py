"""The command line on feature and stats files: values equal the API (itself tested against references), clean
``--json`` output, and one clear error with a non-zero exit for each kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import ot
import pytest
from cli_run import run, run_json
from pytorch_fid.fid_score import calculate_frechet_distance

from ganmetrics.defaults import DEFAULTS
from ganmetrics.metrics.inception_score import inception_score
from ganmetrics.metrics.mmd import kid, mmd2_unbiased


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((300, 8)), rng.standard_normal((250, 8)) * 1.2 + 0.4
    paths = {"x": tmp_path / "x.npy", "y": tmp_path / "y.npy", "ynpz": tmp_path / "y.npz"}
    np.save(paths["x"], x)
    np.save(paths["y"], y)
    np.savez(paths["ynpz"], features=y)
    return paths


def test_fid_json_equals_pytorch_fid_formula_on_the_same_arrays(files: dict[str, Path]) -> None:
    x, y = np.load(files["x"]), np.load(files["y"])
    expected = calculate_frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    result = run_json("fid", files["x"], files["ynpz"])
    assert result["fid"] == pytest.approx(expected, rel=1e-9)  # float64 round-off of two routes
    assert (result["n1"], result["n2"], result["dims"]) == (300, 250, 8)


def test_fid_from_stats_file_equals_fid_from_features(files: dict[str, Path], tmp_path: Path) -> None:
    stats = tmp_path / "x_stats.npz"
    code, _, err = run("stats", files["x"], "-o", stats)
    assert code == 0, err
    via_stats = run_json("fid", stats, files["y"])["fid"]
    via_features = run_json("fid", files["x"], files["y"])["fid"]
    assert via_stats == pytest.approx(via_features, rel=1e-10)


def test_stats_file_is_readable_as_pytorch_fid_stats(files: dict[str, Path], tmp_path: Path) -> None:
    stats = tmp_path / "x_stats.npz"
    run("stats", files["x"], "-o", stats)
    with np.load(stats) as data:  # what pytorch-fid's _compute_statistics_of_path does for .npz
        mu, sigma = data["mu"][:], data["sigma"][:]
    x = np.load(files["x"])
    np.testing.assert_allclose(mu, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-13)


def test_kid_mmd_is_json_equal_the_api(files: dict[str, Path], tmp_path: Path) -> None:
    x, y = np.load(files["x"]), np.load(files["y"])
    got = run_json("kid", files["x"], files["y"], "--subsets", "20", "--subset-size", "100", "--seed", "3")
    assert (got["kid_mean"], got["kid_std"]) == kid(x, y, subsets=20, subset_size=100, seed=3)
    got = run_json("mmd", files["x"], files["y"])
    expected = mmd2_unbiased(x, y, seed=DEFAULTS["seed"])
    assert (got["mmd2"], got["sigma"]) == (expected.mmd2, expected.sigma)
    logits = tmp_path / "logits.npy"
    np.save(logits, np.random.default_rng(1).standard_normal((100, 10)) * 3)
    got = run_json("is", logits, "--splits", "5", "--assume-logits")  # 10 classes, not the Inception's 1008
    assert (got["is_mean"], got["is_std"]) == inception_score(np.load(logits), splits=5)


def test_sinkhorn_and_emd_json_equal_pot(files: dict[str, Path]) -> None:
    x, y = np.load(files["x"]), np.load(files["y"])
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    cost = ot.dist(x, y, metric="euclidean")
    # POT's plain Sinkhorn at convergence; both stop at a marginal error of 1e-9, hence 1e-7 relative.
    expected = float(ot.sinkhorn2(a, b, cost, 1.0, numItermax=100_000, stopThr=1e-12))
    assert run_json("sinkhorn", files["x"], files["y"], "--reg", "1.0")["sinkhorn"] == pytest.approx(expected, rel=1e-7)
    assert run_json("emd", files["x"], files["y"])["emd"] == pytest.approx(float(ot.emd2(a, b, cost)), rel=1e-10)


def test_human_output_is_one_line(files: dict[str, Path]) -> None:
    code, out, _ = run("fid", files["x"], files["y"])
    assert code == 0
    assert out.count("\n") == 1 and out.startswith("fid: ")


# --- bad input: one clear message on stderr, non-zero exit, no traceback ------------------------------------


def assert_fails(args: tuple, message: str) -> None:
    code, out, err = run(*args)
    assert code != 0
    assert out == ""
    assert "Traceback" not in err
    assert message in err, err


def test_bad_input_missing_file(files: dict[str, Path], tmp_path: Path) -> None:
    assert_fails(("fid", files["x"], tmp_path / "nope.npy"), "nope.npy: no such file or folder")


def test_bad_input_npz_without_expected_keys(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, something=np.zeros((3, 8)))
    assert_fails(("kid", files["x"], bad), "bad.npz: has no 'features' array")


def test_bad_input_mismatched_dims(files: dict[str, Path], tmp_path: Path) -> None:
    other = tmp_path / "other.npy"
    np.save(other, np.zeros((20, 5)))
    assert_fails(("mmd", files["x"], other), "dims: 8 vs 5")


def test_bad_input_nan_features(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "nan.npy"
    array = np.ones((20, 8))
    array[3, 3] = np.nan
    np.save(bad, array)
    assert_fails(("fid", files["x"], bad), "contains 1 NaN or Inf")


def test_bad_input_one_dimensional_array(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "flat.npy"
    np.save(bad, np.ones(20))
    assert_fails(("emd", files["x"], bad), "must be a 2-D (N, d) array, got shape (20,)")


def test_bad_input_single_sample(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "one.npy"
    np.save(bad, np.ones((1, 8)))
    assert_fails(("fid", files["x"], bad), "needs at least 2 samples, got 1")


def test_bad_input_non_positive_reg(files: dict[str, Path]) -> None:
    assert_fails(("sinkhorn", files["x"], files["y"], "--reg", "0"), "reg")


def test_bad_input_stats_with_non_square_sigma(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad_stats.npz"
    np.savez(bad, mu=np.zeros(8), sigma=np.zeros((8, 7)))
    assert_fails(("fid", bad, files["x"]), "bad_stats.npz: mu has shape (8,) and sigma (8, 7)")


def test_bad_input_stats_with_asymmetric_sigma(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "asym.npz"
    sigma = np.eye(8)
    sigma[0, 1] = 1.0
    np.savez(bad, mu=np.zeros(8), sigma=sigma)
    assert_fails(("fid", bad, files["x"]), "is not symmetric")


def test_bad_input_kid_subset_larger_than_sample(files: dict[str, Path]) -> None:
    assert_fails(("kid", files["x"], files["y"], "--subset-size", "1000"), "1000")


def test_bad_input_unknown_file_kind(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    assert_fails(("fid", files["x"], bad), "notes.txt: not an image folder, a .zip of images, or a feature file")


def test_stats_output_must_be_npz_and_nothing_is_written_on_error(files: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = run("stats", files["x"], "-o", tmp_path / "out.txt")
    assert code != 0 and ".npz" in err
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((5, 8), np.nan))
    code, _, _ = run("stats", nan, "-o", tmp_path / "out.npz")
    assert code != 0
    assert not (tmp_path / "out.npz").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left
