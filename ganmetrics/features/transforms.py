"""The input transforms of the DINOv2, CLIP and VGG16 peers: how an image becomes a ViT's or VGG16's input.

Each function maps a batch of (N, 3, H, W) images (``uint8`` in [0, 255], or floating point in [0, 1]) to the
float32 (N, 3, size, size) network input, reproducing one peer's code exactly; the differences between them
move the numbers (torch-fidelity and dgm-eval both report FD_DINOv2 and their values differ).

``tf1_bilinear``
    torch-fidelity 0.4 (``feature_extractor_dinov2.py``, ``feature_extractor_vgg16.py``,
    ``feature_extractor_clip.py``): values in [0, 255], TensorFlow 1.x ``resize_bilinear`` to size x size
    (``interpolate_bilinear_2d_like_tensorflow1x``; ``resize.resize_like_tensorflow1``), then
    ``torchvision.transforms.functional.normalize`` with mean and std scaled by 255.
``pil_bicubic``
    dgm-eval (layer6ai-labs/dgm-eval, ``dgm_eval/models/dinov2.py`` and ``clip.py``, default
    ``clean_resize=False``): the RGB image resized with PIL's bicubic filter to exactly size x size (aspect
    not kept; torchvision ``Resize((size, size), BICUBIC)`` on a PIL image), ``to_tensor`` (/255), normalize.
``openai_clip``
    OpenAI CLIP's ``preprocess`` (``clip/clip.py``, ``_transform``): torchvision ``Resize(size, BICUBIC)``
    (shorter side to ``size``, PIL bicubic), ``CenterCrop(size)``, ``ToTensor``, ``Normalize`` (CLIP's mean
    and std).
``cmmd``
    The CMMD reference (google-research ``cmmd/io_util.py`` and ``embedding.py``): the largest centred square
    (offsets ``(w - l) // 2``, ``(h - l) // 2``), PIL bicubic resize to size x size, float32 /255, then
    CLIP's mean and std (its ``jax.image.resize`` to the same size is the identity).

The PIL-based transforms work on 8-bit images: float input is rounded to the nearest of the 256 levels first
(``round(255 x)``), as saving it to an image file would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

from ganmetrics.features.resize import _as_unit_float32, resize_like_tensorflow1

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

Stats = Sequence[float]


def tf1_bilinear(images: torch.Tensor, size: int, mean: Stats, std: Stats) -> torch.Tensor:
    """Return torch-fidelity 0.4's network input: TF1 bilinear resize of [0, 255] values, then
    ``(x - 255 mean) / (255 std)`` (see the module docstring). Runs on the images' device."""
    unit = _as_unit_float32(images)
    scaled = images.to(torch.float32) if images.dtype == torch.uint8 else unit * 255
    resized = resize_like_tensorflow1(scaled, size)
    return TF.normalize(resized, [255 * m for m in mean], [255 * s for s in std])


def pil_bicubic(images: torch.Tensor, size: int, mean: Stats, std: Stats) -> torch.Tensor:
    """Return dgm-eval's network input: PIL bicubic resize to size x size, /255, normalize (module docstring)."""
    return _per_image(images, lambda im: im.resize((size, size), Image.BICUBIC), mean, std)


def openai_clip(images: torch.Tensor, size: int) -> torch.Tensor:
    """Return OpenAI CLIP's ``preprocess`` output: shorter side to ``size`` (PIL bicubic), centre crop, /255,
    CLIP's mean and std (module docstring)."""

    def resize_and_crop(im: Image.Image) -> Image.Image:
        return TF.center_crop(TF.resize(im, size, interpolation=InterpolationMode.BICUBIC), size)

    return _per_image(images, resize_and_crop, CLIP_MEAN, CLIP_STD)


def cmmd(images: torch.Tensor, size: int = 336) -> torch.Tensor:
    """Return the CMMD reference's network input: centred square crop, PIL bicubic resize to ``size``, /255,
    CLIP's mean and std (module docstring)."""

    def crop_and_resize(im: Image.Image) -> Image.Image:
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        return im.crop((left, top, left + side, top + side)).resize((size, size), resample=Image.BICUBIC)

    return _per_image(images, crop_and_resize, CLIP_MEAN, CLIP_STD)


def _per_image(
    images: torch.Tensor, transform: Callable[[Image.Image], Image.Image], mean: Stats, std: Stats
) -> torch.Tensor:
    """Return ``normalize(to_tensor(transform(PIL image)))`` for each image, stacked, on the images' device."""
    unit = _as_unit_float32(images)
    levels = images if images.dtype == torch.uint8 else unit.mul(255).round_().to(torch.uint8)
    pixels = levels.permute(0, 2, 3, 1).cpu().numpy()
    out = [TF.to_tensor(transform(Image.fromarray(np.ascontiguousarray(image)))) for image in pixels]
    return TF.normalize(torch.stack(out), list(mean), list(std)).to(images.device)
