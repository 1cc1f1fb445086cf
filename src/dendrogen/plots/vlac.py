"""VLAC pictures: per-layer component grids (paper Fig. 3) and latent traversals (Fig. 2)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from dendrogen.plots.grids import save_figure, show_samples


def plot_component_grid(grid: np.ndarray, title: str | None = None) -> Figure:
    """One column per component, one row per fixed context: ``grid`` is (rows, K, *shape), as
    returned by ``VLAC.sample_by_component``."""
    rows, k = grid.shape[:2]
    fig, ax = plt.subplots(figsize=(max(3.0, 0.35 * k), max(2.0, 0.35 * rows + 0.4)))
    show_samples(ax, grid.reshape(rows * k, *grid.shape[2:]), ncol=k)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_traversals(traversals: dict[int, np.ndarray], title: str | None = None) -> Figure:
    """One panel per layer; in each, row i holds n redraws of that layer for sample i with the
    other layers at its posterior means. ``traversals[layer]`` is (N, n, *shape)."""
    layers = sorted(traversals)
    fig, axes = plt.subplots(1, len(layers), figsize=(2.6 * len(layers), 2.8), squeeze=False)
    for ax, layer in zip(axes[0], layers, strict=True):
        t = traversals[layer]
        show_samples(ax, t.reshape(t.shape[0] * t.shape[1], *t.shape[2:]), ncol=t.shape[1])
        ax.set_title(f"layer {layer}", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def component_classes(
    model: Any, X: Any, y: Any, layer: int, class_names: Sequence[str] | None = None
) -> list[str]:
    """The majority class of X's samples in each component of ``layer`` ("–" where a component
    gets no sample): the many-to-one mapping of eq. 10, as column labels of a component grid."""
    y = np.asarray(y)
    pred = model.predict(X, layer=layer)
    if y.shape != pred.shape:
        raise ValueError(
            f"y must have shape {pred.shape} (one label per sample of X), got {y.shape}"
        )
    K_l = model._structure()[0][layer - 1]
    labels = []
    for k in range(K_l):
        members = y[pred == k]
        if members.size == 0:
            labels.append("–")
            continue
        values, counts = np.unique(members, return_counts=True)
        top = values[counts.argmax()]
        named = class_names is not None and int(top) == top and 0 <= int(top) < len(class_names)
        labels.append(str(class_names[int(top)]) if named else str(top))
    return labels


def _label_columns(ax: Any, grid: np.ndarray, labels: Sequence[str]) -> None:
    """Tick labels under the columns of a (rows, K, C, H, W) image grid drawn by show_samples."""
    if grid.ndim != 5:  # not images: show_samples drew something else
        return
    w, pad = grid.shape[-1], 1  # image_grid's default padding
    ax.set_xticks([pad + k * (w + pad) + (w - 1) / 2 for k in range(grid.shape[1])])
    ax.set_xticklabels(labels, fontsize=6, rotation=90)


def plot_vlac(
    model: Any,
    X: Any,
    y: Any = None,
    path: str | os.PathLike | None = None,
    n_rows: int = 6,
    n_points: int = 4,
    n_steps: int = 8,
    random_state: int = 0,
    class_names: Sequence[str] | None = None,
) -> Figure:
    """Everything in one figure: the component grid of each mixture layer (Fig. 3) above the
    latent traversals of the first ``n_points`` samples of X in every layer (Fig. 2).

    ``model`` is a fitted VLAC, VLAE or GMDGM. With labels ``y`` of X, each component column is
    labelled with its majority class over X (named by ``class_names`` when given). Returns the
    figure (saved to ``path`` if given).
    """
    K, z_dims = model._structure()
    mixture = [l + 1 for l, k in enumerate(K) if k > 1]
    latent = [l + 1 for l, d in enumerate(z_dims) if d > 0]
    columns = (
        {l: component_classes(model, X, y, l, class_names) for l in mixture}
        if y is not None
        else {}
    )
    X = np.asarray(X)[:n_points]
    grids = {
        l: model.sample_by_component(layer=l, n_rows=n_rows, random_state=random_state)
        for l in mixture
    }
    trav = {
        l: model.traverse_layer(X, layer=l, n=n_steps, random_state=random_state) for l in latent
    }
    widths = [max(K[l - 1], 4) for l in mixture] or [1]
    n_panels = len(mixture) + 1
    fig = plt.figure(figsize=(max(8.0, 0.3 * max(widths)), 2.4 * n_panels + 0.5))
    sub = fig.subfigures(n_panels, 1, height_ratios=[1.0] * len(mixture) + [1.2])
    sub = np.atleast_1d(sub)
    for s, l in zip(sub[: len(mixture)], mixture, strict=True):
        ax = s.subplots()
        g = grids[l]
        show_samples(ax, g.reshape(g.shape[0] * g.shape[1], *g.shape[2:]), ncol=g.shape[1])
        if l in columns:
            _label_columns(ax, g, columns[l])
        ax.set_title(
            f"layer {l}: one column per component (K = {K[l - 1]}); other layers fixed per row",
            fontsize=9,
        )
    axes = sub[-1].subplots(1, len(latent), squeeze=False)[0]
    for ax, l in zip(axes, latent, strict=True):
        t = trav[l]
        show_samples(ax, t.reshape(t.shape[0] * t.shape[1], *t.shape[2:]), ncol=t.shape[1])
        ax.set_title(f"traversal, layer {l}", fontsize=9)
    if path is not None:
        save_figure(fig, path)
    return fig


__all__ = ["component_classes", "plot_component_grid", "plot_traversals", "plot_vlac"]
