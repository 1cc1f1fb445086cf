"""Ladder networks of VLAE / VLAC (vlac.md §2, §3, §10) and of the matching GM-DGM (§7).

A ladder with L levels has, for each level l = 1..L,

- an encoder block g_l: [h_{l-1}; ỹ_{l-1}] → h_l (h_0 = x; ỹ is concatenated as K constant
  feature maps for conv blocks, as extra features for fully connected ones);
- heads on flatten(h_l): the logits of q(y_l | ·) (when K_l > 1) and the mean and standard deviation
  of q(z_l | ·) from [flatten(h_l); ỹ_l] (when d_l > 0);
- a decoder block f_l: [z̃_{l+1}; lateral(z_l)] → z̃_l, where lateral is a Linear of z_l reshaped
  like z̃_{l+1} (the top block f_L has no z̃_{L+1});

and a final output block f_0: z̃_1 → decoder output (unconstrained; a likelihood interprets it).

One rule builds every architecture from a list of encoder stages, so that depth, widths and the
GM-DGM truncation (levels with d_l = 0 have no lateral input) are mechanical: z̃_l has the shape of
h_l, f_l (l < L) is the mirror image of g_{l+1}, f_0 the mirror of g_1, and f_L maps the lateral
embedding of z_L to h_L's shape. For 28×28 grey images this is exactly vlac.md's table; for
32×32 RGB it differs in where the laterals enter (see :func:`stages_for`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

# vlac.md §10: every hidden Conv/FC block is followed by BatchNorm and LeakyReLU(0.1).
SLOPE = 0.1

LADDER_ARCHITECTURES = ("conv28", "conv8", "conv32", "mlp")


@dataclass(frozen=True)
class Stage:
    """One encoder stage: ``kind`` "conv" (k4s2 to ``width`` channels, then a k4s1 when
    ``extra``) or "fc" (a Linear to ``width`` features)."""

    kind: str
    width: int
    extra: bool = False


def default_ladder_architecture(input_shape: Sequence[int]) -> str:
    """``conv28`` for (C, 28, 28), ``conv8`` for (C, s, s) with 8 <= s <= 16 (the 8×8 digits,
    the 12×12 nuisance digits), ``conv32`` for (C, 32, 32), else ``mlp`` (inputs are
    flattened)."""
    shape = tuple(input_shape)
    if len(shape) == 3 and shape[1:] == (28, 28):
        return "conv28"
    if len(shape) == 3 and shape[1] == shape[2] and 8 <= shape[1] <= 16:
        return "conv8"
    if len(shape) == 3 and shape[1:] == (32, 32):
        return "conv32"
    return "mlp"


def default_widths(arch: str, preset: str) -> tuple[int, int]:
    """(channels, hidden) of an architecture: base conv channels and FC width.

    ``paper`` is vlac.md §10 (64 / 1024 for conv28 and conv32); ``fast`` quarters the FC width and
    halves the channels, which makes a Fashion-MNIST epoch about 6× cheaper on a CPU.
    """
    table = {
        "paper": {"conv28": (64, 1024), "conv32": (64, 1024), "conv8": (32, 256), "mlp": (0, 256)},
        "fast": {"conv28": (32, 256), "conv32": (32, 256), "conv8": (16, 128), "mlp": (0, 128)},
    }
    return table["paper" if preset == "paper" else "fast"][arch]


def stages_for(arch: str, n_levels: int, channels: int, hidden: int) -> list[Stage]:
    """The encoder stages of ``arch`` for ``n_levels`` levels.

    The conv stages come first (conv28: 2, conv8: 2, conv32: 3 with an extra k4s1 each, as in
    vlac.md §10); every further level is an FC stage of ``hidden`` features; fewer levels cut the
    list from the top. conv32 departs from vlac.md's SVHN table in two places, both to keep the one
    mirror rule: g_4 is one FC layer (not two), and the laterals of z_2 / z_1 enter at 4×4 / 8×8
    (the input of the mirrored block) rather than at 8×8 / 16×16.
    """
    if arch == "conv28" or arch == "conv8":
        convs = [Stage("conv", channels), Stage("conv", 2 * channels)]
    elif arch == "conv32":
        convs = [Stage("conv", channels * 2**i, extra=True) for i in range(3)]
    elif arch == "mlp":
        convs = []
    else:
        raise ValueError(
            f"unknown ladder architecture {arch!r}; choose one of {LADDER_ARCHITECTURES}"
        )
    stages = convs + [Stage("fc", hidden)] * max(0, n_levels - len(convs))
    return stages[:n_levels]


# ------------------------------------------------------------------------------ small blocks
def _act(n: int, conv: bool) -> list[nn.Module]:
    return [nn.BatchNorm2d(n) if conv else nn.BatchNorm1d(n), nn.LeakyReLU(SLOPE)]


class Reshape(nn.Module):
    """(B, prod(shape)) → (B, *shape)."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], *self.shape)


def _stage_out_shape(stage: Stage, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    if stage.kind == "fc":
        return (stage.width,)
    if len(in_shape) != 3:
        raise ValueError(f"a conv stage needs (C, H, W) input, got {in_shape}")
    _, h, w = in_shape
    # k4s2 with padding 1: floor((n + 2 - 4) / 2) + 1
    return (stage.width, (h - 2) // 2 + 1, (w - 2) // 2 + 1)


def _encoder_net(stage: Stage, in_features: int) -> nn.Sequential:
    """The layers of g_l on an input of ``in_features`` channels (conv) or features (fc)."""
    if stage.kind == "fc":
        return nn.Sequential(
            nn.Linear(in_features, stage.width, bias=False), *_act(stage.width, False)
        )
    layers: list[nn.Module] = [
        nn.Conv2d(in_features, stage.width, 4, stride=2, padding=1, bias=False),
        *_act(stage.width, True),
    ]
    if stage.extra:
        layers += [
            # k4s1 "same": an even kernel pads 1 before and 2 after (explicitly, which avoids
            # the copy and warning of padding="same").
            nn.ZeroPad2d((1, 2, 1, 2)),
            nn.Conv2d(stage.width, stage.width, 4, stride=1, bias=False),
            *_act(stage.width, True),
        ]
    return nn.Sequential(*layers)


def _mirror_net(
    stage: Stage,
    in_features: int,
    out_shape: tuple[int, ...],
    in_shape: tuple[int, ...],
    *,
    final: bool,
) -> nn.Sequential:
    """The mirror of a stage: maps a tensor shaped like the stage's output (with
    ``in_features`` channels/features) to ``out_shape``, the stage's input shape. ``final``: the
    last layer is an output (no BatchNorm, no activation)."""
    out_n = math.prod(out_shape)
    if stage.kind == "fc":
        layers: list[nn.Module] = [nn.Linear(in_features, out_n, bias=final)]
        if not final:
            layers += _act(out_n, False)
        if len(out_shape) > 1:
            layers.append(Reshape(out_shape))
        return nn.Sequential(*layers)
    c_out, h_out, w_out = out_shape
    # ConvTranspose k4s2p1 doubles the size; output_padding restores an odd size (7 → 3 → 7).
    pad = (h_out - 2 * in_shape[1], w_out - 2 * in_shape[2])
    if stage.extra:  # T4s2(width/2) then Conv3×3(c_out): vlac.md's SVHN decoder blocks
        mid = max(stage.width // 2, c_out) if final else c_out
        layers = [
            nn.ConvTranspose2d(in_features, mid, 4, 2, 1, output_padding=pad, bias=False),
            *_act(mid, True),
            nn.Conv2d(mid, c_out, 3, padding=1, bias=final),
        ]
    else:
        layers = [nn.ConvTranspose2d(in_features, c_out, 4, 2, 1, output_padding=pad, bias=final)]
    if not final:
        layers += _act(c_out, True)
    return nn.Sequential(*layers)


# ------------------------------------------------------------------------------ ladder blocks
class EncoderBlock(nn.Module):
    """g_l: [h_{l-1}; ỹ_{l-1}] → h_l. (B, *in_shape), (B, K) or None → (B, *out_shape)."""

    def __init__(self, net: nn.Module, flat: bool) -> None:
        super().__init__()
        self.net = net
        self.flat = flat  # an FC block flattens its input before ỹ is appended

    def forward(self, h: Tensor, y: Tensor | None = None) -> Tensor:
        if self.flat:
            h = h.flatten(1)
        if y is not None:
            if h.dim() == 4:  # K constant feature maps
                y = y[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
            h = torch.cat([h, y.to(h.dtype)], dim=1)
        return self.net(h)


class DecoderBlock(nn.Module):
    """f_l: [z̃_{l+1}; lateral(z_l)] → z̃_l. (B, d_l) or None, (B, *upper) or None → (B, *h_l)."""

    def __init__(self, lateral: nn.Module | None, lateral_shape: tuple[int, ...], net: nn.Module):
        super().__init__()
        self.lateral = lateral
        self.lateral_shape = lateral_shape
        self.net = net

    def forward(self, z: Tensor | None, upper: Tensor | None) -> Tensor:
        parts = [] if upper is None else [upper]
        if self.lateral is not None:
            if z is None:
                raise ValueError("this decoder block needs its layer's z")
            parts.append(self.lateral(z).reshape(z.shape[0], *self.lateral_shape))
        return self.net(parts[0] if len(parts) == 1 else torch.cat(parts, dim=1))


#: the forms of the z heads: one Linear on flatten(h_l) (vlac.md §10) or the VLAE reference's
#: two-layer ladder branch per layer with a sigmoid standard deviation.
HEAD_KINDS = ("linear", "ladder")


class Heads(nn.Module):
    """The heads of one level on flatten(h_l): y logits (B, K) and z mean / variance (B, d).

    Args:
        h_features: size of flatten(h_l).
        n_components: K_l (1: no y head).
        z_dim: d_l (0: no z head).
        kind: ``"linear"`` (vlac.md §2: μ and σ are Linears of [flatten(h_l); ỹ_l], σ =
            softplus + 1e-3) or ``"ladder"`` (the VLAE reference: a branch of two
            Linear-BatchNorm-LeakyReLU layers of ``width`` features, then μ = Linear and σ =
            sigmoid(Linear) + 1e-3).
        z_given_y: the z head takes ỹ_l (q(z_l | x, y_≤l), vlac.md §2); False gives q(z_l | x),
            so the component cannot be absorbed by z's posterior and is decided by the prior.
        width: the branch's width (``ladder`` only).
    """

    def __init__(
        self,
        h_features: int,
        n_components: int,
        z_dim: int,
        kind: str = "linear",
        z_given_y: bool = True,
        width: int = 256,
    ) -> None:
        super().__init__()
        if kind not in HEAD_KINDS:
            raise ValueError(f"head must be one of {HEAD_KINDS}, got {kind!r}")
        self.kind = kind
        self.y = nn.Linear(h_features, n_components) if n_components > 1 else None
        self.z_given_y = bool(z_given_y) and n_components > 1
        z_in = h_features + (n_components if self.z_given_y else 0)
        self.branch: nn.Module | None = None
        self.std: nn.Module | None = None
        if z_dim <= 0:
            self.z = None
        elif kind == "linear":
            self.z = nn.Linear(z_in, 2 * z_dim)
        else:
            self.branch = nn.Sequential(
                nn.Linear(z_in, width, bias=False),
                *_act(width, False),
                nn.Linear(width, width, bias=False),
                *_act(width, False),
            )
            self.z = nn.Linear(width, z_dim)
            self.std = nn.Linear(width, z_dim)

    def logits(self, h_flat: Tensor) -> Tensor:
        assert self.y is not None
        return self.y(h_flat)

    def gaussian(self, h_flat: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor]:
        """Mean and variance (B, d) of q(z_l | ·) from flatten(h_l) (B, F) and ỹ_l (B, K),
        which is ignored when the head does not take it (``z_given_y=False``)."""
        assert self.z is not None
        use_y = y is not None and self.z_given_y
        inp = torch.cat([h_flat, y.to(h_flat.dtype)], dim=1) if use_y else h_flat
        if self.branch is not None:
            assert self.std is not None
            u = self.branch(inp)
            return self.z(u), (torch.sigmoid(self.std(u)) + 1e-3) ** 2
        mu, s = self.z(inp).chunk(2, dim=-1)
        std = nn.functional.softplus(s) + 1e-3
        return mu, std**2


class LadderNets(nn.Module):
    """All networks of a ladder: ``encoders[l]`` = g_{l+1}, ``heads[l]``, ``decoders[l]`` =
    f_{l+1} and ``output`` = f_0 (0-based lists).

    Args:
        arch: one of :data:`LADDER_ARCHITECTURES`.
        input_shape: shape of one sample, e.g. (1, 28, 28); ``mlp`` flattens any shape.
        K: components per level (1: no y).
        z_dims: latent size per level; 0 means a level without z (no z head, no lateral input),
            used by GM-DGM. The top level needs a z.
        channels, hidden: base conv channels and FC width.
        lateral_channels: channels of the lateral embedding where z̃_{l+1} is a feature map.
        head, z_given_y: the form of the z heads and whether they take ỹ_l (:class:`Heads`;
            a ``ladder`` branch is ``hidden`` wide).
    """

    def __init__(
        self,
        arch: str,
        input_shape: Sequence[int],
        K: Sequence[int],
        z_dims: Sequence[int],
        channels: int,
        hidden: int,
        lateral_channels: int = 16,
        head: str = "linear",
        z_given_y: bool = True,
    ) -> None:
        super().__init__()
        L = len(K)
        if len(z_dims) != L or L < 1:
            raise ValueError(f"K and z_dims must have the same length >= 1, got {K} and {z_dims}")
        if z_dims[-1] < 1:
            raise ValueError("the top level needs a latent: z_dims[-1] must be >= 1")
        input_shape = tuple(int(s) for s in input_shape)
        if arch == "mlp":
            input_shape = (math.prod(input_shape),)
        elif len(input_shape) != 3:
            raise ValueError(f"architecture {arch!r} needs (C, H, W) samples, got {input_shape}")
        stages = stages_for(arch, L, channels, hidden)
        self.input_shape = input_shape
        shapes = [input_shape]
        for stage in stages:
            shapes.append(_stage_out_shape(stage, shapes[-1]))
        #: h_l's shape for l = 0..L (h_0 = x)
        self.h_shapes = shapes

        self.encoders = nn.ModuleList()
        self.heads = nn.ModuleList()
        for l, stage in enumerate(stages):
            k_below = K[l - 1] if l > 0 and K[l - 1] > 1 else 0
            flat = stage.kind == "fc"
            in_n = (math.prod(shapes[l]) if flat else shapes[l][0]) + k_below
            self.encoders.append(EncoderBlock(_encoder_net(stage, in_n), flat=flat))
            self.heads.append(
                Heads(math.prod(shapes[l + 1]), K[l], z_dims[l], head, z_given_y, hidden)
            )

        self.decoders = nn.ModuleList()
        for l in range(L):
            d = z_dims[l]
            if l == L - 1:  # f_L: lateral FC(hidden) then an FC to h_L's shape
                lat_shape: tuple[int, ...] = (hidden,)
                net = _mirror_net(Stage("fc", hidden), hidden, shapes[L], (hidden,), final=False)
            else:
                up = shapes[l + 2]  # z̃_{l+1} has h_{l+1}'s shape
                lat_shape = (lateral_channels, *up[1:]) if len(up) == 3 else (hidden,)
                in_n = up[0] + (lat_shape[0] if d > 0 else 0)
                net = _mirror_net(stages[l + 1], in_n, shapes[l + 1], up, final=False)
            lateral = None
            if d > 0:
                n_lat = math.prod(lat_shape)
                lateral = nn.Sequential(nn.Linear(d, n_lat, bias=False), *_act(n_lat, False))
            self.decoders.append(DecoderBlock(lateral, lat_shape, net))
        self.output = _mirror_net(stages[0], shapes[1][0], input_shape, shapes[1], final=True)

    def decode(self, zs: Sequence[Tensor | None]) -> Tensor:
        """The generative ladder: z̃_L = f_L(z_L), z̃_l = f_l(z_l, z̃_{l+1}), output = f_0(z̃_1).

        ``zs[l]`` is (B, d_{l+1}) or None for levels without z. Returns (B, *input_shape) (flat
        for ``mlp``; the caller reshapes).
        """
        u: Tensor | None = None
        for l in reversed(range(len(self.decoders))):
            u = self.decoders[l](zs[l], u)
        return self.output(u)


__all__ = [
    "HEAD_KINDS",
    "LADDER_ARCHITECTURES",
    "DecoderBlock",
    "EncoderBlock",
    "Heads",
    "LadderNets",
    "Stage",
    "default_ladder_architecture",
    "default_widths",
    "stages_for",
]
