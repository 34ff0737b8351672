"""Row chunks of cache size, for float64 passes over float32 (or float64) samples.

A float32 sample converted to float64 as a whole costs a copy twice its size, page faults on that copy, and one
pass over memory for every step that follows (centring, scaling, rounding back). Converted a chunk of rows at a
time through one small float64 buffer, every step on a chunk runs while it is in cache. float32 to float64 is
exact, so the values are those of the whole conversion (sums up to their order of addition).
"""

from __future__ import annotations

import torch

# Rows per chunk: this many entries (1 MiB of float64) on the CPU; off it the whole sample is one chunk.
CHUNK_ENTRIES = 2**17


def row_chunks(sample: torch.Tensor) -> list[range]:
    """Return consecutive row ranges covering ``sample`` (``(n, d)``): ``CHUNK_ENTRIES // d`` rows each (at least
    one) on the CPU, one range of all rows on other devices."""
    n, d = sample.shape
    step = max(1, CHUNK_ENTRIES // d) if sample.device.type == "cpu" else max(n, 1)
    return [range(a, min(a + step, n)) for a in range(0, n, step)]


def float64_buffer(samples: list[torch.Tensor]) -> torch.Tensor:
    """Return an uninitialised float64 buffer that holds one chunk of rows (``row_chunks``) of any of ``samples``
    (one feature dimension and device)."""
    rows = max(len(row_chunks(s)[0]) if s.shape[0] else 0 for s in samples)
    return samples[0].new_empty(rows, samples[0].shape[1], dtype=torch.float64)


def sum_rows(sample: torch.Tensor, buffer: torch.Tensor) -> torch.Tensor:
    """Return the float64 sum of the rows of a float32/float64 ``sample`` (``(n, d)``), chunk by chunk through
    ``buffer`` (``float64_buffer``, large enough for its chunks): no float64 copy of the sample."""
    total = sample.new_zeros(sample.shape[1], dtype=torch.float64)
    for rows in row_chunks(sample):
        total += buffer[: len(rows)].copy_(sample[rows.start : rows.stop]).sum(dim=0)
    return total
