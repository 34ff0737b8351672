"""The training-loop API in one process: Evaluator and metric objects against the pure functions, input checks,
reference provenance and cache, evaluate_generator, and the README training loop.

Image tests use the seeded random FID Inception weights (``fid_weights``): a few tiny images each, since the
network runs at ~10 images/s on a 2-core CPU.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

import ganmetrics.evaluate as evaluate_module
from ganmetrics.evaluate import KID, Evaluator, ImageFeatures, evaluate_generator
from ganmetrics.features.protocols import preprocess
from ganmetrics.io.stats_file import save_stats
from ganmetrics.metrics.frechet import fid_from_features
from ganmetrics.metrics.inception_score import inception_score
from ganmetrics.metrics.mmd import kid, mmd2_unbiased
from ganmetrics.metrics.statistics import FeatureStats
from ganmetrics.metrics.transport import emd, sinkhorn_distance, sinkhorn_divergence
from ganmetrics.provenance import ProvenanceMismatchError

ALL = ["fid", "is", "kid", "mmd", "sinkhorn", "sinkhorn_divergence", "emd"]
KWARGS = {
    "kid": {"subsets": 10, "subset_size": 50},
    "sinkhorn": {"reg": 0.5},
    "sinkhorn_divergence": {"reg": 0.5},
    "is": {"splits": 5},
}


def _features() -> tuple[torch.Tensor, torch.Tensor]:
    """float32 reference (120, 6) and generated (90, 6) features: the Evaluator keeps float32, so the pure
    functions below see exactly the same numbers."""
    g = torch.Generator().manual_seed(0)
    return torch.randn(120, 6, generator=g), torch.randn(90, 6, generator=g) * 1.2 + 0.3


def _raw_evaluator(**options: object) -> Evaluator:
    x, y = _features()
    ev = Evaluator(ALL, reference=x, features="raw", metric_kwargs=KWARGS, seed=4, **options)
    for batch in y.split(25):
        ev.update(batch)
    return ev


def _uint8_images(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


# -- raw features: the Evaluator is the pure functions ------------------------------------------------------------
def test_raw_evaluator_equals_pure_functions() -> None:
    x, y = _features()
    got = _raw_evaluator().compute()
    # 1e-12 relative: the same float64 formulas; FID streams the generated statistics batch by batch (Chan et
    # al.'s update) where fid_from_features takes them in one go, which differs by float64 round-off only.
    assert got["fid"] == pytest.approx(fid_from_features(x, y), rel=1e-12)
    kid_mean, kid_std = kid(x, y, subsets=10, subset_size=50, seed=4)
    assert (got["kid_mean"], got["kid_std"]) == pytest.approx((kid_mean, kid_std), rel=1e-12)
    mmd = mmd2_unbiased(x, y, seed=4)
    assert (got["mmd2"], got["sigma"]) == pytest.approx((mmd.mmd2, mmd.sigma), rel=1e-12)
    assert got["sinkhorn"] == pytest.approx(sinkhorn_distance(x, y, reg=0.5), rel=1e-12)
    assert got["sinkhorn_divergence"] == pytest.approx(sinkhorn_divergence(x, y, reg=0.5), rel=1e-12)
    assert got["emd"] == emd(x, y)  # exact: the same solver on the same numbers
    assert (got["is_mean"], got["is_std"]) == inception_score(y, splits=5)
    assert (got["n1"], got["n2"], got["dims"]) == (120, 90, 6)


def test_metric_object_equals_evaluator_of_one() -> None:
    x, y = _features()
    metric = KID(x, features="raw", subsets=10, subset_size=50, seed=4)
    metric.update(y)
    expected = kid(x, y, subsets=10, subset_size=50, seed=4)
    assert (metric.compute()["kid_mean"], metric.compute()["kid_std"]) == expected


def test_prdc_metric_object_equals_pure_function() -> None:
    from ganmetrics.evaluate import PRDC
    from ganmetrics.metrics.prdc import prdc

    x, y = _features()
    metric = PRDC(x, features="raw", k=3)
    for batch in y.split(40):
        metric.update(batch)
    got = metric.compute()
    expected = prdc(x, y, k=3)  # exact: the same function on the same float32 rows
    assert (got["precision"], got["recall"], got["density"], got["coverage"]) == (
        expected.precision,
        expected.recall,
        expected.density,
        expected.coverage,
    )
    assert (got["n1"], got["n2"]) == (120, 90)


def test_reset_keeps_reference_and_forgets_samples() -> None:
    ev = _raw_evaluator()
    before, reference = ev.compute(), ev.reference
    ev.reset()
    with pytest.raises(ValueError, match="before any update"):
        ev.compute()
    for batch in _features()[1].split(25):
        ev.update(batch)
    assert ev.reference is reference
    assert ev.compute() == before  # same samples, same reference: bit for bit


def test_compute_before_update_raises() -> None:
    x, _ = _features()
    with pytest.raises(ValueError, match=r"fid: compute\(\) was called before any update\(\)"):
        Evaluator(["fid"], reference=x, features="raw").compute()


def test_max_samples_exceeded_names_the_limit() -> None:
    x, y = _features()
    ev = Evaluator(["kid"], reference=x, features="raw", max_samples=50)
    ev.update(y[:40])
    with pytest.raises(ValueError, match=r"kid \(pool3\): 40 \+ 40 generated samples would exceed max_samples=50"):
        ev.update(y[40:80])


def test_raw_dimension_mismatch_names_both_sides() -> None:
    x, y = _features()
    ev = Evaluator(["fid"], reference=x, features="raw")
    with pytest.raises(ValueError, match="batch: has 4 feature dimensions, the reference has 6"):
        ev.update(y[:, :4])


def test_unknown_metric_keyword_refused() -> None:
    x, _ = _features()
    with pytest.raises(ValueError, match=r"metric_kwargs: kid: options: kid does not take subset_sise"):
        Evaluator(["kid"], reference=x, features="raw", metric_kwargs={"kid": {"subset_sise": 10}})


def test_sinkhorn_without_reg_refused() -> None:
    x, _ = _features()
    with pytest.raises(ValueError, match="sinkhorn.*reg"):
        Evaluator(["sinkhorn"], reference=x, features="raw")


def test_statistics_reference_refused_for_kid() -> None:
    x, _ = _features()
    with pytest.raises(ValueError, match="reference: the kid metric needs reference features"):
        Evaluator(["fid", "kid"], reference=FeatureStats.from_features(x), features="raw")


# -- evaluate_generator --------------------------------------------------------------------------------------------
class _NoisyGenerator(torch.nn.Module):
    """A generator that also draws noise of its own from the global RNG (as StyleGAN's noise inputs do)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(3, 6)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z) + 0.1 * torch.randn(z.shape[0], 6)


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_generator_restores_mode_and_rng_and_is_reproducible(training: bool) -> None:
    x, _ = _features()
    generator = _NoisyGenerator().train(training)
    options = {"reference": x, "latent_dim": 3, "features": "raw", "metrics": ["fid", "mmd"]}
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = evaluate_generator(generator, 70, 16, 7, **options)
    assert generator.training is training
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random stream is untouched
    assert evaluate_generator(generator, 70, 16, 7, **options) == first  # bit for bit
    assert evaluate_generator(generator, 70, 16, 8, **options)["fid"] != first["fid"]


def test_evaluate_generator_reuses_an_evaluator() -> None:
    x, _ = _features()
    generator = _NoisyGenerator()
    ev = Evaluator(["fid"], reference=x, features="raw")
    ev.update(x[:10])  # stale samples are reset first
    reused = evaluate_generator(generator, 50, 20, 1, latent_dim=3, evaluator=ev)
    assert reused == evaluate_generator(generator, 50, 20, 1, x, latent_dim=3, features="raw", metrics=["fid"])


# -- images --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def is_evaluator(fid_weights: Path) -> Evaluator:
    """IS of uint8 images with one split, on the CPU (shared: reset before use)."""
    return Evaluator(["is"], weights=fid_weights, device="cpu", metric_kwargs={"is": {"splits": 1}})


def test_float_images_without_input_range_name_the_found_range(is_evaluator: Evaluator) -> None:
    with pytest.raises(ValueError, match=r"values in \[0, 0.5\]\) need an explicit input_range of \(0, 1\) or"):
        is_evaluator.update(torch.linspace(0, 0.5, 3 * 3 * 4 * 4).reshape(3, 3, 4, 4))


def test_float_images_outside_input_range_name_both_ranges(fid_weights: Path) -> None:
    ev = Evaluator(["is"], weights=fid_weights, device="cpu", input_range=(0, 1))
    with pytest.raises(ValueError, match=r"values lie in \[0, 255\], outside the expected input_range \(0, 1\).*uint8"):
        ev.update(torch.linspace(0, 255, 3 * 3 * 4 * 4).reshape(3, 3, 4, 4))


def test_integer_images_other_than_uint8_refused(is_evaluator: Evaluator) -> None:
    with pytest.raises(TypeError, match=r"images: dtype torch.int64 is not accepted; expected uint8 in \[0, 255\]"):
        is_evaluator.update(torch.zeros(2, 3, 4, 4, dtype=torch.int64))


def test_uint8_images_with_input_range_refused(fid_weights: Path) -> None:
    ev = Evaluator(["is"], weights=fid_weights, device="cpu", input_range=(-1, 1))
    with pytest.raises(ValueError, match=r"uint8 images are read as \[0, 255\], but input_range=\(-1, 1\)"):
        ev.update(_uint8_images(2, 0))


def test_wrong_channel_count_refused(is_evaluator: Evaluator) -> None:
    with pytest.raises(ValueError, match=r"images: expected RGB images.*got shape \(2, 1, 8, 8\) \(1 channel"):
        is_evaluator.update(_uint8_images(2, 0)[:, :1])


def test_unknown_input_range_refused() -> None:
    with pytest.raises(ValueError, match=r"input_range: must be one of"):
        ImageFeatures(input_range=(0, 255))


def test_is_through_evaluator_equals_numpy_is_of_logits_unbiased(
    is_evaluator: Evaluator, fid_model: torch.nn.Module
) -> None:
    images = _uint8_images(2, 1)
    is_evaluator.reset()
    is_evaluator.update(images)
    got = is_evaluator.compute()
    with torch.no_grad():
        logits = fid_model(preprocess(images), outputs=("logits_unbiased",))["logits_unbiased"].double().numpy()
    # Salimans et al.'s formula in numpy, one split: exp(mean_i KL(p(y|x_i) || p(y))).
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    expected = np.exp(np.mean(np.sum(p * (np.log(p) - np.log(p.mean(axis=0))), axis=1)))
    # 1e-10: the same float32 logits, then float64 arithmetic in another order.
    assert got["is_mean"] == pytest.approx(expected, rel=1e-10)
    assert got["n2"] == 2


def test_float_minus_one_to_one_equals_uint8(is_evaluator: Evaluator, fid_weights: Path) -> None:
    images = _uint8_images(2, 2)
    is_evaluator.reset()
    is_evaluator.update(images)
    as_uint8 = is_evaluator.compute()["is_mean"]
    signed = Evaluator(
        ["is"], weights=fid_weights, device="cpu", input_range=(-1, 1), metric_kwargs={"is": {"splits": 1}}
    )
    signed.update(images.float() / 127.5 - 1)
    # (u / 127.5 - 1 + 1) / 2 differs from u / 255 by float32 round-off (~1e-7), which the network carries
    # into the logits at about that relative size: 1e-5 is generous and still catches a wrong mapping.
    assert signed.compute()["is_mean"] == pytest.approx(as_uint8, rel=1e-5)


def _stats_file(path: Path, resize: str, extractor: str, sha256: str, dims: int = 2048) -> Path:
    rows = torch.randn(dims + 1, dims, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    metadata = {"extractor": extractor, "weights_sha256": sha256, "resize": resize}
    return save_stats(path, FeatureStats.from_features(rows), metadata)


def test_reference_with_other_resize_refused_naming_both_sides(tmp_path: Path, fid_weights: Path) -> None:
    sha256 = hashlib.sha256(fid_weights.read_bytes()).hexdigest()
    stats = _stats_file(tmp_path / "tf.npz", "tf", "fid-inception-v3/pool3", sha256)
    with pytest.raises(
        ProvenanceMismatchError,
        match=r"reference and generated features.*resize: 'tf' vs "
        r"'pytorch-fid'",
    ):
        Evaluator(["fid"], reference=stats, weights=fid_weights, device="cpu")


def test_reference_from_other_extractor_refused_naming_both_sides(tmp_path: Path, fid_weights: Path) -> None:
    sha256 = hashlib.sha256(fid_weights.read_bytes()).hexdigest()
    stats = _stats_file(tmp_path / "b64.npz", "pytorch-fid", "fid-inception-v3/block64", sha256, dims=64)
    with pytest.raises(
        ProvenanceMismatchError,
        match=r"extractor: 'fid-inception-v3/block64' vs "
        r"'fid-inception-v3/pool3'.*dims: 64 vs 2048",
    ):
        Evaluator(["fid"], reference=stats, weights=fid_weights, device="cpu")


def test_reference_cache_written_then_reused_and_refreshed(
    tmp_path: Path, fid_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "reference.npz"
    images = _uint8_images(3, 3)
    first = Evaluator(["kid"], reference=images, weights=fid_weights, device="cpu", reference_cache=cache)
    assert cache.is_file()

    def no_extraction(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached reference should have been used")

    with monkeypatch.context() as patch:
        patch.setattr(evaluate_module, "extract_features_distributed", no_extraction)
        again = Evaluator(["kid"], reference=images, weights=fid_weights, device="cpu", reference_cache=cache)
        with pytest.raises(AssertionError, match="cached reference"):  # other images: the cache is stale
            Evaluator(["kid"], reference=images.flip(0), weights=fid_weights, device="cpu", reference_cache=cache)
    assert torch.equal(again.reference.rows, first.reference.rows)  # float32 written and read back exactly
    assert again.reference.metadata["weights_sha256"] == hashlib.sha256(fid_weights.read_bytes()).hexdigest()


def test_readme_training_loop_with_periodic_fid(
    tmp_path: Path, fid_weights: Path, capsys: pytest.CaptureFixture
) -> None:
    # Stands in for `ganmetrics stats real_images/ -o reference.npz`: statistics with this extractor's
    # provenance, of full rank (from 2049 random rows), since a 2048-dimensional eigen-decomposition of a
    # rank-deficient covariance from a few real images would take most of a minute on this CPU.
    sha256 = hashlib.sha256(fid_weights.read_bytes()).hexdigest()
    reference_stats = _stats_file(tmp_path / "reference.npz", "pytorch-fid", "fid-inception-v3/pool3", sha256)

    # ---- the README snippet (weights= only because the tests use random weights) ------------------------------
    G = torch.nn.Sequential(torch.nn.Linear(16, 3 * 8 * 8), torch.nn.Tanh(), torch.nn.Unflatten(1, (3, 8, 8)))
    optimizer = torch.optim.Adam(G.parameters(), lr=1e-3)
    evaluator = Evaluator(["fid"], reference=reference_stats, input_range=(-1, 1), weights=fid_weights)
    for step in range(1, 5):
        loss = G(torch.randn(8, 16)).square().mean()  # stand-in for the GAN losses
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 2 == 0:
            scores = evaluate_generator(G, n=2, batch_size=2, seed=0, latent_dim=16, evaluator=evaluator)
            print(f"step {step}: FID {scores['fid']:.2f} ({scores['n2']} samples)")
    # ---------------------------------------------------------------------------------------------------------

    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["step 2", "step 4"]
    assert all(line.endswith("(2 samples)") and float(line.split()[3]) > 0 for line in lines)
    assert G.training


def test_fid_of_fewer_samples_than_dimensions_takes_the_exact_route() -> None:
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(30, 40, generator=g, dtype=torch.float64), torch.randn(12, 40, generator=g, dtype=torch.float64)
    ev = Evaluator(["fid"], reference=x, features="raw")
    for batch in y.split(5):
        ev.update(batch)
    # The generated side has rank 11 in 40 dimensions: the same exact factor route as fid_from_features (the
    # reference rows are kept in float32, so they are compared as such); 1e-10 allows float64 round-off of
    # the batch-wise update, far below the error of an eigen-decomposition of the singular covariance.
    assert ev.compute()["fid"] == pytest.approx(fid_from_features(x.float(), y), rel=1e-10)


# -- numerics, skip_bad, recursive: the Evaluator extracts as the command line does ------------------------------
@pytest.mark.parametrize(("numerics", "tolerance"), [("fp32-fast", 1e-4), ("bf16", 6e-2)])
def test_evaluator_batches_run_in_the_numeric_mode_folder_extraction_uses(
    fid_weights: Path, numerics: str, tolerance: float
) -> None:
    """The in-memory runner and extract_features share extract.numeric_network: the runner's rows differ from
    the exact fp32 rows (the mode is applied) and agree with extract_features in that mode to within the
    mode's own rounding, in relative Frobenius norm (fp32-fast: 1e-4, float32 rounding of a differently ordered
    computation; bf16: 6e-2, its 8-bit mantissa, measured 3.7 %), and (bf16) at most half as far from them as from
    the exact fp32 rows (bf16 is 10-16 % from fp32 on these weights); the provenance records the mode."""
    from ganmetrics.features.extract import extract_features

    images = _uint8_images(4, seed=11)
    expected = extract_features(
        images, weights=fid_weights, device="cpu", numerics=numerics, batch_size=4, num_workers=0, progress=False
    ).features["pool3"]
    ev = Evaluator(["is"], weights=fid_weights, device="cpu", numerics=numerics, batch_size=4)
    exact = Evaluator(["is"], weights=fid_weights, device="cpu", batch_size=4)
    got = ev.extractor(images, ("pool3",))["pool3"].cpu().numpy()
    fp32 = exact.extractor(images, ("pool3",))["pool3"].cpu().numpy()
    assert np.linalg.norm(got - expected) <= tolerance * np.linalg.norm(expected)
    if numerics == "bf16":  # fp32-fast differs from fp32 by rounding only, as much as the two fp32-fast paths
        assert np.linalg.norm(got - expected) <= 0.5 * np.linalg.norm(got - fp32)
    assert ev.extractor.metadata["numerics"] == numerics


def test_evaluator_in_bf16_refuses_an_fp32_reference(fid_weights: Path, tmp_path: Path) -> None:
    from ganmetrics.features.extract import extract_features
    from ganmetrics.io.features_file import save_features

    fp32 = extract_features(_uint8_images(4, seed=12), weights=fid_weights, device="cpu", num_workers=0, progress=False)
    assert fp32.metadata["numerics"] == "fp32"
    path = save_features(tmp_path / "ref.npz", {"features": fp32.features["pool3"]}, fp32.metadata)
    with pytest.raises(ProvenanceMismatchError, match="numerics"):
        Evaluator(["kid"], reference=path, weights=fid_weights, device="cpu", numerics="bf16")


def test_evaluator_reads_a_folder_reference_recursively_and_skips_bad_files(fid_weights: Path, tmp_path: Path) -> None:
    """recursive=True reaches images in subfolders, skip_bad=True passes over an unreadable file with a warning:
    the reference's rows equal extract_features on the readable images alone."""
    from PIL import Image

    from ganmetrics.features.extract import extract_features

    images = _uint8_images(3, seed=13)
    (tmp_path / "ref" / "sub").mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp_path / "ref" / ("sub" if i else ".") / f"{i}.png")
    (tmp_path / "ref" / "sub" / "broken.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="broken.png"):
        ev = Evaluator(
            ["kid"],
            reference=tmp_path / "ref",
            weights=fid_weights,
            device="cpu",
            recursive=True,
            skip_bad=True,
            metric_kwargs={"kid": {"subset_size": 2}},
        )
    expected = extract_features(images, weights=fid_weights, device="cpu", num_workers=0, progress=False)
    assert ev.reference is not None
    np.testing.assert_allclose(ev.reference.require_rows("kid").numpy(), expected.features["pool3"], rtol=0, atol=1e-5)
