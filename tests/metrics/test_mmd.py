"""Unbiased Gaussian MMD^2: numpy full-matrix formula (float64 and float32 matmuls), scipy median heuristic,
chunking, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist, pdist

from ganmetrics.metrics import mmd
from ganmetrics.metrics.mmd import MMDResult, mmd2_unbiased


def numpy_mmd2_unbiased(x: np.ndarray, y: np.ndarray, sigma: float) -> float:
    """Gretton et al. 2012, Lemma 6, with the full kernel matrices (scipy distances, no tricks)."""
    m, n = len(x), len(y)

    def gram(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.exp(-cdist(a, b, "sqeuclidean") / (2.0 * sigma**2))

    kxx, kyy, kxy = gram(x, x), gram(y, y), gram(x, y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2.0 * kxy.sum() / (m * n)
    )


def samples(seed: int, m: int = 37, n: int = 53, d: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, d)), rng.normal(loc=0.3, scale=1.2, size=(n, d))


def relu_features(seed: int, m: int, n: int, d: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative features like Inception pool3 (mean ~0.4), ``y`` shifted by ``shift`` in every coordinate."""
    rng = np.random.default_rng(seed)
    return np.maximum(rng.normal(0.2, 0.7, size=(m, d)), 0.0), np.maximum(rng.normal(0.2 + shift, 0.7, (n, d)), 0.0)


@pytest.mark.parametrize("sigma", [0.5, 2.0, 30.0])
def test_float64_mmd2_matches_full_matrix_numpy_formula(sigma: float) -> None:
    x, y = samples(0)
    result = mmd2_unbiased(x, y, sigma=sigma, matmul_dtype="float64")
    # Both in float64; the only difference is the distance formula (expanded vs direct, after centring) and
    # summation order, a few ulps of each kernel entry: 1e-12 relative of the O(1e-4 .. 1e-2) results.
    assert result.mmd2 == pytest.approx(numpy_mmd2_unbiased(x, y, sigma), rel=1e-12)
    assert result.sigma == sigma


@pytest.mark.parametrize(("d", "chunk_size"), [(64, 4096), (256, 4096), (256, 40)])
def test_float32_mmd2_matches_float64_formula_on_separated_samples(d: int, chunk_size: int) -> None:
    x, y = relu_features(d, 150, 170, d, shift=0.2)
    result = mmd2_unbiased(x, y, chunk_size=chunk_size)  # default matmul_dtype: float32
    expected = numpy_mmd2_unbiased(x, y, result.sigma)
    # The float32 matmul rounds each centred dot product by ~2^-24 of ||a~|| ||b~|| (~1e-7 of the kernel argument
    # at the median bandwidth); errors of different pairs largely cancel (measured 1e-9 of the mean kernel value).
    # MMD^2 here is ~1e-2 of the mean kernel value, so the relative error stays well below the 1e-6 promised.
    assert expected > 0.01 * np.exp(-cdist(x, y, "sqeuclidean") / (2 * result.sigma**2)).mean()
    assert result.mmd2 == pytest.approx(expected, rel=1e-6)


def test_float32_mmd2_error_near_zero_is_bounded_by_the_mean_kernel_value() -> None:
    # Two samples of one distribution: MMD^2 ~ 0, so only an absolute bound makes sense. Bound: 1e-7 of the
    # mean kernel value, i.e. a full float32 rounding (2^-24 ~ 6e-8) of every kernel value with no cancellation
    # (measured: ~1e-9 of it).
    rng = np.random.default_rng(11)
    x, y = rng.normal(0.4, 0.5, size=(160, 128)), rng.normal(0.4, 0.5, size=(140, 128))
    result = mmd2_unbiased(x, y)
    mean_kernel = np.exp(-cdist(x, y, "sqeuclidean") / (2 * result.sigma**2)).mean()
    assert abs(result.mmd2 - numpy_mmd2_unbiased(x, y, result.sigma)) <= 1e-7 * mean_kernel


def test_default_matmul_dtype_runs_the_matmuls_in_ieee_float32_and_restores_tf32(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # CUDA would run float32 matmuls in TF32 (10-bit mantissa) under this setting; inside the call it must be off.
    seen: list[tuple[torch.dtype, str]] = []

    def recording(product):  # noqa: ANN001, ANN202 - wraps syrk_ / matmul_nt_
        def call(out: torch.Tensor, a: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
            seen.append((a.dtype, torch.backends.cuda.matmul.fp32_precision))
            return product(out, a, *args, **kwargs)

        return call

    monkeypatch.setattr(mmd, "syrk_", recording(mmd.syrk_))
    monkeypatch.setattr(mmd, "matmul_nt_", recording(mmd.matmul_nt_))
    cublas, x, y = torch.backends.cuda.matmul, *samples(9)
    saved, cublas.fp32_precision = cublas.fp32_precision, "tf32"
    try:
        mmd2_unbiased(x, y, sigma=1.0, chunk_size=30)  # 90 pooled rows: 3 diagonal tiles (syrk), 3 above (matmul)
        assert cublas.fp32_precision == "tf32"
    finally:
        cublas.fp32_precision = saved
    assert len(seen) == 6 and set(seen) == {(torch.float32, "ieee")}


def test_mmd2_of_two_points_per_sample_matches_hand_formula() -> None:
    # m = n = 2: MMD^2 = k(x1,x2) + k(y1,y2) - (1/2) sum_{i,j} k(x_i,y_j), on the real line.
    x, y, sigma = np.array([[0.0], [1.0]]), np.array([[0.5], [3.0]]), 1.5

    def k(a: float, b: float) -> float:
        return math.exp(-((a - b) ** 2) / (2 * sigma**2))

    expected = k(0, 1) + k(0.5, 3) - 0.5 * (k(0, 0.5) + k(0, 3) + k(1, 0.5) + k(1, 3))
    assert mmd2_unbiased(x, y, sigma=sigma, matmul_dtype="float64").mmd2 == pytest.approx(expected, rel=1e-13)


def test_median_heuristic_matches_scipy_pdist_median() -> None:
    x, y = samples(1)  # 90 points: 4005 pairs, an odd count
    pooled = np.vstack([x, y])
    expected_sigma = float(np.median(pdist(pooled)))
    result = mmd2_unbiased(x, y, matmul_dtype="float64")
    # The expanded-square distances differ from pdist's direct ones by ~1e-15 relative.
    assert result.sigma == pytest.approx(expected_sigma, rel=1e-10)
    assert result.mmd2 == pytest.approx(numpy_mmd2_unbiased(x, y, expected_sigma), rel=1e-10)


def test_median_heuristic_averages_the_two_middle_distances_for_an_even_pair_count() -> None:
    # 4 points on a line: 6 pairwise distances 1, 2, 3, 1, 2, 1 -> sorted 1 1 1 2 2 3, np.median = 1.5
    # (the lower median would be 1): checks the documented np.median convention.
    x, y = np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]])
    assert mmd2_unbiased(x, y).sigma == pytest.approx(float(np.median(pdist(np.vstack([x, y])))), rel=1e-12)
    assert mmd2_unbiased(x, y).sigma == pytest.approx(1.5, rel=1e-12)


def test_median_heuristic_uses_the_documented_seeded_subsample() -> None:
    x, y = samples(2, m=70, n=50)
    pooled = np.vstack([x, y])
    keep = torch.randperm(120, generator=torch.Generator().manual_seed(7))[:40].numpy()
    expected_sigma = float(np.median(pdist(pooled[keep])))
    result = mmd2_unbiased(x, y, seed=7, median_subsample=40)
    assert result.sigma == pytest.approx(expected_sigma, rel=1e-10)
    # A different seed draws another subsample, hence (almost surely) another median.
    assert mmd2_unbiased(x, y, seed=8, median_subsample=40).sigma != result.sigma


def test_median_heuristic_default_subsample_is_2000_points() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(1500, 3)), rng.normal(size=(600, 3))
    keep = torch.randperm(2100, generator=torch.Generator().manual_seed(0))[:2000].numpy()
    expected_sigma = float(np.median(pdist(np.vstack([x, y])[keep])))
    assert mmd2_unbiased(x, y, chunk_size=2100).sigma == pytest.approx(expected_sigma, rel=1e-10)


@pytest.mark.parametrize("chunk_size", [1, 7, 36, 37, 38])
def test_chunked_equals_single_block(chunk_size: int) -> None:
    x, y = samples(4)
    whole = mmd2_unbiased(x, y, sigma=1.3, chunk_size=1000, matmul_dtype="float64").mmd2
    chunked = mmd2_unbiased(x, y, sigma=1.3, chunk_size=chunk_size, matmul_dtype="float64").mmd2
    # Same kernel entries summed in another grouping: float64 round-off only, 1e-12 relative.
    assert chunked == pytest.approx(whole, rel=1e-12)


def test_gram_tiles_never_exceed_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    # The memory bound behind n = 50,000: no Gram tile larger than chunk_size x chunk_size is formed, and each pair
    # of rows is formed once (tiles on and above the diagonal of the pooled 190 x 190 Gram matrix).
    shapes: list[tuple[int, int]] = []
    diagonal: list[int] = []

    def recording(product):  # noqa: ANN001, ANN202 - wraps syrk_ / matmul_nt_
        symmetric = product is mmd.syrk_

        def call(out: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
            shapes.append(tuple(out.shape))
            if symmetric:
                diagonal.append(out.shape[0])
            return product(out, *args, **kwargs)

        return call

    monkeypatch.setattr(mmd, "syrk_", recording(mmd.syrk_))
    monkeypatch.setattr(mmd, "matmul_nt_", recording(mmd.matmul_nt_))
    x, y = samples(5, m=100, n=90)
    result = mmd2_unbiased(x, y, sigma=1.0, chunk_size=16, matmul_dtype="float64")
    assert shapes and max(max(s) for s in shapes) <= 16
    tiles = -(-190 // 16)
    assert len(shapes) == tiles * (tiles + 1) // 2 and len(diagonal) == tiles
    # Entries on and above the diagonal: the off-diagonal tiles and the upper triangles of the diagonal ones.
    upper = sum(r * c for r, c in shapes) - sum(r * (r - 1) // 2 for r in diagonal)
    assert upper == 190 * 191 // 2
    assert result.mmd2 == pytest.approx(numpy_mmd2_unbiased(x, y, 1.0), rel=1e-10)


@pytest.mark.parametrize(("matmul_dtype", "rel"), [("float64", 1e-10), ("float32", 1e-6)])
def test_mmd2_of_translated_copy_far_away_is_twice_the_mean_off_diagonal_kernel(matmul_dtype: str, rel: float) -> None:
    # y = x + 1e3: cross kernel terms underflow to exactly 0 and K_yy = K_xx (distances are translation
    # invariant), so MMD^2 = 2/(m(m-1)) sum_{i != j} k(x_i, x_j), computed here with pdist. Each sample is
    # centred on its own mean, so the float32 matmul sees O(1) rows, not the 1e3 offset (with the pooled mean
    # it would be off by 2e-3): float32 rounding as in the separated-samples test, 1e-6.
    x, _ = samples(6, m=40)
    sigma = 1.0
    expected = 2.0 * 2.0 * np.exp(-pdist(x, "sqeuclidean") / (2 * sigma**2)).sum() / (40 * 39)
    assert mmd2_unbiased(x, x + 1e3, sigma=sigma, matmul_dtype=matmul_dtype).mmd2 == pytest.approx(expected, rel=rel)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), m=st.integers(2, 20), n=st.integers(2, 20), chunk=st.integers(1, 8))
def test_mmd2_is_symmetric_and_invariant_to_row_permutations(seed: int, m: int, n: int, chunk: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(m, 3)), rng.normal(scale=1.5, size=(n, 3))
    options = {"chunk_size": chunk, "matmul_dtype": "float64"}
    base = mmd2_unbiased(x, y, **options)
    swapped = mmd2_unbiased(y, x, **options)
    permuted = mmd2_unbiased(x[rng.permutation(m)], y[rng.permutation(n)], **options)
    # The median over the pooled pairs is order free, and the estimator is a symmetric function of the
    # pairs: equal up to summation round-off (kernel values <= 1, sums of <= 400 terms: 1e-12 absolute).
    assert swapped.sigma == pytest.approx(base.sigma, rel=1e-12)
    assert permuted.sigma == pytest.approx(base.sigma, rel=1e-12)
    assert swapped.mmd2 == pytest.approx(base.mmd2, rel=1e-9, abs=1e-12)
    assert permuted.mmd2 == pytest.approx(base.mmd2, rel=1e-9, abs=1e-12)


def test_mmd2_accepts_float32_tensors_like_numpy_arrays() -> None:
    x, y = samples(8)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    from_tensor = mmd2_unbiased(torch.from_numpy(x32), torch.from_numpy(y32), sigma=1.0)
    assert isinstance(from_tensor, MMDResult)
    assert from_tensor == mmd2_unbiased(x32, y32, sigma=1.0)
    # float32 input is widened exactly, so the float64 reference on the widened values applies (float32
    # matmuls: 1e-6 as in the separated-samples test).
    assert from_tensor.mmd2 == pytest.approx(
        numpy_mmd2_unbiased(x32.astype(np.float64), y32.astype(np.float64), 1.0), rel=1e-6
    )


def test_mmd2_rejects_mismatched_feature_dimensions() -> None:
    with pytest.raises(ValueError, match=r"x and y.*\(5 vs 4\)"):
        mmd2_unbiased(np.zeros((3, 5)), np.zeros((3, 4)), sigma=1.0)


def test_mmd2_rejects_a_single_sample() -> None:
    with pytest.raises(ValueError, match="y: needs at least 2 samples"):
        mmd2_unbiased(np.random.rand(3, 2), np.random.rand(1, 2), sigma=1.0)


def test_mmd2_rejects_nan() -> None:
    x = np.random.rand(4, 2)
    x[1, 1] = np.nan
    with pytest.raises(ValueError, match="x: contains 1 NaN"):
        mmd2_unbiased(x, np.random.rand(4, 2), sigma=1.0)


def test_mmd2_rejects_1d_arrays() -> None:
    with pytest.raises(ValueError, match="x: expected a 2-D array"):
        mmd2_unbiased(np.zeros(4), np.zeros((4, 1)), sigma=1.0)


@pytest.mark.parametrize("sigma", [0.0, -1.0, float("nan"), float("inf")])
def test_mmd2_rejects_non_positive_or_non_finite_sigma(sigma: float) -> None:
    with pytest.raises(ValueError, match="sigma: must be a finite number > 0"):
        mmd2_unbiased(np.random.rand(4, 2), np.random.rand(4, 2), sigma=sigma)


def test_mmd2_rejects_non_numeric_sigma() -> None:
    with pytest.raises(TypeError, match="sigma"):
        mmd2_unbiased(np.random.rand(4, 2), np.random.rand(4, 2), sigma="1.0")  # type: ignore[arg-type]


def test_mmd2_rejects_zero_chunk_size() -> None:
    with pytest.raises(ValueError, match="chunk_size: must be at least 1"):
        mmd2_unbiased(np.random.rand(4, 2), np.random.rand(4, 2), sigma=1.0, chunk_size=0)


def test_mmd2_rejects_an_unknown_matmul_dtype() -> None:
    with pytest.raises(ValueError, match="matmul_dtype: expected one of 'float32', 'float64', got 'fp32'"):
        mmd2_unbiased(np.random.rand(4, 2), np.random.rand(4, 2), sigma=1.0, matmul_dtype="fp32")


def test_mmd2_rejects_a_non_string_matmul_dtype() -> None:
    with pytest.raises(TypeError, match="matmul_dtype: expected a string, got dtype"):
        mmd2_unbiased(np.random.rand(4, 2), np.random.rand(4, 2), sigma=1.0, matmul_dtype=torch.float32)  # type: ignore[arg-type]


def test_median_heuristic_rejects_a_zero_median() -> None:
    # Five identical points out of six: 10 of 15 pairs have distance 0, the median is 0.
    x = np.zeros((3, 2))
    y = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="median pairwise distance .* is 0.*pass sigma"):
        mmd2_unbiased(x, y)


@pytest.mark.parametrize("matmul_dtype", ["float32", "float64"])
def test_mmd2_is_the_same_on_one_thread_and_with_its_tiles_shared_among_two(matmul_dtype: str) -> None:
    # 300 pooled rows in tiles of 64: 15 tile pairs, in order on one thread or shared among two workers; the parts
    # are added in the same order either way: bit-identical.
    x, y = relu_features(11, 140, 160, 24, 0.1)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = mmd2_unbiased(x, y, chunk_size=64, matmul_dtype=matmul_dtype)
        torch.set_num_threads(2)
        assert mmd2_unbiased(x, y, chunk_size=64, matmul_dtype=matmul_dtype) == alone
    finally:
        torch.set_num_threads(before)
