"""DeepECT from clustpy (the maintained peer library), run inside ``.venv-peers`` (``make peers``)
as ``python -m dendrogen.bench.peer_deepect`` by :mod:`dendrogen.bench.paper_tables` and
``benchmarks/treevae_vs_deepect.py``; never imported by the main environment.

Protocol (baselines.md §0.1, §6): fit on the train split, predict the test split. One run with
``--max-leaves`` leaves gives the tree for DP / LP; ACC / NMI come from a separate run with
``--n-classes`` leaves (the same run when the two are equal). The JSON written to ``--out`` holds
the test labels, the tree (as a dendrogen Tree), each test point's leaf, the flat labels, fit
times and clustpy's own scores (``clustpy.metrics``: dendrogram and leaf purity, unsupervised
accuracy), so the caller scores the same output with dendrogen's metrics beside clustpy's.

Budgets (``--preset``): ``paper`` = clustpy's defaults, which are DeepECT's published settings
(100 pretraining epochs at lr 1e-3, 150 clustering epochs at lr 1e-4, growth every 2 epochs);
``fast`` = 50 + (2·leaves + 20) epochs; ``tiny`` = 2 + leaves epochs, growth every epoch.
``--pretrain-epochs`` / ``--clustering-epochs`` override the preset's (a time-matched budget).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def budget(preset: str, leaves: int) -> dict:
    """DeepECT's epochs for a preset and a leaf count."""
    if preset == "paper":
        return {"pretrain_epochs": 100, "clustering_epochs": 150, "grow_interval": 2}
    if preset == "fast":
        return {"pretrain_epochs": 50, "clustering_epochs": 2 * leaves + 20, "grow_interval": 2}
    return {"pretrain_epochs": 2, "clustering_epochs": leaves, "grow_interval": 1}


def tree_of(model) -> tuple[dict, dict[int, int]]:
    """clustpy's BinaryClusterTree as a dendrogen Tree dict (node ids = clustpy's node ids,
    left child first) and the node id of each predicted label (a leaf's ``labels[0]``)."""
    from dendrogen.tree import Tree

    root = model.tree_.root_node_
    parents: dict[int, int | None] = {root.node_id_: None}
    leaf_of_label: dict[int, int] = {}
    queue = [root]
    while queue:
        node = queue.pop(0)
        if node.is_leaf_node():
            leaf_of_label[int(node.labels[0])] = node.node_id_
            continue
        for child in (node.left_node_, node.right_node_):
            parents[child.node_id_] = node.node_id_
            queue.append(child)
    return Tree.from_parents(parents).to_dict(), leaf_of_label


def fit(X: np.ndarray, leaves: int, seed: int, epochs: dict):
    import torch
    from clustpy.deep import DeepECT

    torch.manual_seed(seed)
    start = time.perf_counter()
    model = DeepECT(max_n_leaf_nodes=leaves, device="cpu", random_state=seed, **epochs).fit(X)
    return model, time.perf_counter() - start


def clustpy_scores(model, yt: np.ndarray, pred: np.ndarray) -> dict:
    from clustpy.metrics.external.external_clustering_metrics import (
        unsupervised_clustering_accuracy,
    )
    from clustpy.metrics.external.hierarchical_metrics import dendrogram_purity, leaf_purity

    out = {}
    for name, fn in (("dp", lambda: dendrogram_purity(model.tree_, yt, pred)),
                     ("lp", lambda: leaf_purity(model.tree_, yt, pred))):  # fmt: skip
        try:
            out[name] = float(fn())
        except Exception as err:
            out[name + "_error"] = f"{type(err).__name__}: {err}"
    return out, unsupervised_clustering_accuracy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="digits")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="fast", choices=["tiny", "fast", "paper"])
    ap.add_argument("--max-leaves", type=int, default=20)
    ap.add_argument("--n-classes", type=int, default=10)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--pretrain-epochs", type=int, help="in place of the preset's")
    ap.add_argument("--clustering-epochs", type=int, help="in place of the preset's")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    overrides = {k: getattr(args, k) for k in ("pretrain_epochs", "clustering_epochs")}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    epochs = budget(args.preset, args.max_leaves) | overrides
    import torch

    torch.set_num_threads(1)
    from dendrogen.data import load_dataset

    X, _ = load_dataset(args.data, split="train", limit=args.limit)
    Xt, yt = load_dataset(args.data, split="test")
    X, Xt = X.reshape(len(X), -1), Xt.reshape(len(Xt), -1)
    model, seconds = fit(X, args.max_leaves, args.seed, epochs)
    pred = model.predict(Xt)
    tree, leaf_of_label = tree_of(model)
    clustpy, accuracy = clustpy_scores(model, yt, pred)
    times = {"fit_s": seconds}
    if args.n_classes != args.max_leaves:
        flat_model, times["fit_flat_s"] = fit(
            X, args.n_classes, args.seed, budget(args.preset, args.n_classes) | overrides
        )
        flat = flat_model.predict(Xt)
    else:
        flat = pred
    clustpy["acc"] = float(accuracy(yt, flat))
    import clustpy as clustpy_module

    record = {
        "y_test": yt.tolist(), "tree": tree,
        "leaf_of_point": [leaf_of_label[int(p)] for p in pred], "flat": np.asarray(flat).tolist(),
        "clustpy": clustpy, "times": times, "budget": epochs,
        "versions": {"clustpy": getattr(clustpy_module, "__version__", "?"),
                     "torch": torch.__version__},
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record))


if __name__ == "__main__":
    main()
