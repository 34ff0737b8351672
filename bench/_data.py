"""Seeded synthetic feature samples shared by the cases (the same arrays go to ours and to every peer)."""

from __future__ import annotations

import numpy as np


def features(n: int, d: int, seed: int, shift: float = 0.0, latent: int = 64) -> np.ndarray:
    """Return an (n, d) float64 sample ``Z·s + W·B + shift``: independent coordinates with scales ``s`` plus a
    ``latent``-dimensional shared part, so that the covariance ``diag(s²) + BᵀB`` is full rank when ``n > d``
    and has a spread-out spectrum like Inception pool3 features. Non-negative-ish values around 0.5."""
    rng = np.random.default_rng(seed)
    scales = rng.uniform(0.05, 0.5, size=d)
    mixing = rng.standard_normal((latent, d)) * (0.3 / np.sqrt(latent))
    x = rng.standard_normal((n, d)) * scales
    x += rng.standard_normal((n, latent)) @ mixing
    x += 0.5 + shift
    return x


def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the mean and the ddof = 1 covariance (``numpy.cov``), the statistics every FID tool stores."""
    return x.mean(axis=0), np.cov(x, rowvar=False)
