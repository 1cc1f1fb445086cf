"""scikit-learn's estimator checks with ``check_clustering`` on its own configuration: the
check's data, and ARI over seeds on it for the slow seed sweeps behind that configuration."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler
from sklearn.utils import shuffle
from sklearn.utils.estimator_checks import estimator_checks_generator


def clustering_check_blobs() -> tuple[np.ndarray, np.ndarray]:
    """The check's data, built as the check builds it: three standardised 2-D blobs, (50, 2)."""
    X, y = make_blobs(n_samples=50, random_state=1)
    X, y = shuffle(X, y, random_state=7)
    return StandardScaler().fit_transform(X), y


def ari_over_seeds(estimator, seeds: range, threads: int) -> list[float]:
    """ARI of ``labels_`` on the check's data for each ``random_state`` in ``seeds``."""
    X, y = clustering_check_blobs()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        est = clone(estimator)
        return [
            float(adjusted_rand_score(y, est.set_params(random_state=seed).fit(X).labels_))
            for seed in seeds
        ]
    finally:
        torch.set_num_threads(before)


def estimator_checks(small, clustering=None, expected_failures=None, id_prefix: str = ""):
    """pytest params (estimator, check) for every check of ``small``: ``check_clustering`` runs
    on ``clustering`` where given (a fit long enough to cluster), the checks named in
    ``expected_failures`` are marked xfail with their reason."""
    expected_failures = expected_failures or {}
    for estimator, check in estimator_checks_generator(small, legacy=True):
        name = check.func.__name__
        if clustering is not None and name == "check_clustering":
            estimator = clustering
        reason = expected_failures.get(name)
        marks = [pytest.mark.xfail(reason=reason)] if reason else []
        yield pytest.param(estimator, check, marks=marks, id=id_prefix + name)
