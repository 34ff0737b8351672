"""What the registry knows of a feature extractor: its architecture builder, outputs, protocols and weights.

One :class:`ExtractorSpec` per extractor, registered in ``ganmetrics.features.extractors.EXTRACTORS``; adding an
extractor is one file (the architecture and its spec) and one registry entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class WeightsSource:
    """Where an extractor's weight file comes from (see ``ganmetrics.features.weights.resolve_weights``)."""

    file_name: str  # file name in the cache directory ($GANMETRICS_CACHE, default ~/.cache/ganmetrics)
    url: str | None  # the official release URL (None: the user must supply the file)
    sha256: str | None  # full hex digest or the prefix the release publishes; None when none is published
    env_var: str  # e.g. "GANMETRICS_INCEPTION_WEIGHTS"


@dataclass(frozen=True)
class ExtractorSpec:
    """A feature extractor: how to build it from a state dict, what it outputs, which inputs it accepts.

    ``build(state_dict)`` returns the module in eval mode; ``module(x, outputs)`` returns ``{output: (N, dim)
    tensor}`` for ``x`` the output of one of ``protocols`` (names in ``ganmetrics.features.protocols.PROTOCOLS``,
    the first the default). ``outputs`` maps each output name to its dimension, the first the default.
    ``provenance_id`` is the name result metadata records (``<provenance_id>/<output>``), so that files written
    before the registry existed still compare; it defaults to ``name``.
    """

    name: str  # "inception", later "dinov2-vit-s-14", "clip-vit-b-32", "vgg16", ...
    family: str  # "inception", "dinov2", "clip", "vgg", "custom"
    outputs: Mapping[str, int]  # output name -> dimension; the first is the default ("pool3" for inception)
    protocols: tuple[str, ...]  # names in ganmetrics.features.protocols.PROTOCOLS; first = default
    weights: WeightsSource | None
    default_batch_size: int
    build: Callable[[Mapping[str, torch.Tensor]], torch.nn.Module]  # state dict -> module in eval mode
    reference: str  # the implementation whose numbers it reproduces
    provenance_id: str = ""
    min_image_size: int = 1  # images smaller than this (the ViTs' patch size) are refused before extraction

    @property
    def default_output(self) -> str:
        """The first output name (the feature FID, KID and the other sample metrics use)."""
        return next(iter(self.outputs))

    @property
    def default_protocol(self) -> str:
        """The first protocol name."""
        return self.protocols[0]

    def extractor_id(self, output: str) -> str:
        """Return ``"<provenance_id or name>/<output>"``, the ``extractor`` field of result metadata."""
        return f"{self.provenance_id or self.name}/{output}"
