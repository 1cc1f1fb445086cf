"""Where a fitted TreeVAE's dendrogram purity is lost: in its leaves or in how they are arranged.

For each saved Fashion-MNIST TreeVAE, on the 10,000 test images: DP and LP of the tree, and the DP
the same leaves would reach under the best of four label-informed arrangements (SciPy linkages
of the leaves' class distributions). That last figure uses the labels, so it is no method; it
bounds what a better tree over the same leaves could give, and says whether a DP gap is a
structure problem (the arrangement DP is much higher) or a leaf problem (it is not).

    python benchmarks/treevae_leaf_arrangement.py runs/bench_treevae_fashion/seed0/dp_model ...
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy.cluster.hierarchy import linkage

from dendrogen import load, load_dataset
from dendrogen.metrics import dendrogram_purity, leaf_purity
from dendrogen.tree import Tree


def arranged_dp(column: np.ndarray, y: np.ndarray, n_leaves: int) -> float:
    """The best DP over label-informed linkages of the leaves. column: (N,) leaf index."""
    counts = np.zeros((n_leaves, int(y.max()) + 1))
    np.add.at(counts, (column, y), 1)
    shares = counts / counts.sum(axis=1, keepdims=True).clip(min=1)
    best = 0.0
    for method in ("average", "complete", "ward", "single"):
        tree = Tree.from_linkage(linkage(shares, method=method))
        best = max(best, dendrogram_purity(tree, column, y))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="saved TreeVAE folders")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X, y = load_dataset("fashion-mnist", split="test")
    for path in args.models:
        model = load(path)
        column = model.predict(X)
        nodes = np.asarray(model.leaves_)[column]
        dp = dendrogram_purity(model.tree_, nodes, y)
        lp = leaf_purity(model.tree_, nodes, y)
        best = arranged_dp(column, y, len(model.leaves_))
        print(f"{path}: {len(model.leaves_)} leaves, DP {dp:.3f}, LP {lp:.3f}, "
              f"DP of the same leaves, best label-informed arrangement {best:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
