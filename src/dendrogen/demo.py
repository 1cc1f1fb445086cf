"""``make demo`` / ``dendrogen demo``: TreeVAE on the bundled 8×8 digits, in a few minutes on a
laptop CPU. Prints what was found and where the outputs went."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

#: A step budget sized for the 1,437 training digits (batch 128: 11 steps per epoch).
DEMO_SCHEDULE = {"initial": 500, "subtree": 120, "intermediate": 100, "finetune": 400}


def run_demo(out: str | Path = "runs/demo", seed: int = 0, verbose: bool = True) -> dict:
    """Fit TreeVAE on the digits' train split, score it on the test split, write the model, the
    tree picture, a grid of generations per leaf and the HTML report to ``out``; return the test
    metrics."""
    import torch

    from dendrogen import TreeVAE
    from dendrogen.data import get_dataset
    from dendrogen.metrics import dendrogram_purity, leaf_purity
    from dendrogen.plots import save_figure
    from dendrogen.plots.grids import plot_samples

    out = Path(out)
    digits = get_dataset("digits")
    X_train, y_train = digits.load("train")
    X_test, y_test = digits.load("test")
    print(f"digits: {X_train.shape[0]} train / {X_test.shape[0]} test images of shape "
          f"{X_train.shape[1:]}, {len(digits.classes)} classes")  # fmt: skip
    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.perf_counter()
    model = TreeVAE(
        max_leaves=10, batch_size=128, schedule=DEMO_SCHEDULE, random_state=seed, verbose=verbose
    ).fit(X_train)
    fit_seconds = time.perf_counter() - start
    print(f"TreeVAE fitted in {fit_seconds:.0f} s: {model.n_leaves_} leaves")
    print(model.tree_.format(lambda n: "(leaf)" if model.tree_.is_leaf(n) else ""))

    metrics = model.evaluate(X_test, y_test)
    # Ward on the raw pixels, truncated to as many leaves, is the paper's "Agg" baseline.
    from scipy.cluster.hierarchy import linkage

    Z = linkage(X_test.reshape(len(X_test), -1), method="ward")
    ward = {
        "dp": dendrogram_purity(Z, y_test, n_leaves=model.n_leaves_),
        "lp": leaf_purity(Z, y_test, n_leaves=model.n_leaves_),
    }
    print(f"\ntest set ({X_test.shape[0]} digits)      TreeVAE   Ward on pixels")
    for key, name in (("dp", "dendrogram purity"), ("lp", "leaf purity")):
        print(f"  {name:<24} {metrics[key]:7.3f}   {ward[key]:7.3f}")
    for key, name in (("acc", "accuracy (Hungarian)"), ("nmi", "NMI")):
        print(f"  {name:<24} {metrics[key]:7.3f}")
    print(f"  {'ELBO (nats)':<24} {metrics['elbo']:7.2f}")

    model.save(out / "model", metrics=metrics)
    save_figure(model.plot(X_train, y_train, class_names=list(digits.classes)), out / "tree.png")
    per_leaf = model.sample_per_leaf(8)
    grid = np.concatenate([per_leaf[k] for k in sorted(per_leaf)])
    save_figure(plot_samples(grid, "8 generations per leaf (one leaf per row)", ncol=8),
                out / "samples_per_leaf.png")  # fmt: skip
    report = model.report(X_train, y_train, path=out / "report.html",
                          class_names=list(digits.classes), data_name="digits (train)")  # fmt: skip
    print(f"\nwrote {out / 'model'} (load it with dendrogen.load), {out / 'tree.png'} and "
          f"{out / 'samples_per_leaf.png'}")  # fmt: skip
    print(f"exploration report (open it in a browser): {report}")
    return metrics
