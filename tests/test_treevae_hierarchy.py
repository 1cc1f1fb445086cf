"""TreeVAE whose splits start from a two-component Gaussian mixture on the rows that reach them
recovers a known 3-level hierarchy (synthetic nested clusters) better than Ward. (With the paper's
random split start, the default, five of ten seeds do not: BENCHMARKS.md, "Trustworthy trees".)

One seed is an anecdote and float rounding differs between CPUs and thread counts, so the claim
is tested on the median of three seeds, with thresholds taken from the ten-seed table in
BENCHMARKS.md ("Trustworthy trees"; `benchmarks/treevae_seeds.py --data nested --set latent_dim=8
--set schedule.split_init=gmm --set schedule.split_space=input`). The fits run in
two worker processes at one thread each, so the test costs about two fits of wall time.
"""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest
from hierarchy_data import make_nested_clusters
from scipy.cluster.hierarchy import linkage

from dendrogen.metrics import dendrogram_purity, leaf_purity

SEEDS = (0, 1, 2)
#: The test's configuration; the seed table in BENCHMARKS.md was measured with exactly this
#: (the `fast` preset's sparse leaf decoding, ε = 1e-3, included).
PARAMS = dict(
    max_leaves=8, max_depth=3, latent_dim=8, width=32, likelihood="gaussian", batch_size=100,
    schedule=dict(initial=1200, subtree=400, intermediate=0, finetune=600, split_init="gmm",
                  split_space="input"),
)  # fmt: skip


def _fit(seed: int) -> tuple[float, float, int]:
    import torch

    torch.set_num_threads(1)
    from dendrogen import TreeVAE

    X, y = make_nested_clusters(n=1200, seed=0)
    model = TreeVAE(**PARAMS, random_state=seed).fit(X)
    nodes = np.asarray(model.leaves_)[model.labels_]
    dp = dendrogram_purity(model.tree_, nodes, y)
    return dp, leaf_purity(model.tree_, nodes, y), model.n_leaves_


@pytest.mark.heavy(seconds=52)
def test_treevae_recovers_nested_clusters_better_than_ward():
    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.map(_fit, SEEDS)
    dp, lp, leaves = (np.asarray(v) for v in zip(*results, strict=True))
    X, y = make_nested_clusters(n=1200, seed=0)
    # Ward on the raw inputs, truncated to as many leaves as each fit has (the papers' Agg).
    Z = linkage(X, "ward")
    ward = np.asarray([dendrogram_purity(Z, y, n_leaves=int(k)) for k in leaves])
    print(f"TreeVAE DP {dp} LP {lp} leaves {leaves}; Ward DP at those leaf counts {ward}")
    # Ten seeds (BENCHMARKS.md, at ε = 1e-3): DP 0.948-0.992, every fit above Ward at its own
    # leaf count (by 0.106-0.132), LP 0.925-0.991, 7 or 8 leaves (at ε = 0: DP 0.946-0.998, by
    # 0.086-0.138). A median of three falls below these bounds only if two of the three seeds
    # do, which none of the ten did. 0.92 is the target for the median DP over ten seeds.
    assert np.median(dp - ward) > 0.05, (dp, ward)
    assert np.median(dp) >= 0.92, dp
    assert np.median(lp) >= 0.9, lp
    assert np.all(leaves >= 7), leaves
