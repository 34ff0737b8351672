"""``ganmetrics all``: every requested metric from one feature pass per side, in one table or one JSON object.

The flags are the union of the registry specs' options; a flag left out takes each metric's own default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ganmetrics import keys
from ganmetrics.cli.options import (
    bootstrap_option,
    check_finite_values,
    click_option,
    comparison,
    extraction_options,
    human,
    measure_for_cli,
    report,
)
from ganmetrics.inputs import InputLoader
from ganmetrics.registry import METRICS, Option

DEFAULT_METRICS = "fid,kid,mmd,prdc"


def _metric_list(_: click.Context, __: click.Parameter, value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise click.BadParameter(f"{', '.join(unknown) or 'nothing'} (choose from {', '.join(METRICS)})")
    return names


def _shared_options() -> list[tuple[Option, str]]:
    """Every option of every metric once, with a help suffix naming its default (or that it depends on the metric)."""
    by_name: dict[str, list[Option]] = {}
    for spec in METRICS.values():
        for option in spec.options:
            by_name.setdefault(option.name, []).append(option)
    result = []
    for options in by_name.values():
        defaults = {repr(o.default) for o in options if not o.required}
        users = ", ".join(spec.name for spec in METRICS.values() if any(o in spec.options for o in options))
        shown = f"{options[0].default}" if len(defaults) == 1 else "per metric"
        result.append((options[0], f" ({users}) [default: {shown}]" if defaults else f" ({users})"))
    return result


def _with_metric_options(command: Any) -> Any:
    for option, suffix in reversed(_shared_options()):
        command = click_option(option, default_from_spec=False, help_suffix=suffix)(command)
    return command


@click.command("all")
@comparison
@click.option(
    "--metrics",
    default=DEFAULT_METRICS,
    show_default=True,
    callback=_metric_list,
    help=f"Comma-separated, from: {', '.join(METRICS)}.",
)
@click.option(
    "--ci",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Percentile-bootstrap interval at this level (e.g. 0.95) for fid, kid, mmd (both sides resampled).",
)
@bootstrap_option
@_with_metric_options
@extraction_options
def all_command(
    first: Path,
    second: Path,
    as_json: bool,
    allow_mismatch: bool,
    metrics: tuple[str, ...],
    ci: float | None,
    bootstrap: int,
    loader: InputLoader,
    **options: Any,
) -> None:
    """Every requested metric between FIRST (real) and SECOND (generated), from one feature pass per side.

    IS and IS-infinity are those of SECOND, from its logits (images, or an .npz holding 'logits').

    Both inputs are resolved and counted before anything is extracted. KID on samples smaller than its subset
    size: an explicit --subset-size that is too large is refused before extraction (as by ``ganmetrics kid``);
    the default one is lowered to the smaller sample (clean-fid's convention, ``min(n1, n2, subset_size)``),
    with a warning, and the size used is then reported as ``kid_subset_size``, so that ``all`` works on small
    samples and never hides what it computed.
    """
    given = {name: value for name, value in options.items() if value is not None}
    result = measure_for_cli(
        metrics, first, second, loader, allow_mismatch, ci=ci, resamples=bootstrap, adapt_subset_size=True, **given
    )
    check_finite_values(result)  # the table is printed here, not by report(): the same refusal of NaN/Inf
    if as_json:
        report(result, as_json=True)
        return
    width = max(len(key) for key in result) + 2
    for key, value in result.items():
        shown = ", ".join(map(human, value)) if isinstance(value, list) else human(value)
        shown = f"[{shown}]" if key.endswith(keys.CI_SUFFIX) else shown
        click.echo(f"{key:<{width}}{shown}")
