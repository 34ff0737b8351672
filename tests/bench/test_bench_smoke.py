"""Smoke test of the benchmark runner: every case runs at tiny sizes and writes its section of the results file.

No timing is asserted (timings on a shared test machine mean nothing); the test keeps the runner, the peers'
call signatures and the tables from rotting. The values are checked where the case defines an exact reference.
"""

from __future__ import annotations

import math
from importlib.util import find_spec
from pathlib import Path

import pytest

from bench import CASES, load_case
from bench.__main__ import main
from bench._harness import Config
from bench.memory import BOUND

SMOKE = Config(scale="smoke", repeats=1, min_runs=1)


@pytest.fixture(autouse=True)
def _bench_work_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANMETRICS_BENCH_WORK", str(tmp_path_factory.getbasetemp() / "bench_work"))


@pytest.mark.parametrize(
    "name",
    [  # e2e and collapse have tests of their own; extractors builds five networks (about 30 s on two cores)
        pytest.param(n, marks=pytest.mark.slow) if n == "extractors" else n
        for n in CASES
        if n not in ("e2e", "collapse")
    ],
)
def test_case_runs_at_smoke_size_and_every_row_has_a_value(name: str) -> None:
    tables = load_case(name).run(SMOKE)
    assert tables
    for table in tables:
        for row in table.rows:
            if row.error == "ModuleNotFoundError: No module named 'dinov2'" and find_spec("dinov2") is None:
                continue  # torch-fidelity's DINOv2 needs the official code: pip install --no-deps dinov2==0.0.1.dev2
            assert not row.error, f"{table.title}: {row.name} failed: {row.error}"
            if row.name == BOUND:  # memory's timing-only row: the BLAS calls on zeros, no statistics to show
                assert row.baseline and row.value is None and row.times
                continue
            assert row.value is not None and math.isfinite(row.value), f"{table.title}: {row.name}"
            assert not table.timed or len(row.times) == 1
        assert table.markdown().count("\n|") == len(table.rows) + 2  # header, separator, one line per row


def test_frechet_case_ours_is_exact_on_rank_deficient_stats() -> None:
    # The reference is the SVD nuclear norm of the centred cross-product (exact); ours must match it to float64
    # round-off of a d = 64 problem (1e-12 relative), the bound the case exists to show.
    _, low = load_case("frechet").run(SMOKE)
    for row in low.rows:
        if row.ours:
            assert low.agreement(row) < 1e-12, row.name


def test_kernel_case_deterministic_kid_matches_the_float64_formula() -> None:
    # One subset holding every sample: no randomness. Ours by default evaluates dot products in float32 with the
    # rest in float64: the 1e-6 relative (measured 2e-7 on these small smoke samples, see mmd.py); with
    # matmul_dtype="float64", float64 round-off only (1e-10). The peers, in float32, are only expected within ~1e-4.
    _, _, exact, gaussian = load_case("kernel").run(SMOKE)
    assert exact.agreement(exact.row("kid")) < 1e-6
    assert gaussian.agreement(gaussian.row("mmd2_unbiased")) < 1e-6
    assert exact.agreement(exact.row('kid(matmul_dtype="float64")')) < 1e-10
    assert gaussian.agreement(gaussian.row('mmd2_unbiased(matmul_dtype="float64")')) < 1e-10


@pytest.mark.slow  # about 2 minutes on two cores: CLI processes and three models
def test_e2e_case_runs_the_cli_and_every_extractor_and_features_agree() -> None:
    tables = load_case("e2e").run(SMOKE)
    timed = [t for t in tables if t.timed]
    assert len(timed) == 1
    for row in timed[0].rows:
        assert not row.error, f"{timed[0].title}: {row.name} failed: {row.error}"
    # Same weights and resize mode: FID agrees to float32 feature rounding (1e-5 relative is generous for
    # features that agree to ~1e-5 absolute).
    assert timed[0].agreement(next(r for r in timed[0].rows if r.ours)) < 1e-5
    probe = next(t for t in tables if t.title.startswith("Feature agreement"))
    # One thread on both sides: identical kernels; 1e-5 absolute is the parity tests' bound. fp32-fast rounds
    # differently by design: within 1e-3 absolute (measured ~9e-5 on features up to ~2-4).
    assert {r.name for r in probe.rows} == {
        "pytorch-fid get_activations, 1 thread(s)",
        "torch-fidelity extractor, 1 thread(s)",
        "ours fp32-fast against ours fp32, 1 thread(s)",
    }
    assert all(r.value < 1e-5 for r in probe.rows if "fp32-fast" not in r.name)
    assert all(0 <= r.value < 1e-3 for r in probe.rows if "fp32-fast" in r.name)


def test_runner_writes_a_section_per_case_and_keeps_other_sections(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    assert main(["transport", "--scale", "smoke", "--repeats", "1", "--output", str(results)]) == 0
    note = "<!-- note:by-hand -->\n## A measurement made by hand\n\n| a |\n|---|\n<!-- /note:by-hand -->"
    results.write_text(results.read_text() + "\n" + note + "\n")
    assert main(["frechet", "--scale", "smoke", "--repeats", "1", "--output", str(results)]) == 0
    text = results.read_text()
    assert "<!-- case:transport -->" in text and "<!-- case:frechet -->" in text
    assert text.index("case:frechet") < text.index("case:transport")  # case order, not run order
    assert text.count(note) == 1 and text.index(note) > text.index("/case:transport")  # notes kept, after the cases
    assert "load average" in text and "Versions:" in text


def test_runner_refuses_an_unknown_case() -> None:
    with pytest.raises(SystemExit):
        main(["no-such-case", "--no-write"])
