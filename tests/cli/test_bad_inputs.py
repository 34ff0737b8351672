"""Every bad input of issue 14 through the command line and the API: exit status 1, exactly one ``Error:`` line
naming the input, no traceback, nothing on stdout, no file left behind.

Each row is (id, command line with ``{name}`` placeholders for the files of the ``inputs`` fixture, the text the
error must contain). The API table checks the same inputs through ``ganmetrics.compute`` and the metric
functions, where the message must start with the input's name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from cli_run import run
from PIL import Image

from ganmetrics import compute
from ganmetrics.metrics.frechet import frechet_distance
from ganmetrics.metrics.inception_score import inception_score


class _Payload:
    """Unpickling this calls ``print``: a weights file that could run code."""

    def __reduce__(self) -> tuple:
        return (print, ("code ran",))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, fid_weights: Path) -> dict[str, Path]:
    """The bad (and a few good) input files, by name."""
    root = tmp_path_factory.mktemp("bad_inputs")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((60, 8)), rng.standard_normal((50, 8))
    mu, sigma = x.mean(0), np.cov(x, rowvar=False)
    files: dict[str, Path] = {}

    def npy(name: str, array: np.ndarray) -> None:
        files[name] = root / f"{name}.npy"
        np.save(files[name], array)

    def npz(name: str, **arrays: Any) -> None:
        files[name] = root / f"{name}.npz"
        np.savez(files[name], **arrays)

    npy("x", x)
    npy("y", y)
    npy("big200", y * 1e200)
    npy("big160", y * 1e160)
    npy("pool3", rng.standard_normal((40, 2048)))
    npz("meta_list", features=x, metadata=np.array(json.dumps([1, 2])))
    npz("meta_string", features=x, metadata=np.array(json.dumps("made by hand")))
    npz("meta_bad", features=x, metadata=np.array("{bad"))
    npz("complex_stats", mu=mu + 0j, sigma=sigma + 0j, n=np.int64(60))
    npz("negative_n", mu=mu, sigma=sigma, n=np.int64(-5))
    npz("many_n", mu=mu, sigma=sigma, metadata=np.array(json.dumps({"n": "many"})))
    npz("vector_n", mu=mu, sigma=sigma, n=np.array([1, 2]))
    files["blocker"] = root / "blocker"
    files["blocker"].write_text("a file where a folder is expected")
    images = root / "images"
    images.mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(images / f"{i}.png")
    files["images"] = images
    files["empty"] = root / "empty"
    files["empty"].mkdir()
    files["absent"] = root / "absent"
    state = torch.load(fid_weights, weights_only=True)
    state["Conv2d_1a_3x3.conv.weight"][0, 0, 0, 0] = float("nan")
    files["nan_weights"] = root / "nan_weights.pth"
    torch.save(state, files["nan_weights"])
    files["pickle_weights"] = root / "pickle_weights.pth"
    torch.save({"fc.weight": torch.zeros(1), "payload": _Payload()}, files["pickle_weights"])
    return files


CLI_CASES = [
    (
        "feature npz metadata is a JSON list",
        "fid {x} {meta_list}",
        "{meta_list}: its metadata record must be a JSON object",
    ),
    ("feature npz metadata is a JSON string", "mmd {x} {meta_string}", "{meta_string}: its metadata record must be"),
    ("feature npz metadata is bad JSON", "fid {x} {meta_bad}", "{meta_bad}: its metadata record is not valid JSON"),
    ("emd cost matrix overflows", "emd {x} {big200}", "{big200}: values up to 2.52e+200 are too large"),
    ("fid on huge features", "fid {x} {big160} --json", "{big160}: values up to 2.52e+160 are too large"),
    ("mmd on huge features", "mmd {x} {big160} --json", "{big160}: values up to"),
    ("kid on huge features", "kid {x} {big160} --json --subset-size 20", "{big160}: values up to"),
    ("sinkhorn reg below float64", "sinkhorn {x} {y} --reg 1e-300 --json", "reg: 1e-300 is below the smallest usable"),
    ("sinkhorn not converged", "sinkhorn {x} {y} --reg 0.01 --max-iter 3 --json", "sinkhorn: Sinkhorn: no convergence"),
    ("is on pool3 features", "is {pool3}", "{pool3}: has 2048 columns, but the logits of the FID Inception have 1008"),
    ("stats npz with complex mu", "fid {complex_stats} {y} --json", "{complex_stats}: mu holds complex values"),
    ("stats npz with n = -5", "fid {negative_n} {y} --json", "{negative_n}: n must be at least 2"),
    ("stats npz with metadata n many", "fid {many_n} {y} --json", "{many_n}: the metadata's n must be an integer"),
    ("stats npz with a vector n", "fid {vector_n} {y}", "{vector_n}: n must be one integer"),
    ("kid seed beyond 64 bits", "kid {x} {y} --subset-size 10 --seed 99999999999999999999999", "seed: must be at most"),
    ("output parent is a file", "stats {x} -o {blocker}/sub/out.npz", "{blocker} is a file, not a folder"),
    (
        "output parent is a file, checked before extraction",
        "features {images} -o {blocker}/out.npz --weights {pickle_weights}",
        "{blocker}/out.npz: cannot be written, {blocker} is a file",
    ),
    # Checked before any extraction: the weights given would fail if the network were loaded.
    (
        "kid subset size above a folder's image count",
        "kid {images} {images} --weights {pickle_weights}",
        "kid: the subset size 1000 (--subset-size, subset_size) is larger than the 3 samples of {images}",
    ),
    (
        "all with an explicit kid subset size above a folder's count",
        "all {images} {images} --metrics kid --subset-size 10 --weights {pickle_weights}",
        "kid: the subset size 10 (--subset-size, subset_size) is larger than the 3 samples of {images}",
    ),
    ("fid with the second side missing", "fid {images} {absent} --weights {pickle_weights}", "{absent}: no such file"),
    ("fid with the first side empty", "fid {empty} {images} --weights {pickle_weights}", "{empty}: no image files"),
    ("all with a side missing", "all {images} {absent} --weights {pickle_weights}", "{absent}: no such file"),
    ("metric command with --device bogus", "fid {images} {images} --device bogus", "device: 'bogus' is not a device"),
    *(
        []
        if torch.cuda.is_available()
        else [("--device cuda without a GPU", "fid {images} {images} --device cuda", "device: 'cuda' was asked for")]
    ),
    (
        "weights with a NaN convolution",
        "features {images} -o {blocker}.out.npz --weights {nan_weights} --num-workers 0 -q",
        "{images}/0.png: the network's pool3 output is not finite",
    ),
    (
        "weights file holding pickled code",
        "features {images} -o {blocker}.out.npz --weights {pickle_weights} -q",
        "{pickle_weights}: is not a plain state dict",
    ),
]


def _tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}  # hidden files (.NAME.XXXX.part) included


@pytest.mark.parametrize(("case", "command", "expected"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_bad_input_gives_one_error_line_naming_it_exit_1_and_leaves_no_file(
    inputs: dict[str, Path], case: str, command: str, expected: str
) -> None:
    root = inputs["x"].parent
    before = _tree(root)
    names = {name: str(path) for name, path in inputs.items()}
    code, out, err = run(*(part.format(**names) for part in command.split()))
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert code == 1, err
    assert len(errors) == 1 and expected.format(**names) in errors[0], err
    assert "Traceback" not in err and out == ""
    assert _tree(root) == before


def _load(inputs: dict[str, Path], name: str) -> np.ndarray:
    return np.load(inputs[name])


API_CASES = [
    ("compute: metadata list", lambda f: compute("fid", f["x"], f["meta_list"]), "{meta_list}: its metadata"),
    ("compute: huge features", lambda f: compute("emd", f["x"], f["big200"]), "{big200}: values up to"),
    ("compute: pool3 as logits", lambda f: compute("is", f["pool3"]), "{pool3}: has 2048 columns"),
    (
        "measure: complex stats",
        lambda f: compute("fid", f["y"], f["complex_stats"]),
        "{complex_stats}: mu holds complex",
    ),
    ("compute: n many", lambda f: compute("fid", f["y"], f["many_n"]), "{many_n}: the metadata's n"),
    (
        "measure: sinkhorn not converged",
        lambda f: compute("sinkhorn", f["x"], f["y"], reg=0.01, max_iter=3),
        "sinkhorn: Sinkhorn: no convergence",
    ),
    (
        "frechet_distance of a huge mean",
        lambda f: frechet_distance(_load(f, "x").mean(0) * 1e200, np.eye(8), np.zeros(8), np.eye(8)),
        "mu1: values up to",
    ),
    ("inception_score of a bool splits", lambda f: inception_score(_load(f, "x"), splits=True), "splits: expected"),
]


@pytest.mark.parametrize(("case", "call", "expected"), API_CASES, ids=[c[0] for c in API_CASES])
def test_bad_input_through_the_api_raises_one_error_starting_with_its_name(
    inputs: dict[str, Path], case: str, call: Any, expected: str
) -> None:
    with pytest.raises((ValueError, TypeError)) as info:
        call(inputs)
    assert str(info.value).startswith(expected.format(**{k: str(v) for k, v in inputs.items()}))
