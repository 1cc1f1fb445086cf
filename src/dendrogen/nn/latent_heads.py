"""The Gaussian heads of a hierarchy of latent variables, shared by TreeVAE and the ladder models.

- :class:`NodeHead`: the bottom-up estimate μ̂, v̂ of a node from its depth's activation;
- :class:`Transformation`: the prior p(z_child | z_parent), an MLP from the parent's z.

Each has a ``grouped`` form that runs n of them as one batched computation (:mod:`.grouped`).
Shapes: B = batch, D = latent dim, w = width.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from dendrogen.nn.grouped import grouped_dense_block, grouped_linear
from dendrogen.nn.layers import DenseBlock


class Transformation(nn.Module):
    """Prior of a child given its parent's z: Linear → BN → LReLU, then μ and variance heads.

    (B, D) → ((B, D), (B, D)).
    """

    def __init__(self, latent_dim: int, width: int) -> None:
        super().__init__()
        self.hidden = DenseBlock(latent_dim, width)
        self.out = nn.Linear(width, 2 * latent_dim)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        mu, var = self.out(self.hidden(z)).chunk(2, dim=-1)
        return mu, F.softplus(var)

    @staticmethod
    def grouped(transforms: Sequence[Transformation], z: Tensor) -> tuple[Tensor, Tensor]:
        """n transformations, each on its own parent's z: (B, n, D) → 2 × (B, n, D)."""
        h = grouped_dense_block([t.hidden for t in transforms], z)
        mu, var = grouped_linear([t.out for t in transforms], h).chunk(2, dim=-1)
        return mu, F.softplus(var)


class NodeHead(nn.Module):
    """μ̂_i and the variance v̂_i of node i from the bottom-up activation d. (B, w) → 2 × (B, D)."""

    def __init__(self, width: int, latent_dim: int) -> None:
        super().__init__()
        self.out = nn.Linear(width, 2 * latent_dim)

    def forward(self, d: Tensor) -> tuple[Tensor, Tensor]:
        mu, var = self.out(d).chunk(2, dim=-1)
        return mu, F.softplus(var)

    @staticmethod
    def grouped(heads: Sequence[NodeHead], d: Tensor) -> tuple[Tensor, Tensor]:
        """n heads on the shared activation of their depth: (B, w) → 2 × (B, n, D)."""
        mu, var = grouped_linear([h.out for h in heads], d).chunk(2, dim=-1)
        return mu, F.softplus(var)
