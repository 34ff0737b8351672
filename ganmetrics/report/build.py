"""Write a report folder: ``index.html``, ``report.json``, ``figures/*.png`` and ``thumbs/*.png``.

``build_report`` computes everything first (``content.analyse``), so bad input fails before anything is written,
then draws the figures and thumbnails and writes the page inside a temporary folder that replaces the output
folder only when all of it is written (``output.atomic_folder``).
"""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from ganmetrics.mixtures import MIXTURES
from ganmetrics.report import figures
from ganmetrics.report.content import Analysis, PerSample, ReportOptions, ReportSide, analyse
from ganmetrics.report.output import atomic_folder, check_output
from ganmetrics.report.page import Page, number, paragraph, table

SIDE_TITLES = {"real": "real (reference)", "fake": "generated", "test": "held-out real (test)"}


def mixture_centres(*sides: ReportSide) -> tuple[np.ndarray | None, str]:
    """Return the mode centres of the built-in 2-D mixture a side records (``metadata["mixture"]``), and why."""
    for side in sides:
        name = side.metadata.get("mixture")
        if name in MIXTURES:
            return MIXTURES[name]().centres.numpy(), f"mode centres of the built-in mixture {name}"
    return None, "no built-in mixture is recorded in the inputs' metadata, so no mode centres are drawn"


def _inputs_section(page: Page, data: dict[str, Any]) -> None:
    rows = []
    for name, record in data["inputs"].items():
        sha = record.get("weights_sha256")
        rows.append(
            [
                escape(SIDE_TITLES[name]),
                escape(record["label"]),
                escape(record["kind"]),
                number(record.get("extractor")),
                number(record.get("resize")),
                number(record.get("numerics")),
                number(sha[:12] if isinstance(sha, str) else sha),
                number(record.get("n")),
                number(record.get("dims")),
            ]
        )
    body = table(
        ["side", "input", "kind", "extractor", "protocol (resize)", "numerics", "weights sha256", "n", "dims"],
        rows,
        numeric=(7, 8),
    )
    page.section("inputs", "Inputs and provenance", body)


def _metrics_section(page: Page, data: dict[str, Any]) -> None:
    level = data.get("ci_level")
    rows = []
    for row in data["metrics"]:
        ci = f"[{number(row['ci'][0])}, {number(row['ci'][1])}]" if row["ci"] else "-"
        rows.append(
            [
                escape(row["label"]),
                number(row["value"]),
                ci,
                number(row["n_real"]),
                number(row["n_fake"]),
                escape(row["better"]),
                escape(row["note"]),
            ]
        )
    ci_head = f"{level:.0%} bootstrap interval" if level else "interval"
    body = table(["metric", "value", ci_head, "n real", "n generated", "better", "note"], rows, numeric=(1, 2, 3, 4))
    if level:
        body += paragraph(
            f"Percentile bootstrap, {data['ci_resamples']} resamples of both sides (seed "
            f"{data['seed']}). Resampling with replacement repeats samples, which biases FID, KID and MMD² upward "
            "(ganmetrics.metrics.bootstrap): the interval shows the spread and may lie above the estimate. "
            "Precision/recall k = 3, density/coverage k = 5."
        )
    page.section("metrics", "Metrics", body)


def _fid_section(page: Page, per_sample: PerSample, out: Path) -> None:
    result = per_sample.extrapolation
    figures.plot_fid_against_sample_count(result, out / "figures" / "fid_vs_n.png")
    text = (
        f"FID∞ = {result.value:.4g} (Chong & Forsyth 2020): FID_N on {len(result.sizes)} seeded subsamples of "
        f"{result.sizes[0]} to {result.sizes[-1]} generated samples, fitted by FID_N = FID∞ + {result.slope:.4g}"
        " / N."
    )
    page.section(
        "fid-vs-n", "FID against sample count", page.figure("fid_vs_n.png", "FID against 1/N") + paragraph(text)
    )


def _memorization_section(page: Page, data: dict[str, Any], per_sample: PerSample, out: Path) -> None:
    memo = data["memorization"]
    neighbours = per_sample.neighbours
    figures.plot_distance_histograms(
        neighbours.real_nn_distance,
        neighbours.fake_to_real_distances[:, 0],
        per_sample.test_nn_distance,
        out / "figures" / "nn_distances.png",
    )
    rows = [
        [
            escape(
                "generated samples closer to their nearest real sample than its own nearest real "
                "neighbour (Alaa et al. 2022; copies: 1)"
            ),
            number(memo["unauthentic_fraction"]),
        ]
    ]
    if "test_unauthentic_fraction" in memo:
        rows.append(
            [
                escape("the same for the held-out real set (what a fresh sample scores)"),
                number(memo["test_unauthentic_fraction"]),
            ]
        )
    rows += [
        [escape("median distance real → nearest other real"), number(memo["median_real_nn_distance"])],
        [escape("median distance generated → nearest real"), number(memo["median_fake_to_real_distance"])],
    ]
    if "median_test_to_real_distance" in memo:
        rows.append(
            [escape("median distance held-out real → nearest real"), number(memo["median_test_to_real_distance"])]
        )
    if "c_t" in memo:
        rows.append(
            [
                escape(
                    "C_T data-copying statistic (Meehan et al. 2020; ≪ 0 copying, ≫ 0 under-fitting, "
                    "about N(0, 1) for a fresh sample)"
                ),
                number(memo["c_t"]),
            ]
        )
    body = table(["quantity", "value"], rows, numeric=(1,)) + page.figure(
        "nn_distances.png", "nearest-neighbour distances"
    )
    if "c_t_cells" in memo:
        cells = memo["c_t_cells"]
        cell_rows = [
            [number(i), number(z), number(p), number(q), "yes" if used else "no"]
            for i, (z, p, q, used) in enumerate(
                zip(cells["z"], cells["test_fraction"], cells["fake_fraction"], cells["included"], strict=True)
            )
        ]
        body += paragraph(
            f"C_T cells: {cells['partition']}; a cell counts when it holds more than τ = "
            f"{cells['tau']:.3g} of the generated samples; Z_U per cell is the Z-scored Mann-Whitney U "
            "of generated against held-out distances to the nearest real sample of the cell."
        )
        body += table(["cell", "Z_U", "held-out share", "generated share", "counted"], cell_rows, numeric=(0, 1, 2, 3))
    page.section("memorization", "Memorization", body)


def _grid_sections(page: Page, data: dict[str, Any], real: ReportSide, fake: ReportSide) -> None:
    rows = []
    for entry in data["neighbours"]:
        cells = [page.thumb("fake", fake, entry["fake"], "generated", "query")]
        cells += [page.thumb("real", real, r, f"d = {r['distance']:.4g}") for r in entry["real"]]
        rows.append('<div class="row">' + "".join(cells) + "</div>\n")
    page.section(
        "neighbours",
        f"Nearest real neighbours of {len(rows)} random generated samples",
        paragraph(
            f"Each row: a generated sample (blue border), then its k = {data['k']} nearest real "
            "samples in feature space with their Euclidean distances. Names link to the files."
        )
        + "".join(rows),
    )
    rows = []
    for entry in data["suspects"]:
        rel = entry["relative_to_real_nn"]
        caption = f"d = {entry['distance']:.4g}, {'-' if rel is None else f'{rel:.3g}'} × r₁"
        cells = [page.thumb("fake", fake, entry, caption, "query")]
        cells += [page.thumb("real", real, r, f"d = {r['distance']:.4g}") for r in entry["neighbours"]]
        rows.append('<div class="row">' + "".join(cells) + "</div>\n")
    page.section(
        "suspects",
        "Memorization suspects: the generated samples closest to a real sample",
        paragraph(
            "Each row: a generated sample with its distance d to the nearest real sample and d over that real "
            "sample's own nearest-neighbour distance r₁ (below 1: closer to it than any other real sample is; "
            "report.json also gives the share of real samples whose r₁ is below d), then its nearest real samples."
        )
        + "".join(rows),
    )
    realism = data["realism"]
    body = ""
    for which, title in (("best", "highest realism"), ("worst", "lowest realism")):
        cells = [page.thumb("fake", fake, e, f"R = {e['realism']:.3g}") for e in realism[which]]
        body += f"<h3>{escape(title)}</h3>\n" + '<div class="row">' + "".join(cells) + "</div>\n"
    page.section(
        "realism",
        "Best and worst generated samples by realism score",
        paragraph(
            "Realism score (Kynkäänniemi et al. 2019, Sec. 5): max over real samples of their k-NN "
            "radius over the distance; R ≥ 1 lies inside some real sample's neighbourhood."
        )
        + body,
    )
    misses = data["coverage_misses"]
    cells = [
        page.thumb(
            "real",
            real,
            e,
            f"{e['distance_to_fake'] / e['radius']:.3g} × radius" if e["radius"] else "radius 0 (duplicated)",
        )
        for e in misses["samples"]
    ]
    page.section(
        "coverage-misses",
        "Real samples no generated sample covers",
        paragraph(
            f"{misses['count']} of the real samples ({misses['fraction']:.1%}) have no generated "
            "sample inside their 5-NN ball (coverage's misses, Naeem et al. 2020): what the generator "
            "drops. Shown: the least covered, with nearest generated distance over the radius."
        )
        + '<div class="row">'
        + "".join(cells)
        + "</div>\n",
    )


def _scatter_section(
    page: Page, data: dict[str, Any], per_sample: PerSample, real: ReportSide, fake: ReportSide, out: Path
) -> None:
    centres, source = mixture_centres(real, fake)
    data["scatter"] = {"centres": None if centres is None else centres.tolist(), "centres_source": source}
    suspects = np.array([e["index"] for e in data["suspects"]], dtype=np.int64)
    misses = per_sample.neighbours.coverage_misses
    figures.plot_scatter_2d(
        real.rows, fake.rows, centres, out / "figures" / "scatter.png", misses=misses, suspects=suspects
    )
    rows = [[number(e["index"]), number(e["distance"]), number(e["relative_to_real_nn"])] for e in data["suspects"]]
    page.section(
        "scatter",
        "Real and generated samples (2-D)",
        page.figure("scatter.png", "scatter of real and generated samples")
        + paragraph(
            source.capitalize()
            + "; orange rings: real samples no generated sample covers; red: the memorization suspects."
        )
        + table(["generated row", "distance to nearest real", "× its own NN distance"], rows, numeric=(0, 1, 2)),
    )


def _missing_section(page: Page, data: dict[str, Any]) -> None:
    if data["missing"]:
        items = "".join(f"<li><b>{escape(m['section'])}</b>: {escape(m['reason'])}</li>\n" for m in data["missing"])
        page.section("missing", "Not in this report", f'<ul class="missing">\n{items}</ul>\n')


def add_comparison_sections(page: Page, out: Path, analysis: Analysis, real: ReportSide, fake: ReportSide) -> None:
    """Add the sections of a two-sample report to ``page``, drawing its figures into ``out/figures``."""
    data = analysis.data
    per_sample = analysis.per_sample
    two_d = per_sample is not None and real.rows.shape[1] == 2
    if per_sample is not None and two_d:  # the picture first: for points it says more than the tables
        _scatter_section(page, data, per_sample, real, fake, out)
    _inputs_section(page, data)
    _metrics_section(page, data)
    if per_sample is not None:
        _fid_section(page, per_sample, out)
        _memorization_section(page, data, per_sample, out)
        if not two_d:
            _grid_sections(page, data, real, fake)
    _missing_section(page, data)


def finish_report_folder(out: Path, page: Page, data: dict[str, Any]) -> None:
    """Write the thumbnails ``page`` references, ``index.html`` and ``report.json`` (strict JSON) into ``out``."""
    for name, image in page.thumbnails.items():
        figures.save_thumbnail(image, out / "thumbs" / name)
    (out / "index.html").write_text(page.html(), encoding="utf-8")
    (out / "report.json").write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")


def new_page(out: Path, subtitle: str) -> Page:
    """Return an empty page and create the ``figures/`` and ``thumbs/`` folders of ``out``."""
    (out / "figures").mkdir()
    (out / "thumbs").mkdir()
    return Page("ganmetrics report", subtitle)


def build_report(
    real: ReportSide,
    fake: ReportSide,
    output: str | os.PathLike,
    *,
    test: ReportSide | None = None,
    options: ReportOptions | None = None,
    overwrite: bool = False,
    inputs: tuple[str | os.PathLike, ...] = (),
) -> Path:
    """Return the report folder written for ``fake`` against ``real`` (and ``test``): page, JSON and figures.

    ``inputs``: the paths the sides came from, which the output folder must not hold. Raises ``ValueError``
    for an output folder that exists and is not empty (unless ``overwrite``), holds an input, or is a file, and
    for what ``content.analyse`` refuses; nothing is written then.
    """
    target = check_output(output, overwrite, inputs)
    analysis = analyse(real, fake, test, options)
    data = analysis.data
    with atomic_folder(target) as building:
        page = new_page(
            building,
            f"{data['inputs']['fake']['label']} against {data['inputs']['real']['label']} — {data['generator']}",
        )
        add_comparison_sections(page, building, analysis, real, fake)
        finish_report_folder(building, page, data)
    return target
