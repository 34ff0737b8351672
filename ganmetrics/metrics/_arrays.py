"""Input validation shared by the metric functions: numpy or torch in, float64 torch out.

Every public metric accepts numpy arrays or torch tensors on any device. Work happens in torch, in float64, on
the device of the input, so CUDA tensors are computed on the GPU and CPU inputs on the CPU.

Magnitude
    Every metric sums squares or products of its inputs (squared distances, covariances, kernel arguments,
    ``Σ1 Σ2``); an input whose entries are finite but so large that such sums overflow float64 would give
    Inf or NaN, never a number. ``as_float64`` therefore refuses entries above
    ``sqrt(float64_max / (8 k))``, ``k`` the largest dimension of the input (the number of terms a sum runs
    over; the factor 8 covers centring and the cross terms of two inputs): about 1.5e152 for 2,048-d
    features. Where a metric raises features to a higher power the limit is lower (``check_magnitude`` with
    ``power``): FID's trace term multiplies two covariances (fourth powers, ``power=2``: about 7e75 at d = 2,048),
    KID's kernel cubes a dot product (``power=3``). Inputs are refused rather than rescaled, even where a metric would
    allow an exact rescaling (FID is homogeneous of degree 2, MMD with the median bandwidth is scale-invariant):
    features this large come from a broken pipeline, and a silent rescaling would hide it. A user who means
    them divides both inputs by the same power of 2 (exact in floating point) and scales the result back.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor

# Seeds go to torch.Generator.manual_seed, which takes 0 .. 2**64 - 1.
_MAX_SEED = 2**64 - 1


def as_float64(x: ArrayLike, name: str, ndim: int | None = None, device: torch.device | None = None) -> torch.Tensor:
    """Return ``x`` as a float64 torch tensor, on ``device`` if given (else the input's device).

    Raises ``TypeError`` when ``x`` is neither a numpy array nor a tensor, ``ValueError`` when it has the wrong
    number of dimensions, is empty, holds NaN or Inf, or entries too large for sums of their squares (module
    docstring, "Magnitude").
    """
    return as_checked_float(x, name, ndim, device)[0].to(torch.float64)


def as_checked_float(
    x: ArrayLike, name: str, ndim: int | None = None, device: torch.device | None = None
) -> tuple[torch.Tensor, float]:
    """Return ``x`` as a float32 or float64 tensor on ``device`` (float32 kept, every other type as float64) and
    its largest absolute entry, after the checks of ``as_float64``.

    For callers that convert float32 inputs themselves rather than through a fresh float64 copy of the whole
    input (``mmd``: in cache-sized chunks); float32 to float64 is exact, so the values and the checks are those
    of ``as_float64``.
    """
    t = as_float_tensor(x, name, ndim, device)
    largest = largest_abs(t)
    if not math.isfinite(largest):
        raise_non_finite(t, name)
    check_magnitude(largest, name, terms=max(t.shape, default=1))
    return t, largest


def as_float_tensor(
    x: ArrayLike, name: str, ndim: int | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """Return ``x`` as a float32 or float64 tensor on ``device`` (float32 kept, every other type as float64),
    after the checks of ``as_float64`` on its type and shape but not on its values (``as_checked_float``)."""
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
    dtype = torch.float32 if t.dtype == torch.float32 else torch.float64
    return t.to(device=device if device is not None else t.device, dtype=dtype)


def raise_non_finite(t: torch.Tensor, name: str) -> None:
    """Raise the ``ValueError`` for an input ``name`` that holds NaN or Inf, with their count."""
    bad = int((~torch.isfinite(t)).sum())
    raise ValueError(f"{name}: contains {bad} NaN or Inf value(s)")


def largest_abs(t: torch.Tensor) -> float:
    """Return ``max |t|`` (NaN if ``t`` holds a NaN, Inf if it holds ±Inf) without a temporary copy of ``t``.

    One ``aminmax`` reduction: min and max propagate NaN and show ±Inf; 20x faster than ``isfinite().all()``
    on the CPU and no ``abs()`` copy.
    """
    low, high = torch.aminmax(t)
    return max(-float(low), float(high)) if not (math.isnan(low) or math.isnan(high)) else math.nan


def check_magnitude(
    largest: float, name: str, *, terms: int, power: int = 1, dtype: torch.dtype = torch.float64
) -> None:
    """Raise ``ValueError`` unless sums of ``terms`` values of size ``(8 largest² + 1) ** power`` fit in float64.

    ``largest`` is the largest absolute entry of the input ``name``; ``power`` is 1 for squares (distances,
    covariances, dot products), 2 for products of covariances, 6 for the spread of KID's cubed kernel values
    (module docstring, "Magnitude"); ``dtype`` the float type the sums run in.
    """
    log_max = math.log(torch.finfo(dtype).max)
    bound = math.log(terms) + power * math.log1p(8.0 * largest * largest)
    if bound > log_max:
        limit = math.sqrt(math.expm1((log_max - math.log(terms)) / power) / 8.0)
        what = "squares" if power == 1 else f"squares raised to the power {power}"
        raise ValueError(
            f"{name}: values up to {largest:.3g} are too large: sums of their {what} over {terms} terms overflow "
            f"{str(dtype).removeprefix('torch.')} (entries must stay below {limit:.3g}); divide the inputs by the "
            "same power of 2 if they are meant to be this large"
        )


def check_finite_result(value: float, name: str) -> float:
    """Return ``value`` if it is finite; else raise ``ValueError`` (a metric never returns NaN or Inf)."""
    if not math.isfinite(value):
        raise ValueError(
            f"{name}: the computation overflowed (result {value}); the inputs are too large or too "
            "spread out for float64 (or for the float32 matmul: try precision='float64')"
        )
    return value


def as_samples(x: ArrayLike, name: str, min_samples: int = 2, device: torch.device | None = None) -> torch.Tensor:
    """Return ``x`` as a float64 (N, d) tensor of samples, requiring ``N >= min_samples``."""
    return as_checked_samples(x, name, min_samples, device)[0].to(torch.float64)


def as_checked_samples(
    x: ArrayLike, name: str, min_samples: int = 2, device: torch.device | None = None
) -> tuple[torch.Tensor, float]:
    """Return ``x`` as a float32 or float64 (N, d) tensor of samples and its largest absolute entry
    (``as_checked_float``), requiring ``N >= min_samples``."""
    t, largest = as_checked_float(x, name, ndim=2, device=device)
    if t.shape[0] < min_samples:
        raise ValueError(f"{name}: needs at least {min_samples} samples, got {t.shape[0]}")
    return t, largest


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


def check_int(value: object, name: str, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` if it is an integer in ``[minimum, maximum]``.

    Any ``numbers.Integral`` counts (``int``, ``numpy.int64``, ...); ``bool`` does not. Raises ``TypeError``
    for a non-integer or a bool, ``ValueError`` for a value out of range; both messages start with ``name``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name}: must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: must be at most {maximum}, got {value}")
    return value


def check_seed(value: object, name: str = "seed") -> int:
    """Return ``value`` as an ``int`` if it is a valid ``torch.Generator`` seed, an integer in [0, 2**64 - 1]."""
    return check_int(value, name, 0, _MAX_SEED)
