"""Metric regression checks: one metric of samples against a reference compared with a threshold, and the
``CHECKS.toml`` runner behind ``ganmetrics check`` (a JSON report and JUnit XML for CI).

A check passes when the value is strictly below its threshold (FID, KID, MMD², Sinkhorn, EMD: distances) or
strictly above it (IS). Inputs are paths (image folders, zips, feature or stats files, ``ref:NAME``) or
in-memory (N, d) feature arrays; path inputs carry their metadata, and two sides made differently are refused
(``provenance.check_comparable``) unless ``allow_mismatch``.

``CHECKS.toml``::

    allow_mismatch = false           # optional, for every check
    [extraction]                     # optional: how image inputs become features (ExtractionOptions fields)
    protocol = "pytorch-fid"
    [[check]]
    name = "ring8 emd"               # optional; default "<metric> <samples>"
    samples = "samples/ring8.npy"    # relative paths are relative to the CHECKS.toml file
    reference = "ref:ring8-10000"    # not used by "is"
    metric = "emd"                   # fid, kid, mmd, sinkhorn, emd, is
    threshold = 0.1
    options = { ground_cost = "euclidean" }   # optional metric options (their names in ganmetrics.registry)

Reading TOML needs ``tomllib`` (Python 3.11+) or, on 3.10, the ``tomli`` package.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganmetrics import keys, registry
from ganmetrics.inputs import ExtractionOptions, InputLoader
from ganmetrics.io.atomic import atomic_write
from ganmetrics.provenance import COMPARED_FIELDS
from ganmetrics.reference_store import is_reference
from ganmetrics.registry import LOWER, MetricSpec, get_metric

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: tomllib's predecessor, if installed
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None

Input = str | os.PathLike | np.ndarray | torch.Tensor


CHECKED_METRICS = ("fid", "kid", "mmd", "sinkhorn", "emd", "is")


class ChecksFileError(ValueError):
    """A CHECKS.toml that cannot be run: unreadable, or a check with a missing or ill-typed field."""


@dataclass
class Measurement:
    """A metric's outputs (by ``ganmetrics.keys``, with n1, n2, dims) and the provenance of each side
    (``"reference"``, ``"samples"``: the input as given and its metadata record)."""

    metric: str
    values: dict[str, Any]
    provenance: dict[str, dict[str, Any]]
    mismatch_allowed: list[str] = field(default_factory=list)

    @property
    def value(self) -> float:
        """The value the metric is judged by (its spec's headline output)."""
        return self.values[get_metric(self.metric).headline]

    def describe(self) -> str:
        """Return the sizes and each side's provenance on one line, for failure messages."""
        sizes = ", ".join(f"{k}={self.values[k]}" for k in (keys.N1, keys.N2, keys.DIMS) if k in self.values)
        sides = "; ".join(f"{role} {meta['input']}: {_provenance_text(meta)}" for role, meta in self.provenance.items())
        text = f"{sizes}; {sides}"
        return text + (f"; mismatch allowed in {', '.join(self.mismatch_allowed)}" if self.mismatch_allowed else "")


def _provenance_text(meta: dict[str, Any]) -> str:
    shown = {k: meta.get(k) for k in COMPARED_FIELDS if meta.get(k) is not None}
    if "weights_sha256" in shown:
        shown["weights_sha256"] = str(shown["weights_sha256"])[:12]
    text = " ".join(f"{k}={v}" for k, v in shown.items())
    return text if set(shown) - {"dims"} else f"unknown provenance {text}".rstrip()


def check_options(metric: str, options: Mapping[str, Any]) -> MetricSpec:
    """Return the spec of ``metric`` after checking every option against it (names, values, required ones).

    Raises ``ValueError`` naming an unknown metric or option, an invalid value, or a missing required option
    (sinkhorn's ``reg``).
    """
    if metric not in CHECKED_METRICS:
        raise ValueError(f"metric: unknown {metric!r}; choose from {', '.join(CHECKED_METRICS)}")
    spec = get_metric(metric)
    spec.kwargs(options)
    return spec


def measure(
    metric: str,
    samples: Input,
    reference: Input | None = None,
    /,
    *,
    loader: InputLoader | None = None,
    allow_mismatch: bool = False,
    **options: Any,
) -> Measurement:
    """Return ``metric`` of ``samples`` against ``reference``, with both provenances (``registry.measure``).

    ``samples`` and ``reference`` are paths (``ref:NAME`` included) or (N, d) feature arrays; for ``"is"`` the
    samples are logits and ``reference`` must be None. ``options`` are the metric's (its registry spec).
    ``loader`` turns image inputs into features (default: an ``InputLoader`` without a progress bar).

    ``"is"`` takes ``assume_logits`` besides ``splits`` (see ``inputs.check_logits``); a Sinkhorn run that does
    not converge raises ``ValueError`` instead of giving an approximate value.

    Raises ``ValueError`` for an unknown metric or option, a missing or superfluous reference, and what the
    loaders, ``provenance.check_comparable`` and the metric functions raise.
    """
    if not check_options(metric, options).needs_reference and reference is not None:
        raise ValueError(f"reference: {metric} takes no reference")
    result = registry.measure(metric, samples, reference, loader=loader, allow_mismatch=allow_mismatch, **options)
    return Measurement(metric, result.values, result.provenance, result.mismatch_allowed)


def direction(metric: str) -> str:
    """Return "below" when lower values of ``metric`` are better, else "above" (how a threshold is passed)."""
    return "below" if get_metric(metric).direction == LOWER else "above"


def passes(metric: str, value: float, threshold: float) -> bool:
    """Return whether ``value`` is strictly on the good side of ``threshold`` (below, or above for IS)."""
    return value < threshold if direction(metric) == "below" else value > threshold


# -- CHECKS.toml ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One check of a CHECKS.toml: name, samples, reference (None for IS), metric, threshold, options."""

    name: str
    samples: str
    reference: str | None
    metric: str
    threshold: float
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChecksFile:
    """A parsed CHECKS.toml: its checks, the extraction options and whether mismatches are allowed."""

    path: Path
    checks: list[Check]
    extraction: ExtractionOptions
    allow_mismatch: bool = False


@dataclass
class CheckResult:
    """The outcome of one check: ``status`` is "passed", "failed" or "error" (the message says why)."""

    check: Check
    status: str
    value: float | None = None
    message: str = ""
    measurement: Measurement | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        c = self.check
        record: dict[str, Any] = {
            "name": c.name,
            "metric": c.metric,
            "samples": c.samples,
            "reference": c.reference,
            "threshold": c.threshold,
            "direction": direction(c.metric),
            "options": c.options,
            "status": self.status,
            "value": self.value,
            "message": self.message,
            "seconds": round(self.seconds, 3),
            "warnings": self.warnings,
        }
        if self.measurement is not None:
            record["values"] = self.measurement.values
            record["provenance"] = self.measurement.provenance
            record["mismatch_allowed"] = self.measurement.mismatch_allowed
        return record


_CHECK_KEYS = {"name", "samples", "reference", "metric", "threshold", "options"}
_TOP_KEYS = {"check", "extraction", "allow_mismatch"}
_EXTRACTION_KEYS = {f.name for f in fields(ExtractionOptions)} - {"progress"}
# Earlier names of [extraction] keys, still read: the protocol was "resize", the numeric mode "precision".
_EXTRACTION_ALIASES = {"resize": "protocol", "precision": "numerics"}


def read_checks(path: str | Path) -> ChecksFile:
    """Return the checks of a CHECKS.toml, validated before anything runs.

    Raises ``ChecksFileError`` naming the file and the check (by index and name) and field at fault: an
    unreadable file, an unknown key, a missing samples/metric/threshold, a threshold that is not a number, an
    unknown metric or option, a reference missing (or given for IS), duplicate names. On Python 3.10 without
    ``tomli`` it says to install it.
    """
    source = Path(path)
    if tomllib is None:
        raise ChecksFileError(f"{source}: reading TOML needs Python 3.11+ or the 'tomli' package (pip install tomli)")
    try:
        document = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ChecksFileError(f"{source}: not a readable TOML file ({exc})") from None
    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        raise ChecksFileError(f"{source}: unknown top-level key(s) {', '.join(unknown)} (expected {sorted(_TOP_KEYS)})")
    raw_checks = document.get("check")
    if not isinstance(raw_checks, list) or not raw_checks:
        raise ChecksFileError(f"{source}: has no [[check]] tables")
    allow = document.get("allow_mismatch", False)
    if not isinstance(allow, bool):
        raise ChecksFileError(f"{source}: allow_mismatch must be true or false, got {allow!r}")
    extraction = document.get("extraction", {})
    if isinstance(extraction, dict):
        extraction = {_EXTRACTION_ALIASES.get(key, key): value for key, value in extraction.items()}
    bad = sorted(set(extraction) - _EXTRACTION_KEYS) if isinstance(extraction, dict) else ["(not a table)"]
    if bad:
        raise ChecksFileError(f"{source}: [extraction] has unknown key(s) {', '.join(bad)}")
    checks = [_parse_check(source, index, raw) for index, raw in enumerate(raw_checks)]
    names = [c.name for c in checks]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ChecksFileError(f"{source}: check names must be unique; repeated: {', '.join(duplicated)}")
    try:
        options = ExtractionOptions(progress=False, **extraction)
    except (TypeError, ValueError) as exc:
        raise ChecksFileError(f"{source}: [extraction]: {exc}") from None
    return ChecksFile(source, checks, options, allow)


def _parse_check(source: Path, index: int, raw: Any) -> Check:
    where = f"{source}: check {index}"
    if not isinstance(raw, dict):
        raise ChecksFileError(f"{where}: must be a table")
    if "name" in raw:
        where += f" ({raw['name']!r})"
    unknown = sorted(set(raw) - _CHECK_KEYS)
    if unknown:
        raise ChecksFileError(f"{where}: unknown key(s) {', '.join(unknown)} (expected {sorted(_CHECK_KEYS)})")
    missing = [key for key in ("samples", "metric", "threshold") if key not in raw]
    if missing:
        raise ChecksFileError(f"{where}: lacks {', '.join(missing)}")
    threshold = raw["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ChecksFileError(f"{where}: threshold must be a finite number, got {threshold!r}")
    for key in ("samples", "reference", "name"):
        if key in raw and not isinstance(raw[key], str):
            raise ChecksFileError(f"{where}: {key} must be a string, got {raw[key]!r}")
    options = raw.get("options", {})
    if not isinstance(options, dict):
        raise ChecksFileError(f"{where}: options must be a table, got {options!r}")
    try:
        spec = check_options(raw["metric"], options)
    except (TypeError, ValueError) as exc:
        raise ChecksFileError(f"{where}: {exc}") from None
    reference = raw.get("reference")
    if spec.needs_reference != (reference is not None):
        need = "needs a reference" if spec.needs_reference else "takes no reference"
        raise ChecksFileError(f"{where}: reference: {raw['metric']} {need}")
    return Check(
        name=raw.get("name", f"{raw['metric']} {raw['samples']}"),
        samples=_relative_to(source, raw["samples"]),
        reference=None if reference is None else _relative_to(source, reference),
        metric=raw["metric"],
        threshold=float(threshold),
        options=options,
    )


def _relative_to(checks_file: Path, path: str) -> str:
    """Return ``path`` resolved against the CHECKS.toml folder (``ref:NAME`` and absolute paths as they are)."""
    if is_reference(path) or Path(path).is_absolute():
        return path
    return str(checks_file.parent / path)


def run_checks(checks_file: ChecksFile) -> list[CheckResult]:
    """Run every check (sharing one loader, so the network loads at most once); errors become results.

    Warnings raised while a check runs (unknown provenance, rank-deficient statistics, ...) are kept in its result.
    """
    loader = InputLoader(checks_file.extraction)
    return [_run_check(check, loader, checks_file.allow_mismatch) for check in checks_file.checks]


def _run_check(check: Check, loader: InputLoader, allow_mismatch: bool) -> CheckResult:
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            measurement = measure(
                check.metric,
                check.samples,
                check.reference,
                loader=loader,
                allow_mismatch=allow_mismatch,
                **check.options,
            )
        except (ValueError, TypeError, OSError, RuntimeError) as exc:
            measurement, error = None, f"{type(exc).__name__}: {exc}"
    seen = [str(w.message) for w in caught]
    if measurement is None:
        return CheckResult(check, "error", message=error, seconds=time.perf_counter() - start, warnings=seen)
    value = measurement.value
    ok = passes(check.metric, value, check.threshold)
    side = direction(check.metric)
    message = (
        f"{check.metric} = {value:.6g} is {'' if ok else 'not '}{side} the threshold "
        f"{check.threshold:g} ({measurement.describe()})"
    )
    return CheckResult(
        check, "passed" if ok else "failed", value, message, measurement, time.perf_counter() - start, seen
    )


def write_json_report(results: list[CheckResult], checks_file: ChecksFile, path: str | Path) -> Path:
    """Write the results as one JSON object (``passed``, counts, one record per check), atomically."""
    report = {
        "checks_file": str(checks_file.path),
        "allow_mismatch": checks_file.allow_mismatch,
        "passed": all(r.status == "passed" for r in results),
        "counts": {s: sum(r.status == s for r in results) for s in ("passed", "failed", "error")},
        "checks": [r.as_dict() for r in results],
    }
    with atomic_write(path, "w") as handle:
        handle.write(json.dumps(report, indent=2) + "\n")
    return Path(path)


def write_junit_xml(results: list[CheckResult], checks_file: ChecksFile, path: str | Path) -> Path:
    """Write the results as JUnit XML (one ``testcase`` per check, value and threshold as properties)."""
    suite = ET.Element(
        "testsuite",
        name="ganmetrics.check",
        tests=str(len(results)),
        failures=str(sum(r.status == "failed" for r in results)),
        errors=str(sum(r.status == "error" for r in results)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            suite, "testcase", classname=checks_file.path.stem, name=result.check.name, time=f"{result.seconds:.3f}"
        )
        properties = ET.SubElement(case, "properties")
        for key, value in (
            ("metric", result.check.metric),
            ("threshold", result.check.threshold),
            ("value", result.value),
        ):
            ET.SubElement(properties, "property", name=key, value=str(value))
        if result.status != "passed":
            tag = "failure" if result.status == "failed" else "error"
            ET.SubElement(case, tag, message=result.message).text = result.message
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    with atomic_write(path, "wb") as handle:
        tree.write(handle, encoding="utf-8", xml_declaration=True)
    return Path(path)
