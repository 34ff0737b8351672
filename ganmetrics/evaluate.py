"""The training-loop API: an ``Evaluator`` that extracts features once per batch and feeds every requested metric,
metric objects with ``update()`` / ``compute()`` / ``reset()`` (torchmetrics style), and ``evaluate_generator``.

The formulas are those of ``ganmetrics.metrics`` (no second copy). The generated side is accumulated batch by
batch; the reference side is computed once, kept in memory, and optionally cached on disk (``reference_cache``).
FID streams float64 statistics (memory O(d²)); KID, MMD and the transport metrics keep float32 features on the
CPU, at most ``max_samples`` of them.

Images are tensors (N, 3, H, W) on any device: uint8 in [0, 255], or floating point with an explicit
``input_range`` of (0, 1) or (-1, 1). With ``features="raw"`` the batches are feature rows (N, d) instead.

Distributed evaluation (``torch.distributed`` initialised, more than one process)
    Each rank ``update()``\\ s with its own samples. ``compute()`` is then a *collective*: every rank must call
    it, in the same order; it gathers the FID statistics (merged in float64, rank order) and the kept features
    (in rank order), computes on rank 0 and returns the same values on every rank, equal to one process fed
    the same samples in rank order. An image reference (folder, zip or tensor) is extracted in shards over the
    ranks, so the constructor is a collective too in that case. ``sync=False`` (at construction, or per call
    ``compute(sync=False)``) communicates nothing: local samples only, the whole reference on this rank. Use
    it when only some ranks evaluate, e.g. ``if rank == 0:`` — a collective called on one rank waits forever.
    The mechanism lives in ``ganmetrics.distributed``.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ganmetrics import keys
from ganmetrics.defaults import DEFAULTS
from ganmetrics.distributed import (
    all_ranks_true,
    compute_on_rank0,
    extract_features_distributed,
    rank_and_world_size,
    resolve_sync,
)
from ganmetrics.inputs import LOGITS, LOGITS_OUTPUT, ROWS, STATS, ExtractionOptions, InputLoader, is_image_source
from ganmetrics.io.features_file import load_features, save_features
from ganmetrics.io.images import list_image_files
from ganmetrics.io.stats_file import LoadedStats, is_stats_file, load_stats, save_stats
from ganmetrics.metrics.statistics import FeatureStats
from ganmetrics.provenance import COMPARED_FIELDS, check_comparable, normalise
from ganmetrics.reference_store import resolve_reference_path
from ganmetrics.registry import MetricSpec, check_feature_space, feature_space, get_metric
from ganmetrics.stores import FEATURE_KINDS, ImageFeatures, MomentStore, Reference, RowStore

# Provenance fields a cached reference must share with the extractor to be reused (dims follow from them).
_CACHE_FIELDS = tuple(key for key in COMPARED_FIELDS if key != "dims")


class Evaluator:
    """Several metrics on the same generated samples, with features extracted once per batch.

    >>> ev = Evaluator(["fid", "kid"], reference="ref_features.npz")   # doctest: +SKIP
    >>> for images in batches: ev.update(images)                         # doctest: +SKIP
    >>> ev.compute()  # {"fid": ..., "kid_mean": ..., "kid_std": ..., "n1": ..., "n2": ..., "dims": ...}

    Parameters
    ----------
    metrics
        Names from ``METRICS``: ``fid``, ``fd``, ``cmmd``, ``is``, ``kid``, ``mmd``, ``sinkhorn``, ``emd``, ``prdc``.
    reference
        The reference side (unused by ``is``): a statistics npz (FID only), a feature file (.npy / .npz), an
        image folder or .zip, a tensor of images (N, 3, H, W) read like the generated ones, or with
        ``features="raw"`` a (N, d) array of features; also a ``FeatureStats``. Computed once, here.
    features
        ``"inception"`` (batches are images, run through ``extractor``; the historic name) or ``"raw"`` (batches
        are feature rows, e.g. 2-D points of a toy GAN).
    extractor
        The feature extractor for images: a name of ``ganmetrics.features.extractors.EXTRACTORS`` (e.g.
        ``"dinov2-vit-l-14"`` for FD_DINOv2 with ``"fd"``), ``"package.module:factory"``, or your own
        ``torch.nn.Module``/callable. None: the one the metrics are defined with (``cmmd``: CLIP ViT-L/14@336;
        ``prdc`` alone: VGG16), else the FID Inception. ``fid`` and ``is`` refuse any other than Inception.
    weights, resize, device, input_range, batch_size
        How images become features (see :class:`ImageFeatures`).
    numerics
        The network's numeric mode (``features.extract.NUMERICS``): "fp32" (default, the peers' numbers),
        "fp32-fast", "bf16", "fp16"; recorded in the provenance, so references made in another mode are refused.
    num_workers, skip_bad, recursive
        How an image folder or zip reference is read (see ``extract_features``): DataLoader workers, skipping
        unreadable files with a warning instead of failing, and reading subfolders.
    max_samples
        Most generated samples kept for the metrics that need them all (KID, MMD, Sinkhorn, EMD, IS).
    metric_kwargs
        Keywords of each metric's function, by metric name: ``{"kid": {"subset_size": 500}, "sinkhorn":
        {"reg": 0.1}}``; checked against the function's signature here.
    seed
        Seed of KID's subsets and MMD's median-heuristic subsample, unless ``metric_kwargs`` sets one.
    allow_mismatch
        Compare with a reference made differently (extractor, weights, resize mode, dims) instead of refusing.
    reference_cache
        An .npz path (image references only): the reference's features (or statistics, when only FID needs
        them) are written there atomically with their provenance, and read back instead of recomputed when the
        source (path, file names, sizes and times; or the tensor's bytes) and the extractor match.
    sync
        Whether ``compute()`` and the reference extraction communicate under ``torch.distributed`` (None: when
        it is initialised). See the module docstring for the collective contract.

    Raises ``ValueError`` for an unknown metric name or keyword, a missing reference, or a reference made
    differently from these features (``ProvenanceMismatchError``, naming both sides); ``compute()`` raises
    ``ValueError`` before any ``update()``.
    """

    def __init__(
        self,
        metrics: Sequence[str] = ("fid",),
        reference: Any = None,
        *,
        features: str = "inception",
        weights: str | Path | None = None,
        resize: str = DEFAULTS["extract_protocol"],
        device: str | torch.device | None = None,
        input_range: tuple[float, float] | None = None,
        batch_size: int = DEFAULTS["extract_batch_size"],
        num_workers: int | None = DEFAULTS["extract_num_workers"],
        max_samples: int = DEFAULTS["evaluator_max_samples"],
        metric_kwargs: dict[str, dict[str, Any]] | None = None,
        seed: int = DEFAULTS["seed"],
        allow_mismatch: bool = False,
        reference_cache: str | Path | None = None,
        sync: bool | None = None,
        extractor: Any = None,
        numerics: str = DEFAULTS["extract_numerics"],
        skip_bad: bool = False,
        recursive: bool = False,
    ) -> None:
        names = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = [m for m in names if m not in EVALUATED]
        if unknown or not names:
            raise ValueError(f"metrics: unknown {unknown or 'empty list'}; valid names are {', '.join(EVALUATED)}")
        if features not in FEATURE_KINDS:
            raise ValueError(f"features: must be one of {FEATURE_KINDS}, got {features!r}")
        self.features, self.sync, self.allow_mismatch = features, sync, allow_mismatch
        self.num_workers = num_workers
        self.metrics: dict[str, MetricSpec] = {name: get_metric(name) for name in dict.fromkeys(names)}
        self.kwargs = _metric_kwargs(self.metrics, metric_kwargs or {}, seed)
        if extractor is None:
            extractor = feature_space(list(self.metrics.values()))
        self.extractor = None
        if features != "raw":
            check_feature_space(list(self.metrics.values()), extractor)
            self.extractor = ImageFeatures(
                weights, resize, device, input_range, batch_size, extractor, numerics, skip_bad, recursive
            )
        self.feature = self.extractor.feature if self.extractor is not None else "pool3"
        self._stores: dict[tuple[str, bool], RowStore | MomentStore] = {}
        for spec in self.metrics.values():
            key = _store_key(spec, self.feature)
            if key not in self._stores:
                users = ", ".join(n for n, s in self.metrics.items() if _store_key(s, self.feature) == key)
                self._stores[key] = (MomentStore if key[1] else RowStore)(f"{users} ({key[0]})", max_samples)
        self.reference: Reference | None = None
        referenced = [spec for spec in self.metrics.values() if spec.needs_reference]
        if referenced:
            if reference is None:
                raise ValueError(f"reference: {referenced[0].name} needs a reference (stats, features or images)")
            needing_rows = [spec.name for spec in referenced if spec.consumes == ROWS]
            self.reference = self._load_reference(reference, bool(needing_rows), reference_cache)
            if needing_rows:
                self.reference.require_rows(needing_rows[0])
            self._check_reference()
        elif reference_cache is not None:
            raise ValueError(f"reference_cache: {', '.join(self.metrics)} use no reference")

    # -- the generated side -------------------------------------------------------------------------------------
    def update(self, batch: torch.Tensor | np.ndarray) -> None:
        """Add a batch of generated images (or feature rows); the network runs once for all metrics."""
        wanted = tuple(dict.fromkeys(feature for feature, _ in self._stores))
        if self.features == "raw":
            rows = torch.as_tensor(batch)
            if rows.ndim != 2 or rows.shape[0] == 0:
                raise ValueError(f"batch: raw features must be (N, d) rows with N >= 1, got shape {tuple(rows.shape)}")
            if self.reference is not None and rows.shape[1] != self.reference.dims:
                raise ValueError(
                    f"batch: has {rows.shape[1]} feature dimensions, the reference has {self.reference.dims}"
                )
            outputs = dict.fromkeys(wanted, rows)
        else:
            outputs = self._images()(torch.as_tensor(batch), wanted)
        for (feature, _), store in self._stores.items():
            store.add(outputs[feature])

    def reset(self) -> None:
        """Forget the generated samples; the reference is kept."""
        for store in self._stores.values():
            store.clear()

    def compute(self, sync: bool | None = None) -> dict[str, float]:
        """Return every metric's values in one dict by ``ganmetrics.keys`` name, with ``n1`` (reference count),
        ``n2`` (generated count) and ``dims``.

        With ``sync`` (default: the constructor's; None meaning "when torch.distributed is initialised") this
        is a collective: every rank must call it, and every rank gets the values of all ranks' samples.
        ``sync=False`` uses this rank's samples only and communicates nothing. Raises ``ValueError`` before any
        ``update()`` (on every rank, when syncing).
        """
        syncing = resolve_sync(self.sync if sync is None else sync)
        collected = {key: store.collect(syncing) for key, store in self._stores.items()}

        def values() -> dict[str, float]:
            result: dict[str, float] = {}
            # Metrics without a reference first, so that the reference metrics' sizes are the ones reported.
            for name, spec in sorted(self.metrics.items(), key=lambda item: item[1].needs_reference):
                generated = collected[_store_key(spec, self.feature)]
                if generated is None:
                    raise ValueError(f"{name}: compute() was called before any update()")
                result.update(_values(spec, generated, self.reference, self.kwargs[name]))
            return result

        return compute_on_rank0(values) if syncing else values()

    # -- the reference side -------------------------------------------------------------------------------------
    def _load_reference(self, reference: Any, need_rows: bool, cache: str | Path | None) -> Reference:
        if isinstance(reference, (FeatureStats, LoadedStats)) or (
            isinstance(reference, (str, Path)) and not is_image_source(resolve_reference_path(reference))
        ):
            if cache is not None:
                raise ValueError("reference_cache: the reference is already statistics or a feature file")
            return _reference_from_source(reference, self.extractor)
        if self.features == "raw":
            if cache is not None:
                raise ValueError("reference_cache: raw feature references are used as they are; nothing to cache")
            rows = torch.as_tensor(reference).detach().to("cpu", torch.float32)
            if rows.ndim != 2 or rows.shape[0] < 2:
                raise ValueError(f"reference: raw features must be (N, d) rows with N >= 2, got {tuple(rows.shape)}")
            return Reference(rows, None, {"n": int(rows.shape[0]), "dims": int(rows.shape[1])})
        syncing = resolve_sync(self.sync)
        if cache is None:
            return self._extract_reference(reference, need_rows, syncing)
        cache = Path(cache)
        if cache.suffix.lower() != ".npz":
            raise ValueError(f"reference_cache: {cache} must end in .npz")
        fingerprint = self._fingerprint(reference)
        cached = self._read_cache(cache, fingerprint, need_rows)
        usable = all_ranks_true(cached is not None) if syncing else cached is not None
        if usable and cached is not None:
            return cached
        fresh = self._extract_reference(reference, need_rows, syncing)
        if not syncing or rank_and_world_size()[0] == 0:
            meta = {**fresh.metadata, "reference_fingerprint": fingerprint}
            if isinstance(fresh.stats, FeatureStats):
                save_stats(cache, fresh.stats, meta)
            else:
                save_features(cache, {"features": fresh.require_rows("reference_cache").numpy()}, meta)
        return fresh

    def _extract_reference(self, reference: Any, need_rows: bool, syncing: bool) -> Reference:
        """Run the network on an image reference (in shards over the ranks when syncing)."""
        images = self._images()
        is_path = isinstance(reference, (str, Path))
        source = reference if is_path else images.to_unit(torch.as_tensor(reference))
        extraction = extract_features_distributed(
            source,
            sync=syncing,
            extractor=images.loader.options.extractor,
            model=images.model,
            resize=images.resize,
            outputs=(self.feature,),
            batch_size=images.batch_size,
            num_workers=self.num_workers if is_path else 0,
            numerics=images.loader.options.numerics,
            skip_bad=images.loader.options.skip_bad,
            recursive=images.loader.options.recursive,
            progress=False,
        )
        rows = torch.from_numpy(extraction.features[self.feature])
        meta = {**extraction.metadata, **self._provenance(), "n": int(rows.shape[0])}
        if need_rows:
            return Reference(rows, None, meta)
        return Reference(None, FeatureStats.from_features(rows, "reference"), meta)

    def _images(self) -> ImageFeatures:
        """The image extractor; ``ValueError`` when this evaluator takes raw feature rows."""
        if self.extractor is None:
            raise ValueError("features: this Evaluator takes raw feature rows (features='raw'), not images")
        return self.extractor

    def _provenance(self) -> dict[str, Any]:
        """How this evaluator's features are made (the record ``check_comparable`` compares)."""
        return self._images().metadata

    def _fingerprint(self, reference: Any) -> str:
        """Identify an image source: path, file names, sizes and modification times; or a tensor's bytes."""
        digest = hashlib.sha256()
        if isinstance(reference, (str, Path)):
            root = Path(reference).resolve()
            digest.update(str(root).encode())
            files = list_image_files(root) if root.is_dir() else [root]
            for path in files:
                stat = path.stat()
                digest.update(
                    f"\n{path.relative_to(root) if root.is_dir() else ''}:{stat.st_size}:{stat.st_mtime_ns}".encode()
                )
        else:
            images = torch.as_tensor(reference).detach().cpu().contiguous()
            digest.update(f"{images.dtype}{tuple(images.shape)}{self._images().input_range}".encode())
            digest.update(images.reshape(-1).view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()

    def _read_cache(self, path: Path, fingerprint: str, need_rows: bool) -> Reference | None:
        """Return the cached reference when it exists, is readable and was made from this source this way."""
        if not path.is_file():
            return None
        try:
            if is_stats_file(path):
                if need_rows:
                    return None
                loaded = load_stats(path)
                ref = Reference(None, loaded, {**loaded.metadata, "dims": int(loaded.mu.shape[0])})
            else:
                stored = load_features(path)
                ref = Reference(torch.from_numpy(stored.get("features")).float(), None, stored.metadata)
        except ValueError:
            return None
        ours = self._provenance()
        if ref.metadata.get("reference_fingerprint") != fingerprint:
            return None
        if any(normalise(ref.metadata).get(key) != ours[key] for key in _CACHE_FIELDS):
            return None
        return ref

    def _check_reference(self) -> None:
        """Refuse a reference made differently from the generated features (names both sides)."""
        if self.extractor is not None and self.reference is not None:
            check_comparable(
                self.reference.metadata, self._provenance(), ("reference", "generated features"), self.allow_mismatch
            )


def _reference_from_source(reference: Any, images: ImageFeatures | None) -> Reference:
    """The reference from FeatureStats, LoadedStats, ``ref:NAME``, a statistics npz or a feature file, resolved by
    the inputs room like any CLI input (no network needed); a feature file's ``features`` array is read as the
    extractor's default output."""
    loader = InputLoader(images.loader.options if images is not None else ExtractionOptions(progress=False))
    if isinstance(reference, (FeatureStats, LoadedStats)) or is_stats_file(resolve_reference_path(reference)):
        side = loader.side(reference, "reference", (STATS,))
        return Reference(None, side.stats, side.metadata)
    side = loader.side(reference, "reference", (ROWS,))
    return Reference(torch.from_numpy(np.asarray(side.rows(loader.feature), dtype=np.float32)), None, side.metadata)


def _store_key(spec: MetricSpec, feature: str) -> tuple[str, bool]:
    """The generated-side store a metric reads: (output name, whether it streams statistics); ``feature`` is the
    extractor's default output (pool3 for inception)."""
    return (LOGITS_OUTPUT if spec.consumes == LOGITS else feature, spec.consumes == STATS)


def _values(spec: MetricSpec, generated: Any, reference: Reference | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The metric's values by output key (its registry spec computes them) and the sizes of both sides."""
    if spec.consumes == LOGITS:
        return {
            **spec.value(None, generated, kwargs),
            keys.N2: int(generated.shape[0]),
            keys.DIMS: int(generated.shape[1]),
        }
    if reference is None:
        raise ValueError(f"reference: {spec.name} needs a reference")
    if spec.consumes == STATS:  # the reference's factorisation, computed once, against the streamed statistics
        values = spec.value(reference.frechet(), generated, kwargs)
        return {**values, keys.N1: reference.n, keys.N2: generated.n, keys.DIMS: generated.dims}
    rows = reference.require_rows(spec.name)
    return {
        **spec.value(rows, generated, kwargs),
        keys.N1: reference.n,
        keys.N2: int(generated.shape[0]),
        keys.DIMS: int(generated.shape[1]),
    }


def _metric_kwargs(
    metrics: dict[str, MetricSpec], given: dict[str, dict[str, Any]], seed: int
) -> dict[str, dict[str, Any]]:
    """Return each metric's function keywords (its spec's options, validated), with ``seed`` where it takes one."""
    unknown = [m for m in given if m not in metrics]
    if unknown:
        raise ValueError(f"metric_kwargs: names metrics not requested: {', '.join(unknown)}")
    result = {}
    for name, spec in metrics.items():
        options = dict(given.get(name, {}))
        if any(option.name == "seed" for option in spec.options):
            options.setdefault("seed", seed)
        try:
            result[name] = spec.kwargs(options)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"metric_kwargs: {name}: {exc}") from None
    return result


class Metric:
    """One metric as an object with ``update()`` / ``compute()`` / ``reset()`` (torchmetrics style).

    It holds its registry spec and an :class:`Evaluator` of that one metric (composition: the Evaluator keeps the
    reference and the generated store). ``FID(reference="stats.npz", input_range=(-1, 1))``; keywords that are
    not :class:`Evaluator` options are the metric's options (its spec), e.g. ``KID(reference, features="raw",
    subset_size=100)``.
    """

    name: ClassVar[str] = ""

    def __init__(self, reference: Any = None, **options: Any) -> None:
        own = {key: options.pop(key) for key in list(options) if key not in _EVALUATOR_OPTIONS}
        self.spec = get_metric(self.name)
        self.evaluator = Evaluator([self.name], reference, metric_kwargs={self.name: own} if own else None, **options)

    def update(self, batch: torch.Tensor | np.ndarray) -> None:
        """Add a batch of generated images (or feature rows)."""
        self.evaluator.update(batch)

    def compute(self, sync: bool | None = None) -> dict[str, float]:
        """Return the metric's values by output key, with the sizes (see :meth:`Evaluator.compute`)."""
        return self.evaluator.compute(sync)

    def reset(self) -> None:
        """Forget the generated samples; the reference is kept."""
        self.evaluator.reset()


class FID(Metric):
    """Fréchet Inception Distance against a fixed reference; the generated side streams float64 statistics."""

    name = "fid"


class InceptionScore(Metric):
    """Inception Score of the generated images (logits without the fc bias, as the original implementation)."""

    name = "is"


class KID(Metric):
    """Kernel Inception Distance (cubic polynomial kernel, seeded subsets) against the reference features."""

    name = "kid"


class MMD(Metric):
    """Unbiased Gaussian-kernel MMD² against the reference features (median-heuristic bandwidth by default)."""

    name = "mmd"


class Sinkhorn(Metric):
    """Entropic OT cost (log-domain Sinkhorn) against the reference features; needs ``reg``."""

    name = "sinkhorn"


class SinkhornDivergence(Metric):
    """Debiased Sinkhorn divergence (Feydy et al. 2019) against the reference features; needs ``reg``."""

    name = "sinkhorn_divergence"


class EMD(Metric):
    """Exact earth mover's distance against the reference features."""

    name = "emd"


class PRDC(Metric):
    """Precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020) against the
    reference features (k-NN manifolds, see ``ganmetrics.metrics.prdc``)."""

    name = "prdc"


# The registry's metrics the Evaluator streams (the extrapolated and test metrics need every sample at once).
EVALUATED = ("fid", "fd", "cmmd", "is", "kid", "mmd", "sinkhorn", "sinkhorn_divergence", "emd", "prdc")
_EVALUATOR_OPTIONS = frozenset(inspect.signature(Evaluator.__init__).parameters) - {
    "self",
    "metrics",
    "reference",
    "metric_kwargs",
}


def evaluate_generator(
    generator_fn: Callable[[torch.Tensor], torch.Tensor] | torch.nn.Module,
    n: int,
    batch_size: int,
    seed: int,
    reference: Any = None,
    *,
    latent_dim: int | None = None,
    latent_fn: Callable[[int, torch.Generator], torch.Tensor] | None = None,
    device: str | torch.device | None = None,
    evaluator: Evaluator | None = None,
    **evaluator_kwargs: Any,
) -> dict[str, float]:
    """Return the metrics of ``n`` samples of a generator, drawn under ``torch.no_grad()`` reproducibly.

    Latents come from ``latent_fn(batch, generator)`` or, given ``latent_dim``, ``torch.randn`` on the CPU, both
    drawing from a ``torch.Generator`` seeded with ``seed`` (so CPU and GPU runs see the same latents). Before
    batch ``b`` the global RNG is seeded from ``(seed, b)`` (numpy ``SeedSequence``), so generators that draw
    noise of their own are reproducible too; the caller's RNG state is restored afterwards (evaluating does not
    change a training run's random stream), and so is a module's train/eval mode.

    ``evaluator`` reuses an :class:`Evaluator` (its network and reference; it is reset first); otherwise one is
    built from ``reference`` and ``evaluator_kwargs``. When it syncs under ``torch.distributed``, rank ``r`` of
    ``W`` generates a contiguous block of the batches, so the values equal a single-process run (every rank
    must call this). Raises ``ValueError`` for bad ``n``, ``batch_size``, ``seed`` or latent arguments.
    """
    if (latent_dim is None) == (latent_fn is None):
        raise ValueError("latent_dim, latent_fn: give exactly one")
    draw = latent_fn if latent_fn is not None else _normal_latents(int(latent_dim or 0))
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n: needs an integer number of samples >= 2, got {n!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    if evaluator is None:
        evaluator = Evaluator(reference=reference, device=device, **evaluator_kwargs)
    elif reference is not None or evaluator_kwargs:
        raise ValueError("evaluator: pass an Evaluator or the reference and its options, not both")
    evaluator.reset()
    starts = range(0, n, batch_size)
    rank, world = rank_and_world_size() if resolve_sync(evaluator.sync) else (0, 1)
    mine = range(rank * len(starts) // world, (rank + 1) * len(starts) // world)
    module = generator_fn if isinstance(generator_fn, torch.nn.Module) else None
    was_training = module.training if module is not None else False
    target = torch.device(device) if device is not None else _module_device(module)
    cuda_devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    latents = torch.Generator().manual_seed(seed)
    if module is not None:
        module.eval()
    try:
        with torch.random.fork_rng(devices=cuda_devices), torch.no_grad():
            for b, start in enumerate(starts):
                size = min(batch_size, n - start)
                z = draw(size, latents)
                if b in mine:
                    torch.manual_seed(int(np.random.SeedSequence([seed, b]).generate_state(1, np.uint64)[0]))
                    evaluator.update(generator_fn(z.to(target)))
    finally:
        if module is not None:
            module.train(was_training)
    return evaluator.compute()


def _normal_latents(dims: int) -> Callable[[int, torch.Generator], torch.Tensor]:
    """The default latent draw: ``torch.randn(size, dims)`` on the CPU from the given generator."""

    def draw(size: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(size, dims, generator=generator)

    return draw


def _module_device(module: torch.nn.Module | None) -> torch.device:
    if module is None:
        return torch.device("cpu")
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")
