"""CLIP extractor: image embeddings equal to OpenAI's CLIP code and torch-fidelity 0.4's vendored copy of it, on
seeded random weights in OpenAI's release layout (float16 where the release stores float16).

References: torch-fidelity 0.4 ``FeatureExtractorCLIP`` reading a TorchScript archive, end to end from uint8
images; OpenAI's ``clip`` package (PyPI ``openai-clip``) ``clip.load(..., jit=False)`` with its own preprocess.
Tolerance: 1e-5 of the largest |feature| (the issue's bound): timm's attention and OpenAI's
``nn.MultiheadAttention`` are different code; measured on this machine: bit-identical (both reach the same fused
``scaled_dot_product_attention`` kernel), which other builds of torch need not give.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from PIL import Image
from torch_fidelity import feature_extractor_clip as fidelity_clip

from ganmetrics.features import protocols
from ganmetrics.features.extractors.clip import ARCHITECTURES, build_clip, stored_as_half
from ganmetrics.features.extractors.random_weights import random_state_dict, save_torchscript_archive
from ganmetrics.features.weights import read_state_dict

try:
    import clip as openai_clip  # OpenAI's package (PyPI openai-clip), the second reference
except ModuleNotFoundError:
    openai_clip = None
needs_openai_clip = pytest.mark.skipif(openai_clip is None, reason="OpenAI CLIP: pip install openai-clip")

TOLERANCE = 1e-5
B32 = ARCHITECTURES["clip-vit-b-32"]


def _assert_close(ours: torch.Tensor, reference: torch.Tensor) -> None:
    error = float((ours - reference).abs().max())
    assert error <= TOLERANCE * float(reference.abs().max()), f"max |difference| {error:.3g}"


def _openai_model(architecture, layers: int | None = None):
    """OpenAI's CLIP module for ``architecture`` (text tower included), as ``clip.model.build_model`` sizes it."""
    return openai_clip.model.CLIP(
        embed_dim=architecture.embed_dim,
        image_resolution=architecture.image_size,
        vision_layers=layers or architecture.layers,
        vision_width=architecture.width,
        vision_patch_size=architecture.patch_size,
        context_length=77,
        vocab_size=49408,
        transformer_width=architecture.text_width,
        transformer_heads=architecture.text_width // 64,
        transformer_layers=12,
    )


@pytest.fixture(scope="module")
def b32_release(tmp_path_factory) -> tuple[dict[str, torch.Tensor], str]:
    """Random ViT-B/32 release weights and the TorchScript archive holding them, as OpenAI's files hold theirs."""
    state = random_state_dict(B32.release_shapes(), seed=7, stored_as_half=stored_as_half)
    path = save_torchscript_archive(state, tmp_path_factory.mktemp("clip") / B32.file_name)
    return state, str(path)


def _images(height: int, width: int, count: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(height + width)
    return torch.randint(0, 256, (count, 3, height, width), dtype=torch.uint8, generator=generator)


def test_release_archive_reads_as_the_state_dict_it_holds(b32_release):
    state, path = b32_release
    read = read_state_dict(path)
    assert set(read) == set(state)
    assert all(torch.equal(read[key], state[key]) and read[key].dtype == state[key].dtype for key in state)


@pytest.mark.parametrize("height, width", [(32, 48), (256, 256)])
def test_vit_b32_matches_torch_fidelity_end_to_end(b32_release, height, width):
    _, path = b32_release
    images = _images(height, width)
    reference = fidelity_clip.FeatureExtractorCLIP("clip-vit-b-32", ["clip"], feature_extractor_weights_path=path)
    network = build_clip(read_state_dict(path), B32)
    with torch.no_grad():
        ours = network(protocols.tf1_bilinear(images, 224, protocols.CLIP_MEAN, protocols.CLIP_STD))["embedding"]
        expected = reference(images)[0]
    assert ours.shape == (2, 512)
    _assert_close(ours, expected)


@needs_openai_clip
def test_vit_b32_matches_openai_clip_with_its_preprocess(b32_release):
    _, path = b32_release
    images = _images(200, 300)
    model, preprocess = openai_clip.load(path, device="cpu", jit=False)
    network = build_clip(read_state_dict(path), B32)
    with torch.no_grad():
        pil = [Image.fromarray(image.permute(1, 2, 0).numpy()) for image in images]
        expected = model.encode_image(torch.stack([preprocess(im) for im in pil]))
        ours = network(protocols.openai_clip(images, 224))["embedding"]
    _assert_close(ours, expected)


@pytest.mark.parametrize("name", ["clip-vit-b-16", "clip-vit-l-14", "clip-vit-l-14-336"])
def test_larger_encoders_match_openai_code_on_their_first_two_blocks(name):
    architecture = dataclasses.replace(ARCHITECTURES[name], layers=2)
    state = random_state_dict(architecture.visual_shapes(), seed=8, stored_as_half=stored_as_half)
    reference = fidelity_clip.VisionTransformer(
        input_resolution=architecture.image_size,
        patch_size=architecture.patch_size,
        width=architecture.width,
        layers=2,
        heads=architecture.width // 64,
        output_dim=architecture.embed_dim,
    )
    reference.load_state_dict({key.removeprefix("visual."): value.float() for key, value in state.items()})
    images = torch.randn(1, 3, architecture.image_size, architecture.image_size)
    with torch.no_grad():
        _assert_close(build_clip(state, architecture)(images)["embedding"], reference.eval()(images))


@needs_openai_clip
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_release_layout_and_half_precision_equal_openai_model(name):
    # On the meta device: shapes and dtypes only. Parameter counts as OpenAI's model card rounds them:
    # ViT-B 151M/150M, ViT-L 428M.
    architecture = ARCHITECTURES[name]
    with torch.device("meta"):
        model = _openai_model(architecture)
        openai_clip.model.convert_weights(model)
    state = model.state_dict()
    assert architecture.release_shapes() == {key: tuple(value.shape) for key, value in state.items()}
    assert all(stored_as_half(key) == (value.dtype == torch.float16) for key, value in state.items())
    count = sum(value.numel() for value in state.values())
    published = {"clip-vit-b-32": 151e6, "clip-vit-b-16": 150e6, "clip-vit-l-14": 428e6, "clip-vit-l-14-336": 428e6}
    assert abs(count - published[name]) < 0.01 * published[name]


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_image_encoder_layout_equals_torch_fidelitys_vendored_model(name):
    architecture = ARCHITECTURES[name]
    with torch.device("meta"):
        model = fidelity_clip.CLIPVisual(
            architecture.embed_dim,
            architecture.image_size,
            architecture.layers,
            architecture.width,
            architecture.patch_size,
        )
    assert architecture.visual_shapes() == {key: tuple(value.shape) for key, value in model.state_dict().items()}


def test_urls_carry_torch_fidelitys_sha256_of_each_release_file():
    for name, architecture in ARCHITECTURES.items():
        fidelity_name = "clip-vit-l-14-336px" if name == "clip-vit-l-14-336" else name
        assert architecture.url == fidelity_clip.MODEL_URLS[fidelity_name]
        assert architecture.sha256 == fidelity_clip.MODEL_METADATA[fidelity_name]["hash"]


def test_weights_of_another_encoder_are_refused_naming_the_first_mismatching_key():
    b16 = random_state_dict(ARCHITECTURES["clip-vit-b-16"].visual_shapes())
    with pytest.raises(ValueError, match=r"not clip-vit-b-32 weights: 'visual.positional_embedding' has shape"):
        build_clip(b16, B32)


def test_unreadable_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "ViT-B-32.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="ViT-B-32.pt: cannot be read as a PyTorch weights file"):
        read_state_dict(path)
