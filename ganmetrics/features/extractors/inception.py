"""The FID Inception v3 network: the 2015-12-05 TensorFlow Inception graph used by FID, IS and KID.

The architecture is pytorch-fid's ``fid_inception_v3()`` (``pytorch_fid/inception.py``, after Heusel et al.
2017's TensorFlow code): torchvision's Inception3 layout with 1008 classes, no auxiliary classifier, and three
patches that reproduce the TensorFlow graph:

* the pool branch of Mixed_5b-5d (InceptionA), Mixed_6b-6e (InceptionC) and Mixed_7b (first InceptionE)
  uses an average pool that ignores the zero padding (``count_include_pad=False``), as TensorFlow's does;
* the pool branch of Mixed_7c (second InceptionE) uses a max pool, as the released graph does.

The module's ``state_dict`` keys are exactly those of pytorch-fid's model, so its release file
``pt_inception-2015-12-05-6726825d.pth`` loads as is. pytorch-fid is not needed at run time. ``INCEPTION`` is its
spec in the extractor registry (name ``"inception"``; result metadata records ``fid-inception-v3/<output>``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import inception as tv

from ganmetrics.features.extractors.spec import ExtractorSpec, WeightsSource
from ganmetrics.features.protocols import RESIZE_MODES
from ganmetrics.features.weights import (
    FID_WEIGHTS_NAME,
    FID_WEIGHTS_URL,
    WEIGHTS_ENV,
    read_state_dict,
    read_weights_kind,
    resolve_weights,
    sha256_file,
)

Pool = Callable[[torch.Tensor], torch.Tensor]


def _avg_pool_like_tensorflow(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-1 'SAME' average pool that averages over the valid (unpadded) inputs only."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


def _max_pool_same(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-1 'SAME' max pool."""
    return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


class _FIDInceptionA(tv.InceptionA):
    """torchvision's InceptionA with TensorFlow's padding-excluding average pool."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(_avg_pool_like_tensorflow(x))
        return torch.cat([self.branch1x1(x), branch5x5, branch3x3dbl, branch_pool], 1)


class _FIDInceptionC(tv.InceptionC):
    """torchvision's InceptionC with TensorFlow's padding-excluding average pool."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = x
        for conv in (
            self.branch7x7dbl_1,
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            branch7x7dbl = conv(branch7x7dbl)
        branch_pool = self.branch_pool(_avg_pool_like_tensorflow(x))
        return torch.cat([self.branch1x1(x), branch7x7, branch7x7dbl, branch_pool], 1)


class _FIDInceptionE(tv.InceptionE):
    """torchvision's InceptionE with the given pool in its pool branch (a function, not a layer)."""

    def __init__(self, in_channels: int, pool: Pool) -> None:
        super().__init__(in_channels)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], 1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)], 1)
        branch_pool = self.branch_pool(self.pool(x))
        return torch.cat([self.branch1x1(x), branch3x3, branch3x3dbl, branch_pool], 1)


class FIDInceptionV3(nn.Module):
    """The FID Inception v3 network; ``forward`` returns the requested outputs by name.

    Outputs (all float, one row per image):

    ``block64``, ``block192``, ``block768``
        The outputs of the first max pool, the second max pool and Mixed_6e, averaged over space (what
        pytorch-fid's ``--dims 64/192/768`` use).
    ``pool3``
        The 2048-d final average pool: the FID/KID feature.
    ``logits_unbiased``
        ``pool3 @ fc.weight.T`` without the bias: what the original Inception Score code (Salimans et al.
        2016) and torch-fidelity feed to the softmax.
    ``logits``
        ``pool3 @ fc.weight.T + fc.bias``.

    Random initial weights; use ``load_fid_inception`` for the FID weights.
    """

    OUTPUTS = ("block64", "block192", "block768", "pool3", "logits_unbiased", "logits")
    DIMS = {
        "block64": 64,
        "block192": 192,
        "block768": 768,
        "pool3": 2048,
        "logits_unbiased": 1008,
        "logits": 1008,
    }
    INPUT_SIZE = 299
    # How the loaded weights are marked (``weights.read_weights_kind``): ``provenance.RANDOM_TEST_WEIGHTS`` for
    # the seeded random weights of ``features.random_weights``, None otherwise.
    weights_kind: str | None = None
    # The convolutional stages in order; the output named at index i is the (pooled) output of stage i.
    _STAGES = (
        ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "max_pool"),
        ("Conv2d_3b_1x1", "Conv2d_4a_3x3", "max_pool"),
        ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"),
        ("Mixed_7a", "Mixed_7b", "Mixed_7c"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = tv.BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = tv.BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = tv.BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = tv.BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = tv.BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = _FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = _FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = _FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = tv.InceptionB(288)
        self.Mixed_6b = _FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = _FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = _FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = _FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = tv.InceptionD(768)
        self.Mixed_7b = _FIDInceptionE(1280, pool=_avg_pool_like_tensorflow)
        self.Mixed_7c = _FIDInceptionE(2048, pool=_max_pool_same)
        self.max_pool = nn.MaxPool2d(kernel_size=3, stride=2)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x: torch.Tensor, outputs: Sequence[str] = ("pool3",)) -> dict[str, torch.Tensor]:
        """Return ``{name: (N, DIMS[name]) tensor}`` for each requested output name, in the order requested.

        ``x`` is the (N, 3, 299, 299) floating point network input, already preprocessed to about [-1, 1]
        (``ganmetrics.features.protocols.preprocess``). Only the layers the requested outputs need are run.

        Raises ``ValueError`` for an unknown or repeated output name, an empty ``outputs``, or an input that
        is not a floating point (N, 3, 299, 299) tensor.
        """
        wanted = self._check_outputs(outputs)
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            got = getattr(x, "dtype", type(x).__name__)
            raise ValueError(f"x: expected a floating point tensor, got {got}")
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, self.INPUT_SIZE, self.INPUT_SIZE):
            raise ValueError(f"x: expected shape (N, 3, 299, 299) (protocols.preprocess), got {tuple(x.shape)}")
        result: dict[str, torch.Tensor] = {}
        last_stage = min(max(self.OUTPUTS.index(name) for name in wanted), len(self._STAGES) - 1)
        for index, stage in enumerate(self._STAGES[: last_stage + 1]):
            for layer in stage:
                x = getattr(self, layer)(x)
            if self.OUTPUTS[index] in wanted:
                result[self.OUTPUTS[index]] = F.adaptive_avg_pool2d(x, output_size=(1, 1)).flatten(1)
        if "logits_unbiased" in wanted:
            result["logits_unbiased"] = result["pool3"].mm(self.fc.weight.T)
        if "logits" in wanted:
            result["logits"] = self.fc(result["pool3"])
        return {name: result[name] for name in outputs}

    def _check_outputs(self, outputs: Sequence[str]) -> set[str]:
        """Return the set of outputs to compute (pool3 added for the logits), validating the names."""
        if isinstance(outputs, str):
            raise ValueError(f"outputs: expected a sequence of names, got the string {outputs!r}")
        if len(outputs) == 0:
            raise ValueError(f"outputs: no output requested; choose from {', '.join(self.OUTPUTS)}")
        unknown = [name for name in outputs if name not in self.OUTPUTS]
        if unknown:
            raise ValueError(f"outputs: unknown name(s) {unknown}; choose from {', '.join(self.OUTPUTS)}")
        if len(set(outputs)) != len(outputs):
            raise ValueError(f"outputs: repeated names in {list(outputs)}")
        wanted = set(outputs)
        if wanted & {"logits", "logits_unbiased"}:
            wanted.add("pool3")
        return wanted


def fold_batchnorm(model: FIDInceptionV3) -> FIDInceptionV3:
    """Return a copy of ``model`` with every BatchNorm folded into the convolution before it.

    Each ``BasicConv2d`` computes ``relu(γ (W * x − μ) / sqrt(v + ε) + β)``; the copy computes
    ``relu(W' * x + b')`` with ``W' = W γ / sqrt(v + ε)`` and ``b' = β − μ γ / sqrt(v + ε)`` (float32, as the
    weights are stored). The same function, one pass less over every activation map, but rounded differently:
    features move in their last digits (measured up to 4.4e-5 of max |pool3| on seeded random weights, which
    amplify rounding more than trained ones). ``model`` itself is left unchanged; the copy is in eval mode.
    """
    folded = copy.deepcopy(model).eval()
    with torch.no_grad():
        for block in folded.modules():
            if isinstance(block, tv.BasicConv2d) and isinstance(block.bn, nn.BatchNorm2d):
                bn = block.bn
                if bn.running_var is None or bn.running_mean is None:
                    raise ValueError("model: a BatchNorm has no running statistics to fold")
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                block.conv.weight.mul_(scale[:, None, None, None])
                block.conv.bias = nn.Parameter(bn.bias - bn.running_mean * scale, requires_grad=False)
                block.bn = nn.Identity()
    return folded


def build_fid_inception(state: Mapping[str, torch.Tensor], source: str | Path = "state dict") -> FIDInceptionV3:
    """Return the FID Inception v3 with the weights ``state`` (eval mode, ``requires_grad`` False, on the CPU).

    The keys and shapes are checked against the architecture; files with or without BatchNorm
    ``num_batches_tracked`` buffers are accepted. Raises ``ValueError`` naming ``source`` and listing the first ten
    differences.
    """
    model = FIDInceptionV3()
    _check_state_dict(dict(state), model.state_dict(), Path(source))
    model.load_state_dict({k: v for k, v in state.items() if not _is_counter(k)}, strict=False)
    model.requires_grad_(False)
    return model.eval()


def load_fid_inception(
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    *,
    download: bool = True,
    progress: bool = True,
) -> tuple[FIDInceptionV3, str]:
    """Return ``(model, sha256)``: the FID Inception v3 with the given weights, and the weight file's SHA-256.

    The file is found by ``weights.resolve_weights`` (explicit path, ``GANMETRICS_INCEPTION_WEIGHTS``, the
    cache, then a verified download) and built by ``build_fid_inception``. The model is returned on ``device``,
    in eval mode, with ``requires_grad`` False, and ``weights_kind`` set from the file (``weights.read_weights_kind``).
    The digest (full hex) identifies the weights in result metadata.

    Raises ``weights.WeightsNotFoundError`` when no file can be found or downloaded, ``ValueError`` when the
    file cannot be read as a state dict or its keys or shapes differ (the message names the file and lists the
    first ten differences).
    """
    path = resolve_weights(weights, download=download, progress=progress)
    state = read_state_dict(path)
    model = build_fid_inception(state, path)
    model.weights_kind = read_weights_kind(state)
    return model.to(device), sha256_file(path)


def _check_state_dict(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], path: Path) -> None:
    """Raise ``ValueError`` naming ``path`` and the first ten missing, unexpected or misshapen entries."""

    def relevant(names: dict[str, torch.Tensor]) -> list[str]:
        return [name for name in names if not _is_counter(name)]

    problems = [f"missing {name}" for name in relevant(expected) if name not in state]
    problems += [f"unexpected {name}" for name in relevant(state) if name not in expected]
    for name in relevant(expected):
        if name in state:
            shape = tuple(getattr(state[name], "shape", ()))
            if shape != tuple(expected[name].shape):
                problems.append(f"{name} has shape {shape}, expected {tuple(expected[name].shape)}")
    if problems:
        listed = "; ".join(problems[:10])
        raise ValueError(
            f"{path}: not FID Inception v3 weights ({len(problems)} mismatch(es) with the architecture; "
            f"first {min(len(problems), 10)}: {listed})"
        )


def _is_counter(name: str) -> bool:
    """Whether ``name`` is a BatchNorm ``num_batches_tracked`` buffer (optional in files)."""
    return name.endswith("num_batches_tracked")


INCEPTION = ExtractorSpec(
    name="inception",
    family="inception",
    outputs={"pool3": FIDInceptionV3.DIMS["pool3"], **FIDInceptionV3.DIMS},  # pool3 first: the default
    protocols=RESIZE_MODES,
    weights=WeightsSource(file_name=FID_WEIGHTS_NAME, url=FID_WEIGHTS_URL, sha256="6726825d", env_var=WEIGHTS_ENV),
    default_batch_size=50,
    build=build_fid_inception,
    reference="pytorch-fid fid_inception_v3 (TTUR's TensorFlow FID graph)",
    provenance_id="fid-inception-v3",
)
