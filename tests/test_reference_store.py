"""The shipped reference store: the manifest matches the files (hashes computed here with hashlib), the files
hold what the manifest says they hold (checked against the mixtures' definitions and numpy), ``ref:NAME``
resolves to hash-checked files, ``ganmetrics ref list | show | verify`` work, and each broken store is reported
naming the file."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_run import run, run_json
from pytorch_fid.fid_score import calculate_frechet_distance

from ganmetrics.features.extract import extract_features
from ganmetrics.features.extractors import EXTRACTORS
from ganmetrics.features.extractors.inception import FIDInceptionV3
from ganmetrics.features.protocols import PROTOCOLS
from ganmetrics.io.features_file import load_features
from ganmetrics.io.stats_file import load_stats
from ganmetrics.reference_store import (
    MIXTURE_SEED,
    RAW_EXTRACTOR,
    ReferenceStore,
    ReferenceStoreError,
    default_root,
    mixture_sample,
    regenerate,
    resolve_reference_path,
    synthetic_images,
)


def _manifest() -> dict:
    return json.loads((default_root() / "manifest.json").read_text())


def test_every_manifest_entry_matches_its_file_sha256_and_size() -> None:
    entries = _manifest()["entries"]
    assert entries
    for entry in entries:
        path = default_root() / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], entry["name"]
        assert path.stat().st_size == entry["bytes"]
        assert entry["command"].startswith("ganmetrics ref regenerate --only ")


def test_every_file_in_the_store_is_listed_and_the_store_is_small() -> None:
    files = {p.name for p in default_root().iterdir() if p.suffix == ".npz"}
    assert files == {e["file"] for e in _manifest()["entries"]}
    assert sum((default_root() / f).stat().st_size for f in files) < 3 * 1024**2  # "a few MB at most"


def test_manifest_metadata_is_the_files_own_record() -> None:
    for entry in _manifest()["entries"]:
        path = default_root() / entry["file"]
        record = load_stats(path).metadata if entry["kind"] == "stats" else load_features(path).metadata
        assert record == entry["metadata"], entry["name"]


def test_regenerating_a_group_rebuilds_its_files_and_drops_a_renamed_entry(store_copy: Path) -> None:
    manifest = json.loads((store_copy / "manifest.json").read_text())
    old = next(e for e in manifest["entries"] if e["name"] == "ring8-2500")
    renamed = {**old, "name": "ring8-old-name", "file": "ring8-old-name.npz"}
    shutil.copy(store_copy / old["file"], store_copy / renamed["file"])
    manifest["entries"].append(renamed)
    (store_copy / "manifest.json").write_text(json.dumps(manifest))
    features = [e["file"] for e in manifest["entries"] if e["kind"] == "features"]
    shipped = {f: load_features(store_copy / f).get("features") for f in features}
    entries = regenerate(store_copy, ("mixtures",))
    assert {e.name for e in entries} == {e["name"] for e in manifest["entries"]} - {renamed["name"]}
    assert not (store_copy / renamed["file"]).exists()
    for entry in entries:  # the same samples as shipped (the files also record the torch version that wrote them)
        if entry.kind == "features":
            np.testing.assert_array_equal(load_features(store_copy / entry.file).get("features"), shipped[entry.file])


def test_every_extracted_reference_names_its_extractor_and_protocol() -> None:
    """Numbers from two feature spaces or protocols are not comparable: a reference's name says which it holds."""
    extracted = [e for e in ReferenceStore().entries() if e.metadata["extractor"] != RAW_EXTRACTOR]
    assert extracted  # the synthetic Inception features
    for entry in extracted:
        ids = set(entry.metadata["extractor"].values())  # {output: "<extractor id>/<output>"}
        (spec,) = [s for s in EXTRACTORS.values() if all(i.startswith(s.extractor_id("")) for i in ids)]
        protocol = entry.metadata["resize"]
        assert protocol in PROTOCOLS and f"-{spec.name}-{protocol}" in entry.name, entry.name
    raw = [e for e in ReferenceStore().entries() if e.metadata["extractor"] == RAW_EXTRACTOR]
    assert all(e.metadata["resize"] is None for e in raw)


@pytest.mark.parametrize(
    ("mixture", "centres", "sigma"),
    [
        ("ring8", [(2 * math.cos(k * math.pi / 4), 2 * math.sin(k * math.pi / 4)) for k in range(8)], 0.02),
        ("grid25", [(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)], 0.05),
    ],
)
def test_shipped_mixture_samples_follow_the_published_mixture(mixture: str, centres: list, sigma: float) -> None:
    # The definitions of Metz et al. 2017 (ring) and Srivastava et al. 2017 (grid), written out independently.
    points = load_features(resolve_reference_path(f"ref:{mixture}-10000")).get("features").astype(np.float64)
    assert points.shape == (10_000, 2)
    offsets = points[:, None, :] - np.asarray(centres)[None]
    nearest = np.argmin((offsets**2).sum(-1), axis=1)
    residual = offsets[np.arange(len(points)), nearest] / sigma
    # Each coordinate of the noise is N(0, 1): the mean over 20000 draws is within 5/sqrt(20000) of 0, the
    # variance within 5 * sqrt(2 / 20000) of 1, every |value| below 6; each equal-weight mode holds its share
    # within 5 binomial standard deviations.
    assert abs(residual.mean()) < 5 / math.sqrt(2e4)
    assert abs(residual.var() - 1) < 5 * math.sqrt(2 / 2e4)
    assert np.abs(residual).max() < 6
    counts = np.bincount(nearest, minlength=len(centres))
    share = 1 / len(centres)
    assert np.all(np.abs(counts / 1e4 - share) < 5 * math.sqrt(share * (1 - share) / 1e4))


@pytest.mark.parametrize("name", ["ring8-2500", "ring8-10000", "grid25-2500", "grid25-10000"])
def test_shipped_mixture_samples_equal_a_fresh_draw(name: str) -> None:
    mixture, n = name.rsplit("-", 1)
    shipped = load_features(resolve_reference_path(f"ref:{name}")).get("features")
    assert shipped.dtype == np.float32
    assert np.array_equal(shipped, mixture_sample(mixture, int(n), MIXTURE_SEED))  # seeded CPU draws: exact


@pytest.mark.parametrize("mixture", ["ring8", "grid25"])
def test_shipped_stats_are_numpy_mean_and_cov_of_the_shipped_sample(mixture: str) -> None:
    points = load_features(resolve_reference_path(f"ref:{mixture}-10000")).get("features").astype(np.float64)
    stats = load_stats(resolve_reference_path(f"ref:{mixture}-10000-stats"))
    assert stats.n == 10_000 and stats.metadata["extractor"] == "raw-coordinates"
    # streaming float64 accumulation vs numpy's two-pass formula: round-off of 1e4 terms of magnitude ~4
    np.testing.assert_allclose(stats.mu, points.mean(0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(stats.sigma, np.cov(points, rowvar=False), rtol=1e-12, atol=1e-12)


def test_synthetic_reference_is_labelled_random_weights_and_matches_the_pipeline(fid_model: FIDInceptionV3) -> None:
    path = resolve_reference_path("ref:synthetic-32px-inception-pytorch-fid-random-weights")
    loaded = load_features(path)
    meta = loaded.metadata
    assert "seeded random" in meta["weights"] and len(meta["weights_sha256"]) == 64
    assert meta["resize"] == "pytorch-fid" and meta["image_sizes"] == [[32, 32, 32]]
    assert loaded.get("features").shape == (32, 2048) and loaded.get("logits_unbiased").shape == (32, 1008)
    # Recompute the first two images (the conftest fid_model has the same seed-0 random weights). Tolerance:
    # float32 CPU convolutions round differently across thread counts / ISAs (extract.py: ~2e-6 relative);
    # features are O(1), so 1e-4 absolute leaves a wide margin while catching any real pipeline change.
    fresh = extract_features(
        synthetic_images(2), model=fid_model, outputs=("pool3", "logits_unbiased"), num_workers=0, progress=False
    ).features
    np.testing.assert_allclose(fresh["pool3"], loaded.get("features")[:2], rtol=0, atol=1e-4)
    np.testing.assert_allclose(fresh["logits_unbiased"], loaded.get("logits_unbiased")[:2], rtol=0, atol=1e-4)


def test_synthetic_images_are_the_documented_deterministic_pattern() -> None:
    images = synthetic_images(3, size=16, seed=5)
    assert images.dtype == torch.uint8 and images.shape == (3, 3, 16, 16)
    assert torch.equal(images, synthetic_images(3, size=16, seed=5))
    assert not torch.equal(images, synthetic_images(3, size=16, seed=6))
    # Pinned bytes: a change of the generator would silently change every shipped and golden number.
    assert hashlib.sha256(images.numpy().tobytes()).hexdigest()[:16] == _SYNTHETIC_16PX_SEED5_SHA


_SYNTHETIC_16PX_SEED5_SHA = "20a4d2d2f8bbc5cd"


# -- the command line --------------------------------------------------------------------------------------------


def test_ref_list_names_every_entry() -> None:
    code, out, err = run("ref", "list")
    assert code == 0, err
    listed = [line.split()[0] for line in out.splitlines()]
    assert listed == [e["name"] for e in _manifest()["entries"]]


def test_ref_show_prints_the_entry_with_its_state() -> None:
    code, out, err = run("ref", "show", "ring8-2500")
    assert code == 0, err
    shown = json.loads(out)
    expected = next(e for e in _manifest()["entries"] if e["name"] == "ring8-2500")
    assert shown["sha256"] == expected["sha256"] and shown["status"] == "ok"
    assert Path(shown["path"]) == default_root() / "ring8-2500.npz"


def test_ref_verify_passes_on_the_shipped_store() -> None:
    code, out, err = run("ref", "verify")
    assert code == 0, err
    assert all(line.startswith("ok") for line in out.splitlines())


def test_ref_path_works_in_a_check_and_gives_the_file_value(tmp_path: Path) -> None:
    points = mixture_sample("ring8", 300, seed=7)
    np.save(tmp_path / "samples.npy", points)
    (tmp_path / "CHECKS.toml").write_text(
        '[[check]]\nsamples = "samples.npy"\nreference = "ref:ring8-10000-stats"\nmetric = "fid"\nthreshold = 1.0\n'
    )
    code, out, err = run("check", tmp_path / "CHECKS.toml", "--report", tmp_path / "r.json")
    assert code == 0, out + err
    stats = load_stats(default_root() / "ring8-10000-stats.npz")
    expected = calculate_frechet_distance(
        stats.mu, stats.sigma, points.astype(np.float64).mean(0), np.cov(points.astype(np.float64), rowvar=False)
    )
    value = json.loads((tmp_path / "r.json").read_text())["checks"][0]["value"]
    assert value == pytest.approx(expected, rel=1e-7, abs=1e-10)  # scipy sqrtm vs our eigen route, 2x2, float64


def test_ref_path_is_accepted_by_the_metric_commands() -> None:
    points = load_features(default_root() / "ring8-2500.npz").get("features").astype(np.float64)
    stats = load_stats(default_root() / "ring8-10000-stats.npz")
    expected = calculate_frechet_distance(stats.mu, stats.sigma, points.mean(0), np.cov(points, rowvar=False))
    result = run_json("fid", "ref:ring8-10000-stats", "ref:ring8-2500")
    assert result["fid"] == pytest.approx(expected, rel=1e-7, abs=1e-10)  # as above


# -- broken stores: each reported naming the file -----------------------------------------------------------------


def test_corrupted_file_fails_verify_and_resolution_naming_it(store_copy: Path) -> None:
    target = store_copy / "ring8-2500.npz"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    code, out, err = run("ref", "verify")
    assert code == 1
    assert f"mismatch ring8-2500  {target}: SHA-256" in out and "1 of 7" in err
    with pytest.raises(ReferenceStoreError, match=f"ref:ring8-2500: {target}: SHA-256 .* does not match"):
        resolve_reference_path("ref:ring8-2500")


def test_truncated_stats_file_fails_resolution_naming_it(store_copy: Path) -> None:
    target = store_copy / "grid25-10000-stats.npz"
    target.write_bytes(target.read_bytes()[:100])
    with pytest.raises(ReferenceStoreError, match=f"{target}: SHA-256"):
        resolve_reference_path("ref:grid25-10000-stats")
    (store_copy / "CHECKS.toml").write_text(
        '[[check]]\nsamples = "ref:grid25-10000"\nreference = "ref:grid25-10000-stats"\nmetric = "fid"\nthreshold = 1\n'
    )
    code, out, _ = run("check", store_copy / "CHECKS.toml")  # through the command line as well
    assert code == 1 and f"ERROR  fid ref:grid25-10000: ReferenceStoreError: ref:grid25-10000-stats: {target}" in out


def test_manifest_entry_whose_file_is_missing_is_reported_naming_it(store_copy: Path) -> None:
    (store_copy / "grid25-2500.npz").unlink()
    code, out, _ = run("ref", "verify")
    assert code == 1 and f"missing  grid25-2500  {store_copy / 'grid25-2500.npz'}: file missing" in out
    code, out, _ = run("ref", "show", "grid25-2500")
    assert code == 0 and json.loads(out)["status"] == "missing"
    with pytest.raises(ReferenceStoreError, match="grid25-2500.npz: file missing"):
        resolve_reference_path("ref:grid25-2500")


def test_unknown_reference_name_lists_the_known_ones() -> None:
    with pytest.raises(ReferenceStoreError, match=r"ref:nope: no such reference .*known: grid25-10000"):
        resolve_reference_path("ref:nope")
    code, _, err = run("ref", "show", "nope")
    assert code == 1 and "ref:nope: no such reference" in err


def test_manifest_that_is_not_json_is_reported_naming_it(store_copy: Path) -> None:
    (store_copy / "manifest.json").write_text("{ not json")
    with pytest.raises(ReferenceStoreError, match=f"{store_copy / 'manifest.json'}: not a readable JSON manifest"):
        ReferenceStore().entries()


def test_manifest_entry_without_a_hash_is_reported_naming_it(store_copy: Path) -> None:
    manifest = json.loads((store_copy / "manifest.json").read_text())
    del manifest["entries"][2]["sha256"]
    (store_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ReferenceStoreError, match="manifest.json: entry 2 lacks sha256"):
        ReferenceStore().entries()


def test_plain_paths_pass_through_resolution(tmp_path: Path) -> None:
    assert resolve_reference_path(tmp_path / "x.npz") == tmp_path / "x.npz"
    assert resolve_reference_path("relative/ref:odd.npz") == Path("relative/ref:odd.npz")
