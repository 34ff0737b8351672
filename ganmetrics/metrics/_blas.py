"""Symmetric products ``a aᵀ`` and ``aᵀ a`` through BLAS ``?syrk``, and the general product ``a bᵀ`` through
``?gemm``, in one BLAS library and without the GIL.

A symmetric rank-k update (BLAS ``?syrk``) computes one triangle of ``a aᵀ``: half the floating-point work of a
general matrix product. torch exposes no ``syrk``, so on the CPU both products go to the OpenBLAS scipy ships,
called through the function pointers of ``scipy.linalg.cython_blas`` (scipy's public Cython BLAS) with ctypes:

- without the GIL, which ctypes releases for the duration of the call, so that several threads run their own
  products at once (``numerics.map_on_cpu_threads``); scipy's own wrappers (``scipy.linalg.blas``) hold it;
- in one library: numpy bundles another OpenBLAS, whose idle threads spin for a while after each call and take
  the cores from the next library's threads (a ``dsyrk`` right after a numpy ``matmul`` ran at 43 GFLOP/s,
  right after another ``dsyrk`` at 86, 2048 x 1000, 2 cores), so the symmetric and the general products of one
  computation use the same.

torch's CPU matmul (MKL) was slower on two threads for the metrics' shapes (bench/RESULTS.md, section
``kernel``, table "BLAS rates"); on one thread it was faster alone (1.1-1.2x), but slower in the workers beside
OpenBLAS's ``syrk`` on the other core (one KID of 2,000 per side: 291 ms against 225, medians of 10). On other
devices both products are torch matmuls (the full product: there is no faster one to call), so the triangle
below the diagonal is filled there too.

Callers read the upper triangle (on and above the diagonal) only; what lies below it is unspecified.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import scipy.linalg.cython_blas
import torch


def _fortran_function(name: str) -> int:
    """Return the address of scipy's Fortran-convention BLAS function ``name`` (``scipy.linalg.cython_blas``)."""
    capsule = scipy.linalg.cython_blas.__pyx_capi__[name]  # type: ignore[attr-defined]
    # Prototypes of our own: setting argtypes on ctypes.pythonapi's shared functions would change them for others.
    get_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(("PyCapsule_GetName", ctypes.pythonapi))
    get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
        ("PyCapsule_GetPointer", ctypes.pythonapi)
    )
    return get_pointer(capsule, get_name(capsule))


_INT, _PTR, _CHAR = ctypes.POINTER(ctypes.c_int), ctypes.c_void_p, ctypes.c_char_p


def _syrk(name: str, scalar: type[ctypes.c_float] | type[ctypes.c_double]) -> Callable[..., None]:
    """``?syrk(uplo, trans, n, k, alpha, a, lda, beta, c, ldc)``, every argument by reference."""
    alpha = ctypes.POINTER(scalar)
    return ctypes.CFUNCTYPE(None, _CHAR, _CHAR, _INT, _INT, alpha, _PTR, _INT, alpha, _PTR, _INT)(
        _fortran_function(name)
    )


def _gemm(name: str, scalar: type[ctypes.c_float] | type[ctypes.c_double]) -> Callable[..., None]:
    """``?gemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)``, every argument by reference."""
    alpha = ctypes.POINTER(scalar)
    return ctypes.CFUNCTYPE(None, _CHAR, _CHAR, _INT, _INT, _INT, alpha, _PTR, _INT, _PTR, _INT, alpha, _PTR, _INT)(
        _fortran_function(name)
    )


_SCALAR = {torch.float32: ctypes.c_float, torch.float64: ctypes.c_double}
_SYRK = {torch.float32: _syrk("ssyrk", ctypes.c_float), torch.float64: _syrk("dsyrk", ctypes.c_double)}
_GEMM = {torch.float32: _gemm("sgemm", ctypes.c_float), torch.float64: _gemm("dgemm", ctypes.c_double)}


def _on_cpu_blas(*tensors: torch.Tensor) -> bool:
    return all(t.device.type == "cpu" and t.dtype in _SCALAR and t.is_contiguous() for t in tensors)


def syrk_(out: torch.Tensor, a: torch.Tensor, *, transpose: bool = False, beta: float = 0.0) -> torch.Tensor:
    """Return ``out`` with ``a @ a.T + beta * out`` (``transpose``: ``a.T @ a + beta * out``) on and above its
    diagonal; below the diagonal ``out`` is unspecified.

    ``a`` is ``(n, k)``; ``out`` is ``(n, n)`` (``transpose``: ``(k, k)``), both contiguous, one dtype and device.
    On the CPU (float32/float64) this is one BLAS ``?syrk`` call writing into ``out``'s memory, without the GIL;
    else a torch matmul of the full product.
    """
    size = a.shape[1] if transpose else a.shape[0]
    if out.shape != (size, size) or out.dtype != a.dtype:
        raise ValueError(f"syrk_: out has shape {tuple(out.shape)} and {out.dtype}, expected {(size, size)}, {a.dtype}")
    if not _on_cpu_blas(out, a):
        return out.addmm_(a.T if transpose else a, a if transpose else a.T, beta=beta)
    # Row-major a (n, k) is the column-major (k, n) matrix A = aᵀ (leading dimension k), and the column-major view
    # of out is outᵀ, whose lower triangle is out's upper one. trans "T" forms Aᵀ A = a aᵀ; trans "N" forms
    # A Aᵀ = aᵀ a.
    function, scalar = _SYRK[a.dtype], _SCALAR[a.dtype]
    n, k = a.shape
    inner = n if transpose else k
    function(
        b"L", b"N" if transpose else b"T", ctypes.c_int(size), ctypes.c_int(inner), scalar(1.0),
        ctypes.c_void_p(a.data_ptr()), ctypes.c_int(k), scalar(beta), ctypes.c_void_p(out.data_ptr()),
        ctypes.c_int(size),
    )  # fmt: skip
    return out


def matmul_nt_(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Return ``out`` holding ``a @ b.T`` (``a`` ``(n, k)``, ``b`` ``(m, k)``, ``out`` ``(n, m)``).

    On the CPU (float32/float64, contiguous) one BLAS ``?gemm`` call writing into ``out``'s memory, without the
    GIL; else ``torch.mm``.
    """
    (n, k), m = a.shape, b.shape[0]
    if out.shape != (n, m) or b.shape[1] != k or not out.dtype == a.dtype == b.dtype:
        raise ValueError(f"matmul_nt_: shapes {tuple(out.shape)} = {tuple(a.shape)} @ {tuple(b.shape)}ᵀ do not fit")
    if not _on_cpu_blas(out, a, b):
        return torch.mm(a, b.T, out=out)
    # Column-major views: aᵀ (k, n), bᵀ (k, m), outᵀ (m, n); outᵀ = b aᵀ = (bᵀ)ᵀ aᵀ: transa "T", transb "N".
    scalar = _SCALAR[a.dtype]
    _GEMM[a.dtype](
        b"T", b"N", ctypes.c_int(m), ctypes.c_int(n), ctypes.c_int(k), scalar(1.0), ctypes.c_void_p(b.data_ptr()),
        ctypes.c_int(k), ctypes.c_void_p(a.data_ptr()), ctypes.c_int(k), scalar(0.0), ctypes.c_void_p(out.data_ptr()),
        ctypes.c_int(m),
    )  # fmt: skip
    return out
