"""Heat map of attribute frequencies per leaf (the CelebA table of TreeVAE's paper, Table 3)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_attribute_heatmap"]


def plot_attribute_heatmap(
    freq: np.ndarray,
    attribute_names: Sequence[str],
    counts: np.ndarray | None = None,
    leaf_names: Sequence[str] | None = None,
) -> Figure:
    """Leaves as rows, attributes as columns, colour = fraction of the leaf with the attribute.

    Args:
        freq: (L, K) frequencies in [0, 1] (NaN for an empty leaf), from
            :func:`dendrogen.metrics.leaf_attribute_frequencies`.
        attribute_names: the K column names.
        counts: (L,) points per leaf, shown in the row labels.
        leaf_names: the L row names; default "leaf 0" ...
    """
    freq = np.asarray(freq, dtype=np.float64)
    L, K = freq.shape
    if len(attribute_names) != K:
        raise ValueError(f"{len(attribute_names)} attribute names for {K} columns")
    names = list(leaf_names) if leaf_names is not None else [f"leaf {i}" for i in range(L)]
    if counts is not None:
        names = [f"{n} (n={int(c)})" for n, c in zip(names, counts, strict=True)]
    fig = Figure(figsize=(max(6.0, 0.28 * K + 2.5), max(2.5, 0.4 * L + 1.8)))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(freq), vmin=0.0, vmax=1.0, cmap="viridis",
                      aspect="auto")  # fmt: skip
    ax.set_xticks(range(K), list(attribute_names), rotation=90, fontsize=7)
    ax.set_yticks(range(L), names, fontsize=8)
    ax.set_xlabel("attribute")
    fig.colorbar(image, ax=ax, label="fraction of the leaf's points")
    fig.tight_layout()
    return fig
