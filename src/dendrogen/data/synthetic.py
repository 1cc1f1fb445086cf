"""Synthetic data sets with a known class hierarchy, for tests, examples and quick checks.

- :func:`make_hierarchical` : vectors or small images built from coarse prototypes × fine
  variations, so a good model groups the fine classes of one coarse class together.
- :func:`make_colour_shapes` : small RGB images whose nested class is the shape (blobs: disc,
  square, diamond; strokes: plus, cross, ring) under strong nuisances that carry no class
  information: hue, brightness, background colour and position, for the contrastive TreeVAE.
- :func:`make_breaths` : breath-like 2-channel sequences (flow, pressure; 200 points) in 10
  classes and 3 super-classes named as the HTVAE paper's private ventilator data (htvae.md §8),
  for the 1-D convolutional models.

All are deterministic given ``random_state`` and return float32 inputs in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dendrogen.data.hierarchies import hierarchy_from_spec
from dendrogen.tree import Tree

__all__ = [
    "BREATH_CLASSES",
    "BREATH_SPEC",
    "COLOUR_SHAPES",
    "SyntheticSet",
    "make_breaths",
    "make_colour_shapes",
    "make_hierarchical",
]

#: the ten breath classes in the paper's order (htvae.md §8).
BREATH_CLASSES: tuple[str, ...] = (
    "normal breathing", "speaking", "coughing", "snoring", "apnea",
    "lying down", "turning left", "turning right", "knees to chest", "swallowing",
)  # fmt: skip

#: the super-classes of htvae.md §8.
BREATH_SPEC = {
    "normal breathing": [0],
    "respiratory events": [1, 2, 3, 4, 9],
    "movement/positioning": [5, 6, 7, 8],
}


@dataclass
class SyntheticSet:
    """Arrays of a synthetic data set.

    Attributes:
        X: (N, *shape) float32 in [0, 1].
        y: (N,) int64 fine class.
        y_coarse: (N,) int64 coarse class (super-class).
        hierarchy: the true class hierarchy (leaves = fine class ids), for D_tree.
    """

    X: np.ndarray
    y: np.ndarray
    y_coarse: np.ndarray
    hierarchy: Tree


def _rng(random_state: int | np.random.Generator | None) -> np.random.Generator:
    return (
        random_state
        if isinstance(random_state, np.random.Generator)
        else (np.random.default_rng(random_state))
    )


def make_hierarchical(
    n_samples: int = 600,
    n_coarse: int = 3,
    n_fine: int = 3,
    n_features: int = 64,
    noise: float = 0.05,
    fine_scale: float = 0.35,
    image: bool = False,
    random_state: int | np.random.Generator | None = 0,
) -> SyntheticSet:
    """Vectors (or images) from ``n_coarse`` prototypes × ``n_fine`` variations each.

    A coarse prototype is a random pattern in [0.1, 0.9]; each fine class adds its own smaller
    pattern (``fine_scale`` of the coarse spread) to it, and each sample adds Gaussian noise.
    Distances are thus large between coarse classes and small between the fine classes of one
    coarse class: the hierarchy is root → coarse → fine.

    Args:
        n_samples: N, spread evenly over the n_coarse·n_fine fine classes.
        n_features: D for vectors; with ``image=True`` it must be a square (e.g. 64 → 8×8).
        noise: std of the per-sample noise.
        image: return (N, 1, s, s) instead of (N, D).

    Returns:
        A :class:`SyntheticSet`; fine class ``c`` belongs to coarse class ``c // n_fine``.
    """
    if n_coarse < 1 or n_fine < 1 or n_samples < 1:
        raise ValueError("n_samples, n_coarse and n_fine must be >= 1")
    rng = _rng(random_state)
    n_classes = n_coarse * n_fine
    coarse = rng.uniform(0.1, 0.9, size=(n_coarse, n_features))
    fine = rng.normal(0.0, fine_scale * 0.25, size=(n_classes, n_features))
    centres = coarse[np.arange(n_classes) // n_fine] + fine
    y = np.arange(n_samples) % n_classes
    rng.shuffle(y)
    X = centres[y] + rng.normal(0.0, noise, size=(n_samples, n_features))
    X = np.clip(X, 0.0, 1.0).astype(np.float32)
    if image:
        side = round(np.sqrt(n_features))
        if side * side != n_features:
            raise ValueError(f"image=True needs a square n_features, got {n_features}")
        X = X.reshape(n_samples, 1, side, side)
    spec = {f"coarse {c}": list(range(c * n_fine, (c + 1) * n_fine)) for c in range(n_coarse)}
    tree = hierarchy_from_spec(spec, [f"class {k}" for k in range(n_classes)])
    return SyntheticSet(X, y.astype(np.int64), (y // n_fine).astype(np.int64), tree)


# Per super-class: breathing cycles in the window, pressure level, inspiratory fraction.
_BREATH_SUPER = {0: (1.0, 0.25, 0.40), 1: (2.0, 0.55, 0.35), 2: (1.5, 0.85, 0.50)}


def make_breaths(
    n_samples: int = 1000,
    length: int = 200,
    noise: float = 0.03,
    random_state: int | np.random.Generator | None = 0,
) -> SyntheticSet:
    """Breath-like recordings: (N, 2, length) flow and pressure in 10 classes, 3 super-classes.

    Each super-class fixes the breathing rhythm (cycles per window), the pressure level and the
    inspiratory fraction; each class within it adds its own amplitude envelope, phase and
    high-frequency ripple (speaking, snoring...) or event (a cough spike, a swallow notch, an
    apnea's flat stretch, a posture's pressure drift). Per-sample jitter of amplitude, phase and
    rhythm plus Gaussian noise make the classes overlap a little. Each channel is min-max
    scaled to [0, 1] over the whole set, as htvae.md §8 scales the real recordings.

    Returns:
        A :class:`SyntheticSet` with class ids of :data:`BREATH_CLASSES` and super-classes in the
        order of :data:`BREATH_SPEC`.
    """
    if n_samples < 1 or length < 8:
        raise ValueError("n_samples must be >= 1 and length >= 8")
    rng = _rng(random_state)
    super_of = np.empty(10, dtype=np.int64)
    for s, members in enumerate(BREATH_SPEC.values()):
        super_of[members] = s
    y = np.arange(n_samples) % 10
    rng.shuffle(y)
    s = super_of[y]
    t = np.linspace(0.0, 1.0, length)[None, :]  # (1, T)
    cycles = np.array([_BREATH_SUPER[int(k)][0] for k in range(3)])[s][:, None]
    level = np.array([_BREATH_SUPER[int(k)][1] for k in range(3)])[s][:, None]
    cycles = cycles * rng.uniform(0.95, 1.05, size=(n_samples, 1))
    phase = rng.uniform(-0.15, 0.15, size=(n_samples, 1)) + 0.35 * (y[:, None] % 4)
    amp = rng.uniform(0.85, 1.15, size=(n_samples, 1))
    carrier = np.sin(2 * np.pi * cycles * t + phase)
    # Class-specific amplitude envelopes and events (vectorised by class masks).
    env = np.ones((n_samples, length))
    extra = np.zeros((n_samples, length))
    drift = np.zeros((n_samples, length))

    def on(k: int) -> np.ndarray:
        return y == k

    env[on(1)] = 0.8 + 0.2 * np.sin(2 * np.pi * 3 * t)  # speaking: modulated
    extra[on(1)] = 0.25 * np.sin(2 * np.pi * 14 * t)[0]
    spike = np.exp(-(((t - 0.6) / 0.03) ** 2))[0]
    extra[on(2)] = 1.5 * spike  # coughing: a sharp expiratory burst
    extra[on(3)] = 0.3 * np.sin(2 * np.pi * 28 * t)[0] * (carrier[on(3)] > 0)  # snoring
    env[on(4)] = np.where(t < 0.5, 1.0, 0.1)[0]  # apnea: breathing stops half-way
    notch = 1.0 - 0.9 * np.exp(-(((t - 0.3) / 0.05) ** 2))[0]
    env[on(9)] = notch  # swallowing: a short interruption
    drift[on(5)] = -0.3 * t[0]  # lying down: pressure falls
    drift[on(6)] = 0.3 * np.sin(np.pi * t)[0]  # turning left: a bump
    drift[on(7)] = -0.3 * np.sin(np.pi * t)[0]  # turning right: a dip
    env[on(8)] = 0.5 + t[0]  # knees to chest: growing effort
    flow = amp * env * carrier + extra
    pressure = level + 0.15 * amp * env * np.clip(carrier, 0.0, None) + drift
    X = np.stack([flow, pressure], axis=1)
    X = X + rng.normal(0.0, noise, size=X.shape)
    lo = X.min(axis=(0, 2), keepdims=True)
    hi = X.max(axis=(0, 2), keepdims=True)
    X = ((X - lo) / (hi - lo)).astype(np.float32)
    tree = hierarchy_from_spec(BREATH_SPEC, BREATH_CLASSES)
    return SyntheticSet(X, y.astype(np.int64), s.astype(np.int64), tree)


#: the shapes of :func:`make_colour_shapes`, per super-class (filled blobs, thin strokes).
COLOUR_SHAPES: dict[str, tuple[str, ...]] = {
    "blob": ("disc", "square", "diamond"),
    "stroke": ("plus", "cross", "ring"),
}


def _shape_masks(
    shape: np.ndarray, dx: np.ndarray, dy: np.ndarray, radius: np.ndarray, softness: float
) -> np.ndarray:
    """Soft masks in [0, 1] of each sample's shape; dx, dy (N, S, S) are pixel offsets from its
    centre, radius (N, 1, 1) its size; shape (N,) indexes the flattened :data:`COLOUR_SHAPES`."""
    r = radius
    half = 0.18 * r  # half the width of a stroke
    euclid = np.hypot(dx, dy)
    inside = np.empty_like(dx)  # signed distance to the edge, positive inside
    dist = {
        0: r - euclid,  # disc
        1: 0.85 * r - np.maximum(np.abs(dx), np.abs(dy)),  # square
        2: 1.2 * r - (np.abs(dx) + np.abs(dy)),  # diamond
        3: np.maximum(  # plus: a horizontal and a vertical bar
            np.minimum(half - np.abs(dy), r - np.abs(dx)),
            np.minimum(half - np.abs(dx), r - np.abs(dy)),
        ),
        4: np.maximum(  # cross: the plus turned by 45 degrees
            np.minimum(half - np.abs(dx - dy) / np.sqrt(2), r - np.abs(dx + dy) / np.sqrt(2)),
            np.minimum(half - np.abs(dx + dy) / np.sqrt(2), r - np.abs(dx - dy) / np.sqrt(2)),
        ),
        5: half - np.abs(euclid - 0.8 * r),  # ring
    }
    for k, value in dist.items():
        rows = shape == k
        inside[rows] = value[rows]
    return 1.0 / (1.0 + np.exp(-inside / softness))


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV arrays (N,) in [0, 1] → RGB (N, 3)."""
    i = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack([np.stack(c, 1) for c in ((v, t, p), (q, v, p), (p, v, t),
                                               (p, q, v), (t, p, v), (v, p, q))], 1)  # fmt: skip
    return table[np.arange(len(h)), i]


def make_colour_shapes(
    n_samples: int = 1000,
    n_fine: int = 2,
    size: int = 16,
    shift: float = 3.0,
    noise: float = 0.03,
    random_state: int | np.random.Generator | None = 0,
) -> SyntheticSet:
    """RGB images (N, 3, size, size) of one shape each; the class is the shape, nested in two
    super-classes (filled blobs; thin strokes), the rest is nuisance.

    Classes, fine id ``c`` in super-class ``c // n_fine``: disc, square (, diamond) | plus,
    cross (, ring). Per image, independently of the class: the shape's hue (uniform on the
    colour wheel), saturation (0.6–1) and brightness (value 0.55–1); the background's hue
    (uniform), saturation (0–0.6) and brightness (0.05–0.35); the position (centre shifted by
    up to ``shift`` pixels each way); the size (±15 %); pixel noise. Colour and brightness thus
    dominate the pixel variance, while only the shape says the class: a model that clusters
    pixels groups colours, one trained to ignore what :func:`dendrogen.data.augment.
    colour_augment` changes (crop, flip, colour jitter, grayscale) can group shapes.

    Args:
        n_samples: N, spread evenly over the 2·n_fine classes.
        n_fine: classes per super-class, 2 or 3.
        size: image side in pixels (at least 12).
        shift: the largest shift of the centre, in pixels.
        noise: std of the Gaussian pixel noise.
        random_state: seed or Generator.

    Returns:
        A :class:`SyntheticSet` with X float32 in [0, 1].
    """
    if n_fine not in (2, 3):
        raise ValueError(f"n_fine must be 2 or 3, got {n_fine}")
    if n_samples < 1 or size < 12:
        raise ValueError("n_samples must be >= 1 and size >= 12")
    rng = _rng(random_state)
    n_classes = 2 * n_fine
    y = np.arange(n_samples) % n_classes
    rng.shuffle(y)
    coarse = y // n_fine
    shape = coarse * 3 + y % n_fine  # index into the flattened COLOUR_SHAPES
    centre = (size - 1) / 2 + rng.uniform(-shift, shift, size=(n_samples, 2))
    radius = size * 0.3 * rng.uniform(0.85, 1.15, size=(n_samples, 1, 1))
    grid = np.arange(size, dtype=np.float64)
    dx = grid[None, None, :] - centre[:, 0, None, None]
    dy = grid[None, :, None] - centre[:, 1, None, None]
    dx, dy = np.broadcast_arrays(dx, dy)  # (N, S, S) each
    mask = _shape_masks(shape, dx, dy, radius, softness=0.5)[:, None]  # (N, 1, S, S)
    fg = _hsv_to_rgb(rng.uniform(0, 1, n_samples), rng.uniform(0.6, 1.0, n_samples),
                     rng.uniform(0.55, 1.0, n_samples))  # fmt: skip
    bg = _hsv_to_rgb(rng.uniform(0, 1, n_samples), rng.uniform(0.0, 0.6, n_samples),
                     rng.uniform(0.05, 0.35, n_samples))  # fmt: skip
    X = mask * fg[:, :, None, None] + (1 - mask) * bg[:, :, None, None]
    X = X + rng.normal(0.0, noise, size=X.shape)
    X = np.clip(X, 0.0, 1.0).astype(np.float32)
    names = [COLOUR_SHAPES[g][k] for g in COLOUR_SHAPES for k in range(n_fine)]
    spec = {g: list(range(i * n_fine, (i + 1) * n_fine)) for i, g in enumerate(COLOUR_SHAPES)}
    tree = hierarchy_from_spec(spec, names)
    return SyntheticSet(X, y.astype(np.int64), coarse.astype(np.int64), tree)


from dendrogen.data.nuisance import NuisanceSet, make_nuisance_digits  # noqa: E402, F401
