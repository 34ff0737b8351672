"""Precision/recall against torch-fidelity's ``prc`` on the same features, density/coverage against a numpy copy of
the reference ``compute_prdc`` formula, closed-form cases, chunking invariance and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from torch_fidelity.metric_prc import calculate_precision_recall_full, calculate_precision_recall_part

from ganmetrics.metrics.prdc import PRDCResult, prdc


@pytest.fixture(scope="module")
def features() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    real = rng.standard_normal((240, 12))
    fake = rng.standard_normal((200, 12)) * 1.3 + 0.25
    return real, fake


def reference_compute_prdc(real: np.ndarray, fake: np.ndarray, nearest_k: int) -> dict[str, float]:
    """Naeem et al.'s ``compute_prdc`` (clovaai/generative-evaluation-prdc), re-written in numpy: the oracle."""

    def kth(d: np.ndarray, k: int) -> np.ndarray:
        return np.sort(d, axis=-1)[:, k - 1]  # get_kth_value(k): the max of the k smallest

    real_radii = kth(cdist(real, real), nearest_k + 1)
    fake_radii = kth(cdist(fake, fake), nearest_k + 1)
    d = cdist(real, fake)
    return {
        "precision": (d < real_radii[:, None]).any(axis=0).mean(),
        "recall": (d < fake_radii[None, :]).any(axis=1).mean(),
        "density": (1.0 / nearest_k) * (d < real_radii[:, None]).sum(axis=0).mean(),
        "coverage": (d.min(axis=1) < real_radii).mean(),
    }


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_recall_equal_torch_fidelity_counts(features: tuple[np.ndarray, np.ndarray], k: int) -> None:
    real, fake = features
    # torch-fidelity: features_1 is generated, features_2 real; it returns float32 fractions.
    tf_precision, tf_recall = calculate_precision_recall_full(torch.from_numpy(fake), torch.from_numpy(real), k)
    ours = prdc(real, fake, k=k)
    # Exact equality of the fractions count / n (ours in float64; theirs are rounded to float32, so their count is
    # recovered by rounding count * n, exact for n < 2**23).
    assert ours.precision == round(tf_precision * len(fake)) / len(fake)
    assert ours.recall == round(tf_recall * len(real)) / len(real)


def test_precision_recall_equal_torch_fidelity_batched_variant(features: tuple[np.ndarray, np.ndarray]) -> None:
    real, fake = features
    tf_precision, tf_recall = calculate_precision_recall_part(torch.from_numpy(fake), torch.from_numpy(real), 3, 64)
    ours = prdc(real, fake, chunk_size=50)
    assert ours.precision == round(tf_precision * len(fake)) / len(fake)  # the same fraction, exactly
    assert ours.recall == round(tf_recall * len(real)) / len(real)


@pytest.mark.parametrize("k", [2, 5])
def test_all_four_equal_the_reference_compute_prdc_formula(features: tuple[np.ndarray, np.ndarray], k: int) -> None:
    real, fake = features
    expected = reference_compute_prdc(real, fake, k)
    ours = prdc(real, fake, k=k, density_k=k)
    # Fractions of counts: equal up to the last bit of the division (1e-12); no distance is within round-off of a
    # radius on continuous data, so <= (ours, for precision/recall) and < (reference) agree.
    for name, value in expected.items():
        assert getattr(ours, name) == pytest.approx(value, abs=1e-12), name


def test_identical_sets_have_precision_recall_and_coverage_one() -> None:
    x = np.random.default_rng(1).standard_normal((100, 5))
    for k in (1, 3):
        result = prdc(x, x, k=k, density_k=k)
        # Each point lies in its own ball (distance 0 < radius); closed form: all equal 1.
        assert (result.precision, result.recall, result.coverage) == (1.0, 1.0, 1.0)


def test_tight_cluster_inside_wide_cloud_has_high_precision_and_low_recall() -> None:
    rng = np.random.default_rng(2)
    real = rng.standard_normal((400, 2))
    fake = 0.05 * rng.standard_normal((400, 2))
    result = prdc(real, fake)
    # Fake points sit in the dense centre of the real cloud, where real balls overlap: precision near 1 (a few of
    # the cluster's outliers can fall between balls). The fake balls have radius ~0.05*sqrt(3/400), so only real
    # points within ~0.05 of the origin (~0.1% of N(0, I)) are recalled; the bounds leave a wide margin.
    assert result.precision > 0.95
    assert result.recall < 0.05
    assert result.coverage < 0.1


def test_chunk_size_does_not_change_the_result(features: tuple[np.ndarray, np.ndarray]) -> None:
    real, fake = features
    assert prdc(real, fake, chunk_size=45) == prdc(real, fake, chunk_size=4096)  # same counts, exactly


def test_torch_and_float32_inputs_give_the_numpy_result(features: tuple[np.ndarray, np.ndarray]) -> None:
    real, fake = features
    expected = prdc(real, fake)
    assert prdc(torch.from_numpy(real), torch.from_numpy(fake)) == expected
    assert isinstance(expected, PRDCResult) and isinstance(expected.density, float)


def test_too_few_real_rows_for_the_radius_names_real() -> None:
    with pytest.raises(ValueError, match="real: needs at least 6 samples"):
        prdc(np.zeros((5, 2)), np.ones((10, 2)), k=3, density_k=5)


def test_too_few_fake_rows_names_fake() -> None:
    with pytest.raises(ValueError, match="fake: needs at least 4 samples"):
        prdc(np.zeros((10, 2)), np.ones((3, 2)), k=3)


def test_different_dimensions_are_refused() -> None:
    with pytest.raises(ValueError, match="real and fake: feature dimensions differ"):
        prdc(np.zeros((10, 2)), np.ones((10, 3)))


def test_k_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="k: must be at least 1"):
        prdc(np.zeros((10, 2)), np.ones((10, 2)), k=0)


def test_non_integer_density_k_is_refused() -> None:
    with pytest.raises(TypeError, match="density_k: expected an integer"):
        prdc(np.zeros((10, 2)), np.ones((10, 2)), density_k=2.5)
