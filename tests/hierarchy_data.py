"""A synthetic data set with a known 3-level binary hierarchy, for the clustering tests.

Each of the 2**depth classes is the sum, over levels, of ±scale·(a direction chosen per parent
node): the sign is the branch taken at that level, so classes sharing a parent share the coarse
part of their mean. A strong *unimodal* nuisance factor is added along one more direction. Ward
linkage, which greedily minimises variance, cuts along that nuisance; a mixture model gains
nothing from splitting a unimodal factor and should split the real clusters instead.
"""

from __future__ import annotations

import numpy as np

from dendrogen.tree import Tree


def make_nested_blobs(
    n: int = 2000,
    depth: int = 3,
    latent_dim: int = 6,
    n_features: int = 16,
    scales: tuple[float, ...] = (4.0, 2.0, 1.0),
    noise: float = 0.25,
    nuisance: float = 3.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, Tree]:
    """Returns ``(X, y, true_tree)``: X (n, n_features) float32, y (n,) in 0..2**depth-1, and
    the true hierarchy as a Tree whose leaves 0..2**depth-1 are the classes."""
    rng = np.random.default_rng(seed)
    n_classes = 2**depth
    y = rng.integers(0, n_classes, n)
    latent = noise * rng.standard_normal((n, latent_dim))
    for level in range(depth):
        dirs = rng.standard_normal((2**level, latent_dim))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        branch = (y >> (depth - 1 - level)) & 1
        parent = y >> (depth - level)
        latent += scales[level] * (2 * branch - 1)[:, None] * dirs[parent]
    u = rng.standard_normal(latent_dim)
    latent += nuisance * rng.standard_normal(n)[:, None] * (u / np.linalg.norm(u))
    mixing = rng.standard_normal((latent_dim, n_features)) / np.sqrt(latent_dim)
    X = latent @ mixing + 0.05 * rng.standard_normal((n, n_features))
    parents = {0: None}
    for node in range(1, 2 ** (depth + 1) - 1):
        parents[node] = (node - 1) // 2
    heap_tree = Tree.from_parents(parents)
    # Relabel: heap leaves (2**depth - 1 ...) become class ids 0..n_classes-1.
    first_leaf = n_classes - 1
    relabel = {node: (node - first_leaf if node >= first_leaf else n_classes + node)
               for node in parents}  # fmt: skip
    tree = Tree.from_parents({relabel[c]: (None if p is None else relabel[p])
                              for c, p in parents.items()})  # fmt: skip
    del heap_tree
    return X.astype(np.float32), y.astype(np.int64), tree


def make_stroke_images(n: int = 1200, size: int = 8, jitter: int = 1, seed: int = 0):
    """8×8 images in 8 classes with a 3-level hierarchy: stroke orientation (horizontal or
    vertical), stroke position (first or second half of the image) and stroke count (one or two
    parallel strokes). Each image is shifted by up to ``jitter`` pixels across its strokes and
    gets random contrast and noise, so raw-pixel distances mix the classes while a generative
    model can explain the shift as a continuous factor.

    Returns ``(X, y)``: X (n, 1, size, size) float32 in [0, 1], y (n,) with y = 4·orientation +
    2·position + count, so classes 2k, 2k+1 share a parent and 0-3, 4-7 share a grandparent.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 8, n)
    vertical, second_half, double = (y >> 2) & 1, (y >> 1) & 1, y & 1
    X = np.zeros((n, size, size), dtype=np.float32)
    base = np.where(second_half == 1, size // 2 + 1, 1)
    shift = rng.integers(-jitter, jitter + 1, n)
    rows = np.arange(n)
    for k in (0, 1):
        line = np.clip(base + shift + 2 * k, 0, size - 1)
        draw = (k == 0) | (double == 1)
        X[rows[draw & (vertical == 0)], line[draw & (vertical == 0)], :] = 1.0
        X[rows[draw & (vertical == 1)], :, line[draw & (vertical == 1)]] = 1.0
    contrast = rng.uniform(0.6, 1.0, (n, 1, 1))
    X = np.clip(X * contrast + 0.08 * rng.standard_normal(X.shape), 0, 1).astype(np.float32)
    return X[:, None], y.astype(np.int64)
