"""Trees over embeddings for the baselines (baselines.md §0.3, §3–5, §8–9): Ward's dendrogram
(SciPy) truncated to m leaves, and divisive trees grown by k-means or Gaussian mixtures
(scikit-learn) whose splits are recorded in order, so that truncating to m leaves keeps the first
m − 1 splits. numpy, SciPy and scikit-learn only.

Shapes: E (N, D) embeddings; node ids are those of a :class:`dendrogen.tree.Tree`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dendrogen.tree import Tree

#: above this many points Ward's O(N²) memory is refused unless ``subsample=True``.
MAX_WARD_POINTS = 20_000


def ward_linkage(E: np.ndarray) -> np.ndarray:
    """``scipy.cluster.hierarchy.linkage(E, "ward")`` of E (N, D) flattened: (N − 1, 4)."""
    from scipy.cluster.hierarchy import linkage

    return linkage(np.asarray(E, dtype=np.float64).reshape(len(E), -1), method="ward")


def ward_cuts(
    E: np.ndarray,
    sizes: list[int],
    *,
    max_points: int = MAX_WARD_POINTS,
    subsample: bool = False,
    random_state: int | None = None,
) -> list[tuple[Tree, np.ndarray]]:
    """Ward's dendrogram of E (N, D) truncated to each leaf count of ``sizes`` (baselines.md
    §0.3), from one linkage: a ``(tree, leaf_of_point)`` per size, leaf_of_point (N,).

    Above ``max_points`` points it raises unless ``subsample``: then Ward runs on
    ``max_points`` random points and every other point goes to the nearest leaf centroid.
    """
    from dendrogen.metrics import truncate_linkage

    E = np.asarray(E, dtype=np.float64).reshape(len(E), -1)
    n = len(E)
    if n < 2:
        raise ValueError(f"got {n} sample; Ward's tree needs at least 2")
    if n <= max_points:
        Z = ward_linkage(E)
        return [truncate_linkage(Z, min(int(m), n)) for m in sizes]
    if not subsample:
        raise ValueError(
            f"Ward linkage on {n} points needs O(N²) memory (~{8 * n * n / 2e9:.1f} GB); above "
            f"max_points={max_points} pass subsample=True (fit on a random subset, assign the "
            f"rest to the nearest leaf centroid)"
        )
    rows = np.random.default_rng(random_state).choice(n, max_points, replace=False)
    Z = ward_linkage(E[rows])
    out = []
    for m in sizes:
        tree, leaf_sub = truncate_linkage(Z, min(int(m), max_points))
        leaves = np.asarray(tree.leaves, dtype=np.int64)
        centres = np.stack([E[rows][leaf_sub == leaf].mean(0) for leaf in leaves])
        leaf_of_point = leaves[nearest(E, centres)]
        leaf_of_point[rows] = leaf_sub
        out.append((tree, leaf_of_point))
    return out


def nearest(E: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (K, D) of each row of E (N, D): (N,)."""
    d = (E**2).sum(1)[:, None] - 2 * E @ centres.T + (centres**2).sum(1)[None, :]
    return d.argmin(1)


def tree_scores(
    tree: Tree, leaf_of_point: np.ndarray, flat: np.ndarray, y: np.ndarray
) -> dict[str, float]:
    """DP and LP of ``tree`` with ``leaf_of_point``; ACC (Hungarian) and NMI of ``flat``."""
    from dendrogen.metrics import cluster_accuracy, nmi, tree_dendrogram_purity, tree_leaf_purity

    return {
        "dp": tree_dendrogram_purity(tree, leaf_of_point, y),
        "lp": tree_leaf_purity(tree, leaf_of_point, y),
        "acc": cluster_accuracy(y, flat),
        "nmi": nmi(y, flat),
    }


def ward_scores(E: np.ndarray, y: np.ndarray, n_leaves: int, **options: Any) -> dict[str, float]:
    """The TreeVAE protocol for Ward on E (N, D) with labels y (N,): DP and LP of the tree
    truncated to ``n_leaves`` leaves, ACC and NMI of the cut into as many clusters as classes.
    ``options`` go to :func:`ward_cuts`."""
    y = np.asarray(y)
    (tree, leaf_of_point), (_, flat) = ward_cuts(E, [n_leaves, len(np.unique(y))], **options)
    return tree_scores(tree, leaf_of_point, flat, y)


@dataclass
class Split:
    """One recorded split: ``node`` got ``children`` (one per kept component, in order).

    ``means`` (k, D) are the k-means centres or mixture means; ``variances`` (k, D) and
    ``log_weights`` (k,) are set for diagonal Gaussian mixtures (None for k-means). Components
    that got no training point are dropped (``children`` and the arrays list the kept ones).
    """

    node: int
    children: list[int]
    means: np.ndarray
    variances: np.ndarray | None = None
    log_weights: np.ndarray | None = None

    def assign(self, E: np.ndarray) -> np.ndarray:
        """Position in ``children`` of each row of E (N, D): k-means' nearest centre, or the
        mixture's most responsible component (``GaussianMixture.predict``)."""
        if self.variances is None:
            return nearest(E, self.means)
        logp = -0.5 * (
            np.log(2 * np.pi * self.variances).sum(1)[None, :]
            + (((E[:, None, :] - self.means[None]) ** 2) / self.variances[None]).sum(2)
        )
        return (logp + self.log_weights[None, :]).argmax(1)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"node": self.node, "children": self.children,
                               "means": self.means.tolist()}  # fmt: skip
        if self.variances is not None:
            out["variances"] = self.variances.tolist()
            out["log_weights"] = self.log_weights.tolist()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Split:
        arr = lambda key: None if d.get(key) is None else np.asarray(d[key], float)  # noqa: E731
        return cls(int(d["node"]), [int(c) for c in d["children"]], arr("means"),
                   arr("variances"), arr("log_weights"))  # fmt: skip


def _fit_split(E: np.ndarray, k: int, method: str, n_init: int, seed: int) -> Split | None:
    """k-means or a diagonal mixture with k components on E; None when fewer than 2 of them
    receive points."""
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    if method == "kmeans":
        model = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(E)
        split = Split(-1, [], model.cluster_centers_.astype(float))
    else:
        model = GaussianMixture(k, covariance_type="diag", n_init=n_init, random_state=seed).fit(E)
        split = Split(-1, [], model.means_.astype(float), model.covariances_.astype(float),
                      np.log(model.weights_))  # fmt: skip
    used = np.unique(split.assign(E))
    if len(used) < 2:
        return None
    split.means = split.means[used]
    if split.variances is not None:
        split.variances, split.log_weights = split.variances[used], split.log_weights[used]
    return split


def _sse(E: np.ndarray) -> float:
    return float(((E - E.mean(0)) ** 2).sum()) if len(E) else 0.0


def grow_divisive(
    E: np.ndarray,
    *,
    method: str = "kmeans",
    mode: str = "bisect",
    n_leaves: int = 20,
    branching: tuple[int, ...] = (4, 4, 4),
    n_init: int = 10,
    random_state: int | None = None,
) -> tuple[Tree, list[Split]]:
    """Grow a divisive tree on E (N, D) (baselines.md §8–9).

    ``mode="bisect"``: split the leaf with the largest SSE in two until there are ``n_leaves``
    (leaves with fewer than 2 distinct points are never split). ``mode="levels"``: level l
    splits every node into ``branching[l]`` (a node with fewer points stays a leaf).
    Returns the tree and its splits in the order they were made.
    """
    E = np.asarray(E, dtype=np.float64).reshape(len(E), -1)
    base = 0 if random_state is None else int(random_state)
    tree = Tree()
    members = {tree.root: np.arange(len(E))}
    splits: list[Split] = []

    def split(node: int, k: int) -> bool:
        rows = members[node]
        if len(rows) < k or len(np.unique(E[rows], axis=0)) < 2:
            return False
        found = _fit_split(E[rows], k, method, n_init, base + len(splits))
        if found is None:
            return False
        which = found.assign(E[rows])
        found.node = node
        for pos in range(len(found.means)):
            child = tree.add_child(node)
            found.children.append(child)
            members[child] = rows[which == pos]
        splits.append(found)
        return True

    if mode == "levels":
        frontier = [tree.root]
        for k in branching:
            frontier = [c for node in frontier if split(node, int(k)) for c in tree.children(node)]
        return tree, splits
    blocked: set[int] = set()
    while tree.n_leaves < n_leaves:
        open_leaves = [leaf for leaf in tree.leaves if leaf not in blocked]
        if not open_leaves:
            break
        leaf = max(open_leaves, key=lambda node: _sse(E[members[node]]))
        if not split(leaf, 2):
            blocked.add(leaf)
    return tree, splits


def truncate_splits(splits: list[Split], n_leaves: int | None) -> tuple[Tree, list[Split]]:
    """The tree of the first splits that make at most ``n_leaves`` leaves (all when None)."""
    tree, kept, leaves = Tree(), [], 1
    for s in splits:
        if n_leaves is not None and leaves + len(s.children) - 1 > n_leaves:
            break
        for child in s.children:
            tree.add_child(s.node, child)
        kept.append(s)
        leaves += len(s.children) - 1
    return tree, kept


def descend(splits: list[Split], E: np.ndarray, root: int = 0) -> np.ndarray:
    """The leaf each row of E (N, D) reaches by following ``splits`` from the root: (N,)."""
    E = np.asarray(E, dtype=np.float64).reshape(len(E), -1)
    node = np.full(len(E), root, dtype=np.int64)
    for s in splits:  # a parent's split always precedes its children's
        here = np.flatnonzero(node == s.node)
        if len(here):
            node[here] = np.asarray(s.children)[s.assign(E[here])]
    return node


__all__ = [
    "MAX_WARD_POINTS",
    "Split",
    "descend",
    "grow_divisive",
    "nearest",
    "tree_scores",
    "truncate_splits",
    "ward_cuts",
    "ward_linkage",
    "ward_scores",
]
