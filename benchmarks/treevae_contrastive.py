"""Contrastive vs plain TreeVAE on the synthetic colour-shape hierarchy (treevae.md §5; issue 16).

Fits both models per seed on :func:`dendrogen.data.synthetic.make_colour_shapes` (class = shape,
nested 2 x n_fine; hue, brightness, background and position are nuisances) and scores the
training set with DP, LP, ACC and NMI. The defaults are the settings of
``tests/test_treevae_contrastive.py``; the seed table it prints goes to BENCHMARKS.md.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/treevae_contrastive.py --seeds 0-9
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Any

import numpy as np
import torch

from dendrogen import TreeVAE
from dendrogen.data.synthetic import make_colour_shapes
from dendrogen.metrics import evaluate

#: the settings of the test (tests/test_treevae_contrastive.py).
SETTINGS: dict[str, Any] = dict(
    n_samples=512, n_fine=2, size=28, shift=4.0,
    max_leaves=4, max_depth=2, latent_dim=8, width=64, batch_size=32, learning_rate=2e-3,
    initial=400, subtree=150, finetune=150, leaf_eps=0.0,
)  # fmt: skip


def fit_and_score(seed: int, contrastive: bool, s: dict[str, Any]) -> dict[str, float]:
    """One fit on the data of ``seed``: DP, LP, ACC, NMI on the training set, the number of
    leaves, wall and CPU seconds of the fit."""
    data = make_colour_shapes(
        s["n_samples"], n_fine=s["n_fine"], size=s["size"], shift=s["shift"], random_state=seed
    )
    start, cpu = time.perf_counter(), time.process_time()
    model = TreeVAE(
        max_leaves=s["max_leaves"], max_depth=s["max_depth"], latent_dim=s["latent_dim"],
        width=s["width"], batch_size=s["batch_size"], learning_rate=s["learning_rate"],
        random_state=seed, contrastive=contrastive,
        schedule=dict(initial=s["initial"], subtree=s["subtree"], intermediate=0,
                      finetune=s["finetune"], max_epochs=None, leaf_eps=s["leaf_eps"]),
    ).fit(data.X)  # fmt: skip
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    pred = model.predict(data.X)
    scores = evaluate(data.y, pred=pred, tree=model.tree_,
                      leaf_of_point=np.asarray(model.leaves_)[pred])  # fmt: skip
    out = {k: float(scores[k]) for k in ("dp", "lp", "acc", "nmi")}
    return out | {"leaves": float(model.n_leaves_), "seconds": seconds, "cpu_seconds": cpu}


def _seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(v) for v in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-4", help="e.g. 0-9 or 0,3,7")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", nargs="*", default=[], help="override SETTINGS, e.g. initial=400")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = dict(SETTINGS)
    for item in args.set:
        key, value = item.split("=")
        settings[key] = type(SETTINGS[key])(value)
    print(json.dumps({"settings": settings, "machine": platform.processor() or platform.machine(),
                      "torch": torch.__version__}))  # fmt: skip
    rows: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for seed in _seeds(args.seeds):
        for contrastive in (False, True):
            row = fit_and_score(seed, contrastive, settings)
            rows[contrastive].append(row)
            print(json.dumps({"seed": seed, "contrastive": contrastive} | row), flush=True)
    print(
        "\n| model | "
        + " | ".join(("DP", "LP", "ACC", "NMI", "leaves", "s/fit", "CPU s/fit"))
        + " |"
    )
    print("|---|" + "---|" * 7)
    for contrastive, name in ((False, "TreeVAE"), (True, "TreeVAE contrastive")):
        cells = []
        for key in ("dp", "lp", "acc", "nmi", "leaves", "seconds", "cpu_seconds"):
            values = [r[key] for r in rows[contrastive]]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.3f} ± {sd:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    diffs = {k: [c[k] - p[k] for c, p in zip(rows[True], rows[False], strict=True)]
             for k in ("dp", "acc")}  # fmt: skip
    for key, values in diffs.items():
        print(
            f"{key} gain per seed: "
            + ", ".join(f"{v:+.3f}" for v in values)
            + f"; median {statistics.median(values):+.3f}, min {min(values):+.3f}"
        )


if __name__ == "__main__":
    main()
