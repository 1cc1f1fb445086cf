"""Pictures of self-organising map stacks (HTVAE, SOM-VAE): the paper's figures 1 and 2.

:func:`plot_maps` draws every map as a grid of its decoded codes, coarsest map on the left, with
a line from each code to its parent on the next coarser map, each code's number of samples and,
with labels, its majority label. :func:`plot_class_density` shows, per map, how the classes
spread over the codes (figure 2's view: where the data are, and how pure each code is).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import ConnectionPatch

from dendrogen.plots.grids import show_samples


def _check_labels(y: Any, n: int) -> np.ndarray | None:
    """y as an (n,) array (any label values), or None; a clear error for a wrong shape."""
    if y is None:
        return None
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must hold one label per sample, shape ({n},), got {y.shape}")
    return y


def _code_stats(
    paths: np.ndarray, y: np.ndarray | None, sizes: list[tuple[int, int]]
) -> list[dict[str, np.ndarray]]:
    """Per level: counts (K,), majority class (K,: position in ``classes``, −1 on empty codes or
    without labels), its share (K,) and ``classes``, the sorted label values."""
    stats = []
    classes = np.array([]) if y is None else np.unique(y)
    for i, (r, c) in enumerate(sizes):
        k = r * c
        counts = np.bincount(paths[:, i], minlength=k)
        majority = np.full(k, -1, dtype=np.int64)
        share = np.zeros(k)
        if y is not None:
            yi = np.searchsorted(classes, y)
            table = np.zeros((k, len(classes)), dtype=np.int64)
            np.add.at(table, (paths[:, i], yi), 1)
            used = counts > 0
            majority[used] = table[used].argmax(1)
            share[used] = table[used].max(1) / counts[used]
        stats.append({"counts": counts, "majority": majority, "share": share, "classes": classes})
    return stats


def _label_name(label: Any, class_names: list[str] | None) -> str:
    """``class_names[label]`` for an integer label it covers, else the label itself."""
    if class_names is not None and isinstance(label, int | np.integer):
        if 0 <= int(label) < len(class_names):
            return str(class_names[int(label)])
    return str(label)


def plot_maps(
    model: Any,
    X: np.ndarray,
    y: np.ndarray | None = None,
    *,
    links: bool = True,
    density: bool = False,
    cell_size: float = 0.6,
    class_names: list[str] | None = None,
) -> Figure:
    """The map stack of a fitted HTVAE or SOMVAE (paper figure 1).

    Args:
        model: a fitted :class:`~dendrogen.HTVAE` or :class:`~dendrogen.SOMVAE`.
        X: (N, *input_shape) data whose assignments give the per-code counts.
        y: (N,) optional labels: each code is annotated with its majority label and share.
        links: draw the parent links between successive maps.
        density: add figure 2's class-density view below the maps (needs ``y``).
        cell_size: inches per code cell.
        class_names: names for the label values (``class_names[label]``).

    Returns:
        The Figure (the caller saves it, e.g. with :func:`dendrogen.plots.save_figure`).
    """
    sizes = list(model.module_.maps.sizes)
    n_levels = len(sizes)
    paths = model.predict_path(X)
    y_arr = _check_labels(y, len(paths))
    stats = _code_stats(paths, y_arr, sizes)
    parents = model.module_.maps.parents()
    decoded = [model.decode_codes(level) for level in range(1, n_levels + 1)]
    order = list(range(n_levels - 1, -1, -1))  # coarsest map on the left, as the paper's fig. 1
    widths = [sizes[i][1] for i in order]
    height = max(r for r, _ in sizes)
    rows = 2 if density and y_arr is not None else 1
    fig = plt.figure(
        figsize=(cell_size * (sum(widths) + 1.5 * n_levels), cell_size * (height + 1) * rows)
    )
    outer = fig.add_gridspec(rows, n_levels, width_ratios=widths, wspace=0.35, hspace=0.25)
    cells: list[list[Any]] = [[] for _ in range(n_levels)]
    for col, i in enumerate(order):
        r, c = sizes[i]
        inner = outer[0, col].subgridspec(height, c, hspace=0.45, wspace=0.1)
        top = (height - r) // 2  # centre smaller maps vertically
        for k in range(r * c):
            ax = fig.add_subplot(inner[top + k // c, k % c])
            show_samples(ax, decoded[i][k : k + 1])
            count = int(stats[i]["counts"][k])
            if count == 0:
                for artist in (*ax.images, *ax.lines):
                    artist.set_alpha(0.25)
            label = f"{count}"
            if y_arr is not None and count:
                maj = stats[i]["classes"][stats[i]["majority"][k]]
                name = _label_name(maj, class_names)
                label += f"\n{name[:10]} {stats[i]['share'][k]:.0%}"
            ax.set_title(label, fontsize=5, pad=1.5)
            for spine in ax.spines.values():
                spine.set_linewidth(0.3)
            cells[i].append(ax)
        title_ax = fig.add_subplot(outer[0, col], frameon=False)
        title_ax.set_xticks([])
        title_ax.set_yticks([])
        title_ax.set_title(f"level {i + 1} ({r}×{c})", fontsize=8, pad=12)
    if links and n_levels > 1:
        colors = plt.get_cmap("tab10")
        # Colour each link by the coarsest ancestor of the child code, so subtrees read at once.
        top_of = [np.arange(sizes[-1][0] * sizes[-1][1])]
        for i in range(n_levels - 2, -1, -1):
            top_of.insert(0, top_of[0][parents[i]])
        for i in range(n_levels - 1):
            for k, p in enumerate(parents[i]):
                used = stats[i]["counts"][k] > 0
                con = ConnectionPatch(
                    xyA=(0.0, 0.5), coordsA="axes fraction", axesA=cells[i][k],
                    xyB=(1.0, 0.5), coordsB="axes fraction", axesB=cells[i + 1][int(p)],
                    color=colors(int(top_of[i][k]) % 10), lw=0.5, alpha=0.6 if used else 0.15,
                )  # fmt: skip
                fig.add_artist(con)
    if rows == 2:
        for col, i in enumerate(order):
            ax = fig.add_subplot(outer[1, col])
            _density_panel(ax, stats[i], sizes[i], f"level {i + 1}", class_names)
    return fig


def _density_panel(
    ax: Any,
    stat: dict[str, np.ndarray],
    size: tuple[int, int],
    title: str,
    class_names: list[str] | None = None,
) -> None:
    r, c = size
    counts = stat["counts"].reshape(r, c).astype(float)
    majority = stat["majority"].reshape(r, c)
    colors = plt.get_cmap("tab10")
    rgba = np.ones((r, c, 4))
    for idx in np.ndindex(r, c):
        if counts[idx] > 0:
            rgba[idx] = colors(int(majority[idx]) % 10)
    # Opacity follows the share of the data on the code (density), so empty codes are white.
    rgba[..., 3] = 0.15 + 0.85 * counts / max(counts.max(), 1)
    ax.imshow(rgba, interpolation="nearest")
    for idx in np.ndindex(r, c):
        if counts[idx] > 0:
            name = _label_name(stat["classes"][majority[idx]], class_names)
            ax.text(idx[1], idx[0], name[:6], ha="center", va="center", fontsize=6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{title}: majority class, opacity = samples", fontsize=6)


def plot_class_density(
    model: Any, X: np.ndarray, y: np.ndarray, class_names: list[str] | None = None
) -> Figure:
    """Per map, the majority class of each code (colour and label) and its share of the data
    (opacity): the class-density view of the paper's figure 2."""
    sizes = list(model.module_.maps.sizes)
    paths = model.predict_path(X)
    stats = _code_stats(paths, _check_labels(y, len(paths)), sizes)
    fig, axes = plt.subplots(1, len(sizes), figsize=(3 * len(sizes), 3), squeeze=False)
    for col, i in enumerate(range(len(sizes) - 1, -1, -1)):
        _density_panel(axes[0, col], stats[i], sizes[i], f"level {i + 1}", class_names)
    fig.tight_layout()
    return fig


__all__ = ["plot_class_density", "plot_maps"]
