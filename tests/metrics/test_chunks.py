"""Row chunks: they cover every row once, in order, and the chunked float64 row sum equals the whole-array one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganmetrics.metrics._chunks import CHUNK_ENTRIES, float64_buffer, row_chunks, sum_rows


@pytest.mark.parametrize(("n", "d"), [(1, 3), (1000, 3), (130, 2048), (5, CHUNK_ENTRIES + 7)])
def test_row_chunks_cover_every_row_once_in_cache_sized_steps(n: int, d: int) -> None:
    chunks = row_chunks(torch.empty(n, d))
    assert [i for c in chunks for i in c] == list(range(n))
    assert all(len(c) * d <= max(CHUNK_ENTRIES, d) for c in chunks)


def test_row_chunks_off_the_cpu_are_one_chunk() -> None:
    assert row_chunks(torch.empty(1000, 3, device="meta")) == [range(1000)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_rows_equals_numpy_float64_sum(dtype: type) -> None:
    # 1,000 rows of d = 300: two chunks of 436 rows and the rest (128). The same float64 numbers summed in another
    # order: within 1e-13 relative (the sums are ~500; n eps = 2e-13 bounds any order of 1e3 positive-heavy terms).
    x = np.random.default_rng(0).normal(0.5, 1.0, size=(1000, 300)).astype(dtype)
    t = torch.from_numpy(x)
    total = sum_rows(t, float64_buffer([t]))
    np.testing.assert_allclose(total.numpy(), x.astype(np.float64).sum(axis=0), rtol=1e-13, atol=0)


def test_float64_buffer_holds_a_chunk_of_the_largest_sample() -> None:
    small, large = torch.empty(3, 300), torch.empty(1000, 300)
    assert float64_buffer([small, large]).shape == (CHUNK_ENTRIES // 300, 300)
    assert float64_buffer([small]).shape == (3, 300)
