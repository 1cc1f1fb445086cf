"""Flat metrics (ACC, purity, NMI) against brute force and scikit-learn, plus `evaluate`."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage
from sklearn.metrics import normalized_mutual_info_score

from dendrogen.metrics import (
    cluster_accuracy,
    contingency_matrix,
    d_tree,
    dendrogram_purity,
    evaluate,
    leaf_purity,
    nmi,
    purity,
    truncate_linkage,
)
from dendrogen.tree import Tree


def random_labels(seed: int):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    y = rng.integers(0, int(rng.integers(1, 8)), size=n)
    pred = rng.integers(0, int(rng.integers(1, 8)), size=n)
    if seed % 3 == 0:  # predictions that agree with y more than chance
        pred = np.where(rng.random(n) < 0.7, y, pred)
    return y * 5 - 2, pred + 10  # values other than 0..C-1


def brute_accuracy(y, pred) -> float:
    """Best one-to-one matching over all permutations of the padded S x S matrix."""
    classes, clusters = sorted(set(y.tolist())), sorted(set(pred.tolist()))
    s = max(len(classes), len(clusters))
    W = np.zeros((s, s), dtype=int)
    for a, b in zip(pred.tolist(), y.tolist(), strict=True):
        W[clusters.index(a), classes.index(b)] += 1
    perms = np.array(list(itertools.permutations(range(s))))
    return W[np.arange(s), perms].sum(axis=1).max() / len(y)


def brute_m2o(y, pred) -> float:
    correct = 0
    for k in set(pred.tolist()):
        members = y[pred == k].tolist()
        correct += max(members.count(j) for j in set(members))
    return correct / len(y)


def brute_nmi(y, pred) -> float:
    """HTVAE eqs. 12-14 with a double loop over clusters and classes."""
    n = len(y)
    classes, clusters = set(y.tolist()), set(pred.tolist())
    if len(classes) == 1 and len(clusters) == 1:
        return 1.0
    info = 0.0
    for k in clusters:
        for j in classes:
            p_kj = np.sum((pred == k) & (y == j)) / n
            if p_kj > 0:
                info += p_kj * math.log(p_kj / (np.mean(pred == k) * np.mean(y == j)))
    h_pred = -sum(np.mean(pred == k) * math.log(np.mean(pred == k)) for k in clusters)
    h_y = -sum(np.mean(y == j) * math.log(np.mean(y == j)) for j in classes)
    if info == 0.0 or abs(info) < 1e-15:
        return 0.0
    return 2 * info / (h_pred + h_y)


@pytest.mark.parametrize("seed", range(100))
def test_flat_metrics_match_brute_force(seed):
    y, pred = random_labels(seed)
    acc = cluster_accuracy(y, pred)
    m2o = cluster_accuracy(y, pred, mapping="many_to_one")
    assert acc == pytest.approx(brute_accuracy(y, pred), abs=1e-10)
    assert m2o == pytest.approx(brute_m2o(y, pred), abs=1e-10)
    assert purity(y, pred) == m2o
    assert m2o >= acc - 1e-15
    value = nmi(y, pred)
    assert value == pytest.approx(normalized_mutual_info_score(y, pred), abs=1e-10)
    assert value == pytest.approx(brute_nmi(y, pred), abs=1e-10)
    assert nmi(pred, y) == pytest.approx(value, abs=1e-12)  # symmetric


@pytest.mark.parametrize("seed", range(10))
def test_relabelling_invariances(seed):
    y, pred = random_labels(seed)
    rng = np.random.default_rng(seed)
    perm_y = rng.permutation(100)[(y + 2) // 5]
    perm_pred = np.array([f"cluster {v}" for v in rng.permutation(100)[pred - 10]])
    for f in (cluster_accuracy, purity, nmi):
        assert f(perm_y, perm_pred) == pytest.approx(f(y, pred), abs=1e-12)
    # A relabelling of y is a perfect clustering.
    assert cluster_accuracy(y, perm_y) == 1.0
    assert nmi(y, perm_y) == pytest.approx(1.0)


def test_contingency_and_extra_clusters():
    y = np.array(["a", "a", "b", "b", "b"])
    pred = np.array([2, 0, 0, 0, 1])
    assert contingency_matrix(y, pred).tolist() == [[1, 2], [0, 1], [1, 0]]
    # K > C: cluster 1's point stays unmatched and counts as an error.
    assert cluster_accuracy(y, pred) == pytest.approx(3 / 5)
    assert cluster_accuracy(y, pred, mapping="many_to_one") == pytest.approx(4 / 5)


def test_nmi_edge_cases():
    assert nmi([1, 1, 1], [4, 4, 4]) == 1.0
    assert nmi([0, 0, 1, 1], [0, 1, 0, 1]) == 0.0
    assert nmi([0, 1], [5, 5]) == 0.0


# ---------------------------------------------------------------------------------- evaluate
def small_tree():
    tree = Tree()
    a, v = tree.add_children(tree.root)
    b, c = tree.add_children(v)
    return tree, np.array([a, a, b, b, c]), np.array([0, 0, 0, 1, 1])


def test_evaluate_with_tree():
    tree, leaf_of_point, y = small_tree()
    out = evaluate(y, tree=tree, leaf_of_point=leaf_of_point)
    assert set(out) == {"dp", "lp", "acc", "acc_m2o", "nmi", "purity", "d_tree"}
    assert all(isinstance(v, float) for v in out.values())
    assert out["dp"] == pytest.approx(43 / 60)
    assert out["lp"] == out["purity"] == out["acc_m2o"] == pytest.approx(4 / 5)
    assert out["acc"] == cluster_accuracy(y, leaf_of_point)
    assert out["d_tree"] == pytest.approx(d_tree(tree, leaf_of_point, y))
    # With a true tree whose leaves are the classes.
    true = Tree.from_parents({10: None, 0: 10, 1: 10})
    with_true = evaluate(y, tree=tree, leaf_of_point=leaf_of_point, true_tree=true)
    assert with_true["d_tree"] == pytest.approx(out["d_tree"])


def test_evaluate_flat_and_linkage():
    y = np.array([0, 0, 1, 1, 2, 2])
    out = evaluate(y, pred=[1, 1, 0, 0, 2, 2])
    assert out == {"acc": 1.0, "acc_m2o": 1.0, "nmi": 1.0, "purity": 1.0}
    rng = np.random.default_rng(0)
    Z = linkage(rng.normal(size=(6, 2)), "ward")
    assert evaluate(y, linkage=Z) == {"dp": dendrogram_purity(Z, y)}
    out = evaluate(y, linkage=Z, n_leaves=3)
    tree, leaf_of_point = truncate_linkage(Z, 3)
    assert out["dp"] == dendrogram_purity(tree, leaf_of_point, y)
    assert out["lp"] == leaf_purity(Z, y, n_leaves=3)


def test_evaluate_refuses_inconsistent_arguments():
    tree, leaf_of_point, y = small_tree()
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate(y)
    with pytest.raises(ValueError, match="give both"):
        evaluate(y, tree=tree)
    with pytest.raises(ValueError, match="not both"):
        evaluate(y, tree=tree, leaf_of_point=leaf_of_point, linkage=np.zeros((4, 4)))
    with pytest.raises(ValueError, match="learned tree"):
        evaluate(y, pred=y, true_tree=tree)
    with pytest.raises(ValueError, match="n_leaves"):
        evaluate(y, pred=y, n_leaves=2)


# ---------------------------------------------------------------------------------- bad inputs
FLAT = [cluster_accuracy, purity, nmi, contingency_matrix]


@pytest.mark.parametrize("metric", FLAT)
@pytest.mark.parametrize(
    ("y", "pred", "message"),
    [
        ([0, 1, 1], [0, 1], "one entry per point"),
        ([], [], "empty"),
        ([[0, 1], [1, 0]], [0, 1], "1-D"),
        ([0.0, np.nan, 1.0], [0, 1, 1], "NaN"),
        ([0, 1, 1], [0, None, 1], "None or NaN"),
        (5, [0], "1-D"),
    ],
)
def test_flat_metrics_refuse_bad_labels(metric, y, pred, message):
    with pytest.raises(ValueError, match=message):
        metric(y, pred)


def test_accuracy_refuses_unknown_mapping():
    with pytest.raises(ValueError, match="mapping"):
        cluster_accuracy([0, 1], [0, 1], mapping="greedy")


@pytest.mark.parametrize("metric", [dendrogram_purity, leaf_purity])
def test_tree_metrics_refuse_bad_inputs(metric):
    tree, leaf_of_point, y = small_tree()
    with pytest.raises(ValueError, match="one entry per point"):
        metric(tree, leaf_of_point, y[:4])
    with pytest.raises(ValueError, match="not in the tree"):
        metric(tree, [1, 1, 3, 3, 99], y)
    with pytest.raises(ValueError, match="internal nodes"):
        metric(tree, [1, 1, 2, 3, 3], y)  # node 2 has children
    with pytest.raises(ValueError, match="integer node ids"):
        metric(tree, [1.5, 1, 3, 3, 4], y)
    with pytest.raises(ValueError, match="NaN"):
        metric(tree, leaf_of_point, [0.0, 0, np.nan, 1, 1])
    with pytest.raises(ValueError, match="empty"):
        metric(tree, [], [])
    with pytest.raises(ValueError, match="1-D"):
        metric(tree, leaf_of_point, y[:, None])
    with pytest.raises(ValueError, match="Tree"):
        metric(tree, leaf_of_point)


@pytest.mark.parametrize("metric", [dendrogram_purity, leaf_purity])
def test_linkage_metrics_refuse_bad_linkages(metric):
    y = [0, 0, 1]
    good = np.array([[0, 1, 1.0, 2], [2, 3, 2.0, 3]])
    kw = {"n_leaves": 2}
    assert 0 <= metric(good, y, **kw) <= 1
    bad = {
        "used before it is formed|not yet|before": [[0, 4, 1.0, 2], [2, 3, 2.0, 3]],
        "more than once": [[0, 1, 1.0, 2], [0, 3, 2.0, 3]],
        "negative": [[0, 1, -1.0, 2], [2, 3, 2.0, 3]],
        "size": [[0, 1, 1.0, 2], [2, 3, 2.0, 2]],
        "integers": [[0, 1, 1.0, 2], [2, 3.5, 2.0, 3]],
        "NaN": [[0, 1, np.nan, 2], [2, 3, 2.0, 3]],
        "shape": [[0, 1, 1.0], [2, 3, 2.0]],
        "at least two": np.zeros((0, 4)),
    }
    for message, Z in bad.items():
        with pytest.raises(ValueError, match=message):
            metric(Z, y, **kw)
    with pytest.raises(ValueError, match="observations"):
        metric(good, [0, 1], **kw)
    with pytest.raises(ValueError, match="n_leaves must be between"):
        metric(good, y, n_leaves=4)
    with pytest.raises(ValueError, match="n_leaves must be an integer"):
        metric(good, y, n_leaves=2.0)


def test_leaf_purity_of_linkage_needs_n_leaves():
    with pytest.raises(ValueError, match="n_leaves"):
        leaf_purity(np.array([[0, 1, 1.0, 2]]), [0, 1])


def test_d_tree_refuses_bad_inputs():
    tree, leaf_of_point, y = small_tree()
    with pytest.raises(ValueError, match="one entry per point"):
        d_tree(tree, leaf_of_point, y[:3])
    with pytest.raises(ValueError, match="not in the tree"):
        d_tree(tree, [1, 1, 3, 3, 42], y)
    with pytest.raises(ValueError, match="not in the tree"):
        d_tree(tree, leaf_of_point, [0, 0, 0, 1, 7], tree)
    with pytest.raises(ValueError, match="cycle"):
        d_tree({0: None, 1: 2, 2: 1}, [0, 0], [0, 1])
    with pytest.raises(ValueError, match="no root"):
        d_tree([1, 0], [0, 1], [0, 1])
    with pytest.raises(ValueError, match="not in the tree"):
        d_tree({0: None, 1: 5}, [0, 1], [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        d_tree(tree, leaf_of_point, [0, 0, np.nan, 1, 1])
