"""The numbers of a report, from two (or three) sides' features or statistics: every value shown on the page.

``analyse`` turns the sides into one JSON-ready dict (``report.json``) plus the arrays the figures need. It runs
no network and opens no file except the original images listed in a side (for thumbnails, in ``figures``).
Sections that a side's data cannot support (statistics files hold only a mean and a covariance) are listed
under ``"missing"`` with the reason, never silently dropped.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ganmetrics import keys
from ganmetrics._version import __version__
from ganmetrics.defaults import DEFAULTS
from ganmetrics.inputs import LOGITS_OUTPUT, Side
from ganmetrics.io.stats_file import LoadedStats
from ganmetrics.metrics.extrapolation import ExtrapolationResult, fid_infinity
from ganmetrics.metrics.memorization import DataCopyingResult, SampleNeighbours, data_copying_test, sample_neighbours
from ganmetrics.metrics.statistics import FeatureStats
from ganmetrics.registry import get_metric, measure_sides, split_options

# Provenance fields shown for each side, in this order (the fields ganmetrics.provenance compares, and n).
PROVENANCE_FIELDS = ("extractor", "resize", "numerics", "weights_sha256", "n", "dims")


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

    ``features``: ``(n, d)`` rows (None for a statistics file). ``stats``: the Gaussian statistics when only they
    are known. ``logits``: IS logits of a generated side, if any. ``images``: the original image of each feature
    row, in row order (None for feature files). ``metadata``: the provenance record.
    """

    label: str
    metadata: dict[str, Any] = field(default_factory=dict)
    features: np.ndarray | None = None
    stats: FeatureStats | LoadedStats | None = None
    logits: np.ndarray | None = None
    images: list[ImageFile] | None = None

    @property
    def n(self) -> int | None:
        """Return the number of samples (None when a statistics file does not record it)."""
        return len(self.features) if self.features is not None else (self.stats.n if self.stats else None)

    @property
    def rows(self) -> np.ndarray:
        """Return the feature rows; ``ValueError`` naming the side when it holds only statistics."""
        if self.features is None:
            raise ValueError(f"{self.label}: holds only statistics; this section needs the feature rows")
        return self.features

    def as_side(self, feature: str) -> Side:
        """Return the side as the registry consumes it: rows under ``feature``, logits, statistics."""
        arrays = {} if self.features is None else {feature: self.features}
        if self.logits is not None:
            arrays[LOGITS_OUTPUT] = self.logits
        stats = self.stats if self.features is None else FeatureStats.from_features(self.features, self.label)
        return Side(self.label, arrays, {**self.metadata, "n": self.n}, stats)


@dataclass
class ReportOptions:
    """What a report computes and how much of it it shows (defaults from ``ganmetrics.defaults``).

    ``progress``: a tqdm bar on stderr over the three long stages (metrics with their bootstrap intervals, FID
    against sample count, the neighbour analyses).
    """

    k: int = DEFAULTS["report_k"]
    ci: float | None = DEFAULTS["ci_level"]
    bootstrap: int = DEFAULTS["ci_resamples"]
    seed: int = DEFAULTS["seed"]
    subsets: int = DEFAULTS["kid_subsets"]
    subset_size: int = DEFAULTS["kid_subset_size"]
    ct_cells: int = DEFAULTS["ct_cells"]
    grid_rows: int = 8
    shown: int = 8
    chunk_size: int = DEFAULTS["prdc_chunk_size"]
    progress: bool = True


@dataclass
class PerSample:
    """What the per-sample figures draw from: the neighbour quantities, the FID∞ fit, held-out NN distances."""

    neighbours: SampleNeighbours
    extrapolation: ExtrapolationResult
    test_nn_distance: np.ndarray | None


@dataclass
class Analysis:
    """``data``: the JSON-ready report; ``per_sample``: None when a side holds only statistics."""

    data: dict[str, Any]
    per_sample: PerSample | None = None


def _finite(value: float, name: str) -> float:
    """Return ``value`` as a float; raise ``ValueError`` naming ``name`` when it is NaN or infinite."""
    if not math.isfinite(value):
        raise ValueError(f"{name}: computed a non-finite value ({value}); the inputs are degenerate")
    return float(value)


# The values the table shows in the note of another row rather than as rows of their own.
_NOTE_KEYS = {keys.KID_STD: keys.KID_MEAN, keys.SIGMA: keys.MMD2, keys.IS_STD: keys.IS_MEAN}
_LABELS = {keys.FID: "FID", keys.KID_MEAN: "KID", keys.MMD2: "MMD² (Gaussian)", keys.IS_MEAN: "IS (generated)"}
# Feature key under which a report hands rows to the registry (any name works: the registry reads it back).
_FEATURE = "features"


def side_record(side: ReportSide, kind: str) -> dict[str, Any]:
    """Return the provenance record of a side shown on the page: label, kind and ``PROVENANCE_FIELDS``."""
    record: dict[str, Any] = {"label": os.fsencode(side.label).decode("utf-8", "backslashreplace"), "kind": kind}
    for name in PROVENANCE_FIELDS:
        value = side.metadata.get(name)
        record[name] = value if isinstance(value, (str, int, float, type(None))) else str(value)
    record["n"] = side.n
    if side.features is not None:
        record["dims"] = int(side.features.shape[1])
    elif side.stats is not None:
        record["dims"] = int(side.stats.mu.shape[0])
    return record


def metric_rows(real: ReportSide, fake: ReportSide, options: ReportOptions) -> tuple[list[dict], list[dict]]:
    """Return the metric table rows and the missing-metric notes for two sides, computed by the registry.

    FID always (from statistics when a side has no features); with features on both sides: KID, MMD² and
    precision/recall/density/coverage, and percentile-bootstrap intervals of FID, KID and MMD² when
    ``options.ci`` is set; IS when the generated side has logits. Each value is
    ``ganmetrics.registry.measure_sides`` on the sides as given, with the metric's own defaults except KID's
    subset size (at most the smaller sample; one subset when that is all samples of both sides).
    """
    missing: list[dict[str, str]] = []
    reference, samples = real.as_side(_FEATURE), fake.as_side(_FEATURE)
    if real.features is not None and fake.features is not None:
        names = ["fid", "kid", "mmd", "prdc"]
        subset_size = min(options.subset_size, len(real.features), len(fake.features))
        subsets = 1 if subset_size == len(real.features) == len(fake.features) else options.subsets
        given = {"seed": options.seed, "subsets": subsets, "subset_size": subset_size}
    else:
        names, given = ["fid"], {}
        missing.append(
            {
                "section": "KID, MMD², precision/recall/density/coverage, confidence intervals",
                "reason": "a statistics file holds only the mean and covariance; these need the features",
            }
        )
    specs = [get_metric(name) for name in names]
    ci = options.ci if real.features is not None and fake.features is not None else None
    values = measure_sides(
        specs,
        reference,
        samples,
        _FEATURE,
        split_options(specs, given),
        ci=ci,
        resamples=options.bootstrap,
        seed=options.seed,
    )
    if fake.logits is not None:
        specs.append(get_metric("is"))
        splits = min(DEFAULTS["is_splits"], len(fake.logits))
        values.update(measure_sides(specs[-1:], None, samples, _FEATURE, {"is": {"splits": splits}}))
    elif "inception" in str(fake.metadata.get("extractor", "")):  # IS means something for Inception features only
        missing.append(
            {
                "section": "Inception Score",
                "reason": "the generated side has no logits (images, or an .npz holding 'logits')",
            }
        )
    notes = {
        keys.KID_MEAN: f"± {values.get(keys.KID_STD, 0):.3g} (std over {given.get('subsets')} subsets of "
        f"{given.get('subset_size')})"
        if given.get("subsets", 1) > 1
        else "one subset: all samples",
        keys.MMD2: f"σ = {values.get(keys.SIGMA, 0):.4g} (median heuristic)",
        keys.IS_MEAN: f"± {values.get(keys.IS_STD, 0):.3g} (std over the splits)",
    }
    rows = []
    for spec in specs:
        for key in spec.outputs:
            if key in _NOTE_KEYS:
                continue
            ci_values = values.get(key + keys.CI_SUFFIX)
            note = notes.get(key, "" if ci is None or ci_values else "no interval: each resample is a full k-NN pass")
            rows.append(
                {
                    "key": key,
                    "label": _LABELS.get(key, key),
                    "value": _finite(values[key], key),
                    "ci": None if ci_values is None else [_finite(v, key) for v in ci_values],
                    "better": spec.direction,
                    "n_real": real.n if spec.needs_reference else None,
                    "n_fake": fake.n,
                    "note": note,
                }
            )
    return rows, missing


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
    x, y = real.rows, fake.rows
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
        baseline = sample_neighbours(x, test.rows, k=1, chunk_size=options.chunk_size)
        test_nn = baseline.fake_to_real_distances[:, 0]
        memorization["test_unauthentic_fraction"] = baseline.unauthentic_fraction
        memorization["median_test_to_real_distance"] = float(np.median(test_nn))
        try:
            ct: DataCopyingResult | None = data_copying_test(
                x, test.rows, y, cells=options.ct_cells, seed=options.seed, chunk_size=options.chunk_size
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
    bar = tqdm(total=3, desc="report: metrics", unit="stage", disable=not options.progress, file=sys.stderr)
    rows, missing = metric_rows(real, fake, options)
    bar.update()
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
        bar.close()
        return analysis
    bar.set_description("report: FID against sample count")
    extrapolation = fid_infinity(real.rows, fake.rows, seed=options.seed)
    bar.update()
    bar.set_description("report: nearest neighbours")
    data["fid_vs_n"] = {
        "sizes": list(extrapolation.sizes),
        "values": list(extrapolation.values),
        "fid_infinity": extrapolation.value,
        "slope": extrapolation.slope,
    }
    sections, neighbours, test_nn_distance = per_sample_sections(real, fake, test, options)
    bar.update()
    bar.close()
    data["missing"].extend(sections.pop("missing"))
    data.update(sections)
    if test is None:
        data["missing"].append(
            {
                "section": "C_T data-copying test",
                "reason": "needs a held-out real set the model never saw (--test REAL_TEST)",
            }
        )
    analysis.per_sample = PerSample(neighbours, extrapolation, test_nn_distance)
    return analysis
