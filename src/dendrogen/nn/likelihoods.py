"""Observation models p(x | decoder output).

Decoders output unconstrained values; a :class:`Likelihood` turns them into a log-density and into
the mean of x. ``bernoulli`` treats the decoder output as logits and accepts non-binary x in [0, 1]
(the papers' convention, so the density is unnormalised for grey values). ``gaussian`` uses a
fixed observation variance (default ½, for which −log p = Σ(x − μ)² + const, treevae.md §2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


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


class Bernoulli(Likelihood):
    name = "bernoulli"
    needs_unit_interval = True

    def log_prob(self, output: Tensor, x: Tensor) -> Tensor:
        bce = F.binary_cross_entropy_with_logits(output, x.expand_as(output), reduction="none")
        return -bce.flatten(start_dim=output.dim() - x.dim() + 1).sum(-1)

    def mean(self, output: Tensor) -> Tensor:
        return torch.sigmoid(output)


class Gaussian(Likelihood):
    name = "gaussian"

    def __init__(self, obs_var: float = 0.5) -> None:
        if obs_var <= 0:
            raise ValueError(f"obs_var must be positive, got {obs_var}")
        self.obs_var = float(obs_var)

    def log_prob(self, output: Tensor, x: Tensor) -> Tensor:
        sq = (output - x.expand_as(output)) ** 2
        sq = sq.flatten(start_dim=output.dim() - x.dim() + 1)
        d = sq.shape[-1]
        return -0.5 * (sq.sum(-1) / self.obs_var + d * math.log(2 * math.pi * self.obs_var))

    def mean(self, output: Tensor) -> Tensor:
        return output

    def config(self) -> dict:
        return {"name": self.name, "obs_var": self.obs_var}


def make_likelihood(name: str | Likelihood, **kwargs) -> Likelihood:
    """``"bernoulli"`` or ``"gaussian"`` (kwargs: ``obs_var``)."""
    if isinstance(name, Likelihood):
        return name
    if name == "bernoulli":
        return Bernoulli()
    if name == "gaussian":
        return Gaussian(**kwargs)
    raise ValueError(f"unknown likelihood {name!r}; choose 'bernoulli' or 'gaussian'")
