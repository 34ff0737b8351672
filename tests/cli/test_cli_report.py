"""``ganmetrics report``: the folder from feature, stats and run inputs, and one ``Error:`` line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cli_run
import numpy as np
import pytest

from ganmetrics.io.features_file import save_features
from ganmetrics.io.stats_file import save_stats
from ganmetrics.metrics.frechet import fid_between
from ganmetrics.metrics.statistics import FeatureStats

pytestmark = pytest.mark.filterwarnings("ignore::ganmetrics.provenance.UnknownProvenanceWarning")

FAST = ("--bootstrap", 10)


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    paths = {name: tmp_path / f"{name}.npz" for name in ("real", "fake", "test", "other")}
    meta = {"extractor": "fid-inception-v3/pool3", "resize": "pytorch-fid"}
    save_features(paths["real"], {"features": rng.standard_normal((60, 6))}, meta)
    save_features(
        paths["fake"],
        {"features": 1.1 * rng.standard_normal((120, 6)), "logits": 2 * rng.standard_normal((120, 10))},
        meta,
    )
    save_features(paths["test"], {"features": rng.standard_normal((80, 6))}, meta)
    save_features(paths["other"], {"features": rng.standard_normal((50, 6))}, {**meta, "resize": "clean"})
    return paths


def run(*args: object) -> tuple[int, str, str]:
    return cli_run.run("report", *args)


def test_report_command_writes_the_folder_with_the_api_numbers(files: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = run(files["real"], files["fake"], "-o", tmp_path / "out", "--test", files["test"], *FAST)
    assert code == 0, err
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    x, y = (np.load(files[n])["features"] for n in ("real", "fake"))
    expected = fid_between(FeatureStats.from_features(x), FeatureStats.from_features(y))
    assert next(r for r in data["metrics"] if r["key"] == "fid")["value"] == expected
    assert "c_t" in data["memorization"] and any(r["key"] == "is_mean" for r in data["metrics"])
    assert "wrote" in err and (tmp_path / "out" / "index.html").is_file()


def test_report_command_refuses_bad_input_with_one_error_line(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    cases = [
        ((files["real"], files["fake"], "-o", out), "not empty; pass --overwrite"),
        ((files["real"], files["other"], "-o", tmp_path / "o2"), "were not made the same way"),
        ((files["real"], files["fake"], "-o", tmp_path / "o3", "--k", 60), "the report needs more than k = 60"),
        ((tmp_path, "-o", tmp_path / "o4"), "no config.json"),
        ((tmp_path / "missing", files["fake"], "-o", tmp_path / "o5"), "no such file or folder"),
    ]
    for args, message in cases:
        code, _, err = run(*args, *FAST)
        assert code == 1, (args, err)
        lines = err.strip().splitlines()
        assert lines[-1].startswith("Error:") and message in lines[-1] and "Traceback" not in err, err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert not any((tmp_path / f"o{i}").exists() for i in range(2, 6))


def test_report_command_on_a_stats_file_says_what_is_missing(files: dict[str, Path], tmp_path: Path) -> None:
    stats = tmp_path / "real_stats.npz"
    save_stats(stats, FeatureStats.from_features(np.load(files["real"])["features"]), {"resize": "pytorch-fid"})
    code, _, err = run(stats, files["fake"], "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    page = (tmp_path / "out" / "index.html").read_text()
    assert "Not in this report" in page and "statistics file" in page


def test_report_command_refuses_a_folder_without_images(tmp_path: Path, fid_weights: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    code, _, err = run(
        tmp_path / "empty",
        tmp_path / "empty",
        "-o",
        tmp_path / "out",
        "--weights",
        fid_weights,
        "--device",
        "cpu",
        "--quiet",
    )
    assert code == 1 and err.strip().splitlines()[-1].startswith("Error:") and "no image files" in err, err
    assert not (tmp_path / "out").exists()
