"""Two remedies for mode collapse: historical averaging of the parameters, and the unrolled discriminator.

*Historical averaging* (Salimans et al. 2016, "Improved techniques for training GANs", Sec. 3.3) adds to each
player's cost the term ``lambda ||theta - (1/t) sum_{i=1}^t theta[i]||^2``, with ``theta[i]`` the player's
parameters at past time ``i``. Here ``theta[1..t]`` are the values the parameters have held so far: the
initial ones and the value after each update of that player, the current value included; the mean is a
constant of the step (no gradient flows into it), so the penalty's gradient is ``2 lambda (theta - mean)``.
The mean is kept as a running average and saved in the checkpoint, so a resumed run continues exactly.

*Unrolled GANs* (Metz et al. 2017, "Unrolled generative adversarial networks", Sec. 2.2): the
generator minimises its loss against ``theta_D^K``, the discriminator after ``K`` further updates of its own
loss, ``theta_D^{k+1} = theta_D^k - eta^k d f_D(theta_G, theta_D^k) / d theta_D^k``, and differentiates through
those updates (the full gradient of Sec. 2.3, not its first-order truncation). As in the authors'
experiments, the update rule unrolled is the discriminator's own optimiser, Adam (Kingma & Ba 2015,
Algorithm 1), starting from its current moments and step count, at its current learning rate. The unrolled
parameters live in a dictionary evaluated with ``torch.func.functional_call``: the discriminator's real
parameters and its optimiser state are never modified. All ``K`` unrolled steps use one real batch and the
generator's batch of the step (the authors' graph reuses one batch the same way).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from ganmetrics.train.losses import discriminator_loss, generator_loss


class HistoricalAverage:
    """The running mean of a module's parameters and the penalty ``weight ||theta - mean||^2`` (module doc)."""

    def __init__(self, module: nn.Module, weight: float) -> None:
        self.weight = weight
        self.mean = [p.detach().clone() for p in module.parameters()]
        self.count = 1

    def penalty(self, module: nn.Module) -> torch.Tensor:
        """Return ``weight * sum over parameters of ||theta - mean||^2`` (the mean held constant)."""
        squares = [(p - m).pow(2).sum() for p, m in zip(module.parameters(), self.mean, strict=True)]
        return self.weight * torch.stack(squares).sum()

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Fold the module's current parameters into the mean (call after each update of the module)."""
        self.count += 1
        for p, m in zip(module.parameters(), self.mean, strict=True):
            m.add_(p - m, alpha=1.0 / self.count)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean = [m.clone() for m in state["mean"]]
        self.count = int(state["count"])


def check_unroll(unroll: int, loss: str, feature_matching: bool, optimizer: str) -> None:
    """Raise ``ValueError`` naming ``unroll`` when it is negative or cannot be combined with the run's settings."""
    if unroll < 0:
        raise ValueError(f"unroll: must be a non-negative integer, got {unroll!r}")
    if unroll == 0:
        return
    if loss not in ("minimax", "ns"):
        raise ValueError(f"unroll: applies to the BCE objectives (minimax, ns), not {loss!r}")
    if feature_matching:
        raise ValueError("unroll: cannot be combined with feature_matching (both replace the generator's loss)")
    if optimizer != "adam":
        raise ValueError(f"unroll: unrolls the discriminator's Adam updates; this recipe uses {optimizer!r}")


def _adam_step(
    params: dict[str, torch.Tensor], grads: tuple[torch.Tensor, ...], moments: dict[str, tuple], group: dict[str, Any]
) -> tuple[dict[str, torch.Tensor], dict[str, tuple]]:
    """Return the parameters and moments after one differentiable Adam step (``torch.optim.Adam``'s arithmetic).

    ``moments[name] = (step, m, v)``. ``sqrt(v)`` is taken only where ``v > 0``: where a gradient has been exactly
    zero so far (a dead ReLU unit) ``v = 0``, the update is 0 and its derivative is taken as 0, not ``inf * 0``.
    """
    beta1, beta2 = group["betas"]
    new_params, new_moments = {}, {}
    for (name, p), g in zip(params.items(), grads, strict=True):
        step, m, v = moments[name]
        step += 1
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        positive = v > 0
        root = torch.where(positive, torch.where(positive, v, torch.ones_like(v)).sqrt(), torch.zeros_like(v))
        denominator = root / (1 - beta2**step) ** 0.5 + group["eps"]
        new_params[name] = p - group["lr"] / (1 - beta1**step) * m / denominator
        new_moments[name] = (step, m, v)
    return new_params, new_moments


def unrolled_generator_loss(
    loss: str,
    discriminator: nn.Module,
    optimizer: torch.optim.Optimizer,
    real: torch.Tensor,
    fake: torch.Tensor,
    steps: int,
    real_label: float = 1.0,
) -> torch.Tensor:
    """Return the generator's loss against the discriminator unrolled ``steps`` Adam updates ahead (module doc).

    ``f_G(theta_G, theta_D^K)`` with ``theta_D^0`` the discriminator's parameters and ``theta_D^{k+1}`` one Adam step
    of ``optimizer`` (a ``torch.optim.Adam``; ``check_unroll`` refuses other recipes) on
    ``discriminator_loss(loss, D_k(real), D_k(fake), real_label)``, differentiated through every step (Metz et al.
    2017, Sec. 2.2-2.3). ``fake`` carries the generator's graph. With ``steps = 0`` this is exactly
    ``generator_loss(loss, discriminator(fake))``. Neither ``discriminator`` nor ``optimizer`` is modified.
    """
    if steps == 0:
        return generator_loss(loss, discriminator(fake))
    group = optimizer.param_groups[0]
    params = {name: p.detach().requires_grad_(True) for name, p in discriminator.named_parameters()}
    moments = {}
    for name, p in discriminator.named_parameters():
        state = optimizer.state.get(p, {})
        if state:
            moments[name] = (float(state["step"]), state["exp_avg"].detach(), state["exp_avg_sq"].detach())
        else:
            moments[name] = (0.0, torch.zeros_like(p), torch.zeros_like(p))
    for _ in range(steps):
        d_loss = discriminator_loss(
            loss,
            functional_call(discriminator, params, (real,)),
            functional_call(discriminator, params, (fake,)),
            real_label,
        )
        grads = torch.autograd.grad(d_loss, tuple(params.values()), create_graph=True)
        params, moments = _adam_step(params, grads, moments, group)
    return generator_loss(loss, functional_call(discriminator, params, (fake,)))
