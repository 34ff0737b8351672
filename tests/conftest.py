"""Shared fixtures: seeded random FID Inception weights and the model loaded from them, and an isolated cache.

The real FID weights are a 95 MB download the tests never make. Tests that compare our network with a peer
implementation load the same random-weights file into both, which checks the architecture and the numerics as
well as the real weights would.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import ganmetrics

# `python -m pytest` puts the checkout first on the path, where ganmetrics.cli and ganmetrics.reference_stats are
# the top-level folders cli/ and reference_stats/ (pyproject's package-dir) rather than subfolders: point the
# package at the checkout root too, so that they import as installed.
if importlib.util.find_spec("ganmetrics.cli") is None:
    ganmetrics.__path__.append(str(Path(__file__).resolve().parents[1]))

from ganmetrics.features.extractors.inception import FIDInceptionV3, load_fid_inception
from ganmetrics.features.random_weights import make_random_fid_inception_weights
from ganmetrics.features.weights import CACHE_ENV, WEIGHTS_ENV
from ganmetrics.reference_store import REFERENCE_DIR_ENV, default_root


@pytest.fixture(autouse=True)
def _isolated_weights_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the weights cache at an empty directory and unset the weights variable, for every test.

    No test may read the user's cache or, by finding it empty, start a real download.
    """
    monkeypatch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("ganmetrics_cache")))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)


@pytest.fixture(autouse=True)
def _torch_threads_restored() -> Iterator[None]:
    """Fail a test that leaves torch's CPU thread count changed: later tests would run on fewer threads, and
    float32 CPU kernels round differently with the thread count (features.extract)."""
    before = torch.get_num_threads()
    yield
    after = torch.get_num_threads()
    torch.set_num_threads(before)
    assert after == before, f"the test left torch on {after} CPU thread(s), not {before}"


@pytest.fixture(scope="session")
def fid_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a FID Inception v3 weight file with seeded random weights (seed 0), in the release layout."""
    directory = tmp_path_factory.mktemp("fid_weights")
    return make_random_fid_inception_weights(directory / "random_fid_inception_seed0.pth", seed=0)


@pytest.fixture(scope="session")
def fid_model(fid_weights: Path) -> FIDInceptionV3:
    """The FID Inception v3 on the CPU with the ``fid_weights`` weights, eval mode (shared: do not modify)."""
    model, _ = load_fid_inception(fid_weights, device="cpu", download=False)
    return model


@pytest.fixture()
def store_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the shipped reference_stats/, made the active store through the environment."""
    copy = tmp_path / "reference_stats"
    shutil.copytree(default_root(), copy)
    monkeypatch.setenv(REFERENCE_DIR_ENV, str(copy))
    return copy
