"""Routers: small MLPs giving the probability of going left at an internal tree node."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dendrogen.nn.grouped import grouped_dense_block, grouped_linear
from dendrogen.nn.layers import DenseBlock


class Router(nn.Module):
    """Linear(→w) → BN → LReLU → Linear(w→w) → BN → LReLU → Linear(w→1) → sigmoid (treevae.md §6).

    (B, in_features) → (B,) probabilities of the left child.
    """

    def __init__(self, in_features: int, width: int) -> None:
        super().__init__()
        self.hidden = nn.Sequential(DenseBlock(in_features, width), DenseBlock(width, width))
        self.out = nn.Linear(width, 1)

    def logits(self, x: Tensor) -> Tensor:
        return self.out(self.hidden(x)).squeeze(-1)

    def forward(self, x: Tensor) -> Tensor:
        return self.logits(x).sigmoid()

    @staticmethod
    def grouped(routers: Sequence[Router], x: Tensor) -> Tensor:
        """n routers at once: x (B, in) shared or (B, n, in) → (B, n) probabilities of left."""
        h = grouped_dense_block([r.hidden[0] for r in routers], x)
        h = grouped_dense_block([r.hidden[1] for r in routers], h)
        return grouped_linear([r.out for r in routers], h).squeeze(-1).sigmoid()
