"""Small layers used throughout: the bias-free Linear → BatchNorm → LeakyReLU block."""

from __future__ import annotations

from torch import nn

# TreeVAE uses LeakyReLU(0.3) everywhere (treevae.md §6).
LEAKY_SLOPE = 0.3


class DenseBlock(nn.Sequential):
    """Linear (no bias, BatchNorm follows) → BatchNorm1d → LeakyReLU(0.3). (B, in) → (B, out)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(
            nn.Linear(in_features, out_features, bias=False),
            nn.BatchNorm1d(out_features),
            nn.LeakyReLU(LEAKY_SLOPE),
        )
