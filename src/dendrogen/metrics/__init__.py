"""Evaluation metrics (metrics.md): numpy and SciPy only, never torch.

Hierarchy metrics take a :class:`dendrogen.tree.Tree` with a per-point leaf id, or a SciPy
linkage matrix; flat metrics take true labels then cluster labels, as scikit-learn does.

>>> from dendrogen.metrics import dendrogram_purity, cluster_accuracy
>>> dendrogram_purity(Z, y, n_leaves=20)                      # doctest: +SKIP
>>> dendrogram_purity(tree, leaf_of_point, y)                 # doctest: +SKIP
"""

from dendrogen.metrics.attributes import leaf_attribute_frequencies
from dendrogen.metrics.clustering import cluster_accuracy, contingency_matrix, nmi, purity
from dendrogen.metrics.evaluation import evaluate
from dendrogen.metrics.hierarchical import (
    dendrogram_purity,
    leaf_purity,
    linkage_dendrogram_purity,
    linkage_leaf_purity,
    tree_dendrogram_purity,
    tree_leaf_purity,
    truncate_linkage,
)
from dendrogen.metrics.tree_distance import d_tree, node_distances

__all__ = [
    "cluster_accuracy",
    "contingency_matrix",
    "d_tree",
    "dendrogram_purity",
    "evaluate",
    "leaf_attribute_frequencies",
    "leaf_purity",
    "linkage_dendrogram_purity",
    "linkage_leaf_purity",
    "nmi",
    "node_distances",
    "purity",
    "tree_dendrogram_purity",
    "tree_leaf_purity",
    "truncate_linkage",
]
