"""The BLAS helpers against plain torch matmuls: syrk_'s upper triangle, its beta, both dtypes, the torch
fallback for layouts BLAS cannot take, matmul_nt_, the thread-count context, and syrk_ without the GIL."""

from __future__ import annotations

import ctypes

import pytest
import torch

from ganmetrics.metrics._blas import _GEMM, _SYRK, matmul_nt_, syrk_


def _upper(t: torch.Tensor) -> torch.Tensor:
    return t[tuple(torch.triu_indices(*t.shape))]


@pytest.mark.parametrize(("dtype", "rtol"), [(torch.float64, 1e-13), (torch.float32, 1e-5)])
@pytest.mark.parametrize("transpose", [False, True])
def test_syrk_upper_triangle_equals_the_matmul(dtype: torch.dtype, rtol: float, transpose: bool) -> None:
    # The same dot products in another summation order: float64 round-off (1e-13 relative on sums of 40 products
    # of O(1) numbers) or float32 round-off (1e-5).
    a = torch.randn(23, 40, dtype=dtype, generator=torch.Generator().manual_seed(0))
    size = 40 if transpose else 23
    start = torch.randn(size, size, dtype=dtype, generator=torch.Generator().manual_seed(1))
    out = start.clone()
    assert syrk_(out, a, transpose=transpose, beta=0.5) is out
    expected = (a.T @ a if transpose else a @ a.T) + 0.5 * start
    torch.testing.assert_close(_upper(out), _upper(expected), rtol=rtol, atol=rtol)


def test_syrk_writes_into_out_and_leaves_the_lower_triangle_alone_on_the_cpu() -> None:
    a = torch.randn(6, 3, dtype=torch.float64)
    out = torch.full((6, 6), float("nan"), dtype=torch.float64)
    syrk_(out, a)
    lower = out[tuple(torch.tril_indices(6, 6, offset=-1))]
    assert torch.isnan(lower).all() and not torch.isnan(_upper(out)).any()


def test_syrk_of_a_non_contiguous_input_falls_back_to_the_full_product() -> None:
    a = torch.randn(30, 8, dtype=torch.float64)[::2]  # every other row: not contiguous
    out = torch.zeros(15, 15, dtype=torch.float64)
    syrk_(out, a)
    torch.testing.assert_close(out, a @ a.T, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_matmul_nt_equals_the_matmul(dtype: torch.dtype) -> None:
    a, b = torch.randn(9, 17, dtype=dtype), torch.randn(5, 17, dtype=dtype)
    out = torch.empty(9, 5, dtype=dtype)
    assert matmul_nt_(out, a, b) is out
    torch.testing.assert_close(out, a @ b.T, rtol=1e-5 if dtype == torch.float32 else 1e-13, atol=1e-5)


def test_syrk_refuses_an_out_of_the_wrong_shape_or_dtype() -> None:
    # out is written through a raw pointer: a wrong size must be refused before BLAS sees it.
    a = torch.randn(6, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"syrk_: out has shape \(3, 3\)"):
        syrk_(torch.zeros(3, 3, dtype=torch.float64), a)
    with pytest.raises(ValueError, match="syrk_: out has shape"):
        syrk_(torch.zeros(6, 6, dtype=torch.float32), a)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("table", [_SYRK, _GEMM])
def test_blas_is_called_through_ctypes_functions_that_release_the_gil(dtype: torch.dtype, table: dict) -> None:
    # ctypes releases the GIL around a foreign call unless the prototype is a PYFUNCTYPE (flag FUNCFLAG_PYTHONAPI):
    # that is what lets the worker threads of numerics.map_on_cpu_threads multiply at once.
    function = table[dtype]
    assert isinstance(function, ctypes._CFuncPtr)
    assert not function._flags_ & ctypes._FUNCFLAG_PYTHONAPI  # type: ignore[attr-defined]


def test_matmul_nt_refuses_shapes_that_do_not_fit() -> None:
    a, b = torch.randn(4, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="matmul_nt_: shapes"):
        matmul_nt_(torch.empty(5, 4, dtype=torch.float64), a, b)
    with pytest.raises(ValueError, match="matmul_nt_: shapes"):
        matmul_nt_(torch.empty(4, 5, dtype=torch.float64), a, torch.randn(5, 2, dtype=torch.float64))


def test_matmul_nt_of_non_contiguous_inputs_falls_back_to_torch() -> None:
    a = torch.randn(8, 6, dtype=torch.float64)[::2]
    b = torch.randn(3, 6, dtype=torch.float64)
    out = torch.empty(4, 3, dtype=torch.float64)
    torch.testing.assert_close(matmul_nt_(out, a, b), a @ b.T, rtol=1e-13, atol=1e-13)
