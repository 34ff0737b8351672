"""The inputs room: every kind of reference the README lists resolves the same way for the CLI and the Evaluator
(one table, run against both), and ``ref:NAME`` works in the Evaluator with raw features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_run import run_json
from PIL import Image

from ganmetrics import Evaluator
from ganmetrics.inputs import ROWS, STATS, ExtractionOptions, InputLoader, RankDeficientWarning, check_logits
from ganmetrics.io.features_file import save_features
from ganmetrics.io.stats_file import load_stats, save_stats
from ganmetrics.metrics.frechet import fid_between
from ganmetrics.metrics.statistics import FeatureStats
from ganmetrics.reference_store import resolve_reference_path

GENERATED = np.random.default_rng(7).standard_normal((300, 2)) * 1.5


def _reference_kinds(tmp_path: Path) -> dict[str, object]:
    """Each reference kind the README lists, all made from the shipped ring8 reference."""
    rows = np.load(resolve_reference_path("ref:ring8-2500"))["features"]
    stats_path = save_stats(tmp_path / "ref-stats.npz", FeatureStats.from_features(rows), {})
    npz_path = save_features(tmp_path / "ref-features.npz", {"features": rows}, {})
    npy_path = tmp_path / "ref-features.npy"
    np.save(npy_path, rows)
    return {
        "ref:NAME stats": "ref:ring8-10000-stats",
        "ref:NAME features": "ref:ring8-2500",
        "stats file": str(stats_path),
        "feature npz": str(npz_path),
        "feature npy": str(npy_path),
    }


KINDS = ["ref:NAME stats", "ref:NAME features", "stats file", "feature npz", "feature npy"]


def _expected_fid(reference: object) -> float:
    side = InputLoader(ExtractionOptions(progress=False)).side(reference, "reference", (STATS,))
    return fid_between(side.stats, FeatureStats.from_features(GENERATED))


@pytest.mark.parametrize("kind", KINDS)
def test_every_reference_kind_gives_the_same_fid_in_cli_and_evaluator(kind: str, tmp_path: Path) -> None:
    # The CLI and the Evaluator resolve the reference through InputLoader.side and compute the same Fréchet
    # distance: the Evaluator streams the generated statistics in one float64 batch, the CLI builds them from the
    # rows; both equal the direct computation to float64 round-off (1e-10 relative).
    reference = _reference_kinds(tmp_path)[kind]
    generated = tmp_path / "generated.npy"
    np.save(generated, GENERATED)
    cli = run_json("fid", reference, generated)["fid"]
    evaluator = Evaluator(["fid"], reference=reference, features="raw")
    evaluator.update(GENERATED)
    expected = _expected_fid(reference)
    assert cli == pytest.approx(expected, rel=1e-10)
    assert evaluator.compute()["fid"] == pytest.approx(expected, rel=1e-10)


def test_evaluator_takes_a_shipped_stats_reference_with_raw_features() -> None:
    # Once refused with "has no 'features' array": ref:NAME was tested as a file path before it was resolved.
    evaluator = Evaluator(["fid"], reference="ref:ring8-10000-stats", features="raw")
    evaluator.update(GENERATED)
    stats = load_stats(resolve_reference_path("ref:ring8-10000-stats"))
    assert evaluator.compute()["fid"] == pytest.approx(
        fid_between(stats, FeatureStats.from_features(GENERATED)), rel=1e-10
    )


def test_rows_asked_of_a_stats_reference_are_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="ref:ring8-10000-stats: holds only a mean and covariance"):
        InputLoader(ExtractionOptions(progress=False)).side("ref:ring8-10000-stats", "reference", (ROWS,))


def test_unknown_protocol_for_the_extractor_is_refused_listing_its_protocols() -> None:
    with pytest.raises(ValueError, match="protocol: 'bicubic' is not one of inception's: pytorch-fid, tf, clean"):
        ExtractionOptions(protocol="bicubic")


# -- bad inputs (issue 14): which arrays the Inception Score accepts as logits (the FID Inception's 1008 classes or
# 1000, anything a file's provenance calls logits, other widths only when the caller says they are logits), the
# rank-deficiency policy of statistics files, the device check, counts read without extraction.


def rows(width: int) -> np.ndarray:
    return np.zeros((4, width))


@pytest.mark.parametrize("width", [1008, 1000])
def test_logits_of_the_inception_or_an_imagenet_classifier_are_accepted_from_a_npy(width: int) -> None:
    check_logits("a.npy", rows(width), {})


def test_pool3_features_in_a_npy_are_refused_saying_what_2048_columns_are() -> None:
    with pytest.raises(ValueError, match=r"^a.npy: has 2048 columns.*pool3 features, which are not logits"):
        check_logits("a.npy", rows(2048), {})


def test_another_width_is_accepted_when_the_caller_says_it_holds_logits() -> None:
    with pytest.raises(ValueError, match="pass --assume-logits"):
        check_logits("a.npy", rows(10), {})
    check_logits("a.npy", rows(10), {}, assume_logits=True)


def test_provenance_decides_over_width_and_flag() -> None:
    # The record of what the file holds wins: pool3 is refused even with the flag; recorded logits pass.
    with pytest.raises(ValueError, match="^a.npz: its metadata records the outputs pool3, not logits"):
        check_logits("a.npz", rows(1008), {"outputs": ["pool3"]}, assume_logits=True)
    check_logits("a.npz", rows(1008), {"outputs": ["pool3", "logits_unbiased"]})


def test_an_npz_array_stored_as_logits_is_taken_as_logits() -> None:
    check_logits("a.npz", rows(10), {})


def test_a_stats_file_from_fewer_samples_than_dimensions_warns_like_features(tmp_path) -> None:
    # Issue 14, section 3: the warning appeared for features but not for a stats side with n = 30.

    path = save_stats(
        tmp_path / "s.npz", FeatureStats.from_features(np.random.default_rng(0).standard_normal((30, 64))), {}
    )
    with pytest.warns(RankDeficientWarning, match="30 samples for 64 feature dimensions"):
        InputLoader().side(path, "reference", (STATS,))


@pytest.mark.parametrize("device", ["bogus", "cuda:x", "gpu"])
def test_an_unknown_device_is_refused_when_the_options_are_made(device: str) -> None:

    with pytest.raises(ValueError, match=rf"^device: '{device}' is not a device; use auto, cpu, cuda or cuda:N"):
        ExtractionOptions(device=device)


def test_counts_are_read_without_extraction(tmp_path) -> None:

    (tmp_path / "images").mkdir()
    for i in range(3):
        Image.new("RGB", (4, 4)).save(tmp_path / "images" / f"{i}.png")
    np.save(tmp_path / "f.npy", np.zeros((7, 2)))
    loader = InputLoader()
    assert loader.count(tmp_path / "images") == 3 and loader.count(tmp_path / "f.npy") == 7
    with pytest.raises(ValueError, match="absent: no such file or folder"):
        loader.count(tmp_path / "absent")
