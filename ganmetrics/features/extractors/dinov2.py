"""DINOv2 backbones (Oquab et al. 2023, "DINOv2: Learning Robust Visual Features without Supervision"): the CLS
embedding after the final LayerNorm, the feature of FD_DINOv2 (Stein et al. 2023).

The reference is the official code (``facebookresearch/dinov2``, ``dinov2/models/vision_transformer.py``, as
``torch.hub.load("facebookresearch/dinov2", "dinov2_vitl14")`` builds it and torch-fidelity 0.4 and dgm-eval use
it): ``forward`` returns ``x_norm_clstoken``. The weights are the release files ``dinov2_vits14_pretrain.pth``
etc., whose keys this module reads as they are.

The network is timm's DINOv2 ``VisionTransformer`` (``vit_small_patch14_dinov2`` etc.), loaded through timm's
official-checkpoint conversion (``checkpoint_filter_fn``), with one step done here: the released position
embedding (a 37 x 37 grid, for 518-pixel inputs) is resampled to the input's grid exactly as the official
``interpolate_pos_encoding`` does it on every forward pass: bicubic, ``scale_factor = (grid + 0.1) / 37``, no
antialiasing. (timm's own resampling uses the target size and antialiasing, which changes the embedding.) The
resampled embedding depends only on the input size, so it is computed once, at load time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F

from ganmetrics.features.extractors._vit import EmbeddingNetwork, check_layout, create_loaded, import_timm
from ganmetrics.features.extractors.spec import ExtractorSpec, WeightsSource

PATCH_SIZE = 14
RELEASE_SIZE = 518  # the image size the released position embeddings were trained for (37 x 37 patches)
INPUT_SIZE = 224  # what torch-fidelity 0.4 and dgm-eval feed the network
OUTPUT = "cls"
_URL = "https://dl.fbaipublicfiles.com/dinov2/{hub}/{hub}_pretrain.pth"


@dataclass(frozen=True)
class DinoV2Architecture:
    """One DINOv2 backbone: its hub name, timm model name and shape. ``swiglu`` marks the SwiGLU MLP (ViT-g)."""

    name: str
    hub_name: str
    timm_name: str
    embed_dim: int
    depth: int
    num_heads: int
    swiglu: bool = False

    @property
    def file_name(self) -> str:
        """The release file name, e.g. ``dinov2_vits14_pretrain.pth``."""
        return f"{self.hub_name}_pretrain.pth"

    @property
    def url(self) -> str:
        """The release URL (the release publishes no hash of the file)."""
        return _URL.format(hub=self.hub_name)

    @property
    def mlp_hidden(self) -> int:
        """The MLP width: 4 x dim, or for SwiGLU the official ``(int(4 dim * 2 / 3) + 7) // 8 * 8``."""
        hidden = 4 * self.embed_dim
        return (int(hidden * 2 / 3) + 7) // 8 * 8 if self.swiglu else hidden

    def official_shapes(self) -> dict[str, tuple[int, ...]]:
        """Return the key -> shape layout of the official release file (``mask_token`` included)."""
        d, grid = self.embed_dim, RELEASE_SIZE // PATCH_SIZE
        shapes: dict[str, tuple[int, ...]] = {
            "cls_token": (1, 1, d),
            "pos_embed": (1, grid * grid + 1, d),
            "mask_token": (1, d),
            "patch_embed.proj.weight": (d, 3, PATCH_SIZE, PATCH_SIZE),
            "patch_embed.proj.bias": (d,),
        }
        hidden = self.mlp_hidden
        mlp = (
            {
                "mlp.w12.weight": (2 * hidden, d),
                "mlp.w12.bias": (2 * hidden,),
                "mlp.w3.weight": (d, hidden),
                "mlp.w3.bias": (d,),
            }
            if self.swiglu
            else {
                "mlp.fc1.weight": (hidden, d),
                "mlp.fc1.bias": (hidden,),
                "mlp.fc2.weight": (d, hidden),
                "mlp.fc2.bias": (d,),
            }
        )
        block = {
            "norm1.weight": (d,),
            "norm1.bias": (d,),
            "attn.qkv.weight": (3 * d, d),
            "attn.qkv.bias": (3 * d,),
            "attn.proj.weight": (d, d),
            "attn.proj.bias": (d,),
            "ls1.gamma": (d,),
            "norm2.weight": (d,),
            "norm2.bias": (d,),
            **mlp,
            "ls2.gamma": (d,),
        }
        for i in range(self.depth):
            shapes.update({f"blocks.{i}.{key}": shape for key, shape in block.items()})
        shapes.update({"norm.weight": (d,), "norm.bias": (d,)})
        return shapes


ARCHITECTURES = {
    arch.name: arch
    for arch in (
        DinoV2Architecture("dinov2-vit-s-14", "dinov2_vits14", "vit_small_patch14_dinov2", 384, 12, 6),
        DinoV2Architecture("dinov2-vit-b-14", "dinov2_vitb14", "vit_base_patch14_dinov2", 768, 12, 12),
        DinoV2Architecture("dinov2-vit-l-14", "dinov2_vitl14", "vit_large_patch14_dinov2", 1024, 24, 16),
        DinoV2Architecture("dinov2-vit-g-14", "dinov2_vitg14", "vit_giant_patch14_dinov2", 1536, 40, 24, swiglu=True),
    )
}


def resample_position_embedding(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    """Return the (1, 1 + grid^2, d) position embedding for a grid x grid input, as the official DINOv2 does.

    The official ``interpolate_pos_encoding``: the CLS entry is kept; the M x M patch entries are resized in
    float32 by ``F.interpolate(mode="bicubic", scale_factor=((grid + 0.1) / M,) * 2)`` (the 0.1 is the
    official code's guard against floor rounding; with a scale factor, ``interpolate`` also uses it to place
    the samples, so the result differs from resizing to ``size=grid``). When ``grid == M`` the embedding is
    returned as it is, as the official code does.
    """
    dtype = pos_embed.dtype
    pos_embed = pos_embed.float()
    patches = pos_embed[:, 1:]
    m, dim = math.isqrt(patches.shape[1]), patches.shape[2]
    if grid == m:
        return pos_embed.to(dtype)
    scale = (grid + 0.1) / math.sqrt(patches.shape[1])
    resized = F.interpolate(
        patches.reshape(1, m, m, dim).permute(0, 3, 1, 2), scale_factor=(scale, scale), mode="bicubic"
    )
    return torch.cat([pos_embed[:, :1], resized.permute(0, 2, 3, 1).reshape(1, -1, dim)], dim=1).to(dtype)


def build_dinov2(
    state: Mapping[str, torch.Tensor], architecture: DinoV2Architecture, input_size: int = INPUT_SIZE
) -> EmbeddingNetwork:
    """Return the DINOv2 network (eval mode, on the CPU) with the official-layout weights ``state``.

    Its forward maps the (N, 3, input_size, input_size) protocol output to the (N, embed_dim) CLS embedding.

    Raises ``ValueError`` naming the first key of the official layout that ``state`` lacks or holds with
    another shape; ``ModuleNotFoundError`` naming the extra when timm is missing.
    """
    check_layout(state, architecture.official_shapes(), architecture.name)
    timm = import_timm("DINOv2")
    official = {key: state[key] for key in architecture.official_shapes()}
    official["pos_embed"] = resample_position_embedding(official["pos_embed"], input_size // PATCH_SIZE)
    network = create_loaded(
        timm, architecture.timm_name, official, img_size=input_size, num_classes=0, depth=architecture.depth
    )
    return EmbeddingNetwork(network, architecture.name, OUTPUT, architecture.embed_dim, input_size)


def _spec(architecture: DinoV2Architecture, batch_size: int) -> ExtractorSpec:
    env = "GANMETRICS_" + architecture.name.upper().replace("-", "_") + "_WEIGHTS"
    return ExtractorSpec(
        name=architecture.name,
        family="dinov2",
        outputs={OUTPUT: architecture.embed_dim},
        protocols=("dgm-eval-imagenet-224", "tf-imagenet-224"),
        weights=WeightsSource(file_name=architecture.file_name, url=architecture.url, sha256=None, env_var=env),
        default_batch_size=batch_size,
        build=partial(build_dinov2, architecture=architecture),
        reference="facebookresearch/dinov2 x_norm_clstoken (as torch-fidelity 0.4 and dgm-eval load it)",
        min_image_size=PATCH_SIZE,
    )


SPECS = tuple(
    _spec(ARCHITECTURES[name], batch_size)
    for name, batch_size in (
        ("dinov2-vit-s-14", 64),
        ("dinov2-vit-b-14", 64),
        ("dinov2-vit-l-14", 32),
        ("dinov2-vit-g-14", 16),
    )
)
