"""Small PNG thumbnails as ``data:`` URIs, under one byte budget for the whole page.

The budget is what keeps a report of a 60,000-image run as small as one of 600 images: the page
never holds per-sample data, only a fixed number of thumbnails per node (members and
generations), each tiled into one PNG, and it stops adding thumbnails once the budget is spent.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
from PIL import Image

#: Largest side of one embedded image in pixels; bigger images are shrunk (the browser scales
#: them back up, pixelated, which keeps digits and clothes readable).
MAX_SIDE = 32


def as_images(x: np.ndarray, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray | None:
    """Samples (N, C, H, W) with C in {1, 3}, or (N, D) with D a square ≥ 16, as (N, H, W, C)
    floats in [0, 1] (``value_range`` mapped to [0, 1], then clipped); None for other data."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 4 and x.shape[1] in (1, 3):
        imgs = x.transpose(0, 2, 3, 1)
    elif x.ndim == 2 and math.isqrt(x.shape[1]) ** 2 == x.shape[1] and x.shape[1] >= 16:
        side = math.isqrt(x.shape[1])
        imgs = x.reshape(-1, side, side, 1)
    else:
        return None
    low, high = value_range
    scale = (high - low) or 1.0
    return np.clip((imgs - low) / scale, 0.0, 1.0)


def _tile(imgs: np.ndarray, ncol: int, pad: int = 1) -> np.ndarray:
    """(N, H, W, C) in [0, 1] → one (rows·(H+pad)+pad, ncol·(W+pad)+pad, C) uint8 array on a
    white background."""
    n, h, w, c = imgs.shape
    nrow = max(1, math.ceil(n / ncol))
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = np.round(imgs[i] * 255).astype(np.uint8)
    return grid


def _shrink(imgs: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink (N, H, W, C) images so that their larger side is at most ``max_side``."""
    _, h, w, c = imgs.shape
    if max(h, w) <= max_side:
        return imgs
    factor = max_side / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    out = []
    for img in imgs:
        pil = Image.fromarray(np.round(img * 255).astype(np.uint8).squeeze(-1) if c == 1 else
                              np.round(img * 255).astype(np.uint8))  # fmt: skip
        small = np.asarray(pil.resize(size, Image.Resampling.LANCZOS), dtype=np.float32) / 255
        out.append(small.reshape(size[1], size[0], c))
    return np.stack(out)


def png_data_uri(imgs: np.ndarray, ncol: int | None = None, max_side: int = MAX_SIDE) -> str:
    """Tile (N, H, W, C) images in [0, 1] into one PNG and return it as a ``data:`` URI."""
    imgs = _shrink(imgs, max_side)
    grid = _tile(imgs, ncol or len(imgs))
    pil = Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class ImageBudget:
    """Collects the page's images under a total size cap.

    ``add(key, samples)`` stores the samples' thumbnail strip under ``key`` and returns the key,
    or returns None (and remembers the key in ``skipped``) when the data are not images or the
    strip would take the page over ``max_bytes`` characters of ``data:`` URIs.
    """

    def __init__(self, max_bytes: int, value_range: tuple[float, float], max_side: int = MAX_SIDE):
        self.max_bytes = int(max_bytes)
        self.value_range = value_range
        self.max_side = int(max_side)
        self.images: dict[str, str] = {}
        self.used = 0
        self.skipped: list[str] = []

    def add(self, key: str, samples: np.ndarray | None, ncol: int | None = None) -> str | None:
        if samples is None or len(samples) == 0:
            return None
        imgs = as_images(samples, self.value_range)
        if imgs is None:
            return None
        uri = png_data_uri(imgs, ncol=ncol, max_side=self.max_side)
        if self.used + len(uri) > self.max_bytes:
            self.skipped.append(key)
            return None
        self.images[key] = uri
        self.used += len(uri)
        return key
