"""The feature extractors: one spec per network in one registry, and the one loader every extractor goes through.

``EXTRACTORS`` maps a name to its :class:`~ganmetrics.features.extractors.spec.ExtractorSpec`; ``get_extractor``
looks one up; ``load_extractor`` finds the spec's weight file (``ganmetrics.features.weights``: explicit path,
environment variable, cache, verified atomic download), builds the module and returns it with the file's
SHA-256. Adding an extractor: one file here (architecture, ``build`` from a state dict, its spec) and one entry
in ``EXTRACTORS``; its preprocessing protocols go to ``ganmetrics.features.protocols.PROTOCOLS``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from ganmetrics.features.extractors import clip, custom, dinov2, vgg
from ganmetrics.features.extractors.inception import INCEPTION
from ganmetrics.features.extractors.spec import ExtractorSpec, WeightsSource
from ganmetrics.features.weights import read_state_dict, read_weights_kind, resolve_weights, sha256_file

EXTRACTORS: dict[str, ExtractorSpec] = {spec.name: spec for spec in (INCEPTION, *dinov2.SPECS, *clip.SPECS, vgg.VGG16)}
DEFAULT_EXTRACTOR = INCEPTION.name


def get_extractor(name: str | ExtractorSpec | Callable[[torch.Tensor], torch.Tensor]) -> ExtractorSpec:
    """Return the spec of ``name``: a registered name, ``"package.module:factory"`` (a user's module, see
    ``custom.load_factory``), a spec (returned as is), or a user's ``torch.nn.Module``/callable
    (``custom.custom_extractor``, named after its class or function).

    Raises ``ValueError`` listing the valid names for an unknown name; what ``custom`` raises for the others.
    """
    if isinstance(name, ExtractorSpec):
        return name
    if not isinstance(name, str):
        return custom.custom_extractor(name)
    if ":" in name and name not in EXTRACTORS:
        return custom.load_factory(name)
    if name not in EXTRACTORS:
        raise ValueError(
            f"extractor: unknown {name!r}; valid extractors are {', '.join(EXTRACTORS)} "
            "(or package.module:factory for your own)"
        )
    return EXTRACTORS[name]


def extractor_for_id(extractor_id: str) -> ExtractorSpec | None:
    """Return the spec whose metadata id (``<provenance_id>/<output>``, or its name) is ``extractor_id``."""
    family = extractor_id.split("/", 1)[0]
    return next((s for s in EXTRACTORS.values() if family in (s.name, s.provenance_id)), None)


def load_extractor(
    spec: ExtractorSpec,
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    *,
    progress: bool = True,
    download: bool = True,
) -> tuple[torch.nn.Module, str | None]:
    """Return ``(module, weights_sha256)``: ``spec``'s network with its weights on ``device``, in eval mode.

    ``weights`` is an explicit file (used as is); otherwise the spec's environment variable, the cache and the
    release download are tried in that order (``resolve_weights``); a custom extractor without ``weights`` is
    returned as the user made it, with ``weights_sha256`` None. ``requires_grad`` is switched off, and
    ``module.weights_kind`` says whether the file holds marked random test weights (``read_weights_kind``). The
    variable ``<env_var>_SHA256`` (e.g. ``GANMETRICS_DINOV2_VIT_L_14_WEIGHTS_SHA256``), when set, pins the file:
    its SHA-256 must start with that value (the way to pin weights whose release publishes no digest).

    Raises ``ValueError`` when the spec has no weight source and no file is given, the file's digest differs
    from a pinned one, or the file does not fit the architecture; ``WeightsNotFoundError`` when no file can be
    found or downloaded.
    """
    source = spec.weights
    if spec.family == "custom" and source is None and weights is None:  # the user's module holds its weights
        return spec.build({}).to(device), None
    if source is None:
        if weights is None:
            raise ValueError(f"weights: extractor {spec.name!r} has no published weights; pass a weight file")
        path = resolve_weights(weights)
    else:
        path = resolve_weights(
            weights,
            download=download,
            progress=progress,
            url=source.url,
            file_name=source.file_name,
            sha256=source.sha256,
            env_var=source.env_var,
            label=spec.name,
        )
    digest = sha256_file(path)
    pin_var = f"{source.env_var}_SHA256" if source is not None else None
    if pin_var and os.environ.get(pin_var) and not digest.startswith(os.environ[pin_var].lower()):
        raise ValueError(
            f"weights: {path} has SHA-256 {digest}, which does not start with {os.environ[pin_var]} "
            f"(pinned by {pin_var})"
        )
    state = read_state_dict(path)
    module = spec.build(state)
    module.weights_kind = read_weights_kind(state)  # type: ignore[assignment]  # a plain attribute, not a parameter
    module.requires_grad_(False)
    return module.eval().to(device), digest


__all__ = [
    "DEFAULT_EXTRACTOR",
    "EXTRACTORS",
    "ExtractorSpec",
    "WeightsSource",
    "extractor_for_id",
    "get_extractor",
    "load_extractor",
]
