"""tests/bench: import the top-level bench/ package from the checkout (see ``_import_bench``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _import_bench() -> None:
    """Import the top-level bench/ package from the checkout by its path.

    The tests run against the installed ganmetrics, so the checkout root is not on sys.path (and tests/bench/
    would shadow a plain "import bench").
    """
    root = Path(__file__).resolve().parents[2] / "bench"
    spec = importlib.util.spec_from_file_location("bench", root / "__init__.py", submodule_search_locations=[str(root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module
    spec.loader.exec_module(module)


_import_bench()
