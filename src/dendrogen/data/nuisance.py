"""Digits with SVHN-like nuisances, built locally from scikit-learn's bundled 8x8 digits.

The VLAC paper (002) clusters SVHN, whose images vary in colour, background, brightness and
position far more than in digit shape; its claim is that a ladder puts such nuisances in one
layer and the class in another. Fashion-MNIST and the plain digits have no such nuisances, so
this module renders them onto the bundled digits, with nothing to download:

- **position**: the 8x8 digit is pasted at a random offset in a ``size`` x ``size`` canvas;
- **colour**: the strokes get a random RGB colour;
- **background**: a random RGB colour with a linear gradient of random direction and strength,
  kept at least ``min_contrast`` (mean absolute RGB difference) away from the stroke colour;
- **brightness**: the whole image is scaled by a random factor;
- and a little Gaussian pixel noise.

Everything is deterministic given ``random_state``. :class:`NuisanceDigits` registers the result
as the data set ``"nuisance-digits"`` (the digits' fixed 80/20 split, each image rendered
:attr:`NuisanceDigits.copies` times with its own nuisances).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dendrogen.data.digits import Digits

__all__ = [
    "NuisanceDigits",
    "NuisanceSet",
    "add_nuisances",
    "make_glyph_hierarchy",
    "make_nuisance_digits",
]


@dataclass
class NuisanceSet:
    """Images with nuisances and the factors that made them.

    Attributes:
        X: (N, 3, size, size) float32 RGB in [0, 1].
        y: (N,) int64 class of the source image (the digit).
        source: (N,) int64 index of the source image each sample was rendered from.
        foreground: (N, 3) stroke colour.
        background: (N, 3) background colour (at the gradient's centre).
        brightness: (N,) factor applied to the whole image.
        offset: (N, 2) int64 (row, column) of the digit's top-left corner in the canvas.
    """

    X: np.ndarray
    y: np.ndarray
    source: np.ndarray
    foreground: np.ndarray
    background: np.ndarray
    brightness: np.ndarray
    offset: np.ndarray


def add_nuisances(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    size: int = 12,
    copies: int = 1,
    brightness: tuple[float, float] = (0.5, 1.0),
    gradient: float = 0.3,
    min_contrast: float = 0.35,
    noise: float = 0.02,
    random_state: int | np.random.Generator | None = 0,
) -> NuisanceSet:
    """Render grey images (N, h, w) or (N, 1, h, w) in [0, 1] as RGB images with nuisances.

    Args:
        images: the grey source images; a pixel's value is its stroke opacity.
        labels: (N,) class of each source image.
        size: side of the square canvas (>= h, w); the digit moves by up to size − h rows.
        copies: how many renderings of each source image (each with its own nuisances).
        brightness: range of the global brightness factor.
        gradient: the largest change of the background across the image (per channel).
        min_contrast: the least mean absolute RGB difference between strokes and background.
        noise: std of the Gaussian pixel noise (the result is clipped to [0, 1]).
        random_state: seed or Generator; the result is a function of it and the inputs.

    Returns:
        A :class:`NuisanceSet` of N·copies samples, source image by source image (the copies
        of image i are rows i·copies ... i·copies + copies − 1).
    """
    g = np.asarray(images, dtype=np.float32)
    if g.ndim == 4 and g.shape[1] == 1:
        g = g[:, 0]
    if g.ndim != 3:
        raise ValueError(f"images must be (N, h, w) or (N, 1, h, w), got shape {images.shape}")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (g.shape[0],):
        raise ValueError(f"labels must have shape ({g.shape[0]},), got {labels.shape}")
    n_src, h, w = g.shape
    if size < max(h, w):
        raise ValueError(f"size must be at least the image side {max(h, w)}, got {size}")
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    if not 0 <= min_contrast < 1:
        raise ValueError(f"min_contrast must be in [0, 1), got {min_contrast}")
    rng = (
        random_state
        if isinstance(random_state, np.random.Generator)
        else np.random.default_rng(random_state)
    )
    source = np.repeat(np.arange(n_src), copies)
    n = source.size
    fg = rng.uniform(0.0, 1.0, size=(n, 3))
    bg = rng.uniform(0.0, 1.0, size=(n, 3))
    # Redraw the backgrounds too close to their strokes (a few rounds, then push apart).
    for _ in range(20):
        close = np.abs(fg - bg).mean(1) < min_contrast
        if not close.any():
            break
        bg[close] = rng.uniform(0.0, 1.0, size=(int(close.sum()), 3))
    close = np.abs(fg - bg).mean(1) < min_contrast
    bg[close] = np.where(fg[close] > 0.5, 0.0, 1.0)
    level = rng.uniform(*brightness, size=n)
    offset = np.stack(
        [rng.integers(0, size - h + 1, size=n), rng.integers(0, size - w + 1, size=n)], axis=1
    )
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    slope = rng.uniform(0.0, gradient, size=n)
    pixel_noise = rng.normal(0.0, noise, size=(n, 3, size, size))

    # Background: colour + a linear ramp along a random direction, centred on the canvas.
    coords = (np.arange(size) - (size - 1) / 2) / max(1, size - 1)
    ramp = (
        np.cos(angle)[:, None, None] * coords[None, :, None]
        + np.sin(angle)[:, None, None] * coords[None, None, :]
    )  # (n, size, size), in [-0.71, 0.71]
    canvas = bg[:, :, None, None] + (slope[:, None, None] * ramp)[:, None]
    mask = np.zeros((n, size, size), dtype=np.float64)
    rows = offset[:, 0, None, None] + np.arange(h)[None, :, None]
    cols = offset[:, 1, None, None] + np.arange(w)[None, None, :]
    mask[np.arange(n)[:, None, None], rows, cols] = g[source]
    mask = mask[:, None]  # (n, 1, size, size)
    X = (1.0 - mask) * canvas + mask * fg[:, :, None, None]
    X = level[:, None, None, None] * X + pixel_noise
    X = np.clip(X, 0.0, 1.0).astype(np.float32)
    return NuisanceSet(
        X=X,
        y=labels[source],
        source=source.astype(np.int64),
        foreground=fg.astype(np.float32),
        background=bg.astype(np.float32),
        brightness=level.astype(np.float32),
        offset=offset.astype(np.int64),
    )


def make_nuisance_digits(
    split: str | None = None,
    *,
    size: int = 12,
    copies: int = 1,
    random_state: int | np.random.Generator | None = 0,
    **options: Any,
) -> NuisanceSet:
    """The bundled 8x8 digits with SVHN-like nuisances: (N·copies, 3, size, size) RGB.

    Args:
        split: ``None`` for all 1,797 digits, or ``"train"`` / ``"test"`` for the fixed
            stratified split of ``load_dataset("digits")``.
        size, copies, random_state, options: see :func:`add_nuisances`.

    >>> s = make_nuisance_digits(copies=2)
    >>> s.X.shape, s.y.shape
    ((3594, 3, 12, 12), (3594,))
    """
    if split is None:
        from sklearn.datasets import load_digits

        data = load_digits()
        images, labels = data.images / 16.0, data.target
    else:
        images, labels = Digits().load(split)
    return add_nuisances(
        images, labels, size=size, copies=copies, random_state=random_state, **options
    )


def make_glyph_hierarchy(
    n_samples: int = 600,
    *,
    size: int = 12,
    side: int = 8,
    shift: bool = True,
    brightness: tuple[float, float] = (0.5, 1.0),
    noise: float = 0.05,
    random_state: int | np.random.Generator | None = 0,
) -> Any:
    """Bar glyphs in a nested hierarchy, with position and brightness nuisances: (N, 1, s, s).

    Two coarse classes (horizontal or vertical bars) × four fine classes each (1, 2, 3 or 4
    bars, two pixels apart, ``side`` pixels long): fine class c has c % 4 + 1 bars, vertical
    when c >= 4. Each glyph is pasted at a random offset in the ``size`` x ``size`` canvas (at
    the centre with ``shift=False``), scaled by a random brightness, plus Gaussian noise.
    Orientation and bar count do not change with the offset, but pixel distances do: the case
    where clustering raw pixels (Ward) groups images by position rather than by class.

    Returns:
        A :class:`dendrogen.data.synthetic.SyntheticSet` (X float32 in [0, 1], fine y in 0..7,
        coarse y in 0..1, and the true hierarchy).
    """
    from dendrogen.data.hierarchies import hierarchy_from_spec
    from dendrogen.data.synthetic import SyntheticSet

    if n_samples < 1 or side < 7 or size < side:
        raise ValueError("n_samples must be >= 1 and 7 <= side <= size")
    rng = (
        random_state
        if isinstance(random_state, np.random.Generator)
        else np.random.default_rng(random_state)
    )
    y = np.arange(n_samples) % 8
    rng.shuffle(y)
    glyphs = np.zeros((8, side, side), dtype=np.float32)
    for c in range(8):
        glyphs[c, 0 : 2 * (c % 4 + 1) : 2, :] = 1.0
        if c >= 4:
            glyphs[c] = glyphs[c].T
    if shift:
        offset = rng.integers(0, size - side + 1, size=(n_samples, 2))
    else:
        offset = np.full((n_samples, 2), (size - side) // 2)
    level = rng.uniform(*brightness, size=n_samples).astype(np.float32)
    X = np.zeros((n_samples, 1, size, size), dtype=np.float32)
    for i in range(n_samples):
        r, c = offset[i]
        X[i, 0, r : r + side, c : c + side] = glyphs[y[i]] * level[i]
    X += rng.normal(0.0, noise, size=X.shape).astype(np.float32)
    X = np.clip(X, 0.0, 1.0)
    spec = {"horizontal bars": [0, 1, 2, 3], "vertical bars": [4, 5, 6, 7]}
    names = [f"{k} {'vertical' if c >= 4 else 'horizontal'} bar{'s' * (k > 1)}"
             for c in range(8) for k in [c % 4 + 1]]  # fmt: skip
    tree = hierarchy_from_spec(spec, names)
    return SyntheticSet(X, y.astype(np.int64), (y // 4).astype(np.int64), tree)


class NuisanceDigits(Digits):
    """``"nuisance-digits"``: the digits' fixed train/test split, each image rendered
    :attr:`copies` times as a 3x12x12 RGB image with random colour, background gradient,
    brightness and position (:func:`add_nuisances`; seed 0 for train, 1 for test)."""

    name = "nuisance-digits"
    description = (
        "bundled digits as 3x12x12 RGB with random colour, background, brightness, position "
        "(4 renderings each)"
    )
    how_to_get = "nothing to get: rendered from scikit-learn's bundled digits"
    sample_shape = (3, 12, 12)
    copies: ClassVar[int] = 4
    seeds: ClassVar[dict[str, int]] = {"train": 0, "test": 1}

    def _read(
        self, directory: Path, split: str, limit: int | None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        X, y, _ = super()._read(directory, split, None)
        s = add_nuisances(
            X, y, size=self.sample_shape[1], copies=self.copies, random_state=self.seeds[split]
        )
        return s.X[:limit], s.y[:limit], {}
