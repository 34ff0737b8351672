"""The built-in 2-D Gaussian mixtures of the mode-collapse literature: centres, common sigma, sampling.

Equal weights, isotropic components:

- ``ring8``: 8 Gaussians evenly spaced on a circle of radius 2, sigma = 0.02, the first at angle 0
  (Metz et al. 2017, "Unrolled GANs", Sec. 3.1);
- ``grid25``: 25 Gaussians on the 5x5 grid {-4, -2, 0, 2, 4}^2 (spacing 2), sigma = 0.05
  (Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN).

A leaf module: the trainer samples its training data from these, and ``ganmetrics.reference_store`` builds the
shipped ``ring8-*`` / ``grid25-*`` references from them, so neither has to import the other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Mixture2D:
    """An equal-weight mixture of isotropic Gaussians: ``centres`` (K, 2) and the common ``sigma``."""

    centres: torch.Tensor
    sigma: float

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Return ``n`` float32 points: a uniformly chosen centre plus N(0, sigma^2 I) noise."""
        k = torch.randint(len(self.centres), (n,), generator=generator)
        noise = torch.randn(n, self.centres.shape[1], generator=generator, dtype=torch.float64)
        return (self.centres[k] + self.sigma * noise).to(torch.float32)


def ring(num_modes: int = 8, radius: float = 2.0, sigma: float = 0.02) -> Mixture2D:
    """Return the ring mixture: ``num_modes`` centres at angles ``2 pi k / num_modes`` on a circle."""
    angles = torch.arange(num_modes, dtype=torch.float64) * (2 * math.pi / num_modes)
    return Mixture2D(radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1), sigma)


def grid(side: int = 5, spacing: float = 2.0, sigma: float = 0.05) -> Mixture2D:
    """Return the grid mixture: ``side x side`` centres at spacing ``spacing``, centred on the origin."""
    ticks = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    xs, ys = torch.meshgrid(ticks, ticks, indexing="ij")
    return Mixture2D(torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1), sigma)


MIXTURES = {"ring8": ring, "grid25": grid}
