"""The learned tree drawn as in TreeVAE's figures 1 and 4: nodes with their sample counts and
majority labels, and under each leaf a few training samples assigned to it (top) and a few
generated from it (bottom); and a grid of generations per leaf."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from dendrogen.plots.grids import show_samples
from dendrogen.tree import Tree


def tree_layout(tree: Tree) -> dict[int, tuple[float, float]]:
    """(x, y) per node: leaves evenly spaced left to right, parents centred over their
    children, y = −depth."""
    pos: dict[int, tuple[float, float]] = {}
    for i, leaf in enumerate(tree.leaves):
        pos[leaf] = (float(i), -float(tree.depth(leaf)))
    for node in reversed(tree.nodes):
        kids = tree.children(node)
        if kids:
            pos[node] = (float(np.mean([pos[c][0] for c in kids])), -float(tree.depth(node)))
    return pos


def _node_counts(tree: Tree, leaf_of_point: np.ndarray) -> dict[int, int]:
    counts = {n: 0 for n in tree.nodes}
    leaves, n = np.unique(leaf_of_point, return_counts=True)
    for leaf, c in zip(leaves.tolist(), n.tolist(), strict=True):
        for node in tree.path_to_root(leaf):
            counts[node] += c
    return counts


def _majority(tree: Tree, leaf_of_point: np.ndarray, y: np.ndarray, names) -> dict[int, str]:
    out = {}
    for node in tree.nodes:
        under = np.isin(leaf_of_point, tree.leaves_under(node))
        if under.any():
            vals, cnt = np.unique(y[under], return_counts=True)
            best = vals[cnt.argmax()]
            label = names[int(best)] if names is not None else str(best)
            out[node] = f"{label} ({cnt.max() / under.sum():.0%})"
    return out


def plot_tree(
    model: Any,
    X: np.ndarray,
    y: np.ndarray | None = None,
    n_examples: int = 8,
    n_generated: int = 8,
    class_names: list[str] | None = None,
    seed: int = 0,
) -> Figure:
    """Draw a fitted model's tree with examples (and generations) at each leaf.

    Args:
        model: a fitted :class:`dendrogen.TreeVAE`, or a tree baseline (``Agglomerative``,
            ``Bisecting``: a ``tree_`` and ``predict_node``; they generate nothing per leaf, so
            ``n_generated`` must be 0 for them).
        X: data to assign to leaves (N, *input_shape), e.g. the training set.
        y: optional labels; each node then shows its majority label and its share.
        n_examples: training samples shown per leaf.
        n_generated: generations shown per leaf.
        class_names: names for the label values.
    """
    tree: Tree = model.tree_
    if hasattr(model, "predict_node"):  # baselines: predict gives flat clusters, not leaves
        leaf_of_point = np.asarray(model.predict_node(X))
        column = {leaf: i for i, leaf in enumerate(tree.leaves)}
        labels = np.array([column[leaf] for leaf in leaf_of_point.tolist()], dtype=np.int64)
    else:
        labels = model.predict(X)
        leaf_of_point = np.asarray(model.leaves_)[labels]
    counts = _node_counts(tree, leaf_of_point)
    majority = _majority(tree, leaf_of_point, np.asarray(y), class_names) if y is not None else {}
    pos = tree_layout(tree)
    n_leaves, depth = len(tree.leaves), tree.max_depth
    rows = 2 if n_generated else 1  # the example row, and the generated row when asked
    fig = plt.figure(figsize=(max(6.0, 1.9 * n_leaves), 1.3 * depth + 2.1 * rows))
    top = 0.42 if rows == 2 else 0.3
    ax = fig.add_axes((0.02, top, 0.96, 0.98 - top))
    ax.set_xlim(-0.6, n_leaves - 0.4)
    ax.set_ylim(-depth - 0.45, 0.35)
    ax.axis("off")
    for node in tree.nodes:
        for child in tree.children(node):
            (x0, y0), (x1, y1) = pos[node], pos[child]
            ax.plot([x0, x1], [y0, y1], color="0.55", lw=1.2, zorder=1)
    for node in tree.nodes:
        x0, y0 = pos[node]
        text = f"{counts[node]}"
        if node in majority:
            text += f"\n{majority[node]}"
        ax.text(x0, y0, text, ha="center", va="center", fontsize=8, zorder=2,
                bbox=dict(boxstyle="round,pad=0.3", fc="white" if tree.children(node) else
                          "#e8f0fe", ec="0.4"))  # fmt: skip
    rng = np.random.default_rng(seed)
    width = 0.96 / n_leaves
    for col in range(n_leaves):
        left = 0.02 + col * width
        members = np.flatnonzero(labels == col)
        ex_ax = fig.add_axes((left + 0.05 * width, top - 0.2, 0.9 * width, 0.18))
        if members.size:
            pick = rng.choice(members, size=min(n_examples, members.size), replace=False)
            show_samples(ex_ax, X[pick], ncol=_ncol(n_examples))
        else:
            ex_ax.axis("off")
        ex_ax.set_title(f"leaf {col}", fontsize=8)
        if n_generated:
            gen_ax = fig.add_axes((left + 0.05 * width, 0.02, 0.9 * width, 0.18))
            show_samples(gen_ax, model.sample(n_generated, leaf=col), ncol=_ncol(n_generated))
    fig.text(0.005, top - 0.11, "data", rotation=90, va="center", fontsize=9)
    if n_generated:
        fig.text(0.005, 0.11, "generated", rotation=90, va="center", fontsize=9)
    return fig


def plot_samples_per_leaf(
    model: Any, n_samples: int = 8, samples: dict[int, np.ndarray] | None = None
) -> Figure:
    """A grid of generations per leaf: one row per leaf (cluster label order), ``n_samples``
    generations in each, labelled with the leaf's cluster label and node id.

    Args:
        model: a fitted :class:`dendrogen.TreeVAE`.
        n_samples: generations per leaf.
        samples: ``model.sample_per_leaf(n_samples)`` if already drawn.
    """
    if samples is None:
        samples = model.sample_per_leaf(n_samples)
    labels = sorted(samples)
    fig, axes = plt.subplots(
        len(labels), 1, figsize=(max(4.0, 0.8 * n_samples), 0.9 * len(labels) + 0.4), squeeze=False
    )
    for ax, label in zip(axes[:, 0], labels, strict=True):
        show_samples(ax, samples[label], ncol=len(samples[label]))
        ax.set_ylabel(f"leaf {label}\n(node {model.leaves_[label]})", fontsize=8, rotation=0,
                      ha="right", va="center")  # fmt: skip
    fig.suptitle(f"{n_samples} generations per leaf", fontsize=9)
    return fig


def _ncol(n: int) -> int:
    return max(1, int(np.ceil(np.sqrt(n))))
