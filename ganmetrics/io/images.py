"""Images in: folders and zips of image files, decoded to RGB uint8 tensors, and checks on Python inputs.

This module is the input edge of the pipeline; it knows nothing of features or metrics.

Listing
    A folder yields its files whose extension (case-insensitive) is in ``IMAGE_EXTENSIONS``, sorted by their
    path relative to the folder (as a POSIX string); subfolders are searched only with ``recursive=True``.
    A ``.zip`` yields its members with those extensions, sorted by member name; directories and macOS
    resource forks (``__MACOSX/``) are skipped. pytorch-fid globs the lowercase extensions only, so a folder
    holding ``X.PNG`` lists one more file here than there.

Decoding to RGB uint8, mode by mode
    Every mode except the 16-bit ones goes through Pillow's ``Image.convert("RGB")``, exactly as pytorch-fid's
    ``ImagePathDataset`` does, so the pixels match it bit for bit:

    - ``RGB``: unchanged. ``L``: the gray value copied to the three channels. ``1``: 0 or 255 per channel.
    - ``RGBA``, ``LA``, ``PA``: alpha dropped, no compositing onto a background (the colour under a
      transparent pixel is kept as stored).
    - ``P``: looked up in the palette; palette transparency is ignored.
    - ``CMYK``: Pillow's naive formula ``R = (255 - K) * (255 - C) / 255`` (likewise G with M, B with Y),
      with no ICC colour management. ``YCbCr``, ``LAB``, ``HSV``: Pillow's conversion.
    - ``F`` (32-bit float): Pillow's conversion, which truncates towards zero and clips to [0, 255].
    - ``I;16``, ``I;16L``, ``I;16B``, ``I;16N`` (16-bit gray, how Pillow opens 16-bit gray PNG and TIFF) and
      ``I`` (32-bit integer, how older Pillow opened them): read as 16-bit values in [0, 65535] (``I`` clipped
      to that range) and scaled to 8 bit with rounding, ``round(v * 255 / 65535)``, then copied to the three
      channels. Here we deviate from pytorch-fid on purpose: Pillow's ``convert`` clips at 255, which turns
      almost every pixel of a 16-bit image white.
    - 16-bit RGB(A) PNGs are opened by Pillow as 8-bit ``RGB(A)`` (its decoder keeps the high byte), so they
      arrive here already reduced.

    EXIF orientation and embedded ICC profiles are ignored (as in pytorch-fid); multi-frame files give their
    first frame.

Bad files
    A file that cannot be opened or decoded (corrupt, truncated, not an image, unreadable) raises
    ``UnreadableImageError`` naming it. A dataset built with ``skip_bad=True`` returns ``None`` for it
    instead, and ``collate_skipping_bad`` drops those ``None`` items from a DataLoader batch; whoever needs to
    know which files were skipped returns the index with each item and looks for the missing ones (as
    ``ganmetrics.features.extract`` does). Each file is decoded once.

Python inputs
    A uint8 ``(N, 3, H, W)`` tensor in [0, 255], a float ``(N, 3, H, W)`` tensor in [0, 1], or any dataset
    whose items are such ``(3, H, W)`` images, ``(image, label)`` tuples, or PIL images (as torchvision
    datasets without a transform yield); ``as_image_tensor`` checks one item.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Sequence, Sized
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, default_collate

IMAGE_EXTENSIONS: frozenset[str] = frozenset({"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp"})

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ZIP_SKIPPED_PREFIX = "__MACOSX/"
# What Pillow, the zip reader and the file system raise on a file that is not a readable image.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, zipfile.BadZipFile, Image.DecompressionBombError)

Transform = Callable[[torch.Tensor], Any]


class UnreadableImageError(ValueError):
    """An image file could not be opened or decoded; the message starts with the file's name."""


def _extensions_text() -> str:
    return ", ".join(f".{e}" for e in sorted(IMAGE_EXTENSIONS))


def is_image_name(name: str) -> bool:
    """Return whether ``name`` ends in one of ``IMAGE_EXTENSIONS`` (case-insensitive)."""
    suffix = name.rsplit(".", 1)[-1] if "." in name else ""
    return suffix.lower() in IMAGE_EXTENSIONS


def list_image_files(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Return the image files in ``folder``, sorted by their path relative to it (as a POSIX string).

    Parameters: ``folder`` the directory; ``recursive`` whether to search its subfolders too.
    Raises ``FileNotFoundError`` when ``folder`` does not exist, ``NotADirectoryError`` when it is not a
    directory, ``ValueError`` when it holds no file with an image extension.
    """
    root = Path(folder)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such folder")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: is not a folder")
    candidates = root.rglob("*") if recursive else root.iterdir()
    files = sorted(
        (p for p in candidates if is_image_name(p.name) and p.is_file()),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    if not files:
        where = "in it or its subfolders" if recursive else "in it (subfolders: pass recursive=True)"
        raise ValueError(f"{root}: no image files {where}; looked for {_extensions_text()}")
    return files


def list_zip_images(zip_path: str | os.PathLike) -> list[str]:
    """Return the names of the image members of the zip archive ``zip_path``, sorted.

    Directories and members under ``__MACOSX/`` are skipped. Raises ``FileNotFoundError`` when the file does
    not exist, ``ValueError`` when it is not a zip archive or holds no image member.
    """
    path = Path(zip_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path}: is not a readable zip archive ({exc})") from exc
    names = sorted(
        info.filename
        for info in infos
        if not info.is_dir() and not info.filename.startswith(_ZIP_SKIPPED_PREFIX) and is_image_name(info.filename)
    )
    if not names:
        raise ValueError(f"{path}: the zip archive holds no image files; looked for {_extensions_text()}")
    return names


def rgb_array(image: Image.Image) -> np.ndarray:
    """Return ``image`` as an (H, W, 3) uint8 RGB array, converting its mode as the module docstring lists."""
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image).astype(np.int64).clip(0, 65535)
        gray = ((values * 255 + 32767) // 65535).astype(np.uint8)  # round(v * 255 / 65535), exact in integers
        return np.repeat(gray[:, :, None], 3, axis=2)
    return np.array(image.convert("RGB"))


def rgb_tensor(image: Image.Image) -> torch.Tensor:
    """Return ``image`` as a (3, H, W) uint8 RGB tensor (see ``rgb_array``)."""
    return torch.from_numpy(rgb_array(image)).permute(2, 0, 1).contiguous()


def as_image_tensor(item: Any, name: str) -> torch.Tensor:
    """Return one Python input image as a (3, H, W) tensor: uint8 in [0, 255] or floating point in [0, 1].

    ``item`` is such a tensor, a PIL image (decoded with ``rgb_tensor``), or a tuple/list whose first element
    is one of those (``(image, label)``). Raises ``TypeError`` for another type or dtype, ``ValueError`` for
    another shape or a float image outside [0, 1] (NaN included); messages start with ``name``.
    """
    if isinstance(item, (tuple, list)) and item:
        item = item[0]
    if isinstance(item, Image.Image):
        return rgb_tensor(item)
    if not isinstance(item, torch.Tensor):
        raise TypeError(f"{name}: expected an image tensor or a PIL image, got {type(item).__name__}")
    if item.ndim != 3 or item.shape[0] != 3:
        raise ValueError(f"{name}: expected a (3, H, W) RGB image, got shape {tuple(item.shape)}")
    if item.dtype == torch.uint8:
        return item
    if not item.is_floating_point():
        raise TypeError(f"{name}: expected dtype uint8 (0-255) or a float dtype (0-1), got {item.dtype}")
    low, high = float(item.min()), float(item.max())
    if not (0.0 <= low and high <= 1.0):  # also false for NaN
        raise ValueError(f"{name}: float images must lie in [0, 1], got values in [{low:g}, {high:g}]")
    return item


class EncodedImageDataset(Dataset):
    """Encoded image files as (3, H, W) uint8 RGB tensors (after ``transform``, if given), in ``names`` order.

    ``names[i]`` names item ``i`` in messages. With ``skip_bad=True`` an unreadable file gives ``None``
    (drop it with ``collate_skipping_bad``); otherwise it raises ``UnreadableImageError`` naming the file.
    """

    def __init__(self, names: Sequence[str], transform: Transform | None = None, skip_bad: bool = False):
        self.names = list(names)
        self.transform = transform
        self.skip_bad = skip_bad

    def __len__(self) -> int:
        return len(self.names)

    def _open(self, index: int) -> str | os.PathLike | BinaryIO:
        """Return what ``PIL.Image.open`` reads for item ``index``."""
        raise NotImplementedError

    def read(self, index: int) -> torch.Tensor:
        """Return item ``index`` decoded to a (3, H, W) uint8 RGB tensor, without ``transform``.

        Raises ``UnreadableImageError`` naming the file when it cannot be opened or decoded.
        """
        try:
            with Image.open(self._open(index)) as image:
                return rgb_tensor(image)
        except _DECODE_ERRORS as exc:
            raise UnreadableImageError(f"{self.names[index]}: cannot read image ({exc})") from exc

    def __getitem__(self, index: int) -> Any:
        try:
            image = self.read(index)
        except UnreadableImageError:
            if self.skip_bad:
                return None
            raise
        return image if self.transform is None else self.transform(image)


class ImageFileDataset(EncodedImageDataset):
    """Image files given by path, in the order given (``open_images`` lists a folder in sorted order)."""

    def __init__(self, files: Sequence[str | os.PathLike], transform: Transform | None = None, skip_bad: bool = False):
        self.files = [Path(f) for f in files]
        super().__init__([str(f) for f in self.files], transform, skip_bad)

    def _open(self, index: int) -> Path:
        return self.files[index]


class ZipImageDataset(EncodedImageDataset):
    """The image members of a zip archive, sorted by member name (see ``list_zip_images``).

    The archive is opened lazily, once per process, so DataLoader workers (forked or spawned) each read
    through their own handle; a handle shared across a fork would share its file offset.
    """

    def __init__(self, zip_path: str | os.PathLike, transform: Transform | None = None, skip_bad: bool = False):
        self.zip_path = Path(zip_path)
        self.members = list_zip_images(self.zip_path)
        super().__init__([f"{self.zip_path}:{m}" for m in self.members], transform, skip_bad)
        self._archive: zipfile.ZipFile | None = None
        self._archive_pid: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_archive"] = None
        state["_archive_pid"] = None
        return state

    def _open(self, index: int) -> BinaryIO:
        if self._archive is None or self._archive_pid != os.getpid():
            self._archive = zipfile.ZipFile(self.zip_path)
            self._archive_pid = os.getpid()
        return io.BytesIO(self._archive.read(self.members[index]))


def count_images(images: Dataset | torch.Tensor) -> int:
    """Return the number of images of what ``open_images`` returns (a tensor's rows or a sized dataset's items)."""
    if isinstance(images, torch.Tensor):
        return int(images.shape[0])
    return len(cast(Sized, images))


def open_images(
    source: str | os.PathLike | torch.Tensor | Dataset, *, recursive: bool = False, skip_bad: bool = False
) -> Dataset | torch.Tensor:
    """Return ``source`` as something indexable by image: a dataset for a folder or ``.zip``, else ``source``.

    A folder gives an ``ImageFileDataset`` of ``list_image_files(source, recursive)``; a path ending in
    ``.zip`` a ``ZipImageDataset``; a 4-D tensor and a Dataset are returned as they are (their items are
    checked one by one with ``as_image_tensor``). ``skip_bad`` applies to folders and zips only.

    Raises ``FileNotFoundError`` for a missing path, ``ValueError`` for a path that is neither a folder nor a
    ``.zip``, a tensor that is not (N, 3, H, W), or ``skip_bad`` with a Python input, ``TypeError`` for
    another type; plus what the listing functions raise.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            return ImageFileDataset(list_image_files(path, recursive), skip_bad=skip_bad)
        if path.suffix.lower() == ".zip":
            return ZipImageDataset(path, skip_bad=skip_bad)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such folder or zip file")
        raise ValueError(f"{path}: expected a folder of images or a .zip of images")
    if skip_bad:
        raise ValueError("skip_bad: applies to folder and zip sources; for a Dataset, return None for a bad item")
    if isinstance(source, torch.Tensor):
        if source.ndim != 4 or source.shape[1] != 3:
            raise ValueError(f"images: expected an (N, 3, H, W) tensor, got shape {tuple(source.shape)}")
        return source
    if isinstance(source, Dataset):
        return source
    raise TypeError(
        f"source: expected a folder or .zip path, an (N, 3, H, W) tensor or a torch Dataset, "
        f"got {type(source).__name__}"
    )


def collate_skipping_bad(batch: list[Any]) -> Any:
    """Return ``default_collate`` of the items of ``batch`` that are not ``None`` (``None`` if none is)."""
    kept = [item for item in batch if item is not None]
    return default_collate(kept) if kept else None
