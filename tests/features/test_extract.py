"""Tests of ganmetrics.features.extract: images -> features through DataLoader workers and the network.

Plumbing tests (order, zip vs folder, workers, skipping, progress) run a stand-in network, ``PixelProbe``,
that returns a strided subsample of its input pixels: it is instant, and any change of pixels, resize rounding
or order shows in its output. The exactness, parity and precision tests run the FID Inception with the shared
seeded random weights (``fid_model``/``fid_weights`` from tests/conftest.py) on three 32x32 images, at one CPU
thread (the network's CPU convolutions round differently with the thread count).
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from ganmetrics.features.extract import Extraction, extract_features
from ganmetrics.features.extractors.inception import FIDInceptionV3
from ganmetrics.features.protocols import preprocess
from ganmetrics.features.weights import FID_WEIGHTS_NAME
from ganmetrics.io.images import UnreadableImageError
from ganmetrics.numerics import exact_float32


class PixelProbe(torch.nn.Module):
    """Stand-in network: ``pool3`` is every 23rd pixel of the (N, 3, 299, 299) input, flattened (507)"""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))  # gives the probe a device
        self.eval()

    def forward(self, x: torch.Tensor, outputs=("pool3",)) -> dict[str, torch.Tensor]:
        return {"pool3": x[:, :, ::23, ::23].flatten(1) * self.scale}


def _probe(images: torch.Tensor) -> np.ndarray:
    """PixelProbe features computed here: each uint8 (3, H, W) image preprocessed alone on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = [preprocess(image.unsqueeze(0))[:, :, ::23, ::23].flatten(1) for image in images]
    finally:
        torch.set_num_threads(threads)
    return torch.cat(rows).numpy()


def _write_images(folder: Path, names: list[str], sizes: list[tuple[int, int]] | None = None) -> list[torch.Tensor]:
    """Write seeded noise images named ``names``; return them as uint8 (3, H, W) tensors in that order."""
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for i, name in enumerate(names):
        w, h = sizes[i] if sizes else (32, 32)
        pixels = np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name)
        images.append(torch.from_numpy(pixels).permute(2, 0, 1))
    return images


def _extract(source, **options) -> Extraction:
    options = {"model": PixelProbe(), "num_workers": 0, "progress": False, "batch_size": 2} | options
    return extract_features(source, **options)


@pytest.fixture()
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- plumbing (stand-in network)


def test_features_come_in_sorted_file_order(tmp_path):
    names = ["b.png", "10.png", "a.png", "2.png", "c.png"]
    images = _write_images(tmp_path, names)
    order = sorted(range(len(names)), key=lambda i: names[i])  # Python string order of the names
    result = _extract(tmp_path)
    assert np.array_equal(result.features["pool3"], _probe([images[i] for i in order]))
    assert result.features["pool3"].dtype == np.float32


def test_zip_gives_the_folders_features(tmp_path):
    folder = tmp_path / "images"
    _write_images(folder, [f"{i}.png" for i in range(5)])
    zip_path = tmp_path / "images.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for path in sorted(folder.iterdir(), reverse=True):  # stored out of order: listing must sort
            archive.write(path, path.name)
    assert np.array_equal(_extract(zip_path).features["pool3"], _extract(folder).features["pool3"])


def test_num_workers_zero_and_two_give_identical_features(tmp_path):
    _write_images(tmp_path, [f"{i}.png" for i in range(5)], [(32, 32), (20, 40), (33, 31), (32, 32), (7, 9)])
    serial = _extract(tmp_path, num_workers=0).features["pool3"]
    parallel = _extract(tmp_path, num_workers=2).features["pool3"]
    assert np.array_equal(serial, parallel)


def test_mixed_size_folder_features_and_sizes(tmp_path):
    sizes = [(32, 32), (40, 24), (17, 29), (40, 24)]
    images = _write_images(tmp_path, ["a.png", "b.png", "c.png", "d.png"], sizes)
    result = _extract(tmp_path, batch_size=4)
    assert np.array_equal(result.features["pool3"], _probe(images))
    assert result.metadata["image_sizes"] == sorted([w, h, n] for (w, h), n in Counter(sizes).items())


def test_recursive_reads_subfolders(tmp_path):
    top = _write_images(tmp_path, ["a.png"])
    nested = _write_images(tmp_path / "sub", ["b.png", "c.png"])
    assert np.array_equal(_extract(tmp_path, recursive=True).features["pool3"], _probe(top + nested))


def test_uint8_tensor_float_tensor_dataset_and_folder_agree(tmp_path):
    images = _write_images(tmp_path, [f"{i}.png" for i in range(4)])
    batch = torch.stack(images)

    class Labelled(Dataset):
        def __len__(self) -> int:
            return len(images)

        def __getitem__(self, i):
            return Image.fromarray(images[i].permute(1, 2, 0).numpy()), i

    folder = _extract(tmp_path).features["pool3"]
    for source in (batch, batch.float() / 255, Labelled()):
        assert np.array_equal(_extract(source).features["pool3"], folder)


def test_skip_bad_skips_counts_and_reports_unreadable_files(tmp_path):
    images = _write_images(tmp_path, ["a.png", "c.png", "e.png"])
    for name in ("b.png", "d.png"):
        (tmp_path / name).write_bytes(b"not an image at all")
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        result = _extract(tmp_path, skip_bad=True, num_workers=2)
    assert result.metadata["skipped"] == [str(tmp_path / "b.png"), str(tmp_path / "d.png")]
    assert result.metadata["n"] == 3
    assert np.array_equal(result.features["pool3"], _probe(images))


def test_unreadable_file_error_names_it_through_worker_processes(tmp_path):
    _write_images(tmp_path, ["a.png", "c.png"])
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    with pytest.raises(UnreadableImageError, match="b.png"):
        _extract(tmp_path, num_workers=2)


def test_fewer_than_two_images_is_an_error(tmp_path):
    _write_images(tmp_path, ["only.png"])
    with pytest.raises(ValueError, match="at least 2"):
        _extract(tmp_path)


def test_fewer_than_two_readable_images_after_skipping_is_an_error(tmp_path):
    _write_images(tmp_path, ["a.png"])
    (tmp_path / "b.png").write_bytes(b"junk")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="1 readable"):
        _extract(tmp_path, skip_bad=True)


def test_progress_bar_goes_to_stderr_not_stdout(tmp_path, capsys):
    _write_images(tmp_path, ["a.png", "b.png", "c.png"])
    _extract(tmp_path, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "3/3" in captured.err and "img/s" in captured.err


def test_progress_false_prints_nothing(tmp_path, capsys):
    _write_images(tmp_path, ["a.png", "b.png"])
    _extract(tmp_path, progress=False)
    assert capsys.readouterr() == ("", "")


def test_metadata_records_how_features_were_made(tmp_path):
    _write_images(tmp_path, ["a.png", "b.png"])
    meta = _extract(tmp_path, resize="tf").metadata
    assert meta["extractor"] == {"pool3": "fid-inception-v3/pool3"}
    assert (meta["resize"], meta["numerics"], meta["n"], meta["skipped"]) == ("tf", "fp32", 2, [])
    assert meta["weights_sha256"] is None  # a model was passed in: its weights file is unknown


# ---------------------------------------------------------------- exact float32 settings


_PRECISION_SETTINGS = (
    torch.backends.cuda.matmul,
    torch.backends.cudnn.conv,
    torch.backends.mkldnn.matmul,
    torch.backends.mkldnn.conv,
)


def _settings() -> tuple:
    cudnn = torch.backends.cudnn
    return tuple(s.fp32_precision for s in _PRECISION_SETTINGS) + (cudnn.deterministic, cudnn.benchmark)


@pytest.fixture()
def tf32_everywhere():
    """Set every float32 precision setting to TF32 and cuDNN to benchmark mode; restore the originals."""
    original = _settings()
    for setting in _PRECISION_SETTINGS:
        setting.fp32_precision = "tf32"
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True
    yield _settings()
    for setting, value in zip(_PRECISION_SETTINGS, original[:4], strict=True):
        setting.fp32_precision = value
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = original[4:]


def test_exact_float32_sets_ieee_inside_and_restores_after(tf32_everywhere):
    with exact_float32():
        assert _settings() == ("ieee",) * 4 + (True, False)
    assert _settings() == tf32_everywhere


def test_exact_float32_restores_after_an_exception(tf32_everywhere):
    with pytest.raises(RuntimeError, match="boom"), exact_float32():
        raise RuntimeError("boom")
    assert _settings() == tf32_everywhere


def test_extraction_runs_the_network_in_exact_float32_and_restores(tmp_path, tf32_everywhere):
    seen = []

    class Recording(PixelProbe):
        def forward(self, x, outputs=("pool3",)):
            seen.append(_settings())
            return super().forward(x, outputs)

    _write_images(tmp_path, ["a.png", "b.png"])
    _extract(tmp_path, model=Recording())
    assert seen == [("ieee",) * 4 + (True, False)]
    assert _settings() == tf32_everywhere


# ---------------------------------------------------------------- bad options


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("resize", "lanczos"),
        ("outputs", ("pool4",)),
        ("outputs", "pool3"),
        ("outputs", ("pool3", "pool3")),
        ("batch_size", 0),
        ("num_workers", -1),
        ("numerics", "fp64"),
    ],
)
def test_bad_option_error_names_it(option, value):
    with pytest.raises(ValueError, match=option):
        _extract(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), **{option: value})


def test_model_and_weights_together_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="model, weights"):
        _extract(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), weights=tmp_path / "w.pth")


def test_model_in_training_mode_is_an_error():
    with pytest.raises(ValueError, match="model.*training"):
        _extract(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), model=PixelProbe().train())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when CUDA is missing")
def test_cuda_asked_for_but_unavailable_is_an_error():
    with pytest.raises(ValueError, match="device.*CUDA is not available"):
        _extract(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), device="cuda")


def test_bad_item_of_a_python_source_error_names_it():
    class Listed(Dataset):
        def __init__(self, items: list) -> None:
            self.items = items

        def __len__(self) -> int:
            return len(self.items)

        def __getitem__(self, i):
            return self.items[i]

    images = torch.zeros(3, 3, 8, 8)
    images[2, 0, 0, 0] = 2.0
    with pytest.raises(ValueError, match=r"source\[2\]"):
        _extract(Listed(list(images)))


# ---------------------------------------------------------------- the FID Inception network


@pytest.fixture(scope="module")
def inception_case(tmp_path_factory, fid_weights):
    """Three 32x32 images in a folder and their features, extracted by loading ``fid_weights``."""
    folder = tmp_path_factory.mktemp("inception_images")
    images = _write_images(folder, ["b.png", "a.png", "c.png"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = extract_features(
            folder, weights=fid_weights, num_workers=0, progress=False, batch_size=3, outputs=("pool3", "logits")
        )
    finally:
        torch.set_num_threads(threads)
    return folder, [images[1], images[0], images[2]], result


def test_folder_features_equal_preprocess_then_network(inception_case, fid_model, one_thread):
    folder, images, result = inception_case
    # Independent decoding (pytorch-fid's Image.open(path).convert("RGB")) in sorted order, one batch.
    decoded = torch.stack(
        [torch.from_numpy(np.array(Image.open(folder / f"{n}.png").convert("RGB"))).permute(2, 0, 1) for n in "abc"]
    )
    assert torch.equal(decoded, torch.stack(images))
    with torch.inference_mode():
        expected = fid_model(preprocess(decoded), outputs=("pool3", "logits"))
    # Tolerance 0: same thread count, kernels and batch (a batch of 1 would take another matmul path in fc).
    for name in ("pool3", "logits"):
        assert np.array_equal(result.features[name], expected[name].numpy())


def test_weights_sha256_is_the_files_digest(inception_case, fid_weights):
    expected = hashlib.sha256(fid_weights.read_bytes()).hexdigest()
    assert inception_case[2].metadata["weights_sha256"] == expected


def test_pool3_matches_pytorch_fid_get_activations(inception_case, fid_weights, tmp_path, monkeypatch, one_thread):
    from pytorch_fid.fid_score import get_activations
    from pytorch_fid.inception import InceptionV3

    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    shutil.copy(fid_weights, checkpoints / FID_WEIGHTS_NAME)  # where pytorch-fid's loader looks
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder, _, result = inception_case
    peer = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    files = sorted(folder.glob("*.png"))
    expected = get_activations(files, peer, batch_size=3, dims=2048, device="cpu", num_workers=0)
    # Tolerance 1e-5 absolute (features here reach about 20): same architecture and kernels at one thread;
    # only float32 rounding could differ.
    np.testing.assert_allclose(result.features["pool3"], expected, rtol=0, atol=1e-5)


def test_bf16_autocast_runs_and_stays_near_fp32(inception_case, fid_model, one_thread):
    folder, _, exact = inception_case
    fast = extract_features(folder, model=fid_model, numerics="bf16", num_workers=0, progress=False)
    reference = exact.features["pool3"]
    deviation = np.linalg.norm(fast.features["pool3"] - reference) / np.linalg.norm(reference)
    # Measured 0.16 (relative Frobenius) on these random weights, which amplify rounding through 94 layers; the
    # bound 0.5 only catches a broken path. Exactly 0 would mean autocast did not take effect.
    assert 0 < deviation < 0.5
    assert fast.metadata["numerics"] == "bf16" and fast.features["pool3"].dtype == np.float32


def test_inception_outputs_have_the_documented_dimensions(inception_case):
    features = inception_case[2].features
    assert {k: v.shape for k, v in features.items()} == {
        "pool3": (3, FIDInceptionV3.DIMS["pool3"]),
        "logits": (3, FIDInceptionV3.DIMS["logits"]),
    }


def test_fp32_fast_stays_within_rounding_of_fp32(inception_case, fid_model, one_thread):
    folder, _, exact = inception_case
    fast = extract_features(
        folder,
        model=fid_model,
        numerics="fp32-fast",
        num_workers=0,
        progress=False,
        batch_size=3,
        outputs=("pool3", "logits"),
    )
    reference = exact.features["pool3"]
    deviation = np.abs(fast.features["pool3"] - reference).max() / np.abs(reference).max()
    # Folded BatchNorm and channels-last change float32 rounding only: measured up to 4.5e-5 of max |pool3| on
    # these random weights (which amplify rounding); 2e-4 leaves room for other CPUs' kernels. A wrong fold
    # moves pool3 by O(1).
    assert deviation < 2e-4
    assert fast.metadata["numerics"] == "fp32-fast"


class NaNAfter(PixelProbe):
    """Stand-in network whose pool3 row is NaN for the images whose first pixel is above ``threshold``."""

    def __init__(self, threshold: float) -> None:
        super().__init__()
        self.threshold = threshold

    def forward(self, x: torch.Tensor, outputs=("pool3",)) -> dict[str, torch.Tensor]:
        rows = super().forward(x, outputs)["pool3"].clone()
        rows[x[:, 0, 0, 0] > self.threshold] = float("nan")
        return {"pool3": rows}


def test_non_finite_features_are_refused_naming_the_first_image_that_gave_them(tmp_path):
    # Issue 14, item 8: weights with a NaN convolution wrote an all-NaN feature file, exit 0.
    images = _write_images(tmp_path, [f"{i}.png" for i in range(5)])
    first_pixels = [float(preprocess(image[None], "pytorch-fid")[0, 0, 0, 0]) for image in images]
    threshold = sorted(first_pixels)[-2] - 1e-6  # the two brightest images give NaN
    first_bad = min(i for i, v in enumerate(first_pixels) if v > threshold)
    bad_file = tmp_path / f"{first_bad}.png"
    with pytest.raises(ValueError, match=rf"^{bad_file}: the network's pool3 output is not finite"):
        _extract(tmp_path, model=NaNAfter(threshold), batch_size=5)


def test_random_test_weights_are_recorded_in_the_metadata(tmp_path, fid_weights):
    _write_images(tmp_path, ["a.png", "b.png"])
    extraction = extract_features(tmp_path, weights=fid_weights, num_workers=0, progress=False, device="cpu")
    assert extraction.metadata["weights_kind"] == "random-test"
