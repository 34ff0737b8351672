"""VGG16 (Simonyan & Zisserman 2015) fc2 features, the embedding of improved precision and recall (Kynkaanniemi
et al. 2019, "Improved Precision and Recall Metric for Assessing Generative Models", section 3).

The reference is torch-fidelity 0.4's ``feature_extractor_vgg16.py``: torchvision's ``vgg16`` with the
ImageNet weights ``vgg16-397923af.pth`` (torchvision's ``IMAGENET1K_V1``), its classifier cut after the second
fully connected layer. Two outputs, as there: ``fc2_relu`` (after the ReLU; torch-fidelity's default for
precision/recall, matching the StyleGAN2-ADA code it reproduces) and ``fc2`` (before it). The weight file is
torchvision's, read with its keys as they are (the unused last layer ``classifier.6`` included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torchvision.models import vgg

from ganmetrics.features.extractors._vit import check_layout
from ganmetrics.features.extractors.spec import ExtractorSpec, WeightsSource

NAME = "vgg16"
INPUT_SIZE = 224
OUTPUTS = {"fc2_relu": 4096, "fc2": 4096}
FILE_NAME = "vgg16-397923af.pth"
URL = f"https://download.pytorch.org/models/{FILE_NAME}"


class VGG16Features(vgg.VGG):
    """torchvision's VGG16 (same modules, same state dict keys) whose forward returns fc2 features by name."""

    def __init__(self) -> None:
        super().__init__(vgg.make_layers(vgg.cfgs["D"]), init_weights=False)

    def forward(self, x: torch.Tensor, outputs: Sequence[str] = ("fc2_relu",)) -> dict[str, torch.Tensor]:
        """Return ``{name: (N, 4096)}`` for the requested names of ``OUTPUTS``.

        ``x`` is the (N, 3, 224, 224) float32 protocol output. Raises ``ValueError`` for an unknown output
        name or an input of another shape.
        """
        unknown = [name for name in outputs if name not in OUTPUTS]
        if isinstance(outputs, str) or not outputs or unknown:
            raise ValueError(f"outputs: expected names from {', '.join(OUTPUTS)}, got {outputs!r}")
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or tuple(x.shape[1:]) != (3, 224, 224):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x: vgg16 expects a floating point (N, 3, 224, 224) tensor, got {got}")
        hidden = torch.flatten(self.avgpool(self.features(x)), 1)
        fc2 = self.classifier[3](F.relu(self.classifier[0](hidden)))  # dropout is the identity in eval mode
        result = {"fc2": fc2, "fc2_relu": F.relu(fc2)}
        return {name: result[name] for name in outputs}


def official_shapes() -> dict[str, tuple[int, ...]]:
    """Return the key -> shape layout of torchvision's VGG16 weight file."""
    with torch.device("meta"):
        return {key: tuple(value.shape) for key, value in VGG16Features().state_dict().items()}


def build_vgg16(state: Mapping[str, torch.Tensor]) -> VGG16Features:
    """Return the VGG16 feature network (eval mode, on the CPU) holding torchvision-layout weights ``state``.

    Raises ``ValueError`` naming the first key of the layout that ``state`` lacks or holds with another shape.
    """
    shapes = official_shapes()
    check_layout(state, shapes, NAME)
    with torch.device("meta"):
        network = VGG16Features()
    network.load_state_dict({key: state[key].float() for key in shapes}, strict=True, assign=True)
    network.requires_grad_(False)
    return network.eval()


def random_vgg16_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Return seeded random VGG16 weights in torchvision's layout: torchvision's own initialisation (Kaiming
    normal convolutions, ``N(0, 0.01)`` linear layers) drawn from the seeded default generator, whose state is
    restored afterwards; biases ``0.02 N(0, 1)`` so that they are not all zero. For tests and benchmarks."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = vgg.vgg16(weights=None)
        for module in network.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.Linear) and module.bias is not None:  # all have one
                module.bias.data.normal_(0, 0.02)
    return network.state_dict()


VGG16 = ExtractorSpec(
    name=NAME,
    family="vgg",
    outputs=OUTPUTS,
    protocols=("tf-imagenet-224",),
    weights=WeightsSource(file_name=FILE_NAME, url=URL, sha256="397923af", env_var="GANMETRICS_VGG16_WEIGHTS"),
    default_batch_size=32,
    build=build_vgg16,
    reference="torch-fidelity 0.4 feature_extractor_vgg16 (torchvision vgg16, IMAGENET1K_V1)",
)
