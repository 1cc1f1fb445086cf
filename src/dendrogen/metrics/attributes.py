"""Attribute frequencies per leaf: the paper's CelebA table (TreeVAE, Table 3).

For data without classes but with binary attributes (CelebA's 40), a leaf is described by the
fraction of its points that have each attribute.
"""

from __future__ import annotations

import numpy as np

__all__ = ["leaf_attribute_frequencies"]


def leaf_attribute_frequencies(
    leaf_of_point: np.ndarray, attributes: np.ndarray, n_leaves: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The fraction of each leaf's points that have each attribute.

    Args:
        leaf_of_point: (N,) cluster label in 0..L-1 of every point (e.g. ``predict``).
        attributes: (N, K) binary attributes in {0, 1}.
        n_leaves: L; default ``leaf_of_point.max() + 1``.

    Returns:
        ``(freq, counts)``: freq (L, K) float64, NaN for a leaf without points; counts (L,)
        int64, the points of each leaf.
    """
    leaf = np.asarray(leaf_of_point)
    A = np.asarray(attributes)
    if leaf.ndim != 1 or A.ndim != 2 or len(leaf) != len(A):
        raise ValueError(
            f"leaf_of_point must be (N,) and attributes (N, K) with the same N, got shapes "
            f"{leaf.shape} and {A.shape}"
        )
    if len(leaf) == 0:
        raise ValueError("leaf_of_point is empty")
    if not np.issubdtype(leaf.dtype, np.integer) or leaf.min() < 0:
        raise ValueError("leaf_of_point must hold non-negative integer labels")
    if not np.isin(A, (0, 1)).all():
        raise ValueError("attributes must be binary (0 or 1)")
    L = int(leaf.max()) + 1 if n_leaves is None else int(n_leaves)
    if leaf.max() >= L:
        raise ValueError(f"leaf_of_point has label {leaf.max()} >= n_leaves={L}")
    counts = np.bincount(leaf, minlength=L).astype(np.int64)
    sums = np.zeros((L, A.shape[1]))
    np.add.at(sums, leaf, A.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        freq = sums / counts[:, None]
    freq[counts == 0] = np.nan
    return freq, counts
