"""How each split of one TreeVAE fit divides the rows it was grown on (a diagnostic, not a score).

At every growth decision after a subtree phase (and again after the full-tree phase that may
follow it) it prints, for the rows of the last split leaf: the classes among them, how decisively
the new router sends them (share of rows with P(left | leaf) < 0.1 or > 0.9), which share of them
each child wins by argmax over all leaves (0 / 0 means the rows went to another part of the
tree), and the NMI between the router's side and the classes. Then the growth and pruning
events.

    python benchmarks/treevae_split_diagnostic.py --data hier-images --seed 0 \\
        --set schedule.growth_prune=True

``--data`` and ``--set`` are ``treevae_seeds.py``'s. One fit is an anecdote: use it to see how a
tree is grown, and ``treevae_seeds.py`` to measure.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.metrics import normalized_mutual_info_score
from treevae_seeds import load, parse_settings, with_settings

from dendrogen import TreeVAE
from dendrogen.estimators import treevae_growth


def describe_split(model, X: np.ndarray, y: np.ndarray, split: dict, rows: np.ndarray) -> str:
    probs = model._leaf_probs(X)
    leaves = model.module_.tree.leaves
    left, right = split["children"]
    if left not in leaves or right not in leaves:
        return f"g={split['g']} leaf {split['leaf']}: a child was pruned or its split undone"
    p_left, p_right = probs[rows, leaves.index(left)], probs[rows, leaves.index(right)]
    share = p_left / np.maximum(p_left + p_right, 1e-12)
    winner = probs[rows].argmax(axis=1)
    wins = [(winner == leaves.index(child)).mean() for child in (left, right)]
    classes = np.bincount(y[rows], minlength=int(y.max()) + 1)
    decisive = ((share < 0.1) | (share > 0.9)).mean()
    nmi = normalized_mutual_info_score(y[rows], share > 0.5)
    return (
        f"g={split['g']} leaf {split['leaf']} ({len(rows)} rows, classes {classes.tolist()}): "
        f"decisive {decisive:.2f}, children win {wins[0]:.2f} / {wins[1]:.2f}, NMI {nmi:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="hier-images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="settings", action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y, _, _, params = load(args.data)
    params = with_settings(params, parse_settings(args.settings))
    decide = treevae_growth.TreeGrowth._decide_growth
    last: dict = {}

    def watching(self, cursor, X_, schedule, try_splits):
        if last:
            print(describe_split(self, X_, y, last["split"], last["rows"]), flush=True)
        result = decide(self, cursor, X_, schedule, try_splits)
        if cursor.get("action") == "subtree":
            split = [e for e in self.history_ if e.get("event") == "split"][-1]
            last.update(split=split, rows=np.asarray(cursor["subset"]))
        elif cursor.get("action") != "intermediate":
            last.clear()
        return result

    treevae_growth.TreeGrowth._decide_growth = watching
    model = TreeVAE(**params, random_state=args.seed, verbose=False).fit(X)
    for event in model.history_:
        if event.get("event") in ("stop", "prune", "undo_split"):
            print(event)
    counts = np.bincount(model.labels_, minlength=model.n_leaves_)
    print(f"{model.n_leaves_} leaves at the end; rows per leaf {counts.tolist()}")


if __name__ == "__main__":
    main()
