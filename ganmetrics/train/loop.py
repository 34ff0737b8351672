"""The training loop: configuration, one step of each objective, periodic scoring, logging, resuming.

A *step* is one generator update, preceded by ``d_steps`` discriminator (critic) updates, each on a fresh
real batch and fresh noise (Arjovsky et al. 2017 count "generator iterations" the same way).

Scoring goes through ``ganmetrics.evaluate.Evaluator``, the API a user would call: FID, KID, MMD, Sinkhorn
and EMD on the raw coordinates for 2-D data, plus the mode statistics of ``modes.py`` for the built-in
mixtures; FID, KID and MMD on Inception pool3 features for images when the weights are available. The
generated side is always the image under G of the same fixed latent batch, so evaluations differ only
through training, and scoring draws nothing from the training random streams.

Output directory: ``config.json``, ``metrics.jsonl`` (one JSON object per log: ``step``, ``wall_time``,
``losses`` averaged since the previous log, and ``metrics`` at evaluations), ``checkpoint.pt`` (atomic),
``samples/step_XXXXXX.npy`` (2-D) or ``.png`` (image grid), and ``plots/*.png``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ganmetrics.defaults import DEFAULTS
from ganmetrics.evaluate import Evaluator
from ganmetrics.features.weights import WeightsNotFoundError, resolve_weights
from ganmetrics.mixtures import MIXTURES, Mixture2D
from ganmetrics.numerics import one_torch_thread
from ganmetrics.train import plots
from ganmetrics.train.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from ganmetrics.train.data import DATASETS, ImageSampler, MixtureSampler, make_sampler
from ganmetrics.train.losses import (
    LOSSES,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    gradient_penalty,
    is_wasserstein,
    r1_penalty,
    recipe,
)
from ganmetrics.train.models import IMAGE_SIZES, DCGANDiscriminator, MLPDiscriminator, build_models
from ganmetrics.train.modes import HIGH_QUALITY, KL_UNIFORM, MODES_COVERED, mode_statistics
from ganmetrics.train.remedies import HistoricalAverage, check_unroll, unrolled_generator_loss

RUN_ENTRIES = ("config.json", "metrics.jsonl", "checkpoint.pt", "samples", "plots")
# What every checkpoint of the loop holds; a file without them was not written by it.
CHECKPOINT_KEYS = ("step", "generator", "discriminator", "opt_g", "opt_d", "sampler", "noise", "rng")
# Fields a resumed run may change: the length of the run and where it runs.
RESUMABLE_CHANGES = ("steps", "device")
POINT_METRICS = ["fid", "kid", "mmd", "sinkhorn", "emd"]
# Sinkhorn's entropic regularisation is in units of the ground cost, meaningful on coordinates; EMD on a few
# thousand 2048-d points mostly measures the sample size. Images are scored with FID, KID and MMD.
IMAGE_METRICS = ["fid", "kid", "mmd"]
PLOTTED_METRICS = ["fid", "kid_mean", "mmd2", "sinkhorn", "emd", MODES_COVERED, HIGH_QUALITY, KL_UNIFORM]
GRID_IMAGES = 64


# The JSON types each TrainConfig annotation accepts in config.json (an integer is a valid float).
CONFIG_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "None": type(None)}


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the step and the last checkpoint."""


@dataclass
class TrainConfig:
    """Everything that determines a run; saved as ``config.json``. ``None`` picks the recipe's value

    (``losses.recipe``: the objective's published recipe, or the tuned one for BCE objectives on 2-D data).
    """

    data: str = DEFAULTS["train_data"]
    loss: str = DEFAULTS["train_loss"]
    steps: int = DEFAULTS["train_steps"]
    batch_size: int | None = None
    lr: float | None = None
    lr_decay: bool = DEFAULTS["train_lr_decay"]  # linearly to 0 over the run, as Gulrajani et al.'s WGAN-GP code
    d_steps: int | None = None
    r1: float | None = None  # R1 penalty weight gamma on D's gradient at real points (losses.r1_penalty)
    real_label: float = DEFAULTS["train_real_label"]  # one-sided label smoothing when < 1 (Salimans et al.: 0.9)
    instance_noise: float = DEFAULTS["train_instance_noise"]  # initial std of noise on D's inputs, decaying to 0
    feature_matching: bool = False
    historical_averaging: float = 0.0  # lambda of the penalty on G and D (Salimans et al. 2016; remedies.py)
    unroll: int = 0  # discriminator updates G looks ahead through (Metz et al. 2017; remedies.py)
    z_dim: int = DEFAULTS["train_z_dim"]
    width: int = DEFAULTS["train_width"]  # MLP hidden units, or DCGAN base channels for images
    depth: int = DEFAULTS["train_depth"]  # MLP hidden layers
    image_size: int = DEFAULTS["train_image_size"]  # image folders are resized to this
    data_root: str = DEFAULTS["train_data_root"]  # where mnist / fashion-mnist / cifar10 files live
    eval_every: int = DEFAULTS["train_eval_every"]
    eval_samples: int = DEFAULTS["train_eval_samples"]
    checkpoint_every: int = DEFAULTS["train_checkpoint_every"]
    log_every: int = DEFAULTS["train_log_every"]
    seed: int = DEFAULTS["seed"]
    device: str = DEFAULTS["train_device"]

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field that is out of range."""
        if self.loss not in LOSSES:
            raise ValueError(f"loss: unknown objective {self.loss!r}; choose one of {', '.join(LOSSES)}")
        for name in ("steps", "z_dim", "width", "depth", "eval_every", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be a positive integer, got {getattr(self, name)!r}")
        if self.eval_samples < 4:  # KID draws subsets of half of them, and needs at least 2 per subset
            raise ValueError(f"eval_samples: must be at least 4, got {self.eval_samples!r}")
        for name in ("d_steps", "batch_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name}: must be a positive integer, got {getattr(self, name)!r}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr: must be positive, got {self.lr!r}")
        if self.r1 is not None and not self.r1 >= 0:
            raise ValueError(f"r1: must be non-negative, got {self.r1!r}")
        if not 0.5 < self.real_label <= 1.0:
            raise ValueError(f"real_label: the smoothed real target must lie in (0.5, 1], got {self.real_label!r}")
        if self.real_label < 1.0 and is_wasserstein(self.loss):
            raise ValueError(f"real_label: label smoothing applies to the BCE objectives, not {self.loss!r}")
        if self.instance_noise < 0:
            raise ValueError(f"instance_noise: must be non-negative, got {self.instance_noise!r}")
        if self.data not in DATASETS and self.image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size: images are resized to one of {IMAGE_SIZES} px, got {self.image_size!r}")
        resolve_device(self.device)
        if not self.historical_averaging >= 0:
            raise ValueError(f"historical_averaging: must be non-negative, got {self.historical_averaging!r}")
        optimizer = recipe(self.loss, images=self.data not in MIXTURES).optimizer
        check_unroll(self.unroll, self.loss, self.feature_matching, optimizer)


def load_config(out: str | os.PathLike) -> TrainConfig:
    """Return the ``TrainConfig`` saved in ``out/config.json``.

    Raises ``ValueError`` naming the file when it is not a JSON object of ``TrainConfig`` fields (and the first
    unknown key), ``FileNotFoundError`` when it does not exist.
    """
    path = Path(out) / "config.json"
    try:
        saved = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"config: {path} is not valid JSON ({error})") from None
    if not isinstance(saved, dict):
        raise ValueError(f"config: {path} must hold a JSON object of settings, got {type(saved).__name__}")
    fields = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(saved) - set(fields))
    if unknown:
        raise ValueError(f"config: {path} has unknown key {unknown[0]!r}; the keys are {', '.join(sorted(fields))}")
    for key, value in saved.items():
        allowed = [CONFIG_TYPES[name] for name in str(fields[key]).split(" | ")]
        if not any(type(value) is kind or (kind is float and type(value) is int) for kind in allowed):
            raise ValueError(f"config: {path} has {key} = {value!r}; expected {fields[key]}")
    saved.setdefault("r1", 0.0)  # written before the R1 option existed: that run trained without it
    return TrainConfig(**saved)


def read_records(out: str | os.PathLike) -> list[dict[str, Any]]:
    """Return the records of ``out/metrics.jsonl`` in order (empty when the file does not exist).

    A last line that is not a complete JSON object (a write torn by a killed run) is left out. Raises
    ``ValueError`` naming the file and the line when an earlier line is not one.
    """
    path = Path(out) / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or "step" not in record:
            if number == len(lines):
                break
            raise ValueError(f"metrics: line {number} of {path} is not a JSON record; the log cannot be resumed")
        records.append(record)
    return records


def _check_output(out: Path, resume: bool, overwrite: bool) -> None:
    """Raise when ``out`` cannot take this run; reads only, so a refused run leaves nothing behind."""
    if resume and overwrite:
        raise ValueError("resume and overwrite: exclude each other; pick one")
    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                raise ValueError(f"out: {folder} is a file, so {out} cannot be a folder")
            break
    if resume:
        if not (out / "checkpoint.pt").exists():
            raise FileNotFoundError(f"out: {out} holds no checkpoint.pt to resume from")
        return
    present = [name for name in RUN_ENTRIES if (out / name).exists()]
    if present and not overwrite:
        raise FileExistsError(
            f"out: {out} already holds a run ({', '.join(present)}); resume it (--resume) or replace it (--overwrite)"
        )


def _prepare_output(out: Path, config: TrainConfig, resume: bool) -> None:
    """Empty ``out`` of an earlier run (unless resuming), make its folders and write ``config.json``."""
    if not resume:
        for name in RUN_ENTRIES:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    for folder in (out, out / "samples", out / "plots"):
        folder.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")


def resolve_device(name: str) -> torch.device:
    """Return the device ``name`` names (``auto``: CUDA when available, else the CPU).

    Raises ``ValueError`` naming the device when torch does not know it or cannot allocate on it here.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:  # unknown name; CUDA not built in or no GPU
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"device: {name!r} cannot be used here ({reason}); try auto or cpu") from None
    return device


def resolve_recipe(config: TrainConfig) -> TrainConfig:
    """Return ``config`` with the recipe's batch size, learning rate, D steps and R1 weight where it has ``None``."""
    objective = recipe(config.loss, images=config.data not in MIXTURES)
    return dataclasses.replace(
        config,
        batch_size=config.batch_size if config.batch_size is not None else objective.batch_size,
        lr=config.lr if config.lr is not None else objective.lr,
        d_steps=config.d_steps if config.d_steps is not None else objective.d_steps,
        r1=config.r1 if config.r1 is not None else objective.r1_weight or 0.0,
    )


def _resolved_values(config: TrainConfig) -> tuple[float, int, int, float]:
    """Return ``(lr, d_steps, batch_size, r1)`` of a config that ``resolve_recipe`` has filled in.

    Raises ``ValueError`` naming the first of them that is still ``None`` (the config was not resolved).
    """
    lr, d_steps, batch_size, r1 = config.lr, config.d_steps, config.batch_size, config.r1
    if lr is None or d_steps is None or batch_size is None or r1 is None:
        missing = next(name for name in ("lr", "d_steps", "batch_size", "r1") if getattr(config, name) is None)
        raise ValueError(f"{missing}: still None; the config must first go through resolve_recipe")
    return lr, d_steps, batch_size, r1


class Scorer:
    """Scores G on a fixed latent batch through ``Evaluator``; mode statistics for the 2-D mixtures."""

    def __init__(self, config: TrainConfig, sampler: Any, device: torch.device) -> None:
        self.device = device
        fixed = torch.Generator().manual_seed(config.seed + 2)
        self.z = torch.randn(config.eval_samples, config.z_dim, generator=fixed)
        self.reference = sampler.reference(config.eval_samples, config.seed + 3)
        self.mixture: Mixture2D | None = sampler.mixture if isinstance(sampler, MixtureSampler) else None
        self.note: str | None = None
        self.evaluator: Any = None
        n = len(self.reference)
        kid = {"subset_size": min(DEFAULTS["kid_subset_size"], n // 2, config.eval_samples // 2)}  # distinct subsets
        if self.mixture is not None:
            self.evaluator = Evaluator(
                metrics=POINT_METRICS,
                reference=self.reference,
                features="raw",
                seed=config.seed,
                metric_kwargs={
                    "kid": kid,
                    "sinkhorn": {"reg": DEFAULTS["train_sinkhorn_reg"], "tol": DEFAULTS["train_sinkhorn_tol"]},
                },
            )
            return
        try:  # local weights only: the trainer never downloads
            weights = resolve_weights(None, download=False)
        except WeightsNotFoundError as error:
            self.note = f"images are not scored (no Inception weights; losses and sample grids only): {error}"
            return
        self.evaluator = Evaluator(
            metrics=IMAGE_METRICS,
            reference=_three_channels(self.reference),
            features="inception",
            weights=weights,
            device=device,
            seed=config.seed,
            metric_kwargs={"kid": kid},
        )

    @torch.no_grad()
    def generate(self, generator: nn.Module) -> torch.Tensor:
        """Return G of the fixed latent batch: float points, or uint8 images."""
        generator.eval()
        fake = torch.cat([generator(z.to(self.device)).cpu() for z in self.z.split(1000)])
        generator.train()
        if self.mixture is None:
            fake = ((fake + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        return fake

    def score(self, fake: torch.Tensor) -> dict[str, float] | None:
        """Return the metrics of generated samples ``fake``, or None when nothing can score them."""
        if self.evaluator is None:
            return None
        self.evaluator.reset()
        self.evaluator.update(fake.to(self.device) if self.mixture is not None else _three_channels(fake))
        result = dict(self.evaluator.compute())
        if self.mixture is not None:
            result.update(mode_statistics(fake, self.mixture.centres, self.mixture.sigma))
        return result


def _three_channels(images: torch.Tensor) -> torch.Tensor:
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def train(
    config: TrainConfig,
    out: str | os.PathLike,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a GAN as ``config`` says, writing everything to ``out``; return the last record.

    ``resume=True`` continues the run saved in ``out`` from its checkpoint, exactly (weights, optimisers, data
    stream and every random state); ``config`` must then equal the saved one except ``steps`` and ``device``.
    ``overwrite=True`` replaces a run already in ``out``. ``progress`` shows a tqdm bar on stderr.

    ``config.json`` records ``config`` with the recipe's values in place of ``None`` (``resolve_recipe``).
    Everything is checked (settings, device, data, models, a resumed run's files) before anything is written.

    Raises ``ValueError`` for an invalid config or unreadable run files, ``FileExistsError`` when ``out`` holds a
    run and neither flag is given, ``FileNotFoundError`` when there is nothing to resume or the data files are
    missing, ``TrainingDiverged`` when a loss stops being finite.
    """
    config.validate()
    config = resolve_recipe(config)
    out = Path(out)
    _check_output(out, resume, overwrite)
    sampler = make_sampler(config.data, config.seed, config.data_root, config.image_size)
    if resume:
        saved = resolve_recipe(load_config(out))
        changed = [
            f"{f.name} (saved {getattr(saved, f.name)!r}, given {getattr(config, f.name)!r})"
            for f in dataclasses.fields(TrainConfig)
            if f.name not in RESUMABLE_CHANGES and getattr(saved, f.name) != getattr(config, f.name)
        ]
        if changed:
            raise ValueError(f"config: a resumed run must keep its settings; these differ: {'; '.join(changed)}")
    # The 2-D MLPs are too small to gain from threads; one thread also makes their runs independent of the
    # machine's core count (the reduction order of a threaded matmul can depend on it).
    with one_torch_thread() if isinstance(sampler, MixtureSampler) else contextlib.nullcontext():
        return _train(config, out, sampler, resume, progress)


def _train(config: TrainConfig, out: Path, sampler: Any, resume: bool, progress: bool) -> dict[str, Any]:
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    random.seed(config.seed)
    objective = recipe(config.loss, images=isinstance(sampler, ImageSampler))
    lr, d_steps, batch_size, r1 = _resolved_values(config)  # resolved by train()
    generator, built_discriminator = build_models(
        sampler.shape, config.z_dim, config.width, config.depth, critic_batch_norm=config.loss != "wgan-gp"
    )
    # build_models makes one of these two; they have the ``features`` that feature matching uses.
    discriminator = cast("MLPDiscriminator | DCGANDiscriminator", built_discriminator)
    generator.to(device)
    discriminator.to(device)
    if objective.optimizer == "rmsprop":
        opt_g: torch.optim.Optimizer = torch.optim.RMSprop(generator.parameters(), lr=lr)
        opt_d: torch.optim.Optimizer = torch.optim.RMSprop(discriminator.parameters(), lr=lr)
    else:
        if objective.betas is None:
            raise ValueError(f"loss: the Adam recipe of {config.loss!r} has no betas")
        opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=objective.betas)
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=objective.betas)
    noise = torch.Generator().manual_seed(config.seed + 1)  # latents, instance noise, GP interpolation
    scorer = Scorer(config, sampler, device)
    averages = (
        {}
        if config.historical_averaging == 0
        else {
            "generator": HistoricalAverage(generator, config.historical_averaging),
            "discriminator": HistoricalAverage(discriminator, config.historical_averaging),
        }
    )

    step, sums, count, wall = 0, {}, 0, 0.0
    checkpoint = out / "checkpoint.pt"
    state = load_checkpoint(checkpoint, CHECKPOINT_KEYS) if resume else {}
    records = read_records(out) if resume else []
    _prepare_output(out, config, resume)  # the first write to out: everything above has been checked
    if resume:
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        sampler.load_state_dict(state["sampler"])
        noise.set_state(state["noise"])
        restore_rng(state["rng"])
        for name, average in averages.items():
            average.load_state_dict(state["historical"][name])
        step, sums, count, wall = state["step"], state["loss_sums"], state["loss_count"], state["wall_time"]
        records = [r for r in records if r["step"] <= step]
        _write_records(out, records)
        for stale in (out / "samples").glob("step_*"):  # written after the checkpoint by the killed run
            if int(stale.stem.split("_")[1]) > step:
                stale.unlink()
    last_checkpoint = step if resume else None
    if scorer.note:
        tqdm.write(f"note: {scorer.note}", file=sys.stderr)

    def noisy(x: torch.Tensor, at: int) -> torch.Tensor:
        std = config.instance_noise * (1 - (at - 1) / config.steps)
        if std <= 0:
            return x
        return x + std * torch.randn(x.shape, generator=noise).to(device)

    def latent() -> torch.Tensor:
        return torch.randn(batch_size, config.z_dim, generator=noise).to(device)

    def one_step(at: int) -> dict[str, float]:
        logged: dict[str, float] = {}
        if config.lr_decay:
            for group in (*opt_g.param_groups, *opt_d.param_groups):
                group["lr"] = lr * (1 - (at - 1) / config.steps)
        for _ in range(d_steps):
            real = sampler.next(batch_size).to(device)
            with torch.no_grad():
                fake = generator(latent())
            real_in = noisy(real, at).requires_grad_(r1 > 0)
            real_out, fake_out = discriminator(real_in), discriminator(noisy(fake, at))
            d_loss = discriminator_loss(config.loss, real_out, fake_out, config.real_label)
            total = d_loss
            if r1 > 0:
                penalty = r1_penalty(real_out, real_in)
                total = total + r1 / 2 * penalty
                _add(logged, "r1_penalty", penalty.item() / d_steps)
            if objective.gp_weight is not None:
                penalty = gradient_penalty(discriminator, real, fake, noise)
                total = total + objective.gp_weight * penalty
                _add(logged, "gradient_penalty", penalty.item() / d_steps)
            if averages:
                total = total + averages["discriminator"].penalty(discriminator)
            opt_d.zero_grad(set_to_none=True)
            total.backward()
            opt_d.step()
            if objective.clip is not None:
                with torch.no_grad():
                    for p in discriminator.parameters():
                        p.clamp_(-objective.clip, objective.clip)
            if averages:
                averages["discriminator"].update(discriminator)
            _add(logged, "d_loss", total.item() / d_steps)
            if is_wasserstein(config.loss):
                _add(logged, "em_estimate", -d_loss.item() / d_steps)
        fake = generator(latent())
        if config.feature_matching:
            real = sampler.next(batch_size).to(device)
            with torch.no_grad():
                real_features = discriminator.features(noisy(real, at))
            g_loss = feature_matching_loss(real_features, discriminator.features(noisy(fake, at)))
        elif config.unroll:
            real = noisy(sampler.next(batch_size).to(device), at)
            g_loss = unrolled_generator_loss(
                config.loss, discriminator, opt_d, real, noisy(fake, at), config.unroll, config.real_label
            )
        else:
            g_loss = generator_loss(config.loss, discriminator(noisy(fake, at)))
        if averages:
            g_loss = g_loss + averages["generator"].penalty(generator)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if averages:
            averages["generator"].update(generator)
        logged["g_loss"] = g_loss.item()
        return logged

    def evaluate_and_log(at: int, losses: dict[str, float]) -> dict[str, Any]:
        record: dict[str, Any] = {"step": at, "wall_time": wall + time.perf_counter() - started}
        if losses:
            record["losses"] = losses
        if at % config.eval_every == 0 or at == config.steps:
            fake = scorer.generate(generator)
            metrics = scorer.score(fake)
            if metrics is not None:
                record["metrics"] = metrics
            _save_samples(out, at, fake)
        records.append(record)
        with open(out / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if "metrics" in record or at == config.steps:
            _write_plots(out, records, scorer)
        return record

    started = time.perf_counter()
    if step == 0:
        evaluate_and_log(0, {})
    bar = tqdm(
        total=config.steps, initial=step, file=sys.stderr, disable=not progress, desc="train", dynamic_ncols=True
    )
    record = records[-1]
    while step < config.steps:
        step += 1
        losses = one_step(step)
        bad = [f"{k}={v}" for k, v in losses.items() if not math.isfinite(v)]
        if bad:
            where = f"{checkpoint} (step {last_checkpoint})" if last_checkpoint is not None else "none written yet"
            raise TrainingDiverged(
                f"training diverged: non-finite loss ({', '.join(bad)}) at step {step}; last checkpoint: {where}"
            )
        for name, value in losses.items():
            _add(sums, name, value)
        count += 1
        bar.update(1)
        if step % config.log_every == 0 or step % config.eval_every == 0 or step == config.steps:
            record = evaluate_and_log(step, {k: v / count for k, v in sums.items()})
            sums, count = {}, 0
            bar.set_postfix_str(_summary_line(record), refresh=False)
        if step % config.checkpoint_every == 0 or step == config.steps:
            state = {
                "step": step,
                "generator": generator.state_dict(),
                "discriminator": discriminator.state_dict(),
                "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(),
                "sampler": sampler.state_dict(),
                "noise": noise.get_state(),
                "rng": capture_rng(),
                "loss_sums": sums,
                "loss_count": count,
                "wall_time": wall + time.perf_counter() - started,
                "historical": {name: average.state_dict() for name, average in averages.items()},
            }
            save_checkpoint(state, checkpoint)
            last_checkpoint = step
    bar.close()
    return record


def _add(totals: dict[str, float], name: str, value: float) -> None:
    totals[name] = totals.get(name, 0.0) + value


def _summary_line(record: dict[str, Any]) -> str:
    """Return the latest losses and the latest metrics as ``name=value`` pairs for the progress bar."""
    shown = dict(record.get("losses", {}))
    shown.update({k: v for k, v in record.get("metrics", {}).items() if k in PLOTTED_METRICS})
    return " ".join(f"{k}={v:.3g}" for k, v in shown.items())


def _write_records(out: Path, records: list[dict[str, Any]]) -> None:
    temporary = out / "metrics.jsonl.tmp"
    temporary.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(temporary, out / "metrics.jsonl")


def _save_samples(out: Path, step: int, fake: torch.Tensor) -> None:
    if fake.dtype == torch.uint8:
        plots.save_image_grid(fake[:GRID_IMAGES], out / "samples" / f"step_{step:06d}.png")
    else:
        np.save(out / "samples" / f"step_{step:06d}.npy", fake.numpy())


def _write_plots(out: Path, records: list[dict[str, Any]], scorer: Scorer) -> None:
    plots.plot_losses(records, out / "plots" / "losses.png")
    if any("metrics" in r for r in records):
        modes = len(scorer.mixture.centres) if scorer.mixture is not None else None
        plots.plot_metrics(records, PLOTTED_METRICS, out / "plots" / "metrics.png", modes=modes)
    if scorer.mixture is not None:
        snapshots = [(int(p.stem.split("_")[1]), np.load(p)) for p in sorted((out / "samples").glob("step_*.npy"))]
        plots.plot_snapshots(
            scorer.reference.numpy(),
            snapshots,
            out / "plots" / "snapshots.png",
            scorer.mixture.centres.numpy(),
            scorer.mixture.sigma,
        )
