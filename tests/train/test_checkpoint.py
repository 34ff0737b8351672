"""Checkpoints: every random stream resumes where it was, and a failed write leaves the old file intact."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from ganmetrics.train import checkpoint
from ganmetrics.train.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.randn()), float(torch.rand(1))


def test_global_random_streams_continue_identically_after_save_and_load(tmp_path: Path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.randn()  # leaves a cached Gaussian in numpy's state
    save_checkpoint({"rng": capture_rng()}, tmp_path / "c.pt")
    expected = _draws()
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng(load_checkpoint(tmp_path / "c.pt")["rng"])
    assert _draws() == expected


def test_a_write_that_fails_midway_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "c.pt"
    save_checkpoint({"step": 1}, path)

    def broken_save(obj: object, target: Path) -> None:
        Path(target).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path) == {"step": 1}
