"""`ganmetrics fid|is|stats A B` on image folders, against pytorch-fid on the same images and weights file.

The weights are the seeded random ones of ``tests/conftest.py`` (the real file cannot be downloaded here); the
same file is given to pytorch-fid through its torch.hub cache, so both run the same network on the same images.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_run import run
from PIL import Image
from pytorch_fid import fid_score
from pytorch_fid.inception import InceptionV3

from ganmetrics.features.weights import FID_WEIGHTS_NAME
from ganmetrics.inputs import RankDeficientWarning

N_IMAGES = 12


def _write_folder(folder: Path, seed: int, size: int = 32, offset: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(N_IMAGES):
        base = rng.integers(0, 256, (1, 1, 3))
        noise = rng.integers(-60, 60, (size, size, 3))
        pixels = np.clip(base + noise + offset, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("images")
    return _write_folder(root / "real", seed=1), _write_folder(root / "fake", seed=2, offset=40)


@pytest.fixture()
def pytorch_fid_home(tmp_path: Path, fid_weights: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make pytorch-fid's torch.hub download find our weights file in its cache instead."""
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    shutil.copy(fid_weights, checkpoints / FID_WEIGHTS_NAME)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


@pytest.mark.slow  # 45-125 s on two cores: pytorch-fid's own pipeline on the same folders
def test_fid_of_two_folders_equals_pytorch_fid_calculate_fid_given_paths(
    folders: tuple[Path, Path], fid_weights: Path, pytorch_fid_home: Path
) -> None:
    real, fake = folders
    code, out, err = run("fid", real, fake, "--weights", fid_weights, "--num-workers", "0", "--json", "--quiet")
    assert code == 0, err
    ours = json.loads(out)["fid"]
    theirs = fid_score.calculate_fid_given_paths([str(real), str(fake)], N_IMAGES, "cpu", 2048, num_workers=0)
    # Same network and images; features agree to 1e-5 (float32), and pytorch-fid's sqrtm on these rank-deficient
    # covariances (12 images, 2048 dims) is itself off by ~1e-8: the 1e-4 relative holds with margin.
    assert ours == pytest.approx(theirs, rel=1e-4)


@pytest.mark.slow  # 30 s on two cores: three extractions
def test_fid_folder_vs_stats_of_other_folder_equals_folder_vs_folder(
    folders: tuple[Path, Path], fid_weights: Path, tmp_path: Path
) -> None:
    real, fake = folders
    stats = tmp_path / "real_stats.npz"
    common = ("--weights", fid_weights, "--num-workers", "0", "--quiet")
    assert run("stats", real, "-o", stats, *common)[0] == 0
    folder_folder = json.loads(run("fid", real, fake, *common, "--json")[1])["fid"]
    stats_folder = json.loads(run("fid", stats, fake, *common, "--json")[1])["fid"]
    # The stats route (eigh factor of the rank-deficient Σ) and the feature route (centred features) agree to
    # float64 round-off relative to the covariance traces.
    assert stats_folder == pytest.approx(folder_folder, rel=1e-8)
    metadata = json.loads(str(np.load(stats)["metadata"]))
    assert metadata["resize"] == "pytorch-fid" and metadata["n"] == N_IMAGES
    assert metadata["extractor"] == "fid-inception-v3/pool3"


def test_stats_from_another_resize_mode_are_refused(
    folders: tuple[Path, Path], fid_weights: Path, tmp_path: Path
) -> None:
    real, fake = folders
    stats = tmp_path / "real_tf.npz"
    common = ("--weights", fid_weights, "--num-workers", "0", "--quiet")
    assert run("stats", real, "-o", stats, "--resize", "tf", *common)[0] == 0
    code, out, err = run("fid", stats, fake, *common)
    assert code != 0 and out == ""
    assert "resize: 'tf' vs 'pytorch-fid'" in err


def test_inception_score_of_folder_equals_original_definition_on_pool3_times_w(
    folders: tuple[Path, Path], fid_weights: Path, pytorch_fid_home: Path
) -> None:
    real, _ = folders
    code, out, err = run(
        "is", real, "--weights", fid_weights, "--num-workers", "0", "--json", "--quiet", "--splits", "4"
    )
    assert code == 0, err
    result = json.loads(out)
    # Original IS (Salimans et al. 2016 code): logits = pool3 · Wᵀ without the bias, softmax, contiguous splits in
    # sorted-file order, exp(mean KL(p(y|x) || p(y))) per split, std with ddof 0. pool3 from pytorch-fid's model.
    model = InceptionV3([3], use_fid_inception=True).eval()
    files = sorted(real.glob("*.png"))
    images = torch.stack([torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1) for f in files])
    with torch.no_grad():
        pool3 = model(images.float() / 255)[0].squeeze(-1).squeeze(-1).double().numpy()
    weight = torch.load(fid_weights, map_location="cpu")["fc.weight"].double().numpy()
    logits = pool3 @ weight.T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for i in range(4):
        part = p[i * len(p) // 4 : (i + 1) * len(p) // 4]
        py = part.mean(0, keepdims=True)
        scores.append(np.exp(np.mean(np.sum(part * (np.log(part) - np.log(py)), axis=1))))
    # float32 network features (1e-5 abs) through a 1008-way softmax: 1e-4 relative.
    assert result["is_mean"] == pytest.approx(np.mean(scores), rel=1e-4)
    assert result["is_std"] == pytest.approx(np.std(scores), rel=1e-3, abs=1e-6)


# --- bad input ----------------------------------------------------------------------------------------------


def test_empty_folder_error_names_folder_and_extensions(tmp_path: Path, fid_weights: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run("stats", empty, "-o", tmp_path / "s.npz", "--weights", fid_weights, "--quiet")
    assert code != 0 and "empty" in err and "png" in err and "Traceback" not in err


def test_corrupt_image_error_names_file_and_skip_bad_reports_it(
    folders: tuple[Path, Path], fid_weights: Path, tmp_path: Path
) -> None:
    real, _ = folders
    broken = tmp_path / "broken"
    shutil.copytree(real, broken)
    (broken / "img_005.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    common = ("--weights", fid_weights, "--num-workers", "0", "--quiet")
    code, _, err = run("stats", broken, "-o", tmp_path / "s.npz", *common)
    assert code != 0 and "img_005.png" in err
    assert not (tmp_path / "s.npz").exists()
    # The report is a warning (printed as "Warning: skipped 1 ..." on stderr; recorded here by pytest).
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image.*img_005\.png"):
        code, _, err = run("stats", broken, "-o", tmp_path / "s.npz", *common, "--skip-bad")
    assert code == 0, err
    assert int(np.load(tmp_path / "s.npz")["n"]) == N_IMAGES - 1


def test_cuda_asked_for_but_unavailable(
    folders: tuple[Path, Path], fid_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a machine without a GPU
    code, _, err = run("stats", folders[0], "-o", tmp_path / "s.npz", "--weights", fid_weights, "--device", "cuda")
    assert code != 0 and "CUDA" in err


def test_fewer_images_than_dimensions_warns_with_the_numbers(folders: tuple[Path, Path], fid_weights: Path) -> None:
    # In a real run the warning is printed on stderr as "Warning: ..."; under pytest the warnings plugin records it.
    with pytest.warns(RankDeficientWarning, match=f"{N_IMAGES} samples for 2048 feature dimensions"):
        code, _, _ = run("fid", *folders, "--weights", fid_weights, "--num-workers", "0", "--quiet")
    assert code == 0


def test_missing_weights_offline_says_where_to_put_them(
    folders: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere.pth"
    code, _, err = run("stats", folders[0], "-o", tmp_path / "s.npz", "--weights", missing)
    assert code != 0 and "nowhere.pth" in err and "Traceback" not in err
