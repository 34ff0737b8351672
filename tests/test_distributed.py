"""Distributed evaluation: 2 gloo processes on the CPU against one process fed the same data.

Each scenario is one ``torch.multiprocessing.spawn`` (process start-up dominates: a few seconds each); the
workers record their results with ``torch.save`` and the tests below compare them with single-process runs
computed here. Tolerances: FID statistics 1e-10 relative (the ranks' statistics are merged by Chan et al.'s
update instead of one stream of batches: float64 round-off of a few ulps per entry); metric values 1e-8
relative (the same data in the same order reach the same pure function, plus that round-off in FID).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from PIL import Image

from ganmetrics.distributed import (
    all_gather_json,
    compute_on_rank0,
    extract_features_distributed,
    gather_rows,
    gather_stats,
    shard_for_rank,
    shard_indices,
)
from ganmetrics.evaluate import Evaluator, evaluate_generator
from ganmetrics.features.extract import extract_features
from ganmetrics.metrics.statistics import FeatureStats

WORLD = 2
RAW_METRICS = ["fid", "kid", "mmd", "sinkhorn", "emd", "is"]
RAW_KWARGS = {"kid": {"subsets": 20, "subset_size": 40}, "sinkhorn": {"reg": 0.5}}
IMAGE_KWARGS = {"kid": {"subsets": 3, "subset_size": 3}}


def _entry(rank: int, init_file: str, out: str, folder: str, weights: str, generated: torch.Tensor) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        torch.set_num_threads(1)  # two processes on two cores
        result = {"raw": _raw_scenario(rank), "images": _image_scenario(rank, folder, weights, generated)}
        torch.save(result, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _raw_data() -> tuple[torch.Tensor, torch.Tensor]:
    """Reference (300, 8) and generated (203, 8) float32 features; 203 splits unevenly over 2 ranks."""
    g = torch.Generator().manual_seed(0)
    return torch.randn(300, 8, generator=g), torch.randn(203, 8, generator=g) * 1.3 + 0.2


def _block(n: int, rank: int) -> slice:
    return slice(rank * n // WORLD, (rank + 1) * n // WORLD)


def _expect_error(work: Any) -> str:
    try:
        work()
    except (ValueError, RuntimeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "no error"


def _generator() -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 8))


def _raw_scenario(rank: int) -> dict[str, Any]:
    x, y = _raw_data()
    mine = y[_block(len(y), rank)]
    result: dict[str, Any] = {}
    stats = gather_stats(FeatureStats.from_features(mine))
    result["mu"], result["sigma"], result["n"] = stats.mu, stats.sigma, stats.n
    ev = Evaluator(RAW_METRICS, reference=x, features="raw", metric_kwargs=RAW_KWARGS)
    result["before_update"] = _expect_error(ev.compute)
    for batch in mine.split(37):
        ev.update(batch)
    result["values"] = ev.compute()
    result["local"] = ev.compute(sync=False)
    # A rank with no samples at all still takes part: the values are those of rank 0's samples.
    ev.reset()
    if rank == 0:
        ev.update(mine)
    result["rank0_only"] = ev.compute()
    indices = shard_indices(len(y))
    result["strided"] = gather_rows(shard_for_rank(y), indices=list(indices))
    result["json"] = all_gather_json({"rank": rank, "names": ["a"] * rank})

    def fails_on_rank0() -> dict[str, float]:
        raise ValueError("bad input on rank 0")

    result["remote_error"] = _expect_error(lambda: compute_on_rank0(fails_on_rank0))
    result["generated"] = evaluate_generator(
        _generator(),
        n=150,
        batch_size=20,
        seed=3,
        reference=x[:, :8],
        latent_dim=4,
        features="raw",
        metrics=["fid", "kid"],
        metric_kwargs={"kid": {"subsets": 5, "subset_size": 30}},
    )
    return result


def _image_scenario(rank: int, folder: str, weights: str, generated: torch.Tensor) -> dict[str, Any]:
    extraction = extract_features_distributed(folder, weights=weights, num_workers=0, progress=False)
    ev = Evaluator(["kid"], reference=folder, weights=weights, device="cpu", num_workers=0, metric_kwargs=IMAGE_KWARGS)
    ev.update(generated[_block(len(generated), rank)])
    return {"features": extraction.features["pool3"], "n": extraction.metadata["n"], "values": ev.compute()}


def _image_inputs(folder: Path) -> torch.Tensor:
    """Write 6 random 8x8 PNGs to ``folder`` (3 per rank); return 4 generated uint8 images."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return torch.from_numpy(rng.integers(0, 256, (4, 3, 8, 8), dtype=np.uint8))


@pytest.fixture(scope="module")
def spawned(tmp_path_factory: pytest.TempPathFactory, fid_weights: Path) -> tuple[Path, list[dict[str, Any]]]:
    """Both scenarios in one spawn (process start-up costs ~10 s); returns the image folder and each rank's results."""
    tmp = tmp_path_factory.mktemp("distributed")
    generated = _image_inputs(tmp / "images")
    args = (str(tmp / "init"), str(tmp), str(tmp / "images"), str(fid_weights), generated)
    mp.spawn(_entry, args=args, nprocs=WORLD, join=True)
    return tmp / "images", [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


@pytest.fixture(scope="module")
def raw_results(spawned: tuple[Path, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [result["raw"] for result in spawned[1]]


def _close(a: dict[str, float], b: dict[str, float], rtol: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=rtol, abs=1e-12), key


def test_merged_stats_equal_single_process_stats(raw_results: list[dict[str, Any]]) -> None:
    _, y = _raw_data()
    single = FeatureStats.from_features(y)
    for result in raw_results:
        assert result["n"] == len(y)
        scale = float(single.sigma.abs().max())
        assert float((result["mu"] - single.mu).abs().max()) <= 1e-10 * float(single.mu.abs().max())
        assert float((result["sigma"] - single.sigma).abs().max()) <= 1e-10 * scale


def test_synced_values_equal_single_process_on_every_rank(raw_results: list[dict[str, Any]]) -> None:
    x, y = _raw_data()
    single = Evaluator(RAW_METRICS, reference=x, features="raw", metric_kwargs=RAW_KWARGS)
    for batch in y.split(37):
        single.update(batch)
    expected = single.compute()
    assert raw_results[0]["values"] == raw_results[1]["values"]  # bit for bit: computed once, broadcast
    _close(raw_results[0]["values"], expected, 1e-8)


def test_unsynced_compute_uses_local_samples_only(raw_results: list[dict[str, Any]]) -> None:
    x, y = _raw_data()
    for rank, result in enumerate(raw_results):
        local = Evaluator(RAW_METRICS, reference=x, features="raw", metric_kwargs=RAW_KWARGS)
        local.update(y[_block(len(y), rank)])
        _close(result["local"], local.compute(), 1e-8)


def test_rank_without_samples_joins_and_gets_rank0_values(raw_results: list[dict[str, Any]]) -> None:
    x, y = _raw_data()
    single = Evaluator(RAW_METRICS, reference=x, features="raw", metric_kwargs=RAW_KWARGS)
    single.update(y[_block(len(y), 0)])
    expected = single.compute()
    for result in raw_results:
        _close(result["rank0_only"], expected, 1e-8)


def test_compute_before_update_raises_on_every_rank(raw_results: list[dict[str, Any]]) -> None:
    assert "compute() was called before any update()" in raw_results[0]["before_update"]
    assert raw_results[1]["before_update"].startswith("ValueError: rank 0 failed")
    assert "before any update()" in raw_results[1]["before_update"]


def test_error_on_rank0_reaches_the_other_ranks(raw_results: list[dict[str, Any]]) -> None:
    assert raw_results[0]["remote_error"] == "ValueError: bad input on rank 0"
    assert raw_results[1]["remote_error"] == "ValueError: rank 0 failed: ValueError: bad input on rank 0"


def test_strided_shards_gather_back_in_original_order(raw_results: list[dict[str, Any]]) -> None:
    _, y = _raw_data()
    for result in raw_results:
        assert torch.equal(result["strided"], y)  # exact: rows are only moved


def test_json_records_gathered_in_rank_order(raw_results: list[dict[str, Any]]) -> None:
    expected = [{"rank": 0, "names": []}, {"rank": 1, "names": ["a"]}]
    assert raw_results[0]["json"] == expected == raw_results[1]["json"]


def test_evaluate_generator_distributed_equals_single_process(raw_results: list[dict[str, Any]]) -> None:
    x, _ = _raw_data()
    expected = evaluate_generator(
        _generator(),
        n=150,
        batch_size=20,
        seed=3,
        reference=x,
        latent_dim=4,
        features="raw",
        metrics=["fid", "kid"],
        metric_kwargs={"kid": {"subsets": 5, "subset_size": 30}},
    )
    for result in raw_results:
        _close(result["generated"], expected, 1e-8)


def test_shards_cover_every_index_once() -> None:
    shards = [list(shard_indices(7, r, 3)) for r in range(3)]
    assert shards == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(sum(shards, [])) == list(range(7))


def test_image_folder_and_metrics_equal_single_process(
    spawned: tuple[Path, list[dict[str, Any]]], fid_weights: Path
) -> None:
    folder, results = spawned
    generated = _image_inputs(folder.parent / "again")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers: CPU convolutions round differently with the thread count
    try:
        single = extract_features(folder, weights=fid_weights, num_workers=0, progress=False).features["pool3"]
        ev = Evaluator(
            ["kid"], reference=folder, weights=fid_weights, device="cpu", num_workers=0, metric_kwargs=IMAGE_KWARGS
        )
        ev.update(generated)
        expected = ev.compute()
    finally:
        torch.set_num_threads(threads)
    for result in (r["images"] for r in results):
        assert result["n"] == 6
        # The rows come back in file order; the network sees other batch compositions (3 images, not 6), which
        # oneDNN may round differently: float32 round-off, 1e-5 relative to the largest feature.
        np.testing.assert_allclose(result["features"], single, rtol=0, atol=1e-5 * np.abs(single).max())
        # KID of 4 and 6 samples: the float32 differences of the features (above) move it far less than 1e-4.
        _close(result["values"], expected, 1e-4)
    assert results[0]["images"]["values"] == results[1]["images"]["values"]
