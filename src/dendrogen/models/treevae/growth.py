"""Growth and pruning decisions of TreeVAE (treevae.md §3), as pure functions of the tree and the
leaf probabilities of the training data. Numpy only; the estimator applies the decisions."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from dendrogen.tree import Tree


@dataclass
class SplitDecision:
    """The leaf to split next and the training subset of its subtree, or why growth stops."""

    leaf: int | None
    threshold: float
    subset: np.ndarray | None  # indices of the samples with P(leaf | x) >= threshold
    reason: str


#: Growth also stops when the tree holds this many times ``max_leaves`` leaves, counting those
#: under ``min_mass``: only the leaves that hold data count towards ``max_leaves`` (the paper),
#: so a run of tiny splits could otherwise grow the tree until ``max_growth_iterations``
#: (seen with ``split_candidates`` on Fashion-MNIST: 15 leaves for a 10-leaf tree).
MAX_LEAVES_FACTOR = 2


def effective_leaves(probs: np.ndarray, min_mass: float = 0.01) -> int:
    """Number of leaves holding at least ``min_mass`` of the probability mass. probs: (N, L)."""
    n = probs.shape[0]
    return int((probs.sum(axis=0) >= min_mass * n).sum())


def choose_split(
    tree: Tree,
    probs: np.ndarray,
    *,
    max_leaves: int,
    max_depth: int,
    min_samples: int,
    min_mass: float = 0.01,
    threshold_cap: float = 0.5,
) -> SplitDecision:
    """Pick the leaf to split (treevae.md §3, steps 2.3–2.4).

    Args:
        tree: the current tree; ``probs`` columns follow ``tree.leaves``.
        probs: P(leaf | x) on the (non-augmented) training set, (N, L).
        max_leaves: stop once this many leaves hold ≥ ``min_mass`` of the data (or the tree
            has :data:`MAX_LEAVES_FACTOR` times as many leaves in all).
        max_depth: leaves at this depth cannot be split.
        min_samples: a leaf needs at least this many confident samples (the batch size).
        min_mass: share of the probability mass that makes a leaf count as holding data.
        threshold_cap: a sample is confident for a leaf when P(leaf | x) ≥ min(1/n_eff, cap).

    Unlike the reference code, a leaf at max depth or with too few samples is skipped and the
    next one considered, rather than stopping growth for good (treevae.md §10.1).
    """
    return split_candidates(
        tree, probs, 1, max_leaves=max_leaves, max_depth=max_depth, min_samples=min_samples,
        min_mass=min_mass, threshold_cap=threshold_cap,
    )[0]  # fmt: skip


def split_candidates(
    tree: Tree,
    probs: np.ndarray,
    count: int,
    *,
    max_leaves: int,
    max_depth: int,
    min_samples: int,
    min_mass: float = 0.01,
    threshold_cap: float = 0.5,
    exclude: Collection[int] = (),
) -> list[SplitDecision]:
    """The first ``count`` leaves :func:`choose_split` would consider, most confident samples
    first, each with its subset; or a single decision with ``leaf=None`` saying why growth
    stops. The keyword arguments are :func:`choose_split`'s, and ``exclude``: leaves not to
    split (those whose splits failed too often)."""
    leaves = tree.leaves
    if probs.shape[1] != len(leaves):
        raise ValueError(f"probs has {probs.shape[1]} columns for {len(leaves)} leaves")
    n_eff = effective_leaves(probs, min_mass)
    if n_eff >= max_leaves:
        return [SplitDecision(None, 0.0, None, f"{n_eff} leaves hold data (max_leaves reached)")]
    if len(leaves) >= MAX_LEAVES_FACTOR * max_leaves:
        return [SplitDecision(None, 0.0, None, f"{len(leaves)} leaves, {n_eff} of them holding "
                              f"data ({MAX_LEAVES_FACTOR} × max_leaves reached)")]  # fmt: skip
    threshold = min(1.0 / max(n_eff, 1), threshold_cap)
    confident = probs >= threshold
    counts = confident.sum(axis=0)
    found: list[SplitDecision] = []
    for col in np.argsort(-counts, kind="stable"):
        leaf = leaves[col]
        if counts[col] < min_samples or tree.depth(leaf) >= max_depth or leaf in exclude:
            continue
        subset = np.flatnonzero(confident[:, col])
        reason = f"split leaf {leaf} ({counts[col]} samples)"
        found.append(SplitDecision(leaf, threshold, subset, reason))
        if len(found) == count:
            break
    if not found:
        why = "no leaf has enough samples below max_depth"
        why += " and split attempts left" if exclude else ""
        return [SplitDecision(None, threshold, None, why)]
    return found


def smallest_leaf_to_prune(
    tree: Tree, assignment: np.ndarray, min_fraction: float = 0.01
) -> int | None:
    """The leaf with the fewest argmax-assigned samples if it holds < ``min_fraction`` of them.

    ``assignment`` holds column indices into ``tree.leaves``, (N,). None when no leaf is that
    small or only one leaf is left.
    """
    leaves = tree.leaves
    if len(leaves) <= 1:
        return None
    counts = np.bincount(assignment, minlength=len(leaves))
    smallest = int(np.argmin(counts))
    if counts[smallest] < min_fraction * assignment.shape[0]:
        return leaves[smallest]
    return None
