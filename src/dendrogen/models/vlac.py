"""VLAC: the Gaussian-mixture Variational Ladder Autoencoder (vlac.md; paper 002, eqs. 1–9).

VLAE is the special case K_l = 1 for every layer and GM-DGM (``models/gmvae.py``) the special case
of one latent layer on top of deterministic levels, so all three share this one module.

Layers are 1-based in the docs and the public API (layer 1 is nearest the data) and 0-based in
the code's lists.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dendrogen.nn.gaussian import kl_normal, kl_std_normal
from dendrogen.nn.ladder_nets import HEAD_KINDS, LADDER_ARCHITECTURES, LadderNets
from dendrogen.nn.likelihoods import Likelihood, make_likelihood

Mode = Literal["sample", "mean", "enumerate"]

#: what a mixture layer passes up to the next encoder block (:attr:`VLACConfig.feed`).
FEEDS = ("sample", "argmax", "probs")


# ------------------------------------------------------------------------------ config
@dataclass
class VLACConfig:
    """Everything that fixes the shape of a VLAC network (vlac.md §1–5, §10).

    Attributes:
        input_shape: one sample's shape, e.g. (1, 28, 28).
        K: components per layer, layer 1 first; 1 = a plain VLAE layer with an N(0, I) prior.
        z_dims: latent size per layer; 0 = a deterministic level (used by GM-DGM only).
        arch: ``conv28``, ``conv8``, ``conv32`` or ``mlp`` (nn/ladder_nets.py).
        channels, hidden: base conv channels and FC width.
        likelihood: ``laplace`` (fixed scale, sigmoid location), ``bernoulli`` or ``gaussian``.
        laplace_scale: b of the Laplace likelihood (0.125: −log p = 8·Σ|x − x̂| + const).
        obs_var: variance of the Gaussian likelihood.
        estimator: ``gumbel`` (one straight-through Gumbel-Softmax sample per point) or ``exact``
            (enumerate every combination of the mixture layers' components).
        hard: straight-through Gumbel (forward one-hot); False keeps ỹ soft.
        max_enumeration: the largest Π K_l that ``exact`` may enumerate.
        head: the z heads: ``linear`` (one Linear on flatten(h_l), vlac.md §2) or ``ladder``
            (the VLAE reference's two-layer branch per layer with a sigmoid std).
        z_given_y: the z head of a mixture layer takes ỹ_l (q(z_l | x, y_≤l), vlac.md §2);
            False makes it q(z_l | x), so y_l only picks the prior component.
        feed: what a mixture layer passes up to the next encoder block: ``sample`` (vlac.md
            §2: the Gumbel sample in training, the argmax one-hot when clustering), ``argmax``
            (the one-hot of argmax q in training too, straight-through gradient) or ``probs``
            (q(y_l | ·) itself, in training and clustering alike).
    """

    input_shape: tuple[int, ...]
    K: tuple[int, ...] = (1, 1, 50, 1)
    z_dims: tuple[int, ...] = (5, 5, 5, 10)
    arch: str = "conv28"
    channels: int = 64
    hidden: int = 1024
    lateral_channels: int = 16
    likelihood: str = "laplace"
    laplace_scale: float = 0.125
    obs_var: float = 0.5
    estimator: str = "gumbel"
    hard: bool = True
    max_enumeration: int = 256
    head: str = "linear"
    z_given_y: bool = True
    feed: str = "sample"

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(s) for s in self.input_shape)
        self.K = check_K(self.K)
        self.z_dims = tuple(int(d) for d in self.z_dims)
        if len(self.z_dims) != len(self.K):
            raise ValueError(
                f"z_dims has {len(self.z_dims)} entries but K has {len(self.K)}: give one latent "
                f"size per layer (layer 1 first)"
            )
        if any(d < 0 for d in self.z_dims) or self.z_dims[-1] < 1:
            raise ValueError(f"z_dims must be >= 0 with a top layer >= 1, got {list(self.z_dims)}")
        for k, d in zip(self.K, self.z_dims, strict=True):
            if k > 1 and d < 1:
                raise ValueError("a mixture layer (K_l > 1) needs a latent of size >= 1")
        if self.arch not in LADDER_ARCHITECTURES:
            raise ValueError(f"arch must be one of {LADDER_ARCHITECTURES}, got {self.arch!r}")
        if self.likelihood not in ("laplace", "bernoulli", "gaussian"):
            raise ValueError(
                f"likelihood must be 'laplace', 'bernoulli' or 'gaussian', got {self.likelihood!r}"
            )
        if self.head not in HEAD_KINDS:
            raise ValueError(f"head must be one of {HEAD_KINDS}, got {self.head!r}")
        if self.feed not in FEEDS:
            raise ValueError(f"feed must be one of {FEEDS}, got {self.feed!r}")
        if self.estimator not in ("gumbel", "exact"):
            raise ValueError(f"estimator must be 'gumbel' or 'exact', got {self.estimator!r}")
        if self.estimator == "exact" and self.n_combinations > self.max_enumeration:
            raise ValueError(
                f"estimator='exact' would enumerate {self.n_combinations} component combinations "
                f"(the product of K = {list(self.K)}), more than max_enumeration="
                f"{self.max_enumeration}; use estimator='gumbel' or raise max_enumeration"
            )

    @property
    def n_combinations(self) -> int:
        return math.prod(self.K)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_shape"], d["K"], d["z_dims"] = (
            list(self.input_shape),
            list(self.K),
            list(self.z_dims),
        )
        return d


def check_K(K: Sequence[int] | int) -> tuple[int, ...]:
    """Validate a list of components per layer; returns it as a tuple of ints."""
    if isinstance(K, (int, float)) or not hasattr(K, "__len__") or isinstance(K, str):
        raise ValueError(
            f"K must be a list with one entry per layer, e.g. [1, 5, 50, 1]; got {K!r}"
        )
    out = []
    for k in K:
        if isinstance(k, bool) or not float(k).is_integer():
            raise ValueError(f"K must hold integers, got {list(K)}")
        if int(k) < 1:
            raise ValueError(f"every K_l must be >= 1 (1 = no cluster variable), got {list(K)}")
        out.append(int(k))
    if not out:
        raise ValueError("K must have at least one layer")
    return tuple(out)


# ------------------------------------------------------------------------------ likelihood
class Laplace(Likelihood):
    """Laplace with a fixed scale b around a sigmoid location (vlac.md §3).

    ``log_prob`` = −Σ|x − σ(output)|/b − D·log 2b: (B, ...) → (B,).
    """

    name = "laplace"
    needs_unit_interval = True

    def __init__(self, scale: float = 0.125) -> None:
        if scale <= 0:
            raise ValueError(f"laplace_scale must be positive, got {scale}")
        self.scale = float(scale)

    def log_prob(self, output: Tensor, x: Tensor) -> Tensor:
        dist = (torch.sigmoid(output) - x).abs().flatten(1)
        return -(dist.sum(-1) / self.scale + dist.shape[-1] * math.log(2 * self.scale))

    def mean(self, output: Tensor) -> Tensor:
        return torch.sigmoid(output)

    def config(self) -> dict:
        return {"name": self.name, "scale": self.scale}


def make_vlac_likelihood(config: VLACConfig) -> Likelihood:
    if config.likelihood == "laplace":
        return Laplace(config.laplace_scale)
    if config.likelihood == "gaussian":
        return make_likelihood("gaussian", obs_var=config.obs_var)
    return make_likelihood(config.likelihood)


# ------------------------------------------------------------------------------ schedules
def kl_weight(step: int, warmup: float) -> float:
    """β_t = 1 − exp(−t / warmup) (vlac.md §4); 1 when warmup <= 0."""
    return 1.0 if warmup <= 0 else 1.0 - math.exp(-step / warmup)


def gumbel_temperature(step: int, rate: float, every: int, floor: float = 0.5) -> float:
    """τ_t = max(floor, exp(−rate · t)), with t rounded down to a multiple of ``every``
    (vlac.md §5: rate 3e-5, every 1000 steps, floor 0.5)."""
    t = (step // max(1, every)) * max(1, every)
    return max(floor, math.exp(-rate * t))


# ------------------------------------------------------------------------------ the model
class VLACModel(nn.Module):
    """Encoder ladder with a categorical and a Gaussian latent per layer, mixture priors, and the
    generative ladder. ``loss(x, beta)`` is the negative ELBO of eq. 9 with the KL terms scaled by
    ``beta``; set ``tau`` (the Gumbel temperature) before each training step."""

    def __init__(self, config: VLACConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.nets = LadderNets(
            c.arch,
            c.input_shape,
            c.K,
            c.z_dims,
            c.channels,
            c.hidden,
            c.lateral_channels,
            head=c.head,
            z_given_y=c.z_given_y,
        )
        # p(z_l | y_l = k) = N(mu[k], diag exp(logvar[k])); init mu ~ N(0, I), logvar = 0 (§3).
        self.prior_mu = nn.ParameterDict()
        self.prior_logvar = nn.ParameterDict()
        for l in self.mixture_layers:
            self.prior_mu[str(l)] = nn.Parameter(torch.randn(c.K[l], c.z_dims[l]))
            self.prior_logvar[str(l)] = nn.Parameter(torch.zeros(c.K[l], c.z_dims[l]))
        self.likelihood = make_vlac_likelihood(c)
        self.tau = 1.0
        # the Cartesian product of the mixture layers' components, (C, M), for exact enumeration
        combos = list(itertools.product(*[range(c.K[l]) for l in self.mixture_layers])) or [()]
        self.register_buffer(
            "combos", torch.tensor(combos, dtype=torch.long).reshape(len(combos), -1), False
        )

    # --------------------------------------------------------------------- structure
    @property
    def n_layers(self) -> int:
        return len(self.config.K)

    @property
    def mixture_layers(self) -> list[int]:
        """0-based indices of the layers with K_l > 1."""
        return [l for l, k in enumerate(self.config.K) if k > 1]

    def prior_params(self, l: int) -> tuple[Tensor, Tensor]:
        """(K_l, d_l) means and variances of layer l's mixture components (0-based l)."""
        return self.prior_mu[str(l)], self.prior_logvar[str(l)].exp()

    # --------------------------------------------------------------------- inference
    def infer(
        self,
        x: Tensor,
        mode: Mode = "sample",
        *,
        force: Tensor | None = None,
        sample_z: bool | None = None,
    ) -> dict[str, object]:
        """One pass up the encoder and down the decoder.

        Args:
            x: (B, *input_shape).
            mode: how each y_l is set: ``sample`` (Gumbel-Softmax at temperature ``self.tau``,
                straight-through when ``config.hard``), ``mean`` (one-hot of the argmax: the
                deterministic path used for clustering), or ``enumerate`` (every combination of
                components: rows are expanded to B·C at the lowest mixture layer, b-major).
            force: (B, M) component indices for the M mixture layers; overrides ``mode``'s
                choice of y (used to check enumeration against a loop).
            sample_z: draw z = μ + σ·ε (default: unless ``mode == "mean"``).

        Returns a dict with per-row (R = B or B·C) tensors: ``output`` (R, ...) decoder output,
        ``kl_z`` / ``kl_y`` (R,) summed over layers, ``log_w`` (R,) = Σ_l log q(y_l = k_l | ·) of
        the chosen components, and per-layer lists ``mu``, ``var``, ``z``, ``probs`` (None where a
        layer has no z or no y).
        """
        cfg = self.config
        mix = self.mixture_layers
        if sample_z is None:
            sample_z = mode != "mean"
        n_comb = self.combos.shape[0]
        expand = mode == "enumerate" and bool(mix) and force is None
        if expand:
            force = self.combos.repeat(x.shape[0], 1)  # row b·C + c gets combination c
        rows = x.shape[0]
        kl_z = x.new_zeros(rows)
        kl_y = x.new_zeros(rows)
        log_w = x.new_zeros(rows)
        mus: list[Tensor | None] = []
        vars_: list[Tensor | None] = []
        zs: list[Tensor | None] = []
        probs: list[Tensor | None] = []
        h, y_prev = x, None
        for l in range(self.n_layers):
            h = self.nets.encoders[l](h, y_prev)
            if expand and l == mix[0]:
                # The levels below the lowest mixture layer do not depend on y: computed once.
                h = h.repeat_interleave(n_comb, dim=0)
                kl_z = kl_z.repeat_interleave(n_comb)
                rows = h.shape[0]
                kl_y, log_w = x.new_zeros(rows), x.new_zeros(rows)
                zs = [None if z is None else z.repeat_interleave(n_comb, 0) for z in zs]
            h_flat = h.flatten(1)
            heads = self.nets.heads[l]
            y = None
            if cfg.K[l] > 1:
                logits = heads.logits(h_flat)
                log_q = F.log_softmax(logits, dim=-1)
                q = log_q.exp()
                probs.append(q)
                # KL(Cat(q) ‖ U) = Σ q log q + log K
                kl_y = kl_y + (q * log_q).sum(-1) + math.log(cfg.K[l])
                if force is not None:
                    y = F.one_hot(force[:, mix.index(l)], cfg.K[l]).to(h.dtype)
                elif mode == "sample":
                    y = F.gumbel_softmax(logits, tau=self.tau, hard=cfg.hard)
                else:
                    y = F.one_hot(logits.argmax(-1), cfg.K[l]).to(h.dtype)
                log_w = log_w + (y.detach() * log_q).sum(-1) if force is not None else log_w
                y_up = self._feed(y, q, mode)
            else:
                probs.append(None)
                y_up = None
            if cfg.z_dims[l] > 0:
                mu, var = heads.gaussian(h_flat, y)
                z = mu + var.sqrt() * torch.randn_like(mu) if sample_z else mu
                if y is None:
                    kl_z = kl_z + kl_std_normal(mu, var)
                else:
                    # p(z_l | ỹ): y is one-hot in the forward pass (straight-through or exact),
                    # so y @ params picks component k exactly; with soft ỹ it is the mixture of
                    # parameters of vlac.md §5 (hard=False).
                    p_mu, p_var = self.prior_params(l)
                    kl_z = kl_z + kl_normal(mu, var, y @ p_mu, y @ p_var)
            else:
                mu = var = z = None
            mus.append(mu)
            vars_.append(var)
            zs.append(z)
            y_prev = y_up
        output = self.decode(zs)
        return {
            "output": output,
            "kl_z": kl_z,
            "kl_y": kl_y,
            "log_w": log_w,
            "mu": mus,
            "var": vars_,
            "z": zs,
            "probs": probs,
        }

    def _feed(self, y: Tensor, q: Tensor, mode: Mode) -> Tensor:
        """ỹ_l passed up to g_{l+1}: (B, K_l) from the layer's own y and q (vlac.md §2 for
        ``feed="sample"``; see :attr:`VLACConfig.feed`)."""
        feed = self.config.feed
        if feed == "sample":
            return y
        if feed == "probs":
            return q
        hard = F.one_hot(q.argmax(-1), q.shape[-1]).to(q.dtype)
        return hard if mode == "mean" else hard + q - q.detach()

    def decode(self, zs: Sequence[Tensor | None]) -> Tensor:
        """Decoder output (B, *input_shape) from per-layer latents (B, d_l) (None: no z)."""
        out = self.nets.decode(zs)
        return out.reshape(out.shape[0], *self.config.input_shape)

    # --------------------------------------------------------------------- objective
    def elbo_terms(self, x: Tensor, beta: float = 1.0, estimator: str | None = None) -> dict:
        """Per-sample ELBO pieces (B,) under ``estimator`` (default: the config's): ``rec`` =
        E log p(x|z), ``kl_z``, ``kl_y``, and ``objective`` = rec − β (kl_z + kl_y)."""
        estimator = estimator or self.config.estimator
        if estimator == "exact" and self.mixture_layers:
            r = self.infer(x, "enumerate")
            n_comb = self.combos.shape[0]
            rec = self.likelihood.log_prob(r["output"], x.repeat_interleave(n_comb, dim=0))
            # Σ over combinations of Π_l q(y_l = k_l | x, y_<l) · (branch's terms): exact, since
            # each KL_y,l only depends on the y's below layer l (vlac.md §5).
            w = r["log_w"].view(-1, n_comb).exp()

            def avg(t: Tensor) -> Tensor:
                return (w * t.view(-1, n_comb)).sum(1)

            rec, kl_z, kl_y = avg(rec), avg(r["kl_z"]), avg(r["kl_y"])
        else:
            r = self.infer(x, "sample")
            rec = self.likelihood.log_prob(r["output"], x)
            kl_z, kl_y = r["kl_z"], r["kl_y"]
        return {
            "rec": rec,
            "kl_z": kl_z,
            "kl_y": kl_y,
            "objective": rec - beta * (kl_z + kl_y),
        }

    def forward(self, x: Tensor, beta: float = 1.0) -> dict[str, Tensor]:
        """Named loss terms of a batch x (B, *input_shape): ``loss`` (−mean objective,
        minimised), ``rec``, ``kl_z``, ``kl_y``, each a scalar batch mean; ``beta`` weighs the
        KL terms (warm-up; 1 is the ELBO)."""
        return self.loss(x, beta)

    def loss(self, x: Tensor, beta: float = 1.0) -> dict[str, Tensor]:
        """``{"loss": −mean objective, "rec", "kl_z", "kl_y"}`` (batch means) for the Trainer."""
        t = self.elbo_terms(x, beta)
        return {
            "loss": -t["objective"].mean(),
            "rec": t["rec"].mean().detach(),
            "kl_z": t["kl_z"].mean().detach(),
            "kl_y": t["kl_y"].mean().detach(),
        }

    # --------------------------------------------------------------------- generation
    def prior_draw(self, n: int, l: int, component: int | Tensor | None = None) -> Tensor:
        """(n, d_l) draws from p(z_l) (component None: y_l uniform) or p(z_l | y_l = component)."""
        d = self.config.z_dims[l]
        device = self.combos.device
        if self.config.K[l] == 1:
            return torch.randn(n, d, device=device)
        p_mu, p_var = self.prior_params(l)
        if component is None:
            component = torch.randint(self.config.K[l], (n,), device=device)
        return p_mu[component] + p_var[component].sqrt() * torch.randn(n, d, device=device)

    def prior_zs(self, n: int) -> list[Tensor | None]:
        """Ancestral draws for every layer: y_l ~ U, z_l ~ p(z_l | y_l)."""
        return [self.prior_draw(n, l) if d > 0 else None for l, d in enumerate(self.config.z_dims)]

    def generate(self, zs: Sequence[Tensor | None]) -> Tensor:
        """Data-space means (B, *input_shape) of p(x | z)."""
        return self.likelihood.mean(self.decode(zs))


__all__ = [
    "FEEDS",
    "Laplace",
    "VLACConfig",
    "VLACModel",
    "check_K",
    "gumbel_temperature",
    "kl_weight",
]
