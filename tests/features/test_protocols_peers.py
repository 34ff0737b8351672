"""The DINOv2/CLIP/VGG16 input transforms equal their peers' code, bit for bit, on images of mixed sizes.

Peers: torch-fidelity 0.4's extractors (their own ``forward`` up to the network, the network replaced by the
identity), OpenAI CLIP's ``_transform`` (PyPI ``openai-clip``), and transcriptions of dgm-eval's
``DINOv2Encoder.transform``/``CLIPEncoder.transform`` (layer6ai-labs/dgm-eval 74c79f7) and of the CMMD
reference's ``_center_crop_and_resize`` + ``_clip_preprocess`` (google-research ``cmmd/``), which are not on
PyPI. Same operations on the same kernels, so the tolerance is 0.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image
from torch_fidelity.feature_extractor_clip import FeatureExtractorCLIP
from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2
from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16

from ganmetrics.features import protocols
from ganmetrics.features.protocols import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD

SIZES = [(17, 23), (224, 224), (300, 200), (64, 480), (337, 336)]


def _images(height: int, width: int, count: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed + height * 1000 + width)
    return torch.randint(0, 256, (count, 3, height, width), dtype=torch.uint8, generator=generator)


def _torch_fidelity_input(cls: type, **attributes: object) -> torch.nn.Module:
    """A torch-fidelity extractor whose network is the identity: its forward returns its network input."""
    extractor = cls.__new__(cls)
    torch.nn.Module.__init__(extractor)
    extractor.feature_extractor_internal_dtype = torch.float32
    for name, value in attributes.items():
        setattr(extractor, name, value)
    return extractor


@pytest.mark.parametrize("height, width", SIZES)
def test_tf1_bilinear_equals_torch_fidelity_dinov2_and_vgg16_input(height, width):
    images = _images(height, width)
    dinov2 = _torch_fidelity_input(FeatureExtractorDinoV2, features_list=["dinov2"], model=torch.nn.Identity())
    vgg16 = _torch_fidelity_input(FeatureExtractorVGG16, features_list=["fc2"], model=torch.nn.Identity())
    ours = protocols.tf1_bilinear(images, 224, IMAGENET_MEAN, IMAGENET_STD)
    assert torch.equal(ours, dinov2(images)[0])
    assert torch.equal(ours, vgg16(images)[0])


@pytest.mark.parametrize("size", [224, 336])
@pytest.mark.parametrize("height, width", SIZES)
def test_tf1_bilinear_equals_torch_fidelity_clip_input(height, width, size):
    images = _images(height, width)
    clip = _torch_fidelity_input(
        FeatureExtractorCLIP,
        features_list=["clip"],
        resolution=size,
        model=SimpleNamespace(visual=torch.nn.Identity()),
    )
    assert torch.equal(protocols.tf1_bilinear(images, size, CLIP_MEAN, CLIP_STD), clip(images)[0])


def _pil(images: torch.Tensor) -> list[Image.Image]:
    return [Image.fromarray(image.permute(1, 2, 0).numpy()) for image in images]


@pytest.mark.parametrize("height, width", SIZES)
def test_pil_bicubic_equals_dgm_eval_dinov2_and_clip_transforms(height, width):
    images = _images(height, width)
    # DINOv2Encoder.transform: Compose([Resize((224, 224), BICUBIC), ToTensor()]), then Normalize(ImageNet).
    # CLIPEncoder.transform: resize(image, visual.image_size = (224, 224), BICUBIC), to_tensor, center_crop
    # (a no-op at that size), Normalize(CLIP).
    for mean, std in ((IMAGENET_MEAN, IMAGENET_STD), (CLIP_MEAN, CLIP_STD)):
        dgm_eval = T.Compose([T.Resize((224, 224), T.InterpolationMode.BICUBIC), T.ToTensor()])
        expected = torch.stack([T.Normalize(np.array(mean), np.array(std))(dgm_eval(im)) for im in _pil(images)])
        assert torch.equal(protocols.pil_bicubic(images, 224, mean, std), expected)


@pytest.mark.parametrize("size", [224, 336])
@pytest.mark.parametrize("height, width", SIZES)
def test_openai_clip_equals_openai_preprocess(height, width, size):
    clip = pytest.importorskip("clip.clip", reason="OpenAI CLIP: pip install openai-clip")
    images = _images(height, width)
    preprocess = clip._transform(size)
    expected = torch.stack([preprocess(im) for im in _pil(images)])
    assert torch.equal(protocols.openai_clip(images, size), expected)


@pytest.mark.parametrize("height, width", SIZES)
def test_cmmd_equals_reference_crop_resize_and_normalisation(height, width):
    images = _images(height, width)
    expected = []
    for im in _pil(images):
        w, h = im.size
        side = min(w, h)
        top, left = (h - side) // 2, (w - side) // 2
        cropped = im.crop((left, top, left + side, top + side)).resize((336, 336), resample=Image.BICUBIC)
        unit = np.asarray(cropped).astype(np.float32) / 255.0
        normalized = (unit - np.array(CLIP_MEAN, np.float32)) / np.array(CLIP_STD, np.float32)
        expected.append(torch.from_numpy(normalized).permute(2, 0, 1))
    assert torch.equal(protocols.cmmd(images), torch.stack(expected))


def test_float_images_are_rounded_to_8_bit_levels_for_pil_transforms():
    images = _images(40, 30)
    jitter = torch.rand(images.shape, generator=torch.Generator().manual_seed(5)) * 0.8 - 0.4
    unit = ((images.float() + jitter) / 255).clamp(0, 1)  # within half a level of the uint8 values
    assert torch.equal(protocols.cmmd(unit), protocols.cmmd(images))
    assert torch.equal(protocols.openai_clip(unit, 224), protocols.openai_clip(images, 224))


def test_out_of_range_float_images_are_refused():
    with pytest.raises(ValueError, match=r"images: floating point images must lie in \[0, 1\]"):
        protocols.cmmd(torch.full((1, 3, 8, 8), 2.0))
