"""``ganmetrics all``: every requested value equals the API function on the same feature files (themselves tested
against references), one JSON object or one table, bootstrap intervals with --ci, and clear errors."""

from __future__ import annotations

from pathlib import Path

import cli_run
import numpy as np
import pytest

from ganmetrics.cli.all import all_command
from ganmetrics.cli.options import ErrorReportingGroup
from ganmetrics.inputs import RankDeficientWarning
from ganmetrics.metrics.bootstrap import fid_interval, kid_interval
from ganmetrics.metrics.extrapolation import is_infinity
from ganmetrics.metrics.frechet import fid_from_features
from ganmetrics.metrics.inception_score import inception_score
from ganmetrics.metrics.mmd import kid, mmd2_unbiased
from ganmetrics.metrics.prdc import prdc
from ganmetrics.metrics.two_sample import mmd_permutation_test

# Feature files written here carry no provenance record; the warning saying so is expected.
pytestmark = pytest.mark.filterwarnings("ignore::ganmetrics.provenance.UnknownProvenanceWarning")

# The command under the same error handling as in the installed group (input errors -> one "Error:" line).
CLI = ErrorReportingGroup(commands={"all": all_command})


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    paths = {"real": tmp_path / "real.npy", "fake": tmp_path / "fake.npz", "fake_npy": tmp_path / "fake.npy"}
    np.save(paths["real"], rng.standard_normal((120, 6)))
    fake = rng.standard_normal((100, 6)) * 1.1 + 0.3
    np.save(paths["fake_npy"], fake)
    np.savez(paths["fake"], features=fake, logits=rng.standard_normal((100, 10)) * 2)
    return paths


def run(*args: object) -> tuple[int, str, str]:
    return cli_run.run("all", *args)


def run_json(*args: object) -> dict:
    return cli_run.run_json("all", *args)


def test_default_metrics_equal_the_api_on_the_same_arrays(files: dict[str, Path]) -> None:
    x, y = np.load(files["real"]), np.load(files["fake"])["features"]
    result = run_json(files["real"], files["fake"], "--subset-size", 50)
    expected_prdc = prdc(x, y)
    expected_mmd = mmd2_unbiased(x, y)
    # The same functions on the same float64 arrays: equal to the last bit (JSON round-trips floats exactly).
    assert result["fid"] == fid_from_features(x, y)
    assert (result["kid_mean"], result["kid_std"]) == kid(x, y, subset_size=50)
    assert (result["mmd2"], result["sigma"]) == (expected_mmd.mmd2, expected_mmd.sigma)
    assert [result[k] for k in ("precision", "recall", "density", "coverage")] == [
        expected_prdc.precision,
        expected_prdc.recall,
        expected_prdc.density,
        expected_prdc.coverage,
    ]
    assert (result["n1"], result["n2"], result["dims"]) == (120, 100, 6)


def test_generated_side_metrics_use_the_logits_of_second(files: dict[str, Path]) -> None:
    logits = np.load(files["fake"])["logits"]
    x, y = np.load(files["real"]), np.load(files["fake"])["features"]
    result = run_json(
        files["real"],
        files["fake"],
        "--metrics",
        "is,is_inf,mmd_test",
        "--splits",
        4,
        "--permutations",
        20,
        "--seed",
        3,
    )
    test = mmd_permutation_test(x, y, permutations=20, seed=3)
    assert (result["is_mean"], result["is_std"]) == inception_score(logits, splits=4)
    assert result["is_infinity"] == is_infinity(logits, seed=3).value
    assert (result["mmd2_p_value"], result["mmd2_std_error"]) == (test.p_value, test.std_error)
    assert "fid" not in result  # only what was asked for


def test_ci_adds_the_bootstrap_intervals_of_the_api(files: dict[str, Path]) -> None:
    x, y = np.load(files["real"]), np.load(files["fake"])["features"]
    result = run_json(
        files["real"],
        files["fake"],
        "--metrics",
        "fid,kid",
        "--subset-size",
        40,
        "--subsets",
        3,
        "--ci",
        0.8,
        "--bootstrap",
        10,
        "--seed",
        2,
    )
    expected_fid = fid_interval(x, y, level=0.8, resamples=10, seed=2)
    expected_kid = kid_interval(x, y, subsets=3, subset_size=40, kid_seed=2, level=0.8, resamples=10, seed=2)
    assert result["fid_ci"] == [expected_fid.low, expected_fid.high]
    assert result["kid_mean_ci"] == [expected_kid.low, expected_kid.high]
    assert (result["ci_level"], result["ci_resamples"]) == (0.8, 10)


def test_table_prints_one_line_per_value(files: dict[str, Path]) -> None:
    code, out, _ = run(files["real"], files["fake_npy"], "--metrics", "fid", "--ci", 0.9, "--bootstrap", 5)
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["fid", "fid_ci", "ci_level", "ci_resamples", "n1", "n2", "dims"]
    assert lines[1].split(None, 1)[1].startswith("[") and lines[1].endswith("]")


def test_unknown_metric_is_refused_with_the_choices(files: dict[str, Path]) -> None:
    code, out, err = run(files["real"], files["fake"], "--metrics", "fid,fancy")
    assert code == 2 and out == ""
    assert "fancy" in err and "choose from fid, is, kid" in err


def test_inception_score_of_a_features_only_npy_is_refused(files: dict[str, Path]) -> None:
    code, out, err = run(files["real"], files["fake_npy"], "--metrics", "is")
    assert code == 1 and out == ""
    assert err.startswith("Error: ") and "fake.npy" in err


def test_default_kid_subset_size_is_lowered_to_the_smaller_sample_and_reported(files: dict[str, Path]) -> None:
    # Issue 14, section 3: `all` on samples smaller than KID's default subset size (1000) failed after extraction.
    x, y = np.load(files["real"]), np.load(files["fake_npy"])
    with pytest.warns(UserWarning, match=r"kid: the subset size is lowered from its default 1000 to 100"):
        result = run_json(files["real"], files["fake_npy"], "--metrics", "kid")
    assert result["kid_subset_size"] == 100
    assert (result["kid_mean"], result["kid_std"]) == kid(x, y, subset_size=100)


def test_an_explicit_kid_subset_size_above_a_sample_is_refused_naming_kid_and_the_flag(
    files: dict[str, Path],
) -> None:
    code, out, err = run(files["real"], files["fake_npy"], "--metrics", "kid", "--subset-size", 500)
    assert code == 1 and out == ""
    expected = f"the subset size 500 (--subset-size, subset_size) is larger than the 100 samples of {files['fake_npy']}"
    assert f"Error: kid: {expected}" in err


def test_fid_in_all_warns_of_rank_deficiency_like_the_fid_command(files: dict[str, Path], tmp_path: Path) -> None:
    small = tmp_path / "small.npy"
    np.save(small, np.random.default_rng(1).standard_normal((5, 6)))
    with pytest.warns(RankDeficientWarning, match="5 samples for 6 feature dimensions"):
        run_json(files["real"], small, "--metrics", "fid")
