"""``ganmetrics report``: the HTML/JSON report of generated samples against real ones, or of a training run."""

from __future__ import annotations

from pathlib import Path

import click

from ganmetrics.cli.options import allow_mismatch_option, bootstrap_option, extraction_options, is_main_process
from ganmetrics.defaults import DEFAULTS
from ganmetrics.inputs import InputLoader
from ganmetrics.report import ReportOptions, report


@click.command("report")
@click.argument("first", type=click.Path(path_type=Path))
@click.argument("second", type=click.Path(path_type=Path), required=False)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write index.html, report.json, figures/ and thumbs/ into.",
)
@click.option(
    "--test",
    "test",
    type=click.Path(path_type=Path),
    default=None,
    help="Held-out real samples the model never saw: enables the C_T data-copying test.",
)
@click.option(
    "--k",
    "k",
    type=click.IntRange(min=1),
    default=DEFAULTS["report_k"],
    show_default=True,
    help="Nearest real neighbours shown per generated sample.",
)
@click.option(
    "--ci",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=DEFAULTS["ci_level"],
    show_default=True,
    help="Level of the bootstrap intervals of FID, KID and MMD².",
)
@bootstrap_option
@click.option(
    "--cells",
    type=click.IntRange(min=1),
    default=DEFAULTS["ct_cells"],
    show_default=True,
    help="k-means cells of the C_T test.",
)
@click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output folder.")
@allow_mismatch_option
@extraction_options
def report_command(
    first: Path,
    second: Path | None,
    output: Path,
    test: Path | None,
    k: int,
    ci: float,
    bootstrap: int,
    cells: int,
    seed: int,
    overwrite: bool,
    allow_mismatch: bool,
    loader: InputLoader,
) -> None:
    """Write an HTML report of SECOND (generated) against FIRST (real), or of the training run directory FIRST.

    FIRST and SECOND are image folders, zips, feature files, stats files or ref:NAME. The page holds the metric
    table with bootstrap intervals and provenance, FID against sample count with FID∞, nearest real neighbours,
    memorization (authenticity; C_T with --test), best and worst samples by realism, and the real samples no
    generated sample covers; report.json holds every number on it.
    """
    if second is None and test is not None:
        raise click.BadParameter("a run directory report takes no --test", param_hint="--test")
    options = ReportOptions(
        k=k, ci=ci, bootstrap=bootstrap, ct_cells=cells, seed=seed, progress=loader.options.progress
    )
    written = report(
        first,
        second,
        output,
        test=test,
        options=options,
        overwrite=overwrite,
        allow_mismatch=allow_mismatch,
        extraction=loader.options,
    )
    if is_main_process():
        click.echo(f"wrote {written / 'index.html'} and {written / 'report.json'}", err=True)
