"""``ganmetrics``: the command line, a thin layer over the Python API.

Every flag's default comes from ``ganmetrics.defaults.DEFAULTS``, the table the API reads too. Errors in the
inputs end the command with one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ganmetrics import __version__, keys
from ganmetrics.defaults import DEFAULTS
from ganmetrics.features.resize import RESIZE_MODES
from ganmetrics.features.weights import WeightsNotFoundError
from ganmetrics.inputs import ExtractionOptions, InputLoader, frechet_between
from ganmetrics.io.features_file import save_features
from ganmetrics.metrics.frechet import FeatureStats
from ganmetrics.metrics.inception_score import inception_score
from ganmetrics.metrics.mmd import kid, mmd2_unbiased
from ganmetrics.metrics.transport import METRICS, emd, sinkhorn_distance
from ganmetrics.provenance import check_comparable

_USER_ERRORS = (ValueError, TypeError, OSError, WeightsNotFoundError)


class _Group(click.Group):
    """A click group that turns input errors into one ``Error: ...`` line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _USER_ERRORS as exc:
            raise click.ClickException(str(exc)) from None


def _format_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> str:
    return f"Warning: {message}\n"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ganmetrics")
def main() -> None:
    """Evaluate generative models: FID, IS, KID, MMD, Sinkhorn and EMD on image folders, zips or feature files."""
    warnings.formatwarning = _format_warning


def _extraction_options(command: Callable) -> Callable:
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
        click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default=DEFAULTS["precision"],
                     show_default=True, help="fp32 is exact (TF32 off); bf16/fp16 are faster and approximate."),
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


def _comparison(command: Callable) -> Callable:
    """Add two input arguments, ``--json`` and ``--allow-mismatch`` to a two-sample metric command."""
    command = click.option("--allow-mismatch", is_flag=True,
                           help="Compare inputs made with different extractor, weights or resize mode.")(command)
    command = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")(command)
    command = click.argument("second", type=click.Path(path_type=Path))(command)
    return click.argument("first", type=click.Path(path_type=Path))(command)


def _report(result: dict[str, Any], as_json: bool) -> None:
    """Print the result: one JSON object, or a short human line (values first, then the sizes)."""
    if as_json:
        click.echo(json.dumps(result))
        return
    sizes = {k: result[k] for k in (keys.N1, keys.N2, keys.DIMS) if k in result}
    values = {k: v for k, v in result.items() if k not in sizes}
    click.echo("  ".join(f"{k}: {_human(v)}" for k, v in values.items())
               + "  (" + ", ".join(f"{k}={v}" for k, v in sizes.items()) + ")")


def _human(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _pair_features(loader: InputLoader, first: Path, second: Path, allow_mismatch: bool
                   ) -> tuple[Any, Any, dict[str, Any]]:
    """Return pool3 features of both inputs and the size fields, after the comparability check."""
    a, b = loader.arrays(first, ("pool3",)), loader.arrays(second, ("pool3",))
    differing = check_comparable(a.metadata, b.metadata, (a.label, b.label), allow_mismatch)
    x, y = a.arrays["pool3"], b.arrays["pool3"]
    info = {keys.N1: int(x.shape[0]), keys.N2: int(y.shape[0]), keys.DIMS: int(x.shape[1])}
    if differing:
        info["mismatch_allowed"] = differing
    return x, y, info


@main.command()
@_comparison
@_extraction_options
def fid(first: Path, second: Path, as_json: bool, allow_mismatch: bool, loader: InputLoader) -> None:
    """Fréchet Inception Distance between FIRST and SECOND (folders, zips, feature or stats files)."""
    stats1, meta1 = loader.stats(first)
    stats2, meta2 = loader.stats(second)
    differing = check_comparable(meta1, meta2, (str(first), str(second)), allow_mismatch)
    result: dict[str, Any] = {keys.FID: frechet_between(stats1, stats2),
                              keys.N1: meta1.get("n"), keys.N2: meta2.get("n"), keys.DIMS: meta1["dims"]}
    if differing:
        result["mismatch_allowed"] = differing
    _report(result, as_json)


@main.command("is")
@click.argument("first", type=click.Path(path_type=Path))
@click.option("--splits", type=click.IntRange(min=1), default=DEFAULTS["splits"], show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@_extraction_options
def inception_score_command(first: Path, splits: int, as_json: bool, loader: InputLoader) -> None:
    """Inception Score of FIRST (images, or logits in a .npy / an .npz holding 'logits')."""
    side = loader.arrays(first, ("logits_unbiased",))
    logits = side.arrays["logits_unbiased"]
    mean, std = inception_score(logits, splits=splits)
    _report({keys.IS_MEAN: mean, keys.IS_STD: std, keys.N1: int(logits.shape[0]),
             keys.DIMS: int(logits.shape[1])}, as_json)


@main.command("kid")
@_comparison
@click.option("--subsets", type=click.IntRange(min=1), default=DEFAULTS["subsets"], show_default=True)
@click.option("--subset-size", type=click.IntRange(min=2), default=DEFAULTS["subset_size"], show_default=True)
@click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True)
@_extraction_options
def kid_command(first: Path, second: Path, as_json: bool, allow_mismatch: bool, subsets: int, subset_size: int,
                seed: int, loader: InputLoader) -> None:
    """Kernel Inception Distance (cubic polynomial kernel, seeded random subsets)."""
    x, y, info = _pair_features(loader, first, second, allow_mismatch)
    mean, std = kid(x, y, subsets=subsets, subset_size=subset_size, seed=seed)
    _report({keys.KID_MEAN: mean, keys.KID_STD: std, **info}, as_json)


@main.command()
@_comparison
@click.option("--sigma", type=float, default=DEFAULTS["sigma"], help="Gaussian bandwidth [default: median heuristic].")
@click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True)
@_extraction_options
def mmd(first: Path, second: Path, as_json: bool, allow_mismatch: bool, sigma: float | None, seed: int,
        loader: InputLoader) -> None:
    """Unbiased Gaussian-kernel MMD² (and the bandwidth used)."""
    x, y, info = _pair_features(loader, first, second, allow_mismatch)
    result = mmd2_unbiased(x, y, sigma=sigma, seed=seed)
    _report({keys.MMD2: result.mmd2, keys.SIGMA: result.sigma, **info}, as_json)


@main.command()
@_comparison
@click.option("--reg", type=float, required=True, help="Entropic regularisation ε (> 0), in cost units.")
@click.option("--metric", type=click.Choice(METRICS), default=DEFAULTS["metric"], show_default=True)
@click.option("--max-iter", type=click.IntRange(min=1), default=DEFAULTS["max_iter"], show_default=True)
@click.option("--tol", type=float, default=DEFAULTS["tol"], show_default=True)
@_extraction_options
def sinkhorn(first: Path, second: Path, as_json: bool, allow_mismatch: bool, reg: float, metric: str, max_iter: int,
             tol: float, loader: InputLoader) -> None:
    """Entropic optimal-transport cost <P, C> (log-domain Sinkhorn)."""
    x, y, info = _pair_features(loader, first, second, allow_mismatch)
    value = sinkhorn_distance(x, y, reg, metric=metric, max_iter=max_iter, tol=tol)
    _report({keys.SINKHORN: value, **info}, as_json)


@main.command("emd")
@_comparison
@click.option("--metric", type=click.Choice(METRICS), default=DEFAULTS["metric"], show_default=True)
@_extraction_options
def emd_command(first: Path, second: Path, as_json: bool, allow_mismatch: bool, metric: str,
                loader: InputLoader) -> None:
    """Exact earth mover's distance (network simplex) between the two samples."""
    x, y, info = _pair_features(loader, first, second, allow_mismatch)
    _report({keys.EMD: emd(x, y, metric=metric), **info}, as_json)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The .npz to write (mu, sigma, n and metadata).")
@_extraction_options
def stats(source: Path, output: Path, loader: InputLoader) -> None:
    """Write the FID statistics of SOURCE (images or a feature file) to OUTPUT."""
    if output.suffix.lower() != ".npz":
        raise click.BadParameter(f"{output}: the statistics file must end in .npz", param_hint="--output")
    side = loader.arrays(source, ("pool3",))
    feature_stats = FeatureStats.from_features(side.arrays["pool3"], side.label)
    feature_stats.save(output, {**side.metadata, "command": _command_line()})
    click.echo(f"wrote {output} (n={feature_stats.n}, dims={feature_stats.dims})", err=True)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help=".npy (pool3 features only) or .npz (features, optional logits, metadata).")
@click.option("--logits", is_flag=True, help="Also store the 1008 logits, with and without bias (.npz only).")
@_extraction_options
def features(source: Path, output: Path, logits: bool, loader: InputLoader) -> None:
    """Write the pool3 features (and optionally the logits) of the images in SOURCE to OUTPUT."""
    suffix = output.suffix.lower()
    if suffix not in (".npy", ".npz") or (logits and suffix != ".npz"):
        raise click.BadParameter(f"{output}: write features to .npy or .npz (logits need .npz)", param_hint="--output")
    outputs = ("pool3", "logits_unbiased", "logits") if logits else ("pool3",)
    side = loader.arrays(source, outputs)
    arrays = {("features" if name == "pool3" else name): side.arrays[name] for name in outputs}
    save_features(output, arrays, {**side.metadata, "command": _command_line()})
    click.echo(f"wrote {output} ({side.arrays['pool3'].shape[0]} x {side.arrays['pool3'].shape[1]})", err=True)


def _command_line() -> str:
    """Return the command that is running, for the metadata record."""
    return " ".join(["ganmetrics", *sys.argv[1:]])


if __name__ == "__main__":
    main()
