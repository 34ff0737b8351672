"""The objectives of losses.py against their textbook forms, evaluated independently in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganmetrics.train.losses import (
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    gradient_penalty,
    r1_penalty,
)

# Moderate logits, where the naive probability forms are accurate; float64 round-off bounds the difference.
REAL = torch.tensor([2.0, -0.5, 0.3, 4.0], dtype=torch.float64)
FAKE = torch.tensor([-3.0, 0.1, -1.2, 0.7], dtype=torch.float64)
TOL = 1e-12


def _sigmoid(x: torch.Tensor) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.numpy()))


def test_discriminator_bce_loss_is_binary_cross_entropy_on_probabilities():
    pr, pf = _sigmoid(REAL), _sigmoid(FAKE)
    expected = -np.mean(np.log(pr)) - np.mean(np.log(1 - pf))  # Goodfellow et al. 2014, Eq. 1 (negated)
    for loss in ("minimax", "ns"):
        assert discriminator_loss(loss, REAL, FAKE).item() == pytest.approx(expected, abs=TOL)


def test_one_sided_label_smoothing_uses_target_09_for_real_and_0_for_fake():
    pr, pf = _sigmoid(REAL), _sigmoid(FAKE)
    expected = -np.mean(0.9 * np.log(pr) + 0.1 * np.log(1 - pr)) - np.mean(np.log(1 - pf))
    assert discriminator_loss("ns", REAL, FAKE, real_label=0.9).item() == pytest.approx(expected, abs=TOL)
    # Peer: torch's own BCE with a 0.9 target (probability form).
    peer = F.binary_cross_entropy(torch.sigmoid(REAL), torch.full_like(REAL, 0.9)) + F.binary_cross_entropy(
        torch.sigmoid(FAKE), torch.zeros_like(FAKE)
    )
    assert discriminator_loss("ns", REAL, FAKE, real_label=0.9).item() == pytest.approx(peer.item(), abs=1e-10)


def test_minimax_generator_minimises_log_one_minus_d():
    expected = np.mean(np.log(1 - _sigmoid(FAKE)))
    assert generator_loss("minimax", FAKE).item() == pytest.approx(expected, abs=TOL)


def test_non_saturating_generator_minimises_minus_log_d():
    expected = -np.mean(np.log(_sigmoid(FAKE)))
    assert generator_loss("ns", FAKE).item() == pytest.approx(expected, abs=TOL)


def test_logit_forms_stay_finite_where_probability_forms_overflow():
    huge = torch.tensor([-800.0, 800.0], dtype=torch.float64)
    # sigmoid(-800) underflows to 0, so -log D is inf in the naive form; softplus(800) = 800 exactly.
    assert generator_loss("ns", huge).item() == pytest.approx(400.0, abs=TOL)
    assert np.isfinite(discriminator_loss("ns", huge, huge).item())


def test_wasserstein_losses_are_mean_differences_of_critic_values():
    # Arjovsky et al. 2017, Algorithm 1: the critic ascends E f(x) - E f(G(z)); G descends -E f(G(z)).
    for loss in ("wgan", "wgan-gp"):
        assert discriminator_loss(loss, REAL, FAKE).item() == pytest.approx((FAKE.mean() - REAL.mean()).item(), abs=TOL)
        assert generator_loss(loss, FAKE).item() == pytest.approx(-FAKE.mean().item(), abs=TOL)


def test_gradient_penalty_of_a_linear_critic_is_its_norm_minus_one_squared():
    critic = nn.Linear(3, 1, bias=True).double()
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 0.0, 4.0]]))  # grad f = w everywhere, ||w|| = 5
    real, fake = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 3, dtype=torch.float64)
    penalty = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0))
    assert penalty.item() == pytest.approx((5.0 - 1.0) ** 2, abs=1e-10)  # closed form (||w|| - 1)^2 = 16


def test_feature_matching_is_squared_distance_of_mean_features():
    a, b = torch.randn(8, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    expected = np.sum((a.numpy().mean(0) - b.numpy().mean(0)) ** 2)
    assert feature_matching_loss(a, b).item() == pytest.approx(expected, abs=TOL)


def test_r1_penalty_of_a_quadratic_discriminator_is_the_mean_squared_gradient_norm():
    # D(x) = 0.5 x^T A x + b^T x has gradient A x + b; the expected value is that, written out in numpy.
    a = np.array([[2.0, 0.5], [0.5, -1.0]])
    b = np.array([0.3, -0.7])
    x = np.array([[1.0, 2.0], [-0.5, 0.25], [3.0, -1.0]])
    real_in = torch.tensor(x, requires_grad=True)
    out = 0.5 * torch.einsum("ni,ij,nj->n", real_in, torch.tensor(a), real_in) + real_in @ torch.tensor(b)
    expected = np.mean(np.sum((x @ a + b) ** 2, axis=1))  # A is symmetric, so grad = A x + b row-wise
    assert r1_penalty(out, real_in).item() == pytest.approx(expected, rel=1e-14)
