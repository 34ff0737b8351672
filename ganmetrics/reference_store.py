"""The shipped reference statistics: ``reference_stats/`` and its ``manifest.json``; ``ref:NAME`` paths.

Each manifest entry names one file (a feature npz or a stats npz, see ``ganmetrics.io``) with its SHA-256, its
size, the data it was computed from, its metadata record and the command that regenerates it. A file is
hash-checked every time ``ref:NAME`` is resolved, so a corrupted or replaced file is never used silently.

Only what can be computed honestly without the trained Inception weights or real datasets is shipped:

- ``ring8-*``, ``grid25-*``: samples of the built-in 2-D mixtures of ``ganmetrics.mixtures`` (raw
  coordinates, float32 as the sampler returns them), as features (for KID, MMD, Sinkhorn, EMD and FID) and as
  2-D Gaussian statistics;
- ``synthetic-32px-inception-pytorch-fid-random-weights``: pool3 features and bias-free logits of
  ``synthetic_images`` under the *seeded random* FID Inception weights (``ganmetrics.features.random_weights``,
  seed 0), preprocessed with the ``pytorch-fid`` protocol. These numbers mean nothing about image quality; they
  exist for pipeline regression tests.

Names: a reference of extracted features names its extractor and preprocessing protocol
(``DATA-EXTRACTOR-PROTOCOL[-NOTE]``, as ``reference_name`` builds it), since numbers from different feature
spaces or protocols are not comparable (the metadata, which ``provenance.check_comparable`` compares, records
both too). The 2-D mixture samples are their own features (extractor ``raw-coordinates``, no protocol) and keep
the plain ``MIXTURE-N[-stats]`` names.

Regenerate everything (rewrites the files and the manifest)::

    ganmetrics ref regenerate [--root reference_stats] [--only mixtures|synthetic]

The store is found at ``$GANMETRICS_REFERENCE_DIR`` when set, else at ``reference_stats/`` beside the package.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganmetrics._version import __version__
from ganmetrics.features.extract import extract_features
from ganmetrics.features.extractors.inception import INCEPTION, load_fid_inception
from ganmetrics.features.random_weights import make_random_fid_inception_weights
from ganmetrics.features.weights import sha256_file
from ganmetrics.io.atomic import atomic_write
from ganmetrics.io.features_file import load_features, save_features
from ganmetrics.io.stats_file import load_stats, save_stats
from ganmetrics.metrics.statistics import FeatureStats
from ganmetrics.mixtures import MIXTURES

REFERENCE_PREFIX = "ref:"
REFERENCE_DIR_ENV = "GANMETRICS_REFERENCE_DIR"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
KINDS = ("features", "stats")
RAW_EXTRACTOR = "raw-coordinates"
_ENTRY_FIELDS = ("name", "file", "kind", "sha256", "bytes", "source", "metadata", "command")
_REGENERATE = "ganmetrics ref regenerate"
# Standard sample sizes of the 2-D references: the trainer's evaluation size (DEFAULTS["train_eval_samples"]) and
# the usual 10k; the seed of every shipped sample.
MIXTURE_SIZES = (2500, 10_000)
MIXTURE_SEED = 0
SYNTHETIC_IMAGES = 32
SYNTHETIC_SIZE = 32
SYNTHETIC_SEED = 0
RANDOM_WEIGHTS_SEED = 0


def reference_name(data: str, extractor: str, protocol: str, note: str = "") -> str:
    """Return the name of a reference of ``data``'s features under ``extractor`` (a name of
    ``features.extractors.EXTRACTORS``) and ``protocol``: ``DATA-EXTRACTOR-PROTOCOL`` plus ``-NOTE`` if given."""
    return "-".join(part for part in (data, extractor, protocol, note) if part)


class ReferenceStoreError(ValueError):
    """A reference name is unknown, a manifest is malformed, or a shipped file is missing or altered."""


@dataclass(frozen=True)
class ReferenceEntry:
    """One manifest entry: the file (relative to the store), kind, SHA-256, size, source, metadata, command."""

    name: str
    file: str
    kind: str
    sha256: str
    bytes: int
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)
    command: str = ""


@dataclass(frozen=True)
class Verification:
    """The state of one entry's file: ``"ok"``, ``"missing"`` or ``"mismatch"`` (with the hash found)."""

    name: str
    path: Path
    status: str
    detail: str = ""


def default_root() -> Path:
    """Return the store folder: ``$GANMETRICS_REFERENCE_DIR``, else ``reference_stats/`` beside the package."""
    configured = os.environ.get(REFERENCE_DIR_ENV)
    if configured:
        return Path(configured)
    import ganmetrics.reference_stats  # the top-level reference_stats/ folder, installed as this package

    return Path(ganmetrics.reference_stats.__file__).resolve().parent


class ReferenceStore:
    """The reference files of one folder, read through its ``manifest.json``."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def entries(self) -> list[ReferenceEntry]:
        """Return the manifest's entries in file order.

        Raises ``ReferenceStoreError`` naming the manifest when it is missing, not JSON, or an entry lacks a field.
        """
        path = self.manifest_path
        if not path.is_file():
            raise ReferenceStoreError(f"{path}: no reference manifest (regenerate with: {_REGENERATE})")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ReferenceStoreError(f"{path}: not a readable JSON manifest ({exc})") from None
        raw = manifest.get("entries") if isinstance(manifest, dict) else None
        if not isinstance(raw, list):
            raise ReferenceStoreError(f"{path}: expected an object with an 'entries' list")
        entries = []
        for index, item in enumerate(raw):
            missing = [key for key in _ENTRY_FIELDS if not isinstance(item, dict) or key not in item]
            if missing:
                raise ReferenceStoreError(f"{path}: entry {index} lacks {', '.join(missing)}")
            entries.append(ReferenceEntry(**{key: item[key] for key in _ENTRY_FIELDS}))
        return entries

    def entry(self, name: str) -> ReferenceEntry:
        """Return the entry ``name``; ``ReferenceStoreError`` listing the known names when there is none."""
        entries = self.entries()
        for entry in entries:
            if entry.name == name:
                return entry
        known = ", ".join(e.name for e in entries) or "none"
        raise ReferenceStoreError(
            f"{REFERENCE_PREFIX}{name}: no such reference in {self.manifest_path} (known: {known})"
        )

    def check(self, entry: ReferenceEntry) -> Verification:
        """Return whether the entry's file exists and has the recorded SHA-256."""
        path = self.root / entry.file
        if not path.is_file():
            return Verification(entry.name, path, "missing", f"{path}: file missing")
        found = sha256_file(path)
        if found != entry.sha256:
            return Verification(
                entry.name,
                path,
                "mismatch",
                f"{path}: SHA-256 {found} does not match the manifest's {entry.sha256} (corrupted or replaced)",
            )
        return Verification(entry.name, path, "ok")

    def verify(self) -> list[Verification]:
        """Return the state of every entry's file (see :meth:`check`)."""
        return [self.check(entry) for entry in self.entries()]

    def path(self, name: str) -> Path:
        """Return the hash-checked file of reference ``name``; ``ReferenceStoreError`` naming the file otherwise."""
        result = self.check(self.entry(name))
        if result.status != "ok":
            raise ReferenceStoreError(f"{REFERENCE_PREFIX}{name}: {result.detail}")
        return result.path


def is_reference(path: str | os.PathLike) -> bool:
    """Return whether ``path`` names a shipped reference (``ref:NAME``)."""
    return str(path).startswith(REFERENCE_PREFIX)


def resolve_reference_path(path: str | os.PathLike, store: ReferenceStore | None = None) -> Path:
    """Return ``path`` as a ``Path``, or, for ``ref:NAME``, the hash-checked file of that shipped reference."""
    if not is_reference(path):
        return Path(path)
    return (store or ReferenceStore()).path(str(path)[len(REFERENCE_PREFIX) :])


# -- deterministic inputs --------------------------------------------------------------------------------------


def synthetic_images(n: int, size: int = SYNTHETIC_SIZE, seed: int = SYNTHETIC_SEED) -> torch.Tensor:
    """Return ``n`` deterministic uint8 RGB images (n, 3, size, size): coloured blocks plus integer noise.

    Each image is a ``b x b`` grid of random colours (``b`` drawn from {2, 4, 8}) upsampled by repetition, plus
    uniform integer noise in [-24, 24], clipped to [0, 255]. Everything is drawn from numpy's PCG64 generator
    seeded with ``seed`` and computed in integers, so the images are bit-identical on every machine.

    Raises ``ValueError`` when ``n < 1`` or ``size`` is not a positive multiple of 8.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    if not isinstance(size, int) or size < 8 or size % 8:
        raise ValueError(f"size: expected a positive multiple of 8, got {size!r}")
    rng = np.random.default_rng(seed)
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    for i in range(n):
        blocks = int(rng.choice([2, 4, 8]))
        coarse = rng.integers(0, 256, (3, blocks, blocks), dtype=np.int64)
        repeat = size // blocks
        smooth = np.repeat(np.repeat(coarse, repeat, axis=1), repeat, axis=2)
        noise = rng.integers(-24, 25, (3, size, size), dtype=np.int64)
        images[i] = np.clip(smooth + noise, 0, 255)
    return torch.from_numpy(images)


def mixture_sample(name: str, n: int, seed: int = MIXTURE_SEED) -> np.ndarray:
    """Return ``n`` float32 points of the built-in 2-D mixture ``name`` (``ganmetrics.mixtures.MIXTURES``),
    drawn by ``Mixture2D.sample`` from a CPU ``torch.Generator`` seeded with ``seed``."""
    if name not in MIXTURES:
        raise ValueError(f"name: unknown mixture {name!r}; choose from {', '.join(MIXTURES)}")
    return MIXTURES[name]().sample(n, torch.Generator().manual_seed(seed)).numpy()


# -- regeneration ----------------------------------------------------------------------------------------------


@dataclass
class _Built:
    name: str
    kind: str
    arrays: dict[str, np.ndarray]
    metadata: dict[str, Any]
    source: str


def _build_mixtures() -> list[_Built]:
    built = []
    for mixture in MIXTURES:
        described = MIXTURES[mixture]()
        source = (
            f"ganmetrics.train.data.{mixture}: {len(described.centres)} equal-weight isotropic Gaussians "
            f"(sigma {described.sigma}); Mixture2D.sample(n, torch.Generator().manual_seed({MIXTURE_SEED}))"
        )
        for n in MIXTURE_SIZES:
            points = mixture_sample(mixture, n)
            meta = {
                "extractor": RAW_EXTRACTOR,
                "weights_sha256": None,
                "resize": None,
                "n": n,
                "dims": 2,
                "mixture": mixture,
                "seed": MIXTURE_SEED,
                "torch_version": torch.__version__,
            }
            built.append(_Built(f"{mixture}-{n}", "features", {"features": points}, meta, source))
            if n == max(MIXTURE_SIZES):
                built.append(_Built(f"{mixture}-{n}-stats", "stats", {"features": points}, meta, source))
    return built


def _build_synthetic() -> list[_Built]:
    with tempfile.TemporaryDirectory() as tmp:
        weights = make_random_fid_inception_weights(Path(tmp) / "random.pth", seed=RANDOM_WEIGHTS_SEED)
        model, sha256 = load_fid_inception(weights, "cpu", download=False)
    images = synthetic_images(SYNTHETIC_IMAGES, SYNTHETIC_SIZE, SYNTHETIC_SEED)
    extraction = extract_features(
        images, model=model, outputs=("pool3", "logits_unbiased"), num_workers=0, progress=False
    )
    meta = {
        **extraction.metadata,
        "weights_sha256": sha256,
        "weights": (
            f"seeded random FID Inception v3 weights (ganmetrics.features.random_weights."
            f"make_random_fid_inception_weights, seed {RANDOM_WEIGHTS_SEED}), not the trained ones"
        ),
        "dims": 2048,
    }
    source = (
        f"ganmetrics.reference_store.synthetic_images({SYNTHETIC_IMAGES}, size={SYNTHETIC_SIZE}, "
        f"seed={SYNTHETIC_SEED}) through the seeded random-weight FID Inception v3; the features mean "
        "nothing about image quality (pipeline regression tests only)"
    )
    arrays = {"features": extraction.features["pool3"], "logits_unbiased": extraction.features["logits_unbiased"]}
    name = reference_name(f"synthetic-{SYNTHETIC_SIZE}px", INCEPTION.name, meta["resize"], "random-weights")
    return [_Built(name, "features", arrays, meta, source)]


BUILDERS: dict[str, Callable[[], list[_Built]]] = {"mixtures": _build_mixtures, "synthetic": _build_synthetic}


def regenerate(root: str | Path | None = None, groups: tuple[str, ...] = tuple(BUILDERS)) -> list[ReferenceEntry]:
    """Recompute the reference files of ``groups`` (keys of ``BUILDERS``) into ``root``; return the manifest.

    Entries of other groups already in the manifest are kept; an entry of a regenerated group that its builder
    no longer makes (a renamed reference) is removed with its file. Files and manifest are written atomically.
    """
    store = ReferenceStore(root)
    unknown = [g for g in groups if g not in BUILDERS]
    if unknown:
        raise ValueError(f"groups: unknown {', '.join(unknown)}; choose from {', '.join(BUILDERS)}")
    fresh: dict[str, ReferenceEntry] = {}
    for group in groups:
        command = f"{_REGENERATE} --only {group}"
        for item in BUILDERS[group]():
            fresh[item.name] = _write(store.root, item, command)
    previous = store.entries() if store.manifest_path.is_file() else []
    rebuilt = tuple(f"--only {group}" for group in groups)
    kept = [e for e in previous if e.name not in fresh and not e.command.endswith(rebuilt)]
    entries = sorted(kept + list(fresh.values()), key=lambda e: e.name)
    manifest = {"format": MANIFEST_FORMAT, "ganmetrics_version": __version__, "entries": [asdict(e) for e in entries]}
    with atomic_write(store.manifest_path, "w") as handle:
        handle.write(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    listed = {e.file for e in entries}
    for dropped in previous:
        if dropped.file not in listed:
            (store.root / dropped.file).unlink(missing_ok=True)
    return entries


def _write(root: Path, item: _Built, command: str) -> ReferenceEntry:
    """Write one built reference into ``root`` and return its manifest entry."""
    target = root / f"{item.name}.npz"
    meta = {**item.metadata, "command": command, "ganmetrics_version": __version__}
    if item.kind == "stats":
        save_stats(target, FeatureStats.from_features(item.arrays["features"], item.name), meta)
        written = load_stats(target).metadata
    else:
        save_features(target, item.arrays, {**meta, "dtype": str(item.arrays["features"].dtype)})
        written = load_features(target).metadata
    return ReferenceEntry(
        item.name, target.name, item.kind, sha256_file(target), target.stat().st_size, item.source, written, command
    )
