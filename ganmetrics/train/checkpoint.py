"""Checkpoints written atomically, and the random states a resumed run needs to continue exactly.

A checkpoint is written to ``<path>.tmp`` and moved over ``<path>`` with ``os.replace`` (atomic on POSIX and
Windows), so a run killed mid-write leaves the previous checkpoint intact. It is read back with
``torch.load(weights_only=True)``: only tensors and plain containers are stored, never pickled objects.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch


def capture_rng() -> dict[str, Any]:
    """Return the global random states: torch CPU, every CUDA device, numpy, Python ``random``."""
    numpy_state = np.random.get_state(legacy=True)  # the default, spelled out: numpy's stubs type a bare call as a dict
    if isinstance(numpy_state, dict):  # only when the global RandomState does not run MT19937
        raise TypeError("rng: numpy's global generator is not MT19937; its state cannot be saved as a tuple")
    kind, keys, position, has_gauss, cached = numpy_state
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached],
        "python": random.getstate(),
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Restore the global random states saved by ``capture_rng``."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, then ``os.replace``)."""
    temporary = path.with_name(path.name + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: Path, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Return the state saved at ``path`` (tensors loaded on the CPU), a dict holding every key in ``required``.

    Raises ``ValueError`` naming the file when it cannot be read (truncated, not a torch file, holds objects
    other than tensors and plain containers), is not a dict, or lacks a ``required`` key.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises RuntimeError, UnpicklingError, EOFError, KeyError, ...
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "unexpected end of file"
        raise ValueError(
            f"checkpoint: {path} cannot be read ({type(error).__name__}: {reason}); it is truncated or was not "
            f"written by ganmetrics train"
        ) from None
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint: {path} holds a {type(state).__name__}, not a training checkpoint")
    missing = [key for key in required if key not in state]
    if missing:
        raise ValueError(f"checkpoint: {path} is not a training checkpoint (no {missing[0]!r} entry)")
    return state
