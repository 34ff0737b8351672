"""KID: numpy per-subset formula (float64 and float32 matmuls), exact torch-fidelity parity on shared subsets,
clean-fid and torch-fidelity on the full-set case, bad inputs."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

from ganmetrics.metrics import mmd
from ganmetrics.metrics.mmd import kid


def numpy_kid_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b/d + 1)^3 from the full kernel matrices (Binkowski et al. 2018)."""
    m, n, d = len(x), len(y), x.shape[1]
    kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2.0 * kxy.sum() / (m * n)
    )


def features(seed: int, n_x: int = 120, n_y: int = 150, d: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative, ReLU-like features as Inception pool3 gives, with a small shift between the sides."""
    rng = np.random.default_rng(seed)
    return (
        np.maximum(rng.normal(0.2, 0.7, size=(n_x, d)), 0.0),
        np.maximum(rng.normal(0.3, 0.7, size=(n_y, d)), 0.0),
    )


def test_kid_of_one_full_subset_equals_full_sample_unbiased_mmd2() -> None:
    x, y = features(0, n_x=80, n_y=80)
    mean, std = kid(x, y, subsets=1, subset_size=80, matmul_dtype="float64")
    # One subset holding every row (in another order): the full-sample estimate up to float64 summation
    # round-off; the result is O(1e-2) built from O(1) kernel sums, so 1e-12 relative.
    assert mean == pytest.approx(numpy_kid_mmd2(x, y), rel=1e-12)
    assert std == 0.0


@pytest.mark.parametrize(("d", "shift"), [(64, 0.1), (256, 0.2), (256, 5.0)])
def test_float32_kid_matches_the_float64_formula(d: int, shift: float) -> None:
    # Default matmul_dtype: float32 matmul of the rows centred on their sample's mean, float64 for the rest.
    rng = np.random.default_rng(d)
    x = np.maximum(rng.normal(0.2, 0.7, size=(120, d)), 0.0)
    y = np.maximum(rng.normal(0.2 + shift, 0.7, size=(120, d)), 0.0)
    mean, _ = kid(x, y, subsets=1, subset_size=120)
    expected = numpy_kid_mmd2(x, y)
    # Each centred dot product is rounded by ~2^-24 of ||a~|| ||b~|| (~1e-8 of the kernel argument here); the
    # errors of different pairs largely cancel (measured 1e-9 of the mean kernel value, ~1e-7 relative when
    # KID is 1e-2 of the mean kernel value as in the first case); shift = 5 checks far-apart samples.
    assert expected > 0.01 * ((x @ y.T / d + 1) ** 3).mean()
    assert mean == pytest.approx(expected, rel=1e-6)


def test_float32_kid_error_near_zero_is_bounded_by_the_mean_kernel_value() -> None:
    # Two samples of one distribution: KID ~ 0, so only an absolute bound makes sense: 1e-7 of the mean kernel
    # value, a full float32 rounding (2^-24 ~ 6e-8) of every kernel value with no cancellation.
    rng = np.random.default_rng(8)
    x, y = (np.maximum(rng.normal(0.2, 0.7, size=(100, 128)), 0.0) for _ in range(2))
    mean, _ = kid(x, y, subsets=1, subset_size=100)
    assert abs(mean - numpy_kid_mmd2(x, y)) <= 1e-7 * ((x @ y.T / 128 + 1) ** 3).mean()


def test_kid_of_one_full_subset_equals_torch_fidelity() -> None:
    x, y = features(1, n_x=64, n_y=64)
    ref = kid_features_to_metric(
        torch.from_numpy(x), torch.from_numpy(y), kid_subsets=1, kid_subset_size=64, verbose=False
    )
    mean, std = kid(x, y, subsets=1, subset_size=64, matmul_dtype="float64")
    # torch-fidelity in float64 (float64 inputs); same estimator, different summation order: 1e-10.
    assert mean == pytest.approx(ref[KEY_METRIC_KID_MEAN], rel=1e-10)
    assert std == ref[KEY_METRIC_KID_STD] == 0.0


@pytest.mark.parametrize("matmul_dtype", ["float64", "float32"])
def test_kid_of_one_full_subset_equals_clean_fid(matmul_dtype: str) -> None:
    # clean-fid's kernel_distance with one subset of all rows (its random order does not change the estimator):
    # ((sum_{i != j} k_xx + k_yy) / (m - 1) - 2 sum k_xy / m) / m, Lemma 6 for m = n, computed in numpy on the
    # float64 inputs. Ours in float64: summation order only, 1e-10; in float32 the documented 1e-6 (module
    # docstring of mmd, "Precision").
    from cleanfid.fid import kernel_distance  # a heavy import (torchvision, requests): only for this test

    x, y = features(9, n_x=90, n_y=90, d=64)
    expected = kernel_distance(x, y, num_subsets=1, max_subset_size=90)
    mean, _ = kid(x, y, subsets=1, subset_size=90, matmul_dtype=matmul_dtype)
    assert mean == pytest.approx(expected, rel=1e-10 if matmul_dtype == "float64" else 1e-6)


def test_kid_matches_numpy_formula_on_its_own_subsets() -> None:
    x, y = features(2)
    index_x, index_y = mmd._kid_subset_indices(len(x), len(y), 12, 50, 3)
    pairs = zip(index_x.numpy(), index_y.numpy(), strict=True)
    per_subset = [numpy_kid_mmd2(x[ix], y[iy]) for ix, iy in pairs]
    mean, std = kid(x, y, subsets=12, subset_size=50, seed=3, matmul_dtype="float64")
    # Mean and ddof = 0 std of the per-subset values, each exact to float64 round-off: 1e-10 relative
    # (the std, a difference of nearby numbers, gets 1e-8).
    assert mean == pytest.approx(np.mean(per_subset), rel=1e-10)
    assert std == pytest.approx(np.std(per_subset, ddof=0), rel=1e-8)
    # The default float32 matmuls on the same subsets (batched): 1e-6 as in the float32 formula test; the std
    # (here ~0.5 of the mean) inherits the per-subset errors, 1e-5.
    mean32, std32 = kid(x, y, subsets=12, subset_size=50, seed=3)
    assert mean32 == pytest.approx(np.mean(per_subset), rel=1e-6)
    assert std32 == pytest.approx(np.std(per_subset, ddof=0), rel=1e-5)


def test_kid_matches_torch_fidelity_exactly_on_the_same_subsets(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = features(4, n_x=200, n_y=170, d=32)
    subsets, subset_size, seed = 15, 60, 11

    def torch_fidelity_indices(
        n_x: int, n_y: int, s: int, size: int, rng_seed: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # The draws kid_features_to_metric makes: one RandomState, x then y for each subset.
        rng = np.random.RandomState(rng_seed)
        rows_x, rows_y = [], []
        for _ in range(s):
            rows_x.append(rng.choice(n_x, size, replace=False))
            rows_y.append(rng.choice(n_y, size, replace=False))
        return torch.as_tensor(np.stack(rows_x)), torch.as_tensor(np.stack(rows_y))

    monkeypatch.setattr(mmd, "_kid_subset_indices", torch_fidelity_indices)
    mean, std = kid(x, y, subsets=subsets, subset_size=subset_size, seed=seed, matmul_dtype="float64")
    ref = kid_features_to_metric(
        torch.from_numpy(x),
        torch.from_numpy(y),
        kid_subsets=subsets,
        kid_subset_size=subset_size,
        rng_seed=seed,
        verbose=False,
    )
    # Identical subsets, identical estimator, both float64: only summation order differs (1e-10 on the mean,
    # 1e-8 on the std, which is a small difference of similar numbers). This also pins ddof = 0.
    assert mean == pytest.approx(ref[KEY_METRIC_KID_MEAN], rel=1e-10)
    assert std == pytest.approx(ref[KEY_METRIC_KID_STD], rel=1e-8)


def test_kid_agrees_statistically_with_torch_fidelity_on_its_own_subsets() -> None:
    x, y = features(5, n_x=300, n_y=300)
    subsets = 50
    mean, std = kid(x, y, subsets=subsets, subset_size=100)
    ref = kid_features_to_metric(
        torch.from_numpy(x), torch.from_numpy(y), kid_subsets=subsets, kid_subset_size=100, verbose=False
    )
    # Different random subsets of the same data: each mean has standard error ~ std / sqrt(subsets), so the
    # difference has ~ std * sqrt(2 / subsets); allow 5 of those (deterministic seeds, so no flakiness).
    assert abs(mean - ref[KEY_METRIC_KID_MEAN]) <= 5.0 * std * np.sqrt(2.0 / subsets)
    assert std == pytest.approx(ref[KEY_METRIC_KID_STD], rel=0.5)


def test_kid_subsets_are_seeded_draws_without_replacement() -> None:
    index_x, index_y = mmd._kid_subset_indices(30, 40, 20, 25, seed=5)
    assert index_x.shape == index_y.shape == (20, 25)
    assert index_x.device.type == "cpu"
    assert all(len(set(row.tolist())) == 25 for row in torch.cat([index_x, index_y]))
    assert int(index_x.max()) < 30 and int(index_y.max()) < 40
    # Independent subsets: not all rows equal; the same seed repeats them, another seed does not.
    assert not torch.equal(index_x[0], index_x[1])
    again = mmd._kid_subset_indices(30, 40, 20, 25, seed=5)
    assert torch.equal(again[0], index_x) and torch.equal(again[1], index_y)
    assert not torch.equal(mmd._kid_subset_indices(30, 40, 20, 25, seed=6)[0], index_x)


@pytest.mark.parametrize("matmul_dtype", ["float64", "float32"])
def test_kid_does_not_depend_on_the_gram_tile_size(matmul_dtype: str) -> None:
    x, y = features(6)
    whole = kid(x, y, subsets=9, subset_size=40, matmul_dtype=matmul_dtype)  # one 80-row tile per subset
    tiled = kid(x, y, subsets=9, subset_size=40, matmul_dtype=matmul_dtype, chunk_size=7)  # 12 tiles, split rows
    # Same kernel entries summed in another grouping, and in float32 the same dot products (each entry is one
    # float32 dot product, whichever tile holds it, up to the BLAS's summation order): 1e-12 relative in float64,
    # 1e-7 in float32 (a float32 dot product's order changes it by ~1e-8 of the kernel argument).
    rel = 1e-12 if matmul_dtype == "float64" else 1e-7
    assert tiled == pytest.approx(whole, rel=rel)


def test_kid_accepts_float32_tensors() -> None:
    x, y = features(7)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    assert kid(torch.from_numpy(x32), torch.from_numpy(y32), subsets=3, subset_size=30) == kid(
        x32, y32, subsets=3, subset_size=30
    )


def test_kid_rejects_subset_size_larger_than_x() -> None:
    with pytest.raises(ValueError, match=r"subset_size: 50 .*x: 40, y: 60"):
        kid(np.random.rand(40, 3), np.random.rand(60, 3), subsets=2, subset_size=50)


def test_kid_rejects_subset_size_larger_than_y() -> None:
    with pytest.raises(ValueError, match=r"subset_size: 50 .*x: 60, y: 40"):
        kid(np.random.rand(60, 3), np.random.rand(40, 3), subsets=2, subset_size=50)


def test_kid_rejects_subset_size_below_two() -> None:
    with pytest.raises(ValueError, match="subset_size: must be at least 2"):
        kid(np.random.rand(10, 3), np.random.rand(10, 3), subsets=2, subset_size=1)


def test_kid_rejects_zero_subsets() -> None:
    with pytest.raises(ValueError, match="subsets: must be at least 1"):
        kid(np.random.rand(10, 3), np.random.rand(10, 3), subsets=0, subset_size=5)


def test_kid_rejects_non_integer_subset_size() -> None:
    with pytest.raises(TypeError, match="subset_size"):
        kid(np.random.rand(10, 3), np.random.rand(10, 3), subsets=2, subset_size=5.0)  # type: ignore[arg-type]


def test_kid_rejects_mismatched_feature_dimensions() -> None:
    with pytest.raises(ValueError, match=r"x and y.*\(3 vs 4\)"):
        kid(np.random.rand(10, 3), np.random.rand(10, 4), subsets=2, subset_size=5)


def test_kid_rejects_nan() -> None:
    y = np.random.rand(10, 3)
    y[2, 0] = np.nan
    with pytest.raises(ValueError, match="y: contains 1 NaN"):
        kid(np.random.rand(10, 3), y, subsets=2, subset_size=5)


def test_kid_rejects_1d_arrays() -> None:
    with pytest.raises(ValueError, match="y: expected a 2-D array"):
        kid(np.random.rand(10, 3), np.random.rand(10), subsets=2, subset_size=5)


def test_kid_rejects_an_unknown_matmul_dtype() -> None:
    with pytest.raises(ValueError, match="matmul_dtype: expected one of 'float32', 'float64', got 'half'"):
        kid(np.random.rand(10, 3), np.random.rand(10, 3), subsets=2, subset_size=5, matmul_dtype="half")


def test_kid_rejects_a_non_string_matmul_dtype() -> None:
    with pytest.raises(TypeError, match="matmul_dtype: expected a string, got int"):
        kid(np.random.rand(10, 3), np.random.rand(10, 3), subsets=2, subset_size=5, matmul_dtype=32)  # type: ignore[arg-type]


def test_kid_rejects_a_single_sample() -> None:
    with pytest.raises(ValueError, match="x: needs at least 2 samples"):
        kid(np.random.rand(1, 3), np.random.rand(10, 3), subsets=1, subset_size=1)


@pytest.fixture
def torch_threads() -> Iterator[Callable[[int], None]]:
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.mark.parametrize("matmul_dtype", ["float32", "float64"])
def test_kid_is_the_same_on_one_thread_and_shared_among_two(
    torch_threads: Callable[[int], None], matmul_dtype: str
) -> None:
    # One thread: the subsets in order on the caller; two: shared among two workers whose BLAS runs on one
    # thread each (numerics.map_on_cpu_threads). Each subset's value is computed whole by one thread, and in
    # these OpenBLAS builds a syrk's dot products do not depend on its thread count: bit-identical.
    x, y = features(8, d=48)
    torch_threads(1)
    alone = kid(x, y, subsets=7, subset_size=50, matmul_dtype=matmul_dtype)
    torch_threads(2)
    assert kid(x, y, subsets=7, subset_size=50, matmul_dtype=matmul_dtype) == alone


def test_kid_takes_float32_input_as_its_exact_float64_values() -> None:
    # float32 is centred chunk by chunk (_chunks) instead of through a float64 copy; float32 -> float64 is exact,
    # so a float64 array holding the same values gives the same result, bit for bit.
    x, y = features(9, n_x=300, n_y=260, d=40)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    assert kid(x32, y32, subsets=4, subset_size=100) == kid(
        x32.astype(np.float64), y32.astype(np.float64), subsets=4, subset_size=100
    )


@pytest.mark.parametrize("subsets", [1, 4])
def test_kid_with_subsets_of_every_row_is_the_full_sample_value_with_zero_std(subsets: int) -> None:
    # Every subset is then the whole of both samples: one value, computed once, std 0 (not a spread of
    # identical values that round-off would make 1e-19 instead of 0).
    x, y = features(10, n_x=90, n_y=90)
    mean, std = kid(x, y, subsets=subsets, subset_size=90, matmul_dtype="float64")
    assert mean == pytest.approx(numpy_kid_mmd2(x, y), rel=1e-12)
    assert std == 0.0
