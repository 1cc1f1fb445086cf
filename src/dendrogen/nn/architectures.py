"""Default encoder/decoder networks per data kind (treevae.md §6, shared with the baselines).

An encoder maps a batch (B, *input_shape) to features (B, out_features); a decoder maps latents
(B, latent_dim) to unconstrained outputs (B, *output_shape) that a Likelihood interprets. Decoders
with a ``grouped_forward`` can also run n instances of themselves as one (a tree's leaves).

Architectures:
- ``conv28`` (the reference's ``cnn1``): 28×28 grey images, three unpadded 3×3 stride-2 convs.
- ``conv8``: the 8×8 bundled digits, the same design scaled down.
- ``mlp``: vectors (TF-IDF, any tabular data) and any input of unknown layout, flattened.
- ``resnet32`` / ``resnet64``: RGB images, residual blocks with average pooling down to 4×4.
- ``conv1d``: multichannel sequences (B, C, T), strided 1-D convolutions.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dendrogen.nn.grouped import grouped_conv_sequential, grouped_dense_block, grouped_linear
from dendrogen.nn.layers import LEAKY_SLOPE, DenseBlock, channels_last, channels_last_weights

ARCHITECTURES = ("conv28", "conv8", "mlp", "resnet32", "resnet64", "conv1d")


def default_architecture(input_shape: Sequence[int]) -> str:
    """The default network for data of shape ``input_shape`` (without the batch dimension)."""
    shape = tuple(input_shape)
    if len(shape) == 3 and shape[1:] == (28, 28):
        return "conv28"
    if len(shape) == 3 and shape[1:] == (8, 8):
        return "conv8"
    if len(shape) == 3 and shape[1:] == (32, 32):
        return "resnet32"
    if len(shape) == 3 and shape[1:] == (64, 64):
        return "resnet64"
    if len(shape) == 2:
        return "conv1d"
    return "mlp"


def _conv_block(c_in: int, c_out: int, **kw) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, bias=False, **kw), nn.BatchNorm2d(c_out), nn.LeakyReLU(LEAKY_SLOPE)
    )


def _deconv_block(c_in: int, c_out: int, **kw) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, bias=False, **kw),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(LEAKY_SLOPE),
    )


class _Encoder(nn.Module):
    out_features: int


# ---------------------------------------------------------------------------------------- images
class Conv28Encoder(_Encoder):
    """(B, C, 28, 28) → (B, 128): convs of 8/16/32 channels, 28 → 13 → 6 → 2."""

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            _conv_block(in_channels, 8, kernel_size=3, stride=2),
            _conv_block(8, 16, kernel_size=3, stride=2),
            _conv_block(16, 32, kernel_size=3, stride=2),
            nn.Flatten(),
        )
        channels_last_weights(self.net)
        self.out_features = 32 * 2 * 2

    def forward(self, x: Tensor) -> Tensor:
        return self.net(channels_last(x))


class Conv28Decoder(nn.Module):
    """(B, latent) → (B, C, 28, 28): dense to 32×3×3, transposed convs 3 → 7 → 14 → 28."""

    def __init__(self, latent_dim: int, out_channels: int = 1) -> None:
        super().__init__()
        self.dense = DenseBlock(latent_dim, 32 * 3 * 3)
        self.net = nn.Sequential(
            _deconv_block(32, 16, kernel_size=3, stride=2),
            _deconv_block(16, 8, kernel_size=3, stride=2, padding=1, output_padding=1),
            nn.ConvTranspose2d(8, out_channels, 3, stride=2, padding=1, output_padding=1),
        )
        channels_last_weights(self.net)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(channels_last(self.dense(z).view(-1, 32, 3, 3)))

    @staticmethod
    def grouped_forward(decoders: Sequence[Conv28Decoder], z: Tensor) -> Tensor:
        """n decoders at once, one grouped kernel a layer: z (B, n, latent) → (B, n, C, 28, 28)."""
        return _grouped_conv_decoder(decoders, z, (32, 3, 3))


class Conv8Encoder(_Encoder):
    """(B, C, 8, 8) → (B, 128): convs of 16/32/32 channels, 8 → 8 → 4 → 2."""

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            _conv_block(in_channels, 16, kernel_size=3, padding=1),
            _conv_block(16, 32, kernel_size=3, stride=2, padding=1),
            _conv_block(32, 32, kernel_size=3, stride=2, padding=1),
            nn.Flatten(),
        )
        channels_last_weights(self.net)
        self.out_features = 32 * 2 * 2

    def forward(self, x: Tensor) -> Tensor:
        return self.net(channels_last(x))


class Conv8Decoder(nn.Module):
    """(B, latent) → (B, C, 8, 8): dense to 32×2×2, transposed convs 2 → 4 → 8, 3×3 conv out."""

    def __init__(self, latent_dim: int, out_channels: int = 1) -> None:
        super().__init__()
        self.dense = DenseBlock(latent_dim, 32 * 2 * 2)
        self.net = nn.Sequential(
            _deconv_block(32, 32, kernel_size=3, stride=2, padding=1, output_padding=1),
            _deconv_block(32, 16, kernel_size=3, stride=2, padding=1, output_padding=1),
            nn.Conv2d(16, out_channels, 3, padding=1),
        )
        channels_last_weights(self.net)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(channels_last(self.dense(z).view(-1, 32, 2, 2)))

    @staticmethod
    def grouped_forward(decoders: Sequence[Conv8Decoder], z: Tensor) -> Tensor:
        """n decoders at once: z (B, n, latent) → (B, n, C, 8, 8)."""
        return _grouped_conv_decoder(decoders, z, (32, 2, 2))


def _grouped_conv_decoder(decoders: Sequence[nn.Module], z: Tensor, start: tuple) -> Tensor:
    """Dense block to a (C, H, W) start, then the conv net, for n decoders on channel-grouped
    activations. z: (B, n, latent) → (B, n, C_out, H_out, W_out)."""
    B, n, _ = z.shape
    c, h, w = start
    dense = grouped_dense_block([d.dense for d in decoders], z).reshape(B, n * c, h, w)
    out = grouped_conv_sequential([d.net for d in decoders], channels_last(dense))
    return out.view(B, n, out.shape[1] // n, *out.shape[2:])


# ---------------------------------------------------------------------------------------- vectors
class MLPEncoder(_Encoder):
    """(B, *shape) flattened → (B, w) through 4w → 4w → 2w → w (w = 128: 512-512-256-128)."""

    def __init__(self, in_features: int, width: int = 128) -> None:
        super().__init__()
        widths = [in_features, 4 * width, 4 * width, 2 * width, width]
        self.net = nn.Sequential(
            nn.Flatten(), *(DenseBlock(a, b) for a, b in itertools.pairwise(widths))
        )
        self.out_features = width

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class MLPDecoder(nn.Module):
    """(B, latent) → (B, *shape) through w → 2w → 4w → 4w (w = 128: 128-256-512-512)."""

    def __init__(self, latent_dim: int, output_shape: Sequence[int], width: int = 128) -> None:
        super().__init__()
        self.output_shape = tuple(output_shape)
        widths = [latent_dim, width, 2 * width, 4 * width, 4 * width]
        self.net = nn.Sequential(
            *(DenseBlock(a, b) for a, b in itertools.pairwise(widths)),
            nn.Linear(4 * width, math.prod(self.output_shape)),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, *self.output_shape)

    @staticmethod
    def grouped_forward(decoders: Sequence[MLPDecoder], z: Tensor) -> Tensor:
        """n decoders at once: z (B, n, latent) → (B, n, *shape)."""
        h = z
        for layers in zip(*(d.net for d in decoders), strict=True):
            if isinstance(layers[0], nn.Linear):
                h = grouped_linear(layers, h)
            else:
                h = grouped_dense_block(layers, h)
        return h.view(z.shape[0], len(decoders), *decoders[0].output_shape)


# ---------------------------------------------------------------------------------------- RGB
class ResidualBlock(nn.Module):
    """(BN → LReLU → conv3×3) × 2 with the branch scaled by 0.1; 1×1 shortcut on a width change."""

    def __init__(self, c_in: int, c_out: int, dims: int = 2) -> None:
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv1d
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        self.branch = nn.Sequential(
            norm(c_in),
            nn.LeakyReLU(LEAKY_SLOPE),
            conv(c_in, c_out, 3, padding=1, bias=False),
            norm(c_out),
            nn.LeakyReLU(LEAKY_SLOPE),
            conv(c_out, c_out, 3, padding=1),
        )
        self.shortcut = nn.Identity() if c_in == c_out else conv(c_in, c_out, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + 0.1 * self.branch(x)


def _resnet_widths(size: int) -> list[int]:
    n_pool = int(math.log2(size // 4))
    return [min(32 * 2**i, 256) for i in range(n_pool + 1)]


class ResNetEncoder(_Encoder):
    """(B, C, S, S), S ∈ {32, 64} → (B, 4096): residual blocks and 3×3/2 average pooling to 4×4."""

    def __init__(self, in_channels: int, size: int) -> None:
        super().__init__()
        widths = _resnet_widths(size)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1)]
        for i, w in enumerate(widths):
            layers.append(ResidualBlock(widths[max(i - 1, 0)], w))
            if i < len(widths) - 1:
                layers.append(nn.AvgPool2d(3, stride=2, padding=1))
        layers += [nn.BatchNorm2d(widths[-1]), nn.LeakyReLU(LEAKY_SLOPE), nn.Flatten()]
        self.net = channels_last_weights(nn.Sequential(*layers))
        self.out_features = widths[-1] * 16

    def forward(self, x: Tensor) -> Tensor:
        return self.net(channels_last(x))


class ResNetDecoder(nn.Module):
    """(B, latent) → (B, C, S, S): dense to 256×4×4, residual blocks and bilinear upsampling."""

    def __init__(self, latent_dim: int, out_channels: int, size: int) -> None:
        super().__init__()
        widths = _resnet_widths(size)[::-1]
        self.top = widths[0]
        self.dense = DenseBlock(latent_dim, widths[0] * 16)
        layers: list[nn.Module] = []
        for i, w in enumerate(widths):
            layers.append(ResidualBlock(widths[max(i - 1, 0)], w))
            if i < len(widths) - 1:
                layers.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
        layers += [
            nn.BatchNorm2d(widths[-1]),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(widths[-1], out_channels, 3, padding=1),
        ]
        self.net = channels_last_weights(nn.Sequential(*layers))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(channels_last(self.dense(z).view(-1, self.top, 4, 4)))


# ---------------------------------------------------------------------------------------- sequences
class Conv1dEncoder(_Encoder):
    """(B, C, T) → (B, 128): T padded to a multiple of 8, Conv1d(k4, s2, p1), 32/64/128 channels."""

    def __init__(self, in_channels: int, length: int) -> None:
        super().__init__()
        self.padded = 8 * math.ceil(length / 8)
        layers: list[nn.Module] = []
        for c_in, c_out in ((in_channels, 32), (32, 64), (64, 128)):
            layers += [
                nn.Conv1d(c_in, c_out, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm1d(c_out),
                nn.LeakyReLU(LEAKY_SLOPE),
            ]
        self.conv = nn.Sequential(*layers, nn.Flatten())
        self.dense = DenseBlock(128 * self.padded // 8, 128)
        self.out_features = 128

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, (0, self.padded - x.shape[-1]))
        return self.dense(self.conv(x))


class Conv1dDecoder(nn.Module):
    """(B, latent) → (B, C, T): dense to 128 × T/8, ConvTranspose1d ×3, cropped to T."""

    def __init__(self, latent_dim: int, out_channels: int, length: int) -> None:
        super().__init__()
        self.length = length
        self.steps = math.ceil(length / 8)
        self.dense = DenseBlock(latent_dim, 128 * self.steps)
        layers: list[nn.Module] = []
        for c_in, c_out in ((128, 64), (64, 32)):
            layers += [
                nn.ConvTranspose1d(c_in, c_out, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm1d(c_out),
                nn.LeakyReLU(LEAKY_SLOPE),
            ]
        layers.append(nn.ConvTranspose1d(32, out_channels, 4, stride=2, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        out = self.net(self.dense(z).view(-1, 128, self.steps))
        return out[..., : self.length]


# ---------------------------------------------------------------------------------------- factories
def _check_arch(arch: str, shape: tuple[int, ...]) -> None:
    expected = {
        "conv28": (3, (28, 28)),
        "conv8": (3, (8, 8)),
        "resnet32": (3, (32, 32)),
        "resnet64": (3, (64, 64)),
    }
    if arch in expected:
        ndim, hw = expected[arch]
        if len(shape) != ndim or shape[1:] != hw:
            raise ValueError(f"architecture {arch!r} needs inputs of shape (C, {hw[0]}, {hw[1]}), "
                             f"got {shape}")  # fmt: skip
    if arch == "conv1d" and len(shape) != 2:
        raise ValueError(f"architecture 'conv1d' needs sequences of shape (C, T), got {shape}")
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {ARCHITECTURES}")


def make_encoder(arch: str, input_shape: Sequence[int], width: int = 128) -> _Encoder:
    """Encoder for data of shape ``input_shape``; its ``out_features`` gives the feature width.
    ``width`` scales the ``mlp`` architecture only (the convolutional ones are fixed)."""
    shape = tuple(input_shape)
    _check_arch(arch, shape)
    if arch == "conv28":
        return Conv28Encoder(shape[0])
    if arch == "conv8":
        return Conv8Encoder(shape[0])
    if arch in ("resnet32", "resnet64"):
        return ResNetEncoder(shape[0], shape[1])
    if arch == "conv1d":
        return Conv1dEncoder(shape[0], shape[1])
    return MLPEncoder(math.prod(shape), width)


def make_decoder(
    arch: str, latent_dim: int, output_shape: Sequence[int], width: int = 128
) -> nn.Module:
    """Decoder from ``latent_dim`` to unconstrained outputs of shape ``output_shape``;
    ``width`` scales the ``mlp`` architecture only."""
    shape = tuple(output_shape)
    _check_arch(arch, shape)
    if arch == "conv28":
        return Conv28Decoder(latent_dim, shape[0])
    if arch == "conv8":
        return Conv8Decoder(latent_dim, shape[0])
    if arch in ("resnet32", "resnet64"):
        return ResNetDecoder(latent_dim, shape[0], shape[1])
    if arch == "conv1d":
        return Conv1dDecoder(latent_dim, shape[0], shape[1])
    return MLPDecoder(latent_dim, shape, width)


@torch.no_grad()
def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
