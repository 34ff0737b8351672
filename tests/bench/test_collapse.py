"""The collapse study (bench/collapse.py) at smoke size: it runs, writes its tables and figures, and its
controlled-collapse samplers do what they claim."""

from __future__ import annotations

import math

import pytest

from bench import collapse
from bench.__main__ import main
from bench._harness import Config


@pytest.mark.slow  # 9-16 s on two idle cores; the quick run stays under 6 minutes
def test_smoke_run_writes_results_and_three_titled_figures(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GANMETRICS_BENCH_WORK", str(tmp_path))
    results = tmp_path / "RESULTS.md"
    assert main(["collapse", "--scale", "smoke", "--output", str(results)]) == 0
    out = tmp_path / "collapse"
    text = (out / "RESULTS.md").read_text()
    for name in [*collapse.METHODS, *collapse.conditions(), "load average"]:
        assert name in text, name
    for png in ("metrics_vs_collapse.png", "snapshots_ring8.png", "snapshots_grid25.png"):
        assert (out / png).stat().st_size > 10_000, png
    assert "<!-- case:collapse -->" in results.read_text()


def test_controlled_samplers_drop_and_blur_as_named():
    size = collapse.Sizes(steps=1, seeds=1, n=400, workers=1)
    scores = collapse._controlled_job(("ring8", 0, size))["metrics"]
    # Samples from k of 8 modes: at most 8 - k modes covered; all samples near a centre (3 sigma) when unblurred.
    for k in collapse.DROPPED:
        assert scores[f"{k} dropped"]["modes_covered"] <= 8 - k
    assert scores["perfect"]["modes_covered"] == 8
    # Blur by f: a 2-D Gaussian of std f sigma lies within 3 sigma with probability 1 - exp(-9 / (2 f^2)).
    for f in collapse.BLUR:
        expected = 1 - math.exp(-9 / (2 * f * f))
        assert scores[f"σ × {f}"]["high_quality"] == pytest.approx(expected, abs=0.08)  # n = 400: 4 binomial sd
    for key in ("fid", "kid", "mmd2", "sinkhorn", "emd", "precision", "recall"):
        assert all(math.isfinite(s[key]) for s in scores.values()), key


def test_normalised_change_is_zero_at_perfect_and_signed_so_that_worse_is_up():
    runs = {
        "perfect": [{"emd": 1.0, "recall": 0.9}],
        "a": [{"emd": 3.0, "recall": 0.5}],
        "b": [{"emd": 2.0, "recall": 1.0}],
    }
    emd = collapse.normalised_change(runs, "emd", higher_better=False)
    recall = collapse.normalised_change(runs, "recall", higher_better=True)
    assert emd == {"perfect": 0.0, "a": 1.0, "b": 0.5}
    assert recall == pytest.approx({"perfect": 0.0, "a": 1.0, "b": -0.25})


def test_smoke_sizes_are_small_and_the_default_has_five_seeds():
    smoke, default = collapse.sizes(Config(scale="smoke")), collapse.sizes(Config(scale="default"))
    assert smoke.steps <= 10 and smoke.seeds == 1
    assert default.seeds >= 5  # the issue: at least five seeds


def test_every_method_sets_its_whole_recipe_so_trainer_defaults_cannot_leak_in():
    # TrainConfig fills None from losses.recipe; the study's recipes must not depend on it (R1 once did).
    for method, settings in collapse.METHODS.items():
        for key in ("loss", "lr", "batch_size", "d_steps", "r1"):
            assert settings.get(key) is not None, (method, key)
    assert {"z_dim", "width", "depth", "lr_decay"} <= set(collapse.NETWORK)
