"""`ganmetrics weights random`: seeded random weights to try the tool offline, said loudly to be for tests only,
and every file made with them marked and refused against real-weight files (issue 14, section 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_run import run
from PIL import Image

from ganmetrics.features.random_weights import make_random_fid_inception_weights
from ganmetrics.io.stats_file import load_stats, save_stats
from ganmetrics.metrics.statistics import FeatureStats
from ganmetrics.provenance import RandomTestWeightsWarning


def test_weights_random_writes_the_seeded_weights_and_says_they_are_never_for_reporting(tmp_path: Path) -> None:
    code, out, err = run("weights", "random", "-o", tmp_path / "W.pth", "--seed", 3)
    assert code == 0, err
    assert "RANDOM TEST WEIGHTS" in err and "NEVER for reporting" in err and out == ""
    written = torch.load(tmp_path / "W.pth", weights_only=True)
    expected = torch.load(make_random_fid_inception_weights(tmp_path / "api.pth", seed=3), weights_only=True)
    assert written.keys() == expected.keys()
    assert all(torch.equal(written[k], expected[k]) for k in expected)
    assert written._metadata["ganmetrics.weights"] == {"kind": "random-test", "seed": 3}


def test_files_made_with_random_weights_are_marked_and_refused_against_real_ones(
    tmp_path: Path, fid_weights: Path
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    stats = tmp_path / "random_stats.npz"
    code, _, err = run("stats", folder, "-o", stats, "--weights", fid_weights, "--num-workers", 0, "-q")
    assert code == 0, err
    assert load_stats(stats).metadata["weights_kind"] == "random-test"
    # Statistics that look like real-weight ones (a pytorch-fid file records nothing at all).
    real = tmp_path / "real_stats.npz"
    features = np.random.default_rng(1).standard_normal((3000, 2048)).astype(np.float32)
    save_stats(real, FeatureStats.from_features(features), {"weights_sha256": "b" * 64, "resize": "pytorch-fid"})
    for allow in ([], ["--allow-mismatch"]):
        code, out, err = run("fid", stats, real, "--json", *allow)
        assert code == 1 and out == ""
        assert f"Error: {stats} was made with random test weights" in err
    with pytest.warns(RandomTestWeightsWarning, match="never report it"):
        code, out, err = run("fid", stats, stats, "--json")
    assert code == 0, err
    assert json.loads(out)["fid"] == 0.0
