"""Finding, downloading, verifying and caching weight files, for every feature extractor.

Resolution order (first match wins):

1. the explicit ``weights`` path (the CLI's ``--weights FILE``);
2. the extractor's environment variable (``GANMETRICS_INCEPTION_WEIGHTS`` for the FID Inception);
3. the cache: ``$GANMETRICS_CACHE`` (default ``~/.cache/ganmetrics``) holding the file under its name
   (``pt_inception-2015-12-05-6726825d.pth`` for the FID weights; by default the URL's last path component);
4. a download from the release URL, verified before it is used.

Verification: the SHA-256 digest of the content must start with the published digest (or prefix). When none is
given, torch.hub's convention applies: the file name ends ``-<hex>.<ext>`` and the digest starts with ``<hex>``.
The download goes to a temporary file in the cache directory that is renamed into place (``os.replace``) only
once complete and verified, so an interrupted or corrupted transfer never leaves a partial file behind.
``read_state_dict`` loads a file as tensors only (no pickled code); ``check_state_dict`` compares its keys and
shapes with an architecture's. The extractor registry (``ganmetrics.features.extractors``) calls these.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import sys
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import torch
from tqdm import tqdm

from ganmetrics.provenance import RANDOM_TEST_WEIGHTS

FID_WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
WEIGHTS_ENV = "GANMETRICS_INCEPTION_WEIGHTS"
CACHE_ENV = "GANMETRICS_CACHE"

_HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.[^-]*$")
_CHUNK = 1 << 20
_TIMEOUT_S = 60
# The entry of a weight file's state-dict ``_metadata`` that marks seeded random weights ({"kind": "random-test",
# "seed": ...}, see ``read_weights_kind``).
WEIGHTS_MARKER = "ganmetrics.weights"


class WeightsNotFoundError(RuntimeError):
    """No usable weight file: not given, not cached, and not downloadable (offline, refused, or corrupted)."""


def cache_dir() -> Path:
    """Return the cache directory: ``$GANMETRICS_CACHE``, else ``~/.cache/ganmetrics`` (not created here)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "ganmetrics").expanduser()


def sha256_file(path: str | Path) -> str:
    """Return the full SHA-256 hex digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_weights(
    weights: str | Path | None = None,
    *,
    download: bool = True,
    progress: bool = True,
    url: str | None = FID_WEIGHTS_URL,
    file_name: str | None = None,
    sha256: str | None = None,
    env_var: str = WEIGHTS_ENV,
    label: str = "FID Inception",
) -> Path:
    """Return the path of the weight file, downloading and verifying it into the cache if needed.

    Parameters
    ----------
    weights
        An explicit file; when given, it is used as is (no hash check: it may be any weights of this layout).
    download
        Whether step 4 (download) may run; when False a missing file is an error.
    progress
        Show a tqdm progress bar on stderr while downloading.
    url
        Where to download from (None: nowhere, the user must supply the file).
    file_name
        The file's name in the cache directory (default: the last path component of ``url``).
    sha256
        The published SHA-256 digest or its prefix (default: the ``-<hex>.`` in the file name; when the name
        carries none either, the release publishes no digest and the download is checked for completeness only;
        callers record the digest of the file used, ``sha256_file``, and may pin it).
    env_var
        The environment variable that may name the file.
    label
        The weights' name in error messages.

    Raises ``WeightsNotFoundError`` naming the missing explicit or environment path, or, when nothing is
    found and the download is off, impossible or fails (network error, truncated transfer, wrong SHA-256), saying
    where to put the file and which flag or variable to set. ``ValueError`` when neither ``file_name`` nor
    ``url`` names the file.
    """
    if weights is not None:
        return _existing(Path(weights), "weights")
    if os.environ.get(env_var):
        return _existing(Path(os.environ[env_var]), f"environment variable {env_var}")
    name = file_name or (Path(urlparse(url).path).name if url else None)
    if not name:
        raise ValueError("file_name, url: one of them must name the weight file")
    target = cache_dir() / name
    if target.is_file():
        return target
    if url is None:
        raise WeightsNotFoundError(_how_to_provide(target, "they are not published for download", env_var, label))
    if sha256 is None:  # the digest in the file name, else none is published: only the length is checked
        match = _HASH_IN_NAME.search(name)
        sha256 = match.group(1) if match else ""
    if not download:
        raise WeightsNotFoundError(_how_to_provide(target, "downloading is disabled", env_var, label))
    try:
        _download_verified(url, target, sha256, progress)
    except (OSError, ValueError) as exc:
        raise WeightsNotFoundError(
            _how_to_provide(target, f"download from {url} failed: {exc}", env_var, label)
        ) from exc
    return target


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Return the state dict stored in ``path``, loaded on the CPU: a PyTorch weights file (read with
    ``weights_only=True``: tensors only, no pickled code) or a TorchScript archive (OpenAI's CLIP releases; read
    with ``torch.jit.load``, the only reader of that format, which runs no model code).

    Raises ``ValueError`` naming the file, in one line, when it holds pickled Python objects beyond tensors
    (refused: loading them could run code), cannot be read as either format, or is not a dict.
    """
    try:
        if _is_torchscript_archive(path):
            with warnings.catch_warnings():  # torch.jit.load is deprecated, yet the only reader of the format
                warnings.filterwarnings("ignore", message=".*torch.jit.load.*", category=FutureWarning)
                return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # torch explains a refusal in many lines advising weights_only=False; one line says what matters here.
        text = str(exc)
        if isinstance(exc, pickle.UnpicklingError) and "Unsupported global" in text:
            raise ValueError(
                f"{path}: is not a plain state dict (it holds pickled Python objects beyond tensors, which could "
                "run code when loaded); refused"
            ) from None
        detail = text.split("WeightsUnpickler error:", 1)[-1].strip() or type(exc).__name__
        raise ValueError(f"{path}: cannot be read as a PyTorch weights file ({detail.splitlines()[0]})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict (names to tensors), got {type(state).__name__}")
    return state


def _is_torchscript_archive(path: Path) -> bool:
    """Whether ``path`` is a zip archive holding TorchScript constants (``<name>/constants.pkl``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") for name in archive.namelist())


def read_weights_kind(state: dict[str, torch.Tensor]) -> str | None:
    """Return ``provenance.RANDOM_TEST_WEIGHTS`` when a state dict carries the random-weights marker, else None.

    The marker is the ``WEIGHTS_MARKER`` entry of the state dict's ``_metadata`` (kept by torch.save/torch.load,
    ignored by ``load_state_dict``, so peers load such a file as is), written by ``features.random_weights``.
    """
    marker = getattr(state, "_metadata", {}).get(WEIGHTS_MARKER)
    if isinstance(marker, dict) and marker.get("kind") == RANDOM_TEST_WEIGHTS:
        return RANDOM_TEST_WEIGHTS
    return None


def _existing(path: Path, source: str) -> Path:
    """Return ``path`` (user-expanded) if it is a file, else raise naming it and where it came from."""
    path = path.expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"{source}: weight file {str(path)!r} does not exist or is not a file")
    return path


def _how_to_provide(target: Path, reason: str, env_var: str, label: str) -> str:
    """Return the message telling the user the three ways to supply the weights."""
    return (
        f"{label} weights not found ({reason}). Put the file at {target}, "
        f"or pass --weights FILE (weights=FILE in Python), or set {env_var}=FILE."
    )


def _download_verified(url: str, target: Path, hash_prefix: str, progress: bool) -> None:
    """Download ``url`` to ``target`` atomically, after checking its length and SHA-256 prefix.

    Raises ``ValueError`` for a truncated transfer or a digest mismatch, ``OSError`` (including
    ``urllib.error.URLError``) for network and file errors; the temporary file is removed on any failure,
    ``KeyboardInterrupt`` included.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length is not None else None
            received = 0
            with tqdm(
                total=expected,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                disable=not progress,
                desc=target.name,
            ) as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if expected is not None and received != expected:
            raise ValueError(f"transfer interrupted after {received} of {expected} bytes")
        if not digest.hexdigest().startswith(hash_prefix):
            raise ValueError(
                f"SHA-256 {digest.hexdigest()} does not start with {hash_prefix} (the prefix in the file "
                "name): the download is corrupted or not the expected file"
            )
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
