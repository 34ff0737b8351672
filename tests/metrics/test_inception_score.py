"""Inception Score: torch-fidelity parity, a plain numpy formula, closed forms, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax
from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric

from ganmetrics.metrics.inception_score import inception_score


def numpy_inception_score(logits: np.ndarray, splits: int) -> tuple[float, float]:
    """The textbook formula, chunk by chunk, with scipy's softmax (no log-sum-exp tricks)."""
    p = softmax(logits.astype(np.float64), axis=1)
    n = len(p)
    scores = []
    for k in range(splits):
        chunk = p[k * n // splits : (k + 1) * n // splits]
        marginal = chunk.mean(axis=0)
        kl = np.sum(chunk * (np.log(chunk) - np.log(marginal)), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


@pytest.mark.parametrize(("n", "k", "splits"), [(200, 10, 10), (103, 7, 10), (50, 1000, 3), (9, 4, 1)])
def test_is_matches_torch_fidelity_without_shuffle(n: int, k: int, splits: int) -> None:
    logits = np.random.default_rng(n + k).normal(scale=3.0, size=(n, k))
    ref = isc_features_to_metric(torch.from_numpy(logits), splits=splits, shuffle=False)
    mean, std = inception_score(logits, splits=splits)
    # Both compute in float64 with the same chunk boundaries; they differ only in how log p(y) is formed
    # (log of a mean vs log-sum-exp), a few ulps, so 1e-10 relative is ample.
    assert mean == pytest.approx(ref[KEY_METRIC_ISC_MEAN], rel=1e-10)
    assert std == pytest.approx(ref[KEY_METRIC_ISC_STD], rel=1e-8, abs=1e-12)


def test_is_matches_numpy_formula_on_float32_logits() -> None:
    logits = np.random.default_rng(1).normal(scale=2.0, size=(333, 20)).astype(np.float32)
    mean, std = inception_score(logits, splits=4)
    ref_mean, ref_std = numpy_inception_score(logits, splits=4)
    # Same float64 arithmetic in a different order: round-off ~1e-15, tolerance 1e-10 relative.
    assert mean == pytest.approx(ref_mean, rel=1e-10)
    assert std == pytest.approx(ref_std, rel=1e-8)


def test_is_of_uniform_logits_is_one() -> None:
    # p(y|x) = p(y) for every row, every KL is 0, so every split scores exp(0) = 1 exactly (up to round-off).
    mean, std = inception_score(np.full((40, 13), 2.5), splits=4)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [2, 10, 200])
def test_is_of_confident_equally_used_classes_is_k(k: int) -> None:
    # Each row puts all mass on one class (logit 60 vs 0: off-class mass < k * e^-60), and each split uses
    # every class equally often, so p(y) is uniform and every KL is log k: IS = k up to ~k^2 e^-60 relative.
    splits, repeats = 5, 3
    labels = np.arange(k * splits * repeats) % k
    logits = 60.0 * np.eye(k)[labels]
    mean, std = inception_score(logits, splits=splits)
    assert mean == pytest.approx(k, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_is_with_one_row_per_split_is_one() -> None:
    # A split of one row has p(y) = p(y|x): KL 0, score 1; this exercises splits == N.
    logits = np.random.default_rng(2).normal(size=(6, 5))
    assert inception_score(logits, splits=6) == pytest.approx((1.0, 0.0), abs=1e-12)


def test_is_of_huge_logits_is_exp_entropy_of_label_histogram() -> None:
    # Logits ~1e4 overflow a naive exp (torch-fidelity returns NaN here: 0 * log 0). With a winning margin of
    # ~1e4 each p(y|x) is exactly one-hot in float64, so each split scores exp(entropy of its label
    # histogram) (KL of a one-hot row to p(y) is -log p(label)). Only round-off separates the two: 1e-12.
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 8, size=60)
    logits = 1e4 * np.eye(8)[labels] + rng.normal(size=(60, 8))
    expected = []
    for chunk in np.split(labels, 3):
        freq = np.bincount(chunk, minlength=8) / len(chunk)
        freq = freq[freq > 0]
        expected.append(np.exp(-np.sum(freq * np.log(freq))))
    mean, std = inception_score(logits, splits=3)
    assert mean == pytest.approx(np.mean(expected), rel=1e-12)
    assert std == pytest.approx(np.std(expected), rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(shift=st.floats(-1e3, 1e3), seed=st.integers(0, 2**16), splits=st.integers(1, 5))
def test_is_is_invariant_to_a_per_row_shift_of_the_logits(shift: float, seed: int, splits: int) -> None:
    # softmax(l + c) = softmax(l): shifting each row leaves the score unchanged up to the round-off of the
    # shift itself (|shift| * 1e-16 in the logits, amplified little by the score): tolerance 1e-9.
    logits = np.random.default_rng(seed).normal(scale=2.0, size=(20, 6))
    row_shift = shift * np.linspace(-1.0, 1.0, 20)[:, None]
    mean, std = inception_score(logits, splits=splits)
    shifted_mean, shifted_std = inception_score(logits + row_shift, splits=splits)
    assert shifted_mean == pytest.approx(mean, rel=1e-9)
    assert shifted_std == pytest.approx(std, rel=1e-6, abs=1e-9)
    # And the score of K classes always lies in [1, K].
    assert 1.0 - 1e-12 <= mean <= 6.0 + 1e-12


def test_is_accepts_a_torch_tensor_like_a_numpy_array() -> None:
    logits = np.random.default_rng(4).normal(size=(30, 9))
    assert inception_score(torch.from_numpy(logits), splits=3) == inception_score(logits, splits=3)


def test_is_rejects_zero_splits() -> None:
    with pytest.raises(ValueError, match="splits"):
        inception_score(np.zeros((10, 3)), splits=0)


def test_is_rejects_more_splits_than_rows() -> None:
    with pytest.raises(ValueError, match=r"splits.*\(10\).*11"):
        inception_score(np.zeros((10, 3)), splits=11)


def test_is_rejects_non_integer_splits() -> None:
    with pytest.raises(TypeError, match="splits"):
        inception_score(np.zeros((10, 3)), splits=2.0)  # type: ignore[arg-type]


def test_is_rejects_1d_logits() -> None:
    with pytest.raises(ValueError, match="logits.*2-D"):
        inception_score(np.zeros(10), splits=1)


def test_is_rejects_nan_logits() -> None:
    logits = np.zeros((10, 3))
    logits[4, 1] = np.nan
    with pytest.raises(ValueError, match="logits.*NaN"):
        inception_score(logits, splits=2)


def test_is_rejects_infinite_logits() -> None:
    logits = np.zeros((10, 3))
    logits[0, 0] = np.inf
    with pytest.raises(ValueError, match="logits.*Inf"):
        inception_score(logits, splits=2)
