"""The VAE baseline (baselines.md §1; and the VAE of VAE-HKMeans / VAE-RGMM, §8).

One Gaussian latent z with prior N(0, I); q(z | x) = N(μ(x), σ²(x)) from linear heads on the
encoder output (μ = Linear, σ² = softplus(Linear)); p(x | z) from the decoder and a likelihood.
The encoder/decoder are the library's (``dendrogen.nn.architectures``, the same ones TreeVAE uses,
so the comparison is fair), or with ``arch="htvae"`` HTVAE's own networks (htvae.md §4; the
encoder gives μ and log σ² itself, the decoder ends in a sigmoid, and with the Gaussian
likelihood of variance ½ the reconstruction loss is Σ‖x' − x‖², as §8 asks).

Loss (per sample, averaged over the batch): −log p(x | z) + α·KL(q(z | x) ‖ N(0, I)); with
``contrastive`` settings (:mod:`dendrogen.models.contrastive`), batches of two views per image
and λ·NT-Xent on a projection head of the encoder's output e(x) added.
Embedding: μ(x). Shapes: B = batch, D = latent_dim.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dendrogen.models.contrastive import (
    ContrastiveSettings,
    add_contrastive,
    embedding_nt_xent,
    projection_heads,
)
from dendrogen.nn.architectures import default_architecture, make_decoder, make_encoder
from dendrogen.nn.gaussian import kl_std_normal
from dendrogen.nn.likelihoods import make_likelihood
from dendrogen.nn.som_nets import SOMDecoder, SOMEncoder

EPS = 1e-7
#: HTVAE's networks (htvae.md §4): the encoder has its own μ / log σ² heads.
HTVAE_ARCH = "htvae"


@dataclass
class VAEConfig:
    """Architecture of a VAE (and of the networks a LadderVAE shares with it).

    Attributes:
        input_shape: one sample's shape, e.g. (1, 28, 28).
        arch: encoder/decoder family of ``dendrogen.nn.architectures``, "auto" (by shape) or
            "htvae" (HTVAE's conv networks, htvae.md §4).
        latent_dim: D, the size of z (8 in baselines.md §1, 64 for the HTVAE protocol).
        width: width of the ``mlp`` networks (and of the LadderVAE's bottom-up layers).
        likelihood: "bernoulli" (data in [0, 1]) or "gaussian" (fixed variance ``obs_var``).
        obs_var: the Gaussian likelihood's variance (½: −log p = Σ(x − μ)² + const).
        widths: the two conv widths of the "htvae" networks.
    """

    input_shape: tuple[int, ...]
    arch: str = "auto"
    latent_dim: int = 8
    width: int = 128
    likelihood: str = "bernoulli"
    obs_var: float = 0.5
    widths: tuple[int, int] = (32, 64)

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(s) for s in self.input_shape)
        self.widths = tuple(int(w) for w in self.widths)
        if self.latent_dim < 1 or self.width < 1:
            raise ValueError("latent_dim and width must be positive")
        if self.likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(
                f"likelihood must be 'bernoulli' or 'gaussian', not {self.likelihood!r}"
            )

    @property
    def network(self) -> str:
        """The resolved architecture name."""
        return default_architecture(self.input_shape) if self.arch == "auto" else self.arch

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"], d["widths"] = list(self.input_shape), list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VAEConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class GaussianEncoder(nn.Module):
    """x (B, *input_shape) → (μ, σ²), each (B, D): an encoder with Gaussian heads."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.htvae = config.network == HTVAE_ARCH
        if self.htvae:
            self.net = SOMEncoder(config.input_shape, config.latent_dim, config.widths)
        else:
            self.net = make_encoder(config.network, config.input_shape, config.width)
            self.heads = nn.Linear(self.net.out_features, 2 * config.latent_dim)

    @property
    def out_features(self) -> int:
        """Width of the deterministic features (not defined for the "htvae" encoder)."""
        return self.net.out_features

    def features(self, x: Tensor) -> Tensor:
        """The encoder's deterministic output e(x): (B, out_features)."""
        return self.net(x)

    def posterior(self, e: Tensor) -> tuple[Tensor, Tensor]:
        """(μ, σ²) from the features e(x) (not for the "htvae" encoder)."""
        mu, var = self.heads(e).chunk(2, dim=-1)
        return mu, F.softplus(var) + EPS

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.htvae:
            mu, logvar = self.net(x)
            return mu, logvar.exp() + EPS
        return self.posterior(self.net(x))


def make_vae_decoder(config: VAEConfig) -> nn.Module:
    """The decoder of ``config``: z (B, D) → (B, *input_shape) (logits for Bernoulli)."""
    if config.network == HTVAE_ARCH:
        return SOMDecoder(config.latent_dim, config.input_shape, config.widths, output="sigmoid")
    return make_decoder(config.network, config.latent_dim, config.input_shape, config.width)


def check_htvae_likelihood(config: VAEConfig) -> None:
    """HTVAE's decoder outputs means in (0, 1), not logits: it needs the Gaussian likelihood."""
    if config.network == HTVAE_ARCH and config.likelihood != "gaussian":
        raise ValueError("arch='htvae' ends its decoder in a sigmoid; use likelihood='gaussian'")


class VAEModel(nn.Module):
    """A VAE; ``forward(x, alpha)`` gives the named loss terms the Trainer minimises.

    With ``contrastive`` settings, ``projections[0]`` is the head g(e(x)) and ``forward``
    expects batches of stacked view pairs (2B rows).
    """

    def __init__(self, config: VAEConfig, contrastive: ContrastiveSettings | None = None) -> None:
        super().__init__()
        check_htvae_likelihood(config)
        self.config = config
        self.encoder = GaussianEncoder(config)
        self.decoder = make_vae_decoder(config)
        self.likelihood = make_likelihood(config.likelihood, obs_var=config.obs_var)
        self.contrastive = contrastive
        if contrastive is not None:
            if self.encoder.htvae:
                raise ValueError(
                    "the contrastive VAE projects the encoder's features; arch='htvae' has none"
                )
            self.projections = projection_heads([self.encoder.out_features], config.latent_dim)

    def embed(self, x: Tensor) -> Tensor:
        """The embedding μ(x): (B, D)."""
        return self.encoder(x)[0]

    def elbo_terms(self, x: Tensor) -> dict[str, Tensor]:
        """Per-sample ``rec`` = log p(x | z) with one z ~ q, and ``kl``; each (B,)."""
        return self._elbo_from(x, *self.encoder(x))

    def _elbo_from(self, x: Tensor, mu: Tensor, var: Tensor) -> dict[str, Tensor]:
        z = mu + var.sqrt() * torch.randn_like(mu)
        rec = self.likelihood.log_prob(self.decoder(z), x)
        return {"rec": rec, "kl": kl_std_normal(mu, var)}

    def forward(self, x: Tensor, alpha: float = 1.0) -> dict[str, Tensor]:
        """Batch means: ``loss`` = −rec + α·kl (+ λ·``contrastive``), ``rec``, ``kl`` and
        ``elbo`` (α = 1, without the contrastive term)."""
        if self.contrastive is None:
            per_sample = self.elbo_terms(x)
        else:
            e = self.encoder.features(x)
            per_sample = self._elbo_from(x, *self.encoder.posterior(e))
        terms = {k: v.mean() for k, v in per_sample.items()}
        terms["loss"] = -terms["rec"] + alpha * terms["kl"]
        terms["elbo"] = (terms["rec"] - terms["kl"]).detach()
        if self.contrastive is not None:
            con = embedding_nt_xent(self.projections, [e], self.contrastive.temperature)
            add_contrastive(terms, con, self.contrastive.weight)
        return terms

    def decode_mean(self, z: Tensor) -> Tensor:
        """The mean of p(x | z) for z (B, D): (B, *input_shape)."""
        return self.likelihood.mean(self.decoder(z))

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Means of p(x | z) for n draws z ~ N(0, I): (n, *input_shape)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(device)
        return self.decode_mean(z)


__all__ = ["HTVAE_ARCH", "GaussianEncoder", "VAEConfig", "VAEModel", "make_vae_decoder"]
