"""The extractor registry: lookup, the one loader for every spec (cache, environment, verified download), and the
inception entry loading the same network as ``load_fid_inception``."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch
from weights_server import FileServer

from ganmetrics.features.extractors import EXTRACTORS, ExtractorSpec, WeightsSource, get_extractor, load_extractor
from ganmetrics.features.extractors.inception import load_fid_inception
from ganmetrics.features.protocols import PROTOCOLS
from ganmetrics.features.weights import WeightsNotFoundError, cache_dir


def _state_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    torch.save(torch.nn.Linear(3, 2).state_dict() | {"weight": torch.full((2, 3), float(seed))}, buffer)
    return buffer.getvalue()


class _Toy(torch.nn.Module):
    """A one-layer network with the registry's calling convention: ``module(x, outputs) -> {name: rows}``."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor, outputs: tuple[str, ...] = ("flat",)) -> dict[str, torch.Tensor]:
        return {"flat": self.linear(x.mean(dim=(2, 3)))}


def _build_toy(state: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    model = _Toy()
    model.linear.load_state_dict(dict(state))
    return model.eval()


def _toy_spec(url: str | None, sha256: str | None) -> ExtractorSpec:
    source = WeightsSource(file_name="toy-weights.pth", url=url, sha256=sha256, env_var="GANMETRICS_TOY_WEIGHTS")
    return ExtractorSpec(
        name="toy",
        family="custom",
        outputs={"flat": 2},
        protocols=("pytorch-fid",),
        weights=source,
        default_batch_size=4,
        build=_build_toy,
        reference="none (a test network)",
    )


def test_unknown_extractor_is_refused_listing_the_valid_names() -> None:
    with pytest.raises(ValueError, match=r"extractor: unknown 'inceptoin'; valid extractors are inception"):
        get_extractor("inceptoin")


def test_inception_entry_records_the_historic_extractor_id_and_its_protocols() -> None:
    # Stats files written before the registry say "fid-inception-v3/pool3"; the entry must keep writing that.
    spec = EXTRACTORS["inception"]
    assert spec.extractor_id(spec.default_output) == "fid-inception-v3/pool3"
    assert spec.outputs["pool3"] == 2048 and spec.default_protocol == "pytorch-fid"
    assert set(spec.protocols) <= set(PROTOCOLS)


def test_load_extractor_inception_equals_load_fid_inception(fid_weights: Path) -> None:
    ours, digest = load_extractor(get_extractor("inception"), fid_weights, "cpu", download=False)
    reference, reference_digest = load_fid_inception(fid_weights, "cpu", download=False)
    assert digest == reference_digest == hashlib.sha256(fid_weights.read_bytes()).hexdigest()
    x = torch.rand(2, 3, 299, 299) * 2 - 1
    with torch.inference_mode():
        assert torch.equal(ours(x, ("pool3",))["pool3"], reference(x, ("pool3",))["pool3"])
    assert not ours.training and not any(p.requires_grad for p in ours.parameters())


def test_load_extractor_downloads_any_spec_verified_by_its_published_digest(server: FileServer) -> None:
    body = _state_bytes(1)
    spec = _toy_spec(server.serve("toy-release.pth", body), hashlib.sha256(body).hexdigest())
    model, digest = load_extractor(spec, progress=False)
    assert digest == hashlib.sha256(body).hexdigest()
    assert (cache_dir() / "toy-weights.pth").read_bytes() == body
    assert torch.equal(model.linear.weight, torch.full((2, 3), 1.0))


def test_load_extractor_refuses_a_download_whose_digest_differs(server: FileServer) -> None:
    spec = _toy_spec(server.serve("toy-release.pth", _state_bytes(1)), "0" * 64)
    with pytest.raises(WeightsNotFoundError, match="does not start with 0000"):
        load_extractor(spec, progress=False)
    assert not (cache_dir() / "toy-weights.pth").exists()


def test_load_extractor_reads_the_specs_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mine.pth"
    path.write_bytes(_state_bytes(2))
    monkeypatch.setenv("GANMETRICS_TOY_WEIGHTS", str(path))
    model, _ = load_extractor(_toy_spec(None, None))
    assert torch.equal(model.linear.weight, torch.full((2, 3), 2.0))


def test_unpublished_weights_say_where_to_put_the_file() -> None:
    with pytest.raises(
        WeightsNotFoundError,
        match=r"toy weights not found \(they are not published.*"
        r"GANMETRICS_TOY_WEIGHTS=FILE",
    ):
        load_extractor(_toy_spec(None, None))
