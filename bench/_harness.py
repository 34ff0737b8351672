"""What every case shares: interleaved timing, result tables with ratios and agreement, the run's environment.

Timing: the implementations of one table are run round-robin (ours, peer 1, peer 2, ..., ours, peer 1, ...), so
that a change of machine load during the table affects all of them alike; each keeps its median, minimum and
maximum wall time. A row whose runs have used up ``Config.row_budget_s`` stops early (after at least
``Config.min_runs``), and its ``runs`` column says so.

Agreement: each row's value is compared with the table's reference value (named in the table), as the
relative difference ``|value − reference| / |reference|``.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SCALES = ("smoke", "default", "full")


@dataclass(frozen=True)
class Config:
    """How big and how often: ``scale`` picks each case's sizes (smoke: seconds, for the test suite)."""

    scale: str = "default"
    repeats: int = 5
    min_runs: int = 3
    row_budget_s: float = 120.0

    def pick(self, smoke, default, full):  # noqa: ANN001, ANN201 - any value per scale
        """Return the value for this run's scale."""
        return {"smoke": smoke, "default": default, "full": full}[self.scale]


@dataclass(frozen=True)
class Impl:
    """One implementation in a table: ``call()`` returns its result (a float, or None when it has none)."""

    name: str
    call: Callable[[], float | None]
    ours: bool = False
    note: str = ""
    baseline: bool = False  # code written for the benchmark, shown for scale but not counted as a peer
    # Run untimed right before each timed call: for the rate of one library, so that the threads another
    # library's call left spinning in the previous row do not count (``bench/kernel.py``, "BLAS rates").
    warmup: Callable[[], object] | None = None


@dataclass
class Row:
    name: str
    ours: bool
    note: str
    baseline: bool = False
    times: list[float] = field(default_factory=list)
    value: float | None = None
    error: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else math.nan


@dataclass
class Table:
    """A case's result: rows of timings and values, the reference the values are compared with, notes."""

    title: str
    rows: list[Row]
    reference_name: str
    reference: float | None
    value_name: str = "value"
    notes: list[str] = field(default_factory=list)
    timed: bool = True
    value_format: str = ".10g"

    def row(self, name: str) -> Row:
        return next(r for r in self.rows if r.name == name)

    def best_peer(self) -> Row | None:
        peers = [r for r in self.rows if not r.ours and not r.baseline and r.times]
        return min(peers, key=lambda r: r.median) if peers else None

    def speedup(self, ours: str, peer: str | None = None) -> float:
        """Return ``median(peer) / median(ours)`` (the best peer when ``peer`` is None)."""
        other = self.best_peer() if peer is None else self.row(peer)
        return other.median / self.row(ours).median if other is not None else math.nan

    def agreement(self, row: Row) -> float:
        if row.value is None or self.reference is None or not math.isfinite(row.value):
            return math.nan
        return abs(row.value - self.reference) / max(abs(self.reference), 1e-300)

    def markdown(self) -> str:
        best = self.best_peer()
        first_ours = next((r for r in self.rows if r.ours and r.times), None)
        lines = [f"#### {self.title}", ""]
        if self.timed:
            lines += [
                f"| implementation | median s | min s | max s | runs | × ours | {self.value_name} | rel. diff |",
                "|---|---:|---:|---:|---:|---:|---:|---:|",
            ]
        else:
            lines += [f"| implementation | {self.value_name} | rel. diff |", "|---|---:|---:|"]
        for r in self.rows:
            value = "—" if r.value is None else format(r.value, self.value_format)
            if r.error:
                value = f"failed: {r.error}"
            diff = self.agreement(r)
            diff_s = "—" if math.isnan(diff) else f"{diff:.1e}"
            name = f"**{r.name}**" if r.ours else r.name
            if r.note:
                name += f" ({r.note})"
            if not self.timed:
                lines.append(f"| {name} | {value} | {diff_s} |")
                continue
            if r.times:
                ratio = r.median / first_ours.median if first_ours and not r.ours else math.nan
                ratio_s = "—" if math.isnan(ratio) else f"{ratio:.2f}"
                lines.append(
                    f"| {name} | {r.median:.3f} | {min(r.times):.3f} | {max(r.times):.3f} | {len(r.times)} | "
                    f"{ratio_s} | {value} | {diff_s} |"
                )
            else:
                lines.append(f"| {name} | — | — | — | 0 | — | {value} | {diff_s} |")
        lines.append("")
        if self.reference is not None:
            lines.append(f"Reference value: {self.reference_name} = {self.reference:.12g}.")
        if self.timed and best is not None:
            for r in self.rows:
                if r.ours and r.times:
                    lines.append(
                        f"Speed-up of {r.name} over the best peer ({best.name}): **{best.median / r.median:.2f}×**."
                    )
        lines += [f"{note}" for note in self.notes]
        lines.append("")
        return "\n".join(lines)


def measure(
    title: str,
    impls: list[Impl],
    config: Config,
    *,
    reference_name: str = "",
    reference: float | None = None,
    value_name: str = "value",
    notes: list[str] | None = None,
) -> Table:
    """Return the table of ``impls`` run round-robin ``config.repeats`` times (see the module docstring).

    An implementation that raises is recorded with its error and not run again.
    """
    rows = [Row(i.name, i.ours, i.note, i.baseline) for i in impls]
    spent = [0.0] * len(impls)
    for round_ in range(config.repeats):
        for k, (impl, row) in enumerate(zip(impls, rows, strict=True)):
            if row.error or (round_ >= config.min_runs and spent[k] > config.row_budget_s):
                continue
            try:
                if impl.warmup is not None:
                    impl.warmup()
                start = time.perf_counter()
                value = impl.call()
            except Exception as exc:  # a peer failing is a result to report, not a crash
                row.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
                continue
            elapsed = time.perf_counter() - start
            spent[k] += elapsed
            row.times.append(elapsed)
            row.value = None if value is None else float(value)
    if reference is None:
        ours = next((r for r in rows if r.ours and r.value is not None), None)
        reference, reference_name = (ours.value, f"{ours.name} (ours)") if ours else (None, "")
    return Table(title, rows, reference_name, reference, value_name, list(notes or []))


def load_average() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unavailable"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def environment() -> list[str]:
    """Return Markdown lines describing the machine and the versions of everything measured."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    lines = [
        f"- Machine: {platform.node() or 'unknown'}, {_cpu_model()}, {os.cpu_count()} logical cores, "
        f"torch threads {torch.get_num_threads()}, GPU: {gpu}",
        f"- OS: {platform.platform()}, Python {platform.python_version()}",
    ]
    versions = []
    for package in (
        "ganmetrics",
        "torch",
        "numpy",
        "scipy",
        "pytorch-fid",
        "torch-fidelity",
        "clean-fid",
        "torchmetrics",
        "pot",
    ):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    lines.append("- Versions: " + ", ".join(versions))
    return lines
