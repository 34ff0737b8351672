"""Numeric modes shared by the feature extractors and the metrics: full IEEE float32 on every backend.

Knows nothing of features or metrics; both the network (``features.extract``) and the float32 kernel matmuls of
``metrics.mmd`` run inside ``exact_float32`` so that their numbers do not depend on the GPU generation or on
TF32 defaults.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def exact_float32() -> Iterator[None]:
    """Within the block, run float32 matmuls and convolutions in full IEEE float32, deterministically.

    Sets TF32 off for CUDA matmuls, cuDNN and oneDNN convolutions (and oneDNN matmuls),
    ``cudnn.deterministic`` on and ``cudnn.benchmark`` off; restores every previous setting on exit, also when
    an exception leaves the block. Uses the ``fp32_precision`` settings where this torch has them (2.9+, where
    mixing them with the legacy ``allow_tf32`` flags is an error), else the legacy flags and
    ``set_float32_matmul_precision``.
    """
    backends = torch.backends
    cudnn = backends.cudnn
    if hasattr(cudnn, "conv"):
        # The fp32_precision switches of torch 2.9+ (absent from older type stubs, hence getattr).
        switches = ((backends.cuda, "matmul"), (cudnn, "conv"), (backends.mkldnn, "matmul"), (backends.mkldnn, "conv"))
        targets = [getattr(module, name) for module, name in switches]
        saved = [t.fp32_precision for t in targets]
        saved_cudnn = (cudnn.deterministic, cudnn.benchmark)
        try:
            for t in targets:
                t.fp32_precision = "ieee"
            cudnn.deterministic, cudnn.benchmark = True, False
            yield
        finally:
            for t, value in zip(targets, saved, strict=True):
                t.fp32_precision = value
            cudnn.deterministic, cudnn.benchmark = saved_cudnn
    else:
        saved_legacy = (torch.get_float32_matmul_precision(), cudnn.allow_tf32, cudnn.deterministic, cudnn.benchmark)
        try:
            torch.set_float32_matmul_precision("highest")
            cudnn.allow_tf32, cudnn.deterministic, cudnn.benchmark = False, True, False
            yield
        finally:
            torch.set_float32_matmul_precision(saved_legacy[0])
            cudnn.allow_tf32, cudnn.deterministic, cudnn.benchmark = saved_legacy[1:]
