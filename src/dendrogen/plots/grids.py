"""Grids of samples: images tiled into one array, or sequences drawn as small line plots."""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: the library only ever writes files

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dendrogen.training.distributed import is_main_process


def _as_images(x: np.ndarray) -> np.ndarray | None:
    """(N, C, H, W) with C in {1, 3} → (N, H, W, C) floats in [0, 1]; None for non-images."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return np.clip(x.transpose(0, 2, 3, 1), 0, 1)
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side == x.shape[1] and side >= 4:
            return np.clip(x.reshape(-1, side, side, 1), 0, 1)
    return None


def image_grid(images: np.ndarray, ncol: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile images (N, C, H, W) into one (rows·(H+pad), cols·(W+pad), C) array in [0, 1]."""
    imgs = _as_images(images)
    if imgs is None:
        raise ValueError(f"expected images of shape (N, 1 or 3, H, W), got {np.shape(images)}")
    n, h, w, c = imgs.shape
    ncol = ncol or max(1, math.ceil(math.sqrt(n)))
    nrow = max(1, math.ceil(n / ncol))
    grid = np.ones((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, ncol)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h,
             pad + col * (w + pad) : pad + col * (w + pad) + w] = imgs[i]  # fmt: skip
    return grid


def show_samples(ax: Axes, samples: np.ndarray, ncol: int | None = None) -> None:
    """Draw samples on ``ax``: an image grid, or overlaid lines for sequences (N, C, T)."""
    samples = np.asarray(samples)
    ax.set_xticks([])
    ax.set_yticks([])
    imgs = _as_images(samples)
    if imgs is not None:
        grid = image_grid(samples, ncol=ncol)
        ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1)
        return
    if samples.ndim == 3:  # sequences: one colour per channel, samples stacked vertically
        n, c, _t = samples.shape
        span = float(np.ptp(samples)) or 1.0
        for i in range(n):
            for ch in range(c):
                ax.plot(samples[i, ch] - i * span, lw=0.6, color=f"C{ch}")
        return
    ax.imshow(samples.reshape(samples.shape[0], -1), aspect="auto", cmap="viridis")


def plot_samples(samples: np.ndarray, title: str | None = None, ncol: int | None = None) -> Figure:
    """A figure of one grid of samples."""
    fig, ax = plt.subplots(figsize=(6, 6))
    show_samples(ax, samples, ncol=ncol)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save and close a figure, creating the folder (only on rank 0 under torchrun)."""
    path = Path(path)
    if not is_main_process():
        plt.close(fig)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path
