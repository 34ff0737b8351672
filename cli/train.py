"""``ganmetrics train``: the compact GAN trainer on the command line (a thin layer over ganmetrics.train)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ganmetrics.defaults import DEFAULTS
from ganmetrics.train import TrainConfig, TrainingDiverged, load_config, train
from ganmetrics.train.data import DATASETS
from ganmetrics.train.losses import LOSSES

# Command-line names that differ from the TrainConfig field they set.
FIELD_OF_OPTION = {"label_smoothing": "real_label"}
RUN_OPTIONS = ("out", "resume", "overwrite", "as_json", "progress")


@click.command("train")
@click.option(
    "--data",
    default=DEFAULTS["train_data"],
    show_default=True,
    help=f"One of {', '.join(DATASETS)}, or a folder / .zip of images.",
)
@click.option(
    "--loss",
    type=click.Choice(LOSSES),
    default=DEFAULTS["train_loss"],
    show_default=True,
    help="Objective: minimax, non-saturating (ns), WGAN with clipping, WGAN-GP.",
)
@click.option("--steps", type=int, default=DEFAULTS["train_steps"], show_default=True, help="Generator updates.")
@click.option("--batch-size", type=int, default=None, help="[default: the recipe's; see ganmetrics.train.losses].")
@click.option("--lr", type=float, default=None, help="Learning rate [default: the recipe's].")
@click.option(
    "--lr-decay/--no-lr-decay",
    default=DEFAULTS["train_lr_decay"],
    show_default=True,
    help="Decay the learning rate linearly to 0 over the run.",
)
@click.option(
    "--d-steps",
    type=int,
    default=None,
    help="Discriminator steps per generator step [default: 1, or 5 for wgan/wgan-gp].",
)
@click.option(
    "--r1",
    type=float,
    default=None,
    help="R1 penalty weight on D's gradient at real points (Mescheder et al. 2018) [default: the "
    "recipe's: 0.1 for ns/minimax on 2-D data, else 0].",
)
@click.option(
    "--label-smoothing",
    type=float,
    is_flag=False,
    flag_value=0.9,
    default=DEFAULTS["train_real_label"],
    help="One-sided label smoothing: the real target (0.9 when given without a value; 1 = off).",
)
@click.option(
    "--instance-noise",
    type=float,
    default=DEFAULTS["train_instance_noise"],
    show_default=True,
    help="Initial std of Gaussian noise on D's inputs, decaying linearly to 0 over the run.",
)
@click.option("--feature-matching", is_flag=True, help="Generator matches D's mean features (Salimans et al.).")
@click.option("--z-dim", type=int, default=DEFAULTS["train_z_dim"], show_default=True)
@click.option(
    "--width",
    type=int,
    default=DEFAULTS["train_width"],
    show_default=True,
    help="MLP hidden units, or DCGAN base channels.",
)
@click.option("--depth", type=int, default=DEFAULTS["train_depth"], show_default=True, help="MLP hidden layers.")
@click.option(
    "--image-size",
    type=int,
    default=DEFAULTS["train_image_size"],
    show_default=True,
    help="Side of the square images a folder is resized to (28, 32 or 64).",
)
@click.option(
    "--data-root",
    default=DEFAULTS["train_data_root"],
    show_default=True,
    help="Folder holding the mnist / fashion-mnist / cifar10 files (never downloaded).",
)
@click.option("--eval-every", type=int, default=DEFAULTS["train_eval_every"], show_default=True)
@click.option("--eval-samples", type=int, default=DEFAULTS["train_eval_samples"], show_default=True)
@click.option("--checkpoint-every", type=int, default=DEFAULTS["train_checkpoint_every"], show_default=True)
@click.option("--log-every", type=int, default=DEFAULTS["train_log_every"], show_default=True)
@click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True)
@click.option("--device", default=DEFAULTS["train_device"], show_default=True, help="auto, cpu, cuda, cuda:1, ...")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output folder: config, metrics.jsonl, checkpoint, samples, plots.",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--overwrite", is_flag=True, help="Replace a run already in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the final record as JSON instead of a summary.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="tqdm bar on stderr.")
@click.pass_context
def train_command(ctx: click.Context, **options: Any) -> None:
    """Train a GAN and score it periodically; everything lands in --out."""
    settings = {FIELD_OF_OPTION.get(k, k): v for k, v in options.items() if k not in RUN_OPTIONS}
    out: Path = options["out"]
    try:
        if options["resume"] and (out / "config.json").exists():
            given = {
                FIELD_OF_OPTION.get(k, k): v
                for k, v in options.items()
                if k not in RUN_OPTIONS and ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE
            }
            config = dataclasses.replace(load_config(out), **given)
        else:
            config = TrainConfig(**settings)
        record = train(
            config, out, resume=options["resume"], overwrite=options["overwrite"], progress=options["progress"]
        )
    except (ValueError, FileExistsError, FileNotFoundError, TrainingDiverged) as error:
        raise click.ClickException(str(error)) from None
    if options["as_json"]:
        click.echo(json.dumps({**record, "out": str(out)}, indent=2))
        return
    click.echo(
        f"trained {config.loss} on {config.data} for {record['step']} steps ({record['wall_time']:.1f} s) -> {out}"
    )
    metrics = record.get("metrics", {})
    if metrics:
        shown = {k: v for k, v in metrics.items() if k not in ("n1", "n2", "dims", "sigma")}
        click.echo("final metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in shown.items()))
    click.echo(f"metrics log:   {out / 'metrics.jsonl'}")
    click.echo(f"checkpoint:    {out / 'checkpoint.pt'} (--resume continues from it)")
    click.echo(f"plots:         {', '.join(str(p) for p in sorted((out / 'plots').glob('*.png')))}")
    click.echo(f"samples:       {out / 'samples'}")
