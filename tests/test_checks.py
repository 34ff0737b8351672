"""``ganmetrics check CHECKS.toml``: exit status, JSON report and JUnit XML agree with values computed
independently (POT, numpy), paths resolve against the TOML's folder, and each invalid file is refused (exit 2)
naming the check and the field before anything runs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import ot
import pytest
from cli_run import run

from ganmetrics import checks
from ganmetrics.io.features_file import load_features, save_features
from ganmetrics.reference_store import default_root, mixture_sample


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    """A folder with 400 fresh ring8 points (good samples) and 400 points of the grid (bad samples)."""
    np.save(tmp_path / "good.npy", mixture_sample("ring8", 400, seed=11))
    np.save(tmp_path / "bad.npy", mixture_sample("grid25", 400, seed=11))
    return tmp_path


def _write(folder: Path, text: str) -> Path:
    path = folder / "CHECKS.toml"
    path.write_text(text)
    return path


def _emd_to_ring8_2500(samples: np.ndarray) -> float:
    reference = load_features(default_root() / "ring8-2500.npz").get("features").astype(np.float64)
    x = samples.astype(np.float64)
    return float(
        ot.emd2(
            np.full(len(reference), 1 / len(reference)),
            np.full(len(x), 1 / len(x)),
            ot.dist(reference, x, metric="euclidean"),
        )
    )


def test_a_failing_check_gives_exit_1_a_json_report_and_junit_xml(workdir: Path) -> None:
    checks = _write(
        workdir,
        """
[[check]]
name = "good ring8"
samples = "good.npy"
reference = "ref:ring8-2500"
metric = "emd"
threshold = 0.2

[[check]]
name = "grid is not ring8"
samples = "bad.npy"
reference = "ref:ring8-2500"
metric = "emd"
threshold = 0.2
""",
    )
    code, out, err = run("check", checks, "--report", workdir / "report.json", "--junit", workdir / "junit.xml")
    assert code == 1 and "1 of 2 check(s) did not pass" in err
    report = json.loads((workdir / "report.json").read_text())
    assert report["passed"] is False and report["counts"] == {"passed": 1, "failed": 1, "error": 0}
    good, bad = report["checks"]
    # The values themselves: POT's exact EMD on the same arrays (same LP; float64 round-off of the cost sum).
    assert good["value"] == pytest.approx(_emd_to_ring8_2500(np.load(workdir / "good.npy")), rel=1e-9)
    assert bad["value"] == pytest.approx(_emd_to_ring8_2500(np.load(workdir / "bad.npy")), rel=1e-9)
    assert (good["status"], bad["status"]) == ("passed", "failed")
    assert good["value"] < 0.2 < bad["value"]
    assert bad["values"]["n1"] == 2500 and bad["values"]["n2"] == 400
    assert bad["provenance"]["reference"]["extractor"] == "raw-coordinates"
    assert bad["warnings"] == [
        f"{workdir / 'bad.npy'}: unknown provenance (no extractor, weights or resize mode "
        "recorded); the comparison assumes it was made like the other side"
    ]
    assert f"Warning: grid is not ring8: {workdir / 'bad.npy'}: unknown provenance" in err
    assert f"emd = {bad['value']:.6g} is not below the threshold 0.2 (n1=2500, n2=400, dims=2;" in bad["message"]
    suite = ET.parse(workdir / "junit.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["good ring8"].find("failure") is None
    assert cases["grid is not ring8"].find("failure").get("message") == bad["message"]
    assert f"FAILED grid is not ring8: {bad['message']}" in out.splitlines()


def test_all_checks_passing_exits_0(workdir: Path) -> None:
    checks = _write(
        workdir,
        """
[[check]]
samples = "good.npy"
reference = "ref:ring8-10000-stats"
metric = "fid"
threshold = 0.05
""",
    )
    code, out, err = run("check", checks)
    assert code == 0, out + err
    assert out.startswith("PASSED fid ")


def test_is_check_is_judged_above_its_threshold(workdir: Path) -> None:
    logits = np.random.default_rng(0).standard_normal((100, 10)) * 3
    np.save(workdir / "logits.npy", logits)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(p.mean(0))), axis=1))))  # Salimans, 1 split
    checks = _write(
        workdir,
        f"""
[[check]]
name = "above"
samples = "logits.npy"
metric = "is"
threshold = {expected - 0.01}
options = {{ splits = 1, assume_logits = true }}
[[check]]
name = "not above"
samples = "logits.npy"
metric = "is"
threshold = {expected + 0.01}
options = {{ splits = 1, assume_logits = true }}
""",
    )
    code, _, _ = run("check", checks, "--report", workdir / "r.json")
    results = json.loads((workdir / "r.json").read_text())["checks"]
    assert code == 1 and [r["status"] for r in results] == ["passed", "failed"]
    assert results[0]["value"] == pytest.approx(expected, rel=1e-10)  # float64 log-softmax vs numpy


def test_a_check_that_cannot_be_computed_is_an_error_result(workdir: Path) -> None:
    checks = _write(
        workdir,
        """
[[check]]
samples = "absent.npy"
reference = "ref:ring8-2500"
metric = "emd"
threshold = 1
""",
    )
    code, _, _ = run("check", checks, "--junit", workdir / "j.xml")
    assert code == 1
    suite = ET.parse(workdir / "j.xml").getroot().find("testsuite")
    assert suite.get("errors") == "1"
    assert f"{workdir / 'absent.npy'}: no such file" in suite.find("testcase/error").get("message")


def test_provenance_mismatch_is_an_error_unless_allowed_and_then_recorded(workdir: Path) -> None:
    save_features(
        workdir / "other.npz",
        {"features": np.load(workdir / "good.npy")},
        {"extractor": "fid-inception-v3/pool3", "resize": "pytorch-fid"},
    )
    body = '[[check]]\nsamples = "other.npz"\nreference = "ref:ring8-2500"\nmetric = "emd"\nthreshold = 1\n'
    code, out, _ = run("check", _write(workdir, body))
    assert code == 1 and "were not made the same way (extractor: 'raw-coordinates' vs 'fid-inception-v3/pool3')" in out
    code, out, err = run("check", _write(workdir, "allow_mismatch = true\n" + body), "--report", workdir / "r.json")
    assert code == 0, out + err
    report = json.loads((workdir / "r.json").read_text())
    assert report["allow_mismatch"] is True and report["checks"][0]["mismatch_allowed"] == ["extractor"]


def test_reports_replace_older_ones_whole(workdir: Path) -> None:
    (workdir / "r.json").write_text("x" * 100_000)  # a longer stale report: no tail of it may survive
    checks = _write(
        workdir, '[[check]]\nsamples = "good.npy"\nreference = "ref:ring8-2500"\nmetric = "emd"\nthreshold = 1\n'
    )
    assert run("check", checks, "--report", workdir / "r.json")[0] == 0
    assert json.loads((workdir / "r.json").read_text())["passed"] is True
    assert [p.name for p in workdir.iterdir() if p.name.startswith(".r.json")] == []  # no temporary left


# -- invalid CHECKS.toml: exit 2, message names the check and field, nothing runs --------------------------------

_BASE = {"samples": '"good.npy"', "reference": '"ref:ring8-2500"', "metric": '"emd"', "threshold": "0.2"}


def _check_text(**changes: str | None) -> str:
    fields = {**_BASE, **changes}
    return '[[check]]\nname = "c"\n' + "".join(f"{k} = {v}\n" for k, v in fields.items() if v is not None)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threshold": '"0.2"'}, "check 0 ('c'): threshold must be a finite number, got '0.2'"),
        ({"threshold": "true"}, "check 0 ('c'): threshold must be a finite number, got True"),
        ({"threshold": "nan"}, "check 0 ('c'): threshold must be a finite number, got nan"),
        ({"threshold": None}, "check 0 ('c'): lacks threshold"),
        ({"metric": '"psnr"'}, "check 0 ('c'): metric: unknown 'psnr'"),
        ({"reference": None}, "check 0 ('c'): reference: emd needs a reference"),
        ({"metric": '"is"'}, "check 0 ('c'): reference: is takes no reference"),
        (
            {"options": "{ reg = 1.0 }"},
            "check 0 ('c'): options: emd does not take reg (it takes: ground_cost, max_iter)",
        ),
        ({"metric": '"sinkhorn"'}, "check 0 ('c'): options: sinkhorn needs reg"),
        ({"sample": '"x"'}, "check 0 ('c'): unknown key(s) sample"),
    ],
)
def test_invalid_check_is_refused_with_exit_2_naming_check_and_field(
    workdir: Path, changes: dict, message: str
) -> None:
    checks = _write(workdir, _check_text(**changes))
    code, out, err = run("check", checks, "--report", workdir / "r.json")
    assert code == 2 and out == ""
    assert f"{checks}: {message}" in err
    assert not (workdir / "r.json").exists()  # nothing ran


def test_without_a_toml_reader_the_refusal_says_what_to_install(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "tomllib", None)  # as on Python 3.10 without tomli
    code, _, err = run("check", _write(workdir, _check_text()))
    assert code == 2 and "reading TOML needs Python 3.11+ or the 'tomli' package" in err


def test_toml_syntax_error_is_refused_naming_the_file(workdir: Path) -> None:
    checks = _write(workdir, "[[check]\nsamples = ")
    code, _, err = run("check", checks)
    assert code == 2 and f"{checks}: not a readable TOML file" in err


def test_duplicate_check_names_are_refused(workdir: Path) -> None:
    checks = _write(workdir, _check_text() + _check_text())
    code, _, err = run("check", checks)
    assert code == 2 and "check names must be unique; repeated: c" in err


def test_unknown_extraction_option_is_refused(workdir: Path) -> None:
    checks = _write(workdir, '[extraction]\nresise = "clean"\n' + _check_text())
    code, _, err = run("check", checks)
    assert code == 2 and "[extraction] has unknown key(s) resise" in err
