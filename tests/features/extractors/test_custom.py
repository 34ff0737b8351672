"""User extractors (a module, a callable, package.module:factory) through the extraction pipeline: features equal
to the module applied to the protocol's output, the user's name in the metadata, and clear errors naming the
module for a wrong shape or non-finite features; plus the pipeline's checks for the ViT extractors (images
smaller than a patch, batch-size and worker-count invariance)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from ganmetrics.features.extract import extract_features
from ganmetrics.features.extractors import get_extractor
from ganmetrics.features.extractors.custom import custom_extractor
from ganmetrics.features.extractors.dinov2 import ARCHITECTURES
from ganmetrics.features.extractors.random_weights import random_state_dict
from ganmetrics.features.protocols import PROTOCOLS


class MeanColour(torch.nn.Module):
    """A tiny feature network: the mean of each channel over 4 x 4 blocks, then a linear map."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3 * 16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1))


def _images(count: int = 5, size: int = 40) -> torch.Tensor:
    return torch.randint(
        0, 256, (count, 3, size, size + 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


def test_module_features_equal_the_module_on_the_protocol_output_and_carry_its_name():
    torch.manual_seed(0)
    module = MeanColour()
    images = _images()
    extraction = extract_features(images, extractor=module, num_workers=0, progress=False)
    with torch.no_grad():
        expected = module(PROTOCOLS["dgm-eval-imagenet-224"].apply(images)).numpy()
    np.testing.assert_allclose(extraction.features["features"], expected, rtol=1e-6, atol=1e-6)
    assert extraction.metadata["extractor"] == {"features": "custom:MeanColour/features"}
    assert extraction.metadata["resize"] == "dgm-eval-imagenet-224" and extraction.metadata["weights_sha256"] is None


def test_named_callable_is_recorded_under_the_users_name_with_the_chosen_protocol():
    spec = custom_extractor(lambda x: x.mean(dim=(2, 3)), name="channel-means", protocol="openai-clip-224")
    extraction = extract_features(_images(), extractor=spec, num_workers=0, progress=False)
    assert extraction.metadata["extractor"] == {"features": "custom:channel-means/features"}
    assert extraction.features["features"].shape == (5, 3)


@pytest.mark.parametrize(
    "function, message",
    [
        (lambda x: x.mean(dim=(1, 2, 3)), r"returned shape \(2,\) torch.float32 for 2 images"),
        (lambda x: x.flatten(1)[:1], r"returned shape \(1, 150528\)"),
        (lambda x: x.mean(dim=(2, 3)) / 0 * 0, "returned NaN or Inf features"),
    ],
)
def test_wrong_shape_or_nan_features_are_refused_naming_the_extractor(function, message):
    spec = custom_extractor(function, name="broken")
    with pytest.raises(ValueError, match=f"extractor 'broken': {message}"):
        extract_features(_images(2), extractor=spec, num_workers=0, progress=False)


def test_factory_text_loads_the_users_module_and_names_it(tmp_path, monkeypatch):
    (tmp_path / "my_features.py").write_text(
        "import torch\n\n\ndef make():\n"
        "    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = get_extractor("my_features:make")
    assert spec.name == "custom:my_features:make"
    extraction = extract_features(_images(3), extractor="my_features:make", num_workers=0, progress=False)
    assert extraction.features["features"].shape == (3, 3)
    sys.modules.pop("my_features", None)


@pytest.mark.parametrize(
    "text, message",
    [
        ("nosuchmodule_xyz:make", "cannot load 'nosuchmodule_xyz:make'"),
        ("dinov3", "unknown 'dinov3'; valid extractors"),
    ],
)
def test_bad_extractor_text_is_refused_naming_it(text, message):
    with pytest.raises(ValueError, match=message):
        get_extractor(text)


@pytest.fixture(scope="module")
def vits14_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("dinov2") / "dinov2_vits14_pretrain.pth"
    torch.save(random_state_dict(ARCHITECTURES["dinov2-vit-s-14"].official_shapes(), seed=9), path)
    return path


def test_images_smaller_than_a_patch_are_refused_naming_the_extractor(vits14_weights):
    with pytest.raises(ValueError, match="10x12 pixels, smaller than dinov2-vit-s-14's 14-pixel patch"):
        extract_features(
            torch.zeros(2, 3, 12, 10, dtype=torch.uint8),
            extractor="dinov2-vit-s-14",
            weights=vits14_weights,
            num_workers=0,
            progress=False,
        )


def test_dinov2_features_do_not_depend_on_batch_size_or_workers(vits14_weights):
    # Tolerance 1e-5 of max |feature|: a batch of another size takes other matmul blocking paths (float32
    # rounding); the workers only decode and resize, on one thread, as the main process does.
    images = _images(4, size=60)
    common = {"extractor": "dinov2-vit-s-14", "weights": vits14_weights, "progress": False}
    one = extract_features(images, batch_size=1, num_workers=0, **common).features["cls"]
    four = extract_features(images, batch_size=4, num_workers=2, **common).features["cls"]
    assert one.shape == (4, 384)
    assert np.abs(one - four).max() <= 1e-5 * np.abs(one).max()
