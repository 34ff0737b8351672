"""Pieces shared by the ``ganmetrics`` commands: the error-reporting group, the image-extraction flags, the
two-input arguments, the metric commands generated from the registry specs, and the result printer. Flag
defaults, help texts and bounds come from the specs (``ganmetrics.registry``) and ``ganmetrics.defaults``."""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ganmetrics import keys
from ganmetrics.defaults import DEFAULTS
from ganmetrics.distributed import rank_and_world_size
from ganmetrics.features.extract import NUMERICS
from ganmetrics.features.extractors import EXTRACTORS
from ganmetrics.features.protocols import PROTOCOLS
from ganmetrics.features.weights import WeightsNotFoundError
from ganmetrics.inputs import ExtractionOptions, InputLoader
from ganmetrics.registry import MetricSpec, Option, compute, feature_space

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


def extraction_options(command: Callable | None = None, *, extractor: str = DEFAULTS["extract_extractor"]) -> Any:
    """Add the flags that say how images become features, and build ``ExtractionOptions`` from them.

    ``extractor`` is the default of ``--extractor`` (a metric defined with its own, e.g. cmmd, passes it). Used as
    ``@extraction_options`` or ``extraction_options(command, extractor=...)``.
    """
    if command is None:
        return functools.partial(extraction_options, extractor=extractor)
    options = [
        click.option(
            "--extractor",
            default=extractor,
            show_default=True,
            help=f"Feature extractor: {', '.join(EXTRACTORS)}; or package.module:factory, a function returning "
            "your own torch module (recorded under that name).",
        ),
        click.option(
            "--weights",
            type=click.Path(dir_okay=False),
            default=None,
            help="Extractor weights file (else its environment variable, the cache, download).",
        ),
        click.option(
            "--protocol",
            "--resize",
            "protocol",
            type=click.Choice(list(PROTOCOLS)),
            default=DEFAULTS["extract_protocol"],
            help="Preprocessing protocol (--resize is its earlier name): for inception pytorch-fid "
            "bilinear, TensorFlow-1 bilinear (tf), or clean-fid bicubic (clean) [default: the "
            "extractor's first, pytorch-fid for inception].",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            default=DEFAULTS["extract_batch_size"],
            help="Images per network batch [default: the extractor's, 50 for inception].",
        ),
        click.option(
            "--num-workers",
            type=click.IntRange(min=0),
            default=DEFAULTS["extract_num_workers"],
            help="DataLoader worker processes [default: CPU count, at most 8].",
        ),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."),
        click.option(
            "--numerics",
            "--precision",
            "numerics",
            type=click.Choice(list(NUMERICS)),
            default=DEFAULTS["extract_numerics"],
            show_default=True,
            help="Network numerics (--precision is a deprecated alias): fp32 is exact (TF32 off) and equals "
            "the peers' features; fp32-fast folds BatchNorm and runs channels-last (faster, differs by "
            "rounding); bf16/fp16 are faster and approximate.",
        ),
        click.option("--skip-bad", is_flag=True, help="Skip unreadable images (counted and reported)."),
        click.option("--recursive", is_flag=True, help="Read image folders recursively."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
    ]

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        extractor: str,
        weights: str | None,
        protocol: str | None,
        batch_size: int | None,
        num_workers: int | None,
        device: str,
        numerics: str,
        skip_bad: bool,
        recursive: bool,
        quiet: bool,
        **kwargs: Any,
    ) -> Any:
        opts = ExtractionOptions(
            extractor=extractor,
            weights=weights,
            protocol=protocol,
            batch_size=batch_size,
            num_workers=num_workers,
            device=device,
            numerics=numerics,
            progress=not quiet,
            skip_bad=skip_bad,
            recursive=recursive,
        )
        return command(*args, loader=InputLoader(opts), **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def click_option(option: Option, *, default_from_spec: bool = True, help_suffix: str = "") -> Callable:
    """Return the click flag of a registry option: ``--name-with-dashes``, its type, bound, default and help.

    With ``default_from_spec`` False the flag defaults to None (the registry fills in each metric's default).
    """
    flags = [f"--{option.name.replace('_', '-')}", *option.cli_aliases]
    if option.kind is bool:
        return click.option(
            *flags,
            option.name,
            is_flag=True,
            default=False if default_from_spec else None,
            help=option.help + help_suffix,
        )
    if option.choices is not None:
        kind: Any = click.Choice(list(option.choices))
    elif option.minimum is not None and option.kind is int:
        kind = click.IntRange(min=int(option.minimum), min_open=option.open_minimum)
    elif option.minimum is not None:
        kind = click.FloatRange(min=option.minimum, min_open=option.open_minimum)
    else:
        kind = option.kind
    default = option.default if default_from_spec else None
    shown = default_from_spec and not option.required and option.default is not None
    return click.option(
        *flags,
        option.name,
        type=kind,
        default=default,
        required=option.required and default_from_spec,
        show_default=shown,
        help=option.help + help_suffix,
    )


def metric_command(spec: MetricSpec) -> click.Command:
    """Return the ``ganmetrics <metric>`` command of a spec: its inputs, its options, the extraction flags."""

    def run(
        first: Path,
        as_json: bool,
        loader: InputLoader,
        second: Path | None = None,
        allow_mismatch: bool = False,
        **options: Any,
    ) -> None:
        report(measure_for_cli(spec.name, first, second, loader, allow_mismatch, **options), as_json)

    command: Callable = extraction_options(run, extractor=feature_space([spec]))
    for option in reversed(spec.options):
        command = click_option(option)(command)
    if spec.needs_reference:
        command = comparison(command)
    else:
        command = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")(command)
        command = click.argument("first", type=click.Path(path_type=Path))(command)
    return click.command(spec.name, help=spec.summary)(command)


# Shared by the metric commands, ``all`` and ``report``.
allow_mismatch_option = click.option(
    "--allow-mismatch", is_flag=True, help="Compare inputs made with different extractor, weights or resize mode."
)
bootstrap_option = click.option(
    "--bootstrap",
    type=click.IntRange(min=2),
    default=DEFAULTS["ci_resamples"],
    show_default=True,
    help="Bootstrap resamples of the --ci intervals.",
)


def comparison(command: Callable) -> Callable:
    """Add two input arguments, ``--json`` and ``--allow-mismatch`` to a two-sample metric command."""
    command = allow_mismatch_option(command)
    command = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")(command)
    command = click.argument("second", type=click.Path(path_type=Path))(command)
    return click.argument("first", type=click.Path(path_type=Path))(command)


def check_finite_values(result: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the first output that is a non-finite number (never printed as a result)."""
    for key, value in result.items():
        numbers = value if isinstance(value, list) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
            raise ValueError(f"{key}: the computation gave {value}, not a finite number; no result is reported")


def report(result: dict[str, Any], as_json: bool) -> None:
    """Print the result: one strict JSON object, or a short human line (values first, then the sizes).

    Raises ``ValueError`` (nothing printed) when a value is NaN or infinite.
    """
    check_finite_values(result)
    if not is_main_process():
        return
    if as_json:
        click.echo(json.dumps(result, allow_nan=False))
        return
    sizes = {k: result[k] for k in (keys.N1, keys.N2, keys.DIMS) if k in result}
    values = {k: v for k, v in result.items() if k not in sizes}
    click.echo(
        "  ".join(f"{k}: {human(v)}" for k, v in values.items())
        + "  ("
        + ", ".join(f"{k}={v}" for k, v in sizes.items())
        + ")"
    )


def human(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def measure_for_cli(
    metrics: str | tuple[str, ...],
    first: Path,
    second: Path | None,
    loader: InputLoader,
    allow_mismatch: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Return ``ganmetrics.compute`` of ``metrics`` between FIRST and SECOND (of FIRST alone for IS).

    The CLI's only way to a number: the same function, the same dict, that the Python API returns.
    """
    return compute(metrics, first, second, extraction=loader.options, allow_mismatch=allow_mismatch, **options)


def command_line() -> str:
    """Return the command that is running, for the metadata record."""
    return " ".join(["ganmetrics", *sys.argv[1:]])
