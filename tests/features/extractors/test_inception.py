"""The FID Inception v3 against pytorch-fid and torch-fidelity loaded with the same (random) weights file."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from pytorch_fid.inception import InceptionV3, fid_inception_v3
from torch.nn import Module
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from ganmetrics.features.extractors.inception import FIDInceptionV3, fold_batchnorm, load_fid_inception
from ganmetrics.features.protocols import preprocess
from ganmetrics.features.random_weights import make_random_fid_inception_weights
from ganmetrics.features.weights import FID_WEIGHTS_NAME, WEIGHTS_ENV

OUTPUTS = FIDInceptionV3.OUTPUTS
# pytorch-fid's --dims and torch-fidelity's feature names for our outputs.
PYTORCH_FID_BLOCK = {"block64": 0, "block192": 1, "block768": 2, "pool3": 3}
TORCH_FIDELITY_NAME = {
    "block64": "64",
    "block192": "192",
    "block768": "768",
    "pool3": "2048",
    "logits_unbiased": "logits_unbiased",
    "logits": "logits",
}


def _unit_images(seed: int) -> torch.Tensor:
    """Two smooth [0, 1] images of a non-299 size (83 x 101), so the peers' resizing is exercised too."""
    coarse = torch.rand((2, 3, 6, 7), generator=torch.Generator().manual_seed(seed))
    return F.interpolate(coarse, size=(83, 101), mode="bicubic", align_corners=False).clamp(0, 1)


@pytest.fixture(scope="module")
def pytorch_fid_models(fid_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[InceptionV3, Module]:
    """pytorch-fid's ``InceptionV3`` (all four blocks) and ``fid_inception_v3()``, both reading ``fid_weights``.

    ``fid_inception_v3()`` calls ``torch.hub.load_state_dict_from_url``, which reads
    ``$TORCH_HOME/hub/checkpoints/<file name of the URL>`` when present instead of downloading, and loads it
    with a strict ``load_state_dict``.
    """
    torch_home = tmp_path_factory.mktemp("torch_home")
    checkpoints = torch_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / FID_WEIGHTS_NAME).write_bytes(fid_weights.read_bytes())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(torch_home))
        patch.setattr(torch.hub, "_hub_dir", None)
        return InceptionV3([0, 1, 2, 3], use_fid_inception=True).eval(), fid_inception_v3().eval()


@pytest.fixture(scope="module")
def pytorch_fid_pair(fid_model: FIDInceptionV3, pytorch_fid_models: tuple[InceptionV3, Module]) -> tuple[dict, list]:
    """Our outputs on preprocess("pytorch-fid") and pytorch-fid's pooled blocks on the same [0, 1] images."""
    images = _unit_images(seed=0)
    with torch.inference_mode():
        ours = fid_model(preprocess(images, "pytorch-fid"), outputs=OUTPUTS)
        blocks = pytorch_fid_models[0](images)  # resizes and scales inside
    # pytorch-fid's fid_score.py averages blocks over space (adaptive_avg_pool2d) before using them.
    return ours, [F.adaptive_avg_pool2d(block, output_size=(1, 1)).flatten(1) for block in blocks]


@pytest.mark.parametrize("name", list(PYTORCH_FID_BLOCK))
def test_blocks_and_pool3_match_pytorch_fid(pytorch_fid_pair: tuple[dict, list], name: str) -> None:
    # Same weights, same float32 operations: the brief's parity bound is 1e-5 absolute (the two agree far
    # closer in practice: both run the same kernels in the same order).
    ours, theirs = pytorch_fid_pair
    torch.testing.assert_close(ours[name], theirs[PYTORCH_FID_BLOCK[name]], atol=1e-5, rtol=0)


def test_logits_are_the_fc_layer_applied_to_pool3(pytorch_fid_pair: tuple[dict, list], fid_weights: Path) -> None:
    # Expected in float64 from pytorch-fid's pool3 and the file's fc weights. float32 rounding of a 2048-term
    # dot product of terms ~1e-2 with |logits| < 20: errors ~1e-5; tolerance 1e-4.
    ours, theirs = pytorch_fid_pair
    state = torch.load(fid_weights, map_location="cpu", weights_only=True)
    pool3 = theirs[3].double()
    unbiased = pool3 @ state["fc.weight"].double().T
    torch.testing.assert_close(ours["logits_unbiased"].double(), unbiased, atol=1e-4, rtol=0)
    biased = unbiased + state["fc.bias"].double()
    torch.testing.assert_close(ours["logits"].double(), biased, atol=1e-4, rtol=0)


def test_tf_mode_outputs_match_torch_fidelity(fid_model: FIDInceptionV3, fid_weights: Path) -> None:
    # torch-fidelity's extractor on uint8 images (TF1 resize inside) vs preprocess("tf") + our network, same
    # weights. Same operations throughout: tolerance 1e-5 absolute as for pytorch-fid (they agree bit for bit
    # on this machine).
    names = [TORCH_FIDELITY_NAME[name] for name in OUTPUTS]
    extractor = FeatureExtractorInceptionV3("inception-v3-compat", names, feature_extractor_weights_path=fid_weights)
    images = (_unit_images(seed=1) * 255).round().to(torch.uint8)
    with torch.inference_mode():
        ours = fid_model(preprocess(images, "tf"), outputs=OUTPUTS)
        theirs = dict(zip(OUTPUTS, extractor(images), strict=True))
    for name in OUTPUTS:
        torch.testing.assert_close(ours[name], theirs[name], atol=1e-5, rtol=0, msg=name)


def test_state_dict_keys_and_shapes_are_pytorch_fids(
    fid_model: FIDInceptionV3, pytorch_fid_models: tuple[InceptionV3, Module]
) -> None:
    # fid_inception_v3() builds the model pytorch-fid's release file was saved from.
    theirs = {key: tuple(value.shape) for key, value in pytorch_fid_models[1].state_dict().items()}
    assert {key: tuple(value.shape) for key, value in fid_model.state_dict().items()} == theirs


def test_outputs_have_the_documented_shapes_in_the_requested_order(fid_model: FIDInceptionV3) -> None:
    x = preprocess(_unit_images(seed=2)[:1])
    requested = ("logits", "block64", "pool3")
    with torch.inference_mode():
        out = fid_model(x, outputs=requested)
    assert tuple(out) == requested
    assert {name: tuple(t.shape) for name, t in out.items()} == {name: (1, fid_model.DIMS[name]) for name in requested}
    assert all(t.dtype == torch.float32 for t in out.values())


def test_only_the_layers_needed_for_the_requested_outputs_run(fid_model: FIDInceptionV3) -> None:
    calls: list[str] = []
    handles = [
        getattr(fid_model, name).register_forward_hook(lambda *_, name=name: calls.append(name))
        for name in ("Conv2d_1a_3x3", "Conv2d_3b_1x1", "Mixed_5b", "Mixed_7c", "fc")
    ]
    x = torch.zeros((1, 3, 299, 299))
    try:
        with torch.inference_mode():
            fid_model(x, outputs=("block64",))
            assert calls == ["Conv2d_1a_3x3"]
            calls.clear()
            fid_model(x, outputs=("block192",))
            assert calls == ["Conv2d_1a_3x3", "Conv2d_3b_1x1"]
            calls.clear()
            fid_model(x, outputs=("pool3", "logits_unbiased"))
            assert calls == ["Conv2d_1a_3x3", "Conv2d_3b_1x1", "Mixed_5b", "Mixed_7c"]  # no fc (no bias) call
    finally:
        for handle in handles:
            handle.remove()


def test_forward_runs_under_no_grad_and_inference_mode_with_frozen_weights(fid_model: FIDInceptionV3) -> None:
    assert not fid_model.training
    assert not any(p.requires_grad for p in fid_model.parameters())
    x = preprocess(_unit_images(seed=3)[:1])
    with torch.no_grad():
        a = fid_model(x, outputs=("block192",))["block192"]
    with torch.inference_mode():
        b = fid_model(x, outputs=("block192",))["block192"]
    assert not a.requires_grad and b.is_inference()
    torch.testing.assert_close(a, b, atol=0, rtol=0)  # same computation: identical


def test_random_weights_give_realistic_activations(pytorch_fid_pair: tuple[dict, list]) -> None:
    # The BatchNorm calibration must keep activations of ordinary images in the range of a trained network's
    # (pool3 values of order 0.1-10, neither vanishing nor exploding) and logits neither uniform nor one-hot.
    ours, _ = pytorch_fid_pair
    pool3, probs = ours["pool3"], ours["logits"].softmax(1)
    assert 0.05 < float(pool3.mean()) < 5 and float(pool3.max()) < 50
    assert float(pool3.std(0).mean()) > 0.01  # different images give different features
    assert 1.5 / 1008 < float(probs.max(1).values.min()) and float(probs.max(1).values.max()) < 0.999


def test_random_weights_are_reproducible_from_the_seed(fid_weights: Path, tmp_path: Path) -> None:
    # Same seed, same machine: the same draws and the same calibration arithmetic, so identical tensors.
    again = make_random_fid_inception_weights(tmp_path / "again.pth", seed=0)
    assert [p.name for p in tmp_path.iterdir()] == ["again.pth"]  # written atomically: no temporary file left
    first = torch.load(fid_weights, weights_only=True)
    second = torch.load(again, weights_only=True)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)


def test_load_returns_the_files_sha256(fid_weights: Path) -> None:
    _, digest = load_fid_inception(fid_weights, download=False)
    assert digest == hashlib.sha256(fid_weights.read_bytes()).hexdigest()


def test_load_finds_the_file_through_the_environment(fid_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(fid_weights))
    model, _ = load_fid_inception(download=False)
    assert isinstance(model, FIDInceptionV3)


def test_file_without_num_batches_tracked_loads_to_the_same_model(
    fid_model: FIDInceptionV3, fid_weights: Path, tmp_path: Path
) -> None:
    state = torch.load(fid_weights, weights_only=True)
    path = tmp_path / "no_counters.pth"
    torch.save({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}, path)
    model, _ = load_fid_inception(path, download=False)
    expected = {k: v for k, v in fid_model.state_dict().items() if not k.endswith("num_batches_tracked")}
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in expected.items())


def test_missing_and_misshapen_keys_are_listed_with_the_file(fid_weights: Path, tmp_path: Path) -> None:
    state = torch.load(fid_weights, weights_only=True)
    del state["Mixed_5b.branch1x1.conv.weight"]
    state["fc.weight"] = torch.zeros(1000, 2048)
    state["aux.weight"] = torch.zeros(1)
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(ValueError) as info:
        load_fid_inception(path, download=False)
    message = str(info.value)
    assert str(path) in message and "3 mismatch" in message
    assert "missing Mixed_5b.branch1x1.conv.weight" in message and "unexpected aux.weight" in message
    assert "fc.weight has shape (1000, 2048), expected (1008, 2048)" in message


def test_only_the_first_ten_mismatches_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "empty.pth"
    torch.save({}, path)
    with pytest.raises(ValueError) as info:
        load_fid_inception(path, download=False)
    message = str(info.value)
    total = sum(1 for k in FIDInceptionV3().state_dict() if not k.endswith("num_batches_tracked"))
    assert f"({total} mismatch(es)" in message and "first 10:" in message and message.count("missing ") == 10


def test_file_that_is_not_a_state_dict_is_rejected_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(ValueError, match=f"{path}: expected a state dict .* got list"):
        load_fid_inception(path, download=False)


def test_unreadable_file_is_rejected_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=f"{path}: cannot be read as a PyTorch weights file") as info:
        load_fid_inception(path, download=False)
    assert "\n" not in str(info.value) and "weights_only" not in str(info.value)


def test_unknown_output_name_is_rejected_listing_the_valid_ones(fid_model: FIDInceptionV3) -> None:
    with pytest.raises(ValueError, match=r"outputs: unknown name\(s\) \['pool4'\]; choose from block64"):
        fid_model(torch.zeros((1, 3, 299, 299)), outputs=("pool4",))


def test_empty_outputs_are_rejected(fid_model: FIDInceptionV3) -> None:
    with pytest.raises(ValueError, match="outputs: no output requested"):
        fid_model(torch.zeros((1, 3, 299, 299)), outputs=())


def test_a_single_string_for_outputs_is_rejected(fid_model: FIDInceptionV3) -> None:
    with pytest.raises(ValueError, match="outputs: expected a sequence of names, got the string 'pool3'"):
        fid_model(torch.zeros((1, 3, 299, 299)), outputs="pool3")


def test_repeated_output_names_are_rejected(fid_model: FIDInceptionV3) -> None:
    with pytest.raises(ValueError, match="outputs: repeated names"):
        fid_model(torch.zeros((1, 3, 299, 299)), outputs=("pool3", "pool3"))


def test_input_not_resized_to_299_is_rejected_naming_x(fid_model: FIDInceptionV3) -> None:
    with pytest.raises(ValueError, match=r"x: expected shape \(N, 3, 299, 299\).*\(1, 3, 64, 64\)"):
        fid_model(torch.zeros((1, 3, 64, 64)))


def test_integer_input_is_rejected_naming_x(fid_model: FIDInceptionV3) -> None:
    with pytest.raises(ValueError, match="x: expected a floating point tensor, got torch.uint8"):
        fid_model(torch.zeros((1, 3, 299, 299), dtype=torch.uint8))


def test_folded_batchnorm_computes_the_same_function_in_float64(fid_model: FIDInceptionV3) -> None:
    # Folding is algebra: folded in float64, the copy and the original agree to 1e-10 of max |pool3| (float64
    # rounding through 94 layers; a wrong scale or bias moves features by O(1)). The original is left unchanged.
    original = copy.deepcopy(fid_model).double()
    before = {k: v.clone() for k, v in original.state_dict().items()}
    folded = fold_batchnorm(original)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 2 - 1
    with torch.inference_mode():
        expected = original(x, outputs=("block64", "pool3"))
        got = folded(x, outputs=("block64", "pool3"))
    for name in ("block64", "pool3"):
        scale = float(expected[name].abs().max())
        assert torch.allclose(got[name], expected[name], rtol=0, atol=1e-10 * scale)
    assert all(torch.equal(v, original.state_dict()[k]) for k, v in before.items())


class _Payload:
    """An object whose unpickling would call a function: what weights_only=True exists to refuse."""

    def __reduce__(self):
        return (print, ("code ran",))


def test_a_pickle_with_code_is_refused_in_one_line_naming_the_file(tmp_path: Path) -> None:
    # Before: torch's multi-line advice to pass weights_only=False.
    path = tmp_path / "evil.pth"
    torch.save({"fc.weight": torch.zeros(1), "payload": _Payload()}, path)
    with pytest.raises(ValueError) as info:
        load_fid_inception(path, download=False)
    message = str(info.value)
    assert message.startswith(f"{path}: is not a plain state dict") and message.endswith("refused")
    assert "\n" not in message and "weights_only" not in message


def test_random_weights_carry_their_marker_and_load_with_strict_keys(fid_weights: Path) -> None:
    model, _ = load_fid_inception(fid_weights, download=False)
    assert model.weights_kind == "random-test"
    state = torch.load(fid_weights, weights_only=True)
    FIDInceptionV3().load_state_dict(state, strict=True)  # the marker is invisible to load_state_dict (and peers)


def test_weights_without_the_marker_have_no_kind(fid_weights: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain.pth"
    torch.save(dict(torch.load(fid_weights, weights_only=True)), plain)  # a dict copy drops _metadata
    model, _ = load_fid_inception(plain, download=False)
    assert model.weights_kind is None
