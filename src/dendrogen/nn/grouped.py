"""Run n modules of identical shape as one: the nodes of a tree level, the leaves' decoders.

Each module keeps its own parameters (so growing, pruning, freezing and saving still work per
node); these functions concatenate or stack those parameters at call time, which is
differentiable, and run one batched kernel instead of n small ones. On a 2-core CPU a 10-leaf
TreeVAE step spends most of its time in many tiny kernels, so this is where its speed comes from.

Layouts (B = batch, n = groups):
- dense activations are batch-first, (B, n, C); a shared input may be given as (B, C);
- image activations are channel-grouped, (B, n·C, H, W), group g owning channels g·C … g·C+C−1,
  which is what a convolution with ``groups=n`` and a BatchNorm over n·C channels expect.

BatchNorm over the concatenated channels is exactly each module's own BatchNorm; in training mode
the updated running statistics are written back to every module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def grouped_linear(linears: Sequence[nn.Linear], x: Tensor) -> Tensor:
    """n Linear layers of the same shape. x: (B, in) shared, or (B, n, in) → (B, n, out)."""
    n = len(linears)
    out_features = linears[0].out_features
    has_bias = linears[0].bias is not None
    if x.dim() == 2:
        weight = torch.cat([lin.weight for lin in linears])
        bias = torch.cat([lin.bias for lin in linears]) if has_bias else None
        return F.linear(x, weight, bias).view(x.shape[0], n, out_features)
    weight = torch.stack([lin.weight for lin in linears])  # (n, out, in)
    y = torch.bmm(x.transpose(0, 1), weight.transpose(1, 2))  # (n, B, out)
    if has_bias:
        y = y + torch.stack([lin.bias for lin in linears]).unsqueeze(1)
    return y.transpose(0, 1)


def grouped_batch_norm(norms: Sequence[nn.modules.batchnorm._BatchNorm], x: Tensor) -> Tensor:
    """n BatchNorms of C channels each on channel-grouped x: (B, n·C, ...) → same shape."""
    first = norms[0]
    weight = torch.cat([bn.weight for bn in norms]) if first.affine else None
    bias = torch.cat([bn.bias for bn in norms]) if first.affine else None
    if first.running_mean is None:
        return F.batch_norm(x, None, None, weight, bias, True, 0.0, first.eps)
    running_mean = torch.cat([bn.running_mean for bn in norms])
    running_var = torch.cat([bn.running_var for bn in norms])
    momentum = first.momentum
    if first.training and momentum is None:  # cumulative moving average, as nn.BatchNorm does
        momentum = 1.0 / float(first.num_batches_tracked + 1)
    y = F.batch_norm(
        x, running_mean, running_var, weight, bias, first.training, momentum or 0.0, first.eps
    )
    if first.training:
        with torch.no_grad():
            means = running_mean.chunk(len(norms))
            variances = running_var.chunk(len(norms))
            for bn, mean, var in zip(norms, means, variances, strict=True):
                bn.running_mean.copy_(mean)
                bn.running_var.copy_(var)
                bn.num_batches_tracked.add_(1)
    return y


def grouped_dense_block(blocks: Sequence[nn.Sequential], x: Tensor) -> Tensor:
    """n Linear → BatchNorm1d → activation blocks (``dendrogen.nn.layers.DenseBlock``).

    x: (B, in) shared or (B, n, in) → (B, n, out).
    """
    h = grouped_linear([b[0] for b in blocks], x)
    B, n, C = h.shape
    h = grouped_batch_norm([b[1] for b in blocks], h.reshape(B, n * C))
    return blocks[0][2](h).view(B, n, C)


def grouped_conv(convs: Sequence[nn.Module], x: Tensor) -> Tensor:
    """n Conv2d or ConvTranspose2d layers of one configuration on channel-grouped x."""
    first = convs[0]
    if first.groups != 1:
        raise ValueError("grouped_conv runs ungrouped convolutions only")
    n = len(convs)
    weight = torch.cat([c.weight for c in convs])  # Conv (n·out, in, …), ConvT (n·in, out, …)
    bias = torch.cat([c.bias for c in convs]) if first.bias is not None else None
    if isinstance(first, nn.ConvTranspose2d):
        return F.conv_transpose2d(
            x, weight, bias, first.stride, first.padding, first.output_padding, n, first.dilation
        )
    if isinstance(first, nn.Conv2d) and first.padding_mode == "zeros":
        return F.conv2d(x, weight, bias, first.stride, first.padding, first.dilation, n)
    raise TypeError(f"grouped_conv cannot run {type(first).__name__}")


_ELEMENTWISE = (nn.LeakyReLU, nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Identity, nn.ELU, nn.GELU)


def grouped_conv_sequential(seqs: Sequence[nn.Sequential], x: Tensor) -> Tensor:
    """n conv nets of identical structure (convolutions, BatchNorm2d, element-wise activations,
    nested Sequentials) on channel-grouped x (B, n·C, H, W) → (B, n·C', H', W')."""
    for layers in zip(*seqs, strict=True):
        first = layers[0]
        if isinstance(first, nn.Sequential):
            x = grouped_conv_sequential(layers, x)
        elif isinstance(first, nn.Conv2d | nn.ConvTranspose2d):
            x = grouped_conv(layers, x)
        elif isinstance(first, nn.BatchNorm2d):
            x = grouped_batch_norm(layers, x)
        elif isinstance(first, _ELEMENTWISE):
            x = first(x)
        else:
            raise TypeError(f"grouped_conv_sequential cannot run {type(first).__name__}")
    return x


def run_grouped(
    modules: Sequence[nn.Module],
    x: Tensor,
    grouped: Callable[[Sequence[nn.Module], Tensor], Tensor] | None,
) -> Tensor:
    """``grouped(modules, x)`` for (B, n, ...) inputs, or, where a module family has no grouped
    form, each module on its own slice: x (B, n, ...) → (B, n, ...)."""
    if grouped is not None and len(modules) > 1:
        return grouped(modules, x)
    return torch.stack([m(x[:, i]) for i, m in enumerate(modules)], dim=1)


__all__ = [
    "grouped_batch_norm",
    "grouped_conv",
    "grouped_conv_sequential",
    "grouped_dense_block",
    "grouped_linear",
    "run_grouped",
]
