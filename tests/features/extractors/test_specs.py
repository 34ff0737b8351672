"""The DINOv2, CLIP and VGG16 registry entries: protocols that fit the networks, and each family's weights
found through the one loader: downloaded from a release URL on 127.0.0.1 (good, corrupt, truncated, wrong or
pinned digest), cached, and built into the network its parity tests check."""

from __future__ import annotations

import dataclasses
import hashlib
import io

import pytest
import torch
from weights_server import FileServer

from ganmetrics.features.extractors import EXTRACTORS, get_extractor, load_extractor
from ganmetrics.features.extractors.clip import stored_as_half
from ganmetrics.features.extractors.dinov2 import ARCHITECTURES as DINOV2
from ganmetrics.features.extractors.random_weights import random_state_dict
from ganmetrics.features.extractors.vgg import random_vgg16_state_dict
from ganmetrics.features.protocols import PROTOCOLS
from ganmetrics.features.weights import WeightsNotFoundError, cache_dir


def test_every_protocol_of_an_extractor_makes_its_input_size():
    for spec in EXTRACTORS.values():
        module_sizes = {protocol: PROTOCOLS[protocol].input_size for protocol in spec.protocols}
        assert len(set(module_sizes.values())) == 1, (spec.name, module_sizes)
        images = torch.randint(0, 256, (1, 3, 20, 30), dtype=torch.uint8)
        for protocol in spec.protocols:
            size = PROTOCOLS[protocol].input_size
            assert PROTOCOLS[protocol].apply(images).shape == (1, 3, size, size)


def _bytes(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _served(spec, server: FileServer, body: bytes, *, sha256: str | None = "keep", declared: int | None = None):
    """``spec`` downloading ``body`` from the local server (``sha256`` replaced unless "keep")."""
    url = server.serve(spec.weights.file_name, body, declared)
    digest = spec.weights.sha256 if sha256 == "keep" else sha256
    return dataclasses.replace(spec, weights=dataclasses.replace(spec.weights, url=url, sha256=digest))


@pytest.fixture(scope="module")
def release_bodies() -> dict[str, bytes]:
    """Release-layout random weights of the smallest member of each family, as the files' bytes."""
    clip_state = random_state_dict(
        {k: v for k, v in get_extractor("clip-vit-b-32").build.keywords["architecture"].visual_shapes().items()},
        seed=4,
        stored_as_half=stored_as_half,
    )
    return {
        "dinov2-vit-s-14": _bytes(random_state_dict(DINOV2["dinov2-vit-s-14"].official_shapes(), seed=4)),
        "clip-vit-b-32": _bytes(clip_state),
        "vgg16": _bytes(random_vgg16_state_dict(seed=4)),
    }


@pytest.mark.parametrize("name", ["dinov2-vit-s-14", "clip-vit-b-32", "vgg16"])
def test_release_download_is_cached_and_built(name, server: FileServer, release_bodies):
    body = release_bodies[name]
    digest = hashlib.sha256(body).hexdigest()
    published = None if EXTRACTORS[name].weights.sha256 is None else digest
    spec = _served(EXTRACTORS[name], server, body, sha256=published)
    model, used = load_extractor(spec, progress=False)
    assert used == digest and (cache_dir() / spec.weights.file_name).read_bytes() == body
    assert spec.build(torch.load(io.BytesIO(body), weights_only=True)).state_dict().keys() == model.state_dict().keys()
    load_extractor(spec, progress=False)  # from the cache: no second request
    assert server.requests == ["/" + spec.weights.file_name]


def test_clip_download_with_another_digest_than_openais_is_refused(server: FileServer, release_bodies):
    spec = _served(EXTRACTORS["clip-vit-b-32"], server, release_bodies["clip-vit-b-32"])
    with pytest.raises(WeightsNotFoundError, match="does not start with 40d36571"):
        load_extractor(spec, progress=False)
    assert not (cache_dir() / spec.weights.file_name).exists()


@pytest.mark.parametrize("name", ["dinov2-vit-s-14", "clip-vit-b-32", "vgg16"])
def test_truncated_download_is_refused_and_leaves_nothing(name, server: FileServer, release_bodies):
    body = release_bodies[name]
    spec = _served(
        EXTRACTORS[name],
        server,
        body[: len(body) // 2],
        declared=len(body),
        sha256=None if EXTRACTORS[name].weights.sha256 is None else hashlib.sha256(body).hexdigest(),
    )
    with pytest.raises(WeightsNotFoundError, match="transfer interrupted"):
        load_extractor(spec, progress=False)
    assert not (cache_dir() / spec.weights.file_name).exists()


def test_corrupt_file_without_published_digest_is_refused_naming_it(server: FileServer):
    spec = _served(EXTRACTORS["dinov2-vit-s-14"], server, b"\x00" * 4096)
    with pytest.raises(ValueError, match="dinov2_vits14_pretrain.pth: cannot be read as a PyTorch weights file"):
        load_extractor(spec, progress=False)


def test_pinned_digest_refuses_other_weights(server: FileServer, release_bodies, monkeypatch):
    spec = _served(EXTRACTORS["dinov2-vit-s-14"], server, release_bodies["dinov2-vit-s-14"])
    monkeypatch.setenv("GANMETRICS_DINOV2_VIT_S_14_WEIGHTS_SHA256", "0123abcd")
    with pytest.raises(
        ValueError, match=r"does not start with 0123abcd \(pinned by GANMETRICS_DINOV2_VIT_S_14_WEIGHTS"
    ):
        load_extractor(spec, progress=False)


def test_weights_of_the_wrong_architecture_name_the_first_mismatching_key(tmp_path, release_bodies):
    path = tmp_path / "vits14.pth"
    path.write_bytes(release_bodies["dinov2-vit-s-14"])
    with pytest.raises(ValueError, match="not dinov2-vit-l-14 weights: 'cls_token' has shape"):
        load_extractor(get_extractor("dinov2-vit-l-14"), path)
