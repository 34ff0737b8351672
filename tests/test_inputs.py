"""The inputs room: every kind of reference the README lists resolves the same way for the CLI and the Evaluator
(one table, run against both), and ``ref:NAME`` works in the Evaluator with raw features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_run import run_json

from ganmetrics import Evaluator
from ganmetrics.inputs import ROWS, STATS, ExtractionOptions, InputLoader
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
