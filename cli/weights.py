"""``ganmetrics weights``: weight files for the FID Inception; ``random`` writes seeded random ones for trying the
pipeline offline (the standard weights are a download)."""

from __future__ import annotations

from pathlib import Path

import click

from ganmetrics.features.random_weights import make_random_fid_inception_weights

RANDOM_WEIGHTS_NOTICE = (
    "RANDOM TEST WEIGHTS: numbers computed with these weights are for trying the pipeline and for tests, NEVER "
    "for reporting. Every feature and statistics file made with them is marked (weights_kind: random-test) and "
    "refused against files made with real weights."
)


@click.group("weights")
def weights_group() -> None:
    """Weight files for the FID Inception network."""


@weights_group.command("random")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The .pth file to write."
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**64 - 1),
    default=0,
    show_default=True,
    help="Seed of the random draws (the same seed gives the same weights).",
)
def random_command(output: Path, seed: int) -> None:
    """Write seeded random FID Inception weights in the release file's layout, to try the tool offline.

    Use them with --weights OUTPUT (or GANMETRICS_INCEPTION_WEIGHTS). The numbers they give mean nothing.
    """
    click.echo(f"Warning: {RANDOM_WEIGHTS_NOTICE}", err=True)
    make_random_fid_inception_weights(output, seed=seed)
    click.echo(f"wrote {output} (seeded random FID Inception weights, seed {seed}; for tests only)", err=True)
