"""Which likelihood TreeVAE uses on grey data with ``likelihood="auto"`` (issue "Trustworthy
trees", session 18).

The paper's Bernoulli clusters digits and Fashion-MNIST better than a Gaussian, but on images
whose classes differ by small grey patterns under even noise it leaves the fine splits unpaid
and a Gaussian with a fitted variance (``obs_var="auto"``) recovers them (BENCHMARKS.md,
sessions 17 and 18). So, with ``schedule={"likelihood_probe": n}`` (``fast``: 300), each
likelihood trains a two-leaf tree for n steps on the training rows minus a held-out slice, and
the fit keeps the one whose model explains the slice best. Labels play no part.

The Gaussian is scored at the variance that maximises its probe's ELBO on training rows (its
mean squared error), so that a short probe does not judge it by a moving average that has not
caught up.

The two ELBOs must bound the log density of the same points. The Bernoulli of grey values is
not a density, so its probe is scored with its continuous normaliser
(:class:`~dendrogen.nn.likelihoods.ContinuousBernoulli`); the Gaussian is one as it is. A tie
keeps the Bernoulli, the paper's. The probes are separate fits seeded like the main one, and
the main fit reseeds, so a fit that keeps a likelihood is the same as a fit asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import clone

from dendrogen.estimators.treevae_split_trials import held_out_rows
from dendrogen.nn.likelihoods import ContinuousBernoulli

#: The candidates, as TreeVAE parameters; the first wins a tie.
CANDIDATES: dict[str, dict] = {
    "bernoulli": {"likelihood": "bernoulli"},
    "gaussian": {"likelihood": "gaussian", "obs_var": "auto"},
}


@dataclass(frozen=True)
class LikelihoodChoice:
    """The likelihood kept, the Gaussian's variance setting for the fit, and each candidate's
    mean held-out ELBO as a log density (nats per sample)."""

    likelihood: str
    obs_var: float | str | None
    scores: dict[str, float]


def density_elbo(model, X: np.ndarray) -> float:
    """Mean ELBO of X (N, ...) under a fitted TreeVAE ``model``, its likelihood taken as a
    density: a Bernoulli is scored with its continuous normaliser (``model`` is left as it was)."""
    module, original = model.module_, model.module_.likelihood
    if model.likelihood_ == "bernoulli":
        module.likelihood = ContinuousBernoulli()
    try:
        return float(model.elbo_terms(X)["elbo"].mean())
    finally:
        module.likelihood = original


def choose_likelihood(estimator, X: np.ndarray, steps: int, batch_size: int) -> LikelihoodChoice:
    """Probe each of :data:`CANDIDATES` on X (N, ...) with a two-leaf copy of ``estimator``
    (a TreeVAE) trained ``steps`` optimizer steps of ``batch_size`` rows, and keep the best on
    the held-out slice. Under 3 rows there is nothing to probe: the Bernoulli, no scores."""
    held = held_out_rows(len(X), 0 if estimator.random_state is None else estimator.random_state)
    train = np.setdiff1d(np.arange(len(X)), held)
    if len(train) < 2:  # nothing to learn from and score on: the paper's Bernoulli, unprobed
        return LikelihoodChoice("bernoulli", None, {})
    schedule = {**(estimator.schedule or {}), "unit": "steps", "initial": int(steps),
                "finetune": 0, "likelihood_probe": 0}  # fmt: skip
    scores: dict[str, float] = {}
    for name, params in CANDIDATES.items():
        probe = clone(estimator).set_params(
            **params,
            max_leaves=2,
            schedule=schedule,
            distributed=False,
            batch_size=min(len(train), batch_size),
        )
        probe.fit(X[train])
        if name == "gaussian":  # at the variance that fits the probe's decoder, not the lag's
            likelihood = probe.module_.likelihood  # the probe is thrown away after scoring
            rec = probe.elbo_terms(X[train[: len(held)]])["rec"]
            likelihood.momentum = 0.0
            likelihood.observe(torch.from_numpy(rec), int(np.prod(X.shape[1:])))
        scores[name] = density_elbo(probe, X[held])
    best = max(scores, key=lambda name: scores[name])  # the first of equals: the Bernoulli
    return LikelihoodChoice(best, CANDIDATES[best].get("obs_var"), scores)
