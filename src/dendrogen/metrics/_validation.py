"""Input checks shared by the metrics: every bad input ends in a ValueError that names it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from dendrogen.tree import Tree


def check_1d(values: ArrayLike, name: str) -> np.ndarray:
    """A non-empty 1-D array without NaN, or a ValueError that says what is wrong."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if arr.dtype.kind in "fc":
        if np.isnan(arr).any():
            raise ValueError(f"{name} contains NaN")
    elif arr.dtype.kind == "O" and any(v is None or v != v for v in arr):  # v != v: a float NaN
        raise ValueError(f"{name} contains None or NaN")
    return arr


def encode_labels(values: ArrayLike, name: str) -> tuple[np.ndarray, int]:
    """Labels remapped to ``0 .. n_values-1`` (int64, shape (N,)) and the number of values."""
    arr = check_1d(values, name)
    try:
        uniques, codes = np.unique(arr, return_inverse=True)
    except TypeError as err:  # unorderable mixtures such as [1, "a"]
        raise ValueError(f"{name} mixes values that cannot be compared: {err}") from err
    return codes.reshape(-1).astype(np.int64, copy=False), len(uniques)


def node_ids(values: ArrayLike, name: str) -> np.ndarray:
    """Integer node ids as int64 (N,); integral floats are accepted, anything else is refused."""
    arr = check_1d(values, name)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise ValueError(f"{name} must hold integer node ids, got non-integer values")
        return arr.astype(np.int64)
    raise ValueError(f"{name} must hold integer node ids, got dtype {arr.dtype}")


def same_length(**arrays: np.ndarray) -> int:
    """The common length of the arrays, or a ValueError listing all lengths."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(f"inputs must have one entry per point, but {described}")
    return next(iter(lengths.values()))


def check_tree(tree: Any, name: str = "tree") -> Tree:
    if not isinstance(tree, Tree):
        raise ValueError(f"{name} must be a dendrogen.tree.Tree, got {type(tree).__name__}")
    return tree


def positions(ids: np.ndarray, wanted: np.ndarray, name: str) -> np.ndarray:
    """Index of each ``wanted`` id in ``ids`` (ids unique); a ValueError for unknown ids."""
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    at = np.searchsorted(sorted_ids, wanted)
    at_clipped = np.minimum(at, len(sorted_ids) - 1)
    missing = sorted_ids[at_clipped] != wanted
    if missing.any():
        bad = np.unique(wanted[missing])[:10].tolist()
        raise ValueError(f"{name} refers to nodes that are not in the tree: {bad}")
    return order[at_clipped]


def structure(
    tree: Tree | Mapping[int, int | None] | ArrayLike, name: str
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Parent array of a tree or forest in breadth-first order (root at position 0).

    Args:
        tree: a Tree; a mapping ``{node: parent or None}``; or a parent array (``-1`` at roots,
            node ``i`` has id ``i``). A forest (several roots) gets a virtual root.

    Returns:
        ``(ids, parent, virtual)``: ``ids`` (V,) node ids; ``parent`` (V,) the position of each
        node's parent, ``-1`` at the root. When ``virtual`` is True, position 0 is the added
        virtual root and ``ids[0]`` is meaningless (use :func:`lookup`).
    """
    if isinstance(tree, Tree):
        ids, parent = tree.to_parent_array()
        return ids, parent, False
    if isinstance(tree, Mapping):
        try:
            raw_ids = np.array([int(k) for k in tree], dtype=np.int64)
            raw_par = np.array([-1 if p is None else int(p) for p in tree.values()], dtype=np.int64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must map integer node ids to parent ids or None") from err
        has_parent = np.array([p is not None for p in tree.values()], dtype=bool)
    else:
        raw_par = node_ids(tree, name)
        raw_ids = np.arange(len(raw_par), dtype=np.int64)
        has_parent = raw_par >= 0
        if (raw_par < -1).any():
            raise ValueError(f"{name}: a parent array marks roots with -1, found {raw_par.min()}")
    if len(raw_ids) == 0:
        raise ValueError(f"{name} has no nodes")
    if len(np.unique(raw_ids)) != len(raw_ids):
        raise ValueError(f"{name} lists a node id twice")
    par_pos = np.full(len(raw_ids), -1, dtype=np.int64)
    if has_parent.any():
        par_pos[has_parent] = positions(raw_ids, raw_par[has_parent], f"{name}'s parent links")
    roots = np.flatnonzero(~has_parent).tolist()
    if not roots:
        raise ValueError(f"{name} has no root: its parent links form a cycle")
    children: list[list[int]] = [[] for _ in range(len(raw_ids))]
    for i, p in enumerate(par_pos.tolist()):
        if p >= 0:
            children[p].append(i)
    # Breadth-first from the root(s); a node never reached lies on a cycle.
    order = list(roots)
    for i in order:  # grows while iterated
        order.extend(children[i])
    if len(order) != len(raw_ids):
        raise ValueError(f"{name}'s parent links contain a cycle")
    order_arr = np.array(order, dtype=np.int64)
    virtual = len(roots) > 1
    shift = int(virtual)
    new_pos = np.empty(len(raw_ids), dtype=np.int64)
    new_pos[order_arr] = np.arange(len(raw_ids)) + shift
    old_par = par_pos[order_arr]
    # Top nodes hang from the virtual root at position 0 when there is one.
    parent = np.where(old_par >= 0, new_pos[np.maximum(old_par, 0)], 0 if virtual else -1)
    ids = raw_ids[order_arr]
    if virtual:
        parent = np.concatenate([[-1], parent])
        ids = np.concatenate([[0], ids])
    return ids, parent.astype(np.int64), virtual


def lookup(ids: np.ndarray, virtual: bool, wanted: np.ndarray, name: str) -> np.ndarray:
    """Positions of ``wanted`` node ids in a :func:`structure`; the virtual root is never found."""
    if virtual:
        return positions(ids[1:], wanted, name) + 1
    return positions(ids, wanted, name)
