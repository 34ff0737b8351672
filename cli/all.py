"""``ganmetrics all``: every requested metric from one feature pass per side, in one table or one JSON object."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ganmetrics import keys
from ganmetrics.checks import check_subset_size
from ganmetrics.cli.options import check_finite_values, comparison, extraction_options, human, report
from ganmetrics.defaults import DEFAULTS
from ganmetrics.inputs import InputLoader, check_logits, warn_if_rank_deficient
from ganmetrics.metrics.bootstrap import BootstrapInterval, fid_interval, kid_interval, mmd_interval
from ganmetrics.metrics.extrapolation import fid_infinity, is_infinity
from ganmetrics.metrics.frechet import fid_from_features
from ganmetrics.metrics.inception_score import inception_score
from ganmetrics.metrics.mmd import kid, mmd2_unbiased
from ganmetrics.metrics.prdc import prdc
from ganmetrics.metrics.two_sample import mmd_permutation_test
from ganmetrics.provenance import check_comparable

# The metric names --metrics accepts; is and is_inf are computed on SECOND (the generated side) and need logits.
METRIC_NAMES = ("fid", "kid", "mmd", "prdc", "is", "fid_inf", "is_inf", "mmd_test")
DEFAULT_METRICS = "fid,kid,mmd,prdc"
_NEED_LOGITS = ("is", "is_inf")


def _metric_list(_: click.Context, __: click.Parameter, value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    unknown = [name for name in names if name not in METRIC_NAMES]
    if unknown or not names:
        raise click.BadParameter(f"{', '.join(unknown) or 'nothing'} (choose from {', '.join(METRIC_NAMES)})")
    return names


@click.command("all")
@comparison
@click.option("--metrics", default=DEFAULT_METRICS, show_default=True, callback=_metric_list,
              help=f"Comma-separated, from: {', '.join(METRIC_NAMES)}.")
@click.option("--ci", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Percentile-bootstrap interval at this level (e.g. 0.95) for fid, kid, mmd (both sides resampled).")
@click.option("--bootstrap", type=click.IntRange(min=2), default=DEFAULTS["bootstrap_resamples"], show_default=True,
              help="Bootstrap resamples for --ci.")
@click.option("--subsets", type=click.IntRange(min=1), default=DEFAULTS["subsets"], show_default=True)
@click.option("--subset-size", type=click.IntRange(min=2), default=DEFAULTS["subset_size"], show_default=True)
@click.option("--sigma", type=float, default=DEFAULTS["sigma"], help="MMD bandwidth [default: median heuristic].")
@click.option("--k", "k", type=click.IntRange(min=1), default=DEFAULTS["prdc_k"], show_default=True,
              help="Neighbourhood size of precision and recall.")
@click.option("--density-k", type=click.IntRange(min=1), default=DEFAULTS["density_coverage_k"], show_default=True,
              help="Neighbourhood size of density and coverage.")
@click.option("--splits", type=click.IntRange(min=1), default=DEFAULTS["splits"], show_default=True,
              help="Inception Score splits (is).")
@click.option("--permutations", type=click.IntRange(min=1), default=DEFAULTS["permutations"], show_default=True,
              help="Permutations of the MMD test (mmd_test).")
@click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True)
@extraction_options
def all_command(first: Path, second: Path, as_json: bool, allow_mismatch: bool, metrics: tuple[str, ...],
                ci: float | None, bootstrap: int, subsets: int, subset_size: int, sigma: float | None, k: int,
                density_k: int, splits: int, permutations: int, seed: int, loader: InputLoader) -> None:
    """Every requested metric between FIRST (real) and SECOND (generated), from one feature pass per side.

    IS and IS-infinity are those of SECOND, from its logits (images, or an .npz holding 'logits').

    Both inputs are resolved and counted before anything is extracted. KID on samples smaller than its subset
    size: an explicit --subset-size that is too large is refused before extraction (as by ``ganmetrics kid``);
    the default one is lowered to the smaller sample (clean-fid's convention, ``min(n1, n2, subset_size)``),
    with a warning, and the size used is reported as ``kid_subset_size``, so that ``all`` works on small
    samples and never hides what it computed.
    """
    counts = {str(first): loader.count(first), str(second): loader.count(second)}
    explicit_subset_size = click.get_current_context().get_parameter_source("subset_size") != ParameterSource.DEFAULT
    if "kid" in metrics and explicit_subset_size:
        check_subset_size(subset_size, counts, "--subset-size")
    real = loader.arrays(first, ("pool3",))
    fake = loader.arrays(second, ("pool3", "logits_unbiased") if set(metrics) & set(_NEED_LOGITS) else ("pool3",))
    differing = check_comparable(real.metadata, fake.metadata, (real.label, fake.label), allow_mismatch)
    x, y = real.arrays["pool3"], fake.arrays["pool3"]
    if "kid" in metrics and subset_size > min(len(x), len(y)):
        subset_size = min(len(x), len(y))
        warnings.warn(f"kid: --subset-size lowered from its default {DEFAULTS['subset_size']} to {subset_size}, "
                      f"the smaller sample (n1={len(x)}, n2={len(y)}); reported as {keys.KID_SUBSET_SIZE}",
                      stacklevel=1)
    if "fid" in metrics:
        for side, rows in ((real, x), (fake, y)):
            warn_if_rank_deficient(side.label, *rows.shape)
    logits = fake.arrays.get("logits_unbiased")
    if logits is not None:
        check_logits(fake.label, logits, fake.metadata)
    bootstrap_options = {"level": ci, "resamples": bootstrap, "seed": seed}
    result: dict[str, Any] = {}
    for name in metrics:
        if name == "fid":
            result[keys.FID] = fid_from_features(x, y)
            if ci is not None:
                result[keys.FID + keys.CI_SUFFIX] = _ends(fid_interval(x, y, **bootstrap_options))
        elif name == "kid":
            result[keys.KID_MEAN], result[keys.KID_STD] = kid(x, y, subsets, subset_size, seed)
            result[keys.KID_SUBSET_SIZE] = subset_size
            if ci is not None:
                interval = kid_interval(x, y, subsets=subsets, subset_size=subset_size, kid_seed=seed,
                                        **bootstrap_options)
                result[keys.KID_MEAN + keys.CI_SUFFIX] = _ends(interval)
        elif name == "mmd":
            mmd = mmd2_unbiased(x, y, sigma=sigma, seed=seed)
            result[keys.MMD2], result[keys.SIGMA] = mmd.mmd2, mmd.sigma
            if ci is not None:
                result[keys.MMD2 + keys.CI_SUFFIX] = _ends(mmd_interval(x, y, sigma=mmd.sigma, **bootstrap_options))
        elif name == "mmd_test":
            test = mmd_permutation_test(x, y, sigma=sigma, permutations=permutations, seed=seed)
            result.update({keys.MMD2: test.mmd2, keys.SIGMA: test.sigma, keys.MMD2_P_VALUE: test.p_value,
                           keys.MMD2_STD_ERROR: test.std_error})
        elif name == "prdc":
            scores = prdc(x, y, k=k, density_k=density_k)
            result.update({keys.PRECISION: scores.precision, keys.RECALL: scores.recall,
                           keys.DENSITY: scores.density, keys.COVERAGE: scores.coverage})
        elif name == "is":
            result[keys.IS_MEAN], result[keys.IS_STD] = inception_score(logits, splits=splits)
        elif name == "fid_inf":
            result[keys.FID_INFINITY] = fid_infinity(x, y, seed=seed).value
        else:  # is_inf
            result[keys.IS_INFINITY] = is_infinity(logits, seed=seed).value
    if ci is not None:
        result[keys.CI_LEVEL], result[keys.CI_RESAMPLES] = ci, bootstrap
    result.update({keys.N1: int(x.shape[0]), keys.N2: int(y.shape[0]), keys.DIMS: int(x.shape[1])})
    if differing:
        result["mismatch_allowed"] = differing
    check_finite_values(result)
    if as_json:
        report(result, as_json=True)
    else:
        width = max(len(key) for key in result) + 2
        for key, value in result.items():
            shown = ", ".join(map(human, value)) if isinstance(value, list) else human(value)
            shown = f"[{shown}]" if key.endswith(keys.CI_SUFFIX) else shown
            click.echo(f"{key:<{width}}{shown}")


def _ends(interval: BootstrapInterval) -> list[float]:
    """Return a bootstrap interval's ``[low, high]``."""
    return [interval.low, interval.high]
