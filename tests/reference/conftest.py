"""Shared fixture of the reference-statistics tests: a writable copy of the shipped store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ganmetrics.reference_store import REFERENCE_DIR_ENV, default_root


@pytest.fixture()
def store_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the shipped reference_stats/, made the active store through the environment."""
    copy = tmp_path / "reference_stats"
    shutil.copytree(default_root(), copy)
    monkeypatch.setenv(REFERENCE_DIR_ENV, str(copy))
    return copy
