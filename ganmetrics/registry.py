"""The metric registry: one :class:`MetricSpec` per metric, and ``compute``, the one way from inputs to a number.

A spec says what the metric consumes of each side (Gaussian statistics, feature rows, or logits), the pure
function in ``ganmetrics.metrics`` that computes it, its options (default from ``ganmetrics.defaults.DEFAULTS``,
help text, validation: written once, read by ``compute``, the CLI flags and the Evaluator), the output keys
(``ganmetrics.keys``) and whether lower or higher is better. ``compute(["fid", "kid"], real, fake)`` resolves
both inputs once through the inputs room (``ganmetrics.inputs``), refuses sides made differently
(``ganmetrics.provenance``), and calls each metric's function. The CLI commands, ``ganmetrics all``,
``ganmetrics check``, ``ganmetrics.testing`` and ``Evaluator.compute`` all go through here.

Adding a metric: its function in ``ganmetrics/metrics/``, its output keys in ``keys.py``, its option defaults in
``defaults.py``, and one ``MetricSpec`` in ``METRICS`` below; the CLI command and ``--metrics`` entry follow.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ganmetrics import keys
from ganmetrics.defaults import DEFAULTS
from ganmetrics.features.extractors import extractor_for_id, get_extractor
from ganmetrics.inputs import LOGITS, LOGITS_OUTPUT, ROWS, STATS, ExtractionOptions, InputLoader, Side, check_logits
from ganmetrics.metrics.bootstrap import fid_interval, kid_interval, mmd_interval
from ganmetrics.metrics.cmmd import cmmd, cmmd_unbiased
from ganmetrics.metrics.extrapolation import fid_infinity, is_infinity
from ganmetrics.metrics.frechet import fid_between
from ganmetrics.metrics.inception_score import inception_score
from ganmetrics.metrics.mmd import MATMUL_DTYPES, kid, mmd2_unbiased
from ganmetrics.metrics.prdc import prdc
from ganmetrics.metrics.transport import GROUND_COSTS, ConvergenceWarning, emd, sinkhorn_distance, sinkhorn_divergence
from ganmetrics.metrics.two_sample import mmd_permutation_test
from ganmetrics.provenance import check_comparable

LOWER, HIGHER = "lower", "higher"


@dataclass(frozen=True)
class Option:
    """One option of a metric: its keyword, the ``DEFAULTS`` key of its default, help text and validation.

    ``kind`` is ``int``, ``float``, ``str`` or ``bool`` (a flag); ``minimum`` (inclusive, or exclusive with
    ``open_minimum``) bounds numbers; ``choices`` lists the accepted strings; ``optional`` lets ``None`` through;
    ``required`` means there is no default. ``parameter`` is the metric function's keyword when it differs from
    ``name``; ``cli_aliases`` are earlier flag names the command line still accepts. ``passed`` False: the
    option is validated and read by ``measure``, not passed to the metric function.
    """

    name: str
    defaults_key: str | None
    help: str
    kind: type = float
    minimum: float | None = None
    open_minimum: bool = False
    choices: tuple[str, ...] | None = None
    optional: bool = False
    required: bool = False
    parameter: str = ""
    cli_aliases: tuple[str, ...] = ()
    passed: bool = True

    @property
    def default(self) -> Any:
        """The default value (``DEFAULTS[defaults_key]``), None for a required option."""
        return None if self.defaults_key is None else DEFAULTS[self.defaults_key]

    @property
    def keyword(self) -> str:
        """The metric function's keyword for this option."""
        return self.parameter or self.name

    def check(self, value: Any) -> Any:
        """Return ``value`` when valid for this option; raise ``TypeError``/``ValueError`` naming the option."""
        if value is None:
            if self.optional:
                return None
            raise ValueError(f"{self.name}: a value is needed")
        if self.choices is not None:
            if value not in self.choices:
                raise ValueError(f"{self.name}: expected one of {', '.join(self.choices)}, got {value!r}")
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise TypeError(f"{self.name}: expected true or false, got {value!r}")
            return value
        number_type = numbers.Integral if self.kind is int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, number_type):
            raise TypeError(f"{self.name}: expected {'an integer' if self.kind is int else 'a number'}, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{self.name}: expected a finite number, got {value!r}")
        if self.minimum is not None and (value <= self.minimum if self.open_minimum else value < self.minimum):
            bound = f"> {self.minimum:g}" if self.open_minimum else f">= {self.minimum:g}"
            raise ValueError(f"{self.name}: must be {bound}, got {value!r}")
        return value


Values = dict[str, Any]


@dataclass(frozen=True)
class MetricSpec:
    """A metric: what it consumes, its function, its options, its output keys and its better direction.

    ``consumes`` is ``"stats"`` (Gaussian statistics of both sides), ``"rows"`` (feature rows of both sides) or
    ``"logits"`` (classifier logits of the generated side only). ``extractor`` names the extractor a metric is
    defined with (``fid`` and ``is``: Inception; ``cmmd``: CLIP ViT-L/14@336): it is the default for that metric,
    and inputs made with another are refused, so that a number called FID is always FID. ``default_extractor``
    only sets the default (``prdc``: VGG16, the embedding of Kynkäänniemi et al. 2019 and Naeem et al. 2020).
    ``value(reference, generated, kwargs)`` calls ``function`` on what the sides hold (reference None for logits
    metrics) and returns the values by output key; ``interval`` (optional) returns a percentile-bootstrap
    interval of the headline value.
    """

    name: str
    summary: str
    consumes: str
    function: Callable[..., Any]
    value: Callable[[Any, Any, dict[str, Any]], Values]
    outputs: tuple[str, ...]
    direction: str
    options: tuple[Option, ...] = ()
    interval: Callable[..., Any] | None = None
    command: bool = True
    extractor: str | None = None  # the one feature space the number is defined in (None: any)
    default_extractor: str | None = None  # the extractor of the paper it reproduces, when not the Inception

    @property
    def needs_reference(self) -> bool:
        """Whether the metric compares two sides (everything but logits metrics)."""
        return self.consumes != LOGITS

    @property
    def headline(self) -> str:
        """The output key a check compares with its threshold."""
        return self.outputs[0]

    def option(self, name: str) -> Option:
        """The option called ``name``; ``ValueError`` listing the accepted ones otherwise."""
        for option in self.options:
            if option.name == name:
                return option
        accepted = ", ".join(o.name for o in self.options) or "none"
        raise ValueError(f"options: {self.name} does not take {name} (it takes: {accepted})")

    def kwargs(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Return the function keywords: every option's validated value (given, else its default).

        Raises ``ValueError`` for an option this metric does not take or a required one missing.
        """
        for name in given:
            self.option(name)
        result = {}
        for option in self.options:
            if not option.passed:
                if option.name in given:
                    option.check(given[option.name])
            elif option.name in given:
                result[option.keyword] = option.check(given[option.name])
            elif option.required:
                raise ValueError(f"options: {self.name} needs {option.name} ({option.help})")
            else:
                result[option.keyword] = option.default
        return result


SEED = Option("seed", "seed", "Seed of every random choice the metric makes.", int, minimum=0)
# Read by ``measure`` (``inputs.check_logits``), not passed to the metric function.
ASSUME_LOGITS = Option(
    "assume_logits",
    None,
    "The input holds another classifier's logits: accept a width other "
    "than the FID Inception's 1008 (or 1000) classes.",
    bool,
    passed=False,
)
# The kernel functions' keyword is still "precision" until the MMD keyword rename lands (then drop ``parameter``).
MATMUL_DTYPE = Option(
    "matmul_dtype",
    "mmd_matmul_dtype",
    "dtype of the kernel matmul (float32 or float64).",
    str,
    choices=tuple(MATMUL_DTYPES),
)
SIGMA = Option(
    "sigma",
    "mmd_sigma",
    "Gaussian bandwidth [default: median heuristic].",
    float,
    minimum=0,
    open_minimum=True,
    optional=True,
)
GROUND_COST = Option(
    "ground_cost",
    "ot_ground_cost",
    "Ground cost between points (--metric: deprecated alias).",
    str,
    choices=GROUND_COSTS,
    cli_aliases=("--metric",),
)


def _sizes(x: Any, y: Any) -> Values:
    return {keys.N1: int(x.shape[0]), keys.N2: int(y.shape[0]), keys.DIMS: int(x.shape[1])}


def _fid(reference: Any, generated: Any, kwargs: dict[str, Any]) -> Values:
    return {keys.FID: fid_between(reference, generated)}


def _fd(reference: Any, generated: Any, kwargs: dict[str, Any]) -> Values:
    return {keys.FD: fid_between(reference, generated)}


def _cmmd(x: Any, y: Any, kwargs: dict[str, Any]) -> Values:
    return {keys.CMMD: cmmd(x, y, **kwargs), keys.CMMD_UNBIASED: cmmd_unbiased(x, y, **kwargs)}


def _is(_: Any, logits: Any, kwargs: dict[str, Any]) -> Values:
    mean, std = inception_score(logits, **kwargs)
    return {keys.IS_MEAN: mean, keys.IS_STD: std}


def _kid(x: Any, y: Any, kwargs: dict[str, Any]) -> Values:
    mean, std = kid(x, y, **kwargs)
    return {keys.KID_MEAN: mean, keys.KID_STD: std}


def _mmd(x: Any, y: Any, kwargs: dict[str, Any]) -> Values:
    result = mmd2_unbiased(x, y, **kwargs)
    return {keys.MMD2: result.mmd2, keys.SIGMA: result.sigma}


def _sinkhorn(x: Any, y: Any, kwargs: dict[str, Any]) -> Values:
    return {keys.SINKHORN: sinkhorn_distance(x, y, **kwargs)}


def _sinkhorn_divergence(x: Any, y: Any, kwargs: dict[str, Any]) -> Values:
    return {keys.SINKHORN_DIVERGENCE: sinkhorn_divergence(x, y, **kwargs)}


def _emd(x: Any, y: Any, kwargs: dict[str, Any]) -> Values:
    return {keys.EMD: emd(x, y, **kwargs)}


def _prdc(x: Any, y: Any, kwargs: dict[str, Any]) -> Values:
    return dataclasses.asdict(prdc(x, y, **kwargs))


def _mmd_test(x: Any, y: Any, kwargs: dict[str, Any]) -> Values:
    test = mmd_permutation_test(x, y, **kwargs)
    return {
        keys.MMD2: test.mmd2,
        keys.SIGMA: test.sigma,
        keys.MMD2_P_VALUE: test.p_value,
        keys.MMD2_STD_ERROR: test.std_error,
    }


def _fid_inf(x: Any, y: Any, kwargs: dict[str, Any]) -> Values:
    return {keys.FID_INFINITY: fid_infinity(x, y, **kwargs).value}


def _is_inf(_: Any, logits: Any, kwargs: dict[str, Any]) -> Values:
    return {keys.IS_INFINITY: is_infinity(logits, **kwargs).value}


def _fid_ci(x: Any, y: Any, kwargs: dict[str, Any], values: Values, **bootstrap: Any) -> Any:
    return fid_interval(x, y, **bootstrap)


def _kid_ci(x: Any, y: Any, kwargs: dict[str, Any], values: Values, **bootstrap: Any) -> Any:
    return kid_interval(
        x, y, subsets=kwargs["subsets"], subset_size=kwargs["subset_size"], kid_seed=kwargs["seed"], **bootstrap
    )


def _mmd_ci(x: Any, y: Any, kwargs: dict[str, Any], values: Values, **bootstrap: Any) -> Any:
    # The bandwidth of the point estimate, also when the median heuristic chose it.
    return mmd_interval(x, y, sigma=values[keys.SIGMA], **bootstrap)


SINKHORN_OPTIONS = (
    Option(
        "reg",
        None,
        "Entropic regularisation ε (> 0), in cost units.",
        float,
        minimum=0,
        open_minimum=True,
        required=True,
    ),
    GROUND_COST,
    Option("max_iter", "sinkhorn_max_iter", "Sinkhorn iteration limit.", int, minimum=1),
    Option(
        "tol",
        "sinkhorn_tol",
        "Stopping threshold on the marginal violation.",
        float,
        minimum=0,
        open_minimum=True,
    ),
)

METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            "fid",
            "Fréchet Inception Distance between FIRST and SECOND (folders, zips, feature or stats files).",
            STATS,
            fid_between,
            _fid,
            (keys.FID,),
            LOWER,
            interval=_fid_ci,
            extractor="inception",
        ),
        MetricSpec(
            "is",
            "Inception Score of FIRST (images, or logits in a .npy / an .npz holding 'logits').",
            LOGITS,
            inception_score,
            _is,
            (keys.IS_MEAN, keys.IS_STD),
            HIGHER,
            (Option("splits", "is_splits", "Inception Score splits.", int, minimum=1), ASSUME_LOGITS),
            extractor="inception",
        ),
        MetricSpec(
            "kid",
            "Kernel Inception Distance (cubic polynomial kernel, seeded random subsets).",
            ROWS,
            kid,
            _kid,
            (keys.KID_MEAN, keys.KID_STD),
            LOWER,
            (
                Option("subsets", "kid_subsets", "Number of KID subsets.", int, minimum=1),
                Option("subset_size", "kid_subset_size", "Rows per KID subset.", int, minimum=2),
                SEED,
                MATMUL_DTYPE,
            ),
            interval=_kid_ci,
        ),
        MetricSpec(
            "mmd",
            "Unbiased Gaussian-kernel MMD² (and the bandwidth used).",
            ROWS,
            mmd2_unbiased,
            _mmd,
            (keys.MMD2, keys.SIGMA),
            LOWER,
            (SIGMA, SEED, MATMUL_DTYPE),
            interval=_mmd_ci,
        ),
        MetricSpec(
            "sinkhorn",
            "Entropic optimal-transport cost <P, C> (log-domain Sinkhorn).",
            ROWS,
            sinkhorn_distance,
            _sinkhorn,
            (keys.SINKHORN,),
            LOWER,
            SINKHORN_OPTIONS,
        ),
        MetricSpec(
            "sinkhorn_divergence",
            "Debiased Sinkhorn divergence S_ε = OT_ε(a, b) - ½OT_ε(a, a) - ½OT_ε(b, b) (Feydy et al. 2019): 0 between "
            "identical samples.",
            ROWS,
            sinkhorn_divergence,
            _sinkhorn_divergence,
            (keys.SINKHORN_DIVERGENCE,),
            LOWER,
            SINKHORN_OPTIONS,
        ),
        MetricSpec(
            "emd",
            "Exact earth mover's distance (network simplex) between the two samples.",
            ROWS,
            emd,
            _emd,
            (keys.EMD,),
            LOWER,
            (
                GROUND_COST,
                Option(
                    "max_iter",
                    "emd_max_iter",
                    "Network simplex iteration limit [default: scaled with n m].",
                    int,
                    minimum=1,
                    optional=True,
                ),
            ),
        ),
        MetricSpec(
            "prdc",
            "Precision, recall, density and coverage of SECOND against FIRST (k-NN manifolds).",
            ROWS,
            prdc,
            _prdc,
            (keys.PRECISION, keys.RECALL, keys.DENSITY, keys.COVERAGE),
            HIGHER,
            (
                Option("k", "prdc_k", "Neighbourhood size of precision and recall.", int, minimum=1),
                Option("density_k", "prdc_density_k", "Neighbourhood size of density and coverage.", int, minimum=1),
            ),
            default_extractor="vgg16",
        ),
        MetricSpec(
            "fd",
            "Fréchet distance between FIRST and SECOND in the space of --extractor (FD_DINOv2 with dinov2-vit-l-14, "
            "FD_CLIP with clip-vit-l-14; fid is the Inception one).",
            STATS,
            fid_between,
            _fd,
            (keys.FD,),
            LOWER,
            interval=_fid_ci,
        ),
        MetricSpec(
            "cmmd",
            "CMMD (Jayasumana et al. 2024): 1000 x Gaussian MMD², sigma 10, of L2-normalised CLIP ViT-L/14@336 "
            "embeddings; cmmd is the reference's biased estimate, cmmd_unbiased the U-statistic.",
            ROWS,
            cmmd,
            _cmmd,
            (keys.CMMD, keys.CMMD_UNBIASED),
            LOWER,
            (MATMUL_DTYPE,),
            extractor="clip-vit-l-14-336",
        ),
        MetricSpec(
            "fid_inf",
            "FID extrapolated to infinitely many samples (Chong & Forsyth 2020).",
            ROWS,
            fid_infinity,
            _fid_inf,
            (keys.FID_INFINITY,),
            LOWER,
            (SEED,),
            command=False,
            extractor="inception",
        ),
        MetricSpec(
            "is_inf",
            "IS extrapolated to infinitely many samples (Chong & Forsyth 2020).",
            LOGITS,
            is_infinity,
            _is_inf,
            (keys.IS_INFINITY,),
            HIGHER,
            (SEED, ASSUME_LOGITS),
            command=False,
            extractor="inception",
        ),
        MetricSpec(
            "mmd_test",
            "Permutation two-sample test on the unbiased Gaussian MMD².",
            ROWS,
            mmd_permutation_test,
            _mmd_test,
            (keys.MMD2_P_VALUE, keys.MMD2, keys.SIGMA, keys.MMD2_STD_ERROR),
            HIGHER,
            (
                SIGMA,
                Option("permutations", "mmd_test_permutations", "Permutations of the MMD test.", int, minimum=1),
                SEED,
            ),
            command=False,
        ),
    )
}


def get_metric(name: str) -> MetricSpec:
    """Return the spec of ``name``; ``ValueError`` listing the valid names otherwise."""
    if name not in METRICS:
        raise ValueError(f"metric: unknown {name!r}; choose from {', '.join(METRICS)}")
    return METRICS[name]


def split_options(specs: Sequence[MetricSpec], options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Return each metric's keywords from flat ``options`` (an option goes to every requested metric taking it).

    Raises ``ValueError`` naming an option no requested metric takes, or what ``MetricSpec.kwargs`` raises.
    """
    taken = {o.name for spec in specs for o in spec.options}
    unknown = sorted(set(options) - taken)
    if unknown and len(specs) > 1:
        accepted = ", ".join(sorted(taken)) or "none"
        names = ", ".join(s.name for s in specs)
        raise ValueError(f"options: none of {names} takes {', '.join(unknown)} (they take: {accepted})")
    if unknown:
        specs[0].option(unknown[0])
    return {
        spec.name: spec.kwargs({k: v for k, v in options.items() if k in {o.name for o in spec.options}})
        for spec in specs
    }


@dataclass
class Measurement:
    """Metric values by output key (with ``n1``, ``n2``, ``dims``) and the provenance of each side (``"reference"``
    and ``"samples"``: the input as given and its metadata record); ``mismatch_allowed`` names the provenance
    fields that differed and were allowed to."""

    values: dict[str, Any]
    provenance: dict[str, dict[str, Any]]
    mismatch_allowed: list[str] = field(default_factory=list)


def needs_of(specs: Iterable[MetricSpec], side: str) -> tuple[str, ...]:
    """Return what the ``"reference"`` or ``"samples"`` side must hold for ``specs``."""
    needs = {spec.consumes for spec in specs if side == "samples" or spec.needs_reference}
    return tuple(sorted(needs))


def operand(spec: MetricSpec, side: Side, feature: str) -> Any:
    """Return what ``spec`` consumes of ``side``: its statistics, its feature rows or its logits."""
    if spec.consumes == STATS:
        return side.stats
    return side.rows(LOGITS_OUTPUT if spec.consumes == LOGITS else feature)


def values_of(
    specs: Sequence[MetricSpec],
    reference: Side | None,
    samples: Side,
    feature: str,
    kwargs: Mapping[str, dict[str, Any]],
) -> Values:
    """Return every metric's values on resolved sides, then ``n1``, ``n2`` and ``dims``.

    Sizes: the reference's and the samples' counts (``n1``, ``n2``) and the compared dimension; with logits
    metrics alone, the samples' count is ``n1`` (as ``ganmetrics is`` has always printed it).
    """
    result: Values = {}
    for spec in specs:
        ref = operand(spec, reference, feature) if spec.needs_reference and reference is not None else None
        result.update(spec.value(ref, operand(spec, samples, feature), kwargs[spec.name]))
    if reference is None:  # logits metrics alone
        logits = samples.rows(LOGITS_OUTPUT)
        result.update({keys.N1: int(logits.shape[0]), keys.DIMS: int(logits.shape[1])})
    else:
        result.update(
            {
                keys.N1: reference.metadata.get("n"),
                keys.N2: samples.metadata.get("n"),
                keys.DIMS: reference.metadata.get("dims"),
            }
        )
    return result


def measure(
    metrics: str | Sequence[str],
    samples: Any,
    reference: Any = None,
    *,
    loader: InputLoader | None = None,
    allow_mismatch: bool = False,
    ci: float | None = None,
    resamples: int = DEFAULTS["ci_resamples"],
    adapt_subset_size: bool = False,
    **options: Any,
) -> Measurement:
    """Return the :class:`Measurement` of ``metrics`` of ``samples`` against ``reference`` (see :func:`compute`).

    Before anything is extracted both inputs are resolved and counted (``InputLoader.count``): a missing or empty
    side is reported first, and KID's subset size is checked against the counts. With ``adapt_subset_size``
    (``ganmetrics all``) a default subset size larger than a side is lowered to the smaller side instead, with a
    warning, and then reported as ``kid_subset_size``; an explicit one is always checked. Logits read from a file are
    checked by ``inputs.check_logits`` (option ``assume_logits``). A Sinkhorn run that does not converge is an
    error here (the function itself only warns, as POT does).
    """
    names = [metrics] if isinstance(metrics, str) else list(dict.fromkeys(metrics))
    if not names:
        raise ValueError(f"metrics: none given; choose from {', '.join(METRICS)}")
    specs = [get_metric(name) for name in names]
    kwargs = split_options(specs, options)
    assume_logits = bool(options.get(ASSUME_LOGITS.name))
    referenced = [spec.name for spec in specs if spec.needs_reference]
    if referenced and reference is None:
        raise ValueError(f"reference: {referenced[0]} needs a reference")
    if ci is not None and not 0 < ci < 1:
        raise ValueError(f"ci: the interval level must lie in (0, 1), got {ci!r}")
    loader = loader or InputLoader(ExtractionOptions(extractor=feature_space(specs), progress=False))
    check_feature_space(specs, loader.options.extractor)
    counts = {
        _label(side, name): loader.count(side)
        for side, name in ((reference, "reference"), (samples, "samples"))
        if side is not None
    }
    if "kid" in kwargs and ("subset_size" in options or not adapt_subset_size):
        _check_subset_size(kwargs["kid"]["subset_size"], counts)
    # Two inputs are compared on their features (provenance and sizes) even when only logits metrics are asked;
    # bootstrap intervals resample the rows.
    ref_needs, sample_needs = needs_of(specs, "reference") or (ROWS,), needs_of(specs, "samples")
    if ci is not None:
        ref_needs, sample_needs = ref_needs + (ROWS,), sample_needs + (ROWS,)
    elif reference is not None and not {ROWS, STATS} & set(sample_needs):
        sample_needs += (ROWS,)
    ref_side = None if reference is None else loader.side(reference, "reference", ref_needs)
    if ref_side is not None:  # before the samples are extracted
        _check_side_feature_space(specs, ref_side)
    sample_side = loader.side(samples, "samples", sample_needs)
    _check_side_feature_space(specs, sample_side)
    provenance = {"samples": {"input": _label(samples, "samples"), **sample_side.metadata}}
    differing: list[str] = []
    if ref_side is not None:
        differing = check_comparable(
            ref_side.metadata, sample_side.metadata, (ref_side.label, sample_side.label), allow_mismatch
        )
        provenance = {"reference": {"input": _label(reference, "reference"), **ref_side.metadata}, **provenance}
    if any(spec.consumes == LOGITS for spec in specs) and isinstance(samples, (str, os.PathLike)):
        check_logits(sample_side.label, sample_side.rows(LOGITS_OUTPUT), sample_side.metadata, assume_logits)
    adapted: Values = {}
    if "kid" in kwargs and adapt_subset_size and ref_side is not None:
        smaller = min(int(side.rows(loader.feature).shape[0]) for side in (ref_side, sample_side))
        if kwargs["kid"]["subset_size"] > smaller:
            warnings.warn(
                f"kid: the subset size is lowered from its default {kwargs['kid']['subset_size']} to "
                f"{smaller}, the smaller sample; reported as {keys.KID_SUBSET_SIZE}",
                stacklevel=2,
            )
            kwargs["kid"]["subset_size"] = adapted[keys.KID_SUBSET_SIZE] = smaller
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            values = measure_sides(
                specs,
                ref_side,
                sample_side,
                loader.feature,
                kwargs,
                ci=ci,
                resamples=resamples,
                seed=options.get("seed", DEFAULTS["seed"]),
            )
        except ConvergenceWarning as exc:
            raise ValueError(f"sinkhorn: {exc} No value is reported.") from None
    return Measurement({**values, **adapted}, provenance, differing)


def measure_sides(
    specs: Sequence[MetricSpec],
    reference: Side | None,
    samples: Side,
    feature: str,
    kwargs: Mapping[str, dict[str, Any]],
    *,
    ci: float | None = None,
    resamples: int = DEFAULTS["ci_resamples"],
    seed: int = DEFAULTS["seed"],
) -> Values:
    """Return the values of ``specs`` on sides already resolved (and checked comparable), with their intervals.

    ``kwargs`` come from :func:`split_options`; ``ci`` adds the percentile-bootstrap intervals (seeded with
    ``seed``) as :func:`measure` does. For callers that keep the sides' rows for more than the metrics (the
    report), so that each input is read or extracted once.
    """
    values = values_of(specs, reference, samples, feature, kwargs)
    if ci is not None:
        sizes = {key: values.pop(key) for key in (keys.N1, keys.N2, keys.DIMS) if key in values}
        values.update(_intervals(specs, reference, samples, feature, kwargs, values, ci, resamples, seed))
        values.update(sizes)
    return values


def feature_space(specs: Sequence[MetricSpec]) -> str:
    """Return the extractor for ``specs``: the one they are defined with, else their common default extractor
    (``prdc``'s VGG16 alone), else the FID Inception.

    Raises ``ValueError`` when two of them are defined with different extractors (``fid`` and ``cmmd``: compute
    them apart).
    """
    named = {spec.extractor: spec.name for spec in specs if spec.extractor is not None}
    if len(named) > 1:
        listed = ", ".join(f"{name} ({extractor})" for extractor, name in named.items())
        raise ValueError(f"metrics: {listed} are defined in different feature spaces; compute them separately")
    defaults = {spec.default_extractor for spec in specs}
    if not named and len(defaults) == 1 and (default := next(iter(defaults))) is not None:
        return default
    return next(iter(named), DEFAULTS["extract_extractor"])


def check_feature_space(specs: Sequence[MetricSpec], extractor: Any) -> None:
    """Raise ``ValueError`` when a metric defined with one extractor is asked for with another."""
    for spec in specs:
        if spec.extractor is not None and extractor != spec.extractor:
            name = extractor if isinstance(extractor, str) else get_extractor(extractor).name
            hint = "; use fd for the Fréchet distance in another space" if spec.name in ("fid", "fid_inf") else ""
            raise ValueError(f"extractor: {spec.name} is defined with {spec.extractor}, not {name}{hint}")


def _check_side_feature_space(specs: Sequence[MetricSpec], side: Side) -> None:
    """Raise ``ValueError`` when a side's recorded extractor is an image extractor (a registered or a custom one)
    other than the one a requested metric is defined with. Features of no image network (the toy references'
    raw coordinates) pass: they are not a feature space of another name."""
    recorded = side.metadata.get("extractor")
    if not isinstance(recorded, str):
        return
    made_by = extractor_for_id(recorded)
    if made_by is None and not recorded.startswith("custom:"):
        return
    for spec in specs:
        if spec.extractor is not None and (made_by is None or made_by.name != spec.extractor):
            hint = "; use fd for the Fréchet distance in another space" if spec.name in ("fid", "fid_inf") else ""
            raise ValueError(
                f"{side.label}: holds {recorded} features; {spec.name} is defined with {spec.extractor}{hint}"
            )


def _intervals(
    specs: Sequence[MetricSpec],
    reference: Side | None,
    samples: Side,
    feature: str,
    kwargs: Mapping[str, dict[str, Any]],
    values: Values,
    level: float,
    resamples: int,
    seed: int,
) -> Values:
    """Percentile-bootstrap intervals (both sides resampled) of the metrics that have one, with level and count."""
    if reference is None:
        return {}
    x, y = reference.rows(feature), samples.rows(feature)
    bootstrap = {"level": level, "resamples": resamples, "seed": seed}
    result: Values = {}
    for spec in specs:
        if spec.interval is not None:
            interval = spec.interval(x, y, kwargs[spec.name], values, **bootstrap)
            result[spec.headline + keys.CI_SUFFIX] = [interval.low, interval.high]
    return {**result, keys.CI_LEVEL: level, keys.CI_RESAMPLES: resamples}


def _check_subset_size(subset_size: int, counts: Mapping[str, int | None]) -> None:
    """Raise ``ValueError`` naming KID, the flag and the smaller input when ``subset_size`` exceeds a known count.

    Run before any extraction, on ``InputLoader.count`` (an upper bound when unreadable images are skipped;
    ``kid`` checks the extracted rows again).
    """
    known = {label: n for label, n in counts.items() if n is not None}
    if known and subset_size > min(known.values()):
        label = min(known, key=known.__getitem__)
        raise ValueError(
            f"kid: the subset size {subset_size} (--subset-size, subset_size) is larger than the {known[label]} "
            f"samples of {label}; pass {known[label]} or fewer (KID draws subsets of that size from each side)"
        )


def _label(source: Any, name: str) -> str:
    """The input as given (a path or ``ref:NAME``), or ``name`` for an in-memory one."""
    return str(source) if isinstance(source, (str, os.PathLike)) else name


def compute(
    metrics: str | Sequence[str],
    a: Any,
    b: Any = None,
    *,
    extraction: ExtractionOptions | None = None,
    allow_mismatch: bool = False,
    ci: float | None = None,
    resamples: int = DEFAULTS["ci_resamples"],
    **options: Any,
) -> dict[str, Any]:
    """Return the values of ``metrics`` between ``a`` (real, the reference) and ``b`` (generated), by output key.

    ``compute(["fid", "kid"], "real/", "fake/")`` → ``{"fid": ..., "kid_mean": ..., "kid_std": ..., "n1": ...,
    "n2": ..., "dims": ...}``; ``compute("is", logits)`` → ``{"is_mean": ..., "is_std": ..., "n1": ...,
    "dims": ...}``. The one path from inputs to numbers: every CLI metric command prints exactly this
    dict with ``--json``.

    Parameters
    ----------
    metrics
        Names from ``METRICS``: fid, fd, cmmd, is, kid, mmd, sinkhorn, emd, prdc, fid_inf, is_inf, mmd_test.
    a, b
        Inputs: ``ref:NAME``, a statistics npz (FID only), a feature file (.npy / .npz), an image folder or .zip,
        an (N, d) array or tensor of features (logits for is / is_inf), a ``FeatureStats``. Logits metrics (is,
        is_inf) are computed on ``b``, or on ``a`` when ``b`` is None (then only logits metrics may be asked);
        with two inputs both are compared on their features as well (provenance, sizes).
    extraction
        How images become features (``ganmetrics.inputs.ExtractionOptions``; default: the extractor the metrics
        are defined with, else the FID Inception, with its default protocol, no progress bar). ``fid``, ``is``,
        ``fid_inf`` and ``is_inf`` are Inception's and ``cmmd`` CLIP ViT-L/14@336's: another extractor, or inputs
        recorded as made with another, are refused (``fd`` is the Fréchet distance in any space).
    allow_mismatch
        Compare sides made differently (extractor, weights, protocol, numerics, dims) instead of refusing; the
        differing fields are reported under ``"mismatch_allowed"``.
    ci, resamples
        A percentile-bootstrap interval at level ``ci`` (both sides resampled, ``resamples`` times) of fid, kid
        and mmd, reported as ``<key>_ci: [low, high]`` with ``ci_level`` and ``ci_resamples``.
    options
        The metrics' options by name (each goes to every requested metric that takes it): ``splits``,
        ``subsets``, ``subset_size``, ``seed``, ``sigma``, ``matmul_dtype``, ``reg``, ``ground_cost``,
        ``max_iter``, ``tol``, ``k``, ``density_k``, ``permutations``; defaults from ``DEFAULTS``.

    Raises ``ValueError`` for an unknown metric or option, an invalid option value, a missing or superfluous
    second input, sides made differently (``ProvenanceMismatchError``), and what the loaders and the metric
    functions raise.
    """
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    two_sided = [name for name in names if get_metric(name).needs_reference]
    if b is None and two_sided:
        raise ValueError(f"b: {', '.join(two_sided)} compare(s) two inputs; pass the generated side as b")
    samples, reference = (a, None) if b is None else (b, a)
    specs = [get_metric(name) for name in names]
    loader = InputLoader(extraction or ExtractionOptions(extractor=feature_space(specs), progress=False))
    measurement = measure(
        names, samples, reference, loader=loader, allow_mismatch=allow_mismatch, ci=ci, resamples=resamples, **options
    )
    result = dict(measurement.values)
    if measurement.mismatch_allowed:
        result["mismatch_allowed"] = measurement.mismatch_allowed
    return result
