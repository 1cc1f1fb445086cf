"""Same seed, same data, same thread count: the same tree, the same weights, the same labels."""

from __future__ import annotations

import numpy as np
import torch
from hierarchy_data import make_nested_clusters

from dendrogen import TreeVAE


def _fit(X: np.ndarray, seed: int, init: str = "kmeans") -> TreeVAE:
    return TreeVAE(
        max_leaves=4, max_depth=2, latent_dim=2, width=16, likelihood="gaussian", batch_size=50,
        schedule=dict(initial=60, subtree=30, intermediate=20, finetune=30, split_init=init),
        random_state=seed, verbose=False,
    ).fit(X)  # fmt: skip


def test_two_fits_with_one_seed_give_the_same_tree_and_labels():
    X, _ = make_nested_clusters(n=400, seed=3)
    for init in ("kmeans", "random"):
        a, b = _fit(X, seed=5, init=init), _fit(X, seed=5, init=init)
        assert a.tree_.to_dict() == b.tree_.to_dict()
        np.testing.assert_array_equal(a.labels_, b.labels_)
        sa, sb = a.module_.state_dict(), b.module_.state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
        assert [e for e in a.history_ if "event" in e] == [e for e in b.history_ if "event" in e]


def test_another_seed_gives_another_fit():
    """The seed reaches the model: guards the test above against a seed that is ignored."""
    X, _ = make_nested_clusters(n=400, seed=3)
    a, b = _fit(X, seed=5), _fit(X, seed=6)
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    assert any(not torch.equal(sa[k], sb[k]) for k in sa.keys() & sb.keys())


def test_kmeans_split_init_seats_every_split_by_its_router():
    """Each split starts from 2-means on its router's input, and the router learns it."""
    X, _ = make_nested_clusters(n=400, seed=3)
    model = _fit(X, seed=5)
    inits = [e for e in model.history_ if e.get("event") == "split_init"]
    splits = [e for e in model.history_ if e.get("event") == "split"]
    assert inits[0]["node"] == model.tree_.root
    assert len(inits) == 1 + len(splits)
    assert all(e["router_agreement"] > 0.95 and min(e["sizes"]) > 0 for e in inits)


def test_the_papers_random_split_init_stays_available():
    X, _ = make_nested_clusters(n=400, seed=3)
    model = _fit(X, seed=5, init="random")
    assert not [e for e in model.history_ if e.get("event") == "split_init"]


def test_no_leaf_is_left_empty_after_fit():
    X, _ = make_nested_clusters(n=400, seed=3)
    for seed in range(3):
        model = _fit(X, seed=seed)
        assert np.array_equal(np.unique(model.labels_), np.arange(model.n_leaves_)), seed


def test_pausing_the_initial_phase_for_split_init_logs_each_epoch_once():
    X, _ = make_nested_clusters(n=400, seed=3)
    model = _fit(X, seed=5)
    initial = [r["step"] for r in model.history_ if r.get("phase") == "initial"]
    assert initial == sorted(set(initial)), initial
    assert initial[-1] == 60  # the whole phase, warm-up included
