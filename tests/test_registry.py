"""The metric registry: ``ganmetrics.compute`` equals every CLI metric command's ``--json`` output on the same inputs,
the specs agree with their functions, and options are validated once, in the spec."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
from cli_run import run_json

import ganmetrics
from ganmetrics.defaults import DEFAULTS
from ganmetrics.metrics.frechet import fid_from_features
from ganmetrics.metrics.mmd import kid
from ganmetrics.registry import METRICS, compute

# Command, its options as CLI flags and as compute() keywords. Sizes are small so that every metric runs in
# well under a second; KID's subsets must fit the 80 + 70 rows.
CASES = [
    ("fid", [], {}),
    ("kid", ["--subsets", "4", "--subset-size", "30", "--seed", "3"], {"subsets": 4, "subset_size": 30, "seed": 3}),
    ("mmd", ["--sigma", "1.5"], {"sigma": 1.5}),
    ("sinkhorn", ["--reg", "0.5", "--ground-cost", "sqeuclidean"], {"reg": 0.5, "ground_cost": "sqeuclidean"}),
    ("emd", [], {}),
    ("prdc", ["--k", "4"], {"k": 4}),
]


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(5)
    paths = {name: tmp_path / f"{name}.npy" for name in ("real", "fake", "logits")}
    np.save(paths["real"], rng.standard_normal((80, 4)))
    np.save(paths["fake"], rng.standard_normal((70, 4)) * 1.2 + 0.2)
    np.save(paths["logits"], rng.standard_normal((60, 10)) * 2)
    return paths


@pytest.mark.parametrize(("command", "flags", "options"), CASES, ids=[case[0] for case in CASES])
def test_compute_equals_the_cli_json_of_each_metric_command(files, command, flags, options) -> None:
    # The same function on the same inputs: equal bit for bit, every key.
    expected = run_json(command, files["real"], files["fake"], *flags)
    assert compute(command, str(files["real"]), str(files["fake"]), **options) == expected


def test_compute_equals_the_cli_json_of_inception_score(files) -> None:
    # The file's 10 columns are not the FID Inception's 1008 classes: both paths must be told they are logits.
    expected = run_json("is", files["logits"], "--splits", "3", "--assume-logits")
    assert compute("is", str(files["logits"]), splits=3, assume_logits=True) == expected


def test_compute_equals_the_cli_json_of_all(files) -> None:
    expected = run_json(
        "all", files["real"], files["fake"], "--metrics", "fid,kid,prdc", "--subsets", "3", "--subset-size", "20"
    )
    got = compute(["fid", "kid", "prdc"], str(files["real"]), str(files["fake"]), subsets=3, subset_size=20)
    assert got == expected


def test_compute_on_arrays_equals_the_metric_functions() -> None:
    # The registry adds no arithmetic: values equal the pure functions on the same arrays.
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((90, 3)), rng.standard_normal((60, 3)) + 0.5
    result = ganmetrics.compute(["fid", "kid"], x, y, subsets=5, subset_size=40)
    assert result["fid"] == fid_from_features(x, y)
    assert (result["kid_mean"], result["kid_std"]) == kid(x, y, 5, 40, DEFAULTS["seed"])
    assert (result["n1"], result["n2"], result["dims"]) == (90, 60, 3)


def test_every_spec_matches_its_function_signature_and_defaults() -> None:
    # Each option's keyword is a parameter of the metric's function, and its default is the function's (options
    # that ``measure`` reads itself, ``passed=False``, go to no function).
    for spec in METRICS.values():
        parameters = inspect.signature(spec.function).parameters
        for option in (o for o in spec.options if o.passed):
            assert option.keyword in parameters, (spec.name, option.keyword)
            if not option.required:
                assert parameters[option.keyword].default == option.default, (spec.name, option.name)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"reg": 1.0}, r"options: kid does not take reg \(it takes: subsets, subset_size, seed, matmul_dtype\)"),
        ({"subsets": 0}, r"subsets: must be >= 1, got 0"),
        ({"subset_size": 2.5}, r"subset_size: expected an integer, got 2.5"),
        ({"matmul_dtype": "float16"}, r"matmul_dtype: expected one of float32, float64, got 'float16'"),
    ],
)
def test_invalid_options_are_refused_naming_the_option(options: dict, message: str) -> None:
    x = np.zeros((10, 2))
    with pytest.raises((TypeError, ValueError), match=message):
        compute("kid", x, x + 1, **options)


def test_sinkhorn_without_reg_and_two_sample_metric_without_b_are_refused() -> None:
    x = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(ValueError, match=r"options: sinkhorn needs reg"):
        compute("sinkhorn", x, x + 1)
    with pytest.raises(ValueError, match=r"b: fid compare\(s\) two inputs"):
        compute("fid", x)
    with pytest.raises(ValueError, match=r"metric: unknown 'psnr'; choose from fid, is"):
        compute("psnr", x, x)


def test_option_for_no_requested_metric_is_refused_listing_the_accepted() -> None:
    x = np.random.default_rng(0).standard_normal((10, 2))
    message = r"options: none of fid, emd takes splits \(they take: ground_cost, max_iter\)"
    with pytest.raises(ValueError, match=message):
        compute(["fid", "emd"], x, x + 1, splits=3)
