"""The report of a training run directory (``ganmetrics train --out RUN``): curves over steps, latest snapshot.

Reads ``config.json``, ``metrics.jsonl`` and ``samples/`` only. For the built-in 2-D mixtures the latest sample
snapshot (``samples/step_XXXXXX.npy``) is compared with the run's own evaluation reference (the seeded reference
sample the trainer scored against, regenerated from the config) in a full two-sample report; for image runs
the latest sample grid is shown as it was written.
"""

from __future__ import annotations

import json
import os
import shutil
from html import escape
from pathlib import Path
from typing import Any

from ganmetrics import keys
from ganmetrics.report import figures
from ganmetrics.report.build import add_comparison_sections, finish_report_folder, new_page
from ganmetrics.report.content import Analysis, ReportOptions, ReportSide, analyse
from ganmetrics.report.output import atomic_folder, check_output
from ganmetrics.report.page import Page, number, paragraph, table

# The curves drawn, in this order, when a run logged them; any other logged metric follows, except the
# bookkeeping values logged beside the metrics (sample sizes, dimensions, bandwidth, KID's subset spread).
CURVE_ORDER = (
    keys.FID,
    keys.KID_MEAN,
    keys.MMD2,
    keys.SINKHORN,
    keys.EMD,
    "modes_covered",
    "high_quality",
    "kl_uniform",
)
NOT_CURVES = (keys.N1, keys.N2, keys.DIMS, keys.SIGMA, keys.KID_STD)


def read_run(run: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return a run directory's config and the records of ``metrics.jsonl`` that hold metrics.

    Raises ``ValueError`` when ``run`` is not a folder, lacks ``config.json`` or ``metrics.jsonl``, a line is not
    JSON, or no record holds metrics.
    """
    if not run.is_dir():
        raise ValueError(f"{run}: not a run directory (not a folder)")
    for name in ("config.json", "metrics.jsonl"):
        if not (run / name).is_file():
            raise ValueError(f"{run}: not a training run directory with metrics (no {name})")
    try:
        config = json.loads((run / "config.json").read_text())
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    except json.JSONDecodeError as error:
        raise ValueError(f"{run}: unreadable run files ({error})") from error
    scored = [r for r in records if isinstance(r.get("metrics"), dict) and r["metrics"]]
    if not scored:
        raise ValueError(f"{run}/metrics.jsonl: no evaluation recorded yet (no record holds metrics)")
    return config, scored


def _latest_sample(run: Path) -> Path | None:
    samples = sorted((run / "samples").glob("step_*.npy")) + sorted((run / "samples").glob("step_*.png"))
    return max(samples, key=lambda p: int(p.stem.split("_")[1]), default=None) if samples else None


def _run_sections(page: Page, out: Path, run: Path, config: dict[str, Any], records: list[dict[str, Any]]) -> dict:
    names = [n for n in CURVE_ORDER if any(n in r["metrics"] for r in records)]
    names += sorted({n for r in records for n in r["metrics"]} - set(names) - set(NOT_CURVES))
    figures.plot_metric_curves(records, names, out / "figures" / "curves.png")
    shown = {key: config.get(key) for key in ("data", "loss", "steps", "eval_every", "eval_samples", "seed")}
    last = records[-1]
    body = table(["setting", "value"], [[escape(k), number(v)] for k, v in shown.items()], numeric=(1,))
    body += page.figure("curves.png", "metric curves over training steps")
    body += paragraph(f"Latest evaluation: step {last['step']} ({len(records)} evaluations in metrics.jsonl).")
    body += table(
        ["metric", f"step {last['step']}"], [[escape(k), number(v)] for k, v in last["metrics"].items()], numeric=(1,)
    )
    page.section("run", f"Training run {os.fsencode(run).decode('utf-8', 'backslashreplace')}", body)
    return {
        "run": str(run),
        "config": shown,
        "curves": {n: [[r["step"], r["metrics"][n]] for r in records if n in r["metrics"]] for n in names},
        "latest": {"step": last["step"], "metrics": last["metrics"]},
    }


def build_run_report(
    run: str | os.PathLike, output: str | os.PathLike, *, overwrite: bool = False, options: ReportOptions | None = None
) -> Path:
    """Return the report folder written for the training run directory ``run``.

    The page holds the run's settings, its metric curves over steps and the latest metrics, then the latest
    snapshot: a full two-sample report against the run's evaluation reference for 2-D mixtures, the sample
    grid for image runs. Raises ``ValueError`` for a directory without metrics (see ``read_run``) and for the
    output folders ``build_report`` refuses.
    """
    run = Path(run)
    target = check_output(output, overwrite, (run,))
    config, records = read_run(run)
    latest = _latest_sample(run)
    comparison: tuple[Analysis, ReportSide, ReportSide] | None = None
    if latest is not None and latest.suffix == ".npy":
        import numpy as np
        import torch

        from ganmetrics.mixtures import MIXTURES

        if config.get("data") not in MIXTURES:
            raise ValueError(f"{run}: 2-D samples for data {config.get('data')!r}, not a built-in mixture")
        # The trainer scores against the mixture's points drawn from a generator seeded with seed + 3.
        generator = torch.Generator().manual_seed(config["seed"] + 3)
        reference = MIXTURES[config["data"]]().sample(config["eval_samples"], generator).numpy()
        meta = {"extractor": "raw-coordinates", "mixture": config["data"]}
        real = ReportSide(
            f"{config['data']} reference ({len(reference)} samples, seed {config['seed'] + 3})",
            meta,
            features=reference,
        )
        fake = ReportSide(str(latest), dict(meta), features=np.load(latest))
        analysis = analyse(real, fake, None, options)
        for entry in analysis.data["missing"]:
            if entry["section"] == "C_T data-copying test":
                entry["reason"] = "needs the training set the model saw, which a run directory does not keep"
        comparison = (analysis, real, fake)
    with atomic_folder(target) as building:
        page = new_page(building, f"training run {run}")
        data: dict[str, Any] = {"run": _run_sections(page, building, run, config, records)}
        if comparison is not None:
            add_comparison_sections(page, building, *comparison)
            data.update(comparison[0].data)
        elif latest is not None:
            shutil.copyfile(latest, building / "figures" / "latest_samples.png")
            page.section(
                "snapshot",
                f"Latest samples ({latest.name})",
                page.figure("latest_samples.png", f"generated samples at {latest.stem}"),
            )
            data["latest_samples"] = latest.name
        finish_report_folder(building, page, data)
    return target
