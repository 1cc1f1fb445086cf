"""The Tree type: structure queries, editing, JSON and linkage conversions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.cluster.hierarchy import dendrogram, is_valid_linkage, leaves_list, linkage

from dendrogen.tree import Tree


def example() -> Tree:
    """0 -> (1, 2); 1 -> (3, 4); 2 -> (5, 6); 5 -> (7, 8), built by splitting leaves."""
    tree = Tree()
    assert tree.add_children(0) == (1, 2)
    assert tree.add_children(1) == (3, 4)
    assert tree.add_children(2) == (5, 6)
    assert tree.add_children(5) == (7, 8)
    return tree


def random_tree(seed: int, n_splits: int = 12) -> Tree:
    rng = np.random.default_rng(seed)
    tree = Tree()
    for _ in range(n_splits):
        tree.add_children(int(rng.choice(tree.leaves)))
    return tree


def test_ids_parents_children_depth():
    tree = example()
    assert tree.root == 0 and len(tree) == 9
    assert tree.nodes == [0, 1, 2, 3, 4, 5, 6, 7, 8]  # breadth-first
    assert tree.parent(0) is None and tree.parent(7) == 5
    assert tree.children(2) == [5, 6] and tree.children(3) == []
    assert [tree.depth(v) for v in tree.nodes] == [0, 1, 1, 2, 2, 2, 2, 3, 3]
    assert tree.is_leaf(4) and not tree.is_leaf(5)
    assert tree.max_depth == 3 and tree.n_leaves == 5
    assert tree.internal_nodes == [0, 1, 2, 5]
    assert 8 in tree and 9 not in tree
    with pytest.raises(KeyError):
        tree.parent(9)


def test_leaves_order_and_traversals():
    tree = example()
    assert tree.leaves == [3, 4, 7, 8, 6]  # left to right
    assert list(tree.dfs()) == [0, 1, 3, 4, 2, 5, 7, 8, 6]
    assert tree.descendants(2) == [2, 5, 7, 8, 6]
    assert tree.leaves_under(2) == [7, 8, 6]


def test_paths_lca_distance():
    tree = example()
    assert tree.path_to_root(8) == [8, 5, 2, 0]
    assert tree.path_from_root(8) == [0, 2, 5, 8]
    assert tree.lca(7, 8) == 5 and tree.lca(7, 6) == 2 and tree.lca(3, 8) == 0
    assert tree.lca(5, 7) == 5 and tree.lca(4, 4) == 4
    assert tree.distance(3, 8) == 5 and tree.distance(7, 6) == 3 and tree.distance(5, 5) == 0
    assert tree.is_ancestor(2, 8) and tree.is_ancestor(8, 8) and not tree.is_ancestor(1, 8)


def test_add_children_only_on_leaves():
    tree = example()
    assert tree.add_children(3) == (9, 10)
    assert tree.children(3) == [9, 10] and tree.parent(10) == 3
    with pytest.raises(ValueError, match="not a leaf"):
        tree.add_children(5)
    with pytest.raises(KeyError):
        tree.add_children(99)
    with pytest.raises(ValueError, match="already exists"):
        tree.add_child(4, node=5)
    assert tree.add_child(4, node=20) == 20 and tree.new_id() == 21


def test_remove_leaf_collapse_splices_the_parent():
    tree = example()
    removed = tree.remove_leaf(8, collapse=True)
    assert removed == [8, 5]
    assert tree.children(2) == [7, 6]  # 7 takes 5's place, order kept
    assert tree.parent(7) == 2 and 5 not in tree and 8 not in tree
    # Ids are never reused.
    assert tree.add_children(7) == (9, 10)


def test_remove_leaf_without_collapse_keeps_pass_through():
    tree = example()
    assert tree.remove_leaf(8, collapse=False) == [8]
    assert tree.children(5) == [7] and not tree.is_leaf(5)
    # Removing the only child of a pass-through node removes the node too.
    assert tree.remove_leaf(7, collapse=False) == [7, 5]
    assert tree.children(2) == [6]
    with pytest.raises(ValueError, match="not a leaf"):
        tree.remove_leaf(2)
    lone = Tree()
    with pytest.raises(ValueError):
        lone.remove_leaf(0)


def test_merge_children_makes_a_node_a_leaf_again():
    tree = example()
    with pytest.raises(ValueError, match="must all be leaves"):
        tree.merge_children(2)  # its child 5 is not a leaf
    assert tree.merge_children(5) == [7, 8]
    assert tree.is_leaf(5) and 7 not in tree and 8 not in tree
    with pytest.raises(ValueError, match="needs children"):
        tree.merge_children(5)
    assert tree.add_children(5) == (9, 10)  # ids are never reused


def test_remove_leaf_collapse_at_the_root():
    tree = Tree()
    tree.add_children(0)
    assert tree.remove_leaf(1) == [1, 0]
    assert tree.root == 2 and tree.parent(2) is None and len(tree) == 1


def test_contract_unary():
    tree = example()
    tree.remove_leaf(8, collapse=False)  # 5 -> 7 is now a pass-through
    chain = tree.add_child(6)  # 6 -> 9 too
    tree.add_child(chain)  # and 9 -> 10
    contracted = tree.contract_unary()
    assert contracted.children(2) == [7, 10]
    assert contracted.leaves == [3, 4, 7, 10]
    assert all(len(contracted.children(v)) != 1 for v in contracted.nodes)
    assert tree.children(5) == [7]  # the original is untouched
    # A one-child root is replaced too.
    top = Tree()
    top.add_child(0)
    top.add_children(1)
    assert top.contract_unary().root == 1


def test_json_round_trip_with_attrs():
    tree = example()
    tree.remove_leaf(4)  # gaps in ids and a changed root child
    tree.attrs(2)["name"] = "clothes"
    tree.attrs(7).update(code=[1, 2], weight=0.5)
    text = tree.to_json()
    assert json.loads(text)["format"] == "dendrogen.tree/1"
    back = Tree.from_json(text)
    assert back == tree
    assert back.nodes == tree.nodes and back.leaves == tree.leaves
    assert back.attrs(2) == {"name": "clothes"} and back.attrs(7) == {"code": [1, 2], "weight": 0.5}
    assert back.attrs(6) == {}
    assert back.new_id() == tree.new_id()  # removed ids stay retired after loading
    with pytest.raises(ValueError, match="not a dendrogen tree"):
        Tree.from_dict({"nodes": [{"id": 0}]})


def test_from_parents_forms_and_errors():
    tree = Tree.from_parents([-1, 0, 0, 1, 1])
    assert tree.children(0) == [1, 2] and tree.children(1) == [3, 4]
    mapping = Tree.from_parents({5: None, 9: 5, 7: 5})
    assert mapping.root == 5 and mapping.children(5) == [9, 7]
    with pytest.raises(ValueError, match="cycle"):
        Tree.from_parents({0: None, 1: 2, 2: 1})
    with pytest.raises(ValueError, match="cycle"):
        Tree.from_parents({0: None, 1: 1})
    with pytest.raises(ValueError, match="exactly one root"):
        Tree.from_parents([-1, -1, 0])
    with pytest.raises(ValueError, match="exactly one root"):
        Tree.from_parents({0: 1, 1: 0})
    with pytest.raises(ValueError, match="not a node"):
        Tree.from_parents({0: None, 1: 3})


def test_from_parents_handles_deep_chains():
    # A caterpillar of 20,000 nodes (single-linkage-like) must load in linear time.
    n = 20_000
    tree = Tree.from_parents([-1, *range(n - 1)])
    assert len(tree) == n and tree.leaves == [n - 1]


@pytest.mark.parametrize("method", ["ward", "single", "average"])
def test_from_linkage_round_trip(method):
    rng = np.random.default_rng(0)
    Z = linkage(rng.normal(size=(30, 2)), method)
    tree = Tree.from_linkage(Z)
    n = 30
    assert tree.root == 2 * n - 2 and len(tree) == 2 * n - 1
    for r, (a, b) in enumerate(Z[:, :2].astype(int)):
        assert tree.children(n + r) == [a, b]  # Z[r, 0] on the left
    assert tree.leaves == leaves_list(Z).tolist()
    Z2 = tree.to_linkage()
    assert is_valid_linkage(Z2)
    # Same hierarchy: leaves of to_linkage are tree.leaves (= the points, in leaf order).
    back = Tree.from_linkage(Z2)
    assert back.n_leaves == n
    relabel = dict(enumerate(tree.leaves))
    clusters = {frozenset(relabel[i] for i in back.leaves_under(v)) for v in back.nodes}
    assert clusters == {frozenset(tree.leaves_under(v)) for v in tree.nodes}


def test_from_linkage_keeps_left_child_first():
    Z = np.array([[0, 1, 0.5, 2], [2, 3, 0.5, 2], [6, 4, 1.0, 3], [5, 7, 2.0, 5]])
    tree = Tree.from_linkage(Z)
    assert tree.children(7) == [6, 4]
    assert tree.leaves == [0, 1, 2, 3, 4] == leaves_list(Z).tolist()


def test_from_linkage_refuses_bad_rows():
    with pytest.raises(ValueError, match="shape"):
        Tree.from_linkage(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="not yet created"):
        Tree.from_linkage(np.array([[0, 3, 1.0, 2], [1, 2, 2.0, 3]]))
    with pytest.raises(ValueError, match="second time"):
        Tree.from_linkage(np.array([[0, 1, 1.0, 2], [0, 2, 2.0, 3]]))


@pytest.mark.parametrize("seed", range(5))
def test_to_linkage_is_valid_and_drawn_in_leaf_order(seed):
    tree = random_tree(seed)
    Z = tree.to_linkage()
    assert Z.shape == (tree.n_leaves - 1, 4) and Z.dtype == np.float64
    assert is_valid_linkage(Z)
    drawn = dendrogram(Z, no_plot=True)["leaves"]
    assert [tree.leaves[i] for i in drawn] == tree.leaves
    assert leaves_list(Z).tolist() == list(range(tree.n_leaves))


def test_to_linkage_handles_pass_through_and_wide_nodes():
    tree = Tree()
    kids = [tree.add_child(0) for _ in range(4)]  # a four-way node
    tree.add_child(kids[1])  # a pass-through
    Z = tree.to_linkage()
    assert is_valid_linkage(Z) and Z.shape == (3, 4)
    drawn = dendrogram(Z, no_plot=True)["leaves"]
    assert [tree.leaves[i] for i in drawn] == tree.leaves
    with pytest.raises(ValueError, match="two leaves"):
        Tree().to_linkage()


def test_to_sklearn_shapes():
    tree = random_tree(1)
    children, distances = tree.to_sklearn()
    n = tree.n_leaves
    assert children.shape == (n - 1, 2) and children.dtype == np.int64
    assert distances.shape == (n - 1,)
    assert np.all(np.diff(distances) >= 0)
    assert sorted(children.ravel().tolist()) == list(range(2 * n - 2))


def sklearn_linkage(children: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """The linkage matrix of scikit-learn's ``plot_dendrogram`` example, from children_."""
    n = len(children) + 1
    counts = np.zeros(len(children))
    for i, merge in enumerate(children):
        counts[i] = sum(1 if c < n else counts[c - n] for c in merge)
    return np.column_stack([children, distances, counts]).astype(float)


def point_clusters(tree: Tree, point_of_leaf: dict | None = None) -> set[frozenset]:
    """Every node's set of points below it (leaf ids, or ``point_of_leaf[leaf]``)."""
    name = (lambda v: v) if point_of_leaf is None else point_of_leaf.__getitem__
    return {frozenset(name(leaf) for leaf in tree.leaves_under(v)) for v in tree.nodes}


@pytest.mark.parametrize("seed", range(3))
def test_to_sklearn_matches_agglomerative_clustering_conventions(seed):
    from sklearn.cluster import AgglomerativeClustering

    # A Tree's children_ / distances_, read back as scikit-learn's are: the same hierarchy.
    tree = random_tree(seed)
    Z = sklearn_linkage(*tree.to_sklearn())
    np.testing.assert_array_equal(Z, tree.to_linkage())
    observation = dict(enumerate(tree.leaves))  # observation i of the arrays is leaves[i]
    assert point_clusters(Tree.from_linkage(Z), observation) == point_clusters(tree)
    # A fitted AgglomerativeClustering's arrays -> Tree -> arrays keeps every cluster.
    X = np.random.default_rng(seed).normal(size=(15, 2))
    model = AgglomerativeClustering(n_clusters=None, distance_threshold=0.0).fit(X)
    fitted = Tree.from_linkage(sklearn_linkage(model.children_, model.distances_))
    again = Tree.from_linkage(sklearn_linkage(*fitted.to_sklearn()))
    assert point_clusters(again, dict(enumerate(fitted.leaves))) == point_clusters(fitted)


def test_parent_array_copy_equality_and_format():
    tree = example()
    ids, parent = tree.to_parent_array()
    assert ids.tolist() == tree.nodes
    assert parent.tolist() == [-1, 0, 0, 1, 1, 2, 2, 5, 5]
    other = tree.copy()
    assert other == tree
    other.add_children(3)
    assert other != tree and tree.is_leaf(3)
    assert tree.heights()[0] == 3 and tree.heights()[7] == 0
    assert tree.format().splitlines()[:3] == ["0", "  1", "    3"]
    assert "n_leaves=5" in repr(tree)
