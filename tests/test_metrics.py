"""Hierarchy metrics (DP, LP, truncation, D_tree) against brute-force pairwise references."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import deque

import numpy as np
import pytest
from scipy.cluster.hierarchy import cut_tree, leaves_list, linkage

from dendrogen.metrics import (
    d_tree,
    dendrogram_purity,
    leaf_purity,
    node_distances,
    purity,
    truncate_linkage,
)
from dendrogen.tree import Tree

SEEDS = range(100)
WORKED_Z = np.array([[0, 1, 0.5, 2], [2, 3, 0.5, 2], [6, 4, 1.0, 3], [5, 7, 2.0, 5]])
WORKED_Y = np.array([0, 0, 0, 1, 1])


# ---------------------------------------------------------------------------------- brute force
def ancestors(parent_of: dict, node) -> list:
    path = [node]
    while parent_of[path[-1]] is not None:
        path.append(parent_of[path[-1]])
    return path


def brute_dp(parent_of: dict, node_of_point, y) -> float:
    """Mean over same-class pairs of the class purity of the points under their LCA."""
    n = len(y)
    paths = [ancestors(parent_of, v) for v in node_of_point]
    below: dict = {}
    for a, path in enumerate(paths):
        for v in path:
            below.setdefault(v, []).append(a)
    total, n_pairs = 0.0, 0
    for a in range(n):
        on_a = set(paths[a])
        for b in range(a + 1, n):
            if y[a] != y[b]:
                continue
            lca = next(v for v in paths[b] if v in on_a)
            under = below[lca]
            total += sum(y[i] == y[a] for i in under) / len(under)
            n_pairs += 1
    return total / n_pairs if n_pairs else float("nan")


def brute_lp(leaves, node_of_point, y) -> float:
    total = 0
    for leaf in leaves:
        classes = [y[a] for a in range(len(y)) if node_of_point[a] == leaf]
        if classes:
            total += max(classes.count(k) for k in set(classes))
    return total / len(y)


def brute_dp_vectorized(parent: np.ndarray, node_of_point: np.ndarray, y: np.ndarray) -> float:
    """The same pairwise definition, vectorised over pairs so that N = 1,797 stays fast.

    ``parent`` is indexed by node id (-1 at the root); every pair's two nodes walk up their
    ancestor lists, the deeper one first, until they meet.
    """
    n_nodes, n = len(parent), len(y)
    parent_of = {i: (None if p < 0 else int(p)) for i, p in enumerate(parent)}
    depth = np.array([len(ancestors(parent_of, v)) - 1 for v in range(n_nodes)])
    counts = np.zeros((n_nodes, y.max() + 1))
    cur, pts = node_of_point.copy(), np.arange(n)
    while cur.size:
        np.add.at(counts, (cur, y[pts]), 1)
        keep = parent[cur] >= 0
        cur, pts = parent[cur][keep], pts[keep]
    a, b = np.triu_indices(n, 1)
    same = y[a] == y[b]
    a, b = a[same], b[same]
    u, v = node_of_point[a], node_of_point[b]
    while (diff := u != v).any():
        up_u = diff & (depth[u] >= depth[v])
        up_v = diff & (depth[v] > depth[u])
        u[up_u] = parent[u[up_u]]
        v[up_v] = parent[v[up_v]]
    return float(np.mean(counts[u, y[a]] / counts[u].sum(axis=1)))


def linkage_parents(Z: np.ndarray) -> np.ndarray:
    n = len(Z) + 1
    parent = np.full(2 * n - 1, -1)
    for r, (a, b) in enumerate(Z[:, :2].astype(int)):
        parent[a] = parent[b] = n + r
    return parent


def bfs_distances(edges: list[tuple], source) -> dict:
    """Shortest path lengths from ``source`` in the undirected graph of ``edges``."""
    adj: dict = {}
    for u, v in edges:
        adj.setdefault(u, []).append(v)
        adj.setdefault(v, []).append(u)
    dist = {source: 0}
    queue = deque([source])
    while queue:
        u = queue.popleft()
        for w in adj.get(u, []):
            if w not in dist:
                dist[w] = dist[u] + 1
                queue.append(w)
    return dist


def tree_edges(parent_of: dict) -> list[tuple]:
    """Edges of a tree or forest; several roots hang from an added virtual root."""
    roots = [v for v, p in parent_of.items() if p is None]
    edges = [(v, p) for v, p in parent_of.items() if p is not None]
    if len(roots) > 1:
        edges += [(r, "virtual root") for r in roots]
    return edges


def brute_d_tree(edges_s, nodes_s, edges_t, nodes_t) -> float:
    """(1/N²) ||D_S - D_H||_F² with the full N x N matrices (BFS path lengths)."""
    n = len(nodes_s)
    from_s = {u: bfs_distances(edges_s, u) for u in set(nodes_s)}
    from_t = {t: bfs_distances(edges_t, t) for t in set(nodes_t)}
    D_S = np.array([[from_s[u][v] for v in nodes_s] for u in nodes_s])
    D_H = np.array([[from_t[u][v] for v in nodes_t] for u in nodes_t])
    return float(((D_S - D_H) ** 2).sum() / n**2)


def parent_map(tree: Tree) -> dict:
    return {v: tree.parent(v) for v in tree.nodes}


# ---------------------------------------------------------------------------------- random inputs
def random_tree(rng: np.random.Generator, n_splits: int) -> Tree:
    """A tree grown by splitting random leaves, with some pass-through nodes."""
    tree = Tree()
    for _ in range(n_splits):
        leaf = int(rng.choice(tree.leaves))
        if rng.random() < 0.15:
            tree.add_child(leaf)  # a one-child chain link
        else:
            tree.add_children(leaf)
    for _ in range(int(rng.integers(0, 3))):
        if tree.n_leaves > 2:
            tree.remove_leaf(int(rng.choice(tree.leaves)), collapse=False)
    return tree


def random_points(rng: np.random.Generator, tree: Tree, n_max: int = 90):
    """Leaf assignments (some leaves left empty) and labels with arbitrary values."""
    leaves = tree.leaves
    occupied = rng.choice(leaves, size=int(rng.integers(1, len(leaves) + 1)), replace=False)
    n = int(rng.integers(2, n_max))
    leaf_of_point = rng.choice(occupied, size=n)
    n_classes = int(rng.integers(1, 6))
    y = rng.integers(0, n_classes, size=n) * 7 + 3  # values other than 0..C-1
    return leaf_of_point, y


# ---------------------------------------------------------------------------------- worked example
def worked_tree() -> tuple[Tree, np.ndarray]:
    tree = Tree()
    a, v = tree.add_children(tree.root)
    b, c = tree.add_children(v)
    return tree, np.array([a, a, b, b, c])


def test_worked_example_tree():
    tree, leaf_of_point = worked_tree()
    assert dendrogram_purity(tree, leaf_of_point, WORKED_Y) == pytest.approx(43 / 60, abs=1e-12)
    assert leaf_purity(tree, leaf_of_point, WORKED_Y) == pytest.approx(4 / 5, abs=1e-12)


def test_worked_example_linkage():
    assert dendrogram_purity(WORKED_Z, WORKED_Y) == pytest.approx(43 / 60, abs=1e-12)
    # Truncated to the example's three leaves A = {0, 1} (cluster 5), v = {B (6), C (4)}.
    tree, leaf_of_point = truncate_linkage(WORKED_Z, 3)
    assert sorted(tree.leaves) == [4, 5, 6]
    assert leaf_of_point.tolist() == [5, 5, 6, 6, 4]
    assert dendrogram_purity(WORKED_Z, WORKED_Y, n_leaves=3) == pytest.approx(43 / 60, abs=1e-12)
    assert leaf_purity(WORKED_Z, WORKED_Y, n_leaves=3) == pytest.approx(4 / 5, abs=1e-12)


# ---------------------------------------------------------------------------------- random trees
@pytest.mark.parametrize("seed", SEEDS)
def test_tree_metrics_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    tree = random_tree(rng, int(rng.integers(0, 14)))
    leaf_of_point, y = random_points(rng, tree)
    want = brute_dp(parent_map(tree), leaf_of_point, y)
    got = dendrogram_purity(tree, leaf_of_point, y)
    if np.isnan(want):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(want, abs=1e-10)
    lp = leaf_purity(tree, leaf_of_point, y)
    assert lp == pytest.approx(brute_lp(tree.leaves, leaf_of_point, y), abs=1e-10)
    assert lp == pytest.approx(purity(y, leaf_of_point), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_linkage_dp_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 70))
    method = ["ward", "single", "average", "complete", "centroid", "weighted"][seed % 6]
    Z = linkage(rng.normal(size=(n, 2)), method=method)
    y = rng.integers(0, int(rng.integers(1, 5)), size=n)
    parent = linkage_parents(Z)
    parent_of = {i: (None if p < 0 else int(p)) for i, p in enumerate(parent)}
    want = brute_dp(parent_of, np.arange(n), y)
    got = dendrogram_purity(Z, y)
    if np.isnan(want):
        assert np.isnan(got)
        return
    assert got == pytest.approx(want, abs=1e-10)
    assert dendrogram_purity(Z, y, n_leaves=n) == pytest.approx(want, abs=1e-10)
    if seed % 10 == 0:
        assert brute_dp_vectorized(parent, np.arange(n), y) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_truncated_linkage_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 70))
    Z = linkage(rng.normal(size=(n, 3)), method=["ward", "average", "single"][seed % 3])
    y = rng.integers(0, 4, size=n)
    m = int(rng.integers(1, n + 1))
    tree, leaf_of_point = truncate_linkage(Z, m)
    # Independently: walk each point up while its parent was created before the kept rows.
    parent = linkage_parents(Z)
    first_kept = 2 * n - m  # id of the first cluster that stays an internal node
    want_leaf = []
    for i in range(n):
        v = i
        while parent[v] >= 0 and parent[v] < first_kept:
            v = parent[v]
        want_leaf.append(v)
    assert leaf_of_point.tolist() == want_leaf
    assert tree.n_leaves == m and set(tree.leaves) == set(want_leaf)
    for v in tree.nodes:
        if v != tree.root:
            assert tree.parent(v) == parent[v]
    # Same partition as SciPy's cut_tree (monotone linkages).
    cut = cut_tree(Z, n_clusters=m).ravel()
    assert len(np.unique(cut)) == m
    assert len(set(zip(cut.tolist(), want_leaf, strict=True))) == m
    want = brute_dp(parent_map(tree), leaf_of_point, y)
    got = dendrogram_purity(Z, y, n_leaves=m)
    assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want, abs=1e-10)
    assert leaf_purity(Z, y, n_leaves=m) == pytest.approx(
        brute_lp(tree.leaves, leaf_of_point, y), abs=1e-10
    )


# ---------------------------------------------------------------------------------- invariances
def test_pure_leaves_in_pure_subtrees_give_one():
    tree = Tree()
    left, right = tree.add_children(tree.root)
    ll, lr = tree.add_children(left)
    leaf_of_point = np.array([ll, ll, lr, right, right, right])
    y = np.array([0, 0, 0, 1, 1, 1])
    assert dendrogram_purity(tree, leaf_of_point, y) == 1.0
    assert leaf_purity(tree, leaf_of_point, y) == 1.0


@pytest.mark.parametrize("seed", range(10))
def test_dp_invariant_to_relabelling_ids_order_and_pass_through(seed):
    rng = np.random.default_rng(seed)
    tree = random_tree(rng, 8)
    leaf_of_point, y = random_points(rng, tree)
    base = dendrogram_purity(tree, leaf_of_point, y)
    perm = rng.permutation(20)
    assert dendrogram_purity(tree, leaf_of_point, perm[(y - 3) // 7]) == pytest.approx(base)
    assert dendrogram_purity(tree, leaf_of_point, [f"c{v}" for v in y]) == pytest.approx(base)
    # Renumbered node ids and reversed child order describe the same hierarchy.
    new_id = {v: 1000 - 3 * v for v in tree.nodes}
    renamed = Tree.from_parents(
        {new_id[v]: (None if tree.parent(v) is None else new_id[tree.parent(v)])
         for v in reversed(tree.nodes)}
    )  # fmt: skip
    mapped = np.array([new_id[v] for v in leaf_of_point])
    assert dendrogram_purity(renamed, mapped, y) == pytest.approx(base, abs=1e-12)
    # Pass-through nodes change nothing: contracting them keeps DP.
    assert dendrogram_purity(tree.contract_unary(), leaf_of_point, y) == pytest.approx(base)
    # Points in the same order or shuffled: same value.
    p = rng.permutation(len(y))
    assert dendrogram_purity(tree, leaf_of_point[p], y[p]) == pytest.approx(base, abs=1e-12)


def test_no_same_class_pair_gives_nan():
    tree, leaf_of_point = worked_tree()
    assert np.isnan(dendrogram_purity(tree, leaf_of_point[:2], [0, 1]))
    assert np.isnan(dendrogram_purity(WORKED_Z[:1], [0, 1]))


def test_tree_from_linkage_gives_linkage_dp():
    rng = np.random.default_rng(3)
    Z = linkage(rng.normal(size=(40, 2)), "average")
    y = rng.integers(0, 3, size=40)
    tree = Tree.from_linkage(Z)
    assert dendrogram_purity(tree, np.arange(40), y) == pytest.approx(dendrogram_purity(Z, y))


# ---------------------------------------------------------------------------------- speed
def test_ward_digits_dp_is_exact_and_fast():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    Z = linkage(X, "ward")
    timings = []
    for _ in range(3):
        t0 = time.perf_counter()
        got = dendrogram_purity(Z, y)
        timings.append(time.perf_counter() - t0)
    assert min(timings) < 1.0
    want = brute_dp_vectorized(linkage_parents(Z), np.arange(len(y)), y)
    assert got == pytest.approx(want, abs=1e-10)
    # The same dendrogram as a Tree gives the same number.
    assert dendrogram_purity(Tree.from_linkage(Z), np.arange(len(y)), y) == pytest.approx(want)


def random_linkage(rng: np.random.Generator, n: int) -> np.ndarray:
    """A valid linkage of random merges, built in O(N) (no distance matrix)."""
    active = list(range(n))
    size = [1] * n + [0] * (n - 1)
    rows = []
    for r in range(n - 1):
        i, j = rng.choice(len(active), size=2, replace=False)
        a, b = active[i], active[j]
        size[n + r] = size[a] + size[b]
        rows.append([a, b, float(r), size[n + r]])
        active[i] = n + r
        active.pop(j)
    return np.array(rows)


def test_dp_of_10k_point_linkage_under_a_second():
    rng = np.random.default_rng(0)
    Z = random_linkage(rng, 10_000)
    y = rng.integers(0, 10, size=10_000)
    t0 = time.perf_counter()
    got = dendrogram_purity(Z, y)
    assert time.perf_counter() - t0 < 1.0
    assert 0.0 < got < 1.0
    assert leaves_list(Z).shape == (10_000,)


# ---------------------------------------------------------------------------------- D_tree
@pytest.mark.parametrize("seed", SEEDS)
def test_d_tree_matches_full_matrices(seed):
    rng = np.random.default_rng(seed)
    learned = random_tree(rng, int(rng.integers(0, 10)))
    true = random_tree(rng, int(rng.integers(0, 10)))
    n = int(rng.integers(1, 60))
    node_s = rng.choice(learned.leaves, size=n)
    # True nodes may be internal (coarse labels); the true tree is taken as given.
    node_t = rng.choice(true.nodes, size=n)
    contracted = learned.contract_unary()
    want = brute_d_tree(
        tree_edges(parent_map(contracted)), list(node_s), tree_edges(parent_map(true)), list(node_t)
    )
    assert d_tree(learned, node_s, node_t, true) == pytest.approx(want, abs=1e-10)
    # Without contraction, learned points may sit on any node, internal ones included.
    node_any = rng.choice(learned.nodes, size=n)
    want = brute_d_tree(
        tree_edges(parent_map(learned)), list(node_any), tree_edges(parent_map(true)), list(node_t)
    )
    got = d_tree(learned, node_any, node_t, true, contract_unary=False)
    assert got == pytest.approx(want, abs=1e-10)
    # Flat labels: the true tree root -> classes.
    y = rng.integers(0, 4, size=n)
    flat = tree_edges({"root": None, **{f"class {k}": "root" for k in range(4)}})
    want = brute_d_tree(
        tree_edges(parent_map(contracted)), list(node_s), flat, [f"class {k}" for k in y]
    )
    assert d_tree(learned, node_s, y) == pytest.approx(want, abs=1e-10)


@pytest.mark.parametrize("seed", range(20))
def test_d_tree_forest_gets_virtual_root(seed):
    rng = np.random.default_rng(seed)
    # A forest of 2-4 random trees, as an HTVAE hierarchy of maps would be: {node: parent}.
    forest: dict = {}
    offset = 0
    for _ in range(int(rng.integers(2, 5))):
        tree = random_tree(rng, int(rng.integers(0, 5)))
        forest.update({v + offset: (None if p is None else p + offset)
                       for v, p in parent_map(tree).items()})  # fmt: skip
        offset += 100
    n = int(rng.integers(1, 50))
    nodes = rng.choice(list(forest), size=n)
    y = rng.integers(0, 3, size=n)
    flat = tree_edges({"root": None, **{k: "root" for k in range(3)}})
    want = brute_d_tree(tree_edges(forest), list(nodes), flat, list(y))
    assert d_tree(forest, nodes, y, contract_unary=False) == pytest.approx(want, abs=1e-10)
    # The parent-array form of the same forest gives the same number.
    ids = sorted(forest)
    index = {v: i for i, v in enumerate(ids)}
    parents = [-1 if forest[v] is None else index[forest[v]] for v in ids]
    got = d_tree(parents, [index[v] for v in nodes], y, contract_unary=False)
    assert got == pytest.approx(want, abs=1e-10)
    # Topological distances equal BFS shortest paths, virtual root included.
    some = list(dict.fromkeys(nodes.tolist()))
    dist = node_distances(forest, some)
    edges = tree_edges(forest)
    for i, u in enumerate(some):
        from_u = bfs_distances(edges, u)
        assert dist[i].tolist() == [from_u[v] for v in some]


def test_d_tree_identical_structures_give_zero():
    rng = np.random.default_rng(0)
    tree = random_tree(rng, 12)
    nodes = rng.choice(tree.nodes, size=80)
    assert d_tree(tree, nodes, nodes, tree, contract_unary=False) == 0.0
    leaf_tree, leaf_of_point = worked_tree()
    # A learned tree root -> leaves matches flat labels exactly.
    flat = Tree()
    kids = [flat.add_child(flat.root) for _ in range(3)]
    assert d_tree(flat, np.array(kids)[WORKED_Y], WORKED_Y) == 0.0
    assert d_tree(leaf_tree, leaf_of_point, leaf_of_point, leaf_tree) == 0.0


def test_d_tree_worked_values():
    tree, leaf_of_point = worked_tree()
    # Learned distances A-B = 3, A-C = 3, B-C = 2; true distances 2 across classes.
    # Ordered pairs: (x0,x1) 0-0; x0/x1 vs x2: 3 vs 0 -> 9 each (4 ordered pairs -> 36);
    # x0/x1 vs x3/x4: 3 vs 2 -> 1 (8 ordered -> 8); x2-x3: 0 vs 2 -> 4 (2 -> 8);
    # x2-x4: 2 vs 2 -> 0; x3-x4: 2 vs 0 -> 4 (2 -> 8). Total 60 / 25.
    assert d_tree(tree, leaf_of_point, WORKED_Y) == pytest.approx(60 / 25)


# ---------------------------------------------------------------------------------- layering
def test_metrics_and_tree_never_import_torch():
    # conftest imports torch into this process, so the check runs in a fresh interpreter.
    code = "import sys, dendrogen.metrics, dendrogen.tree; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
