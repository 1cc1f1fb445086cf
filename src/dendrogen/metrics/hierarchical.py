"""Dendrogram purity (DP) and leaf purity (LP) for trees and SciPy linkages (metrics.md §1-2).

Named hierarchical.py, not purity.py: a submodule called purity would shadow the function
``dendrogen.metrics.purity`` as soon as it is imported.

Both work from class counts per node, never from pairs of points: DP groups the same-class pairs
by their lowest common ancestor (LCA), and the number of class-k pairs whose LCA is v follows from
the class-k counts of v and of its children.
"""

from __future__ import annotations

from typing import overload

import numpy as np
from numpy.typing import ArrayLike

from dendrogen.metrics._validation import (
    check_tree,
    encode_labels,
    node_ids,
    positions,
    same_length,
)
from dendrogen.metrics.clustering import _contingency, _majority_fraction
from dendrogen.tree import Tree

__all__ = [
    "dendrogram_purity",
    "leaf_purity",
    "linkage_dendrogram_purity",
    "linkage_leaf_purity",
    "tree_dendrogram_purity",
    "tree_leaf_purity",
    "truncate_linkage",
]

# Rows of class-count blocks are processed so that one block holds about this many counts.
_BLOCK = 1 << 22


# ---------------------------------------------------------------------------------- trees
def _tree_counts(
    tree: Tree, leaf_of_point: ArrayLike, y: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated per-node class counts.

    Returns:
        ``(parent, own, counts, leaf_pos, y_codes)``: ``parent`` (V,) positions (breadth-first,
        root at 0, -1 at the root); ``own`` (V, C) class counts of the points assigned to each
        node; ``counts`` (V, C) class counts of all points below each node; ``leaf_pos`` (N,)
        position of each point's leaf; ``y_codes`` (N,) classes as 0..C-1.
    """
    tree = check_tree(tree)
    leaves = node_ids(leaf_of_point, "leaf_of_point")
    y_codes, n_classes = encode_labels(y, "y")
    same_length(leaf_of_point=leaves, y=y_codes)
    ids, parent = tree.to_parent_array()
    pos = positions(ids, leaves, "leaf_of_point")
    n_nodes = len(ids)
    has_child = np.zeros(n_nodes, dtype=bool)
    has_child[parent[parent >= 0]] = True
    if has_child[pos].any():
        bad = np.unique(leaves[has_child[pos]])[:10].tolist()
        raise ValueError(f"leaf_of_point assigns points to internal nodes {bad}; use leaves")
    own = _contingency(pos, y_codes, n_nodes, n_classes)
    counts = own.copy()
    # Breadth-first order puts parents before children, so one reversed pass sums subtrees.
    for i in range(n_nodes - 1, 0, -1):
        counts[parent[i]] += counts[i]
    return parent, own, counts, pos, y_codes


def tree_dendrogram_purity(tree: Tree, leaf_of_point: ArrayLike, y: ArrayLike) -> float:
    """Dendrogram purity of a tree whose leaves hold points (metrics.md §1a).

    Args:
        tree: the tree; pass-through nodes and empty leaves are allowed.
        leaf_of_point: (N,) the leaf id of each point (hard assignment).
        y: (N,) true labels.

    Returns:
        DP in [0, 1], NaN when no two points share a class. Cost O(N + V*C).
    """
    parent, own, counts, _, y_codes = _tree_counts(tree, leaf_of_point, y)
    child_sq = np.zeros_like(counts)
    np.add.at(child_sq, parent[1:], counts[1:] ** 2)
    # Class-k pairs whose LCA is v: pairs among v's own points, own x children, across children.
    pairs = (counts**2 - child_sq - own) // 2
    size = counts.sum(axis=1)
    used = size > 0
    numerator = ((pairs * counts).sum(axis=1)[used] / size[used]).sum()
    return _divide_by_pairs(float(numerator), y_codes)


def _divide_by_pairs(numerator: float, y_codes: np.ndarray) -> float:
    n_k = np.bincount(y_codes).astype(np.int64)
    total_pairs = int((n_k * (n_k - 1) // 2).sum())
    return float("nan") if total_pairs == 0 else numerator / total_pairs


def tree_leaf_purity(tree: Tree, leaf_of_point: ArrayLike, y: ArrayLike) -> float:
    """Leaf purity: ``(1/N) sum_leaves max_k n_leaf,k`` (metrics.md §2); empty leaves add 0.

    Args:
        tree: the tree.
        leaf_of_point: (N,) the leaf id of each point.
        y: (N,) true labels.
    """
    _, own, _, _, _ = _tree_counts(tree, leaf_of_point, y)
    return _majority_fraction(own)


# ---------------------------------------------------------------------------------- linkages
def _check_linkage(Z: ArrayLike) -> np.ndarray:
    """Z as float64 (N-1, 4) after SciPy's checks plus integer ids and consistent sizes."""
    from scipy.cluster.hierarchy import is_valid_linkage

    try:
        Z = np.asarray(Z, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"a linkage matrix must be numeric: {err}") from err
    if Z.ndim != 2 or Z.shape[1] != 4:
        raise ValueError(f"a linkage matrix has shape (N-1, 4), got {Z.shape}")
    if Z.shape[0] == 0:
        raise ValueError("a linkage matrix needs at least two observations (one row)")
    if not np.isfinite(Z[:, [0, 1, 3]]).all() or np.isnan(Z[:, 2]).any():
        raise ValueError("the linkage matrix contains NaN or infinite ids, heights or sizes")
    try:
        is_valid_linkage(Z, throw=True, name="Z")
    except (TypeError, ValueError) as err:
        raise ValueError(f"invalid linkage matrix: {err}") from err
    if (Z[:, [0, 1, 3]] != np.round(Z[:, [0, 1, 3]])).any():
        raise ValueError("invalid linkage matrix: cluster ids and sizes must be integers")
    n = Z.shape[0] + 1
    a, b = Z[:, 0].astype(np.int64), Z[:, 1].astype(np.int64)
    size = np.concatenate([np.ones(n, dtype=np.int64), Z[:, 3].astype(np.int64)])
    wrong = np.flatnonzero(size[n:] != size[a] + size[b])
    if wrong.size:
        r = int(wrong[0])
        raise ValueError(
            f"invalid linkage matrix: row {r} says size {size[n + r]}, but its clusters "
            f"hold {size[a[r]]} + {size[b[r]]} points"
        )
    return Z


def _linkage_layout(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every cluster of a dendrogram is a run of consecutive points in its left-to-right order.

    Returns:
        ``(order, start, size)``: ``order`` (N,) the points left to right (``Z[r, 0]`` drawn
        left, as in ``scipy.cluster.hierarchy.leaves_list``); ``start`` and ``size`` (2N-1,) the
        first position and the number of points of every point and cluster id.
    """
    n = Z.shape[0] + 1
    a, b = Z[:, 0].astype(np.int64), Z[:, 1].astype(np.int64)
    size = np.concatenate([np.ones(n, dtype=np.int64), Z[:, 3].astype(np.int64)])
    start = [0] * (2 * n - 1)
    # Top-down: a child's run starts where its parent's does, the right one after the left run.
    a_list, b_list, size_list = a.tolist(), b.tolist(), size.tolist()
    for r in range(n - 2, -1, -1):
        s = start[n + r]
        start[a_list[r]] = s
        start[b_list[r]] = s + size_list[a_list[r]]
    start_arr = np.array(start, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    order[start_arr[:n]] = np.arange(n)
    return order, start_arr, size


def linkage_dendrogram_purity(Z: ArrayLike, y: ArrayLike, n_leaves: int | None = None) -> float:
    """Dendrogram purity of a SciPy linkage (metrics.md §1b).

    Args:
        Z: (N-1, 4) linkage matrix, e.g. ``scipy.cluster.hierarchy.linkage(X, "ward")``.
        y: (N,) true labels of the N observations.
        n_leaves: if given, score the dendrogram truncated to this many leaves
            (:func:`truncate_linkage`), as the TreeVAE protocol does; if None, the full
            dendrogram with one point per leaf.

    Returns:
        DP in [0, 1], NaN when no two points share a class. Cost O(N*C) time.
    """
    Z = _check_linkage(Z)
    y_codes, n_classes = encode_labels(y, "y")
    n = Z.shape[0] + 1
    if len(y_codes) != n:
        raise ValueError(f"the linkage has {n} observations but y has {len(y_codes)} labels")
    if n_leaves is not None:
        tree, leaf_of_point = truncate_linkage(Z, n_leaves)
        return tree_dendrogram_purity(tree, leaf_of_point, y_codes)
    order, start, size = _linkage_layout(Z)
    a, b = Z[:, 0].astype(np.int64), Z[:, 1].astype(np.int64)
    # Class counts of a run [s, s+m) are differences of prefix counts over the leaf order.
    # Per merge of clusters a and b, the class-k pairs with this LCA number cnt_a[k]*cnt_b[k],
    # and each has purity (cnt_a[k]+cnt_b[k])/size.
    numer = np.zeros(n - 1, dtype=np.int64)
    y_ordered = y_codes[order]
    block = max(1, _BLOCK // n)
    for k0 in range(0, n_classes, block):
        k1 = min(n_classes, k0 + block)
        onehot = np.zeros((n + 1, k1 - k0), dtype=np.int64)
        in_block = (y_ordered >= k0) & (y_ordered < k1)
        onehot[1:][np.flatnonzero(in_block), y_ordered[in_block] - k0] = 1
        prefix = np.cumsum(onehot, axis=0, out=onehot)
        cnt_a = prefix[start[a] + size[a]] - prefix[start[a]]
        cnt_b = prefix[start[b] + size[b]] - prefix[start[b]]
        numer += (cnt_a * cnt_b * (cnt_a + cnt_b)).sum(axis=1)
    return _divide_by_pairs(float((numer / (size[a] + size[b])).sum()), y_codes)


def truncate_linkage(Z: ArrayLike, n_leaves: int) -> tuple[Tree, np.ndarray]:
    """Cut a dendrogram to its top ``n_leaves`` leaves (metrics.md §1b, baselines.md §0.3).

    The last ``n_leaves - 1`` rows of Z are the internal nodes; every point or cluster they
    reference that was created earlier becomes a leaf holding its points (the partition of
    ``scipy.cluster.hierarchy.cut_tree(Z, n_clusters=n_leaves)`` for monotone linkages).

    Args:
        Z: (N-1, 4) linkage matrix.
        n_leaves: number of leaves, 1 <= n_leaves <= N.

    Returns:
        ``(tree, leaf_of_point)``: node ids are linkage ids (a point ``i < N`` or the cluster
        ``N + r`` made by row r), children ``Z[r, 0]`` then ``Z[r, 1]``; ``leaf_of_point`` (N,)
        int64 is the leaf of each point.
    """
    Z = _check_linkage(Z)
    n = Z.shape[0] + 1
    if isinstance(n_leaves, bool) or not isinstance(n_leaves, int | np.integer):
        raise ValueError(f"n_leaves must be an integer, got {n_leaves!r}")
    if not 1 <= n_leaves <= n:
        raise ValueError(f"n_leaves must be between 1 and N = {n}, got {n_leaves}")
    n_leaves = int(n_leaves)
    parents: dict[int, int | None] = {2 * n - 2: None}
    first = n - n_leaves  # the first row kept as an internal node
    for r in range(first, n - 1):
        for c in (int(Z[r, 0]), int(Z[r, 1])):
            parents[c] = n + r
    tree = Tree.from_parents(parents)
    # With n_leaves == 1 this is the root alone, which then holds every point.
    leaves = np.array([c for c in parents if c < n + first], dtype=np.int64)
    order, start, size = _linkage_layout(Z)
    # The leaves' runs tile the leaf order, so sorting them by start lays out every point.
    leaves = leaves[np.argsort(start[leaves])]
    leaf_of_point = np.empty(n, dtype=np.int64)
    leaf_of_point[order] = np.repeat(leaves, size[leaves])
    return tree, leaf_of_point


def linkage_leaf_purity(Z: ArrayLike, y: ArrayLike, n_leaves: int) -> float:
    """Leaf purity of a dendrogram truncated to ``n_leaves`` leaves (metrics.md §2).

    Args:
        Z: (N-1, 4) linkage matrix.
        y: (N,) true labels.
        n_leaves: the leaf budget (the compared model's number of leaves).
    """
    Z = _check_linkage(Z)
    y_codes, _ = encode_labels(y, "y")
    if len(y_codes) != Z.shape[0] + 1:
        raise ValueError(
            f"the linkage has {Z.shape[0] + 1} observations but y has {len(y_codes)} labels"
        )
    tree, leaf_of_point = truncate_linkage(Z, n_leaves)
    return tree_leaf_purity(tree, leaf_of_point, y_codes)


# ---------------------------------------------------------------------------------- dispatch
@overload
def dendrogram_purity(tree: Tree, leaf_of_point: ArrayLike, y: ArrayLike, /) -> float: ...
@overload
def dendrogram_purity(Z: ArrayLike, y: ArrayLike, /, *, n_leaves: int | None = None) -> float: ...
def dendrogram_purity(
    tree_or_linkage: Tree | ArrayLike, *arrays: ArrayLike, n_leaves: int | None = None
) -> float:
    """Dendrogram purity (DP, metrics.md §1).

    Two forms:

    - ``dendrogram_purity(tree, leaf_of_point, y)``: a :class:`~dendrogen.tree.Tree` whose
      leaves hold points; ``leaf_of_point`` (N,) leaf ids, ``y`` (N,) labels.
    - ``dendrogram_purity(Z, y, n_leaves=None)``: a SciPy linkage matrix (N-1, 4) and labels
      (N,); with ``n_leaves`` the dendrogram is truncated first (:func:`truncate_linkage`).

    Returns:
        The mean, over same-class pairs, of the purity of their LCA's points in their class;
        NaN when no two points share a class.
    """
    if isinstance(tree_or_linkage, Tree):
        if len(arrays) != 2 or n_leaves is not None:
            raise ValueError("call dendrogram_purity(tree, leaf_of_point, y) for a Tree")
        return tree_dendrogram_purity(tree_or_linkage, arrays[0], arrays[1])
    if len(arrays) != 1:
        raise ValueError("call dendrogram_purity(Z, y, n_leaves=None) for a linkage matrix")
    return linkage_dendrogram_purity(tree_or_linkage, arrays[0], n_leaves)


@overload
def leaf_purity(tree: Tree, leaf_of_point: ArrayLike, y: ArrayLike, /) -> float: ...
@overload
def leaf_purity(Z: ArrayLike, y: ArrayLike, /, *, n_leaves: int) -> float: ...
def leaf_purity(
    tree_or_linkage: Tree | ArrayLike, *arrays: ArrayLike, n_leaves: int | None = None
) -> float:
    """Leaf purity (LP, metrics.md §2): ``(1/N) sum_leaves max_k n_leaf,k``.

    Two forms: ``leaf_purity(tree, leaf_of_point, y)`` and ``leaf_purity(Z, y, n_leaves=K)``
    (a linkage truncated to K leaves; K is required, since every full-dendrogram leaf is pure).
    """
    if isinstance(tree_or_linkage, Tree):
        if len(arrays) != 2 or n_leaves is not None:
            raise ValueError("call leaf_purity(tree, leaf_of_point, y) for a Tree")
        return tree_leaf_purity(tree_or_linkage, arrays[0], arrays[1])
    if len(arrays) != 1:
        raise ValueError("call leaf_purity(Z, y, n_leaves=K) for a linkage matrix")
    if n_leaves is None:
        raise ValueError("leaf_purity of a linkage needs n_leaves (the model's leaf budget)")
    return linkage_leaf_purity(tree_or_linkage, arrays[0], n_leaves)
