"""The stats file format: pytorch-fid reads ours as is, we read pytorch-fid's / TTUR's / clean-fid's, the
metadata record says how the statistics were made, unknown provenance warns, and each bad file is refused with
a message naming it."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cli_run import run
from pytorch_fid.fid_score import calculate_frechet_distance, compute_statistics_of_path

from ganmetrics import __version__
from ganmetrics.io.features_file import save_features
from ganmetrics.io.stats_file import load_stats, save_stats
from ganmetrics.metrics.statistics import FeatureStats
from ganmetrics.provenance import UnknownProvenanceWarning


@pytest.fixture()
def features() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((200, 6)) * [1, 2, 3, 1, 0.5, 1] + 1.5


def _image_metadata(**changes: object) -> dict:
    """A metadata record like the extractor writes for images (fields of ganmetrics.features.extract)."""
    meta = {
        "extractor": {"pool3": "fid-inception-v3/pool3"},
        "outputs": ["pool3"],
        "weights_sha256": "ab" * 32,
        "resize": "pytorch-fid",
        "image_sizes": [[32, 32, 200]],
        "precision": "fp32",
        "n": 200,
    }
    return {**meta, **changes}


def test_pytorch_fid_loader_reads_our_stats_file_as_its_own(features: np.ndarray, tmp_path: Path) -> None:
    path = save_stats(tmp_path / "ours.npz", FeatureStats.from_features(features), {"resize": "pytorch-fid"})
    mu, sigma = compute_statistics_of_path(str(path), model=None, batch_size=1, dims=6, device="cpu")
    # pytorch-fid's own estimate of the same features (np.mean, np.cov); float64 accumulation order differs only
    np.testing.assert_allclose(mu, features.mean(0), rtol=0, atol=1e-13)
    np.testing.assert_allclose(sigma, np.cov(features, rowvar=False), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("writer", ["pytorch-fid", "TTUR float32", "clean-fid"])
def test_reads_peer_npz_with_empty_metadata(writer: str, features: np.ndarray, tmp_path: Path) -> None:
    # Each peer writes np.savez_compressed(path, mu=..., sigma=...) (pytorch_fid.fid_score.save_fid_stats,
    # TTUR precalc_stats_example.py, cleanfid.fid.make_custom_stats); TTUR's arrays are float32 from TF.
    dtype = np.float32 if writer.startswith("TTUR") else np.float64
    mu, sigma = features.mean(0).astype(dtype), np.cov(features, rowvar=False).astype(dtype)
    path = tmp_path / "peer.npz"
    np.savez_compressed(path, mu=mu, sigma=sigma)
    loaded = load_stats(path)
    assert loaded.metadata == {} and loaded.n is None
    assert loaded.mu.dtype == np.float64 and np.array_equal(loaded.mu, mu.astype(np.float64))
    assert np.array_equal(loaded.sigma, sigma.astype(np.float64))


def test_stats_command_records_how_the_statistics_were_made(
    features: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = save_features(tmp_path / "feats.npz", {"features": features.astype(np.float32)}, _image_metadata())
    out = tmp_path / "stats.npz"
    monkeypatch.setattr(sys, "argv", ["/usr/bin/ganmetrics", "stats", str(source), "-o", str(out)])  # as from a shell
    code, _, err = run("stats", source, "-o", out)
    assert code == 0, err
    meta = load_stats(out).metadata
    assert meta["extractor"] == "fid-inception-v3/pool3" and meta["weights_sha256"] == "ab" * 32
    assert meta["resize"] == "pytorch-fid" and meta["image_sizes"] == [[32, 32, 200]]
    assert (meta["n"], meta["dims"], meta["dtype"], meta["ddof"]) == (200, 6, "float64", 1)
    assert meta["ganmetrics_version"] == __version__
    assert meta["command"] == f"ganmetrics stats {source} -o {out}"


def test_save_stats_metadata_cannot_override_the_counted_fields(features: np.ndarray, tmp_path: Path) -> None:
    path = save_stats(tmp_path / "s.npz", FeatureStats.from_features(features), {"n": 7, "dims": 1, "ddof": 0})
    meta = load_stats(path).metadata
    assert (meta["n"], meta["dims"], meta["ddof"]) == (200, 6, 1)


def test_comparing_a_peer_stats_file_warns_of_unknown_provenance(features: np.ndarray, tmp_path: Path) -> None:
    peer = tmp_path / "pytorch_fid_stats.npz"
    np.savez_compressed(peer, mu=features.mean(0), sigma=np.cov(features, rowvar=False))
    ours = save_stats(tmp_path / "ours.npz", FeatureStats.from_features(features[:150]), _image_metadata())
    with pytest.warns(UnknownProvenanceWarning, match=f"{peer}: unknown provenance"):
        code, out, err = run("fid", peer, ours, "--json")
    assert code == 0, err
    expected = calculate_frechet_distance(
        features.mean(0), np.cov(features, rowvar=False), features[:150].mean(0), np.cov(features[:150], rowvar=False)
    )
    assert json.loads(out)["fid"] == pytest.approx(expected, rel=1e-8)  # sqrtm vs eigen route, float64


# -- bad files: one test each, the message names the file --------------------------------------------------------


def test_truncated_stats_file_is_refused_naming_it(features: np.ndarray, tmp_path: Path) -> None:
    path = save_stats(tmp_path / "cut.npz", FeatureStats.from_features(features), {})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cut\.npz: not a readable npz"):
        load_stats(path)
    code, _, err = run("fid", path, path)
    assert code == 1 and "cut.npz" in err and "Traceback" not in err


def test_corrupted_stats_file_is_refused_naming_it(features: np.ndarray, tmp_path: Path) -> None:
    path = save_stats(tmp_path / "flipped.npz", FeatureStats.from_features(features), {})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:  # flip one byte inside the stored sigma array: its CRC-32 fails
        info = archive.getinfo("sigma.npy")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"flipped\.npz: not a readable npz"):
        load_stats(path)


def test_sigma_of_the_wrong_shape_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "badsigma.npz"
    np.savez(path, mu=np.zeros(4), sigma=np.eye(3))
    with pytest.raises(ValueError, match=r"badsigma\.npz: mu has shape \(4,\) and sigma \(3, 3\)"):
        load_stats(path)


def test_stats_file_without_sigma_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nosigma.npz"
    np.savez(path, mu=np.zeros(4))
    with pytest.raises(ValueError, match=r"nosigma\.npz: has no sigma"):
        load_stats(path)


def test_metadata_that_is_not_json_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "badmeta.npz"
    np.savez(path, mu=np.zeros(2), sigma=np.eye(2), metadata=np.array("{not json"))
    with pytest.raises(ValueError, match=r"badmeta\.npz: its metadata record is not valid JSON"):
        load_stats(path)


def _reload(path: Path) -> FeatureStats:
    loaded = load_stats(path)
    return FeatureStats.from_moments(loaded.mu, loaded.sigma, loaded.n)


def test_feature_stats_save_load_roundtrip_and_merge(tmp_path) -> None:
    # Saved statistics reload bit for bit (float64 npz) and stay mergeable: loading two halves and merging them
    # equals the statistics of the whole (Chan update, 1e-12 relative).
    rng = np.random.default_rng(10)
    x = rng.standard_normal((80, 4)) + 5
    first = FeatureStats(4).update(x[:30])
    save_stats(tmp_path / "a.npz", first, {"resize": "pytorch-fid"})
    save_stats(tmp_path / "b.npz", FeatureStats(4).update(x[30:]), {})
    a, b = (_reload(tmp_path / name) for name in ("a.npz", "b.npz"))
    np.testing.assert_array_equal(a.mu.numpy(), first.mu.numpy())
    np.testing.assert_array_equal(a.sigma.numpy(), first.sigma.numpy())
    merged = a.merge(b)
    assert merged.n == 80
    np.testing.assert_allclose(merged.sigma.numpy(), np.cov(x, rowvar=False), rtol=1e-12, atol=1e-13)
    with np.load(tmp_path / "a.npz") as data:
        assert set(data.files) >= {"mu", "sigma", "n", "metadata"}
