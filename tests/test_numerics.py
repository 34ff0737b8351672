"""numerics: torch on one CPU thread, restored afterwards; jobs shared among single-threaded CPU workers."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import torch
from threadpoolctl import threadpool_info

from ganmetrics.numerics import map_on_cpu_threads, one_torch_thread


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


@pytest.fixture
def two_torch_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_map_on_cpu_threads_runs_jobs_concurrently_with_single_threaded_kernels(two_torch_threads: None) -> None:
    # The barrier returns only when two jobs wait at it at once: run one after the other, it would time out.
    barrier = threading.Barrier(2, timeout=30)
    states: list[object] = []

    def work(job: int, state: list[int]) -> tuple[int, int, int, list[int]]:
        if job < 2:
            barrier.wait()
        state.append(job)
        return job * job, torch.get_num_threads(), threading.get_ident(), _blas_threads()

    results = map_on_cpu_threads(list(range(6)), work, lambda: states.append([]) or states[-1], torch.device("cpu"))
    assert [r[0] for r in results] == [k * k for k in range(6)]  # in the order of the jobs
    assert {r[1] for r in results} == {1}  # torch on one thread inside
    assert len({r[2] for r in results}) == 2 and threading.get_ident() not in {r[2] for r in results}
    assert all(threads == [1] * len(threads) for *_, threads in results)  # every BLAS on one thread inside
    assert len(states) == 2 and sorted(job for s in states for job in s) == list(range(6))  # one state per worker
    assert torch.get_num_threads() == 2


def test_map_on_cpu_threads_restores_the_blas_threads(two_torch_threads: None) -> None:
    before = _blas_threads()
    map_on_cpu_threads([1, 2, 3], lambda job, state: _blas_threads(), list, torch.device("cpu"))
    assert _blas_threads() == before


def test_map_on_cpu_threads_runs_in_order_on_the_caller_when_jobs_are_fewer_than_threads(
    two_torch_threads: None,
) -> None:
    caller = threading.get_ident()
    results = map_on_cpu_threads([5], lambda job, state: (job, threading.get_ident(), torch.get_num_threads()), list,
                                 torch.device("cpu"))  # fmt: skip
    assert results == [(5, caller, 1)]
    assert torch.get_num_threads() == 2


def test_map_on_cpu_threads_runs_other_devices_in_order_on_the_caller(two_torch_threads: None) -> None:
    caller = threading.get_ident()
    results = map_on_cpu_threads([1, 2, 3], lambda job, state: (job, threading.get_ident()), list,
                                 torch.device("meta"))  # fmt: skip
    assert results == [(1, caller), (2, caller), (3, caller)]


def test_map_on_cpu_threads_raises_a_job_error_and_restores_the_threads(two_torch_threads: None) -> None:
    def work(job: int, state: list[int]) -> int:
        if job == 3:
            raise ValueError("job 3")
        return job

    before = _blas_threads()
    with pytest.raises(ValueError, match="job 3"):
        map_on_cpu_threads(list(range(5)), work, list, torch.device("cpu"))
    assert torch.get_num_threads() == 2 and _blas_threads() == before
