"""Observation models p(x | decoder output).

Decoders output unconstrained values; a :class:`Likelihood` turns them into a log-density and into
the mean of x. ``bernoulli`` treats the decoder output as logits and accepts non-binary x in [0, 1]
(the papers' convention, so the density is unnormalised for grey values). ``gaussian`` uses a
fixed observation variance (default ½, for which −log p = Σ(x − μ)² + const, treevae.md §2);
``gaussian`` with ``obs_var="auto"`` is :class:`CalibratedGaussian`, whose variance follows the
reconstruction error while the model trains.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Likelihood:
    """Base class. ``log_prob(output, x)`` sums over every data dimension: (B, ...) → (B,)."""

    name = "base"
    needs_unit_interval = False

    def log_prob(self, output: Tensor, x: Tensor) -> Tensor:
        raise NotImplementedError

    def mean(self, output: Tensor) -> Tensor:
        """The mean of p(x | output), in data space."""
        raise NotImplementedError

    def config(self) -> dict:
        return {"name": self.name}

    def observe(self, rec: Tensor, n_dims: int) -> None:
        """Learn from a training batch's expected log-likelihoods ``rec`` (B,) of x with
        ``n_dims`` dimensions; fixed likelihoods ignore it."""


class Bernoulli(Likelihood):
    name = "bernoulli"
    needs_unit_interval = True

    def log_prob(self, output: Tensor, x: Tensor) -> Tensor:
        bce = F.binary_cross_entropy_with_logits(output, x.expand_as(output), reduction="none")
        return -bce.flatten(start_dim=output.dim() - x.dim() + 1).sum(-1)

    def mean(self, output: Tensor) -> Tensor:
        return torch.sigmoid(output)


class ContinuousBernoulli(Bernoulli):
    """The Bernoulli plus its continuous normaliser log C(η) = log(η / tanh(η/2)) for logits η
    (Loaiza-Ganem & Cunningham, 2019): a density on [0, 1]^D.

    A Bernoulli fit scored with it gives an ELBO that bounds a log density, comparable with a
    Gaussian fit's (``estimators/treevae_likelihood_choice.py``). Near η = 0 the series
    log 2 + η²/12 replaces the ratio, which is 0/0 there.
    """

    name = "continuous_bernoulli"

    def log_prob(self, output: Tensor, x: Tensor) -> Tensor:
        eta = output.double()
        small = eta.abs() < 1e-2
        safe = torch.where(small, torch.ones_like(eta), eta)
        log_c = torch.where(
            small, math.log(2.0) + eta**2 / 12, safe.abs().log() - torch.tanh(safe / 2).abs().log()
        )
        log_c = log_c.flatten(start_dim=output.dim() - x.dim() + 1).sum(-1)
        return super().log_prob(output, x) + log_c.to(output.dtype)


class Gaussian(Likelihood):
    name = "gaussian"

    def __init__(self, obs_var: float = 0.5) -> None:
        if obs_var <= 0:
            raise ValueError(f"obs_var must be positive, got {obs_var}")
        self.obs_var = float(obs_var)

    def log_prob(self, output: Tensor, x: Tensor) -> Tensor:
        return _gaussian_log_prob(output, x, self.obs_var, math.log(2 * math.pi * self.obs_var))

    def mean(self, output: Tensor) -> Tensor:
        return output

    def config(self) -> dict:
        return {"name": self.name, "obs_var": self.obs_var}


class CalibratedGaussian(Gaussian, nn.Module):
    """A Gaussian whose one shared variance is re-estimated while training.

    For a fixed decoder the variance that maximises the ELBO is the expected squared
    reconstruction error per dimension (the calibrated decoder of σ-VAE, Rybkin et al. 2021).
    :meth:`observe` recovers that error from a training batch's expected log-likelihoods and
    moves the variance towards it (an exponential moving average, like BatchNorm's statistics),
    so the weight of the reconstruction follows how well the model reconstructs: a fixed ½
    makes small differences between similar grey patterns worth almost nothing.

    The variance is a buffer, so it is saved, checkpointed and moved with the module that
    holds this likelihood. A model that uses it must call :meth:`observe` in training.
    """

    def __init__(
        self, initial_var: float = 0.5, momentum: float = 0.99, min_var: float = 1e-6
    ) -> None:
        nn.Module.__init__(self)
        if initial_var <= 0 or min_var <= 0:
            raise ValueError("initial_var and min_var must be positive")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.min_var = float(min_var)
        self.register_buffer("var", torch.tensor(float(initial_var)))

    @property
    def obs_var(self) -> float:  # type: ignore[override]
        """The current variance."""
        return float(self.var)

    def log_prob(self, output: Tensor, x: Tensor) -> Tensor:
        # A copy, so that observe() may update the buffer before this batch's backward pass.
        var = self.var.detach().clone().to(output.dtype)
        return _gaussian_log_prob(output, x, var, torch.log(2 * math.pi * var))

    def observe(self, rec: Tensor, n_dims: int) -> None:
        """Move the variance towards the batch's mean squared error per dimension, which the
        Gaussian's expected log-likelihood determines: rec = −½(SSE/v + D·log 2πv)."""
        with torch.no_grad():
            var = self.var
            mse = -var * (2 * rec.detach().float().mean() / n_dims + torch.log(2 * math.pi * var))
            target = mse.clamp_min(self.min_var)
            var.copy_(self.momentum * var + (1 - self.momentum) * target)

    def config(self) -> dict:
        return {"name": self.name, "obs_var": "auto", "fitted_var": self.obs_var}


def _gaussian_log_prob(output: Tensor, x: Tensor, var, log_two_pi_var) -> Tensor:
    """log N(x; output, var·I) summed over the data dimensions: (B, ...) → (B,)."""
    sq = (output - x.expand_as(output)) ** 2
    sq = sq.flatten(start_dim=output.dim() - x.dim() + 1)
    return -0.5 * (sq.sum(-1) / var + sq.shape[-1] * log_two_pi_var)


def make_likelihood(name: str | Likelihood, **kwargs) -> Likelihood:
    """``"bernoulli"`` or ``"gaussian"`` (kwargs: ``obs_var``, a float or ``"auto"`` for
    :class:`CalibratedGaussian`)."""
    if isinstance(name, Likelihood):
        return name
    if name == "bernoulli":
        return Bernoulli()
    if name == "gaussian" and kwargs.get("obs_var") == "auto":
        return CalibratedGaussian()
    if name == "gaussian":
        return Gaussian(**kwargs)
    raise ValueError(f"unknown likelihood {name!r}; choose 'bernoulli' or 'gaussian'")
