"""The data-driven split start (models/treevae/split_init.py): which two-way partition each
clusterer finds, on which features, and that the options are checked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dendrogen.models.treevae.split_init import bisect, reduce_dims, split_features
from dendrogen.training.presets import Schedule


def broad_and_tight(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A broad, large class beside a tight, small one, 3 units apart in 8 dimensions: the case
    where 2-means cuts the broad class in half (label 1 marks the tight class)."""
    rng = np.random.default_rng(seed)
    broad = rng.normal(0.0, 0.9, (360, 8))
    tight = rng.normal(0.0, 0.1, (40, 8)) + 3.0 * np.eye(8)[0]
    return np.concatenate([broad, tight]), np.repeat([0, 1], [360, 40])


def agreement(labels: np.ndarray, truth: np.ndarray) -> float:
    same = float((labels == truth).mean())
    return max(same, 1.0 - same)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gmm_separates_a_tight_class_from_a_broad_one_where_two_means_does_not(seed):
    X, truth = broad_and_tight(seed)
    assert agreement(bisect(X, seed, "gmm"), truth) > 0.97
    # 2-means prefers two halves of equal spread: it misplaces a large part of the broad class.
    assert agreement(bisect(X, seed, "kmeans"), truth) < 0.9


def test_bisect_labels_the_larger_part_zero_and_rejects_unknown_methods():
    X, _ = broad_and_tight(0)
    for method in ("kmeans", "gmm"):
        labels = bisect(X, 0, method)
        assert set(np.unique(labels)) == {0, 1}
        assert (labels == 0).sum() >= (labels == 1).sum()
    with pytest.raises(ValueError, match="unknown split method"):
        bisect(X, 0, "ward")


def test_reduce_dims_projects_wide_features_only():
    rng = np.random.default_rng(0)
    narrow = rng.normal(size=(50, 16))
    assert reduce_dims(narrow, 0) is narrow
    wide = rng.normal(size=(50, 100))
    assert reduce_dims(wide, 0, max_dims=32).shape == (50, 32)
    assert reduce_dims(wide[:10], 0, max_dims=32).shape == (10, 9)  # at most N - 1 components


def test_split_features_in_each_space():
    from dendrogen import TreeVAE

    X = np.random.default_rng(0).normal(size=(64, 12)).astype(np.float32)
    model = TreeVAE(
        max_leaves=2, max_depth=2, latent_dim=2, width=8, batch_size=16, likelihood="gaussian",
        schedule=dict(initial=4, subtree=0, intermediate=0, finetune=0), random_state=0,
        verbose=False,
    ).fit(X)  # fmt: skip
    module = model.module_
    x = torch.from_numpy(X)
    root = module.tree.root
    assert split_features(module, x, root, "input").shape == (64, 12)
    router = split_features(module, x, root, "router")
    encoder = split_features(module, x, root, "encoder")
    assert router.shape[0] == encoder.shape[0] == 64
    with pytest.raises(ValueError, match="unknown split space"):
        split_features(module, x, root, "pixels")


def test_schedule_checks_split_options():
    assert Schedule(split_init="gmm", split_space="input").split_space == "input"
    with pytest.raises(ValueError, match="split_space"):
        Schedule(split_space="pixels")
    with pytest.raises(ValueError, match="split_init"):
        Schedule(split_init="ward")
