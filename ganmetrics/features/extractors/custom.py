"""User feature extractors: any ``torch.nn.Module`` or callable that maps a batch of preprocessed images to one
feature row per image, named by the user so that the name goes into every result's metadata.

In Python, pass the module (``extract_features(images, extractor=my_module)``) or ``custom_extractor(my_module,
name="simclr-r50", protocol="dgm-eval-imagenet-224")``; on the command line, ``--extractor
package.module:factory`` names a function that takes no argument and returns the module (the name recorded is
that text). The module receives the float32 (N, 3, S, S) output of the protocol (default
``"dgm-eval-imagenet-224"``: 224 x 224, bicubic, ImageNet mean and std, the input torchvision's ImageNet
backbones expect) and must return an (N, d) tensor; anything else, or NaN/Inf, is refused naming the module.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from ganmetrics.features.extractors.spec import ExtractorSpec

OUTPUT = "features"
DEFAULT_PROTOCOL = "dgm-eval-imagenet-224"

FeatureFunction = Callable[[torch.Tensor], torch.Tensor]


class CustomExtractor(nn.Module):
    """A user's module or callable behind the registry's calling convention ``module(x, outputs) -> {name: rows}``,
    with its output checked: a floating point (N, d) tensor, finite."""

    def __init__(self, function: FeatureFunction, name: str) -> None:
        super().__init__()
        if isinstance(function, nn.Module):
            self.module = function  # registered, so that .to(device) and .eval() reach it
        self.function = function
        self.name = name
        # An empty parameter that moves with .to(device): the pipeline reads a network's device from its first
        # parameter, and a user's module may have none (a pooling stack) or be a plain function.
        self.device_anchor = nn.Parameter(torch.empty(0), requires_grad=False)

    def forward(self, x: torch.Tensor, outputs: Sequence[str] = (OUTPUT,)) -> dict[str, torch.Tensor]:
        """Return ``{"features": function(x)}`` after checking its shape and values.

        Raises ``ValueError`` naming the extractor when the result is not a tensor of shape (N, d) for the N
        images of ``x`` or holds NaN or Inf.
        """
        if tuple(outputs) != (OUTPUT,):
            raise ValueError(f"outputs: custom extractor {self.name!r} has the one output {OUTPUT!r}")
        rows = self.function(x)
        n = x.shape[0]
        if not isinstance(rows, torch.Tensor) or not rows.is_floating_point() or rows.ndim != 2 or len(rows) != n:
            got = f"shape {tuple(rows.shape)} {rows.dtype}" if isinstance(rows, torch.Tensor) else type(rows).__name__
            raise ValueError(
                f"extractor {self.name!r}: returned {got} for {n} images; expected a floating point (N, d) "
                f"tensor, one row per image"
            )
        if not bool(torch.isfinite(rows).all()):
            raise ValueError(f"extractor {self.name!r}: returned NaN or Inf features for a batch of {n} images")
        return {OUTPUT: rows}


def custom_extractor(
    function: FeatureFunction, name: str | None = None, protocol: str = DEFAULT_PROTOCOL
) -> ExtractorSpec:
    """Return a registry spec for the user's ``function`` (a module or callable), named ``name``.

    The name (default: the module's class name or the callable's qualified name) is recorded in metadata as
    ``custom:<name>/features``, so features of two custom extractors never compare as if they were one. A module
    is put in eval mode by the extraction.

    Raises ``TypeError`` when ``function`` is not callable, ``ValueError`` for an empty name.
    """
    if not callable(function):
        raise TypeError(f"extractor: expected a name, a torch.nn.Module or a callable, got {type(function).__name__}")
    if name is None:
        name = type(function).__name__ if isinstance(function, nn.Module) else getattr(function, "__qualname__", "")
    if not name:
        raise ValueError("name: a custom extractor needs a non-empty name (it is recorded in provenance)")
    wrapped = CustomExtractor(function, name)

    def build(state: Mapping[str, torch.Tensor]) -> nn.Module:
        return wrapped.eval()

    return ExtractorSpec(
        name=f"custom:{name}",
        family="custom",
        outputs={OUTPUT: 0},  # 0: known once the module has run
        protocols=(protocol,),
        weights=None,
        default_batch_size=32,
        build=build,
        reference=f"the user's {name}",
    )


@functools.cache
def load_factory(text: str) -> ExtractorSpec:
    """Return the spec of ``package.module:factory``: ``factory()`` imported and called once per process (the
    spec is cached: the options object asks for it more than once), named ``text``.

    Raises ``ValueError`` naming ``text`` when it is not of that form, the module cannot be imported, the
    attribute is missing, or calling it fails.
    """
    module_name, _, attribute = text.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"extractor: {text!r} is neither a registered name nor of the form package.module:factory")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"extractor: cannot load {text!r}: {exc}") from exc
    try:
        function = factory()
    except Exception as exc:
        raise ValueError(f"extractor: {text}() failed: {type(exc).__name__}: {exc}") from exc
    return custom_extractor(function, name=text)
