"""Generators and discriminators: MLPs for low-dimensional data, DCGAN convolutional nets for images.

Every discriminator has ``features(x)`` (its last hidden layer, flattened, for feature matching) and
``forward(x)`` returning one unbounded value per sample: a logit for the BCE objectives, the critic value
for WGAN (no sigmoid anywhere; the losses work on logits).

DCGAN (Radford et al. 2016, Sec. 3 "Architecture guidelines"): strided transposed convolutions in G, strided
convolutions in D, no pooling, no fully connected hidden layers, batch norm everywhere except G's output
layer and D's input layer, ReLU in G with tanh output, LeakyReLU(0.2) in D, weights from N(0, 0.02).
Sizes: 28 px (7 -> 14 -> 28, the usual MNIST variant), 32 px (4 -> 8 -> 16 -> 32), 64 px (4 -> ... -> 64).
WGAN-GP's critic drops batch norm, since the gradient penalty is per sample (Gulrajani et al. 2017, Sec. 4).
"""

from __future__ import annotations

import math

import torch
from torch import nn

IMAGE_SIZES = (28, 32, 64)


class MLPGenerator(nn.Module):
    """``depth`` hidden ReLU layers of ``width`` units mapping ``z`` (B, z_dim) to points (B, out_dim)."""

    def __init__(self, z_dim: int, out_dim: int, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(z_dim if i == 0 else width, width), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(width, out_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """``depth`` hidden ReLU layers of ``width`` units mapping points (B, in_dim) to one value each."""

    def __init__(self, in_dim: int, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(in_dim if i == 0 else width, width), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).squeeze(1)


def _plan(size: int) -> tuple[int, int]:
    """Return (first spatial size, number of stride-2 stages) for a DCGAN of ``size`` px."""
    if size not in IMAGE_SIZES:
        raise ValueError(f"image_size: DCGAN nets support {IMAGE_SIZES} px, got {size}")
    start = 7 if size == 28 else 4
    return start, round(math.log2(size // start))


class DCGANGenerator(nn.Module):
    """z (B, z_dim) -> images (B, channels, size, size) in [-1, 1]."""

    def __init__(self, z_dim: int, channels: int, size: int, base: int = 64) -> None:
        super().__init__()
        start, stages = _plan(size)
        width = base * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, width, start, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(stages - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Images (B, channels, size, size) -> one value each; ``batch_norm=False`` for WGAN-GP's critic."""

    def __init__(self, channels: int, size: int, base: int = 64, batch_norm: bool = True) -> None:
        super().__init__()
        start, stages = _plan(size)
        layers: list[nn.Module] = [nn.Conv2d(channels, base, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        width = base
        for _ in range(stages - 1):
            norm = nn.BatchNorm2d(width * 2) if batch_norm else nn.Identity()
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), norm, nn.LeakyReLU(0.2, True)]
            width *= 2
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, 1, start, 1, 0, bias=False)
        self.apply(init_dcgan_weights)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).flatten()


def init_dcgan_weights(module: nn.Module) -> None:
    """Initialise as Radford et al. 2016: conv weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02), shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def build_models(
    shape: tuple[int, ...], z_dim: int, width: int, depth: int, critic_batch_norm: bool
) -> tuple[nn.Module, nn.Module]:
    """Return (generator, discriminator) for data of ``shape``: (d,) -> MLPs, (C, H, H) -> DCGAN nets.

    ``width`` is the MLP hidden width or the DCGAN base channel count; ``depth`` the MLP's hidden layers.
    """
    if len(shape) == 1:
        return MLPGenerator(z_dim, shape[0], width, depth), MLPDiscriminator(shape[0], width, depth)
    channels, size = shape[0], shape[-1]
    return (
        DCGANGenerator(z_dim, channels, size, width),
        DCGANDiscriminator(channels, size, width, batch_norm=critic_batch_norm),
    )
