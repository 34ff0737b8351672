"""The numbers of a report, from two (or three) sides' features or statistics: every value shown on the page.

``analyse`` turns the sides into one JSON-ready dict (``report.json``) plus the arrays the figures need. It runs
no network and opens no file except the original images listed in a side (for thumbnails, in ``figures``).
Sections that a side's data cannot support (statistics files hold only a mean and a covariance) are listed
under ``"missing"`` with the reason, never silently dropped.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganmetrics import __version__, keys
from ganmetrics.defaults import DEFAULTS
from ganmetrics.metrics.bootstrap import fid_interval, kid_interval, mmd_interval
from ganmetrics.metrics.extrapolation import ExtrapolationResult, fid_infinity
from ganmetrics.metrics.frechet import fid_from_features, frechet_distance
from ganmetrics.metrics.inception_score import inception_score
from ganmetrics.metrics.memorization import DataCopyingResult, SampleNeighbours, data_copying_test, sample_neighbours
from ganmetrics.metrics.mmd import kid, mmd2_unbiased
from ganmetrics.metrics.prdc import prdc

# Provenance fields shown for each side, in this order (the fields ganmetrics.provenance compares, and n).
PROVENANCE_FIELDS = ("extractor", "resize", "precision", "weights_sha256", "n", "dims")


@dataclass(frozen=True)
class ImageFile:
    """An original image: a file of an input folder (``root``), or a member of a zip archive (``member``)."""

    path: Path
    member: str | None = None
    root: Path | None = None

    @property
    def name(self) -> str:
        """Return the name to show: the member's name, else the path relative to ``root`` (or whole).

        Undecodable bytes are shown as ``\\xNN``.
        """
        if self.member is not None:
            raw = self.member.encode("utf-8", "surrogateescape")
        else:
            raw = os.fsencode(self.path.relative_to(self.root) if self.root is not None else self.path)
        return raw.decode("utf-8", "backslashreplace")

    @property
    def uri(self) -> str:
        """Return a ``file://`` URI of the file (of the archive, for a member), percent-encoded byte by byte."""
        return self.path.absolute().as_uri()


@dataclass
class ReportSide:
    """One input of a report: what it is called, how it was made, and what it provides.

    ``features``: ``(n, d)`` rows (None for a statistics file). ``stats``: ``(mu, sigma, n)`` when only
    statistics are known. ``logits``: IS logits of a generated side, if any. ``images``: the original image of
    each feature row, in row order (None for feature files). ``metadata``: the provenance record.
    """

    label: str
    metadata: dict[str, Any] = field(default_factory=dict)
    features: np.ndarray | None = None
    stats: tuple[np.ndarray, np.ndarray, int | None] | None = None
    logits: np.ndarray | None = None
    images: list[ImageFile] | None = None

    @property
    def n(self) -> int | None:
        """Return the number of samples (None when a statistics file does not record it)."""
        return len(self.features) if self.features is not None else (self.stats[2] if self.stats else None)

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(mu, sigma)`` (float64, ``ddof=1`` covariance as ``FeatureStats``) of the side."""
        if self.stats is not None:
            return self.stats[0], self.stats[1]
        x = np.asarray(self.features, dtype=np.float64)
        return x.mean(axis=0), np.cov(x, rowvar=False)


@dataclass
class ReportOptions:
    """What a report computes and how much of it it shows (defaults from ``ganmetrics.defaults``)."""

    k: int = DEFAULTS["report_k"]
    ci: float | None = DEFAULTS["ci_level"]
    bootstrap: int = DEFAULTS["bootstrap_resamples"]
    seed: int = DEFAULTS["seed"]
    subsets: int = DEFAULTS["subsets"]
    subset_size: int = DEFAULTS["subset_size"]
    ct_cells: int = DEFAULTS["ct_cells"]
    grid_rows: int = 8
    shown: int = 8
    chunk_size: int = DEFAULTS["prdc_chunk_size"]


@dataclass
class Analysis:
    """``data``: the JSON-ready report; the arrays the figures draw from."""

    data: dict[str, Any]
    neighbours: SampleNeighbours | None = None
    extrapolation: ExtrapolationResult | None = None
    test_nn_distance: np.ndarray | None = None


def _finite(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name}: computed a non-finite value ({value}); the inputs are degenerate")
    return float(value)


def _row(
    key: str,
    label: str,
    value: float,
    better: str,
    n: tuple[int | None, int | None],
    ci: list[float] | None = None,
    note: str = "",
) -> dict[str, Any]:
    return {
        "key": key,
        "label": label,
        "value": _finite(value, key),
        "ci": ci,
        "better": better,
        "n_real": n[0],
        "n_fake": n[1],
        "note": note,
    }


def side_record(side: ReportSide, kind: str) -> dict[str, Any]:
    """Return the provenance record of a side shown on the page: label, kind and ``PROVENANCE_FIELDS``."""
    record = {"label": os.fsencode(side.label).decode("utf-8", "backslashreplace"), "kind": kind}
    for name in PROVENANCE_FIELDS:
        value = side.metadata.get(name)
        record[name] = value if isinstance(value, (str, int, float, type(None))) else str(value)
    record["n"] = side.n
    if side.features is not None:
        record["dims"] = int(side.features.shape[1])
    elif side.stats is not None:
        record["dims"] = int(side.stats[0].shape[0])
    return record


def metric_rows(real: ReportSide, fake: ReportSide, options: ReportOptions) -> tuple[list[dict], list[dict]]:
    """Return the metric table rows and the missing-metric notes for two sides.

    FID always (from statistics when a side has no features); with features on both sides: KID, MMD² and
    precision/recall/density/coverage, and percentile-bootstrap intervals for FID, KID and MMD² when
    ``options.ci`` is set; IS when the generated side has logits.
    """
    n = (real.n, fake.n)
    rows: list[dict[str, Any]] = []
    missing: list[dict[str, str]] = []
    both = real.features is not None and fake.features is not None
    bootstrap = {"level": options.ci, "resamples": options.bootstrap, "seed": options.seed}
    if both:
        x, y = real.features, fake.features

        def interval(compute: Any) -> list[float] | None:
            return list(_ends(compute(x, y, **bootstrap))) if options.ci else None

        rows.append(_row(keys.FID, "FID", fid_from_features(x, y), "lower", n, interval(fid_interval)))
        subset_size = min(options.subset_size, len(x), len(y))
        # Subsets of all samples on both sides are all the same subset: one is enough.
        subsets = 1 if subset_size == len(x) == len(y) else options.subsets
        kid_options = {"subsets": subsets, "subset_size": subset_size}
        kid_mean, kid_std = kid(x, y, seed=options.seed, **kid_options)
        kid_ci = interval(lambda a, b, **o: kid_interval(a, b, kid_seed=options.seed, **kid_options, **o))
        note = f"± {kid_std:.3g} (std over {subsets} subsets of {subset_size})" if subsets > 1 else "all samples"
        rows.append(_row(keys.KID_MEAN, "KID", kid_mean, "lower", n, kid_ci, note))
        mmd = mmd2_unbiased(x, y, seed=options.seed)
        mmd_ci = interval(lambda a, b, **o: mmd_interval(a, b, sigma=mmd.sigma, **o))
        rows.append(_row(keys.MMD2, "MMD² (Gaussian)", mmd.mmd2, "lower", n, mmd_ci, f"σ = {mmd.sigma:.4g} (median)"))
        scores = prdc(x, y, chunk_size=options.chunk_size)
        no_ci = "no interval: each resample is a full k-NN pass"
        for key, label, value in (
            (keys.PRECISION, "precision", scores.precision),
            (keys.RECALL, "recall", scores.recall),
            (keys.DENSITY, "density", scores.density),
            (keys.COVERAGE, "coverage", scores.coverage),
        ):
            rows.append(_row(key, label, value, "higher", n, None, no_ci))
    else:
        (mu1, sigma1), (mu2, sigma2) = real.moments(), fake.moments()
        rows.append(
            _row(
                keys.FID,
                "FID",
                frechet_distance(mu1, sigma1, mu2, sigma2),
                "lower",
                n,
                None,
                "from statistics: no interval",
            )
        )
        missing.append(
            {
                "section": "KID, MMD², precision/recall/density/coverage, confidence intervals",
                "reason": "a statistics file holds only the mean and covariance; these need the features",
            }
        )
    if fake.logits is not None:
        splits = min(DEFAULTS["splits"], len(fake.logits))
        mean, std = inception_score(fake.logits, splits=splits)
        rows.append(
            _row(
                keys.IS_MEAN,
                "IS (generated)",
                mean,
                "higher",
                (None, fake.n),
                None,
                f"± {std:.3g} (std over {splits} splits)",
            )
        )
    elif "inception" in str(fake.metadata.get("extractor", "")):  # IS means something for Inception features only
        missing.append(
            {
                "section": "Inception Score",
                "reason": "the generated side has no logits (images, or an .npz holding 'logits')",
            }
        )
    return rows, missing


def _ends(interval: Any) -> tuple[float, float]:
    return _finite(interval.low, "ci"), _finite(interval.high, "ci")


def _name(side: ReportSide, index: int) -> str:
    return side.images[index].name if side.images is not None else f"row {index}"


def _sample(side: ReportSide, index: int, **values: Any) -> dict[str, Any]:
    """Return one sample's entry: its row index, display name, link (None without an image) and values."""
    link = side.images[index].uri if side.images is not None else None
    return {"index": int(index), "name": _name(side, index), "link": link, **values}


def per_sample_sections(
    real: ReportSide, fake: ReportSide, test: ReportSide | None, options: ReportOptions
) -> tuple[dict[str, Any], SampleNeighbours, np.ndarray | None]:
    """Return the neighbour grid, suspects, memorization numbers, realism extremes and coverage misses.

    The sections dict also holds ``"missing"``: C_T with the reason when the held-out set cannot support it.
    """
    x, y = real.features, fake.features
    neighbours = sample_neighbours(x, y, k=options.k, chunk_size=options.chunk_size)
    rng = np.random.default_rng(options.seed)
    grid = sorted(rng.choice(len(y), size=min(options.grid_rows, len(y)), replace=False).tolist())
    r1 = np.sort(neighbours.real_nn_distance)
    relative = neighbours.relative_nn_distance
    nearest = neighbours.fake_to_real_distances[:, 0]

    def real_entries(j: int) -> list[dict[str, Any]]:
        return [
            _sample(real, i, distance=float(d))
            for i, d in zip(neighbours.fake_to_real_indices[j], neighbours.fake_to_real_distances[j], strict=True)
        ]

    suspects = []
    for j in np.argsort(nearest, kind="stable")[: options.shown]:
        rel = float(relative[j])
        suspects.append(
            _sample(
                fake,
                j,
                distance=float(nearest[j]),
                relative_to_real_nn=rel if math.isfinite(rel) else None,
                # share of real samples whose own nearest real neighbour is at least as far as this one
                real_nn_quantile=float(np.searchsorted(r1, nearest[j], side="left") / len(r1)),
                neighbours=real_entries(int(j)),
            )
        )
    order = np.argsort(-neighbours.realism, kind="stable")
    misses = neighbours.coverage_misses
    missing: list[dict[str, str]] = []
    memorization: dict[str, Any] = {
        "unauthentic_fraction": neighbours.unauthentic_fraction,
        "median_real_nn_distance": float(np.median(r1)),
        "median_fake_to_real_distance": float(np.median(nearest)),
    }
    test_nn = None
    if test is not None and test.features is not None:
        baseline = sample_neighbours(x, test.features, k=1, chunk_size=options.chunk_size)
        test_nn = baseline.fake_to_real_distances[:, 0]
        memorization["test_unauthentic_fraction"] = baseline.unauthentic_fraction
        memorization["median_test_to_real_distance"] = float(np.median(test_nn))
        try:
            ct: DataCopyingResult | None = data_copying_test(
                x, test.features, y, cells=options.ct_cells, seed=options.seed, chunk_size=options.chunk_size
            )
        except ValueError as error:  # too few samples for the cells: the rest of the report stands
            missing.append({"section": "C_T data-copying test", "reason": str(error)})
            ct = None
        if ct is not None:
            memorization["c_t"] = _finite(ct.c_t, "c_t")
            memorization["c_t_cells"] = {
                "z": ct.cell_z.tolist(),
                "test_fraction": ct.cell_test_fraction.tolist(),
                "fake_fraction": ct.cell_fake_fraction.tolist(),
                "included": ct.included.tolist(),
                "tau": ct.tau,
                "partition": f"k-means ({options.ct_cells} cells, k-means++ seeded with {options.seed}) on the "
                "real set",
            }
    sections = {
        "missing": missing,
        "neighbours": [{"fake": _sample(fake, j), "real": real_entries(j)} for j in grid],
        "suspects": suspects,
        "memorization": memorization,
        "realism": {
            "best": [_sample(fake, j, realism=float(neighbours.realism[j])) for j in order[: options.shown]],
            "worst": [_sample(fake, j, realism=float(neighbours.realism[j])) for j in order[::-1][: options.shown]],
        },
        "coverage_misses": {
            "count": int(len(misses)),
            "fraction": len(misses) / len(x),
            "samples": [
                _sample(
                    real,
                    i,
                    distance_to_fake=float(neighbours.real_to_fake_distance[i]),
                    radius=float(neighbours.coverage_radius[i]),
                )
                for i in misses[: 2 * options.shown]
            ],
        },
    }
    return sections, neighbours, test_nn


def analyse(
    real: ReportSide, fake: ReportSide, test: ReportSide | None = None, options: ReportOptions | None = None
) -> Analysis:
    """Return the ``Analysis`` of ``fake`` against ``real`` (and ``test``, a held-out real set, for C_T).

    Raises ``ValueError`` when the sides have different feature dimensions, when a side with features has
    fewer than ``k + 1`` (real: ``max(k, 5) + 1``) samples, or when a number comes out non-finite.
    """
    options = options or ReportOptions()
    sides = {"real": real, "fake": fake, **({"test": test} if test is not None else {})}
    dims = {name: side_record(side, "")["dims"] for name, side in sides.items()}
    if len(set(dims.values())) > 1:
        raise ValueError(f"inputs: feature dimensions differ ({', '.join(f'{k} {v}' for k, v in dims.items())})")
    for name, side in sides.items():
        if side.features is not None and len(side.features) <= options.k:
            raise ValueError(f"{name}: {len(side.features)} samples; the report needs more than k = {options.k}")
    rows, missing = metric_rows(real, fake, options)
    data: dict[str, Any] = {
        "generator": f"ganmetrics {__version__} report",
        "inputs": {
            name: side_record(side, "features" if side.features is not None else "statistics")
            for name, side in sides.items()
        },
        "metrics": rows,
        "ci_level": options.ci,
        "ci_resamples": options.bootstrap if options.ci else None,
        "k": options.k,
        "seed": options.seed,
        "missing": missing,
    }
    analysis = Analysis(data)
    if real.features is None or fake.features is None:
        data["missing"].append(
            {
                "section": "FID against sample count, nearest neighbours, memorization, realism, coverage misses",
                "reason": "these are per-sample analyses; a statistics file has no samples",
            }
        )
        return analysis
    extrapolation = fid_infinity(real.features, fake.features, seed=options.seed)
    data["fid_vs_n"] = {
        "sizes": list(extrapolation.sizes),
        "values": list(extrapolation.values),
        "fid_infinity": extrapolation.value,
        "slope": extrapolation.slope,
    }
    sections, analysis.neighbours, analysis.test_nn_distance = per_sample_sections(real, fake, test, options)
    data["missing"].extend(sections.pop("missing"))
    data.update(sections)
    if test is None:
        data["missing"].append(
            {
                "section": "C_T data-copying test",
                "reason": "needs a held-out real set the model never saw (--test REAL_TEST)",
            }
        )
    analysis.extrapolation = extrapolation
    return analysis
