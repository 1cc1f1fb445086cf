"""Tree distance D_tree between a learned and a true hierarchy (HTVAE eq. 15, metrics.md §6).

``D_tree = (1/N²) sum_{a,b} (d_S(u_a, u_b) - d_H(t_a, t_b))²`` over all ordered pairs of points,
where d is the number of edges between two nodes. The sum is grouped by (learned node, true node)
cells, so the cost depends on the number of occupied nodes, never on N².
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from dendrogen.metrics._validation import encode_labels, lookup, node_ids, same_length, structure
from dendrogen.tree import Tree

__all__ = ["d_tree", "node_distances"]

TreeLike = Tree | Mapping[int, int | None] | ArrayLike


def _node_depths(parent: np.ndarray, contract_unary: bool) -> tuple[np.ndarray, np.ndarray]:
    """Edge lengths and depths, parents before children in ``parent``.

    Contracting a one-child node merges it with its child, so the edge below it has length 0:
    distances then equal those of ``Tree.contract_unary()``, and a point on a contracted node
    counts as being on the node that replaced it.
    """
    n_nodes = len(parent)
    edge = np.ones(n_nodes, dtype=np.int64)
    edge[0] = 0
    if contract_unary:
        n_children = np.bincount(parent[1:], minlength=n_nodes)
        edge[1:] = (n_children[parent[1:]] >= 2).astype(np.int64)
    depth = np.zeros(n_nodes, dtype=np.int64)
    for i in range(1, n_nodes):
        depth[i] = depth[parent[i]] + edge[i]
    return edge, depth


def _distance_matrix(parent: np.ndarray, used: np.ndarray, contract_unary: bool) -> np.ndarray:
    """(len(used), len(used)) int64 path lengths between the nodes at positions ``used``."""
    from scipy.sparse import csr_matrix

    edge, depth = _node_depths(parent, contract_unary)
    # A[i, v] = 1 when v is on the path from used[i] to the root. The edge lengths summed over the
    # common part of two paths give the depth of their LCA.
    rows, cols = [], []
    row = np.arange(len(used))
    cur = used.copy()
    while cur.size:
        rows.append(row)
        cols.append(cur)
        up = parent[cur]
        keep = up >= 0
        row, cur = row[keep], up[keep]
    r, c = np.concatenate(rows), np.concatenate(cols)
    A = csr_matrix((np.ones(len(r)), (r, c)), shape=(len(used), len(parent)))
    lca_depth = (A.multiply(edge[None, :].astype(np.float64)) @ A.T).toarray()
    lca_depth = np.rint(lca_depth).astype(np.int64)
    d = depth[used]
    return d[:, None] + d[None, :] - 2 * lca_depth


def node_distances(tree: TreeLike, nodes: ArrayLike, *, contract_unary: bool = False) -> np.ndarray:
    """Topological distances (number of edges) between nodes of a tree or forest.

    Args:
        tree: a Tree, a mapping ``{node: parent or None}`` or a parent array (``-1`` at roots);
            a forest gets a virtual root whose children are its top nodes.
        nodes: (M,) node ids.
        contract_unary: measure distances in the tree with one-child nodes contracted.

    Returns:
        (M, M) int64 matrix of ``depth(u) + depth(v) - 2 depth(lca(u, v))``.
    """
    ids, parent, virtual = structure(tree, "tree")
    pos = lookup(ids, virtual, node_ids(nodes, "nodes"), "nodes")
    return _distance_matrix(parent, pos, contract_unary)


def d_tree(
    tree: TreeLike,
    node_of_point: ArrayLike,
    true_node_of_point: ArrayLike,
    true_tree: TreeLike | None = None,
    *,
    contract_unary: bool = True,
) -> float:
    """Tree distance D_tree (HTVAE eq. 15), exact, from counts; lower is better.

    Args:
        tree: the learned hierarchy: a Tree, or a forest as a mapping ``{node: parent or None}``
            or a parent array (``-1`` at roots), which gets a virtual root above its top nodes.
        node_of_point: (N,) the learned node of each point (TreeVAE's leaf, HTVAE's S_1 code).
        true_node_of_point: (N,) each point's node in ``true_tree``; when ``true_tree`` is None,
            flat class labels, which form the true tree root -> classes (distances 0 or 2).
        true_tree: the true hierarchy (Tree, mapping or parent array, as ``tree``), or None.
        contract_unary: contract the learned tree's one-child (pass-through) nodes first; a point
            on such a node counts as on the node that replaces it. The true tree is used as given,
            so single-child chains in it (e.g. HTVAE's default MNIST hierarchy) keep their length.

    Returns:
        ``(1/N²) sum over ordered pairs of (d_S - d_H)²``, 0 for identical structures.
    """
    learned = node_ids(node_of_point, "node_of_point")
    ids_s, parent_s, virtual_s = structure(tree, "tree")
    pos_s = lookup(ids_s, virtual_s, learned, "node_of_point")
    if true_tree is None:
        pos_t, n_true = encode_labels(true_node_of_point, "true_node_of_point")
        same_length(node_of_point=learned, true_node_of_point=pos_t)
        used_t = np.arange(n_true)
        dist_t = 2 * (1 - np.eye(n_true, dtype=np.int64))
    else:
        truth = node_ids(true_node_of_point, "true_node_of_point")
        same_length(node_of_point=learned, true_node_of_point=truth)
        ids_t, parent_t, virtual_t = structure(true_tree, "true_tree")
        pos_t = lookup(ids_t, virtual_t, truth, "true_node_of_point")
        used_t, pos_t = np.unique(pos_t, return_inverse=True)
        dist_t = _distance_matrix(parent_t, used_t, contract_unary=False)
    used_s, pos_s = np.unique(pos_s, return_inverse=True)
    dist_s = _distance_matrix(parent_s, used_s, contract_unary)
    n = len(learned)
    cells = np.bincount(
        pos_s.reshape(-1) * len(used_t) + pos_t.reshape(-1), minlength=len(used_s) * len(used_t)
    ).reshape(len(used_s), len(used_t))
    m_s, m_t = cells.sum(axis=1), cells.sum(axis=0)
    # sum (d_S - d_H)² = sum d_S² + sum d_H² - 2 sum d_S d_H; all terms are exact in int64.
    total = (
        m_s @ (dist_s * dist_s) @ m_s
        + m_t @ (dist_t * dist_t) @ m_t
        - 2 * int((cells * (dist_s @ cells @ dist_t)).sum())
    )
    return float(total / (n * n))
