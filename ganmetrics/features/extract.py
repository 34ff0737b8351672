"""Images -> FID Inception features: the DataLoader pipeline that feeds the network.

Each image is decoded and preprocessed on its own (a batch of one through ``protocols.preprocess``) inside the
DataLoader workers, so folders of mixed sizes work and resizing overlaps with the network; bilinear resizing
of one image equals resizing it within a batch, so this changes no number. The resize runs on one CPU thread
wherever it runs (the workers have one; with ``num_workers=0`` it is forced), because torch's CPU resize
rounds differently on several threads (by up to 2e-7): the features do not depend on ``num_workers``.
The network's own CPU convolutions also round differently with the thread count (about 2e-6 relative), so
features computed on machines with different core counts agree to float32 rounding, not bit for bit.
Features come back in input order (sorted file order for folders and zips), as float32 numpy arrays. This
module knows nothing of metrics.

Numerics
    ``"fp32"`` (default) is exact float32: TF32 is switched off for matmuls and convolutions (CUDA, cuDNN,
    oneDNN) and cuDNN is made deterministic for the duration of the extraction (``exact_float32``), then the
    caller's settings are restored. ``"bf16"`` and ``"fp16"`` run the network under ``torch.autocast`` (both
    work on the CPU too). Measured on the CPU with the tests' seeded random weights (the real weights were not
    at hand; random weights amplify rounding, so these are upper estimates) on 3-12 noise images: pool3
    deviates from fp32 by 0.10-0.16 (bf16) and 0.02-0.04 (fp16) in relative Frobenius norm. They are for
    throughput, not for reported numbers. ``"fp32-fast"`` stays in exact float32 but folds BatchNorm into the
    convolutions (``inception.fold_batchnorm``) and runs channels-last: faster on the CPU (see bench/RESULTS.md),
    with pool3 moved by rounding only (up to 4.5e-5 of max |pool3| on the same random weights).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ganmetrics._version import __version__
from ganmetrics.defaults import DEFAULTS
from ganmetrics.features.extractors import ExtractorSpec, get_extractor, load_extractor
from ganmetrics.features.extractors.inception import INCEPTION, FIDInceptionV3, fold_batchnorm
from ganmetrics.features.protocols import get_protocol
from ganmetrics.io.images import as_image_tensor, collate_skipping_bad, count_images, open_images
from ganmetrics.numerics import exact_float32, one_torch_thread
from ganmetrics.provenance import WEIGHTS_KIND

# The FID Inception network's id in result metadata (``fid-inception-v3/<output>``).
EXTRACTOR = INCEPTION.provenance_id
# Numeric modes of the network: the autocast dtype (None: float32 throughout, TF32 off). "fp32" is the reference
# computation; "fp32-fast" folds BatchNorm into the convolutions and runs channels-last (float32 still, rounded
# differently); bf16/fp16 autocast. Only "fp32" reproduces the peers' features bit for bit.
NUMERICS = {"fp32": None, "fp32-fast": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_FOLDED_CHANNELS_LAST = ("fp32-fast",)
_MAX_DEFAULT_WORKERS = 8


@dataclass
class Extraction:
    """Features of a set of images and how they were made.

    ``features[output]`` is a float32 (n, dim) array per requested output, rows in input order (skipped files
    left out). ``metadata`` holds: ``extractor`` ({output: "<extractor id>/<output>"}, e.g.
    "fid-inception-v3/pool3"), ``outputs``,
    ``weights_sha256`` (None when a model was passed in), ``resize``, ``n``, ``image_sizes`` (sorted
    ``[width, height, count]`` of the decoded images), ``skipped`` (names of skipped unreadable files),
    ``numerics``, ``device``, ``ganmetrics_version``, ``torch_version``.
    """

    features: dict[str, np.ndarray]
    metadata: dict[str, Any] = field(default_factory=dict)


class _NetworkInputs(Dataset):
    """Item ``i`` of ``images`` as ``(i, network input (3, S, S), (width, height))``; None if skipped.

    A bad item (unreadable file, wrong shape or range) is returned as its ``ValueError``/``TypeError``, not
    raised, and ``extract_features`` raises it in the main process: raised in a worker, DataLoader would wrap
    its message in worker traceback text and leave the workers to a slow (10 s) shutdown.
    """

    def __init__(self, images: Dataset | torch.Tensor, protocol: str, names: Sequence[str] | None, spec: ExtractorSpec):
        self.images = images
        self.apply = get_protocol(protocol).apply
        self.names = names
        self.min_size, self.extractor = spec.min_image_size, spec.name

    def __len__(self) -> int:
        return count_images(self.images)

    def name(self, index: int) -> str:
        return self.names[index] if self.names is not None else f"source[{index}]"

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor, tuple[int, int]] | Exception | None:
        try:
            item = self.images[index]
            if item is None:
                return None
            image = as_image_tensor(item, self.name(index))
            if min(image.shape[-2:]) < self.min_size:
                raise ValueError(
                    f"{self.name(index)}: {image.shape[-1]}x{image.shape[-2]} pixels, smaller than {self.extractor}'s "
                    f"{self.min_size}-pixel patch: the image holds less than one patch of detail"
                )
            with one_torch_thread():
                x = self.apply(image.unsqueeze(0))[0]
        except (ValueError, TypeError) as exc:
            return exc
        return index, x, (image.shape[-1], image.shape[-2])


def _collate(batch: list[Any]) -> tuple[list[Exception], Any]:
    """Return (the bad items' exceptions, ``collate_skipping_bad`` of the good items) for one batch."""
    failures = [item for item in batch if isinstance(item, Exception)]
    return failures, collate_skipping_bad([item for item in batch if not isinstance(item, Exception)])


def resolve_device(device: str | torch.device | None, model: torch.nn.Module | None = None) -> torch.device:
    """Return the device to run on: the one asked for, else the model's, else CUDA when available, else the CPU.

    The one device choice of the package (``None`` and ``"auto"`` choose). Raises ``ValueError`` when ``device``
    names no device (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ...), CUDA is asked for but unavailable, or
    ``device`` differs from the given model's.
    """
    if device is None or device == "auto":
        if model is not None:
            return next(model.parameters()).device
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: {device!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {str(device)!r} was asked for, but CUDA is not available on this machine")
    if model is not None and next(model.parameters()).device != resolved:
        raise ValueError(
            f"device: {str(resolved)!r} differs from the model's device {next(model.parameters()).device}; "
            "move the model or leave device=None"
        )
    return resolved


def _check_options(
    spec: ExtractorSpec, resize: str, outputs: Sequence[str], batch_size: int, num_workers: int | None, numerics: str
) -> None:
    """Raise ValueError naming the first bad option."""
    if resize not in spec.protocols:
        raise ValueError(f"resize: unknown mode {resize!r}; choose from {', '.join(spec.protocols)}")
    if isinstance(outputs, str) or not outputs:
        raise ValueError(f"outputs: expected a non-empty sequence of names, got {outputs!r}")
    unknown = [o for o in outputs if o not in spec.outputs]
    if unknown or len(set(outputs)) != len(outputs):
        raise ValueError(f"outputs: expected distinct names from {', '.join(spec.outputs)}, got {list(outputs)}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    if num_workers is not None and (not isinstance(num_workers, int) or num_workers < 0):
        raise ValueError(f"num_workers: expected a non-negative integer or None, got {num_workers!r}")
    if numerics not in NUMERICS:
        raise ValueError(f"numerics: expected one of {', '.join(NUMERICS)}, got {numerics!r}")
    if numerics in _FOLDED_CHANNELS_LAST and spec.family != "inception":
        raise ValueError(f"numerics: {numerics!r} folds the FID Inception's BatchNorm; {spec.name} has no such mode")


def _check_finite(rows: np.ndarray, output: str, names: list[str]) -> None:
    """Raise ``ValueError`` naming the first image whose ``output`` row holds NaN or Inf (bad weights, fp16)."""
    finite = np.isfinite(rows).all(axis=1)
    if not finite.all():
        first = int(np.argmin(finite))
        raise ValueError(
            f"{names[first]}: the network's {output} output is not finite (NaN or Inf) for this image "
            f"({int((~finite).sum())} of {len(names)} in its batch); the weights may be corrupt, or the precision "
            "too low for them"
        )


def _describe(source: Any) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__


def numeric_network(
    model: torch.nn.Module, numerics: str, device: torch.device
) -> tuple[torch.nn.Module, torch.memory_format, Callable[[], contextlib.AbstractContextManager]]:
    """Return the network as the numeric mode ``numerics`` runs it, its inputs' memory format, and its context.

    "fp32": the model as is, contiguous inputs, ``exact_float32`` (no TF32 or reduced-precision paths).
    "fp32-fast": a copy with BatchNorm folded (``inception.fold_batchnorm``), channels-last, ``exact_float32``.
    "bf16" / "fp16": the model as is under ``torch.autocast`` of that dtype on ``device``'s type. The one place
    both the folder/zip extraction and the in-memory ``inputs.NetworkRunner`` take their numeric mode from.

    Raises ``ValueError`` for "fp32-fast" on a network other than the FID Inception.
    """
    if numerics in _FOLDED_CHANNELS_LAST:
        if not isinstance(model, FIDInceptionV3):
            raise ValueError(f"numerics: {numerics!r} folds the FID Inception's BatchNorm; the model is not one")
        return fold_batchnorm(model).to(memory_format=torch.channels_last), torch.channels_last, exact_float32
    autocast_dtype = NUMERICS[numerics]
    if autocast_dtype is None:
        return model, torch.contiguous_format, exact_float32
    return model, torch.contiguous_format, lambda: torch.autocast(device.type, dtype=autocast_dtype)


def extract_features(
    source: str | os.PathLike | torch.Tensor | Dataset,
    *,
    extractor: str | ExtractorSpec | Callable[[torch.Tensor], torch.Tensor] = INCEPTION.name,
    model: torch.nn.Module | None = None,
    weights: str | Path | None = None,
    resize: str | None = None,
    outputs: Sequence[str] | None = None,
    batch_size: int | None = None,
    num_workers: int | None = DEFAULTS["extract_num_workers"],
    device: str | torch.device | None = None,
    numerics: str = DEFAULTS["extract_numerics"],
    progress: bool = True,
    skip_bad: bool = False,
    recursive: bool = False,
) -> Extraction:
    """Return the FID Inception features of every image of ``source``, in input order, with their metadata.

    Each image is decoded to RGB (``ganmetrics.io.images``), preprocessed on its own by ``protocols.preprocess``
    in the DataLoader workers, batched, and run through the network under ``torch.inference_mode``.

    Parameters
    ----------
    source
        A folder of image files (sorted by name; subfolders with ``recursive=True``), a ``.zip`` of images, a
        uint8 (N, 3, H, W) tensor in [0, 255] or float tensor in [0, 1], or a torch Dataset of such (3, H, W)
        images, ``(image, label)`` tuples or PIL images (an item of None counts as skipped).
    extractor
        A name of ``ganmetrics.features.extractors.EXTRACTORS`` (default ``"inception"``, the FID Inception v3),
        ``"package.module:factory"``, or your own ``torch.nn.Module``/callable or ``custom_extractor`` spec
        (``ganmetrics.features.extractors.custom``; recorded as ``custom:<name>``).
    model, weights
        The network to use (the extractor's module in eval mode), or the weight file ``load_extractor`` loads
        (its default resolution when None). Not both.
    resize
        The preprocessing protocol, one of the extractor's ``protocols`` (None: its first), recorded in the
        metadata as ``resize``.
    outputs
        Names of the extractor's ``outputs`` (None: its first), e.g. ``("pool3", "logits_unbiased")`` for FID
        and IS at once.
    batch_size, num_workers
        Images per network batch (None: the extractor's default); DataLoader worker processes (None:
        ``min(os.cpu_count(), 8)``; 0 decodes in this process). A tensor on a GPU is read in this process.
    device
        None or "auto": the model's device if one is passed, else CUDA when available, else the CPU.
    numerics
        "fp32" (exact, see ``exact_float32``), "fp32-fast" (BatchNorm folded, channels-last), "bf16" or
        "fp16" (autocast); see the module docstring.
    progress
        Show a tqdm bar (images/s) on stderr.
    skip_bad
        Folders and zips only: skip unreadable files (warned about and listed in ``metadata["skipped"]``)
        instead of raising ``UnreadableImageError``.

    Raises ``ValueError`` for a bad option, a model given together with weights or in training mode, CUDA
    asked for but unavailable, fewer than 2 images (also after skipping), non-finite network outputs (naming
    the first image that gave one); ``UnreadableImageError`` (a
    ValueError) naming a bad file; plus what ``io.images.open_images`` and ``load_fid_inception`` raise.
    """
    spec = get_extractor(extractor)
    resize = spec.default_protocol if resize is None else resize
    outputs = (spec.default_output,) if outputs is None else outputs
    batch_size = spec.default_batch_size if batch_size is None else batch_size
    _check_options(spec, resize, outputs, batch_size, num_workers, numerics)
    if model is not None and weights is not None:
        raise ValueError("model, weights: pass a model or a weights file, not both")
    if model is not None and model.training:
        raise ValueError("model: is in training mode; call model.eval() (BatchNorm needs running statistics)")
    images = open_images(source, recursive=recursive, skip_bad=skip_bad)
    if count_images(images) < 2:
        raise ValueError(f"source: {_describe(source)} holds {count_images(images)} image(s); at least 2 are needed")
    run_device = resolve_device(device, model)
    weights_sha256 = None
    if model is None:
        model, weights_sha256 = load_extractor(spec, weights, run_device, progress=progress)

    inputs = _NetworkInputs(images, resize, getattr(images, "names", None), spec)
    in_this_process = isinstance(images, torch.Tensor) and images.device.type != "cpu"
    if num_workers is None:
        num_workers = 0 if in_this_process else min(os.cpu_count() or 1, _MAX_DEFAULT_WORKERS)
    loader = DataLoader(
        inputs,
        batch_size=batch_size,
        shuffle=False,
        num_workers=0 if in_this_process else num_workers,
        collate_fn=_collate,
        pin_memory=run_device.type == "cuda" and not in_this_process,
    )
    model, memory_format, numeric_mode = numeric_network(model, numerics, run_device)
    rows: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
    kept: list[int] = []
    sizes: Counter[tuple[int, int]] = Counter()
    bar = tqdm(total=len(inputs), unit="img", file=sys.stderr, disable=not progress, desc="features")
    with bar, numeric_mode(), torch.inference_mode():
        for failures, batch in loader:
            if failures:
                raise failures[0]
            if batch is not None:  # None: every image of this batch was skipped
                indices, x, (widths, heights) = batch
                result = model(x.to(run_device, non_blocking=True, memory_format=memory_format), outputs=outputs)
                for name in outputs:
                    rows[name].append(result[name].float().cpu().numpy())
                    _check_finite(rows[name][-1], name, [inputs.name(i) for i in indices.tolist()])
                kept.extend(indices.tolist())
                sizes.update(zip(widths.tolist(), heights.tolist(), strict=True))
            bar.update(min(batch_size, len(inputs) - bar.n))

    skipped = [inputs.name(i) for i in sorted(set(range(len(inputs))) - set(kept))]
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} unreadable image(s) of {_describe(source)}: {', '.join(skipped[:5])}"
            + (", ..." if len(skipped) > 5 else ""),
            stacklevel=2,
        )
    if len(kept) < 2:
        raise ValueError(
            f"source: {_describe(source)} has {len(kept)} readable image(s) after skipping {len(skipped)}; "
            "at least 2 are needed"
        )
    features = {name: np.concatenate(rows[name], axis=0) for name in outputs}
    weights_kind = getattr(model, "weights_kind", None)  # a stand-in network (not FIDInceptionV3) has none
    metadata = {
        "extractor": {name: spec.extractor_id(name) for name in outputs},
        "outputs": list(outputs),
        "weights_sha256": weights_sha256,
        **({WEIGHTS_KIND: weights_kind} if weights_kind else {}),
        "resize": resize,
        "n": len(kept),
        "image_sizes": [[w, h, count] for (w, h), count in sorted(sizes.items())],
        "skipped": skipped,
        "numerics": numerics,
        "device": str(run_device),
        "ganmetrics_version": __version__,
        "torch_version": torch.__version__,
    }
    return Extraction(features, metadata)
