"""VGG16 fc2 extractor: features bit-identical to torch-fidelity 0.4's ``FeatureExtractorVGG16`` (torchvision's
VGG16, the same kernels) on seeded random weights in torchvision's layout, end to end from uint8 images."""

from __future__ import annotations

import pytest
import torch
from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16
from torchvision.models import VGG16_Weights, vgg16

from ganmetrics.features import protocols
from ganmetrics.features.extractors.vgg import FILE_NAME, URL, build_vgg16, official_shapes, random_vgg16_state_dict


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> tuple[dict[str, torch.Tensor], str]:
    state = random_vgg16_state_dict(seed=3)
    path = tmp_path_factory.mktemp("vgg") / FILE_NAME
    torch.save(state, path)
    return state, str(path)


@pytest.mark.parametrize("height, width", [(40, 60), (256, 256)])
def test_fc2_and_fc2_relu_equal_torch_fidelity_end_to_end(weights, height, width):
    state, path = weights
    images = torch.randint(0, 256, (2, 3, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    reference = FeatureExtractorVGG16("vgg16", ["fc2", "fc2_relu"], feature_extractor_weights_path=path)
    with torch.no_grad():
        ours = build_vgg16(state)(
            protocols.tf1_bilinear(images, 224, protocols.IMAGENET_MEAN, protocols.IMAGENET_STD), ("fc2", "fc2_relu")
        )
        fc2, fc2_relu = reference(images)
    assert torch.equal(ours["fc2"], fc2) and torch.equal(ours["fc2_relu"], fc2_relu)
    assert (fc2 < 0).any()  # the two outputs differ


def test_layout_and_url_are_torchvisions_imagenet_weights():
    with torch.device("meta"):
        expected = {key: tuple(value.shape) for key, value in vgg16().state_dict().items()}
    assert official_shapes() == expected
    assert URL == VGG16_Weights.IMAGENET1K_V1.url


def test_weights_of_another_network_are_refused_naming_the_first_mismatching_key(weights):
    state = dict(weights[0])
    state["classifier.3.weight"] = torch.zeros(10, 4096)
    with pytest.raises(ValueError, match=r"not vgg16 weights: 'classifier.3.weight' has shape \(10, 4096\)"):
        build_vgg16(state)


def test_unknown_output_is_refused(weights):
    with pytest.raises(ValueError, match="outputs: expected names from fc2_relu, fc2"):
        build_vgg16(weights[0])(torch.zeros(1, 3, 224, 224), ("pool5",))
