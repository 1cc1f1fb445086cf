"""Which leaf to split next, by how clearly its rows form two groups (``split_order="gain"``).

The paper splits the leaf with the most confident samples, "to retain balanced leaves". On data
whose classes differ in size and spread that cuts the largest, broadest class in two while two
small, tight sibling classes stay in one leaf (seen on the nested images, BENCHMARKS.md session
18). The alternative here asks each eligible leaf how much better two Gaussians explain its rows
than one: the gain in log-likelihood of a two-component mixture over a single Gaussian, on the
features the split would route on, less the BIC penalty for the second component's parameters.
The two components share one covariance: the penalty then costs a weight and a mean (9
parameters in 8 dimensions, against 45 for a covariance of its own, which would outweigh the gain
of a leaf of a few hundred rows holding two groups 5 standard deviations apart, about 0.3 nats a
row). A broad unimodal class gains nothing beyond the penalty; two groups gain in proportion to
their rows, so between two leaves equally clearly bimodal the larger still goes first. No labels;
the ELBO still trains every split.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from torch import Tensor

from dendrogen.models.treevae.model import TreeVAEModel
from dendrogen.models.treevae.split_init import GMM_REG_COVAR, reduce_dims, split_features

#: Features are projected on this many principal components before the mixtures are compared:
#: the directions that separate groups are among the leading ones, and each dimension adds to
#: the penalty.
GAIN_DIMS = 8
#: A leaf's gain is estimated on at most this many of its rows (per row, then scaled to all).
GAIN_ROWS = 4096


def bimodality_gain(features: np.ndarray, n_rows: int, seed: int, dims: int = GAIN_DIMS) -> float:
    """BIC-penalised log-likelihood gain (nats) of two Gaussians (one shared covariance) over one.

    Args:
        features: (M, F) a sample of a leaf's rows in the split space (M ≥ 2).
        n_rows: how many rows the leaf holds in all (≥ M); the per-row gain on the sample is
            scaled to them, and so is the penalty.
        seed: seeds the projection and the mixture's starts.
        dims: principal components kept.

    Returns ``n_rows`` × (mean log-likelihood of the two-component mixture − that of one
    Gaussian) − ½ × (extra parameters) × log ``n_rows``; positive when the leaf looks like two
    groups by the Bayesian information criterion.
    """
    scale = features.std(axis=0)
    z = (features - features.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    z = reduce_dims(z.astype(np.float64), seed, dims)
    if z.shape[0] < 4:  # too few rows to fit two full Gaussians: no evidence either way
        return 0.0
    d = z.shape[1]
    one = GaussianMixture(1, covariance_type="tied", reg_covar=GMM_REG_COVAR).fit(z)
    two = GaussianMixture(2, covariance_type="tied", n_init=3, reg_covar=GMM_REG_COVAR,
                          random_state=seed).fit(z)  # fmt: skip
    per_row = two.score(z) - one.score(z)  # mean log-likelihoods
    extra = 1 + d  # the second component's weight and mean
    return float(n_rows * per_row - 0.5 * extra * math.log(n_rows))


@torch.no_grad()
def split_gains(
    model: TreeVAEModel,
    data: Tensor,
    candidates: list,
    space: str,
    seed: int,
    max_rows: int = GAIN_ROWS,
) -> list[float]:
    """:func:`bimodality_gain` of each candidate split (``SplitDecision`` with ``leaf`` and
    ``subset``, indices into ``data`` (N, ...)), on its rows in ``space`` ("router": the input
    of the router the split would add; "encoder"; "input"; see ``split_features``)."""
    rng = np.random.default_rng(seed)
    gains = []
    for candidate in candidates:
        subset = np.asarray(candidate.subset)
        sample = subset if len(subset) <= max_rows else rng.choice(subset, max_rows, replace=False)
        rows = data[torch.from_numpy(np.sort(sample)).to(data.device)]
        features = split_features(model, rows, candidate.leaf, space).cpu().numpy()
        gains.append(bimodality_gain(features, len(subset), seed))
    return gains


def split_order(gains: list[float], rule: str) -> list[int]:
    """Indices of candidate splits listed in the paper's size order, in the order ``rule``
    tries them: "gain" the largest gain first; "bimodal" the size order, with the candidates
    whose gain is not positive (one group by BIC) last; "size" unchanged."""
    indices = range(len(gains))
    if rule == "gain":
        return sorted(indices, key=lambda i: -gains[i])
    if rule == "bimodal":
        return sorted(indices, key=lambda i: gains[i] <= 0)
    if rule == "size":
        return list(indices)
    raise ValueError(f"unknown split order {rule!r}; use 'size', 'gain' or 'bimodal'")
