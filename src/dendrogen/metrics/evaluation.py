"""One call that computes every metric the given inputs allow."""

from __future__ import annotations

from numpy.typing import ArrayLike

from dendrogen.metrics.clustering import cluster_accuracy, nmi, purity
from dendrogen.metrics.hierarchical import (
    linkage_dendrogram_purity,
    tree_dendrogram_purity,
    tree_leaf_purity,
    truncate_linkage,
)
from dendrogen.metrics.tree_distance import TreeLike, d_tree
from dendrogen.tree import Tree

__all__ = ["evaluate"]


def evaluate(
    y: ArrayLike,
    pred: ArrayLike | None = None,
    tree: Tree | None = None,
    leaf_of_point: ArrayLike | None = None,
    true_tree: TreeLike | None = None,
    *,
    true_node_of_point: ArrayLike | None = None,
    linkage: ArrayLike | None = None,
    n_leaves: int | None = None,
    contract_unary: bool = True,
) -> dict[str, float]:
    """Every metric that applies to the inputs, as a dict of floats.

    Args:
        y: (N,) true labels.
        pred: (N,) flat cluster labels. Defaults to ``leaf_of_point`` when a tree is given.
        tree: a learned Tree whose leaves hold the points; needs ``leaf_of_point``.
        leaf_of_point: (N,) leaf id of each point in ``tree``.
        true_tree: the true hierarchy for D_tree (Tree, mapping or parent array); when None,
            D_tree uses the flat tree root -> classes of ``y``.
        true_node_of_point: (N,) each point's node in ``true_tree``; defaults to ``y`` (true
            trees whose leaves are the classes).
        linkage: a SciPy linkage (N-1, 4) instead of ``tree``: with ``n_leaves`` it is truncated
            to a tree (then treated as ``tree``); without, only the full-dendrogram DP is given.
        n_leaves: leaf budget for truncating ``linkage``.
        contract_unary: passed to :func:`~dendrogen.metrics.d_tree`.

    Returns:
        A subset of ``{"dp", "lp", "acc", "acc_m2o", "nmi", "purity", "d_tree"}``: DP and LP
        and D_tree with a tree; ACC (Hungarian), many-to-one ACC, NMI and purity with flat
        clusters (``pred``, else the leaves).
    """
    if linkage is not None:
        if tree is not None or leaf_of_point is not None:
            raise ValueError("give either linkage or tree and leaf_of_point, not both")
        if n_leaves is None:
            result = {"dp": linkage_dendrogram_purity(linkage, y)}
            if pred is not None:
                result.update(_flat(y, pred))
            return result
        tree, leaf_of_point = truncate_linkage(linkage, n_leaves)
    elif n_leaves is not None:
        raise ValueError("n_leaves applies only to a linkage")
    if (tree is None) != (leaf_of_point is None):
        raise ValueError("tree and leaf_of_point go together: give both or neither")
    if tree is None and (true_tree is not None or true_node_of_point is not None):
        raise ValueError("D_tree needs the learned tree and leaf_of_point")
    if true_node_of_point is not None and true_tree is None:
        raise ValueError("true_node_of_point needs true_tree")
    if tree is None and pred is None:
        raise ValueError("nothing to evaluate: give pred, tree and leaf_of_point, or linkage")
    result: dict[str, float] = {}
    if tree is not None:
        result["dp"] = tree_dendrogram_purity(tree, leaf_of_point, y)
        result["lp"] = tree_leaf_purity(tree, leaf_of_point, y)
        truth = y if true_node_of_point is None else true_node_of_point
        result["d_tree"] = d_tree(
            tree, leaf_of_point, truth, true_tree, contract_unary=contract_unary
        )
    result.update(_flat(y, leaf_of_point if pred is None else pred))
    return result


def _flat(y: ArrayLike, pred: ArrayLike) -> dict[str, float]:
    return {
        "acc": cluster_accuracy(y, pred, mapping="hungarian"),
        "acc_m2o": cluster_accuracy(y, pred, mapping="many_to_one"),
        "nmi": nmi(y, pred),
        "purity": purity(y, pred),
    }
