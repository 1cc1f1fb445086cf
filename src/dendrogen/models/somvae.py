"""SOM-VAE baseline (Fortuin et al. 2019) as specified in htvae.md §9.

A deterministic encoder z_e = f(x), one map of codes, z_q = the nearest code (a plain gather, no
straight-through estimator), one decoder applied to both. Loss:

    L = L_rec + α·L_commit + β·L_som
    L_rec    = MSE(x, g(z_q)) + MSE(x, g(z_e))            (means over elements)
    L_commit = mean (z_e − z_q)²                          (moves encoder and code)
    L_som    = (1/5)·Σ_{n ∈ {k, up, down, left, right}} mean_d (sg(z_e) − e_n)²
               (a missing border neighbour contributes 0; the divisor stays 5)

The Markov terms of the original are off (γ = τ = 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from dendrogen.models.som import SOMStack, check_map_sizes
from dendrogen.nn.som_nets import OUTPUTS, SOMDecoder, SOMEncoder


@dataclass
class SOMVAEConfig:
    """Attributes:
    input_shape: one sample's shape.
    latent_dim: L.
    map_size: (rows, cols) of the one map.
    sigma_init: std of the truncated-normal code initialisation.
    alpha: commitment weight; beta: SOM weight.
    widths: the two conv widths of the htvae.md §4 networks.
    output: decoder output, "sigmoid" (paper; data in [0, 1]) or "linear" (real data).
    """

    input_shape: tuple[int, ...]
    latent_dim: int = 64
    map_size: tuple[int, int] = (8, 8)
    sigma_init: float = 0.05
    alpha: float = 1.0
    beta: float = 0.9
    widths: tuple[int, int] = field(default=(32, 64))
    output: str = "sigmoid"

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(s) for s in self.input_shape)
        self.map_size = check_map_sizes([self.map_size])[0]
        self.widths = tuple(int(w) for w in self.widths)
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if self.sigma_init <= 0:
            raise ValueError(f"sigma_init must be positive, got {self.sigma_init}")
        if self.alpha < 0 or self.beta < 0:
            raise ValueError(f"alpha and beta must be >= 0, got {self.alpha}, {self.beta}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SOMVAEModel(nn.Module):
    """Deterministic encoder, one :class:`SOMStack` of a single map, one decoder."""

    def __init__(self, config: SOMVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = SOMEncoder(
            config.input_shape, config.latent_dim, config.widths, variational=False
        )
        self.maps = SOMStack([config.map_size], config.latent_dim, config.sigma_init, "truncated")
        self.decoder = SOMDecoder(
            config.latent_dim, config.input_shape, config.widths, config.output
        )

    def encode(self, x: Tensor) -> Tensor:
        """z_e: (B, *input_shape) → (B, L)."""
        return self.encoder(x)[0]

    def branch(self, x: Tensor) -> Tensor:
        """The code of each sample: (B, *input_shape) → (1, B) int64 (one level)."""
        return self.maps.discretise(self.encode(x))

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Loss of a batch (module docstring). x: (B, *input_shape) in [0, 1]."""
        cfg = self.config
        z_e = self.encode(x)
        table = self.maps.flat()
        k = self.maps.discretise(z_e, table)[0]
        z_q = table[k]  # plain gather: the decoder's gradient on z_q reaches only the code
        recon = self.decoder(torch.cat([z_e, z_q])).view(2, *x.shape)
        rec = (recon - x[None]).pow(2).flatten(1).mean(-1).sum()
        commit = (z_e - z_q).pow(2).mean()
        # The winner plus its four neighbours; missing ones are masked to 0 but still counted
        # in the divisor 5, as in the reference implementation's zero padding.
        rows = torch.cat([k[:, None], self.maps.nb_index[k]], dim=1)  # (B, 5)
        present = torch.cat(
            [torch.ones_like(k[:, None], dtype=torch.bool), self.maps.nb_mask[k]], 1
        )
        dist = (z_e.detach()[:, None, :] - table[rows]).pow(2).mean(-1)  # (B, 5)
        som = (dist * present).sum(-1).div(5.0).mean()
        loss = rec + cfg.alpha * commit + cfg.beta * som
        return {"loss": loss, "rec": rec.detach(), "commit": commit.detach(), "som": som.detach()}

    def decode_codes(self, level: int = 1) -> Tensor:
        """The decoded codes: (K, *input_shape)."""
        return self.decoder(self.maps.codes(level))

    def sample_codes(self, level: int, codes: Tensor, generator: torch.Generator | None) -> Tensor:
        """SOM-VAE codes are points, not distributions: g(e_k) for each k (deterministic)."""
        del generator
        return self.decoder(self.maps.codes(level)[codes.to(self.maps.maps[0].device)])
