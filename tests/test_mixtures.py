"""The built-in 2-D mixtures: their published parameters and the component standard deviation of samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganmetrics.mixtures import grid, ring


def test_ring8_has_eight_centres_on_a_radius_2_circle_45_degrees_apart():
    centres = ring().centres.numpy()
    # Metz et al. 2017: radius 2, 8 modes; independent construction with numpy.
    angles = np.arange(8) * np.pi / 4
    expected = 2 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    np.testing.assert_allclose(centres, expected, atol=1e-15)
    assert ring().sigma == 0.02


def test_grid25_has_centres_on_the_grid_minus4_to_4_with_spacing_2():
    centres = {tuple(c) for c in grid().centres.numpy().round(12)}
    assert centres == {(float(x), float(y)) for x in range(-4, 5, 2) for y in range(-4, 5, 2)}
    assert grid().sigma == 0.05


def test_mixture_samples_have_the_component_standard_deviation():
    mixture = grid()
    x = mixture.sample(50_000, torch.Generator().manual_seed(0)).double()
    residual = x - mixture.centres[torch.cdist(x, mixture.centres).argmin(1)]
    # The sample std of 100,000 N(0, 0.05^2) coordinates has relative standard error 1/sqrt(2 * 1e5) ~ 0.22 %;
    # 1 % is ~4.5 standard errors.
    assert residual.std().item() == pytest.approx(0.05, rel=0.01)
