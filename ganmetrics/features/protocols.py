"""The preprocessing protocols: how an image becomes the input of a feature network, one per peer reproduced.

Each protocol is the WHOLE input transform (resize and scaling to the network's range), so that naming it in a
result's metadata (``resize``) says exactly what the network saw. ``PROTOCOLS`` maps a name to a
:class:`Protocol`; an extractor spec lists the protocols it accepts (``ExtractorSpec.protocols``). The three
protocols of the FID Inception network (299x299) reproduce three reference implementations, whose FIDs differ by
more than the differences between good models:

``"pytorch-fid"`` (default)
    pytorch-fid's ``InceptionV3(resize_input=True, normalize_input=True)``: values in [0, 1],
    ``F.interpolate(x, (299, 299), mode="bilinear", align_corners=False)`` (no antialiasing), then ``2x - 1``.
``"tf"``
    The original TensorFlow FID graph (Heusel et al. 2017), as torch-fidelity reproduces it
    (``interpolate_bilinear_2d_like_tensorflow1x``, ``feature_extractor_inceptionv3.py``): values in [0, 255],
    TensorFlow 1.x ``resize_bilinear`` with ``align_corners=False`` (source coordinate ``i * in/out``, no
    half-pixel offset), then ``(x - 128) / 128``.
``"clean"``
    clean-fid (Parmar et al. 2022; ``make_resizer("PIL", False, "bicubic", (299, 299))`` in
    ``cleanfid/resize.py``): each channel resized as a float32 PIL ``"F"`` image of [0, 255] values with
    PIL's antialiased bicubic filter, clipped to [0, 255], then ``(x - 128) / 128``. On the CPU, via PIL.

The protocols of the DINOv2, CLIP and VGG16 extractors reproduce their peers' code exactly (the size is part of
the name; mean and std are ImageNet's or CLIP's):

``"tf-imagenet-224"``, ``"tf-clip-224"``, ``"tf-clip-336"``
    torch-fidelity 0.4 (``feature_extractor_dinov2.py``, ``feature_extractor_vgg16.py``,
    ``feature_extractor_clip.py``): values in [0, 255], TensorFlow 1.x ``resize_bilinear`` to the size (as
    ``"tf"``), then ``torchvision.transforms.functional.normalize`` with mean and std scaled by 255.
``"dgm-eval-imagenet-224"``, ``"dgm-eval-clip-224"``, ``"dgm-eval-clip-336"``
    dgm-eval (layer6ai-labs/dgm-eval, ``dgm_eval/models/dinov2.py`` and ``clip.py``, default
    ``clean_resize=False``): the RGB image resized with PIL's bicubic filter to exactly size x size (aspect not
    kept; torchvision ``Resize((size, size), BICUBIC)`` on a PIL image), ``to_tensor`` (/255), normalize. The
    protocol of Stein et al. 2023's FD_DINOv2.
``"openai-clip-224"``, ``"openai-clip-336"``
    OpenAI CLIP's ``preprocess`` (``clip/clip.py``, ``_transform``): torchvision ``Resize(size, BICUBIC)``
    (shorter side to the size, PIL bicubic), ``CenterCrop(size)``, ``ToTensor``, ``Normalize`` (CLIP's mean and
    std).
``"cmmd-336"``
    The CMMD reference (google-research ``cmmd/io_util.py`` and ``embedding.py``): the largest centred square
    (offsets ``(w - l) // 2``, ``(h - l) // 2``), PIL bicubic resize to 336 x 336, float32 /255, then CLIP's
    mean and std (its ``jax.image.resize`` to the same size is the identity).

The PIL-based ones work on 8-bit images: float input is rounded to the nearest of the 256 levels first
(``round(255 x)``), as saving it to an image file would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

INCEPTION_SIZE = 299
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

Stats = Sequence[float]


@dataclass(frozen=True)
class Protocol:
    """A named preprocessing: ``apply`` maps (N, 3, H, W) images (uint8 in [0, 255] or float in [0, 1]) to the
    float32 (N, 3, input_size, input_size) network input; ``reproduces`` names the implementation it matches."""

    name: str
    input_size: int
    apply: Callable[[torch.Tensor], torch.Tensor]
    reproduces: str


def _pytorch_fid(images: torch.Tensor) -> torch.Tensor:
    """pytorch-fid: [0, 1], bilinear resize without antialiasing, then ``2x - 1``."""
    unit = _as_unit_float32(images)
    resized = F.interpolate(unit, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
    return 2 * resized - 1


def _scaled_255(images: torch.Tensor) -> torch.Tensor:
    """Return validated images as float32 in [0, 255] (uint8 as is, floats times 255, without rounding)."""
    unit = _as_unit_float32(images)
    return images.to(torch.float32) if images.dtype == torch.uint8 else unit * 255


def _tf(images: torch.Tensor) -> torch.Tensor:
    """The TensorFlow FID graph: [0, 255], TF1 bilinear resize, then ``(x - 128) / 128``."""
    return (resize_like_tensorflow1(_scaled_255(images), INCEPTION_SIZE) - 128) / 128


def _clean(images: torch.Tensor) -> torch.Tensor:
    """clean-fid: [0, 255], PIL antialiased bicubic per channel, clipped, then ``(x - 128) / 128``."""
    return (resize_like_clean_fid(_scaled_255(images), INCEPTION_SIZE) - 128) / 128


def tf1_bilinear(images: torch.Tensor, size: int, mean: Stats, std: Stats) -> torch.Tensor:
    """Return torch-fidelity 0.4's network input: TF1 bilinear resize of [0, 255] values, then
    ``(x - 255 mean) / (255 std)`` (see the module docstring). Runs on the images' device."""
    resized = resize_like_tensorflow1(_scaled_255(images), size)
    return TF.normalize(resized, [255 * m for m in mean], [255 * s for s in std])


def pil_bicubic(images: torch.Tensor, size: int, mean: Stats, std: Stats) -> torch.Tensor:
    """Return dgm-eval's network input: PIL bicubic resize to size x size, /255, normalize (module docstring)."""
    return _per_image(images, lambda im: im.resize((size, size), Image.Resampling.BICUBIC), mean, std)


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
        return im.crop((left, top, left + side, top + side)).resize((size, size), resample=Image.Resampling.BICUBIC)

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


PROTOCOLS: dict[str, Protocol] = {
    protocol.name: protocol
    for protocol in (
        Protocol("pytorch-fid", INCEPTION_SIZE, _pytorch_fid, "pytorch-fid InceptionV3(resize_input, normalize_input)"),
        Protocol("tf", INCEPTION_SIZE, _tf, "TensorFlow FID graph, as torch-fidelity's feature_extractor_inceptionv3"),
        Protocol("clean", INCEPTION_SIZE, _clean, "clean-fid make_resizer('PIL', False, 'bicubic', (299, 299))"),
        Protocol(
            "tf-imagenet-224",
            224,
            partial(tf1_bilinear, size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD),
            "torch-fidelity 0.4 feature_extractor_dinov2 / feature_extractor_vgg16",
        ),
        *(
            Protocol(
                f"tf-clip-{size}",
                size,
                partial(tf1_bilinear, size=size, mean=CLIP_MEAN, std=CLIP_STD),
                "torch-fidelity 0.4 feature_extractor_clip",
            )
            for size in (224, 336)
        ),
        Protocol(
            "dgm-eval-imagenet-224",
            224,
            partial(pil_bicubic, size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD),
            "dgm-eval DINOv2Encoder.transform",
        ),
        *(
            Protocol(
                f"dgm-eval-clip-{size}",
                size,
                partial(pil_bicubic, size=size, mean=CLIP_MEAN, std=CLIP_STD),
                "dgm-eval CLIPEncoder.transform",
            )
            for size in (224, 336)
        ),
        *(
            Protocol(f"openai-clip-{size}", size, partial(openai_clip, size=size), "OpenAI CLIP preprocess")
            for size in (224, 336)
        ),
        Protocol("cmmd-336", 336, partial(cmmd, size=336), "google-research cmmd (io_util, embedding)"),
    )
}
# The protocol names of the FID Inception network (the inception extractor's protocols).
RESIZE_MODES = ("pytorch-fid", "tf", "clean")


def get_protocol(name: str) -> Protocol:
    """Return the protocol called ``name``; raises ``ValueError`` listing the valid names when there is none."""
    if name not in PROTOCOLS:
        raise ValueError(f"protocol: unknown {name!r}; valid protocols are {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def preprocess(images: torch.Tensor, mode: str = "pytorch-fid") -> torch.Tensor:
    """Return the float32 (N, 3, S, S) network input for a batch of images, per protocol ``mode``.

    Parameters
    ----------
    images
        (N, 3, H, W) tensor on any device: ``uint8`` in [0, 255], or floating point in [0, 1] (a float image
        is scaled by 255 for the "tf" and "clean" protocols, without rounding).
    mode
        A name of ``PROTOCOLS`` (default ``"pytorch-fid"``); see the module docstring for each transform.

    Returns a tensor on the input's device (the "clean" protocol resizes on the CPU and moves the result back).

    Raises ``TypeError`` when ``images`` is not a tensor or has a dtype other than uint8/floating point,
    ``ValueError`` for an unknown protocol, a shape other than (N, 3, H, W), or float values outside [0, 1]
    (or NaN).
    """
    if mode not in PROTOCOLS:
        raise ValueError(f"mode: unknown resize mode {mode!r}; valid modes are {', '.join(PROTOCOLS)}")
    return PROTOCOLS[mode].apply(images)


def resize_like_tensorflow1(x: torch.Tensor, size: int) -> torch.Tensor:
    """Return ``x`` (N, C, H, W float32) resized to (size, size) as TensorFlow 1.x ``resize_bilinear`` does.

    TensorFlow 1.x with ``align_corners=False`` and no half-pixel centres: output pixel ``i`` reads the source
    coordinate ``s = i * (in / out)`` (the scale rounded to float32), ``lo = floor(s)``,
    ``hi = min(lo + 1, in - 1)``, and interpolates ``top = a + (b - a) * dx`` along the width, then
    ``top + (bottom - top) * dy`` along the height. The operations and their order are those of
    torch-fidelity's ``interpolate_bilinear_2d_like_tensorflow1x(method="slow")``, so the results agree bit
    for bit.
    """
    rows_lo, rows_hi, dy = _tf1_sample_grid(x.shape[2], size, x.device)
    cols_lo, cols_hi, dx = _tf1_sample_grid(x.shape[3], size, x.device)
    # Interpolate along the width once for every source row, then between the two rows each output row reads.
    # Gathering whole columns of the transposed image is much faster than gathering along the last axis.
    columns = x.transpose(2, 3).contiguous()
    left, right = columns[:, :, cols_lo].transpose(2, 3), columns[:, :, cols_hi].transpose(2, 3)
    rows = left + (right - left) * dx
    top, bottom = rows[:, :, rows_lo], rows[:, :, rows_hi]
    return top + (bottom - top) * dy.view(-1, 1)


def _tf1_sample_grid(in_size: int, out_size: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Return (lo, hi, frac) of TensorFlow 1.x's bilinear source coordinates along one axis."""
    scale = torch.tensor(in_size / out_size, dtype=torch.float32)
    coord = torch.arange(out_size, dtype=torch.float32, device=device) * scale.to(device)
    lo = coord.long()
    hi = (lo + 1).clamp_max(in_size - 1)
    return lo, hi, coord - lo.float()


def resize_like_clean_fid(x: torch.Tensor, size: int) -> torch.Tensor:
    """Return ``x`` (N, C, H, W float32, values in [0, 255]) resized to (size, size) as clean-fid does.

    Each channel is a PIL ``"F"`` (float32) image resized with ``Image.BICUBIC`` (PIL's antialiased bicubic,
    support scaled with the downsampling factor), then clipped to [0, 255]. The work happens on the CPU; the
    result returns to the input's device.
    """
    planes = x.detach().cpu().numpy()
    out = np.empty(planes.shape[:2] + (size, size), dtype=np.float32)
    for index in np.ndindex(*planes.shape[:2]):
        plane = Image.fromarray(np.ascontiguousarray(planes[index]))
        out[index] = np.asarray(plane.resize((size, size), resample=Image.Resampling.BICUBIC))
    return torch.from_numpy(out.clip(0, 255)).to(x.device)


def _as_unit_float32(images: torch.Tensor) -> torch.Tensor:
    """Return ``images`` validated, as float32 in [0, 1] (uint8 divided by 255, as torchvision's ToTensor)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images: expected a torch tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] < 1 or images.shape[3] < 1:
        raise ValueError(f"images: expected shape (N, 3, H, W), got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.to(torch.float32).div(255)
    if not images.is_floating_point():
        raise TypeError(f"images: expected uint8 or floating point values, got dtype {images.dtype}")
    if images.numel() and not bool(((images >= 0) & (images <= 1)).all()):
        low, high = float(images.min()), float(images.max())
        raise ValueError(
            f"images: floating point images must lie in [0, 1] (got min {low:.4g}, max {high:.4g}, or NaN); "
            "pass uint8 for [0, 255] data"
        )
    return images.to(torch.float32)
