"""A synthetic data set with a known 3-level binary hierarchy, for the clustering tests."""

from __future__ import annotations

import numpy as np

#: Relative class sizes and within-class spreads: unequal on purpose, the case where Ward's
#: minimum-variance merges go wrong (it chops broad, large classes before separating small ones).
SIZES = (8, 1, 4, 1, 6, 2, 1, 3)
SPREADS = (0.9, 0.1, 0.6, 0.1, 0.8, 0.2, 0.1, 0.5)


def make_nested_clusters(
    n: int = 1200,
    scales: tuple[float, float, float] = (6.0, 3.0, 1.5),
    latent_dim: int = 8,
    n_features: int = 16,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Eight Gaussian classes whose centres nest in a binary hierarchy of depth 3.

    A class's centre is the sum over levels of ±scale·(a unit direction chosen per parent
    node), the sign being the branch taken, so classes 2k and 2k+1 are siblings and 0–3 and 4–7
    form the two top-level groups. Points are mapped linearly from ``latent_dim`` to
    ``n_features`` dimensions.

    Returns ``(X, y)``: X (n, n_features) float32, y (n,) int64 in 0..7.
    """
    rng = np.random.default_rng(seed)
    weights = np.asarray(SIZES, float) / sum(SIZES)
    y = rng.choice(8, n, p=weights)
    classes = np.arange(8)
    centre = np.zeros((8, latent_dim))
    for level in range(3):
        dirs = rng.standard_normal((2**level, latent_dim))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        branch = (classes >> (2 - level)) & 1
        centre += scales[level] * (2 * branch - 1)[:, None] * dirs[classes >> (3 - level)]
    latent = centre[y] + np.asarray(SPREADS)[y][:, None] * rng.standard_normal((n, latent_dim))
    mixing = rng.standard_normal((latent_dim, n_features)) / np.sqrt(latent_dim)
    return (latent @ mixing).astype(np.float32), y.astype(np.int64)
