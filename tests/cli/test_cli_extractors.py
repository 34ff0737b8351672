"""`ganmetrics fd|cmmd|stats|features --extractor` on image folders and feature files: the numbers equal the
Python API and the reference formulas on the same features, the extractor and protocol are recorded, and FID,
CMMD and cross-extractor comparisons are refused with one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_run import run
from PIL import Image

from ganmetrics.features.extract import extract_features
from ganmetrics.features.extractors.dinov2 import ARCHITECTURES
from ganmetrics.features.extractors.random_weights import random_state_dict
from ganmetrics.io.features_file import save_features
from ganmetrics.metrics.frechet import fid_from_features

N_IMAGES = 6


def _write_folder(folder: Path, seed: int, offset: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(N_IMAGES):
        pixels = np.clip(rng.integers(0, 256, (1, 1, 3)) + rng.integers(-60, 60, (40, 48, 3)) + offset, 0, 255)
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"img_{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("images")
    return _write_folder(root / "real", seed=1), _write_folder(root / "fake", seed=2, offset=40)


@pytest.fixture(scope="module")
def vits14(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dinov2") / "dinov2_vits14_pretrain.pth"
    torch.save(random_state_dict(ARCHITECTURES["dinov2-vit-s-14"].official_shapes(), seed=5), path)
    return path


def test_fd_dinov2_of_two_folders_equals_the_frechet_distance_of_their_features(folders, vits14):
    real, fake = folders
    code, out, err = run(
        "fd", real, fake, "--extractor", "dinov2-vit-s-14", "--weights", vits14, "--json", "-q", "--num-workers", "0"
    )
    assert code == 0, err
    result = json.loads(out)
    features = [
        extract_features(folder, extractor="dinov2-vit-s-14", weights=vits14, num_workers=0, progress=False)
        for folder in folders
    ]
    expected = fid_from_features(features[0].features["cls"], features[1].features["cls"])
    assert result["fd"] == pytest.approx(expected, rel=1e-9)
    assert (result["n1"], result["n2"], result["dims"]) == (N_IMAGES, N_IMAGES, 384)


def test_stats_record_extractor_and_protocol_and_are_refused_across_extractors(folders, vits14, tmp_path):
    real, fake = folders
    stats = tmp_path / "real_dinov2.npz"
    code, _, err = run(
        "stats",
        real,
        "-o",
        stats,
        "--extractor",
        "dinov2-vit-s-14",
        "--weights",
        vits14,
        "-q",
        "--num-workers",
        "0",
        "--protocol",
        "tf-imagenet-224",
    )
    assert code == 0, err
    metadata = json.loads(str(np.load(stats)["metadata"]))
    assert metadata["extractor"] == "dinov2-vit-s-14/cls" and metadata["resize"] == "tf-imagenet-224"
    code, _, err = run(
        "fd", stats, fake, "--extractor", "dinov2-vit-s-14", "--weights", vits14, "-q", "--num-workers", "0"
    )  # the default protocol, dgm-eval-imagenet-224, differs
    assert code == 1 and "resize: 'tf-imagenet-224' vs 'dgm-eval-imagenet-224'" in err
    code, _, err = run("fid", stats, fake, "-q")
    assert code == 1 and "holds dinov2-vit-s-14/cls features; fid is defined with inception" in err


def test_fid_refuses_another_extractor_pointing_to_fd(folders):
    code, _, err = run("fid", *folders, "--extractor", "dinov2-vit-s-14")
    assert code == 1
    assert err.strip().splitlines() == [
        "Error: extractor: fid is defined with inception, not dinov2-vit-s-14; use fd for the Fréchet distance in "
        "another space"
    ]


def test_unknown_extractor_lists_the_valid_names(folders):
    code, _, err = run("fd", *folders, "--extractor", "dinov3")
    assert code == 1 and "Error: extractor: unknown 'dinov3'; valid extractors are inception, dinov2-vit-s-14" in err


def _reference_cmmd(x: np.ndarray, y: np.ndarray) -> float:
    """google-research cmmd/distance.py's mmd, transcribed to numpy (float64), on L2-normalised embeddings."""
    gamma = 1 / (2 * 10**2)
    xx, yy, xy = x @ x.T, y @ y.T, x @ y.T
    x_sq, y_sq = np.diag(xx), np.diag(yy)
    k_xx = np.mean(np.exp(-gamma * (-2 * xx + x_sq[:, None] + x_sq[None, :])))
    k_xy = np.mean(np.exp(-gamma * (-2 * xy + x_sq[:, None] + y_sq[None, :])))
    k_yy = np.mean(np.exp(-gamma * (-2 * yy + y_sq[:, None] + y_sq[None, :])))
    return 1000 * (k_xx + k_yy - 2 * k_xy)


def _embedding_file(path: Path, seed: int, extractor: str = "clip-vit-l-14-336/embedding") -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(40, 768)) + rng.normal(size=768)
    rows = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    save_features(path, {"features": rows}, {"extractor": extractor, "resize": "cmmd-336", "weights_sha256": "ab"})
    return rows


def test_cmmd_of_clip_feature_files_equals_the_reference_formula(tmp_path):
    x = _embedding_file(tmp_path / "real.npz", 0)
    y = _embedding_file(tmp_path / "fake.npz", 1)
    code, out, err = run("cmmd", tmp_path / "real.npz", tmp_path / "fake.npz", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["cmmd"] == pytest.approx(_reference_cmmd(x.astype(np.float64), y.astype(np.float64)), rel=1e-6)
    assert result["cmmd_unbiased"] < result["cmmd"]


def test_cmmd_refuses_features_of_another_extractor(tmp_path):
    _embedding_file(tmp_path / "real.npz", 0, extractor="dinov2-vit-l-14/cls")
    _embedding_file(tmp_path / "fake.npz", 1, extractor="dinov2-vit-l-14/cls")
    code, _, err = run("cmmd", tmp_path / "real.npz", tmp_path / "fake.npz")
    assert code == 1 and "holds dinov2-vit-l-14/cls features; cmmd is defined with clip-vit-l-14-336" in err


def test_factory_extractor_from_the_command_line_is_recorded_by_name(folders, tmp_path, monkeypatch):
    (tmp_path / "colour_means.py").write_text(
        "import torch\n\n\ndef make():\n"
        "    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out_file = tmp_path / "features.npz"
    code, _, err = run(
        "features", folders[0], "-o", out_file, "--extractor", "colour_means:make", "-q", "--num-workers", "0"
    )
    assert code == 0, err
    metadata = json.loads(str(np.load(out_file)["metadata"]))
    assert metadata["extractor"] == "custom:colour_means:make/features"
    assert np.load(out_file)["features"].shape == (N_IMAGES, 12)
