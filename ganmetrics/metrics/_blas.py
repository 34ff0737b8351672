"""Symmetric products ``a aᵀ`` and ``aᵀ a`` through BLAS ``?syrk``, and the general product ``a bᵀ``, on the
library measured fastest for each on the device.

A symmetric rank-k update (BLAS ``?syrk``) computes one triangle of ``a aᵀ``: half the floating-point work of a
general matrix product. torch exposes no ``syrk``, so on the CPU the symmetric products go to the OpenBLAS scipy
ships, called through the function pointers of ``scipy.linalg.cython_blas`` (scipy's public Cython BLAS) with
ctypes, which releases the GIL for the duration of the call, so that several threads can run their own
products at once (``numerics.map_on_cpu_threads``); the general ones go to numpy's ``matmul`` (OpenBLAS as
well, also without the GIL). On several threads torch's CPU matmul (MKL) was slower for the metrics' shapes on
the benchmark machine (bench/RESULTS.md, section ``kernel``, table "BLAS rates"); on one thread it was faster
alone (1.1-1.2x), but slower in the workers, beside OpenBLAS's ``syrk`` on the other core (KID of 2,000 per
side: 291 ms against 225, medians of 10). On other devices both are torch matmuls (the full product: there is
no faster one to call), so the triangle below the diagonal is filled there too.

Callers read the upper triangle (on and above the diagonal) only; what lies below it is unspecified.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import numpy as np
import scipy.linalg.cython_blas
import torch


def _fortran_syrk(name: str, scalar: type[ctypes.c_float] | type[ctypes.c_double]) -> Callable[..., None]:
    """Return scipy's Fortran-convention ``?syrk`` (every argument by reference) as a ctypes function."""
    capsule = scipy.linalg.cython_blas.__pyx_capi__[name]  # type: ignore[attr-defined]
    # Prototypes of our own: setting argtypes on ctypes.pythonapi's shared functions would change them for others.
    get_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(("PyCapsule_GetName", ctypes.pythonapi))
    get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
        ("PyCapsule_GetPointer", ctypes.pythonapi)
    )
    address = get_pointer(capsule, get_name(capsule))
    integer, pointer = ctypes.POINTER(ctypes.c_int), ctypes.c_void_p
    prototype = ctypes.CFUNCTYPE(
        None, ctypes.c_char_p, ctypes.c_char_p, integer, integer, ctypes.POINTER(scalar), pointer, integer,
        ctypes.POINTER(scalar), pointer, integer,
    )  # fmt: skip
    return prototype(address)


_SYRK = {
    torch.float32: (_fortran_syrk("ssyrk", ctypes.c_float), ctypes.c_float),
    torch.float64: (_fortran_syrk("dsyrk", ctypes.c_double), ctypes.c_double),
}


def _on_cpu_blas(*tensors: torch.Tensor) -> bool:
    return all(t.device.type == "cpu" and t.dtype in _SYRK and t.is_contiguous() for t in tensors)


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
    function, scalar = _SYRK[a.dtype]
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

    On the CPU numpy's ``matmul`` (OpenBLAS, without the GIL) writes into ``out``'s memory; elsewhere
    ``torch.mm``.
    """
    if not _on_cpu_blas(out, a, b):
        return torch.mm(a, b.T, out=out)
    np.matmul(a.numpy(), b.numpy().T, out=out.numpy())
    return out
