"""The resize modes against the code they reproduce (torch-fidelity, clean-fid) and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cleanfid.resize import make_resizer
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from ganmetrics.features.protocols import RESIZE_MODES, preprocess

# Sizes covering downsampling, upsampling, the identity (299), non-square and degenerate (1-pixel) inputs.
SIZES = [(32, 32), (64, 48), (299, 299), (512, 400), (1, 7)]


def _uint8_images(height: int, width: int, count: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 3, height, width), generator=generator, dtype=torch.uint8)


def _torch_fidelity_input(images_255: torch.Tensor) -> torch.Tensor:
    """torch-fidelity's FeatureExtractorInceptionV3 input transform (feature_extractor_inceptionv3.py)."""
    resized = interpolate_bilinear_2d_like_tensorflow1x(images_255, size=(299, 299), align_corners=False)
    return (resized - 128) / 128


def _clean_fid_input(images: torch.Tensor) -> torch.Tensor:
    """clean-fid's "clean" resizer on HWC arrays, then InceptionV3W's (x - 128) / 128."""
    resize = make_resizer("PIL", False, "bicubic", (299, 299))
    arrays = [resize(image.permute(1, 2, 0).numpy()).transpose(2, 0, 1) for image in images]
    return (torch.from_numpy(np.stack(arrays)) - 128) / 128


@pytest.mark.parametrize("size", SIZES)
def test_tf_mode_equals_torch_fidelity_bit_for_bit(size: tuple[int, int]) -> None:
    # Same float32 operations in the same order: identical results (tolerance 0, tighter than 1e-6).
    images = _uint8_images(*size)
    ours = preprocess(images, "tf")
    torch.testing.assert_close(ours, _torch_fidelity_input(images.float()), atol=0, rtol=0)


def test_tf_mode_on_float_images_equals_torch_fidelity_on_the_scaled_values() -> None:
    # A [0, 1] float image is scaled by 255 (no rounding) before the TF resize; same ops, so tolerance 0.
    images = torch.rand((2, 3, 40, 57), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(preprocess(images, "tf"), _torch_fidelity_input(images * 255), atol=0, rtol=0)


@pytest.mark.parametrize("size", SIZES)
def test_clean_mode_equals_clean_fid_resizer(size: tuple[int, int]) -> None:
    # Both call PIL's float32 bicubic resize on the same planes: identical results (tolerance 0).
    images = _uint8_images(*size)
    torch.testing.assert_close(preprocess(images, "clean"), _clean_fid_input(images), atol=0, rtol=0)


def test_pytorch_fid_mode_halving_averages_two_by_two_blocks() -> None:
    # Closed form: bilinear (align_corners=False, no antialias) from 598 to 299 samples at 2i + 0.5, the mean
    # of pixels 2i and 2i+1 in each axis, i.e. a 2x2 average pool. float32 rounding of a 4-term mean of values
    # in [0, 1] and of 2x-1: tolerance 1e-6.
    images = _uint8_images(598, 598, count=1)
    expected = 2 * F.avg_pool2d(images.double() / 255, kernel_size=2) - 1
    torch.testing.assert_close(preprocess(images, "pytorch-fid").double(), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", RESIZE_MODES)
def test_constant_image_maps_to_the_mode_scaling_of_its_value(mode: str) -> None:
    # Every resampling filter reproduces a constant; the value then follows the mode's scaling (pytorch-fid:
    # 2 v / 255 - 1; tf and clean: (v - 128) / 128). float32 rounding only: tolerance 1e-6.
    value = 200
    images = torch.full((1, 3, 37, 81), value, dtype=torch.uint8)
    expected = 2 * value / 255 - 1 if mode == "pytorch-fid" else (value - 128) / 128
    out = preprocess(images, mode)
    assert out.shape == (1, 3, 299, 299) and out.dtype == torch.float32
    torch.testing.assert_close(out, torch.full_like(out, expected), atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", RESIZE_MODES)
def test_uint8_and_its_float_equivalent_give_the_same_input(mode: str) -> None:
    # x / 255 as float32 and back (x 255) differs from x by float32 rounding (~1e-5 on [0, 255]), scaled by
    # 1/128 in the output: tolerance 1e-6.
    images = _uint8_images(45, 45)
    torch.testing.assert_close(preprocess(images, mode), preprocess(images / 255, mode), atol=1e-6, rtol=0)


def test_tf_mode_at_299_is_only_the_scaling() -> None:
    # At the native size the TF grid hits every source pixel exactly (scale 1): (x - 128) / 128 exactly.
    images = _uint8_images(299, 299)
    torch.testing.assert_close(preprocess(images, "tf"), (images.float() - 128) / 128, atol=0, rtol=0)


def test_unknown_mode_is_rejected_listing_the_valid_modes() -> None:
    with pytest.raises(ValueError, match="mode.*'bicubic'.*pytorch-fid, tf, clean"):
        preprocess(_uint8_images(8, 8), "bicubic")


@pytest.mark.parametrize("shape", [(3, 32, 32), (2, 1, 32, 32), (2, 4, 32, 32), (2, 3, 0, 32)])
def test_wrong_shape_is_rejected_naming_images(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"images: expected shape \(N, 3, H, W\)"):
        preprocess(torch.zeros(shape, dtype=torch.uint8))


def test_float_values_above_one_are_rejected_naming_images() -> None:
    with pytest.raises(ValueError, match=r"images: floating point images must lie in \[0, 1\].*max 255"):
        preprocess(torch.full((1, 3, 8, 8), 255.0))


def test_negative_float_values_are_rejected_naming_images() -> None:
    with pytest.raises(ValueError, match=r"images: .*min -0.5"):
        preprocess(torch.full((1, 3, 8, 8), -0.5))


def test_nan_is_rejected_naming_images() -> None:
    images = torch.full((1, 3, 8, 8), 0.5)
    images[0, 1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="images: .*NaN"):
        preprocess(images)


def test_integer_dtype_other_than_uint8_is_rejected_naming_images() -> None:
    with pytest.raises(TypeError, match="images: expected uint8 or floating point.*torch.int32"):
        preprocess(torch.zeros((1, 3, 8, 8), dtype=torch.int32))


def test_numpy_input_is_rejected_naming_images() -> None:
    with pytest.raises(TypeError, match="images: expected a torch tensor, got ndarray"):
        preprocess(np.zeros((1, 3, 8, 8), dtype=np.uint8))
