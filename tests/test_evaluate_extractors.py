"""Evaluator with another feature space: FD_DINOv2 streamed batch by batch equals the Fréchet distance of the
extracted features; fid refuses another extractor; a user's module is an extractor too."""

from __future__ import annotations

import pytest
import torch

from ganmetrics.evaluate import Evaluator
from ganmetrics.features.extract import extract_features
from ganmetrics.features.extractors.dinov2 import ARCHITECTURES
from ganmetrics.features.extractors.random_weights import random_state_dict
from ganmetrics.features.protocols import PROTOCOLS
from ganmetrics.metrics.frechet import fid_from_features
from ganmetrics.metrics.mmd import mmd2_unbiased


def _images(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator)


@pytest.fixture(scope="module")
def vits14(tmp_path_factory):
    path = tmp_path_factory.mktemp("dinov2") / "dinov2_vits14_pretrain.pth"
    torch.save(random_state_dict(ARCHITECTURES["dinov2-vit-s-14"].official_shapes(), seed=6), path)
    return path


def test_fd_dinov2_streamed_equals_frechet_distance_of_extracted_features(vits14):
    reference, generated = _images(6, 0), _images(6, 1)
    evaluator = Evaluator(["fd"], reference=reference, extractor="dinov2-vit-s-14", weights=vits14, batch_size=4)
    for batch in generated.split(4):
        evaluator.update(batch)
    result = evaluator.compute()
    rows = [
        extract_features(images, extractor="dinov2-vit-s-14", weights=vits14, num_workers=0, progress=False).features[
            "cls"
        ]
        for images in (reference, generated)
    ]
    # Float32 features of different batchings (4 + 2 against 6) agree to ~1e-6 relative; the distance of
    # 6 points in 384 dimensions moves by the same order.
    assert result["fd"] == pytest.approx(fid_from_features(*rows), rel=1e-4)
    assert result["dims"] == 384


def test_fid_refuses_another_extractor(vits14):
    with pytest.raises(ValueError, match="fid is defined with inception, not dinov2-vit-s-14; use fd"):
        Evaluator(["fid"], reference=_images(4, 0), extractor="dinov2-vit-s-14", weights=vits14)


def test_users_module_is_an_extractor():
    module = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
    reference, generated = _images(8, 2), _images(8, 3)
    evaluator = Evaluator(["mmd"], reference=reference, extractor=module, metric_kwargs={"mmd": {"sigma": 1.0}})
    evaluator.update(generated)
    with torch.no_grad():
        x, y = (module(PROTOCOLS["dgm-eval-imagenet-224"].apply(images)).numpy() for images in (reference, generated))
    assert evaluator.compute()["mmd2"] == pytest.approx(mmd2_unbiased(x, y, sigma=1.0).mmd2, rel=1e-6)
