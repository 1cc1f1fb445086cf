"""The LadderVAE baseline (Sønderby et al. 2016; baselines.md §2).

J stochastic layers of size D; layer 1 feeds the decoder, layer J is the top.

- Bottom-up: e_1 = Encoder(x); e_j = LReLU_0.3(BN(Linear_no-bias(e_{j−1}))) of width w; heads
  μ̂_j = Linear(e_j), σ̂²_j = softplus(Linear(e_j)) (TreeVAE's node heads).
- Top-down: q(z_J | x) = N(μ̂_J, σ̂²_J), p(z_J) = N(0, I); for j = J−1..1 TreeVAE's transformation
  maps the sampled z_{j+1} to (μ_p, σ²_p), and q(z_j | ·) is the precision-weighted product of
  N(μ̂_j, σ̂²_j) and N(μ_p, σ²_p).
- Loss: −[log p(x | z_1) − KL_top − Σ_j KL(q_j ‖ p_j)], the KLs analytic given the sampled parents.
- Embedding: posterior means of a top-down pass that propagates means instead of samples.
- Contrastive (``contrastive`` settings, :mod:`dendrogen.models.contrastive`): batches of two
  views per image, λ·(mean over j of NT-Xent on a projection head of e_j) added to the loss.

The encoder, decoder, heads and transformations are the blocks TreeVAE uses (treevae.md §6), so a
LadderVAE is a TreeVAE path of J nodes with one decoder. Shapes: B = batch, D = latent_dim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from dendrogen.models.contrastive import (
    ContrastiveSettings,
    add_contrastive,
    embedding_nt_xent,
    projection_heads,
)
from dendrogen.models.vae import HTVAE_ARCH, VAEConfig, make_vae_decoder
from dendrogen.nn.architectures import make_encoder
from dendrogen.nn.gaussian import kl_normal, kl_std_normal, precision_weighted
from dendrogen.nn.latent_heads import NodeHead, Transformation
from dendrogen.nn.layers import DenseBlock
from dendrogen.nn.likelihoods import make_likelihood

EPS = 1e-7


@dataclass
class LadderVAEConfig(VAEConfig):
    """A :class:`VAEConfig` plus ``n_layers`` = J (6 in baselines.md §2: TreeVAE's H + 1)."""

    n_layers: int = 6

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {self.n_layers}")
        if self.network == HTVAE_ARCH:
            raise ValueError("the LadderVAE uses the library's networks, not arch='htvae'")


class LadderVAEModel(nn.Module):
    """A LadderVAE; ``forward(x, alpha)`` gives the named loss terms the Trainer minimises.

    With ``contrastive`` settings, ``projections[j − 1]`` is the head of e_j and ``forward``
    expects batches of stacked view pairs (2B rows).
    """

    def __init__(
        self, config: LadderVAEConfig, contrastive: ContrastiveSettings | None = None
    ) -> None:
        super().__init__()
        self.config = config
        J, D, w = config.n_layers, config.latent_dim, config.width
        self.encoder = make_encoder(config.network, config.input_shape, config.width)
        widths = [self.encoder.out_features] + [w] * (J - 1)  # width of e_1 .. e_J
        self.bottom_up = nn.ModuleList(DenseBlock(widths[j - 1], widths[j]) for j in range(1, J))
        self.heads = nn.ModuleList(NodeHead(widths[j], D) for j in range(J))
        # transforms[j] gives p(z_{j+1} | z_{j+2}) (0-based: layer j+1 from the layer above it)
        self.transforms = nn.ModuleList(Transformation(D, w) for _ in range(J - 1))
        self.decoder = make_vae_decoder(config)
        self.likelihood = make_likelihood(config.likelihood, obs_var=config.obs_var)
        self.contrastive = contrastive
        if contrastive is not None:
            self.projections = projection_heads(widths, D)

    def embeddings(self, x: Tensor) -> list[Tensor]:
        """The bottom-up embeddings e_1 … e_J (list index j − 1), each (B, width of e_j)."""
        e = [self.encoder(x)]
        for block in self.bottom_up:
            e.append(block(e[-1]))
        return e

    def bottom_up_pass(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """(μ̂_j, σ̂²_j) for j = 1..J (list index j − 1), each (B, D)."""
        return [head(e) for head, e in zip(self.heads, self.embeddings(x), strict=True)]

    def top_down(
        self, x: Tensor, sample: bool = True, hats: list[tuple[Tensor, Tensor]] | None = None
    ) -> dict[str, list[Tensor]]:
        """The top-down pass: lists indexed j − 1 for layers j = 1..J of ``z``, ``mu_q``,
        ``var_q``, ``mu_p`` and ``var_p`` (None at the top), each (B, D). ``sample=False``
        propagates posterior means instead of samples; ``hats`` is x's bottom-up pass when
        already computed."""
        J = self.config.n_layers
        hats = self.bottom_up_pass(x) if hats is None else hats
        z: list[Any] = [None] * J
        mu_q: list[Any] = [None] * J
        var_q: list[Any] = [None] * J
        mu_p: list[Any] = [None] * J
        var_p: list[Any] = [None] * J
        for j in range(J - 1, -1, -1):
            mu_hat, var_hat = hats[j]
            if j == J - 1:
                mu_q[j], var_q[j] = mu_hat, var_hat + EPS
            else:
                mp, vp = self.transforms[j](z[j + 1])
                mu_q[j], var_q[j] = precision_weighted(mu_hat, var_hat, mp, vp, EPS)
                mu_p[j], var_p[j] = mp, vp + EPS
            noise = torch.randn_like(mu_q[j]) if sample else 0.0
            z[j] = mu_q[j] + torch.sqrt(var_q[j] + EPS) * noise
        return {"z": z, "mu_q": mu_q, "var_q": var_q, "mu_p": mu_p, "var_p": var_p}

    def embed(self, x: Tensor, layer: str | int = "bottom") -> Tensor:
        """Posterior means of a mean-propagating pass: z_1 ("bottom", the decoder's input), z_J
        ("top") or layer j (1..J). (B, D)."""
        j = {"bottom": 1, "top": self.config.n_layers}.get(layer, layer)
        return self.top_down(x, sample=False)["mu_q"][int(j) - 1]

    def elbo_terms(self, x: Tensor) -> dict[str, Tensor]:
        """Per-sample ``rec`` = log p(x | z_1), ``kl_top`` and ``kl_layers`` (Σ_j<J); each (B,)."""
        return self._elbo_from(x, self.top_down(x))

    def _elbo_from(self, x: Tensor, td: dict[str, list[Tensor]]) -> dict[str, Tensor]:
        top = self.config.n_layers - 1
        kl_layers = x.new_zeros(x.shape[0])
        for j in range(top):
            kl_layers = kl_layers + kl_normal(td["mu_q"][j], td["var_q"][j], td["mu_p"][j],
                                              td["var_p"][j])  # fmt: skip
        return {
            "rec": self.likelihood.log_prob(self.decoder(td["z"][0]), x),
            "kl_top": kl_std_normal(td["mu_q"][top], td["var_q"][top]),
            "kl_layers": kl_layers,
        }

    def forward(self, x: Tensor, alpha: float = 1.0) -> dict[str, Tensor]:
        """Batch means: ``loss`` = −rec + α·(kl_top + kl_layers) (+ λ·``contrastive``), its
        terms, ``elbo`` (α = 1, without the contrastive term)."""
        if self.contrastive is None:
            per_sample = self.elbo_terms(x)
        else:
            e = self.embeddings(x)
            hats = [head(ej) for head, ej in zip(self.heads, e, strict=True)]
            per_sample = self._elbo_from(x, self.top_down(x, hats=hats))
        terms = {k: v.mean() for k, v in per_sample.items()}
        kl = terms["kl_top"] + terms["kl_layers"]
        terms["loss"] = -terms["rec"] + alpha * kl
        terms["elbo"] = (terms["rec"] - kl).detach()
        if self.contrastive is not None:
            con = embedding_nt_xent(self.projections, e, self.contrastive.temperature)
            add_contrastive(terms, con, self.contrastive.weight)
        return terms

    def decode_mean(self, z: Tensor) -> Tensor:
        """The mean of p(x | z_1) for z_1 (B, D): (B, *input_shape)."""
        return self.likelihood.mean(self.decoder(z))

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Ancestral samples z_J ~ N(0, I) → … → z_1, decoded to means: (n, *input_shape)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(device)
        for j in range(self.config.n_layers - 2, -1, -1):
            mu, var = self.transforms[j](z)
            noise = torch.randn(mu.shape, generator=generator).to(device)
            z = mu + var.sqrt() * noise
        return self.decode_mean(z)


__all__ = ["LadderVAEConfig", "LadderVAEModel"]
