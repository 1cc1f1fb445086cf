"""HTVAE: a VAE whose latent space holds a stack of self-organising maps (htvae.md, the paper
shared/seeds/000_…, equation numbers refer to it).

Reads top to bottom: config, the module (encoder, maps, decoder), the forward pass and its loss
(eqs. 4–9), the must-link term (eq. 10), then generation. No training loop here: the estimator
drives :class:`dendrogen.training.Trainer` with :meth:`HTVAEModel.forward` as the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from dendrogen.models.som import SOMStack, check_map_sizes, grid_distance, weighted_sums
from dendrogen.nn.gaussian import kl_std_normal
from dendrogen.nn.som_nets import OUTPUTS, SOMDecoder, SOMEncoder

SIGMA_MODES = ("isotropic", "per_dim", "half_gap")
#: floor of the per-dimension code spread (htvae.md §1.2).
PER_DIM_FLOOR = 1e-6
#: how the codes learn: Adam on the loss (the paper) or moving averages of what they quantise.
CODE_UPDATES = ("gradient", "ema")
DECODER_DENSE = ("relu", "linear")
#: a moving-average code whose running count falls below this share of a fair one is recruited.
DEAD_SHARE = 1e-3


@dataclass
class HTVAEConfig:
    """Everything that fixes the shapes and the loss of an HTVAE (htvae.md §1–3 defaults).

    Attributes:
        input_shape: one sample's shape: (C, H, W), (C, T) or (D,).
        latent_dim: L.
        map_sizes: (rows, cols) per map, finest first; K_1 > K_2 > … and ≥ 2 codes each.
        sigma_init: std of the codes' initial N(0, sigma_init²).
        rho: divides the squared neighbour distance that sets a code's spread (eq. 5).
        sigma_mode: ``"isotropic"`` (scalar σ_i), ``"per_dim"`` (htvae.md §1.2) or
            ``"half_gap"``: σ_{i,d} = |μ_{i,d} − n*_d| / 2 with n* the closest grid neighbour, a
            distance rather than a squared one, so it scales with the latent space and needs
            no ρ; each code's Gaussian reaches half way to its neighbour in every dimension,
            which is how the paper's prose describes the codes covering the map.
        lambda_top, lambda_hier, lambda_rec: weights of eqs. 9, 7, 8.
        kl_weight: weight of KL(q(z|x) ‖ N(0, I)); 0 in the paper.
        widths: the two conv widths of the §4 networks.
        output: decoder output, "sigmoid" (paper; data in [0, 1]) or "linear" (real data).
        code_update: ``"gradient"`` (the paper: the codes are parameters that Adam moves with
            the loss) or ``"ema"``: each code is the moving average (decay ``ema_decay``) of
            what it quantises, z_0 on S_1 and the chosen codes of S_{i−1} on S_i, its grid
            neighbours' points counting ``ema_neighbour`` as much (a batch SOM), and a code
            that nothing reaches any more is moved onto a random point of the batch.
        ema_decay: γ of the moving averages.
        ema_neighbour: weight of a winner's grid neighbours in the moving averages.
        kernel_size: conv kernel of the §4 networks (None: 3 for images, 5 for sequences; the
            SOM-VAE reference uses 4).
        decoder_dense: ``"relu"`` after the decoder's first Linear (§4) or ``"linear"`` (the
            SOM-VAE reference).
    """

    input_shape: tuple[int, ...]
    latent_dim: int = 64
    map_sizes: tuple[tuple[int, int], ...] = ((8, 8), (4, 4), (2, 2))
    sigma_init: float = 0.05
    rho: float = 10.0
    sigma_mode: str = "isotropic"
    lambda_top: float = 1.0
    lambda_hier: float = 1.0
    lambda_rec: float = 1.0
    kl_weight: float = 0.0
    widths: tuple[int, int] = field(default=(32, 64))
    output: str = "sigmoid"
    code_update: str = "gradient"
    ema_decay: float = 0.99
    ema_neighbour: float = 0.1
    kernel_size: int | None = None
    decoder_dense: str = "relu"

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(s) for s in self.input_shape)
        self.map_sizes = check_map_sizes(self.map_sizes)
        self.widths = tuple(int(w) for w in self.widths)
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if self.sigma_mode not in SIGMA_MODES:
            raise ValueError(f"sigma_mode must be one of {SIGMA_MODES}, got {self.sigma_mode!r}")
        if self.rho <= 0:
            raise ValueError(f"rho must be positive, got {self.rho}")
        if self.sigma_init <= 0:
            raise ValueError(f"sigma_init must be positive, got {self.sigma_init}")
        if len(self.widths) != 2 or min(self.widths) < 1:
            raise ValueError(f"widths must be two positive ints, got {self.widths}")
        if self.code_update not in CODE_UPDATES:
            raise ValueError(f"code_update must be one of {CODE_UPDATES}, got {self.code_update!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.kernel_size is not None and self.kernel_size < 1:
            raise ValueError(f"kernel_size must be a positive int or None, got {self.kernel_size}")
        if self.decoder_dense not in DECODER_DENSE:
            raise ValueError(
                f"decoder_dense must be one of {DECODER_DENSE}, got {self.decoder_dense!r}"
            )
        for name in ("lambda_top", "lambda_hier", "lambda_rec", "kl_weight", "ema_neighbour"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class HTVAEModel(nn.Module):
    """Encoder f_θ, the map stack S_1..S_M and one decoder g_φ shared by all levels."""

    def __init__(self, config: HTVAEConfig) -> None:
        super().__init__()
        self.config = config
        nets = {"kernel_size": config.kernel_size}
        self.encoder = SOMEncoder(config.input_shape, config.latent_dim, config.widths, **nets)
        self.maps = SOMStack(config.map_sizes, config.latent_dim, config.sigma_init)
        self.decoder = SOMDecoder(
            config.latent_dim, config.input_shape, config.widths, config.output,
            dense=config.decoder_dense, **nets,
        )  # fmt: skip
        self.ema = None
        if config.code_update == "ema":
            self.ema = CodeAverages(self.maps, config.ema_decay, config.ema_neighbour)

    # ------------------------------------------------------------------ inference
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """q(z|x): (B, *input_shape) → μ_0, log σ_0², each (B, L)."""
        mu, logvar = self.encoder(x)
        assert logvar is not None
        return mu, logvar

    def branch(self, x: Tensor) -> Tensor:
        """Codes at every level from μ_0 (htvae.md §6, §7): (B, *input_shape) → (M, B) int64."""
        return self.maps.discretise(self.encode(x)[0])

    def spread(self, mu: Tensor, rows: Tensor, table: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Eq. 5 at the selected codes, plus what L_top needs.

        Args:
            mu: (..., L) the selected codes μ_i (differentiable).
            rows: (...) their global rows in ``table``.
            table: the (ΣK, L) flat code table.

        Returns:
            sigma: (..., 1) (isotropic) or (..., L) (per_dim), detached;
            d2: (..., 4) squared distances to the grid neighbours, +inf where there is none;
            mask: (..., 4) True where the neighbour exists.
        """
        d2, nb = self.maps.neighbour_sq_dist(mu, rows, table)
        mask = self.maps.nb_mask[rows]
        with torch.no_grad():
            if self.config.sigma_mode == "isotropic":
                # The squared distance is used literally as a standard deviation (htvae.md §1.2).
                sigma = d2.min(-1, keepdim=True).values / self.config.rho
            else:
                closest = d2.argmin(-1)  # every map has >= 2 codes: at least one neighbour
                n_star = nb.gather(
                    -2, closest[..., None, None].expand(*closest.shape, 1, mu.shape[-1])
                ).squeeze(-2)
                if self.config.sigma_mode == "per_dim":
                    sigma = (mu - n_star) ** 2 / self.config.rho
                else:
                    sigma = (mu - n_star).abs() / 2
                sigma = sigma.clamp_min(PER_DIM_FLOOR)
        return sigma.detach(), d2, mask

    # ------------------------------------------------------------------ training loss
    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """One pass of Algorithm 1 on a batch and its loss (eqs. 4–9).

        Args:
            x: (B, *input_shape) in [0, 1].

        Returns:
            Scalars ``loss``, ``rec``, ``hier``, ``top`` (and ``kl`` when ``kl_weight`` > 0),
            each a batch mean of a sum over dimensions and levels.
        """
        cfg = self.config
        mu0, logvar0 = self.encode(x)
        z0 = mu0 + torch.exp(0.5 * logvar0) * torch.randn_like(mu0)
        table = self.maps.flat()
        k = self.maps.discretise(z0, table)  # (M, B): eq. 4, no gradient through argmin
        rows = self.maps.global_index(k)
        if self.ema is not None and self.training:
            # The codes follow their points; the loss below then sees the moved codes.
            table = self.ema.update(z0.detach(), rows, table.detach())
        mu = table[rows]  # (M, B, L): gradient reaches the selected codes (unless "ema")
        sigma, d2, mask = self.spread(mu, rows, table)
        z = mu + sigma * torch.randn_like(mu)  # reparameterised; σ detached (htvae.md §1.2)
        zs = torch.cat([z0[None], z])  # (M + 1, B, L)
        # One decoder call on all levels at once: (M + 1)·B rows are cheaper than M + 1 calls.
        recon = self.decoder(zs.reshape(-1, zs.shape[-1])).view(zs.shape[0], *x.shape)
        rec = (recon - x[None]).pow(2).flatten(2).sum(-1).sum(0).mean()  # eq. 8
        hier = (zs[1:] - zs[:-1]).pow(2).sum(-1).sum(0).mean()  # eq. 7
        top = d2.masked_fill(~mask, 0.0).sum(-1).sum(0).mean()  # eq. 9
        loss = cfg.lambda_top * top + cfg.lambda_hier * hier + cfg.lambda_rec * rec
        terms = {"rec": rec.detach(), "hier": hier.detach(), "top": top.detach()}
        if cfg.kl_weight > 0:
            kl = kl_std_normal(mu0, logvar0.exp()).mean()
            loss = loss + cfg.kl_weight * kl
            terms["kl"] = kl.detach()
        return {"loss": loss, **terms}

    def must_link(self, xa: Tensor, xb: Tensor, level: int = 1) -> Tensor:
        """Mean soft must-link penalty (eq. 10) over pairs (xa[p], xb[p]).

        L_ml = d_i(k^a_i, k^b_i)·‖z^a_0 − z^b_0‖², with d_i the Manhattan distance on grid S_i
        between the pair's eq. 4 codes at ``level``: an integer weight without gradient, 0 when
        both fall on the same code; the gradient reaches the encoder through the z_0's.

        Args:
            xa, xb: (P, *input_shape) the two members of each pair.
            level: 1 (finest) … M.
        """
        mu0, logvar0 = self.encode(torch.cat([xa, xb]))
        z0 = mu0 + torch.exp(0.5 * logvar0) * torch.randn_like(mu0)
        k = self.maps.discretise(z0)[level - 1]
        p = xa.shape[0]
        cols = self.config.map_sizes[level - 1][1]
        d = grid_distance(k[:p], k[p:], cols).to(z0.dtype)
        return (d * (z0[:p] - z0[p:]).pow(2).sum(-1)).mean()

    # ------------------------------------------------------------------ generation
    def code_spread(self, level: int, code: int) -> tuple[Tensor, Tensor]:
        """Mean and σ (eq. 5) of one code: (L,) and (1,) or (L,)."""
        table = self.maps.flat()
        row = torch.tensor([self.maps.offsets[level - 1] + code], device=table.device)
        mu = table[row]
        sigma, _, _ = self.spread(mu, row, table)
        return mu[0], sigma[0]

    def sample_codes(self, level: int, codes: Tensor, generator: torch.Generator | None) -> Tensor:
        """g(z), z ~ N(e^level_k, σ_k²) for each k in ``codes`` (n,) → (n, *input_shape)."""
        table = self.maps.flat()
        rows = self.maps.offsets[level - 1] + codes.to(table.device)
        mu = table[rows]
        sigma, _, _ = self.spread(mu, rows, table)
        eps = torch.randn(mu.shape, generator=generator, device="cpu").to(mu.device)
        return self.decoder(mu + sigma * eps)

    def decode_codes(self, level: int) -> Tensor:
        """The decoded code means of one map: (K_level, *input_shape)."""
        return self.decoder(self.maps.codes(level))


class CodeAverages(nn.Module):
    """Codes as moving averages of the points they quantise (``code_update="ema"``).

    VQ-VAE's exponential-moving-average codebook made topological like a batch SOM: a sample
    counts 1 for its winner on every map and ``neighbour`` for the winner's grid neighbours. On
    S_1 the points are z_0, on S_i the codes chosen on S_{i−1} (eq. 4's chain). The running
    counts and sums are buffers, saved with the weights and restored on resume; under
    ``torch.distributed`` the batch statistics are summed over processes first, so every replica
    keeps the same codes.
    """

    def __init__(self, maps: SOMStack, decay: float, neighbour: float) -> None:
        super().__init__()
        self.maps = [maps]  # a list: not a second registration of the same submodule
        self.decay = float(decay)
        self.neighbour = float(neighbour)
        n_codes = sum(maps.counts)
        self.register_buffer("count", torch.zeros(n_codes))
        self.register_buffer("total", torch.zeros(n_codes, maps.latent_dim))
        for p in maps.maps:
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, z0: Tensor, rows: Tensor, table: Tensor) -> Tensor:
        """One moving-average step; returns the new (ΣK, L) code table.

        Args:
            z0: (B, L) the batch's latent samples.
            rows: (M, B) global rows of each level's winner.
            table: (ΣK, L) the current codes.
        """
        maps = self.maps[0]
        n_levels, batch = rows.shape
        points = torch.cat([z0[None], table[rows[:-1]]])  # (M, B, L): what each map quantises
        nb, mask = maps.nb_index[rows], maps.nb_mask[rows]  # (M, B, 4)
        targets = torch.cat([rows[..., None], nb], -1).reshape(-1)
        weights = torch.cat(
            [torch.ones_like(rows[..., None], dtype=z0.dtype), self.neighbour * mask.to(z0.dtype)],
            -1,
        ).reshape(-1)
        spread = points[:, :, None, :].expand(n_levels, batch, 5, -1).reshape(-1, z0.shape[-1])
        count, total = weighted_sums(spread, weights, targets, len(self.count))
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(count)
            torch.distributed.all_reduce(total)
        self.count.mul_(self.decay).add_(count, alpha=1 - self.decay)
        self.total.mul_(self.decay).add_(total, alpha=1 - self.decay)
        reached = self.count > 0
        table = torch.where(reached[:, None], self.total / self.count.clamp_min(1e-12)[:, None],
                            table)  # fmt: skip
        table = self._recruit(table, points, rows.shape[1])
        for level, p in enumerate(maps.maps):
            off, k = maps.offsets[level], maps.counts[level]
            p.copy_(table[off : off + k].view_as(p))
        return table

    def _recruit(self, table: Tensor, points: Tensor, batch: int) -> Tensor:
        """Move each code whose running count fell below a thousandth of its fair share onto a
        random point of the batch (drawn from torch's global generator, which fits seed)."""
        maps = self.maps[0]
        for level, (off, k) in enumerate(zip(maps.offsets, maps.counts, strict=True)):
            dead = torch.nonzero(self.count[off : off + k] < DEAD_SHARE * batch / k).flatten()
            if dead.numel() == 0:
                continue
            pick = torch.randint(batch, (dead.numel(),), device=table.device)
            rows = dead + off
            table[rows] = points[level, pick]
            self.count[rows] = batch / k
            self.total[rows] = table[rows] * (batch / k)
        return table


def parse_map_sizes(map_sizes: Sequence[Sequence[int]] | str) -> tuple[tuple[int, int], ...]:
    """``"8x8,4x4,2x2"`` (command line) or ``[(8, 8), (4, 4), (2, 2)]`` → validated tuple."""
    if isinstance(map_sizes, str):
        try:
            map_sizes = [
                tuple(int(v) for v in part.lower().split("x")) for part in map_sizes.split(",")
            ]
        except ValueError:
            raise ValueError(f"map_sizes must look like '8x8,4x4,2x2', got {map_sizes!r}") from None
    return check_map_sizes(map_sizes)
