"""HTVAE's and SOM-VAE's own encoder/decoder (htvae.md §4).

The paper fixes four conv layers in total, ReLU except a sigmoid output, max-pooling in the encoder
and bilinear upsampling in the decoder; the widths are a documented choice (``widths=(32, 64)``).

- images (C, H, W): Conv3×3(C→w1)–ReLU–MaxPool2–Conv3×3(w1→w2)–ReLU–MaxPool2–flatten, then linear
  heads for μ and log σ²; decoder Linear(L→w2·s_h·s_w)–ReLU–Upsample–Conv3×3(w2→w1)–ReLU–Upsample–
  Conv3×3(w1→C)–sigmoid (s = 7 for 28×28, 8 for 32×32);
- sequences (C, T): the same with Conv1d (kernel 5, pad 2), MaxPool1d(2) and linear upsampling
  (s = 50 for T = 200);
- vectors (D,): not covered by the paper; a two-layer MLP of the same widths ×4.

Pooling uses ``ceil_mode`` and the decoder upsamples to exact sizes, so any H, W, T works (odd ones
included) and outputs always have the input's shape.

The 2-D networks keep weights and activations channels-last (``dendrogen.nn.layers``), which made
an HTVAE training step about 2× faster on CPU (BENCHMARKS.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from dendrogen.nn.layers import channels_last, channels_last_weights

#: log σ² of the encoder is clamped to this range (htvae.md §4).
LOGVAR_RANGE = (-10.0, 5.0)


def _halve(n: int) -> int:
    return math.ceil(n / 2)


def _kernel(kernel_size: int | None, shape: tuple[int, ...]) -> int:
    """The conv kernel: htvae.md §4's 3 (images) or 5 (sequences) unless one is given."""
    if kernel_size is None:
        return 3 if len(shape) == 3 else 5
    return int(kernel_size)


def same_conv(conv: type[nn.Conv1d] | type[nn.Conv2d], c_in: int, c_out: int, k: int) -> nn.Module:
    """A stride-1 convolution whose output keeps its input's size. An odd kernel pads (k−1)/2 on
    each side; an even one pads k/2−1 before and k/2 after, as ``padding="same"`` would, but
    explicitly, which avoids torch's copy and its warning for even kernels."""
    if k % 2:
        return conv(c_in, c_out, k, padding="same")
    before, after = k // 2 - 1, k // 2
    pad = nn.ZeroPad2d((before, after, before, after)) if conv is nn.Conv2d else (
        nn.ConstantPad1d((before, after), 0.0))  # fmt: skip
    return nn.Sequential(pad, conv(c_in, c_out, k))


class SOMEncoder(nn.Module):
    """(B, *input_shape) → μ (B, L) and, when ``variational``, log σ² (B, L).

    Args:
        input_shape: (C, H, W), (C, T) or (D,).
        latent_dim: L.
        widths: (w1, w2) conv channels (hidden sizes ×4 for vectors).
        variational: build the log σ² head (HTVAE); SOM-VAE's encoder is deterministic.
        kernel_size: conv kernel (None: 3 for images, 5 for sequences), "same" padding.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        latent_dim: int,
        widths: Sequence[int] = (32, 64),
        variational: bool = True,
        kernel_size: int | None = None,
    ) -> None:
        super().__init__()
        shape = tuple(int(s) for s in input_shape)
        w1, w2 = (int(w) for w in widths)
        k = _kernel(kernel_size, shape)
        if len(shape) == 3:
            c, h, w = shape
            self.features = nn.Sequential(
                same_conv(nn.Conv2d, c, w1, k),
                nn.ReLU(),
                nn.MaxPool2d(2, ceil_mode=True),
                same_conv(nn.Conv2d, w1, w2, k),
                nn.ReLU(),
                nn.MaxPool2d(2, ceil_mode=True),
                nn.Flatten(),
            )
            n_features = w2 * _halve(_halve(h)) * _halve(_halve(w))
            channels_last_weights(self.features)
        elif len(shape) == 2:
            c, t = shape
            self.features = nn.Sequential(
                same_conv(nn.Conv1d, c, w1, k),
                nn.ReLU(),
                nn.MaxPool1d(2, ceil_mode=True),
                same_conv(nn.Conv1d, w1, w2, k),
                nn.ReLU(),
                nn.MaxPool1d(2, ceil_mode=True),
                nn.Flatten(),
            )
            n_features = w2 * _halve(_halve(t))
        elif len(shape) == 1:
            self.features = nn.Sequential(
                nn.Linear(shape[0], 4 * w2), nn.ReLU(), nn.Linear(4 * w2, 4 * w1), nn.ReLU()
            )
            n_features = 4 * w1
        else:
            raise ValueError(f"inputs must be (D,), (C, T) or (C, H, W) per sample, got {shape}")
        self.mu = nn.Linear(n_features, latent_dim)
        self.logvar = nn.Linear(n_features, latent_dim) if variational else None

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        h = self.features(channels_last(x))
        logvar = None if self.logvar is None else self.logvar(h).clamp(*LOGVAR_RANGE)
        return self.mu(h), logvar


class _Upsample(nn.Module):
    """Bilinear (2-D) or linear (1-D) upsampling to an exact size."""

    def __init__(self, size: tuple[int, ...]) -> None:
        super().__init__()
        self.size = size
        self.mode = "bilinear" if len(size) == 2 else "linear"

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, size=self.size, mode=self.mode, align_corners=False)


class _Unflatten(nn.Unflatten):
    """nn.Unflatten whose 4-D output is channels-last, so the upsampling and convolutions after
    it need no reorder."""

    def forward(self, x: Tensor) -> Tensor:
        return channels_last(super().forward(x))


#: decoder output activations: the paper's sigmoid for data in [0, 1], or none for real data.
OUTPUTS = ("sigmoid", "linear")


class SOMDecoder(nn.Module):
    """(B, L) → (B, *output_shape); one decoder for every level.

    ``output="sigmoid"`` (the paper) gives values in (0, 1); ``"linear"`` leaves them unbounded,
    for real-valued data such as standardised signals (the loss is a squared error either way).
    ``dense="relu"`` puts a ReLU after the first Linear (htvae.md §4), ``"linear"`` none (the
    SOM-VAE reference); ``kernel_size`` as in :class:`SOMEncoder`.
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: Sequence[int],
        widths: Sequence[int] = (32, 64),
        output: str = "sigmoid",
        dense: str = "relu",
        kernel_size: int | None = None,
    ) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        if dense not in ("relu", "linear"):
            raise ValueError(f"dense must be 'relu' or 'linear', got {dense!r}")
        last = nn.Sigmoid() if output == "sigmoid" else nn.Identity()
        shape = tuple(int(s) for s in output_shape)
        w1, w2 = (int(w) for w in widths)
        if len(shape) == 3:
            c, h, w = shape
            mid = (_halve(h), _halve(w))
            start = (_halve(mid[0]), _halve(mid[1]))
            conv = nn.Conv2d
        elif len(shape) == 2:
            c, t = shape
            mid = (_halve(t),)
            start = (_halve(mid[0]),)
            conv = nn.Conv1d
        elif len(shape) == 1:
            self.net = nn.Sequential(
                nn.Linear(latent_dim, 4 * w1),
                nn.ReLU(),
                nn.Linear(4 * w1, 4 * w2),
                nn.ReLU(),
                nn.Linear(4 * w2, shape[0]),
                last,
            )
            return
        else:
            raise ValueError(f"outputs must be (D,), (C, T) or (C, H, W) per sample, got {shape}")
        k = _kernel(kernel_size, shape)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, w2 * math.prod(start)),
            nn.ReLU() if dense == "relu" else nn.Identity(),
            _Unflatten(1, (w2, *start)),
            _Upsample(mid),
            same_conv(conv, w2, w1, k),
            nn.ReLU(),
            _Upsample(shape[1:]),
            same_conv(conv, w1, c, k),
            last,
        )
        if len(shape) == 3:
            channels_last_weights(self.net)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)
