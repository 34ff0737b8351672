"""Numeric modes shared by the feature extractors, the metrics and the trainer: full IEEE float32 on every
backend, torch on one CPU thread, and work shared among threads that each run their kernels on one.

Knows nothing of features or metrics; both the network (``features.extract``) and the float32 kernel matmuls of
``metrics.mmd`` run inside ``exact_float32`` so that their numbers do not depend on the GPU generation or on
TF32 defaults.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, cast

import torch
from threadpoolctl import ThreadpoolController

_Job = TypeVar("_Job")
_State = TypeVar("_State")
_Result = TypeVar("_Result")


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


@contextlib.contextmanager
def one_torch_thread(device: torch.device | None = None) -> Iterator[None]:
    """Within the block, run torch's CPU operations on one thread (``device`` another than the CPU: no change);
    restore the thread count on exit. BLAS calls made through numpy/scipy keep their own threads.

    Where it is used and why: the CPU bilinear resize of ``features.extract`` rounds differently on one thread
    than on several (by up to 2e-7) and DataLoader workers run on one, so resizing on one thread everywhere makes
    the features independent of ``num_workers``; the trainer's 2-D MLPs are too small to gain from threads, and
    one thread makes their runs independent of the core count; in ``metrics`` the memory-bound steps around the
    BLAS calls (conversions, centring, kernel values in cache-sized strips) run on one. With two or more torch
    threads every such operation is a parallel region whose threads meet at a barrier; when other processes
    share the cores, a preempted thread holds the others at the barrier for a scheduler time slice. Measured on
    the 2-core benchmark machine at load 9: 47 ms on one thread against 1.1 s on two for the kernel values of
    one 2,000-row Gram matrix (``mmd``); on an idle machine two threads save little on these steps, which are
    bound by memory bandwidth. The setting is process-wide (torch has no per-call thread count).
    """
    if device is not None and device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@functools.cache
def _blas_libraries() -> ThreadpoolController:
    """Return threadpoolctl's view of the BLAS libraries loaded in the process, made once: a limit through it
    costs 0.02 ms, where ``threadpool_limits`` looks the libraries up again each time (1.8 ms). Made at the first
    ``map_on_cpu_threads``, after its callers' imports loaded numpy's OpenBLAS (torch imports numpy) and scipy's
    (``metrics._blas``)."""
    return ThreadpoolController()


def map_on_cpu_threads(
    jobs: Sequence[_Job],
    work: Callable[[_Job, _State], _Result],
    state: Callable[[], _State],
    device: torch.device,
) -> list[_Result]:
    """Return ``[work(job, s) for job in jobs]``, the jobs shared among CPU threads when there are enough of them.

    When ``device`` is the CPU and there are at least as many jobs as torch threads (``torch.get_num_threads()``,
    two or more), that many worker threads take the jobs in turn; each has its own ``s = state()`` (buffers
    reused across its jobs), and every kernel runs on the thread that calls it: torch on one thread
    (``one_torch_thread``) and every BLAS library in the process (numpy's and scipy's OpenBLAS) on one
    (``threadpoolctl``). Independent single-threaded workers meet only at the end: no barrier per operation,
    and the memory-bound steps between BLAS calls run on every core instead of one. Otherwise (another device,
    one thread, fewer jobs than threads) the jobs run in order on the calling thread, on one torch thread, and
    BLAS keeps its own threads. ``work`` must only call kernels that release the GIL for their duration (torch
    operations, ``metrics._blas``); the results are in the order of ``jobs`` either way, and
    do not depend on which thread ran a job.
    """
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads < 2 or len(jobs) < threads:
        own = state()
        with one_torch_thread(device):
            return [work(job, own) for job in jobs]
    results: list[_Result | None] = [None] * len(jobs)
    pending = iter(range(len(jobs)))
    lock = threading.Lock()

    def worker() -> None:
        own = state()
        while True:
            with lock:
                k = next(pending, None)
            if k is None:
                return
            results[k] = work(jobs[k], own)

    with (
        one_torch_thread(device),
        _blas_libraries().limit(limits=1, user_api="blas"),
        ThreadPoolExecutor(threads) as pool,
    ):
        for future in [pool.submit(worker) for _ in range(threads)]:
            future.result()
    return cast(list[_Result], results)  # every slot is filled: a failed job raised above
