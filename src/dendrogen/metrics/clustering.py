"""Flat clustering metrics: contingency matrix, purity, ACC and NMI (metrics.md §0, §3-5).

All functions take true labels first, then predictions, as scikit-learn does. Label values are
arbitrary (ints, strings); they are remapped to ``0..C-1`` and ``0..K-1``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from dendrogen.metrics._validation import encode_labels, same_length

__all__ = ["cluster_accuracy", "contingency_matrix", "nmi", "purity"]


def contingency_matrix(y: ArrayLike, pred: ArrayLike) -> np.ndarray:
    """Counts of (cluster, class) pairs.

    Args:
        y: (N,) true labels, C distinct values.
        pred: (N,) cluster labels, K distinct values.

    Returns:
        W: (K, C) int64, ``W[k, j]`` = number of points in the k-th cluster and the j-th class
        (clusters and classes in sorted order of their values).
    """
    y_codes, n_classes = encode_labels(y, "y")
    p_codes, n_clusters = encode_labels(pred, "pred")
    same_length(y=y_codes, pred=p_codes)
    return _contingency(p_codes, y_codes, n_clusters, n_classes)


def _contingency(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    # One bincount over flat cell indices: O(N + K*C), no K*C passes over the data.
    flat = np.bincount(rows * n_cols + cols, minlength=n_rows * n_cols)
    return flat.reshape(n_rows, n_cols).astype(np.int64, copy=False)


def _majority_fraction(W: np.ndarray) -> float:
    # The one implementation behind purity, many-to-one accuracy and leaf purity.
    return float(W.max(axis=1).sum() / W.sum())


def purity(y: ArrayLike, pred: ArrayLike) -> float:
    """Purity (HTVAE eq. 11): ``(1/N) sum_k max_j |cluster_k ∩ class_j|``.

    Equal to many-to-one accuracy and, with leaves as clusters, to leaf purity.

    Args:
        y: (N,) true labels.
        pred: (N,) cluster labels.

    Returns:
        A fraction in [0, 1].
    """
    return _majority_fraction(contingency_matrix(y, pred))


def cluster_accuracy(
    y: ArrayLike,
    pred: ArrayLike,
    mapping: Literal["hungarian", "many_to_one"] = "hungarian",
) -> float:
    """Unsupervised clustering accuracy (metrics.md §4).

    Args:
        y: (N,) true labels, C classes.
        pred: (N,) cluster labels, K clusters.
        mapping: ``"hungarian"`` matches clusters to classes one-to-one so as to maximise the
            number of correct points (with K > C, K - C clusters stay unmatched and all their
            points count as errors); ``"many_to_one"`` maps every cluster to its majority class
            (the same number as :func:`purity`).

    Returns:
        A fraction in [0, 1].
    """
    W = contingency_matrix(y, pred)
    if mapping == "many_to_one":
        return _majority_fraction(W)
    if mapping != "hungarian":
        raise ValueError(f"mapping must be 'hungarian' or 'many_to_one', got {mapping!r}")
    # Imported here so that importing dendrogen.metrics stays light.
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(W, maximize=True)
    return float(W[rows, cols].sum() / W.sum())


def nmi(y: ArrayLike, pred: ArrayLike) -> float:
    """Normalized mutual information, arithmetic mean normalisation (HTVAE eqs. 12-14).

    ``2 I(Ω; C) / (H(Ω) + H(C))``, computed by scikit-learn's ``normalized_mutual_info_score``;
    1.0 when both labelings have a single value, 0.0 when they share no information.

    Args:
        y: (N,) true labels.
        pred: (N,) cluster labels; clusters are the values that occur, so empty leaves do not
            count.

    Returns:
        A value in [0, 1].
    """
    y_codes, _ = encode_labels(y, "y")
    p_codes, _ = encode_labels(pred, "pred")
    same_length(y=y_codes, pred=p_codes)
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(y_codes, p_codes, average_method="arithmetic"))
