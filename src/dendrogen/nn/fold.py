"""BatchNorm folded into the layer before it, for inference.

In eval mode a BatchNorm is an affine map per channel, y = γ (h − μ) / sqrt(σ² + ε) + β, so a
bias-free (or biased) Linear, Conv2d or ConvTranspose2d followed by it equals one layer with
scaled weights and a new bias. :func:`fold_batch_norm` returns a copy of a module in which every
such pair inside an ``nn.Sequential`` is merged and the BatchNorm replaced by ``nn.Identity``:
one kernel and one pass over the activations less per pair, the same outputs up to rounding.
"""

from __future__ import annotations

import copy
import itertools

import torch
from torch import nn

_FOLDABLE = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Conv1d, nn.ConvTranspose1d)


@torch.no_grad()
def _fold_pair(layer: nn.Module, bn: nn.modules.batchnorm._BatchNorm) -> None:
    """Merge eval-mode ``bn`` into ``layer`` in place (output channels: dim 0 of a Linear or
    Conv weight, dim 1 of a transposed convolution's (groups = 1))."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    shift = -bn.running_mean * scale
    if bn.affine:
        scale = scale * bn.weight
        shift = shift * bn.weight + bn.bias
    dim = 1 if isinstance(layer, nn.ConvTranspose2d | nn.ConvTranspose1d) else 0
    shape = [1] * layer.weight.dim()
    shape[dim] = -1
    layer.weight.mul_(scale.view(shape))
    bias = shift if layer.bias is None else layer.bias * scale + shift
    layer.bias = nn.Parameter(bias, requires_grad=False)


def fold_batch_norm(module: nn.Module) -> nn.Module:
    """An eval-mode copy of ``module`` with every (layer, BatchNorm) pair of its Sequentials
    merged (module docstring); the original is untouched. Same input/output shapes."""
    folded = copy.deepcopy(module).eval()
    for seq in folded.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        names = list(seq._modules)
        for a, b in itertools.pairwise(names):
            layer, bn = seq._modules[a], seq._modules[b]
            foldable = isinstance(layer, _FOLDABLE) and getattr(layer, "groups", 1) == 1
            if foldable and isinstance(bn, nn.BatchNorm1d | nn.BatchNorm2d):
                if bn.running_mean is None:
                    continue  # batch statistics even in eval mode: nothing to fold
                _fold_pair(layer, bn)
                seq._modules[b] = nn.Identity()
    for p in folded.parameters():
        p.requires_grad_(False)
    return folded


__all__ = ["fold_batch_norm"]
