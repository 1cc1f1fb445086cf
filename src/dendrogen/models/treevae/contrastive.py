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

NT-Xent, the projection heads and the two-view batches are shared with the VAE and LadderVAE
(:mod:`dendrogen.models.contrastive`). Subtree training adds only λ·L_l of the split leaf l.
Growth, pruning and evaluation see un-augmented data, so everything but the loss is TreeVAE's
(:class:`TreeVAEModel`).

Shapes: B = images per batch (2B rows), D = latent_dim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from dendrogen.models.contrastive import (
    ContrastiveSettings,
    ProjectionHead,
    embedding_nt_xent,
    nt_xent,
    projection_heads,
    resolve_augmentation,
    view_pairs,
)
from dendrogen.models.treevae import leaf_decoding
from dendrogen.models.treevae.config import TreeVAEConfig
from dendrogen.models.treevae.model import TopDown, TreeVAEModel
from dendrogen.tree import Tree

__all__ = [
    "COMBINATIONS",
    "ContrastiveConfig",
    "ContrastiveTreeVAEModel",
    "ProjectionHead",
    "nt_xent",
    "resolve_augmentation",
    "router_nt_xent",
    "view_pairs",
]

#: how the terms are combined (treevae.md §5).
COMBINATIONS = ("tf", "sum")


@dataclass
class ContrastiveConfig(ContrastiveSettings):
    """TreeVAE's contrastive settings (treevae.md §5): the shared ones (``weight`` λ,
    ``temperature`` τ of the projection heads, ``augmentation``; see
    :class:`~dendrogen.models.contrastive.ContrastiveSettings`) and those of the router terms.

    Attributes:
        router_temperature: τ of the NT-Xent on the posterior routers.
        combination: "tf" (default) or "sum".
    """

    router_temperature: float = 1.0
    combination: str = "tf"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.combination not in COMBINATIONS:
            raise ValueError(
                f"contrastive 'combination' must be one of {list(COMBINATIONS)}, "
                f"got {self.combination!r}"
            )

    def _positive(self) -> tuple[str, ...]:
        return ("temperature", "router_temperature")


def router_nt_xent(q: Tensor, prob: Tensor, temperature: float) -> Tensor:
    """L_i of one router: NT-Xent on rows [q, 1 − q], samples weighted by P(i | x) (detached).

    Args:
        q: (2B,) posterior router output P(left | x).
        prob: (2B,) P(i | x), the probability of reaching the router's node.
    """
    return nt_xent(torch.stack([q, 1 - q], dim=1), temperature, prob.detach())


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
        self.projections = projection_heads(self.widths, config.latent_dim)
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
        emb = embedding_nt_xent(self.projections, d, cfg.temperature)
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

    def loss(
        self, x: Tensor, alpha: float = 1.0, eps: float = 0.0,
        min_rows: int = leaf_decoding.MIN_ROWS,
    ) -> dict[str, Tensor]:  # fmt: skip
        """Batch-mean −L_rec + α·KL over all 2B rows, plus λ·L_con; ``elbo`` excludes L_con.

        Args:
            x: (2B, *input_shape), two views of B images stacked ``[first; second]``.
            alpha: the KL weight α.
            eps: sparse leaf decoding's threshold (:mod:`.leaf_decoding`; 0 decodes every row).
            min_rows: sparse decoding's top-up, the fewest rows a leaf decodes.
        """
        d = self.bottom_up_pass(x)
        td = self.top_down(d)
        terms = self._batch_loss(self._elbo_from(x, td, eps, min_rows), alpha)
        con = self.contrastive_terms(d, td)
        terms["loss"] = terms["loss"] + self.contrastive.weight * con["contrastive"]
        return terms | {k: v.detach() for k, v in con.items()}

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
