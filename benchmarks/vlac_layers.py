"""Where a ladder puts class identity, and how much of it reaches the mixture layer: the
diagnostic behind the VLAC rows of BENCHMARKS.md.

1. A VLAE (every K_l = 1) is fitted and a logistic regression predicts the class from each
   layer's posterior means (fitted on train, scored on test): the paper chose its mixture layer
   as the one that carried digit identity in such a VLAE.
2. VLAC with the 50 components on a given layer, and GM-DGM, are fitted; for each, the mean
   entropy of q(y | x) (log 50 = 3.91 is uniform), the components in use, many-to-one accuracy
   and the linear-probe accuracy of the mixture layer.

    .venv/bin/python benchmarks/vlac_layers.py --dataset digits --steps 2000 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from dendrogen.data import load_dataset
from dendrogen.estimators.vlac import GMDGM, VLAC
from dendrogen.metrics import cluster_accuracy


def probe(model, X, y, X_test, y_test, layer: int | None) -> float:
    """Test accuracy of a logistic regression from layer ``layer``'s posterior means."""
    clf = LogisticRegression(max_iter=2000).fit(model.transform(X, layer=layer), y)
    return float(clf.score(model.transform(X_test, layer=layer), y_test))


def mixture_report(model, X_test, y_test, layer: int | None) -> dict:
    q = model.predict_proba(X_test, layer=layer) if layer else model.predict_proba(X_test)
    pred = q.argmax(1)
    entropy = float(-(q * np.log(np.clip(q, 1e-12, None))).sum(1).mean())
    return {
        "entropy_q_y": entropy,
        "components_used": len(np.unique(pred)),
        "acc_many_to_one": float(cluster_accuracy(y_test, pred, mapping="many_to_one")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X, y = load_dataset(args.dataset, split="train")
    X_test, y_test = load_dataset(args.dataset, split="test")
    common = {
        "schedule": None if args.steps is None else {"unit": "steps", "train": args.steps},
        "random_state": args.seed,
    }
    out: dict = {"dataset": args.dataset, "steps": args.steps, "seed": args.seed}

    start = time.perf_counter()
    vlae = VLAC(K=[1, 1, 1, 1], **common).fit(X)
    out["vlae_probe_by_layer"] = [probe(vlae, X, y, X_test, y_test, l) for l in (1, 2, 3, 4)]
    print(f"VLAE ({time.perf_counter() - start:.0f} s): class from each layer's means "
          f"{np.round(out['vlae_probe_by_layer'], 3).tolist()}", flush=True)  # fmt: skip

    for name, model, layer in (
        ("VLAC K=[1,1,50,1]", VLAC(K=[1, 1, 50, 1], **common), 3),
        ("VLAC K=[1,50,1,1]", VLAC(K=[1, 50, 1, 1], **common), 2),
        ("GM-DGM |K|=50", GMDGM(n_components=50, **common), None),
    ):
        start = time.perf_counter()
        model.fit(X)
        row = mixture_report(model, X_test, y_test, layer)
        row["probe"] = probe(model, X, y, X_test, y_test, layer)
        out[name] = row
        print(f"{name} ({time.perf_counter() - start:.0f} s): "
              + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
