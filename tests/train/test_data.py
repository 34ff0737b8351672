"""Training data: samplers' exactness, local-file datasets (the mixtures themselves: tests/test_mixtures.py)."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganmetrics.mixtures import ring
from ganmetrics.train.data import ImageSampler, MixtureSampler, load_image_folder, load_torchvision, make_sampler


def test_mixture_sampler_continues_identically_after_a_state_round_trip():
    sampler = MixtureSampler(ring(), seed=3)
    sampler.next(10)
    state = sampler.state_dict()
    expected = sampler.next(7)
    fresh = MixtureSampler(ring(), seed=99)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.next(7), expected)


def test_image_sampler_visits_every_image_once_per_epoch_and_resumes_mid_epoch():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 2, 2).contiguous()
    sampler = ImageSampler(images, seed=0)
    seen = [sampler.next(4) for _ in range(5)]  # 20 images: two epochs of 10, batches spanning the boundary
    values = torch.cat(seen)[:, 0, 0, 0]
    ids = ((values + 1) * 127.5).round().long()  # undo the [-1, 1] scaling
    assert sorted(ids[:10].tolist()) == list(range(10))
    assert sorted(ids[10:].tolist()) == list(range(10))
    state = ImageSampler(images, seed=0)
    state.next(3)
    saved = state.state_dict()
    expected = state.next(9)
    other = ImageSampler(images, seed=5)
    other.load_state_dict(saved)
    assert torch.equal(other.next(9), expected)


def test_image_folder_of_mixed_sizes_is_resized_and_centre_cropped(tmp_path: Path):
    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "a.png")
    Image.new("RGB", (20, 50), (10, 200, 10)).save(tmp_path / "b.png")
    Image.new("L", (64, 64), 77).save(tmp_path / "c.png")
    images = load_image_folder(tmp_path, 28)
    assert images.shape == (3, 3, 28, 28) and images.dtype == torch.uint8
    # Resizing a constant image keeps its colour exactly (every interpolation weight sums to 1).
    assert images[0].flatten(1).unique(dim=1).T.tolist() == [[200, 10, 10]]
    assert images[1].flatten(1).unique(dim=1).T.tolist() == [[10, 200, 10]]
    assert images[2].unique().tolist() == [77]


def test_unknown_dataset_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="ring8, grid25, mnist, fashion-mnist, cifar10"):
        make_sampler("ring9", 0, ".", 32)


def test_missing_mnist_files_name_the_expected_location(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"mnist.*MNIST/raw/train-images-idx3-ubyte.*never downloads"):
        load_torchvision("mnist", tmp_path)


def write_fake_mnist(root: Path, images: np.ndarray) -> None:
    """Write ``images`` (N, 28, 28) uint8 as torchvision's MNIST raw idx files (labels all 0)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split in ("train", "t10k"):
        (raw / f"{split}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 2051, len(images), 28, 28) + images.tobytes()
        )
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, len(images)) + bytes(len(images)))


def test_mnist_is_read_from_local_idx_files_as_n_1_28_28_uint8(tmp_path: Path):
    pixels = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    write_fake_mnist(tmp_path, pixels)
    images = load_torchvision("mnist", tmp_path)
    assert images.shape == (5, 1, 28, 28)
    np.testing.assert_array_equal(images[:, 0].numpy(), pixels)


def test_reference_points_do_not_depend_on_the_training_stream():
    sampler = MixtureSampler(ring(), seed=0)
    before = sampler.reference(100, seed=1)
    sampler.next(1000)
    assert torch.equal(sampler.reference(100, seed=1), before)
    assert not math.isclose(before.std().item(), 0.0)
