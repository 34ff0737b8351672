"""Finding, downloading, verifying and caching weight files, against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
from weights_server import FileServer

from ganmetrics.features import weights
from ganmetrics.features.weights import (
    CACHE_ENV,
    FID_WEIGHTS_NAME,
    WEIGHTS_ENV,
    WeightsNotFoundError,
    resolve_weights,
    sha256_file,
)

PAYLOAD = bytes(range(256)) * 4099  # ~1 MB: more than one read chunk


def _named_with_hash(body: bytes, stem: str = "weights") -> str:
    """A file name carrying the first 8 hex digits of the body's SHA-256 (torch.hub's convention)."""
    return f"{stem}-{hashlib.sha256(body).hexdigest()[:8]}.pth"


def _cache() -> Path:
    return weights.cache_dir()


def test_sha256_file_matches_hashlib_on_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(PAYLOAD)
    assert sha256_file(path) == hashlib.sha256(PAYLOAD).hexdigest()


def test_download_lands_in_the_cache_verified_and_intact(server: FileServer) -> None:
    name = _named_with_hash(PAYLOAD)
    url = server.serve(name, PAYLOAD)
    path = resolve_weights(url=url, progress=False)
    assert path == _cache() / name
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in _cache().iterdir()) == [name]  # no temporary file left beside it
    assert server.requests == ["/" + name]


def test_cache_hit_makes_no_request(server: FileServer) -> None:
    name = _named_with_hash(PAYLOAD)
    url = server.serve(name, PAYLOAD)
    first = resolve_weights(url=url, progress=False)
    second = resolve_weights(url=url, progress=False)
    assert first == second
    assert len(server.requests) == 1


def test_file_placed_in_the_cache_by_hand_is_used_without_download(server: FileServer) -> None:
    _cache().mkdir(parents=True, exist_ok=True)
    (_cache() / FID_WEIGHTS_NAME).write_bytes(b"placed by hand")
    assert resolve_weights(url=f"{server.base_url}/{FID_WEIGHTS_NAME}") == _cache() / FID_WEIGHTS_NAME
    assert server.requests == []


def test_default_cache_is_under_the_home_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert weights.cache_dir() == tmp_path / ".cache" / "ganmetrics"


def test_corrupted_download_is_rejected_and_nothing_is_cached(server: FileServer) -> None:
    name = _named_with_hash(PAYLOAD)
    url = server.serve(name, PAYLOAD[:-1] + b"\x00")  # one byte differs: the digest no longer matches
    with pytest.raises(WeightsNotFoundError, match=f"SHA-256 .* does not start with {name[8:16]}"):
        resolve_weights(url=url, progress=False)
    assert list(_cache().iterdir()) == []


def test_interrupted_transfer_is_an_error_and_leaves_no_file(server: FileServer) -> None:
    name = _named_with_hash(PAYLOAD)
    url = server.serve(name, PAYLOAD[: len(PAYLOAD) // 2], declared_length=len(PAYLOAD))
    expected = f"interrupted after {len(PAYLOAD) // 2} of {len(PAYLOAD)} bytes"
    with pytest.raises(WeightsNotFoundError, match=expected):
        resolve_weights(url=url, progress=False)
    assert list(_cache().iterdir()) == []


def test_keyboard_interrupt_mid_transfer_leaves_no_file(server: FileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    class InterruptingBar:
        def __init__(self, **kwargs: object) -> None:
            pass

        def __enter__(self) -> InterruptingBar:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def update(self, n: int) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(weights, "tqdm", InterruptingBar)
    url = server.serve(_named_with_hash(PAYLOAD), PAYLOAD)
    with pytest.raises(KeyboardInterrupt):
        resolve_weights(url=url)
    assert list(_cache().iterdir()) == []


def test_http_error_says_where_to_put_the_file(server: FileServer) -> None:
    url = f"{server.base_url}/{FID_WEIGHTS_NAME}"  # not served: 404
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_weights(url=url, progress=False)
    message = str(info.value)
    assert "404" in message and str(_cache() / FID_WEIGHTS_NAME) in message
    assert "--weights FILE" in message and WEIGHTS_ENV in message


def test_offline_gives_one_clear_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed: the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_weights(url=f"http://127.0.0.1:{port}/{FID_WEIGHTS_NAME}", progress=False)
    message = str(info.value)
    assert "download from" in message and "failed" in message
    assert str(_cache() / FID_WEIGHTS_NAME) in message
    assert "--weights FILE" in message and WEIGHTS_ENV in message


def test_download_disabled_says_where_to_put_the_file_and_what_to_set(server: FileServer) -> None:
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_weights(url=f"{server.base_url}/{FID_WEIGHTS_NAME}", download=False)
    message = str(info.value)
    assert "downloading is disabled" in message
    assert str(_cache() / FID_WEIGHTS_NAME) in message
    assert "--weights FILE" in message and WEIGHTS_ENV in message
    assert server.requests == []


def test_explicit_path_wins_over_environment_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit, from_env = tmp_path / "explicit.pth", tmp_path / "env.pth"
    explicit.write_bytes(b"a")
    from_env.write_bytes(b"b")
    monkeypatch.setenv(WEIGHTS_ENV, str(from_env))
    assert resolve_weights(explicit, download=False) == explicit
    assert resolve_weights(str(explicit), download=False) == explicit


def test_environment_variable_wins_over_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cache().mkdir(parents=True, exist_ok=True)
    (_cache() / FID_WEIGHTS_NAME).write_bytes(b"cached")
    from_env = tmp_path / "env.pth"
    from_env.write_bytes(b"b")
    monkeypatch.setenv(WEIGHTS_ENV, str(from_env))
    assert resolve_weights(download=False) == from_env


def test_missing_explicit_path_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(WeightsNotFoundError, match=f"weights: weight file '{missing}' does not exist"):
        resolve_weights(missing)


def test_missing_environment_path_is_an_error_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.pth"
    monkeypatch.setenv(WEIGHTS_ENV, str(missing))
    with pytest.raises(WeightsNotFoundError, match=f"{WEIGHTS_ENV}: weight file '{missing}' does not exist"):
        resolve_weights()


def test_release_without_published_digest_downloads_checked_for_completeness_only(server: FileServer) -> None:
    # DINOv2 releases publish no digest: the file is taken whole, and its SHA-256 is
    # what provenance records (load_extractor), not a check.
    path = resolve_weights(url=server.serve("weights.pth", PAYLOAD), progress=False)
    assert path.read_bytes() == PAYLOAD
    path.unlink()
    with pytest.raises(WeightsNotFoundError, match="transfer interrupted"):
        resolve_weights(url=server.serve("weights.pth", PAYLOAD[:1000], declared_length=len(PAYLOAD)), progress=False)
    assert not path.exists()


def test_progress_bar_goes_to_stderr_only_when_asked(server: FileServer, capsys: pytest.CaptureFixture) -> None:
    name = _named_with_hash(PAYLOAD, stem="quiet")
    resolve_weights(url=server.serve(name, PAYLOAD), progress=False)
    quiet = capsys.readouterr()
    assert quiet.out == "" and quiet.err == ""
    name = _named_with_hash(PAYLOAD, stem="loud")
    resolve_weights(url=server.serve(name, PAYLOAD), progress=True)
    loud = capsys.readouterr()
    assert loud.out == "" and name in loud.err
