"""Case ``extractors``: images/s of the DINOv2, CLIP and VGG16 extractors beside torch-fidelity 0.4's, and the peak
memory of ViT-L/14.

Each table times one extractor on the same uint8 images (256 x 256, seeded noise), preprocessing included, in
exact float32 on the CPU (and on CUDA when present): ours (the protocol, then the network) against
torch-fidelity's ``FeatureExtractor*`` forward on seeded random weights in the release layout (the real weights
cannot be downloaded here). torch-fidelity's DINOv2 extractor loads its network through ``torch.hub``; the row
uses that extractor's own ``forward`` with the official DINOv2 module (PyPI ``dinov2``, the code ``torch.hub``
would fetch) put in place of the download. The value column is the Frobenius norm of the features; the notes give
images/s and the largest feature difference from ours.

Peak memory: dinov2-vit-l-14 and clip-vit-l-14 (ViT-S/14 and ViT-B/32 at smoke scale), one forward pass in a
child process each (peak RSS above the post-load baseline on the CPU; ``torch.cuda.max_memory_allocated`` on
CUDA), batch 64 (the issue's size; 2 at smoke scale).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench._harness import Config, Impl, Row, Table, measure
from ganmetrics.numerics import exact_float32

NAME = "extractors"
TITLE = "Feature extractors beyond Inception: DINOv2, CLIP and VGG16 beside torch-fidelity"


def _images(n: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand((n, 3, 16, 16), generator=generator) * 255
    smooth = torch.nn.functional.interpolate(coarse, size=(256, 256), mode="bicubic", align_corners=False)
    return smooth.clamp(0, 255).round().to(torch.uint8)


def _ours(name: str, state: dict[str, torch.Tensor], device: torch.device):
    """Return a function images -> features of our extractor ``name`` (its default protocol)."""
    from ganmetrics.features.extractors import get_extractor
    from ganmetrics.features.protocols import PROTOCOLS

    spec = get_extractor(name)
    network = spec.build(state).to(device)
    protocol = PROTOCOLS["tf-clip-224" if spec.family == "clip" else "tf-imagenet-224"]

    def run(images: torch.Tensor) -> torch.Tensor:
        with exact_float32(), torch.inference_mode():
            return network(protocol.apply(images.to(device)), (spec.default_output,))[spec.default_output]

    return run


def _torch_fidelity(name: str, state: dict[str, torch.Tensor], device: torch.device):
    """Return a function images -> features of torch-fidelity 0.4's extractor on the same weights."""
    work = Path(tempfile.mkdtemp(prefix="ganmetrics-bench-extractors-"))
    if name.startswith("vgg"):
        from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16

        torch.save(state, work / "vgg16.pth")
        extractor = FeatureExtractorVGG16("vgg16", ["fc2_relu"], feature_extractor_weights_path=str(work / "vgg16.pth"))
    elif name.startswith("clip"):
        from torch_fidelity.feature_extractor_clip import FeatureExtractorCLIP

        from ganmetrics.features.extractors.random_weights import save_torchscript_archive

        path = save_torchscript_archive(state, work / "clip.pt")
        extractor = FeatureExtractorCLIP(name, ["clip"], feature_extractor_weights_path=str(path))
    else:
        from dinov2.layers import MemEffAttention, NestedTensorBlock
        from dinov2.models.vision_transformer import DinoVisionTransformer
        from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2

        from ganmetrics.features.extractors.dinov2 import ARCHITECTURES

        arch = ARCHITECTURES[name]
        official = DinoVisionTransformer(
            img_size=518,
            patch_size=14,
            embed_dim=arch.embed_dim,
            depth=arch.depth,
            num_heads=arch.num_heads,
            mlp_ratio=4,
            init_values=1.0,
            block_chunks=0,
            ffn_layer="swiglufused" if arch.swiglu else "mlp",
            block_fn=functools.partial(NestedTensorBlock, attn_class=MemEffAttention),
        )
        official.load_state_dict(state)
        extractor = FeatureExtractorDinoV2.__new__(FeatureExtractorDinoV2)
        torch.nn.Module.__init__(extractor)
        extractor.features_list, extractor.feature_extractor_internal_dtype = ["dinov2"], torch.float32
        extractor.model = official.eval()
    extractor = extractor.to(device).eval()

    def run(images: torch.Tensor) -> torch.Tensor:
        with exact_float32(), torch.inference_mode():
            return extractor(images.to(device))[0]

    return run


def _state(name: str, visual_only: bool = False) -> dict[str, torch.Tensor]:
    from ganmetrics.features.extractors import clip, dinov2, vgg
    from ganmetrics.features.extractors.random_weights import random_state_dict

    if name.startswith("vgg"):
        return vgg.random_vgg16_state_dict(seed=0)
    if name.startswith("clip"):
        arch = clip.ARCHITECTURES[name]
        return random_state_dict(arch.visual_shapes() if visual_only else arch.release_shapes(), 0, clip.stored_as_half)
    return random_state_dict(dinov2.ARCHITECTURES[name].official_shapes(), 0)


def _raising(exc: Exception):  # noqa: ANN202 - an extractor stand-in
    """Return a function that raises ``exc``: the row of a peer that could not be built records the error."""

    def call(images: torch.Tensor) -> torch.Tensor:
        raise exc

    return call


def _speed_table(name: str, device: torch.device, config: Config) -> Table:
    n = config.pick(2, 16, 64)
    images = _images(n)
    state = _state(name)
    ours = _ours(name, state, device)
    try:
        peer = _torch_fidelity(name, state, device)
        reference = peer(images).cpu()
        difference = f"{float((ours(images).cpu() - reference).abs().max() / reference.abs().max()):.1e}"
    except ModuleNotFoundError as exc:  # the official DINOv2 or OpenAI CLIP package is a bench extra
        peer, difference = _raising(exc), "—"

    def timed(function):  # noqa: ANN001, ANN202
        def call() -> float:
            features = function(images)
            if device.type == "cuda":
                torch.cuda.synchronize()
            return float(features.float().norm())

        return call

    table = measure(
        f"{name}, {n} images of 256 x 256 on {device.type}",
        [Impl("ganmetrics", timed(ours), ours=True), Impl("torch-fidelity 0.4", timed(peer))],
        config,
        value_name="‖features‖",
    )
    rates = ", ".join(f"{row.name} {n / row.median:.1f} images/s" for row in table.rows if row.times)
    table.notes += [
        f"Throughput: {rates}. Largest feature difference from torch-fidelity: {difference} of max |feature|."
    ]
    return table


def child(name: str, batch: int, device: str) -> dict[str, float]:
    """Build ``name`` on random weights, run one forward pass of ``batch`` images; return the peak memory (MiB)."""
    from bench.memory import _peak_mib, _reset_peak

    run = _ours(name, _state(name, visual_only=True), torch.device(device))
    images = _images(batch)
    run(images[:1])
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated() / 2**20
    else:
        baseline = _reset_peak()
    start = time.perf_counter()
    run(images)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else _peak_mib()
    return {"peak_mib": peak - baseline, "baseline_mib": baseline, "seconds": seconds}


def _memory_table(device: torch.device, config: Config) -> Table:
    batch = config.pick(2, 64, 64)
    rows = []
    for name in config.pick(
        ("dinov2-vit-s-14", "clip-vit-b-32"), ("dinov2-vit-l-14", "clip-vit-l-14"), ("dinov2-vit-l-14", "clip-vit-l-14")
    ):
        out = subprocess.run(
            [sys.executable, "-m", "bench.extractors", name, str(batch), device.type],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        row = Row(
            f"{name}, batch {batch}",
            True,
            f"{result['seconds']:.1f} s, baseline {result['baseline_mib']:.0f} MiB (weights loaded)",
        )
        row.value = result["peak_mib"]
        rows.append(row)
    note = "" if batch == 64 else f" Batch {batch} at smoke scale; the default and full scales run 64."
    return Table(
        f"Peak memory of one forward pass above the loaded network ({device.type}), MiB",
        rows,
        "",
        None,
        value_name="peak MiB",
        timed=False,
        value_format=".0f",
        notes=[f"One child process per row, protocol included.{note}"],
    )


def run(config: Config) -> list[Table]:
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    names = config.pick(
        ("dinov2-vit-s-14", "clip-vit-b-32", "vgg16"),
        ("dinov2-vit-s-14", "dinov2-vit-b-14", "clip-vit-b-32", "clip-vit-b-16", "vgg16"),
        (
            "dinov2-vit-s-14",
            "dinov2-vit-b-14",
            "dinov2-vit-l-14",
            "clip-vit-b-32",
            "clip-vit-b-16",
            "clip-vit-l-14",
            "vgg16",
        ),
    )
    tables = [_speed_table(name, device, config) for device in devices for name in names]
    return tables + [_memory_table(device, config) for device in devices]


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]), sys.argv[3])))
