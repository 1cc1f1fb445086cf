"""One-sentence definitions of the metrics that ``evaluate`` returns, for the report's table.

Keys with a per-layer or per-level suffix (``acc_l3``, ``purity_level2``) are defined by their
stem; a key not listed here is shown with "no definition recorded" rather than hidden.
"""

from __future__ import annotations

import re

DEFINITIONS: dict[str, str] = {
    "dp": "Dendrogram purity: for pairs of samples of the same class, the mean share of that "
    "class among the samples under their lowest common ancestor (1 = perfect).",
    "lp": "Leaf purity: the share of samples whose leaf's majority class is their own class.",
    "acc": "Clustering accuracy: the share of samples whose cluster maps to their class under "
    "the best one-to-one (Hungarian) or many-to-one assignment.",
    "acc_hungarian": "Clustering accuracy with a one-to-one (Hungarian) matching of clusters "
    "to classes.",
    "acc_m2o": "Clustering accuracy with a many-to-one matching: each cluster counts as its "
    "majority class.",
    "nmi": "Normalised mutual information between clusters and classes (0 = independent, "
    "1 = identical partitions).",
    "purity": "Share of samples in the majority class of their cluster.",
    "d_tree": "D_tree: how far apart, in tree edges, the model puts samples whose classes are "
    "close in the true hierarchy (lower is better).",
    "elbo": "Evidence lower bound per sample, in nats (higher is better).",
    "rl": "Reconstruction loss per sample, −E[log p(x | z)], in nats (lower is better).",
    "ll": "Importance-weighted estimate of the log-likelihood log p(x) per sample, in nats.",
    "mse": "Mean squared error of the reconstructions from the posterior means.",
    "n_leaves": "Number of leaves (clusters) of the learned tree.",
    "n_codes_used": "Number of codes of the finest map that hold at least one sample.",
    "n_clusters_used": "Number of mixture components that hold at least one sample.",
}

_SUFFIX = re.compile(r"^(?P<stem>.+?)_(?:l(?P<layer>\d+)|level(?P<level>\d+))$")


def define(key: str) -> str:
    """The definition of metric ``key``; per-layer/per-level keys name their layer/level."""
    if key in DEFINITIONS:
        return DEFINITIONS[key]
    match = _SUFFIX.match(key)
    if match and match["stem"] in DEFINITIONS:
        where = f"layer {match['layer']}" if match["layer"] else f"map level {match['level']}"
        return f"{DEFINITIONS[match['stem']]} Measured on {where}."
    return "No definition recorded for this metric."
