"""Reading image files with Pillow: one decoder for Omniglot, CelebA and image folders.

Resizing uses Pillow's bilinear filter, which (unlike a plain bilinear lookup) widens its
support when shrinking, i.e. it antialiases, as torchvision's ``Resize`` does on PIL images.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from dendrogen.data.errors import DatasetFormatError

__all__ = ["IMAGE_EXTENSIONS", "image_mode", "is_image_file", "read_image", "read_images"]

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name[0] == "."


def image_mode(path: str | os.PathLike[str]) -> str:
    """``"L"`` for a grayscale file, ``"RGB"`` for anything else (read from the header only)."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            return "L" if img.mode in _GRAY_MODES else "RGB"
    except (UnidentifiedImageError, OSError) as err:
        raise DatasetFormatError(path, f"not a readable image ({err})") from err


def read_image(
    path: str | os.PathLike[str],
    mode: str = "L",
    size: tuple[int, int] | None = None,
    crop: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Decode one image to uint8 of shape (C, H, W).

    Args:
        path: any format Pillow reads.
        mode: ``"L"`` (C = 1) or ``"RGB"`` (C = 3); alpha is dropped, not composited.
        size: ``(width, height)`` to resize to (antialiased bilinear), after cropping.
        crop: ``(left, top, right, bottom)`` box, which must lie inside the image.

    Raises:
        DatasetFormatError: unreadable or truncated file, or a crop box outside the image.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            if crop is not None:
                left, top, right, bottom = crop
                if left < 0 or top < 0 or right > img.width or bottom > img.height:
                    raise DatasetFormatError(
                        path,
                        f"image is {img.width}x{img.height}, too small for the crop box {crop}",
                    )
                img = img.crop(crop)
            img = img.convert(mode)
            if size is not None and img.size != tuple(size):
                img = img.resize(tuple(size), Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DatasetFormatError(path, f"not a readable image ({err})") from err
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def read_images(
    paths: Sequence[Path],
    mode: str = "L",
    size: tuple[int, int] | None = None,
    crop: tuple[int, int, int, int] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Decode many images of one size into float32 (N, C, H, W) in [0, 1].

    Args:
        out: optional preallocated float32 array (e.g. an ``np.memmap``) to decode into; images
            are written one at a time, so memory stays at one image besides ``out``.
    """
    if not paths and out is None:
        raise ValueError("no images to read")
    first = read_image(paths[0], mode, size, crop) if paths else None
    if out is None:
        assert first is not None
        out = np.empty((len(paths), *first.shape), dtype=np.float32)
    elif len(out) != len(paths):
        raise ValueError(f"out holds {len(out)} images, {len(paths)} paths given")
    for i, path in enumerate(paths):
        img = first if i == 0 else read_image(path, mode, size, crop)
        assert img is not None
        if img.shape != out.shape[1:]:
            raise DatasetFormatError(
                path, f"image has shape {img.shape}, the first one {out.shape[1:]}; pass a size"
            )
        np.divide(img, 255.0, out=out[i], dtype=np.float32)
    return out
