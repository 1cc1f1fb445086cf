"""Which leaf growth splits first with ``split_order="gain"`` (models/treevae/split_order.py):
the gain tells two groups from one broad group, and the fit splits the leaf it ranks first."""

from __future__ import annotations

import numpy as np
import pytest

from dendrogen.models.treevae.split_order import bimodality_gain, split_order
from dendrogen.training.presets import Schedule


def one_broad_group(seed: int, n: int = 900) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, (n, 8))


def two_tight_groups(seed: int, n: int = 300) -> np.ndarray:
    """Two groups of n/2, 1.5 units apart along one axis, each of spread 0.3."""
    rng = np.random.default_rng(seed)
    offsets = 1.5 * np.repeat([[0.0], [1.0]], n // 2, axis=0) * np.eye(8)[0]
    return rng.normal(0.0, 0.3, (n, 8)) + offsets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_small_groups_outrank_one_larger_broad_group(seed):
    broad, pair = one_broad_group(seed), two_tight_groups(seed)
    broad_gain = bimodality_gain(broad, len(broad), seed)
    pair_gain = bimodality_gain(pair, len(pair), seed)
    # A single Gaussian is the right model of the broad group: the BIC penalty outweighs what
    # a second component buys there. The pair's gain per row is, in theory,
    # ½ log(1 + Δ²/4σ²) − log 2 = 0.30 nats for groups Δ = 5σ apart, less the penalty (0.09 a
    # row here); seeds 0–2 give 0.17–0.29.
    assert broad_gain < 0 < pair_gain
    assert pair_gain > 0.1 * len(pair)


def test_gain_scales_with_the_rows_it_stands_for():
    pair = two_tight_groups(0)
    assert bimodality_gain(pair, 10 * len(pair), 0) > 9 * bimodality_gain(pair, len(pair), 0)


def test_too_few_rows_give_no_evidence():
    assert bimodality_gain(np.ones((3, 8)), 3, 0) == 0.0


def test_split_orders():
    gains = [-5.0, 40.0, 0.0, 300.0]  # candidates in the paper's order, largest leaf first
    assert split_order(gains, "size") == [0, 1, 2, 3]
    assert split_order(gains, "gain") == [3, 1, 2, 0]
    assert split_order(gains, "bimodal") == [1, 3, 0, 2]  # one-group leaves last, sizes kept
    with pytest.raises(ValueError, match="split order"):
        split_order(gains, "elbo")


def test_schedule_checks_split_order():
    assert Schedule(split_order="gain").split_order == "gain"
    assert Schedule(split_order="bimodal").split_order == "bimodal"
    assert Schedule().split_order == "size"  # the paper's rule stays the default
    with pytest.raises(ValueError, match="split_order"):
        Schedule(split_order="elbo")


def test_fit_splits_the_leaf_the_gain_ranks_first():
    from hierarchy_data import make_nested_clusters

    from dendrogen import TreeVAE

    X, _ = make_nested_clusters(600, seed=0)
    model = TreeVAE(
        max_leaves=4, max_depth=3, latent_dim=2, width=16, batch_size=50, likelihood="gaussian",
        schedule=dict(initial=60, subtree=30, intermediate=0, finetune=30, split_order="gain"),
        random_state=0, verbose=False,
    ).fit(X.astype(np.float32))  # fmt: skip
    orders = [h for h in model.history_ if h.get("event") == "split_order"]
    splits = {h["g"]: h["leaf"] for h in model.history_ if h.get("event") == "split"}
    assert orders, "no split had two candidates to rank"
    for order in orders:
        assert order["gain"] == sorted(order["gain"], reverse=True)
        assert splits[order["g"]] == order["leaves"][0]
