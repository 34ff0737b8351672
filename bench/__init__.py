"""Side-by-side benchmarks of ganmetrics against pytorch-fid, torch-fidelity, clean-fid, torchmetrics and POT.

Each case is a module ``bench.<name>`` with ``NAME``, ``TITLE`` and ``run(config) -> list[Table]``;
``python -m bench [NAME...]`` runs them. Modules are imported on demand (the memory case's child processes
import only what they measure).
"""

from __future__ import annotations

import importlib
from types import ModuleType

CASES = ("frechet", "e2e", "memory", "kernel", "transport", "extractors", "collapse")


def load_case(name: str) -> ModuleType:
    """Return the module of case ``name`` (one of ``CASES``)."""
    if name not in CASES:
        raise ValueError(f"name: unknown case {name!r}; choose from {', '.join(CASES)}")
    return importlib.import_module(f"bench.{name}")
