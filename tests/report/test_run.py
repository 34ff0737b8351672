"""Training-run reports: curves and latest metrics from metrics.jsonl, the latest 2-D snapshot, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ganmetrics.mixtures import ring
from ganmetrics.report import ReportOptions
from ganmetrics.report.run import build_run_report

FAST = ReportOptions(bootstrap=10, subsets=5)


def _strict_json(path: Path) -> dict:
    def refuse(token: str) -> None:
        raise AssertionError(f"non-finite number {token} in {path}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def _write_run(run: Path, with_metrics: bool = True) -> None:
    (run / "samples").mkdir(parents=True)
    (run / "config.json").write_text(
        json.dumps(
            {
                "data": "ring8",
                "loss": "ns",
                "steps": 200,
                "eval_every": 100,
                "eval_samples": 300,
                "seed": 0,
                "data_root": "data",
            }
        )
    )
    records = [{"step": 50, "losses": {"d": 1.0, "g": 0.7}}]
    if with_metrics:
        records += [
            {"step": s, "metrics": {"fid": 3.0 / s, "kid_mean": 0.1 / s, "modes_covered": s / 25, "n1": 300}}
            for s in (100, 200)
        ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    sample = ring().sample(300, torch.Generator().manual_seed(9)).numpy()
    np.save(run / "samples" / "step_000100.npy", sample * 1.5)
    np.save(run / "samples" / "step_000200.npy", sample)


def test_run_report_has_curves_latest_metrics_and_the_latest_snapshot(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "ring8"
    _write_run(run)
    out = build_run_report(run, tmp_path / "report", options=FAST)
    data = _strict_json(out / "report.json")
    assert data["run"]["latest"] == {
        "step": 200,
        "metrics": {"fid": 0.015, "kid_mean": 0.0005, "modes_covered": 8.0, "n1": 300},
    }
    assert set(data["run"]["curves"]) == {"fid", "kid_mean", "modes_covered"}  # n1 is bookkeeping, not a curve
    assert data["inputs"]["fake"]["label"].endswith("step_000200.npy")
    assert data["inputs"]["real"]["n"] == 300
    reasons = {m["section"]: m["reason"] for m in data["missing"]}
    assert "does not keep" in reasons["C_T data-copying test"] and "Inception Score" not in reasons
    for figure in ("curves.png", "scatter.png", "fid_vs_n.png"):
        assert (out / "figures" / figure).is_file()


def test_run_report_refuses_a_directory_without_metrics(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write_run(run, with_metrics=False)
    with pytest.raises(ValueError, match="no evaluation recorded yet"):
        build_run_report(run, tmp_path / "out")
    with pytest.raises(ValueError, match="no config.json"):
        build_run_report(tmp_path, tmp_path / "out2")
    assert not (tmp_path / "out").exists()
