"""Seeded random weights in an official key layout, for tests and benchmarks of the DINOv2, CLIP and VGG16
extractors (the real files cannot be downloaded where the tests run). Features from them mean nothing; their
magnitudes resemble a trained network's, so comparisons with peers exercise realistic values.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

_EMBEDDINGS = ("cls_token", "pos_embed", "mask_token", "class_embedding", "positional_embedding", "token_embedding")


def random_state_dict(
    shapes: Mapping[str, tuple[int, ...]],
    seed: int = 0,
    stored_as_half: Callable[[str], bool] = lambda name: False,
) -> dict[str, torch.Tensor]:
    """Return a state dict with the keys and shapes of ``shapes``, drawn from ``torch.Generator`` seeded ``seed``.

    By key: LayerNorm/norm weights ``1 + 0.1 N(0, 1)``; biases ``0.02 N(0, 1)``; layer scales (``gamma``)
    ``0.1 + 0.1 U(0, 1)``; embeddings ``N(0, 1/d)``; ``logit_scale`` ``log(1 / 0.07)``; every other tensor
    ``N(0, 1/fan_in)`` with ``fan_in`` the product of all but the first dimension (the last one for the CLIP
    projections ``proj`` and ``text_projection``, which are stored input-first). Keys for which
    ``stored_as_half`` is true are rounded to float16 and stored so (as OpenAI's CLIP release stores them).
    The draws are identical on every machine.
    """
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for name, shape in shapes.items():
        leaf = name.rsplit(".", 1)[-1]
        if name == "logit_scale":
            value = torch.full(shape, math.log(1 / 0.07))
        elif leaf == "bias" or leaf.endswith("_bias"):
            value = 0.02 * torch.randn(shape, generator=generator)
        elif leaf == "weight" and len(shape) == 1:  # LayerNorm / BatchNorm scale
            value = 1 + 0.1 * torch.randn(shape, generator=generator)
        elif leaf == "gamma":
            value = 0.1 + 0.1 * torch.rand(shape, generator=generator)
        elif any(name.startswith(e) or name.startswith("visual." + e) for e in _EMBEDDINGS):
            value = torch.randn(shape, generator=generator) / math.sqrt(shape[-1])
        else:
            fan_in = shape[0] if leaf in ("proj", "text_projection") else math.prod(shape[1:])
            value = torch.randn(shape, generator=generator) / math.sqrt(fan_in)
        state[name] = value.half() if stored_as_half(name) else value
    return state


def save_torchscript_archive(state: Mapping[str, torch.Tensor], path: str | Path) -> Path:
    """Return ``path`` after writing ``state`` there as a TorchScript archive, the format of OpenAI's CLIP
    release files (whose ``torch.jit.load(path).state_dict()`` holds the weights), with no model code: a scripted
    tree of empty modules whose parameters carry the dotted names. For tests of the readers of that format."""
    root = nn.Module()
    for key, value in state.items():
        *parents, leaf = key.split(".")
        node = root
        for part in parents:
            if not hasattr(node, part):
                node.add_module(part, nn.Module())
            node = getattr(node, part)
        node.register_parameter(leaf, nn.Parameter(value, requires_grad=False))
    path = Path(path)
    with warnings.catch_warnings():  # torch.jit is deprecated, yet it is the release format
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(root).save(str(path))
    return path
