"""The GAN objectives, written on the discriminator's logits (critic values for WGAN).

With ``l = D(x)`` a logit, ``sigmoid(l)`` the probability "real", and the stable identities
``-log sigmoid(l) = softplus(-l)`` and ``-log(1 - sigmoid(l)) = softplus(l)``:

================  ==========================================================  =================================
objective         discriminator / critic minimises                            generator minimises
================  ==========================================================  =================================
``minimax``       ``E softplus(-D(x)) + E softplus(D(G(z)))``                  ``E log(1 - D(G(z)))``
                  (Goodfellow et al. 2014, Eq. 1)                              ``= -E softplus(D(G(z)))``
``ns``            same as minimax                                             ``-E log D(G(z))``
                                                                              ``= E softplus(-D(G(z)))``
                                                                              (Goodfellow et al. 2014, Sec. 3)
``wgan``          ``E f(G(z)) - E f(x)``, weights clipped to [-c, c] after     ``-E f(G(z))``
                  each step (Arjovsky et al. 2017, Algorithm 1)
``wgan-gp``       ``E f(G(z)) - E f(x) + lambda E (||grad f(x_hat)||_2 - 1)^2``  ``-E f(G(z))``
                  (Gulrajani et al. 2017, Algorithm 1)
================  ==========================================================  =================================

Options from the literature (Salimans et al. 2016, "Improved techniques for training GANs"):
one-sided label smoothing replaces the real target 1 by ``s`` (0.9), giving the discriminator loss
``E[s softplus(-D(x)) + (1 - s) softplus(D(x))] + E softplus(D(G(z)))``; feature matching replaces the
generator loss by ``||E f(x) - E f(G(z))||_2^2`` with ``f`` the discriminator's last hidden layer.
The R1 regulariser (Mescheder et al. 2018, Eq. 9) adds ``gamma / 2 E ||grad_x D(x)||_2^2`` over real ``x`` to
the discriminator's loss. For WGAN, ``E f(x) - E f(G(z))`` is the critic's estimate of the earth mover's
distance (up to the Lipschitz constant) and is logged as ``em_estimate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Objective:
    """An objective's training recipe: optimiser, learning rate, critic steps, batch size, constants."""

    optimizer: str  # "adam" or "rmsprop"
    lr: float
    d_steps: int
    batch_size: int
    betas: tuple[float, float] | None = None  # Adam only
    clip: float | None = None  # WGAN weight clipping c
    gp_weight: float | None = None  # WGAN-GP lambda
    r1_weight: float | None = None  # R1 gamma (Mescheder et al. 2018)


OBJECTIVES: dict[str, Objective] = {
    # DCGAN recipe (Radford et al. 2016, Sec. 4): Adam, lr 2e-4, beta1 0.5, mini-batch 128, one D step.
    "minimax": Objective("adam", 2e-4, 1, 128, betas=(0.5, 0.999)),
    "ns": Objective("adam", 2e-4, 1, 128, betas=(0.5, 0.999)),
    # Arjovsky et al. 2017, Algorithm 1: RMSProp, alpha 5e-5, c 0.01, m 64, n_critic 5.
    "wgan": Objective("rmsprop", 5e-5, 5, 64, clip=0.01),
    # Gulrajani et al. 2017, Algorithm 1: Adam, alpha 1e-4, beta1 0, beta2 0.9, lambda 10, n_critic 5, m 64.
    "wgan-gp": Objective("adam", 1e-4, 5, 64, betas=(0.0, 0.9), gp_weight=10.0),
}
# The BCE objectives on the 2-D mixtures with the small MLPs: tuned here, not published. Adam lr 2e-3 with
# beta1 = 0, beta2 = 0.9 (WGAN-GP's Adam), batch 1024, one D step, the learning rate decayed linearly to 0
# (TrainConfig.lr_decay), and R1 with gamma = 0.1 (Mescheder et al. 2018). On ring8, seeds 0-7, it ends with
# 8/8 modes and 82-89 % high-quality samples on torch 2.14.1 and 2.15.0; without R1 (the previous default) seed
# 0 ended with 4/8 modes and 65 % on both. The sweep, per seed and torch version: bench/RESULTS_trainer.md.
MLP_BCE_RECIPE = Objective("adam", 2e-3, 1, 1024, betas=(0.0, 0.9), r1_weight=0.1)


def recipe(loss: str, images: bool) -> Objective:
    """Return the training recipe for ``loss``: the published one, or ``MLP_BCE_RECIPE`` for 2-D BCE runs."""
    return OBJECTIVES[loss] if images or is_wasserstein(loss) else MLP_BCE_RECIPE


LOSSES = tuple(OBJECTIVES)


def is_wasserstein(loss: str) -> bool:
    """Return True for the critic-based objectives (wgan, wgan-gp), whose D outputs are not logits."""
    return loss in ("wgan", "wgan-gp")


def discriminator_loss(loss: str, real: torch.Tensor, fake: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    """Return the discriminator's (critic's) loss from its outputs on real and generated batches.

    ``real_label`` < 1 is one-sided label smoothing (BCE objectives only); see the module table.
    """
    if is_wasserstein(loss):
        return fake.mean() - real.mean()
    real_term = real_label * F.softplus(-real) + (1.0 - real_label) * F.softplus(real)
    return real_term.mean() + F.softplus(fake).mean()


def generator_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    """Return the generator's loss from the discriminator's outputs on generated samples (module table)."""
    if loss == "minimax":
        return -F.softplus(fake).mean()
    if loss == "ns":
        return F.softplus(-fake).mean()
    return -fake.mean()


def feature_matching_loss(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """Return ``||mean f(x) - mean f(G(z))||_2^2`` over the batch (Salimans et al. 2016, Sec. 3.1)."""
    return (real_features.mean(dim=0) - fake_features.mean(dim=0)).pow(2).sum()


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Return ``E (||grad_x f(x_hat)||_2 - 1)^2`` at ``x_hat = e x + (1 - e) G(z)``, ``e ~ U[0, 1]`` per sample.

    Gulrajani et al. 2017, Algorithm 1 (lines 6-8); ``e`` is drawn from ``generator`` on the CPU.
    """
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    e = torch.rand(shape, generator=generator).to(real.device)
    x_hat = (e * real + (1 - e) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def r1_penalty(real_out: torch.Tensor, real_in: torch.Tensor) -> torch.Tensor:
    """Return ``E ||grad_x D(x)||_2^2`` over the real batch ``real_in`` (which must require grad).

    The R1 regulariser of Mescheder et al. 2018 ("Which training methods for GANs actually converge?", Eq. 9)
    adds ``gamma / 2`` times this to the discriminator's loss; ``real_out`` is ``D(real_in)``.
    """
    (grad,) = torch.autograd.grad(real_out.sum(), real_in, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()
