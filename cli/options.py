"""Pieces shared by the ``ganmetrics`` commands: the error-reporting group, the image-extraction flags, the
two-input arguments and the result printer. Flag defaults come from ``ganmetrics.defaults.DEFAULTS``."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ganmetrics import keys
from ganmetrics.checks import measure
from ganmetrics.defaults import DEFAULTS
from ganmetrics.distributed import rank_and_world_size
from ganmetrics.features.extract import PRECISIONS
from ganmetrics.features.protocols import RESIZE_MODES
from ganmetrics.features.weights import WeightsNotFoundError
from ganmetrics.inputs import ExtractionOptions, InputLoader

USER_ERRORS = (ValueError, TypeError, OSError, WeightsNotFoundError)


class ErrorReportingGroup(click.Group):
    """A click group that turns input errors into one ``Error: ...`` line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            raise click.ClickException(str(exc)) from None


def format_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> str:
    """One ``Warning: ...`` line, from the first process only under torchrun."""
    return f"Warning: {message}\n" if is_main_process() else ""


def is_main_process() -> bool:
    """Whether this process prints and writes: always, except the ranks other than 0 under torchrun."""
    return rank_and_world_size()[0] == 0


def extraction_options(command: Callable) -> Callable:
    """Add the flags that say how images become features, and build ``ExtractionOptions`` from them."""
    options = [
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="FID Inception weights file (else $GANMETRICS_INCEPTION_WEIGHTS, the cache, download)."),
        click.option("--resize", type=click.Choice(RESIZE_MODES), default=DEFAULTS["resize"], show_default=True,
                     help="Preprocessing: pytorch-fid bilinear, TensorFlow-1 bilinear, or clean-fid bicubic."),
        click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULTS["batch_size"], show_default=True),
        click.option("--num-workers", type=click.IntRange(min=0), default=DEFAULTS["num_workers"],
                     help="DataLoader worker processes [default: CPU count, at most 8]."),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."),
        click.option("--precision", type=click.Choice(list(PRECISIONS)), default=DEFAULTS["precision"],
                     show_default=True,
                     help="fp32 is exact (TF32 off) and equals the peers' features; fp32-fast folds BatchNorm and "
                          "runs channels-last (faster, differs by rounding); bf16/fp16 are faster and approximate."),
        click.option("--skip-bad", is_flag=True, help="Skip unreadable images (counted and reported)."),
        click.option("--recursive", is_flag=True, help="Read image folders recursively."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, weights: str | None, resize: str, batch_size: int, num_workers: int | None,
                device: str, precision: str, skip_bad: bool, recursive: bool, quiet: bool, **kwargs: Any) -> Any:
        opts = ExtractionOptions(weights=weights, resize=resize, batch_size=batch_size, num_workers=num_workers,
                                 device=device, precision=precision, progress=not quiet, skip_bad=skip_bad,
                                 recursive=recursive)
        return command(*args, loader=InputLoader(opts), **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def comparison(command: Callable) -> Callable:
    """Add two input arguments, ``--json`` and ``--allow-mismatch`` to a two-sample metric command."""
    command = click.option("--allow-mismatch", is_flag=True,
                           help="Compare inputs made with different extractor, weights or resize mode.")(command)
    command = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")(command)
    command = click.argument("second", type=click.Path(path_type=Path))(command)
    return click.argument("first", type=click.Path(path_type=Path))(command)


def report(result: dict[str, Any], as_json: bool) -> None:
    """Print the result: one JSON object, or a short human line (values first, then the sizes)."""
    if not is_main_process():
        return
    if as_json:
        click.echo(json.dumps(result))
        return
    sizes = {k: result[k] for k in (keys.N1, keys.N2, keys.DIMS) if k in result}
    values = {k: v for k, v in result.items() if k not in sizes}
    click.echo("  ".join(f"{k}: {human(v)}" for k, v in values.items())
               + "  (" + ", ".join(f"{k}={v}" for k, v in sizes.items()) + ")")


def human(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def report_measurement(name: str, first: Path, second: Path | None, as_json: bool, loader: InputLoader,
                       allow_mismatch: bool = False, **options: Any) -> None:
    """Measure the metric ``name`` of SECOND against FIRST (or of FIRST alone for IS) and print it.

    The measurement is ``ganmetrics.checks.measure``, the one path from inputs to values that ``ganmetrics
    check`` and the ``assert_*`` helpers use too; an allowed provenance mismatch is recorded in the output.
    """
    samples, reference = (first, None) if second is None else (second, first)
    measurement = measure(name, samples, reference, loader=loader, allow_mismatch=allow_mismatch, **options)
    result = dict(measurement.values)
    if measurement.mismatch_allowed:
        result["mismatch_allowed"] = measurement.mismatch_allowed
    report(result, as_json)



def command_line() -> str:
    """Return the command that is running, for the metadata record."""
    return " ".join(["ganmetrics", *sys.argv[1:]])
