"""Training data: the 2-D mode-collapse benchmarks, torchvision datasets from local files, image folders.

The built-in 2-D mixtures (``ring8``, ``grid25``) are defined in ``ganmetrics.mixtures``, which the shipped
reference statistics use too.

Samplers draw from their own ``torch.Generator`` (on the CPU, so runs are reproducible across devices) and
expose ``state_dict``/``load_state_dict`` so a resumed run continues the exact data stream. Mixtures are
sampled afresh every batch; image datasets are read in epochs of a seeded permutation. Images are held in
memory as uint8 (N, C, H, W) and handed to the models scaled to [-1, 1].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from ganmetrics.mixtures import MIXTURES, Mixture2D

TORCHVISION = ("mnist", "fashion-mnist", "cifar10")
DATASETS = (*MIXTURES, *TORCHVISION)


class MixtureSampler:
    """Endless batches of a 2-D mixture, drawn from a seeded generator."""

    kind = "points"

    def __init__(self, mixture: Mixture2D, seed: int) -> None:
        self.mixture = mixture
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.mixture.centres.shape[1],)

    def next(self, batch_size: int) -> torch.Tensor:
        return self.mixture.sample(batch_size, self.generator)

    def reference(self, n: int, seed: int) -> torch.Tensor:
        """Return ``n`` real points from an independent generator seeded with ``seed`` (for scoring)."""
        return self.mixture.sample(n, torch.Generator().manual_seed(seed))

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


class ImageSampler:
    """Batches of in-memory uint8 images in epochs of a seeded permutation, scaled to [-1, 1]."""

    kind = "images"

    def __init__(self, images: torch.Tensor, seed: int) -> None:
        self.images = images
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(len(images), generator=self.generator)
        self.position = 0

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    def next(self, batch_size: int) -> torch.Tensor:
        taken: list[torch.Tensor] = []
        need = batch_size
        while need > 0:
            if self.position == len(self.order):
                self.order = torch.randperm(len(self.images), generator=self.generator)
                self.position = 0
            chunk = self.order[self.position : self.position + need]
            self.position += len(chunk)
            need -= len(chunk)
            taken.append(chunk)
        return self.images[torch.cat(taken)].to(torch.float32) / 127.5 - 1.0

    def reference(self, n: int, seed: int) -> torch.Tensor:
        """Return up to ``n`` real uint8 images, a subset chosen by a generator seeded with ``seed``."""
        order = torch.randperm(len(self.images), generator=torch.Generator().manual_seed(seed))
        return self.images[order[:n]]

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "order": self.order, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.order = state["order"]
        self.position = int(state["position"])


def load_torchvision(name: str, root: str | Path) -> torch.Tensor:
    """Return the training split of ``name`` (mnist, fashion-mnist, cifar10) as uint8 (N, C, H, W).

    Reads local files only (``download=False``). Raises ``FileNotFoundError`` naming the expected location when
    the files are missing or fail torchvision's integrity check.
    """
    from torchvision import datasets

    classes = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST, "cifar10": datasets.CIFAR10}
    where = {
        "mnist": "MNIST/raw/train-images-idx3-ubyte",
        "fashion-mnist": "FashionMNIST/raw/train-images-idx3-ubyte",
        "cifar10": "cifar-10-batches-py/data_batch_1..5",
    }
    try:
        dataset = classes[name](root=str(root), train=True, download=False)
    except RuntimeError as error:
        raise FileNotFoundError(
            f"data: the {name} files were not found under --data-root {str(root)!r} (expected "
            f"{Path(root) / where[name]}); this trainer never downloads, so fetch the dataset elsewhere and "
            f"copy it there ({error})"
        ) from None
    data = dataset.data
    images = torch.from_numpy(np.asarray(data)) if not isinstance(data, torch.Tensor) else data
    return images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2).contiguous()


def load_image_folder(folder: Path, size: int) -> torch.Tensor:
    """Return every image of ``folder`` (or ``.zip``) as uint8 (N, 3, size, size), read by ``ganmetrics.io.images``.

    Images of any size are accepted: each is resized so its shorter side is ``size`` (bilinear, antialiased)
    and then centre-cropped to a square, the DCGAN preprocessing (Radford et al. 2016, Sec. 4).
    """
    from torchvision.transforms.v2.functional import center_crop, resize

    from ganmetrics.io.images import EncodedImageDataset, open_images

    dataset = cast(EncodedImageDataset, open_images(folder))  # what a folder or .zip path opens as
    return torch.stack([center_crop(resize(dataset[i], [size], antialias=True), [size]) for i in range(len(dataset))])


def make_sampler(data: str, seed: int, data_root: str | Path, image_size: int) -> MixtureSampler | ImageSampler:
    """Return the sampler for ``data``: a built-in name, or the path of a folder of images.

    Raises ``ValueError`` listing the valid names when ``data`` is neither.
    """
    if data in MIXTURES:
        return MixtureSampler(MIXTURES[data](), seed)
    if data in TORCHVISION:
        return ImageSampler(load_torchvision(data, data_root), seed)
    if Path(data).is_dir() or data.lower().endswith(".zip"):
        return ImageSampler(load_image_folder(Path(data), image_size), seed)
    raise ValueError(
        f"data: unknown dataset {data!r}; choose one of {', '.join(DATASETS)}, or give a folder or .zip of images"
    )
