"""Synchronisation across processes (``torch.distributed``), in one place for the API and the command line.

When ``torch.distributed`` is initialised with more than one process, each rank extracts a disjoint shard of
the images (rank ``r`` of ``W`` takes items ``r, r + W, r + 2W, ...``: every item exactly once, no padding),
and the pieces are gathered here: feature rows with :func:`gather_rows` (in the original item order when the
global indices are passed along), FID statistics with :func:`gather_stats` (each rank's ``n``, mean and
covariance in float64, merged with ``FeatureStats.merge`` in rank order), small records with
:func:`all_gather_json`. Results computed on rank 0 reach every rank through :func:`compute_on_rank0`.

The collective contract
    Every function below except :func:`rank_and_world_size`, :func:`is_distributed`, :func:`resolve_sync`,
    :func:`shard_indices` and :func:`shard_for_rank` is a *collective*: every rank must call it, in the same
    order, or the ranks that did wait forever. Work that only one rank does (printing, writing a file,
    evaluating on rank 0 alone) must use the non-collective paths: ``sync=False`` in the training-loop API.
    An exception raised inside :func:`compute_on_rank0` or :func:`run_checked` is raised on every rank (the
    others get the same exception type for ``ValueError``, ``TypeError`` and ``OSError``, else
    ``RuntimeError``, with the failing rank in the message), so one rank's bad input does not hang the rest.

Backends
    gloo (CPU) and nccl (CUDA). Tensors travel on the backend's device (the current CUDA device for nccl, the
    CPU otherwise) and come back on the device they came from. Nothing is pickled: records travel as JSON in
    uint8 tensors, sizes are gathered before the data, and buffers are padded to the largest rank and trimmed.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset, Subset

from ganmetrics.features.extract import Extraction, extract_features
from ganmetrics.io.images import count_images, open_images
from ganmetrics.metrics.statistics import FeatureStats

T = TypeVar("T")

# dtypes gather_rows can carry (their index in this tuple travels in the header).
_DTYPES = (
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int64,
    torch.int32,
    torch.uint8,
    torch.bool,
)
# Header of gather_rows: ndim, dtype index, then up to _MAX_NDIM sizes.
_MAX_NDIM = 6
# Exception types re-raised as themselves on the other ranks (first match wins), else RuntimeError.
_REPRODUCED: tuple[type[Exception], ...] = (ValueError, TypeError, OSError)


def is_distributed() -> bool:
    """Return whether ``torch.distributed`` is initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_and_world_size() -> tuple[int, int]:
    """Return ``(rank, world size)``; ``(0, 1)`` when ``torch.distributed`` is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def resolve_sync(sync: bool | None) -> bool:
    """Return whether to communicate: ``sync`` (None: yes) and more than one process is running."""
    return (sync is None or bool(sync)) and is_distributed()


def init_from_environment() -> bool:
    """Initialise ``torch.distributed`` from torchrun's variables when ``WORLD_SIZE > 1``; return whether it did.

    The backend is nccl when CUDA is available (each rank on ``cuda:LOCAL_RANK``), else gloo. Does nothing
    (returns False) outside torchrun, with one process, or when already initialised.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available() or dist.is_initialized():
        return False
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return True


def shard_indices(n: int, rank: int | None = None, world_size: int | None = None) -> range:
    """Return the item indices of one rank's shard of ``n`` items: ``range(rank, n, world_size)``.

    ``rank`` and ``world_size`` default to this process's. The shards of all ranks are disjoint and cover
    every index exactly once (ranks beyond ``n`` get none; nothing is padded or repeated).
    """
    own_rank, own_world = rank_and_world_size()
    rank = own_rank if rank is None else rank
    world_size = own_world if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank, world_size: need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    return range(rank, n, world_size)


class _NamedSubset(Subset):
    """A ``Subset`` that can carry the names of its items (image files), for skip reports."""

    names: list[str] | None = None


def shard_for_rank(
    images: Dataset | torch.Tensor, rank: int | None = None, world_size: int | None = None
) -> Dataset | torch.Tensor:
    """Return this rank's shard (see :func:`shard_indices`) of a tensor (a strided view) or a dataset.

    A dataset shard is a ``torch.utils.data.Subset`` that keeps the ``names`` of its items when the dataset
    has them (image folders and zips do), so that skipped files are reported by name.
    """
    indices = shard_indices(count_images(images), rank, world_size)
    if isinstance(images, torch.Tensor):
        return images[indices.start :: indices.step]
    shard = _NamedSubset(images, list(indices))
    names = getattr(images, "names", None)
    if names is not None:
        shard.names = [names[i] for i in indices]
    return shard


def _comm_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def _all_gather_fixed(tensor: torch.Tensor) -> list[torch.Tensor]:
    """all_gather of a tensor with the same shape on every rank (on the backend's device)."""
    tensor = tensor.to(_comm_device()).contiguous()
    pieces = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(pieces, tensor)
    return pieces


def _all_gather_variable(tensor: torch.Tensor, max_rows: int | None = None) -> list[torch.Tensor]:
    """Return every rank's tensor (on this tensor's device): headers first, then padded data, trimmed.

    Ranks may differ in their first size; ranks with rows must agree on the other sizes and the dtype (ranks
    with no rows adopt them). Raises ``ValueError`` on every rank when they do not, or when the total number
    of rows exceeds ``max_rows``.
    """
    if tensor.ndim > _MAX_NDIM or tensor.dtype not in _DTYPES:
        raise ValueError(f"tensor: cannot gather {tensor.ndim}-D {tensor.dtype} tensors")
    header = torch.zeros(2 + _MAX_NDIM, dtype=torch.int64)
    header[0], header[1] = tensor.ndim, _DTYPES.index(tensor.dtype)
    header[2 : 2 + tensor.ndim] = torch.tensor(tensor.shape, dtype=torch.int64)
    headers = [h.cpu().tolist() for h in _all_gather_fixed(header)]
    sizes = [h[2] if h[0] else 0 for h in headers]
    layouts = {(h[0], h[1], tuple(h[3 : 2 + h[0]])) for h, size in zip(headers, sizes, strict=True) if size}
    if len(layouts) > 1:
        raise ValueError(f"tensor: the ranks hold rows of different shapes or dtypes: {sorted(layouts)}")
    if max_rows is not None and sum(sizes) > max_rows:
        raise ValueError(f"tensor: the ranks hold {sum(sizes)} rows together, more than the limit of {max_rows}")
    if not layouts:
        return [tensor[:0] for _ in headers]
    ndim, dtype_index, trailing = layouts.pop()
    padded = torch.zeros((max(sizes), *trailing), dtype=_DTYPES[dtype_index], device=_comm_device())
    if sizes[dist.get_rank()]:
        padded[: sizes[dist.get_rank()]] = tensor
    return [piece[:size].to(tensor.device) for piece, size in zip(_all_gather_fixed(padded), sizes, strict=True)]


def gather_rows(
    rows: torch.Tensor, indices: torch.Tensor | Sequence[int] | None = None, max_rows: int | None = None
) -> torch.Tensor:
    """Return the rows of every rank (collective), concatenated in rank order or sorted by global index.

    ``rows`` is this rank's (n_r, ...) tensor (n_r may be 0, and may differ between ranks). With ``indices``
    (the n_r global item indices of this rank's rows, e.g. from :func:`shard_indices`) the result is ordered by
    those indices, which restores the single-process order of a sharded dataset. The result lies on the device
    of ``rows``; without ``torch.distributed`` it is ``rows`` itself (sorted by ``indices`` when given).

    Raises ``ValueError`` (on every rank) when ranks hold rows of different trailing shapes or dtypes, when
    ``indices`` does not match ``rows`` in length, or when there are more than ``max_rows`` rows in all.
    """
    index = None if indices is None else torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
    if index is not None and index.numel() != rows.shape[0]:
        raise ValueError(f"indices: {index.numel()} indices for {rows.shape[0]} rows")
    if is_distributed():
        rows = torch.cat(_all_gather_variable(rows, max_rows))
        index = None if index is None else torch.cat(_all_gather_variable(index))
    elif max_rows is not None and rows.shape[0] > max_rows:
        raise ValueError(f"tensor: holds {rows.shape[0]} rows, more than the limit of {max_rows}")
    if index is None:
        return rows
    return rows[torch.argsort(index).to(rows.device)]


def gather_stats(stats: FeatureStats | None) -> FeatureStats | None:
    """Return the statistics of the samples of all ranks (collective): each rank's merged in rank order.

    Each rank sends ``n``, its mean and its covariance (float64), from which its ``(n, mean, M2)`` is rebuilt
    exactly up to round-off (``FeatureStats.from_moments``); the ranks are then combined with
    ``FeatureStats.merge`` (Chan et al.'s pairwise update), never by summing raw moments. A rank with no
    samples passes None. Returns None when no rank has samples; the result lies on the device of ``stats``
    (the CPU for a rank that passed None). Raises ``ValueError`` on every rank when the ranks' dimensions differ.
    """
    if not is_distributed():
        return stats
    n, dims = (stats.n, stats.dims) if stats is not None else (0, 0)
    counts = [p.tolist() for p in _all_gather_fixed(torch.tensor([n, dims], dtype=torch.int64))]
    all_dims = {d for count, d in counts if count}
    if len(all_dims) > 1:
        raise ValueError(f"stats: the ranks' statistics have different dimensions {sorted(all_dims)}")
    if not all_dims:
        return None
    d = all_dims.pop()
    device = stats.mu.device if stats is not None else torch.device("cpu")
    mean = torch.zeros(d, dtype=torch.float64, device=device)
    sigma = torch.zeros(d, d, dtype=torch.float64, device=device)
    if stats is not None and n >= 1:
        mean = stats.mu
    if stats is not None and n >= 2:
        sigma = stats.sigma
    means, sigmas = _all_gather_fixed(mean), _all_gather_fixed(sigma)
    merged = FeatureStats(d, device=device)
    for (count, _), mu_r, sigma_r in zip(counts, means, sigmas, strict=True):
        if count >= 2:
            merged.merge(FeatureStats.from_moments(mu_r.to(device), sigma_r.to(device), count))
        elif count == 1:
            merged.update(mu_r.to(device)[None])
    return merged


def all_gather_json(value: Any) -> list[Any]:
    """Return every rank's JSON-serialisable ``value``, in rank order (collective; ``[value]`` alone)."""
    if not is_distributed():
        return [value]
    payload = torch.frombuffer(bytearray(json.dumps(value).encode()), dtype=torch.uint8)
    return [json.loads(bytes(piece.cpu().numpy()).decode()) for piece in _all_gather_variable(payload)]


def _broadcast_json(value: Any) -> Any:
    """Return rank 0's JSON-serialisable ``value`` on every rank (collective)."""
    data = json.dumps(value).encode() if dist.get_rank() == 0 else b""
    length = torch.tensor([len(data)], dtype=torch.int64, device=_comm_device())
    dist.broadcast(length, src=0)
    buffer = torch.zeros(int(length), dtype=torch.uint8, device=_comm_device())
    if dist.get_rank() == 0:
        buffer.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    dist.broadcast(buffer, src=0)
    return json.loads(bytes(buffer.cpu().numpy()).decode())


def _error_record(error: Exception) -> dict[str, str]:
    kind = next((cls.__name__ for cls in _REPRODUCED if isinstance(error, cls)), "RuntimeError")
    return {"type": kind, "message": f"{type(error).__name__}: {error}"}


def _raise_remote(rank: int, record: dict[str, str]) -> None:
    cls = next((c for c in _REPRODUCED if c.__name__ == record["type"]), RuntimeError)
    raise cls(f"rank {rank} failed: {record['message']}")


def compute_on_rank0(compute: Callable[[], T]) -> T:
    """Return rank 0's ``compute()`` on every rank (collective); ``compute()`` itself when not distributed.

    Only rank 0 runs ``compute``; its JSON-serialisable result (floats round-trip exactly) is broadcast. When
    it raises, rank 0 re-raises and the other ranks raise the same type (see the module docstring).
    """
    if not is_distributed():
        return compute()
    error: Exception | None = None
    record: dict[str, Any] = {}
    if dist.get_rank() == 0:
        try:
            record = {"result": compute()}
        except Exception as exc:  # re-raised below, after telling the other ranks
            error, record = exc, {"error": _error_record(exc)}
    shared = _broadcast_json(record)
    if error is not None:
        raise error
    if "error" in shared:
        _raise_remote(0, shared["error"])
    return shared["result"]


def run_checked(work: Callable[[], T]) -> T:
    """Return ``work()`` run on every rank, once all have finished (collective).

    If any rank's ``work`` raised, every rank raises: the failing rank its own exception, the others one
    naming the first failing rank (see the module docstring). Use it around local work that precedes a
    collective, so that one rank's error cannot leave the others waiting.
    """
    if not is_distributed():
        return work()
    error: Exception | None = None
    result: Any = None
    try:
        result = work()
    except Exception as exc:  # re-raised below, after telling the other ranks
        error = exc
    records = all_gather_json(None if error is None else _error_record(error))
    if error is not None:
        raise error
    failed = [(rank, record) for rank, record in enumerate(records) if record is not None]
    if failed:
        _raise_remote(*failed[0])
    return result


def all_ranks_true(flag: bool) -> bool:
    """Return whether ``flag`` is true on every rank (collective; ``flag`` itself when not distributed)."""
    return all(all_gather_json(bool(flag)))


def extract_features_distributed(
    source: Any,
    *,
    sync: bool | None = None,
    recursive: bool = False,
    skip_bad: bool = False,
    progress: bool = True,
    **options: Any,
) -> Extraction:
    """Return ``extract_features(source, ...)`` computed in shards over the ranks (collective when syncing).

    Each rank extracts its :func:`shard_for_rank` of the images (a folder or zip in sorted file order, a
    tensor or a dataset) and the rows are gathered by global index, so the features come back in the
    single-process order on every rank (bit for bit where the network computes each image the same whatever
    its batch; on CPUs with different thread counts to float32 rounding). Metadata: ``n``, ``image_sizes`` and
    ``skipped`` cover all ranks; the progress bar is shown on rank 0 only. Sources with fewer than 2 images per
    rank are not sharded (each rank extracts them all), since ``extract_features`` needs 2 images. Without
    ``torch.distributed`` or with ``sync=False`` this is ``extract_features`` on the whole source.

    ``options`` are those of ``extract_features`` (model, weights, resize, outputs, batch_size, ...). Raises
    what ``extract_features`` raises, on every rank (see :func:`run_checked`); with ``skip_bad`` a shard left
    with fewer than 2 readable images is refused like a whole source would be.
    """
    if not resolve_sync(sync):
        return extract_features(source, recursive=recursive, skip_bad=skip_bad, progress=progress, **options)
    rank, world_size = rank_and_world_size()
    images = run_checked(lambda: open_images(source, recursive=recursive, skip_bad=skip_bad))
    if count_images(images) < 2 * world_size:
        return run_checked(lambda: extract_features(images, progress=progress and rank == 0, **options))
    indices = shard_indices(count_images(images))
    shard = shard_for_rank(images)
    local = run_checked(lambda: extract_features(shard, progress=progress and rank == 0, **options))
    skipped = set(local.metadata["skipped"])
    names = getattr(shard, "names", None)
    kept = [i for k, i in enumerate(indices) if names is None or names[k] not in skipped]
    features = {name: gather_rows(torch.from_numpy(rows), kept).numpy() for name, rows in local.features.items()}
    records = all_gather_json(
        {
            "sizes": local.metadata["image_sizes"],
            "skipped": [i for k, i in enumerate(indices) if names and names[k] in skipped],
        }
    )
    sizes: Counter[tuple[int, int]] = Counter()
    for record in records:
        sizes.update({(w, h): count for w, h, count in record["sizes"]})
    skipped_indices = sorted(i for record in records for i in record["skipped"])
    all_names = getattr(images, "names", None)
    metadata = {
        **local.metadata,
        "n": int(next(iter(features.values())).shape[0]),
        "image_sizes": [[w, h, count] for (w, h), count in sorted(sizes.items())],
        "skipped": [all_names[i] if all_names else f"source[{i}]" for i in skipped_indices],
    }
    return Extraction({name: np.ascontiguousarray(rows) for name, rows in features.items()}, metadata)
