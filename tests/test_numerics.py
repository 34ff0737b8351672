"""numerics: torch on one CPU thread, restored afterwards."""

from __future__ import annotations

import pytest
import torch

from ganmetrics.numerics import one_torch_thread


def test_one_torch_thread_restores_the_thread_count_also_after_an_error() -> None:
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), one_torch_thread(torch.device("cpu")):
        assert torch.get_num_threads() == 1
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before


def test_one_torch_thread_leaves_other_devices_alone() -> None:
    before = torch.get_num_threads()
    with one_torch_thread(torch.device("meta")):
        assert torch.get_num_threads() == before
