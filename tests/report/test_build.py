"""The report folder: numbers equal to the metric functions', escaping, refusals, atomic output, run reports.

Expected values are recomputed by calling the metric functions directly on the same arrays (each of them is
tested against its own reference elsewhere); the report must show exactly those numbers (JSON float round trip,
so equality).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganmetrics.metrics.extrapolation import fid_infinity
from ganmetrics.metrics.frechet import fid_between
from ganmetrics.metrics.memorization import sample_neighbours
from ganmetrics.metrics.prdc import prdc
from ganmetrics.metrics.statistics import FeatureStats
from ganmetrics.mixtures import ring
from ganmetrics.report import ReportOptions, ReportSide, build_report, figures

FAST = ReportOptions(bootstrap=10, subsets=5)


def _strict_json(path: Path) -> dict:
    def refuse(token: str) -> None:
        raise AssertionError(f"non-finite number {token} in {path}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def _sides(seed: int = 0, d: int = 8) -> tuple[ReportSide, ReportSide, ReportSide]:
    rng = np.random.default_rng(seed)
    meta = {"extractor": "test-features"}
    return (
        ReportSide("real.npy", meta, features=rng.standard_normal((120, d))),
        ReportSide("fake.npy", meta, features=1.2 * rng.standard_normal((90, d))),
        ReportSide("test.npy", meta, features=rng.standard_normal((80, d))),
    )


def _metric(data: dict, key: str) -> dict:
    return next(row for row in data["metrics"] if row["key"] == key)


def test_feature_report_shows_the_metric_functions_numbers(tmp_path: Path) -> None:
    real, fake, test = _sides()
    out = build_report(real, fake, tmp_path / "report", test=test, options=FAST)
    data = _strict_json(out / "report.json")
    x, y = real.features, fake.features
    assert _metric(data, "fid")["value"] == fid_between(FeatureStats.from_features(x), FeatureStats.from_features(y))
    scores = prdc(x, y)
    assert _metric(data, "coverage")["value"] == scores.coverage
    assert _metric(data, "precision")["value"] == scores.precision
    low, high = _metric(data, "fid")["ci"]
    assert low <= high
    assert data["fid_vs_n"]["fid_infinity"] == fid_infinity(x, y).value
    neighbours = sample_neighbours(x, y, k=3)
    assert data["memorization"]["unauthentic_fraction"] == neighbours.unauthentic_fraction
    assert data["coverage_misses"]["count"] == len(neighbours.coverage_misses)
    assert data["coverage_misses"]["fraction"] == pytest.approx(1 - scores.coverage, abs=1e-15)
    assert "c_t" in data["memorization"]
    assert len(data["neighbours"]) == 8 and all(len(row["real"]) == 3 for row in data["neighbours"])
    page = (out / "index.html").read_text(encoding="utf-8")
    for figure in ("fid_vs_n.png", "nn_distances.png"):
        assert (out / "figures" / figure).is_file() and f'src="figures/{figure}"' in page
    assert not list(tmp_path.glob(".report.*"))  # no temporary folder left behind


def test_copied_generated_set_is_flagged_on_the_page(tmp_path: Path) -> None:
    real, _, test = _sides(1)
    copied = ReportSide("copy.npy", real.metadata, features=real.features[:90].copy())
    data = _strict_json(build_report(real, copied, tmp_path / "r", test=test, options=FAST) / "report.json")
    assert data["memorization"]["unauthentic_fraction"] == 1.0
    assert data["memorization"]["c_t"] < -3
    assert all(entry["distance"] == 0.0 for entry in data["suspects"])


def test_stats_input_reports_fid_and_names_the_missing_sections(tmp_path: Path) -> None:
    real, fake, _ = _sides(2)
    x = real.features
    stats_side = ReportSide("real_stats.npz", {}, stats=FeatureStats.from_features(x))
    data = _strict_json(build_report(stats_side, fake, tmp_path / "r", options=FAST) / "report.json")
    assert [row["key"] for row in data["metrics"]] == ["fid"]
    assert _metric(data, "fid")["value"] == fid_between(
        FeatureStats.from_features(x), FeatureStats.from_features(fake.features)
    )
    missing = " ".join(m["section"] + m["reason"] for m in data["missing"])
    assert "KID" in missing and "nearest neighbours" in missing and "statistics file" in missing
    assert "neighbours" not in data


def test_report_refuses_a_non_empty_output_folder_unless_overwrite(tmp_path: Path) -> None:
    real, fake, _ = _sides(3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty; pass --overwrite"):
        build_report(real, fake, out, options=FAST)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    build_report(real, fake, out, options=FAST, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["figures", "index.html", "report.json", "thumbs"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_report_refuses_an_output_folder_holding_an_input(tmp_path: Path) -> None:
    real, fake, _ = _sides(3)
    (tmp_path / "real").mkdir()
    with pytest.raises(ValueError, match="holds the input"):
        build_report(real, fake, tmp_path, options=FAST, overwrite=True, inputs=(tmp_path / "real",))


def test_report_refuses_fewer_samples_than_k_and_writes_nothing(tmp_path: Path) -> None:
    real, fake, _ = _sides(4)
    few = ReportSide("few.npy", fake.metadata, features=fake.features[:3])
    with pytest.raises(ValueError, match="fake: 3 samples; the report needs more than k = 3"):
        build_report(real, few, tmp_path / "r", options=FAST)
    assert not (tmp_path / "r").exists() and not list(tmp_path.iterdir())


def test_failure_while_writing_leaves_the_old_report_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real, fake, _ = _sides(5)
    out = build_report(real, fake, tmp_path / "r", options=FAST)
    before = (out / "report.json").read_bytes()

    def broken(*_: object, **__: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(figures, "plot_distance_histograms", broken)
    with pytest.raises(OSError, match="disk full"):
        build_report(real, fake, out, options=FAST, overwrite=True)
    assert (out / "report.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_two_dimensional_report_draws_the_scatter_with_the_mixture_centres(tmp_path: Path) -> None:
    mixture = ring()
    generator = torch.Generator().manual_seed(0)
    real = ReportSide("ref:ring8-2500", {"mixture": "ring8"}, features=mixture.sample(400, generator).numpy())
    fake = ReportSide("samples.npy", {}, features=mixture.sample(300, generator).numpy())
    out = build_report(real, fake, tmp_path / "r", options=FAST)
    data = _strict_json(out / "report.json")
    np.testing.assert_array_equal(np.array(data["scatter"]["centres"]), mixture.centres.numpy())
    page = (out / "index.html").read_text(encoding="utf-8")
    assert 'src="figures/scatter.png"' in page and (out / "figures" / "scatter.png").is_file()
    assert 'id="neighbours"' not in page  # the scatter replaces the image grids


def test_image_report_shows_thumbnails_of_the_original_files_with_escaped_names(
    image_report: Path, special_name: str
) -> None:
    page = (image_report / "index.html").read_text(encoding="utf-8")
    data = _strict_json(image_report / "report.json")
    sources = [src.split('"')[0] for src in page.split('src="')[1:]]
    assert sources and all((image_report / src).is_file() for src in sources)
    thumbs = [s for s in sources if s.startswith("thumbs/")]
    assert thumbs and all(max(Image.open(image_report / s).size) <= 96 for s in thumbs)
    named = [e for e in data["coverage_misses"]["samples"] + [r for row in data["neighbours"] for r in row["real"]]]
    names = {e["name"].rsplit("/", 1)[-1] for e in named} | {e["name"].rsplit("/", 1)[-1] for e in data["suspects"]}
    assert names  # the thumbnails are of the original files, named by their paths
    assert special_name not in page
    if any(special_name in e["name"] for e in named):
        assert "a&lt;b&gt;&amp;&#x27;&quot;c.png" in page
    assert "\\xff-latin1.png" in page or all("latin1" not in e["name"] for e in data["suspects"])
    assert any(row["key"] == "is_mean" for row in data["metrics"])  # the generated side's logits give IS
    assert data["inputs"]["real"]["weights_sha256"] and data["inputs"]["real"]["extractor"]


def test_every_file_name_is_escaped_in_the_page(image_report: Path) -> None:
    data = _strict_json(image_report / "report.json")
    page = (image_report / "index.html").read_text(encoding="utf-8")
    entries = [row["fake"] for row in data["neighbours"]] + data["suspects"] + data["realism"]["best"]
    for entry in entries:
        assert html.escape(entry["name"]) in page
        assert entry["link"].startswith("file://") and html.escape(entry["link"]) in page
    fake_names = {e["name"] for e in data["realism"]["best"] + data["realism"]["worst"]}
    assert any(name.endswith("\\xff-latin1.png") for name in fake_names)  # undecodable byte shown as \xff


def test_held_out_set_too_small_for_c_t_leaves_it_out_with_the_reason(tmp_path: Path) -> None:
    real, fake, test = _sides(6)
    few = ReportSide("few.npy", fake.metadata, features=fake.features[:20])  # tau = 20 / 20: no cell exceeds it
    data = _strict_json(build_report(real, few, tmp_path / "r", test=test, options=FAST) / "report.json")
    assert "c_t" not in data["memorization"] and "test_unauthentic_fraction" in data["memorization"]
    reason = next(m["reason"] for m in data["missing"] if m["section"] == "C_T data-copying test")
    assert "tau" in reason


def test_duplicated_real_samples_with_zero_radius_are_reported_not_divided_by(tmp_path: Path) -> None:
    real, fake, _ = _sides(7)
    duplicated = np.concatenate([np.repeat(real.features[:1], 7, axis=0), real.features[7:]])
    side = ReportSide("dup.npy", real.metadata, features=duplicated)
    data = _strict_json(build_report(side, fake, tmp_path / "r", options=FAST) / "report.json")
    radii = [e["radius"] for e in data["coverage_misses"]["samples"]]
    assert 0.0 in radii  # a point repeated 7 times has a 5-NN radius of 0 and can only be missed
    assert "radius 0 (duplicated)" in (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
