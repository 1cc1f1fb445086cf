"""Helpers of two command-line options: ``fit --contrastive`` and ``evaluate --attributes``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CONTRASTIVE_DATA", "CONTRASTIVE_MODELS", "contrastive_setting", "write_attribute_table"]

#: data sets fitted with the contrastive loss unless told otherwise (treevae.md §4).
CONTRASTIVE_DATA = ("cifar10", "cifar100", "celeba")
#: the estimators with a contrastive loss (TreeVAE's, and the paper's starred baselines).
CONTRASTIVE_MODELS = ("TreeVAE", "VAE", "LadderVAE")


def contrastive_setting(params: dict, name: str, data: str, flag: bool | None) -> None:
    """Set ``params["contrastive"]`` from ``--contrastive`` and the data set: the data set's own
    augmentation when it has one (dendrogen.data.augment.AUGMENTATIONS), else "auto"."""
    from dendrogen.data.augment import AUGMENTATIONS
    from dendrogen.data.registry import _canonical

    data = _canonical(data) or data
    if "contrastive" in params or (flag is None and data not in CONTRASTIVE_DATA):
        return
    if name not in CONTRASTIVE_MODELS:
        if flag:
            raise ValueError(
                f"--contrastive is a TreeVAE option (and of its VAE and LadderVAE baselines); "
                f"{name} has no contrastive loss"
            )
        return
    if flag is False:
        params["contrastive"] = False
    else:
        params["contrastive"] = {"augmentation": data} if data in AUGMENTATIONS else True


def write_attribute_table(
    est: Any, X: np.ndarray, dataset: Any, split: str, limit: int | None, stem: Path
) -> tuple[Path, Path]:
    """Write ``STEM.csv`` (one row per leaf: label, node id, count, the frequency of each
    attribute) and the heat map ``STEM.png`` of ``est``'s leaves on X (N, ...) with the
    attributes of ``dataset``'s ``split``; returns both paths. ValueError for data without
    attributes or a model without leaves."""
    from dendrogen.metrics import leaf_attribute_frequencies
    from dendrogen.plots import plot_attribute_heatmap, save_figure

    if dataset is None or not hasattr(dataset, "load_attributes"):
        name = getattr(dataset, "name", "this data")
        raise ValueError(
            f"--attributes needs a data set with binary attributes (celeba), not {name}"
        )
    if not hasattr(est, "predict") or not hasattr(est, "n_leaves_"):
        raise ValueError(
            f"--attributes needs a tree model with leaves (TreeVAE), not {type(est).__name__}"
        )
    A, names = dataset.load_attributes(split, limit=limit)
    freq, counts = leaf_attribute_frequencies(est.predict(X), A, est.n_leaves_)
    header = "leaf,node,n," + ",".join(names)
    rows = [f"{k},{est.leaves_[k]},{counts[k]}," + ",".join(f"{v:.4f}" for v in freq[k])
            for k in range(len(counts))]  # fmt: skip
    table = stem.with_suffix(".csv")
    table.write_text("\n".join([header, *rows]) + "\n")
    leaf_names = [f"leaf {k} (node {est.leaves_[k]})" for k in range(len(counts))]
    picture = save_figure(plot_attribute_heatmap(freq, names, counts, leaf_names),
                          stem.with_suffix(".png"))  # fmt: skip
    return table, picture
