"""Seeded random weights for the FID Inception v3, in the release file's key layout, for tests and benchmarks.

The real weights are a 95 MB download; tests need a network of the same architecture whose activations look
like a trained one's (neither exploding nor vanishing through its 94 BatchNorm layers), so that comparisons
with peer implementations exercise realistic magnitudes. Features from these weights mean nothing.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganmetrics.features.extractors.inception import FIDInceptionV3
from ganmetrics.features.weights import WEIGHTS_MARKER
from ganmetrics.io.atomic import atomic_write
from ganmetrics.provenance import RANDOM_TEST_WEIGHTS

_CALIBRATION_IMAGES = 4
_LOGIT_STD = 2.0


def make_random_fid_inception_weights(path: str | Path, seed: int = 0) -> Path:
    """Return ``path`` after writing seeded random FID Inception v3 weights there (atomically).

    Convolutions get He-normal weights (std ``sqrt(2 / fan_in)``), BatchNorm scales ``U(0.8, 1.2)`` and shifts
    ``N(0, 0.1^2)``, all from a ``torch.Generator`` seeded with ``seed``. The BatchNorm running statistics are
    then calibrated: one forward pass in training mode with cumulative averaging (``momentum=None``) over a
    batch of smooth random images, so that each layer's eval-mode output has about zero mean and unit variance
    before its scale and shift. The fc weights are ``N(0, 1)`` rows made orthogonal to the mean pool3 feature
    of the calibration images (so that the logits, with or without bias, are not dominated by one
    image-independent direction) and scaled to a logit standard deviation of ``_LOGIT_STD`` on those images;
    the fc bias is ``N(0, 1)``. The softmax of such logits is neither uniform nor one-hot.
    The file holds ``FIDInceptionV3().state_dict()`` (with ``num_batches_tracked``), marked as random test
    weights in its ``_metadata`` (``inception.WEIGHTS_MARKER``: every feature and statistics file made with it
    records ``weights_kind: "random-test"`` and is compared only with its like, see ``provenance``).

    The random draws are identical on every machine; the calibrated statistics pass through convolutions and
    may differ in the last bits between CPU kernels.
    """
    path = Path(path)
    generator = torch.Generator().manual_seed(seed)
    model = FIDInceptionV3()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                std = math.sqrt(2 / module.weight[0].numel())
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(0.8 + 0.4 * torch.rand(module.weight.shape, generator=generator))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=generator))
                module.reset_running_stats()
                module.momentum = None
        images = _calibration_images(_CALIBRATION_IMAGES, generator)
        model.train()
        pool3 = model(images, outputs=("pool3",))["pool3"]  # the batch statistics become the running ones
        model.eval()
        direction = pool3.mean(0) / pool3.mean(0).norm()
        fc_weight = torch.randn(model.fc.weight.shape, generator=generator)
        fc_weight -= torch.outer(fc_weight @ direction, direction)
        model.fc.weight.copy_(fc_weight * (_LOGIT_STD / float((pool3 @ fc_weight.T).std())))
        model.fc.bias.copy_(torch.randn(model.fc.bias.shape, generator=generator))
    state = model.state_dict()
    # torch keeps per-module metadata in the state dict's _metadata attribute (an OrderedDict subclass field).
    state._metadata[WEIGHTS_MARKER] = {"kind": RANDOM_TEST_WEIGHTS, "seed": seed}  # type: ignore[attr-defined]
    with atomic_write(path) as handle:
        torch.save(state, handle)
    return path


def _calibration_images(count: int, generator: torch.Generator) -> torch.Tensor:
    """Return ``count`` varied (3, 299, 299) images in [-1, 1]: coarse noise upsampled from 3 to 96 pixels
    (smooth to busy), a random brightness offset, and a little pixel noise."""
    images = []
    for size in torch.linspace(3, 96, count).round().int().tolist():
        coarse = torch.rand((1, 3, size, size), generator=generator) * 2 - 1
        offset = torch.rand((1, 1, 1, 1), generator=generator) - 0.5
        fine = torch.randn((1, 3, 299, 299), generator=generator) * 0.05
        smooth = F.interpolate(coarse, size=(299, 299), mode="bicubic", align_corners=False)
        images.append((smooth + offset + fine).clamp(-1, 1))
    return torch.cat(images)
