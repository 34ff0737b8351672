"""Historical averaging and unrolled GANs (remedies.py): formulas by hand, no leaks, exact resume, bad input."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from ganmetrics.cli.train import train_command
from ganmetrics.train import TrainConfig, read_records, train
from ganmetrics.train import loop as loop_module
from ganmetrics.train.checkpoint import load_checkpoint
from ganmetrics.train.losses import discriminator_loss, generator_loss
from ganmetrics.train.models import MLPDiscriminator, MLPGenerator
from ganmetrics.train.remedies import HistoricalAverage, unrolled_generator_loss

TINY = dict(
    data="ring8",
    steps=40,
    batch_size=64,
    eval_every=20,
    eval_samples=200,
    checkpoint_every=20,
    log_every=10,
    seed=0,
    device="cpu",
)


def _set(module: nn.Module, values: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for p, v in zip(module.parameters(), values, strict=True):
            p.copy_(v)


def test_historical_average_penalty_and_gradient_match_a_hand_computation():
    torch.manual_seed(0)
    module = nn.Linear(3, 2).double()
    states = [[torch.randn_like(p) for p in module.parameters()] for _ in range(4)]
    _set(module, states[0])
    average = HistoricalAverage(module, weight=0.3)
    for state in states[1:3]:  # two updates: the mean is over the initial value and both updated values
        _set(module, state)
        average.update(module)
    _set(module, states[3])  # the current value, not yet folded in
    mean = [(a + b + c) / 3 for a, b, c in zip(*states[:3], strict=True)]
    expected = 0.3 * sum(((p - m) ** 2).sum() for p, m in zip(states[3], mean, strict=True))
    penalty = average.penalty(module)
    penalty.backward()
    # float64 round-off of a dozen terms: 1e-12 relative.
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-12)
    for p, s, m in zip(module.parameters(), states[3], mean, strict=True):
        torch.testing.assert_close(p.grad, 2 * 0.3 * (s - m), rtol=1e-12, atol=1e-14)


def test_historical_average_state_round_trips_and_continues_identically():
    torch.manual_seed(1)
    module = nn.Linear(2, 2)
    average = HistoricalAverage(module, weight=1.0)
    average.update(module)
    restored = HistoricalAverage(nn.Linear(2, 2), weight=1.0)
    restored.load_state_dict(copy.deepcopy(average.state_dict()))
    with torch.no_grad():
        module.weight.add_(1.0)
    for a in (average, restored):
        a.update(module)
    assert restored.count == average.count == 3
    assert all(torch.equal(x, y) for x, y in zip(restored.mean, average.mean, strict=True))


def _players(seed: int = 0) -> tuple[nn.Module, nn.Module, torch.optim.Adam, torch.Tensor, torch.Tensor]:
    """Return a small float64 G and D, D's Adam after one real update (non-empty moments), a real batch and z."""
    torch.manual_seed(seed)
    generator, discriminator = MLPGenerator(4, 2, 16, 2).double(), MLPDiscriminator(2, 16, 2).double()
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=1e-2, betas=(0.5, 0.9))
    real, z = torch.randn(32, 2, dtype=torch.float64), torch.randn(32, 4, dtype=torch.float64)
    with torch.no_grad():
        fake = generator(z)
    optimizer.zero_grad()
    discriminator_loss("ns", discriminator(real), discriminator(fake)).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return generator, discriminator, optimizer, real, z


def test_unroll_zero_is_the_plain_generator_loss_bit_for_bit():
    generator, discriminator, optimizer, real, z = _players()
    unrolled = unrolled_generator_loss("ns", discriminator, optimizer, real, generator(z), steps=0)
    unrolled.backward()
    grads = [p.grad.clone() for p in generator.parameters()]
    generator.zero_grad(set_to_none=True)
    plain = generator_loss("ns", discriminator(generator(z)))
    plain.backward()
    assert torch.equal(unrolled, plain)
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, generator.parameters(), strict=True))


@pytest.mark.parametrize("steps", [1, 3])
def test_unrolled_loss_equals_the_loss_against_a_copy_trained_by_torch_adam(steps: int):
    # Independent reference for the unrolled value: a deep copy of D and of its optimiser, stepped by
    # torch.optim.Adam on the same batches. The arithmetic differs only in operation order: 1e-12 relative.
    generator, discriminator, optimizer, real, z = _players()
    fake = generator(z)
    unrolled = unrolled_generator_loss("ns", discriminator, optimizer, real, fake, steps=steps, real_label=0.9)
    twin = copy.deepcopy(discriminator)
    twin_optimizer = torch.optim.Adam(twin.parameters(), lr=1e-2, betas=(0.5, 0.9))
    twin_optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    for _ in range(steps):
        twin_optimizer.zero_grad()
        discriminator_loss("ns", twin(real), twin(fake.detach()), 0.9).backward()
        twin_optimizer.step()
    expected = generator_loss("ns", twin(fake.detach()))
    assert unrolled.item() == pytest.approx(expected.item(), rel=1e-12)


def test_unrolled_loss_gradient_matches_finite_differences():
    # The generator's gradient flows through the K Adam updates (Metz et al. 2017, Sec. 2.3); float64 central
    # differences (gradcheck's eps 1e-6) agree to its default atol 1e-5 / rtol 1e-3.
    generator, discriminator, optimizer, real, z = _players()
    fake = generator(z).detach()[:6].requires_grad_(True)

    def loss_of(points: torch.Tensor) -> torch.Tensor:
        return unrolled_generator_loss("ns", discriminator, optimizer, real[:6], points, steps=2)

    assert torch.autograd.gradcheck(loss_of, (fake,))


def test_unrolled_loss_leaves_discriminator_and_its_optimiser_untouched():
    generator, discriminator, optimizer, real, z = _players()
    before = copy.deepcopy(discriminator.state_dict())
    optimizer_before = copy.deepcopy(optimizer.state_dict())
    unrolled_generator_loss("ns", discriminator, optimizer, real, generator(z), steps=5).backward()
    assert all(torch.equal(before[k], v) for k, v in discriminator.state_dict().items())
    assert all(p.grad is None for p in discriminator.parameters())
    after = optimizer.state_dict()
    for key, state in optimizer_before["state"].items():
        assert all(torch.equal(torch.as_tensor(state[k]), torch.as_tensor(after["state"][key][k])) for k in state)
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in generator.parameters())


def test_a_training_step_with_unrolling_leaves_the_discriminator_as_a_plain_step_does(tmp_path: Path):
    # One step = D update, then G update. D after the step must not depend on G's unrolled loss (no leak);
    # G must (otherwise unrolling did nothing).
    states = {}
    for unroll in (0, 5):
        config = TrainConfig(**{**TINY, "steps": 1, "unroll": unroll})
        train(config, tmp_path / str(unroll), progress=False)
        states[unroll] = load_checkpoint(tmp_path / str(unroll) / "checkpoint.pt")
    plain, unrolled = states[0], states[5]
    assert all(torch.equal(v, unrolled["discriminator"][k]) for k, v in plain["discriminator"].items())
    for key, state in plain["opt_d"]["state"].items():
        assert all(torch.equal(state[k], unrolled["opt_d"]["state"][key][k]) for k in state)
    assert not all(torch.equal(v, unrolled["generator"][k]) for k, v in plain["generator"].items())


@pytest.mark.slow  # 9-16 s on two idle cores; the quick run stays under 6 minutes
def test_resume_with_historical_averaging_and_unrolling_is_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = TrainConfig(**TINY, historical_averaging=0.5, unroll=2)
    train(config, tmp_path / "whole", progress=False)
    real_summary = loop_module._summary_line

    def killed_at_step_30(record: dict) -> str:  # after the checkpoint at 20
        if record["step"] == 30:
            raise KeyboardInterrupt
        return real_summary(record)

    monkeypatch.setattr(loop_module, "_summary_line", killed_at_step_30)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "cut", progress=False)
    monkeypatch.undo()
    train(config, tmp_path / "cut", resume=True, progress=False)

    def comparable(out: Path) -> list[tuple]:
        return [(r["step"], r.get("losses"), r.get("metrics")) for r in read_records(out)]

    assert comparable(tmp_path / "cut") == comparable(tmp_path / "whole")  # exact equality, floats included
    whole, cut = (load_checkpoint(tmp_path / name / "checkpoint.pt") for name in ("whole", "cut"))
    assert whole["historical"]["generator"]["count"] == TINY["steps"] + 1
    for name in ("generator", "discriminator"):
        assert all(
            torch.equal(a, b)
            for a, b in zip(whole["historical"][name]["mean"], cut["historical"][name]["mean"], strict=True)
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--unroll", "2", "--loss", "wgan-gp"], "unroll: applies to the BCE objectives"),
        (["--unroll", "2", "--feature-matching"], "unroll: cannot be combined with feature_matching"),
        (["--unroll", "-1"], "unroll: must be a non-negative integer"),
        (["--historical-averaging", "-0.1"], "historical_averaging: must be non-negative"),
    ],
)
def test_cli_refuses_invalid_remedy_settings_with_one_error_line(tmp_path: Path, args: list[str], message: str):
    result = CliRunner().invoke(train_command, ["--out", str(tmp_path), "--no-progress", *args])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and message in result.output
    assert not (tmp_path / "config.json").exists()
