"""What the vision-transformer extractors (DINOv2, CLIP) share: timm, imported lazily; the check of a weight
file's layout against the official one; and the module that returns one embedding per image.

Why timm: it carries converters for both official checkpoint layouts (``_convert_dinov2`` and
``_convert_openai_clip`` in ``timm/models/vision_transformer.py``, reached through ``checkpoint_filter_fn``),
its attention runs ``torch.nn.functional.scaled_dot_product_attention``, and it is the lighter of the two
well-kept candidates (``open_clip_torch`` depends on timm). It is an optional dependency:
``pip install "ganmetrics[extractors]"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType

import torch
from torch import nn

EXTRA = "extractors"


def import_timm(family: str) -> ModuleType:
    """Return the ``timm`` module; raise ``ModuleNotFoundError`` naming the extra to install when it is missing."""
    try:
        import timm
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f'the {family} extractors need the optional dependency timm: pip install "ganmetrics[{EXTRA}]"'
        ) from exc
    return timm


def check_layout(state: Mapping[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]], what: str) -> None:
    """Raise ``ValueError`` naming the first key of ``expected`` that ``state`` lacks or holds with another shape.

    Keys of ``state`` that ``expected`` does not list are ignored (a CLIP release file also holds the text
    tower; a DINOv2 file the ``mask_token`` of training).
    """
    for name, shape in expected.items():
        if name not in state:
            raise ValueError(f"weights: not {what} weights: the key {name!r} is missing")
        got = tuple(getattr(state[name], "shape", ()))
        if got != tuple(shape):
            raise ValueError(f"weights: not {what} weights: {name!r} has shape {got}, expected {tuple(shape)}")


class EmbeddingNetwork(nn.Module):
    """A network with one output, an embedding per image; ``forward(x, outputs)`` returns ``{name: (N, dim)}``.

    ``network`` maps the (N, 3, input_size, input_size) float32 protocol output to (N, dim).
    """

    def __init__(self, network: nn.Module, name: str, output: str, dim: int, input_size: int) -> None:
        super().__init__()
        self.network = network
        self.name, self.output, self.dim, self.input_size = name, output, dim, input_size

    def forward(self, x: torch.Tensor, outputs: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Return ``{output: embedding}`` for the (N, 3, input_size, input_size) floating point input ``x``.

        Raises ``ValueError`` for an output name other than this network's one, or an input of another shape.
        """
        outputs = (self.output,) if outputs is None else tuple(outputs)
        if outputs != (self.output,):
            raise ValueError(f"outputs: {self.name} has the one output {self.output!r}, got {list(outputs)}")
        size = self.input_size
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or tuple(x.shape[1:]) != (3, size, size):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x: {self.name} expects a floating point (N, 3, {size}, {size}) tensor, got {got}")
        return {self.output: self.network(x)}


def create_loaded(timm: ModuleType, model_name: str, state: Mapping[str, torch.Tensor], **kwargs: object) -> nn.Module:
    """Return ``timm.create_model(model_name, **kwargs)`` holding the official-layout ``state`` (converted by
    timm's ``checkpoint_filter_fn``), in eval mode with gradients off.

    The model is created on the meta device (no random initialisation, no second copy of the weights) and
    takes the converted tensors themselves (``load_state_dict(assign=True)``, every key required).
    """
    from timm.models.vision_transformer import checkpoint_filter_fn

    with torch.device("meta"):
        network = timm.create_model(model_name, pretrained=False, **kwargs)
    network.load_state_dict(checkpoint_filter_fn(dict(state), network), strict=True, assign=True)
    network.requires_grad_(False)
    return network.eval()
