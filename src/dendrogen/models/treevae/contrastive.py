"""The contrastive extension of TreeVAE for colour images (treevae.md §5).

Each training batch holds two augmented views of every image, stacked ``[first views; second
views]`` (2B rows; row n + B is the other view of row n). To the negative ELBO of all rows the
model adds λ·L_con, where

- L_emb is NT-Xent (τ = 0.5) on projection heads g_k(d_k) of every bottom-up activation
  d_0 … d_H, averaged over the levels;
- L_i is NT-Xent (τ = 1) at internal node i on the rows [q_i, 1 − q_i] of the posterior router,
  each sample weighted by its detached P(i | x), normalised to sum 1;
- ``tf`` (default, the TensorFlow code behind the paper's numbers): L_con = ½(L_0 + L_emb) +
  Σ_{internal i ≠ 0} L_i; ``sum`` (reference PyTorch): L_con = L_emb + Σ_i L_i.

Subtree training adds only λ·L_l of the split leaf l. Growth, pruning and evaluation see
un-augmented data, so everything but the loss is TreeVAE's (:class:`TreeVAEModel`).

Shapes: B = images per batch (2B rows), D = latent_dim.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dendrogen.models.treevae.config import TreeVAEConfig
from dendrogen.models.treevae.model import TopDown, TreeVAEModel
from dendrogen.nn.layers import DenseBlock
from dendrogen.tree import Tree

__all__ = [
    "COMBINATIONS",
    "ContrastiveConfig",
    "ContrastiveTreeVAEModel",
    "ProjectionHead",
    "nt_xent",
    "router_nt_xent",
]

#: how the terms are combined (treevae.md §5).
COMBINATIONS = ("tf", "sum")


@dataclass
class ContrastiveConfig:
    """Settings of the contrastive loss (treevae.md §5).

    Attributes:
        weight: λ, the weight of L_con in the loss (not annealed).
        temperature: τ of the NT-Xent on the projection heads.
        router_temperature: τ of the NT-Xent on the posterior routers.
        combination: "tf" (default) or "sum".
        augmentation: name of the augmentation in ``dendrogen.data.augment.AUGMENTATIONS``
            ("cifar10", "celeba", "colour"...), or "auto": by image size (32×32 → CIFAR's,
            64×64 → CelebA's, other RGB → "colour").
    """

    weight: float = 100.0
    temperature: float = 0.5
    router_temperature: float = 1.0
    combination: str = "tf"
    augmentation: str = "auto"

    def __post_init__(self) -> None:
        for name in ("temperature", "router_temperature"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"contrastive {name!r} must be a positive number, got {value!r}")
        if not isinstance(self.weight, int | float) or not math.isfinite(self.weight):
            raise ValueError(f"contrastive 'weight' must be a number >= 0, got {self.weight!r}")
        if self.weight < 0:
            raise ValueError(f"contrastive 'weight' must be a number >= 0, got {self.weight!r}")
        if self.combination not in COMBINATIONS:
            raise ValueError(
                f"contrastive 'combination' must be one of {list(COMBINATIONS)}, "
                f"got {self.combination!r}"
            )
        if not isinstance(self.augmentation, str):
            raise ValueError(
                f"contrastive 'augmentation' must be a name, got {self.augmentation!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_value(cls, value: bool | dict[str, Any] | ContrastiveConfig) -> ContrastiveConfig:
        """From an estimator's ``contrastive`` parameter: True or a dict of overrides."""
        if isinstance(value, ContrastiveConfig):
            return value
        if value is True:
            return cls()
        if not isinstance(value, dict):
            raise ValueError(f"contrastive must be True, False or a dict, got {value!r}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(f"unknown contrastive settings {unknown}; known: {sorted(names)}")
        return cls(**value)


def _other_view(n_rows: int, device: torch.device) -> Tensor:
    if n_rows % 2:
        raise ValueError(
            f"a contrastive batch stacks two views of each image, so it needs an even number of "
            f"rows, got {n_rows}"
        )
    half = n_rows // 2
    return (torch.arange(n_rows, device=device) + half) % n_rows


def nt_xent(u: Tensor, temperature: float, weights: Tensor | None = None) -> Tensor:
    """NT-Xent of stacked views: ℓ_n = −log[exp(u_n·u_n′/τ) / Σ_{k≠n} exp(u_n·u_k/τ)].

    Args:
        u: (2B, k) rows, L2-normalised here; row n + B is the other view of row n.
        temperature: τ.
        weights: (2B,) non-negative weights of the rows (normalised here to sum 1); None gives
            the plain mean.

    Returns:
        A scalar: the (weighted) mean of ℓ_n.
    """
    u = F.normalize(u, dim=1)
    sim = (u @ u.t()) / temperature
    sim = sim.masked_fill(torch.eye(len(u), dtype=torch.bool, device=u.device), float("-inf"))
    loss = F.cross_entropy(sim, _other_view(len(u), u.device), reduction="none")
    if weights is None:
        return loss.mean()
    weights = weights / weights.sum().clamp_min(1e-12)
    return (weights * loss).sum()


def router_nt_xent(q: Tensor, prob: Tensor, temperature: float) -> Tensor:
    """L_i of one router: NT-Xent on rows [q, 1 − q], samples weighted by P(i | x) (detached).

    Args:
        q: (2B,) posterior router output P(left | x).
        prob: (2B,) P(i | x), the probability of reaching the router's node.
    """
    return nt_xent(torch.stack([q, 1 - q], dim=1), temperature, prob.detach())


class ProjectionHead(nn.Module):
    """g_k: bias-free Linear to the smallest width → BN → LReLU → Linear to the latent size.

    (2B, w_k) → (2B, D).
    """

    def __init__(self, in_features: int, hidden: int, out_features: int) -> None:
        super().__init__()
        self.hidden = DenseBlock(in_features, hidden)
        self.out = nn.Linear(hidden, out_features)

    def forward(self, d: Tensor) -> Tensor:
        return self.out(self.hidden(d))


class ContrastiveTreeVAEModel(TreeVAEModel):
    """A :class:`TreeVAEModel` trained with the contrastive loss (treevae.md §5).

    Adds ``projections[k]`` (g_k of d_k, k = 0 … H) to the modules; growth, pruning, sampling,
    the ELBO and the log-likelihood are TreeVAE's. :meth:`loss` and :meth:`subtree_loss` expect
    batches of stacked view pairs (2B rows).

    Args:
        config: architecture.
        tree: the topology; default root + two leaves.
        contrastive: the loss settings; default :class:`ContrastiveConfig`'s.
    """

    def __init__(
        self,
        config: TreeVAEConfig,
        tree: Tree | None = None,
        contrastive: ContrastiveConfig | None = None,
    ) -> None:
        super().__init__(config, tree)
        self.contrastive = contrastive or ContrastiveConfig()
        hidden = min(self.widths)
        self.projections = nn.ModuleList(
            ProjectionHead(w, hidden, config.latent_dim) for w in self.widths
        )
        self._subtree_term: Tensor | None = None

    def contrastive_terms(self, d: Sequence[Tensor], td: TopDown) -> dict[str, Tensor]:
        """L_emb, the router terms and their combination L_con of one pass over 2B rows.

        Args:
            d: bottom-up activations ``[d_0, ..., d_H]``, each (2B, w_k).
            td: the top-down pass (its ``q_left`` and ``prob``).

        Returns:
            Scalars ``con_emb`` (L_emb), ``con_root`` (L_0, 0 without a root router),
            ``con_nodes`` (Σ over the other routers) and ``contrastive`` (L_con).
        """
        cfg = self.contrastive
        emb = torch.stack(
            [nt_xent(g(dk), cfg.temperature) for g, dk in zip(self.projections, d, strict=True)]
        ).mean()
        root = self.tree.root
        zero = emb.new_zeros(())
        con_root = zero
        con_nodes = zero
        for node, q in td.q_left.items():
            term = router_nt_xent(q, td.prob[node], cfg.router_temperature)
            if node == root:
                con_root = term
            else:
                con_nodes = con_nodes + term
        if cfg.combination == "tf":
            total = 0.5 * (con_root + emb) + con_nodes
        else:
            total = emb + con_root + con_nodes
        return {"con_emb": emb, "con_root": con_root, "con_nodes": con_nodes, "contrastive": total}

    def loss(self, x: Tensor, alpha: float = 1.0, eps: float = 0.0) -> dict[str, Tensor]:
        """Batch-mean −L_rec + α·KL over all 2B rows, plus λ·L_con; ``elbo`` excludes L_con.

        Args:
            x: (2B, *input_shape), two views of B images stacked ``[first; second]``.
            alpha: the KL weight α.
            eps: sparse leaf decoding's threshold (:mod:`.leaf_decoding`; 0 decodes every row).
        """
        d = self.bottom_up_pass(x)
        td = self.top_down(d)
        per_sample = self._elbo_from(x, td, eps)
        terms = {k: v.mean() for k, v in per_sample.items()}
        terms["skipped_max"] = per_sample["skipped"].max()
        kl = terms["kl_root"] + terms["kl_nodes"] + terms["kl_decisions"]
        con = self.contrastive_terms(d, td)
        terms["loss"] = -terms["rec"] + alpha * kl + self.contrastive.weight * con["contrastive"]
        terms["elbo"] = (terms["rec"] - kl).detach()
        terms |= {k: v.detach() for k, v in con.items()}
        return terms

    def subtree_extra_loss(self, q: Tensor, p_leaf: Tensor) -> Tensor:
        """λ·L_l of the split leaf l: its router output q (2B,) weighted by P(l | x) (2B,)."""
        term = router_nt_xent(q, p_leaf, self.contrastive.router_temperature)
        self._subtree_term = term.detach()
        return self.contrastive.weight * term

    def subtree_loss(self, x: Tensor, leaf: int, alpha: float = 1.0) -> dict[str, Tensor]:
        """TreeVAE's subtree loss (two views of each image in x, (2B, ...)) with λ·L_l added;
        the logged ``contrastive`` is L_l."""
        self._subtree_term = None
        terms = super().subtree_loss(x, leaf, alpha)
        if self._subtree_term is not None:
            terms["contrastive"] = self._subtree_term
        return terms


def resolve_augmentation(name: str, input_shape: Sequence[int]) -> Callable[..., Tensor]:
    """The augmentation ``name`` of ``dendrogen.data.augment.AUGMENTATIONS``; "auto" picks by
    shape (3×32×32 → CIFAR's, 3×64×64 → CelebA's, other 3-channel images → "colour")."""
    from dendrogen.data.augment import AUGMENTATIONS

    shape = tuple(input_shape)
    if name == "auto":
        if len(shape) != 3 or shape[0] != 3:
            raise ValueError(
                f"contrastive=True needs RGB images (N, 3, H, W), got samples of shape {shape}; "
                f"name an augmentation with contrastive={{'augmentation': ...}} "
                f"({sorted(AUGMENTATIONS)})"
            )
        name = {(32, 32): "cifar10", (64, 64): "celeba"}.get(shape[1:], "colour")
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; choose one of {sorted(AUGMENTATIONS)}")
    if len(shape) != 3:
        raise ValueError(f"augmentation {name!r} needs images (N, C, H, W), got shape {shape}")
    return AUGMENTATIONS[name]


def view_pairs(augment: Callable[..., Tensor], rank: int = 0) -> Callable[[Tensor], Tensor]:
    """A Trainer ``augment`` hook: (B, C, H, W) → (2B, C, H, W), two augmented views stacked.

    Each call seeds a CPU generator from one draw of torch's global generator (part of every
    checkpoint, so a resumed fit draws the same views) plus ``rank``, so each process of a
    data-parallel fit augments its own rows with its own random parameters.
    """
    from dendrogen.data.augment import two_views

    def pairs(x: Tensor) -> Tensor:
        seed = int(torch.randint(0, 2**62, (1,))) + rank
        return two_views(x, augment, torch.Generator().manual_seed(seed))

    return pairs
