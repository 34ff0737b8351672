"""``ganmetrics``: the command line, a thin layer over the Python API.

The metric commands are generated from the registry specs (``ganmetrics.registry``) and print what
``ganmetrics.compute`` returns; every flag's default comes from ``ganmetrics.defaults.DEFAULTS``, the table the API
reads too. Errors in the
inputs end the command with one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import click
import torch

from ganmetrics._version import __version__
from ganmetrics.cli.all import all_command
from ganmetrics.cli.check import check_command
from ganmetrics.cli.options import (
    ErrorReportingGroup,
    command_line,
    extraction_options,
    format_warning,
    is_main_process,
    metric_command,
)
from ganmetrics.cli.ref import ref_group
from ganmetrics.cli.report import report_command
from ganmetrics.cli.train import train_command
from ganmetrics.cli.weights import weights_group
from ganmetrics.distributed import init_from_environment
from ganmetrics.inputs import InputLoader
from ganmetrics.io.atomic import check_writable_path
from ganmetrics.io.features_file import save_features
from ganmetrics.io.stats_file import save_stats
from ganmetrics.metrics.statistics import FeatureStats
from ganmetrics.registry import METRICS


@click.group(cls=ErrorReportingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ganmetrics")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Evaluate generative models: FID, IS, KID, MMD, Sinkhorn and EMD on image folders, zips or feature files.

    Under ``torchrun --nproc_per_node=K`` each process extracts a disjoint shard of the images and rank 0 prints.
    """
    warnings.formatwarning = format_warning
    if init_from_environment():
        ctx.call_on_close(torch.distributed.destroy_process_group)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The .npz to write (mu, sigma, n and metadata).",
)
@extraction_options
def stats(source: Path, output: Path, loader: InputLoader) -> None:
    """Write the Gaussian statistics (FID's, or FD's with --extractor) of SOURCE (images or a feature file) to
    OUTPUT, with the extractor and protocol in its metadata."""
    if output.suffix.lower() != ".npz":
        raise click.BadParameter(f"{output}: the statistics file must end in .npz", param_hint="--output")
    check_writable_path(output)
    side = loader.arrays(source, (loader.feature,))
    feature_stats = FeatureStats.from_features(side.arrays[loader.feature], side.label)
    if not is_main_process():
        return
    save_stats(output, feature_stats, {**side.metadata, "command": command_line()})
    click.echo(f"wrote {output} (n={feature_stats.n}, dims={feature_stats.dims})", err=True)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help=".npy (the features only) or .npz (features, optional logits, metadata).",
)
@click.option("--logits", is_flag=True, help="Also store the 1008 logits, with and without bias (.npz only).")
@extraction_options
def features(source: Path, output: Path, logits: bool, loader: InputLoader) -> None:
    """Write the features (pool3 for inception; the extractor's default output) and optionally the Inception
    logits of the images in SOURCE to OUTPUT; the extractor and protocol go into the .npz metadata."""
    suffix = output.suffix.lower()
    if suffix not in (".npy", ".npz") or (logits and suffix != ".npz"):
        raise click.BadParameter(f"{output}: write features to .npy or .npz (logits need .npz)", param_hint="--output")
    check_writable_path(output)
    if logits and "logits" not in loader.options.spec.outputs:
        raise click.BadParameter(f"{loader.options.spec.name} has no logits", param_hint="--logits")
    feature = loader.feature
    outputs = (feature, "logits_unbiased", "logits") if logits else (feature,)
    side = loader.arrays(source, outputs)
    arrays = {("features" if name == feature else name): side.arrays[name] for name in outputs}
    if not is_main_process():
        return
    save_features(output, arrays, {**side.metadata, "command": command_line()})
    click.echo(f"wrote {output} ({side.arrays[feature].shape[0]} x {side.arrays[feature].shape[1]})", err=True)


for command in (
    *(metric_command(spec) for spec in METRICS.values() if spec.command),
    all_command,
    check_command,
    ref_group,
    report_command,
    train_command,
    weights_group,
):
    main.add_command(command)

if __name__ == "__main__":
    main()
