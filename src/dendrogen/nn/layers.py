"""Small layers used throughout: the bias-free Linear → BatchNorm → LeakyReLU block, and the
channels-last helpers of the 2-D conv networks."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

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


def channels_last(x: Tensor) -> Tensor:
    """A 4-D (B, C, H, W) tensor laid out channels-last (same values); other tensors unchanged.

    oneDNN runs CPU convolutions on channels-last data without reordering them at every layer;
    with channels-last weights (:func:`channels_last_weights`) a training step of the 28×28 nets
    got 1.2–2× faster (BENCHMARKS.md).
    """
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def channels_last_weights(module: nn.Module) -> nn.Module:
    """Stores the 4-D parameters of ``module`` channels-last, in place; returns ``module``.

    Loading a state dict keeps that layout (``copy_`` preserves the destination's strides).
    """
    return module.to(memory_format=torch.channels_last)


def reset_parameters(modules: Iterable[nn.Module]) -> None:
    """Re-draw the initial weights of every layer in ``modules`` from torch's global generator
    (BatchNorm statistics included), as when the modules were first built."""
    for module in modules:
        for layer in module.modules():
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
            if hasattr(layer, "reset_running_stats"):
                layer.reset_running_stats()
