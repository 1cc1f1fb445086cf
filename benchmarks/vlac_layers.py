"""Where a ladder puts class identity, and how much of it reaches the mixture layer: the
diagnostic behind the VLAC rows of BENCHMARKS.md.

1. A VLAE (every K_l = 1) is fitted and a logistic regression predicts the class from each
   layer's posterior means (fitted on train, scored on test): the paper chose its mixture layer
   as the one that carried digit identity in such a VLAE.
2. VLAC with the 50 components on a given layer, and GM-DGM, are fitted; for each, the mean
   entropy of q(y | x) (log 50 = 3.91 is uniform), the components in use, many-to-one accuracy
   and the linear-probe accuracy of the mixture layer.

    .venv/bin/python benchmarks/vlac_layers.py --dataset digits --steps 2000 --threads 1

On ``nuisance-digits`` each layer is also probed for the nuisances that rendered the test images
(a linear regression's test R² for the stroke colour, background colour, brightness and
position, :mod:`dendrogen.data.nuisance`): the paper's claim is that the ladder puts such
nuisances in one layer and the class in another.

    .venv/bin/python benchmarks/vlac_layers.py --dataset nuisance-digits --steps 2000 \
        --threads 1 --models vlae --head ladder
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


def nuisance_probe(model, X: np.ndarray, X_test: np.ndarray, layer: int) -> dict[str, float]:
    """Test R² of a ridge regression from layer ``layer``'s means to each nuisance factor of
    ``nuisance-digits`` (the factors are re-rendered with the registry's seeds)."""
    from sklearn.linear_model import Ridge

    from dendrogen.data.nuisance import NuisanceDigits, make_nuisance_digits

    def factors(split: str) -> dict[str, np.ndarray]:
        s = make_nuisance_digits(
            split, copies=NuisanceDigits.copies, random_state=NuisanceDigits.seeds[split]
        )
        return {
            "foreground": s.foreground,
            "background": s.background,
            "brightness": s.brightness[:, None],
            "offset": s.offset.astype(np.float32),
        }

    train, test = factors("train"), factors("test")
    Z, Zt = model.transform(X, layer=layer), model.transform(X_test, layer=layer)
    return {k: float(Ridge(1e-3).fit(Z, train[k]).score(Zt, test[k])) for k in train}


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
    parser.add_argument("--head", default="linear", choices=["linear", "ladder"])
    parser.add_argument(
        "--z-given-y", action=argparse.BooleanOptionalAction, default=True, help="q(z | x, y)"
    )
    parser.add_argument(
        "--models", nargs="+", default=["vlae", "k1", "k1-l2", "gmdgm"],
        choices=["vlae", "k1", "k1-l2", "gmdgm"],
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X, y = load_dataset(args.dataset, split="train")
    X_test, y_test = load_dataset(args.dataset, split="test")
    common = {
        "schedule": None if args.steps is None else {"unit": "steps", "train": args.steps},
        "random_state": args.seed,
        "head": args.head,
        "z_given_y": args.z_given_y,
    }
    out: dict = {"dataset": args.dataset, "steps": args.steps, "seed": args.seed,
                 "head": args.head, "z_given_y": args.z_given_y}  # fmt: skip

    if "vlae" in args.models:
        start = time.perf_counter()
        vlae = VLAC(K=[1, 1, 1, 1], **common).fit(X)
        out["vlae_probe_by_layer"] = [probe(vlae, X, y, X_test, y_test, l) for l in (1, 2, 3, 4)]
        print(f"VLAE ({time.perf_counter() - start:.0f} s): class from each layer's means "
              f"{np.round(out['vlae_probe_by_layer'], 3).tolist()}", flush=True)  # fmt: skip
        if args.dataset == "nuisance-digits":
            out["vlae_nuisance_r2_by_layer"] = [
                nuisance_probe(vlae, X, X_test, l) for l in (1, 2, 3, 4)
            ]
            for l, r2 in enumerate(out["vlae_nuisance_r2_by_layer"], 1):
                print(f"  layer {l} nuisance R²: "
                      + ", ".join(f"{k} {v:.2f}" for k, v in r2.items()), flush=True)  # fmt: skip

    for key, name, model, layer in (
        ("k1", "VLAC K=[1,1,50,1]", VLAC(K=[1, 1, 50, 1], **common), 3),
        ("k1-l2", "VLAC K=[1,50,1,1]", VLAC(K=[1, 50, 1, 1], **common), 2),
        ("gmdgm", "GM-DGM |K|=50", GMDGM(n_components=50, **common), None),
    ):
        if key not in args.models:
            continue
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
