"""Diagonal Gaussian helpers. Every ``var`` argument is a variance, not a standard deviation."""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def kl_normal(mu_q: Tensor, var_q: Tensor, mu_p: Tensor, var_p: Tensor) -> Tensor:
    """KL(N(mu_q, var_q) ‖ N(mu_p, var_p)) summed over the last dimension. (..., D) → (...)."""
    return 0.5 * (torch.log(var_p / var_q) + (var_q + (mu_q - mu_p) ** 2) / var_p - 1).sum(-1)


def kl_std_normal(mu: Tensor, var: Tensor) -> Tensor:
    """KL(N(mu, var) ‖ N(0, I)) summed over the last dimension. (..., D) → (...)."""
    return 0.5 * (var + mu**2 - 1 - torch.log(var)).sum(-1)


def log_normal(x: Tensor, mu: Tensor, var: Tensor) -> Tensor:
    """log N(x; mu, var) summed over the last dimension. (..., D) → (...)."""
    return -0.5 * (LOG_2PI + torch.log(var) + (x - mu) ** 2 / var).sum(-1)


def precision_weighted(
    mu_a: Tensor, var_a: Tensor, mu_b: Tensor, var_b: Tensor, eps: float = 1e-7
) -> tuple[Tensor, Tensor]:
    """Combine two Gaussian factors by precision weighting (TreeVAE eq. 9, LadderVAE).

    Returns ``(mu, var)`` of the normalised product N(mu_a, var_a)·N(mu_b, var_b).
    """
    prec_a = 1.0 / (var_a + eps)
    prec_b = 1.0 / (var_b + eps)
    var = 1.0 / (prec_a + prec_b)
    return var * (mu_a * prec_a + mu_b * prec_b), var
