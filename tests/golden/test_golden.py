"""Golden values: the features and metric values of fixed deterministic inputs, stored under tests/golden/, so
that any change in preprocessing, the network code or the accumulation that moves a number is caught.

Inputs: ``synthetic_images`` (integer arithmetic from numpy's PCG64: bit-identical everywhere), two sets of 8
images of 32x32 (seeds 101 and 202), through the seeded random-weight FID Inception v3 (the session fixture
``fid_model``, seed 0) with each resize mode (the tf and clean modes on the first 2 images only, to keep the
network time down: about 20 images in all).

Two layers, with different tolerances:

- network layer: freshly extracted features against the stored ones. CPU float32 convolutions round
  differently with the thread count and the instruction set (about 2e-6 relative, see ganmetrics.features.
  extract), and the random weights' BatchNorm calibration itself goes through such convolutions. pool3 values
  are at most ~2.5, logits ~10: 1e-5 absolute on pool3 and 5e-5 on logits is ~5x that noise; the metric values
  of fresh features are compared at 1e-4 relative (the FID of these tiny sets amplifies feature noise by at most
  ~10x, measured: 1e-6 feature noise moves it ~1e-7 relative).
- metric layer: the metrics recomputed from the *stored* features against the stored values, at 1e-9 relative:
  float64 accumulation, only the summation order of BLAS/LAPACK may differ between machines.

Regenerate on purpose (after a deliberate change, with the reason in the commit message)::

    GANMETRICS_REGENERATE_GOLDEN=1 python -m pytest tests/golden

which rewrites golden_features.npz and golden_values.json and skips the comparisons of that run.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ganmetrics.features.extract import extract_features
from ganmetrics.features.extractors.inception import FIDInceptionV3
from ganmetrics.metrics.frechet import fid_from_features
from ganmetrics.metrics.inception_score import inception_score
from ganmetrics.metrics.mmd import kid, mmd2_unbiased
from ganmetrics.metrics.statistics import FeatureStats
from ganmetrics.metrics.transport import emd, sinkhorn_distance
from ganmetrics.reference_store import synthetic_images

HERE = Path(__file__).parent
FEATURES_FILE = HERE / "golden_features.npz"
VALUES_FILE = HERE / "golden_values.json"
REGENERATE = os.environ.get("GANMETRICS_REGENERATE_GOLDEN") == "1"

IMAGES = {"a": (8, 101), "b": (8, 202)}  # set: (count, seed)
EXTRA_RESIZE = ("tf", "clean")  # on the first 2 images of set a
SINKHORN_REG = 10.0  # in cost units: the pairwise pool3 distances of these sets are ~20-30
# Fresh features: float32 convolutions round differently across CPU instruction sets and thread counts. Measured
# between the AVX2 EPYC that wrote the file and an AVX-512 Xeon: pool3 (values up to ~5) 3.2e-5 apart, the logits
# (values up to ~25, a 2048-term product of pool3) 1.4e-4 apart; hence 5e-5 and 3e-4, about 1e-5 of each range.
# A change to the pipeline moves them by far more.
POOL3_ATOL, LOGITS_ATOL, LIVE_RTOL, STORED_RTOL = 5e-5, 3e-4, 1e-4, 1e-9


def _images() -> dict[str, np.ndarray]:
    return {name: synthetic_images(count, 32, seed).numpy() for name, (count, seed) in IMAGES.items()}


def _images_sha256() -> str:
    digest = hashlib.sha256()
    for images in _images().values():
        digest.update(images.tobytes())
    return digest.hexdigest()


def _extract(model: FIDInceptionV3) -> dict[str, np.ndarray]:
    """Return the features of the golden inputs by name (a_pool3, a_logits_unbiased, ..., a_tf_pool3, ...)."""
    features = {}
    for name, images in _images().items():
        result = extract_features(
            torch.from_numpy(images), model=model, outputs=("pool3", "logits_unbiased"), num_workers=0, progress=False
        ).features
        features |= {f"{name}_{output}": array for output, array in result.items()}
    first_two = torch.from_numpy(_images()["a"][:2])
    for mode in EXTRA_RESIZE:
        result = extract_features(first_two, model=model, resize=mode, num_workers=0, progress=False).features
        features[f"a_{mode}_pool3"] = result["pool3"]
    return features


def _metric_values(features: dict[str, np.ndarray]) -> dict[str, float]:
    """Return the metric values of the golden features (every metric of the package, plus streamed stats)."""
    a, b = features["a_pool3"].astype(np.float64), features["b_pool3"].astype(np.float64)
    streamed = FeatureStats(a.shape[1])
    for start in range(0, len(a), 3):  # batches of 3, 3, 2: the Chan et al. merge path
        streamed.update(a[start : start + 3])
    # The kernel metrics in float64: the stored values are the exact formula, comparable at STORED_RTOL on any
    # CPU (the float32 default is tested against the formula in tests/metrics).
    kid_mean, _ = kid(a, b, subsets=1, subset_size=len(a), seed=0, matmul_dtype="float64")
    is_mean, is_std = inception_score(
        np.concatenate([features["a_logits_unbiased"], features["b_logits_unbiased"]]), splits=2
    )
    mmd = mmd2_unbiased(a, b, seed=0, matmul_dtype="float64")
    return {
        "fid": fid_from_features(a, b),
        "fid_tf_vs_clean": fid_from_features(features["a_tf_pool3"], features["a_clean_pool3"]),
        "kid": kid_mean,
        "mmd2": mmd.mmd2,
        "mmd_sigma": mmd.sigma,
        "is_mean": is_mean,
        "is_std": is_std,
        "emd": emd(a, b),
        "sinkhorn": sinkhorn_distance(a, b, SINKHORN_REG),
        "stats_mu_sum": float(streamed.mu.sum()),
        "stats_sigma_trace": float(streamed.sigma.trace()),
        "stats_sigma_frobenius": float(streamed.sigma.norm()),
    }


@pytest.fixture(scope="module")
def live_features(fid_model: FIDInceptionV3) -> dict[str, np.ndarray]:
    return _extract(fid_model)


@pytest.fixture(scope="module")
def golden(live_features: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    """The stored features and values; in regeneration mode, rewrite them from this run and skip."""
    if REGENERATE:
        np.savez(FEATURES_FILE, **live_features)
        record = {
            "images_sha256": _images_sha256(),
            "values": _metric_values(live_features),
            "command": "GANMETRICS_REGENERATE_GOLDEN=1 python -m pytest tests/golden",
        }
        VALUES_FILE.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        pytest.skip(f"regenerated {FEATURES_FILE.name} and {VALUES_FILE.name}")
    with np.load(FEATURES_FILE) as data:
        stored = {key: data[key] for key in data.files}
    return stored, json.loads(VALUES_FILE.read_text())


def test_golden_inputs_are_unchanged(golden) -> None:
    assert _images_sha256() == golden[1]["images_sha256"]


def test_fresh_features_match_the_golden_features(live_features, golden) -> None:
    stored = golden[0]
    assert set(live_features) == set(stored)
    for key, array in live_features.items():
        atol = LOGITS_ATOL if "logits" in key else POOL3_ATOL
        np.testing.assert_allclose(array, stored[key], rtol=0, atol=atol, err_msg=key)


def test_metrics_of_the_stored_features_match_the_golden_values(golden) -> None:
    stored, record = golden
    computed = _metric_values(stored)
    assert set(computed) == set(record["values"])
    for name, value in computed.items():
        assert value == pytest.approx(record["values"][name], rel=STORED_RTOL), name


def test_metrics_of_fresh_features_match_the_golden_values(live_features, golden) -> None:
    for name, value in _metric_values(live_features).items():
        assert value == pytest.approx(golden[1]["values"][name], rel=LIVE_RTOL), name
