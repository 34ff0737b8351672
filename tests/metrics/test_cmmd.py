"""CMMD: equal to a numpy transcription of the reference formula (google-research ``cmmd/distance.py``), and
its unbiased variant to the U-statistic, on CLIP-like embeddings (768-d, unit norm, two shifted clouds).

Tolerances: the default float32 dot-product matmul is within 1e-6 relative of the float64 formula (the issue's
bound; ``mmd``'s module docstring gives the error model: dot products of rows scaled by 1/sigma = 0.1 of unit
vectors); ``matmul_dtype="float64"`` within 1e-10 (float64 round-off over 10^5 kernel values).
"""

from __future__ import annotations

import numpy as np
import pytest

from ganmetrics.metrics.cmmd import cmmd, cmmd_unbiased


def _reference_cmmd(x: np.ndarray, y: np.ndarray) -> float:
    """``distance.mmd`` of the CMMD reference, transcribed from JAX to numpy (float64), on its inputs: the
    L2-normalised embeddings its ``ClipEmbeddingModel`` returns."""
    sigma, scale = 10, 1000
    x_sqnorms = np.diag(x @ x.T)
    y_sqnorms = np.diag(y @ y.T)
    gamma = 1 / (2 * sigma**2)
    k_xx = np.mean(np.exp(-gamma * (-2 * x @ x.T + x_sqnorms[:, None] + x_sqnorms[None, :])))
    k_xy = np.mean(np.exp(-gamma * (-2 * x @ y.T + x_sqnorms[:, None] + y_sqnorms[None, :])))
    k_yy = np.mean(np.exp(-gamma * (-2 * y @ y.T + y_sqnorms[:, None] + y_sqnorms[None, :])))
    return scale * (k_xx + k_yy - 2 * k_xy)


def _embeddings(m: int, n: int, shift: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    center = rng.normal(size=768)
    x = center + rng.normal(size=(m, 768))
    y = center + shift * rng.normal(size=768) + rng.normal(size=(n, 768))
    return [(z / np.linalg.norm(z, axis=1, keepdims=True)).astype(np.float32) for z in (x, y)]


@pytest.mark.parametrize("shift", [0.0, 0.3, 2.0])
def test_cmmd_equals_reference_formula(shift):
    x, y = _embeddings(300, 250, shift)
    # The reference takes the float32 embeddings as they are; cmmd normalises them again, in float64 (their
    # float32 norms are 1 only to ~3e-8, which moves CMMD by ~1e-10 relative): the float64 check feeds the
    # reference the rows cmmd works on.
    assert cmmd(x, y) == pytest.approx(_reference_cmmd(x.astype(np.float64), y.astype(np.float64)), rel=1e-6)
    x64, y64 = [z / np.linalg.norm(z, axis=1, keepdims=True) for z in (x.astype(np.float64), y.astype(np.float64))]
    assert cmmd(x, y, matmul_dtype="float64") == pytest.approx(_reference_cmmd(x64, y64), rel=1e-10)


def test_cmmd_unbiased_equals_u_statistic_and_differs_by_the_diagonal_terms():
    x, y = _embeddings(200, 150, 0.3, seed=1)
    x64, y64 = [z / np.linalg.norm(z, axis=1, keepdims=True) for z in (x.astype(np.float64), y.astype(np.float64))]
    m, n = len(x), len(y)

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / 200)

    kxx, kyy, kxy = kernel(x64, x64), kernel(y64, y64), kernel(x64, y64)
    off_xx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    off_yy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    expected = 1000 * (off_xx + off_yy - 2 * kxy.mean())
    assert cmmd_unbiased(x, y, matmul_dtype="float64") == pytest.approx(expected, rel=1e-10)
    gap = 1000 * ((1 - off_xx) / m + (1 - off_yy) / n)  # the module docstring's formula
    assert cmmd(x, y, matmul_dtype="float64") - cmmd_unbiased(x, y, matmul_dtype="float64") == pytest.approx(
        gap, rel=1e-8
    )


def test_rows_are_normalised_so_scaling_an_embedding_changes_nothing():
    x, y = _embeddings(50, 60, 1.0, seed=2)
    x = x.astype(np.float64)  # scaled in float64, so that the only change is the scale
    scales = np.random.default_rng(3).uniform(0.5, 20, size=(50, 1))
    assert cmmd(x * scales, y, matmul_dtype="float64") == pytest.approx(cmmd(x, y, matmul_dtype="float64"), rel=1e-12)


def test_block_size_does_not_change_the_value():
    x, y = _embeddings(130, 70, 0.5, seed=4)
    assert cmmd(x, y, chunk_size=16, matmul_dtype="float64") == pytest.approx(
        cmmd(x, y, matmul_dtype="float64"), rel=1e-12
    )


def test_zero_row_is_refused_naming_it():
    x, y = _embeddings(5, 5, 0.0)
    x[3] = 0
    with pytest.raises(ValueError, match="x: row 3 is all zeros"):
        cmmd(x, y)
