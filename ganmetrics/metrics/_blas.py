"""Symmetric products ``a aᵀ`` and ``aᵀ a`` through BLAS ``?syrk``, and the general product ``a bᵀ``, on the
library measured fastest for each on the device.

A symmetric rank-k update (BLAS ``?syrk``) computes one triangle of ``a aᵀ``: half the floating-point work of a
general matrix product. torch exposes no ``syrk``, so on the CPU the symmetric products go to scipy's BLAS
(``scipy.linalg.blas.ssyrk``/``dsyrk``, the OpenBLAS scipy ships) and the general ones to numpy's ``matmul``
(OpenBLAS as well); torch's CPU matmul (MKL) was slower for every shape the metrics use on the benchmark
machine (bench/RESULTS.md, section ``kernel``, table "BLAS rates"). On other devices both are torch matmuls (the
full product: there is no faster one to call), so the triangle below the diagonal is filled there too.

Callers read the upper triangle (on and above the diagonal) only; what lies below it is unspecified.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import blas

_SYRK = {torch.float32: blas.ssyrk, torch.float64: blas.dsyrk}


def _on_cpu_blas(*tensors: torch.Tensor) -> bool:
    return all(t.device.type == "cpu" and t.dtype in _SYRK and t.is_contiguous() for t in tensors)


def syrk_(out: torch.Tensor, a: torch.Tensor, *, transpose: bool = False, beta: float = 0.0) -> torch.Tensor:
    """Return ``out`` with ``a @ a.T + beta * out`` (``transpose``: ``a.T @ a + beta * out``) on and above its
    diagonal; below the diagonal ``out`` is unspecified.

    ``a`` is ``(n, k)``; ``out`` is ``(n, n)`` (``transpose``: ``(k, k)``), both contiguous, one dtype and device.
    On the CPU (float32/float64) this is one BLAS ``?syrk`` call writing into ``out``'s memory, else a torch
    matmul of the full product.
    """
    if not _on_cpu_blas(out, a):
        return out.addmm_(a.T if transpose else a, a if transpose else a.T, beta=beta)
    # Row-major a (n, k) is the column-major (k, n) matrix aᵀ, and the column-major view of out is outᵀ, whose
    # lower triangle is out's upper one. syrk(trans=1) forms (aᵀ)ᵀ aᵀ = a aᵀ; trans=0 forms aᵀ a.
    c = out.numpy().T
    result = _SYRK[a.dtype](1.0, a.numpy().T, beta=beta, c=c, trans=0 if transpose else 1, lower=1, overwrite_c=1)
    if not np.shares_memory(result, c):  # f2py copies only if c had the wrong layout, which _on_cpu_blas excludes
        raise RuntimeError("syrk_: BLAS did not write into out")
    return out


def matmul_nt_(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Return ``out`` holding ``a @ b.T`` (``a`` ``(n, k)``, ``b`` ``(m, k)``, ``out`` ``(n, m)``).

    On the CPU numpy's ``matmul`` (OpenBLAS) writes into ``out``'s memory; elsewhere ``torch.mm``.
    """
    if not _on_cpu_blas(out, a, b):
        return torch.mm(a, b.T, out=out)
    np.matmul(a.numpy(), b.numpy().T, out=out.numpy())
    return out
