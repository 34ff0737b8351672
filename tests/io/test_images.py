"""Tests of ganmetrics.io.images: listing, decoding each PIL mode to RGB, bad files, datasets, Python inputs.

Expected pixels come from numpy formulas written here (gray replication, palette look-up, Pillow's CMYK
formula, 16-bit scaling) or from pytorch-fid's own decoding, ``Image.open(path).convert("RGB")``.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_fid.fid_score import IMAGE_EXTENSIONS as PYTORCH_FID_EXTENSIONS
from torch.utils.data import DataLoader

from ganmetrics.io.images import (
    IMAGE_EXTENSIONS,
    ImageFileDataset,
    UnreadableImageError,
    ZipImageDataset,
    as_image_tensor,
    collate_skipping_bad,
    list_image_files,
    list_zip_images,
    open_images,
)


def _random_rgb(seed: int, size: tuple[int, int] = (8, 6)) -> np.ndarray:
    """An (h, w, 3) uint8 array of seeded noise; size is (w, h) as PIL gives it."""
    return np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


def _write_png(path: Path, seed: int, size: tuple[int, int] = (8, 6)) -> np.ndarray:
    pixels = _random_rgb(seed, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels


def _decoded(path: Path) -> np.ndarray:
    """The (h, w, 3) array ImageFileDataset decodes for ``path``."""
    return ImageFileDataset([path])[0].permute(1, 2, 0).numpy()


# ---------------------------------------------------------------- listing


def test_image_extensions_are_pytorch_fids():
    assert IMAGE_EXTENSIONS == PYTORCH_FID_EXTENSIONS


def test_folder_listing_is_sorted_by_name_case_insensitive_on_extension_and_flat(tmp_path):
    images = ["b.png", "a.PNG", "10.jpg", "2.JPEG", "c.webp"]
    for i, name in enumerate(images):
        _write_png(tmp_path / name, i)
    for name in ("notes.txt", "noext"):
        (tmp_path / name).write_text("x")
    _write_png(tmp_path / "sub" / "z.png", 9)
    listed = [p.name for p in list_image_files(tmp_path)]
    # Expected: the image names in Python's string order ("10.jpg" < "2.JPEG" < "a.PNG" < "b.png" < "c.webp").
    assert listed == sorted(images)


def test_recursive_listing_sorts_by_relative_path(tmp_path):
    for i, rel in enumerate(["b.png", "a/y.png", "a/x/w.png", "c.png", "a.png"]):
        _write_png(tmp_path / rel, i)
    listed = [p.relative_to(tmp_path).as_posix() for p in list_image_files(tmp_path, recursive=True)]
    assert listed == sorted(["b.png", "a/y.png", "a/x/w.png", "c.png", "a.png"])


def test_empty_folder_error_names_folder_and_extensions(tmp_path):
    (tmp_path / "readme.txt").write_text("not an image")
    with pytest.raises(ValueError) as info:
        list_image_files(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert ".png" in str(info.value) and ".jpeg" in str(info.value)
    assert "recursive=True" in str(info.value)


def test_missing_folder_error_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list_image_files(tmp_path / "nowhere")


def test_open_images_on_a_plain_file_names_it(tmp_path):
    path = tmp_path / "one.png"
    _write_png(path, 0)
    with pytest.raises(ValueError, match="one.png"):
        open_images(path)


def test_open_images_on_a_missing_path_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent"):
        open_images(tmp_path / "absent")


def _zip_of(folder: Path, zip_path: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(zip_path, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return zip_path


def test_zip_listing_sorted_skips_directories_non_images_and_macos_forks(tmp_path):
    folder = tmp_path / "images"
    for i, rel in enumerate(["b.png", "a.jpg", "d/c.PNG"]):
        _write_png(folder / rel, i)
    (folder / "notes.txt").write_text("x")
    zip_path = _zip_of(folder, tmp_path / "images.zip", {"__MACOSX/._b.png": b"junk", "empty/": b""})
    assert list_zip_images(zip_path) == sorted(["b.png", "a.jpg", "d/c.PNG"])


def test_zip_without_images_error_names_it(tmp_path):
    zip_path = tmp_path / "texts.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("a.txt", "x")
    with pytest.raises(ValueError, match="texts.zip"):
        list_zip_images(zip_path)


def test_file_that_is_not_a_zip_error_names_it(tmp_path):
    path = tmp_path / "fake.zip"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(ValueError, match="fake.zip"):
        open_images(path)


# ---------------------------------------------------------------- decoding modes


def _save_and_decode(tmp_path: Path, image: Image.Image, name: str) -> tuple[np.ndarray, Path]:
    path = tmp_path / name
    image.save(path)
    return _decoded(path), path


def test_rgb_png_is_decoded_unchanged(tmp_path):
    pixels = _write_png(tmp_path / "rgb.png", 1)
    assert np.array_equal(_decoded(tmp_path / "rgb.png"), pixels)


def test_gray_l_is_replicated_to_three_channels(tmp_path):
    gray = _random_rgb(2)[:, :, 0]
    decoded, _ = _save_and_decode(tmp_path, Image.fromarray(gray, "L"), "l.png")
    assert np.array_equal(decoded, np.stack([gray] * 3, axis=2))


def test_bilevel_1_becomes_0_or_255(tmp_path):
    bits = _random_rgb(3)[:, :, 0] > 127
    decoded, _ = _save_and_decode(tmp_path, Image.fromarray(bits), "bits.png")
    assert np.array_equal(decoded, np.stack([bits.astype(np.uint8) * 255] * 3, axis=2))


def test_rgba_drops_alpha_without_compositing(tmp_path):
    rgba = np.concatenate([_random_rgb(4), np.zeros((6, 8, 1), np.uint8)], axis=2)  # fully transparent
    decoded, _ = _save_and_decode(tmp_path, Image.fromarray(rgba, "RGBA"), "rgba.png")
    assert np.array_equal(decoded, rgba[:, :, :3])


def test_la_drops_alpha(tmp_path):
    la = np.stack([_random_rgb(5)[:, :, 0], _random_rgb(6)[:, :, 0]], axis=2)
    decoded, _ = _save_and_decode(tmp_path, Image.fromarray(la, "LA"), "la.png")
    assert np.array_equal(decoded, np.stack([la[:, :, 0]] * 3, axis=2))


def test_palette_p_is_looked_up(tmp_path):
    palette = _random_rgb(7, (256, 1)).reshape(256, 3)
    indices = _random_rgb(8)[:, :, 0]
    image = Image.fromarray(indices, "P")
    image.putpalette(palette.tobytes())
    decoded, _ = _save_and_decode(tmp_path, image, "p.png")
    assert np.array_equal(decoded, palette[indices])


def test_cmyk_follows_pillows_naive_formula(tmp_path):
    cmyk = _random_rgb(9, (8, 6)).astype(np.int64)
    k = _random_rgb(10)[:, :, :1].astype(np.int64)
    channels = np.concatenate([cmyk, k], axis=2).astype(np.uint8)
    decoded, _ = _save_and_decode(tmp_path, Image.fromarray(channels, "CMYK"), "cmyk.tiff")
    # R = (255 - K) * (255 - C) / 255, likewise G with M and B with Y; tolerance 0.5 + 1e-9: Pillow rounds
    # the product to an integer.
    expected = (255 - k) * (255 - cmyk) / 255
    assert np.abs(decoded - expected).max() <= 0.5 + 1e-9


def test_sixteen_bit_gray_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 1, 128, 129, 257, 32768, 65279, 65535]], dtype=np.uint16)
    decoded, path = _save_and_decode(tmp_path, Image.fromarray(values), "gray16.png")
    assert Image.open(path).mode.startswith("I;16")
    # round(v / 257) = round(v * 255 / 65535); v / 257 never ends in exactly .5 for integer v.
    expected = np.round(values.astype(np.float64) / 257).astype(np.uint8)
    assert np.array_equal(decoded, np.stack([expected] * 3, axis=2))


def test_thirty_two_bit_integer_i_is_read_as_sixteen_bit_and_clipped(tmp_path):
    values = np.array([[-5, 0, 257, 65535, 70000]], dtype=np.int32)
    decoded, path = _save_and_decode(tmp_path, Image.fromarray(values), "int32.tiff")
    assert Image.open(path).mode == "I"
    expected = np.round(np.clip(values, 0, 65535) / 257).astype(np.uint8)
    assert np.array_equal(decoded[:, :, 0], expected)


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("RGB", "jpg"),
        ("L", "png"),
        ("LA", "png"),
        ("P", "png"),
        ("RGBA", "webp"),
        ("CMYK", "jpg"),
        ("F", "tiff"),
        ("1", "bmp"),
        ("RGB", "ppm"),
        ("L", "pgm"),
    ],
)
def test_eight_bit_and_float_modes_match_pytorch_fid_decoding(tmp_path, mode, fmt):
    source = Image.fromarray(_random_rgb(11, (9, 7)))
    image = source.convert(mode) if mode != "F" else Image.fromarray(_random_rgb(12)[:, :, 0] * 1.3 - 20)
    path = tmp_path / f"image.{fmt}"
    image.save(path)
    # pytorch-fid's ImagePathDataset: Image.open(path).convert("RGB").
    assert np.array_equal(_decoded(path), np.array(Image.open(path).convert("RGB")))


# ---------------------------------------------------------------- bad files


def _corrupt(path: Path) -> Path:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    return path


def _truncated(path: Path, seed: int) -> Path:
    Image.fromarray(_random_rgb(seed, (64, 64))).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_corrupt_file_error_names_it(tmp_path):
    path = _corrupt(tmp_path / "broken.png")
    with pytest.raises(UnreadableImageError, match="broken.png"):
        ImageFileDataset([path])[0]


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_truncated_file_error_names_it(tmp_path, suffix):
    path = _truncated(tmp_path / f"half.{suffix}", 13)
    with pytest.raises(UnreadableImageError, match=f"half.{suffix}"):
        ImageFileDataset([path])[0]


def test_skip_bad_returns_none_and_collate_drops_it(tmp_path):
    good = [tmp_path / "a.png", tmp_path / "c.png"]
    pixels = [_write_png(p, i) for i, p in enumerate(good)]
    bad = _corrupt(tmp_path / "b.png")
    dataset = ImageFileDataset([good[0], bad, good[1]], skip_bad=True)
    assert dataset[1] is None
    batch = next(iter(DataLoader(dataset, batch_size=3, collate_fn=collate_skipping_bad)))
    assert np.array_equal(batch.permute(0, 2, 3, 1).numpy(), np.stack(pixels))
    assert collate_skipping_bad([None, None]) is None


def test_bad_zip_member_error_names_archive_and_member(tmp_path):
    folder = tmp_path / "images"
    _write_png(folder / "a.png", 0)
    zip_path = _zip_of(folder, tmp_path / "images.zip", {"bad.png": b"not a png"})
    with pytest.raises(UnreadableImageError, match=r"images\.zip:bad\.png"):
        ZipImageDataset(zip_path)[1]


# ---------------------------------------------------------------- datasets


def test_zip_dataset_equals_folder_dataset_through_worker_processes(tmp_path):
    folder = tmp_path / "images"
    for i in range(5):
        _write_png(folder / f"{i}.png", i, (8 + i, 6))  # distinct sizes: batch_size=1 loader
    zip_dataset = ZipImageDataset(_zip_of(folder, tmp_path / "images.zip"))
    zip_dataset[0]  # opens the archive in this process before the workers fork
    folder_items = list(ImageFileDataset(list_image_files(folder)))
    loaded = list(DataLoader(zip_dataset, batch_size=1, num_workers=2))
    assert len(loaded) == len(folder_items)
    for got, want in zip(loaded, folder_items, strict=True):
        assert torch.equal(got[0], want)


def test_zip_dataset_pickles_without_its_open_handle(tmp_path):
    folder = tmp_path / "images"
    _write_png(folder / "a.png", 0)
    dataset = ZipImageDataset(_zip_of(folder, tmp_path / "images.zip"))
    first = dataset[0]
    clone = pickle.loads(pickle.dumps(dataset))
    assert clone._archive is None
    assert torch.equal(clone[0], first)


def test_transform_is_applied_to_the_uint8_tensor(tmp_path):
    pixels = _write_png(tmp_path / "a.png", 0)
    dataset = ImageFileDataset([tmp_path / "a.png"], transform=lambda t: t.float() / 255)
    expected = torch.from_numpy(pixels).permute(2, 0, 1).float() / 255
    assert torch.equal(dataset[0], expected)


# ---------------------------------------------------------------- Python inputs


def test_as_image_tensor_accepts_uint8_float_pil_and_labelled_tuples():
    pixels = _random_rgb(14)
    uint8 = torch.from_numpy(pixels).permute(2, 0, 1)
    assert as_image_tensor(uint8, "x") is uint8
    unit = uint8.float() / 255
    assert as_image_tensor((unit, 3), "x") is unit
    assert torch.equal(as_image_tensor(Image.fromarray(pixels), "x"), uint8)


def test_as_image_tensor_rejects_float_outside_unit_interval_naming_the_item():
    with pytest.raises(ValueError, match=r"source\[4\]"):
        as_image_tensor(torch.full((3, 2, 2), 1.5), "source[4]")


def test_as_image_tensor_rejects_nan_naming_the_item():
    with pytest.raises(ValueError, match="item7"):
        as_image_tensor(torch.full((3, 2, 2), float("nan")), "item7")


def test_as_image_tensor_rejects_gray_shape_naming_the_item():
    with pytest.raises(ValueError, match=r"item1.*\(1, 4, 4\)"):
        as_image_tensor(torch.zeros(1, 4, 4, dtype=torch.uint8), "item1")


def test_as_image_tensor_rejects_integer_dtype_other_than_uint8():
    with pytest.raises(TypeError, match="item2.*int32"):
        as_image_tensor(torch.zeros(3, 4, 4, dtype=torch.int32), "item2")


def test_as_image_tensor_rejects_other_types():
    with pytest.raises(TypeError, match="item3.*ndarray"):
        as_image_tensor(np.zeros((3, 4, 4)), "item3")


def test_open_images_rejects_a_tensor_that_is_not_a_batch():
    with pytest.raises(ValueError, match=r"images.*\(3, 4, 4\)"):
        open_images(torch.zeros(3, 4, 4, dtype=torch.uint8))


def test_open_images_rejects_skip_bad_for_tensors():
    with pytest.raises(ValueError, match="skip_bad"):
        open_images(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), skip_bad=True)


def test_open_images_rejects_other_types():
    with pytest.raises(TypeError, match="source.*list"):
        open_images([1, 2])
