"""OpenAI CLIP image encoders (Radford et al. 2021, "Learning Transferable Visual Models From Natural Language
Supervision"): the projected image embedding, the feature of FD_CLIP (Kynkaanniemi et al. 2023) and CMMD
(Jayasumana et al. 2024).

The reference is OpenAI's ``clip/model.py`` (``CLIP.encode_image`` of a ``VisionTransformer``: class token and
position embedding, ``ln_pre``, residual attention blocks with QuickGELU, ``ln_post`` on the class token,
``@ proj``), which torch-fidelity 0.4 vendors in ``feature_extractor_clip.py``. The weights are OpenAI's
release files (``ViT-B-32.pt`` etc.: TorchScript archives whose URLs carry the file's SHA-256); their keys are
read as they are (``visual.*``; the text tower in the same file is not used).

The network is timm's ``VisionTransformer`` in its OpenAI-CLIP configuration (``vit_base_patch32_clip_quickgelu_224``
etc.: pre-norm, LayerNorm eps 1e-5, QuickGELU), loaded through timm's OpenAI-checkpoint conversion
(``checkpoint_filter_fn``): ``proj`` becomes the head's weight (transposed, zero bias).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import torch

from ganmetrics.features.extractors._vit import EmbeddingNetwork, check_layout, create_loaded, import_timm
from ganmetrics.features.extractors.spec import ExtractorSpec, WeightsSource

OUTPUT = "embedding"
_URL = "https://openaipublic.azureedge.net/clip/models/{sha256}/{file}"
# The text tower of every released ViT model: context length, vocabulary, 12 layers of width text_width.
_CONTEXT, _VOCABULARY, _TEXT_LAYERS = 77, 49408, 12


@dataclass(frozen=True)
class ClipArchitecture:
    """One OpenAI CLIP ViT image encoder and the release file it comes from."""

    name: str
    release_name: str  # OpenAI's model name, e.g. "ViT-B/32"
    timm_name: str
    image_size: int
    patch_size: int
    width: int
    layers: int
    embed_dim: int
    text_width: int
    sha256: str

    @property
    def file_name(self) -> str:
        """The release file name, e.g. ``ViT-B-32.pt``."""
        return self.release_name.replace("/", "-").replace("@", "-") + ".pt"

    @property
    def url(self) -> str:
        """The release URL; its path carries the full SHA-256 of the file."""
        return _URL.format(sha256=self.sha256, file=self.file_name)

    def visual_shapes(self) -> dict[str, tuple[int, ...]]:
        """Return the key -> shape layout of the image encoder in the release file (the keys ``visual.*``)."""
        w, grid = self.width, self.image_size // self.patch_size
        shapes: dict[str, tuple[int, ...]] = {
            "visual.class_embedding": (w,),
            "visual.positional_embedding": (grid * grid + 1, w),
            "visual.proj": (w, self.embed_dim),
            "visual.conv1.weight": (w, 3, self.patch_size, self.patch_size),
            "visual.ln_pre.weight": (w,),
            "visual.ln_pre.bias": (w,),
        }
        shapes.update(_residual_blocks("visual.transformer", w, self.layers))
        shapes.update({"visual.ln_post.weight": (w,), "visual.ln_post.bias": (w,)})
        return shapes

    def release_shapes(self) -> dict[str, tuple[int, ...]]:
        """Return the layout of the whole release state dict: the image encoder and the text tower."""
        t = self.text_width
        return {
            "positional_embedding": (_CONTEXT, t),
            "text_projection": (t, self.embed_dim),
            "logit_scale": (),
            **self.visual_shapes(),
            "token_embedding.weight": (_VOCABULARY, t),
            **_residual_blocks("transformer", t, _TEXT_LAYERS),
            "ln_final.weight": (t,),
            "ln_final.bias": (t,),
        }


def _residual_blocks(prefix: str, width: int, layers: int) -> dict[str, tuple[int, ...]]:
    """Return the layout of OpenAI's ``Transformer`` (``resblocks``) of ``layers`` blocks of ``width``."""
    w = width
    block = {
        "attn.in_proj_weight": (3 * w, w),
        "attn.in_proj_bias": (3 * w,),
        "attn.out_proj.weight": (w, w),
        "attn.out_proj.bias": (w,),
        "ln_1.weight": (w,),
        "ln_1.bias": (w,),
        "mlp.c_fc.weight": (4 * w, w),
        "mlp.c_fc.bias": (4 * w,),
        "mlp.c_proj.weight": (w, 4 * w),
        "mlp.c_proj.bias": (w,),
        "ln_2.weight": (w,),
        "ln_2.bias": (w,),
    }
    return {f"{prefix}.resblocks.{i}.{key}": shape for i in range(layers) for key, shape in block.items()}


def stored_as_half(name: str) -> bool:
    """Whether OpenAI's release stores the tensor ``name`` in float16 (``clip/model.py``'s ``convert_weights``:
    the weights and biases of convolutions, linear layers and attention projections, ``proj`` and
    ``text_projection``; embeddings, LayerNorms and ``logit_scale`` stay float32)."""
    leaf = name.rsplit(".", 1)[-1]
    return leaf in ("proj", "text_projection") or (
        ("attn." in name or ".mlp." in name or "conv1" in name) and "ln_" not in name
    )


ARCHITECTURES = {
    arch.name: arch
    for arch in (
        ClipArchitecture(
            "clip-vit-b-32",
            "ViT-B/32",
            "vit_base_patch32_clip_quickgelu_224",
            224,
            32,
            768,
            12,
            512,
            512,
            "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
        ),
        ClipArchitecture(
            "clip-vit-b-16",
            "ViT-B/16",
            "vit_base_patch16_clip_quickgelu_224",
            224,
            16,
            768,
            12,
            512,
            512,
            "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
        ),
        ClipArchitecture(
            "clip-vit-l-14",
            "ViT-L/14",
            "vit_large_patch14_clip_quickgelu_224",
            224,
            14,
            1024,
            24,
            768,
            768,
            "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
        ),
        ClipArchitecture(
            "clip-vit-l-14-336",
            "ViT-L/14@336px",
            "vit_large_patch14_clip_quickgelu_336",
            336,
            14,
            1024,
            24,
            768,
            768,
            "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
        ),
    )
}


def build_clip(state: Mapping[str, torch.Tensor], architecture: ClipArchitecture) -> EmbeddingNetwork:
    """Return the CLIP image encoder (eval mode, float32, on the CPU) with the release-layout weights ``state``.

    Its forward maps the (N, 3, image_size, image_size) protocol output to the (N, embed_dim) image embedding
    (not normalised). float16 tensors of the release are widened to float32 exactly.

    Raises ``ValueError`` naming the first ``visual.*`` key of the release layout that ``state`` lacks or holds
    with another shape; ``ModuleNotFoundError`` naming the extra when timm is missing.
    """
    shapes = architecture.visual_shapes()
    check_layout(state, shapes, architecture.name)
    timm = import_timm("CLIP")
    visual = {key: state[key].float() for key in shapes}
    network = create_loaded(
        timm, architecture.timm_name, visual, num_classes=architecture.embed_dim, depth=architecture.layers
    )
    return EmbeddingNetwork(network, architecture.name, OUTPUT, architecture.embed_dim, architecture.image_size)


def _spec(architecture: ClipArchitecture, batch_size: int) -> ExtractorSpec:
    size = architecture.image_size
    env = "GANMETRICS_" + architecture.name.upper().replace("-", "_") + "_WEIGHTS"
    return ExtractorSpec(
        name=architecture.name,
        family="clip",
        outputs={OUTPUT: architecture.embed_dim},
        # ViT-L/14@336 is CMMD's network: its default is the CMMD reference's preprocessing.
        protocols=(("cmmd-336",) if size == 336 else ())
        + (f"openai-clip-{size}", f"tf-clip-{size}", f"dgm-eval-clip-{size}"),
        weights=WeightsSource(
            file_name=architecture.file_name, url=architecture.url, sha256=architecture.sha256, env_var=env
        ),
        default_batch_size=batch_size,
        build=partial(build_clip, architecture=architecture),
        reference="OpenAI CLIP encode_image (clip/model.py; vendored by torch-fidelity 0.4)",
        min_image_size=architecture.patch_size,
    )


SPECS = tuple(
    _spec(ARCHITECTURES[name], batch_size)
    for name, batch_size in (
        ("clip-vit-b-32", 64),
        ("clip-vit-b-16", 64),
        ("clip-vit-l-14", 32),
        ("clip-vit-l-14-336", 16),
    )
)
