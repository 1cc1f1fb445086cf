"""The TreeVAE module (Manduchi et al., 2023; treevae.md §1–2, §6–7).

The tree is data (``self.tree``, a :class:`dendrogen.tree.Tree`); the neural modules hang on it in
``ModuleDict``s keyed by node id:

- ``heads[i]``: μ̂_i, v̂_i from the bottom-up activation of node i's depth (eqs. 7–8);
- ``transforms[i]`` (i ≠ root): the prior p(z_i | z_parent) (eq. 5);
- ``prior_routers[i]``, ``post_routers[i]`` at internal nodes with two children (eqs. 2, 10);
- ``decoders[l]`` at leaves.

Growing adds two children to a leaf (:meth:`TreeVAEModel.split_leaf`); pruning removes a leaf and
turns a parent left with one child into a pass-through node without routers
(:meth:`TreeVAEModel.prune_leaf`). The model computes loss terms; it knows nothing of epochs or
optimizers.

Shapes: B = batch, D = latent_dim, L = number of leaves (in ``tree.leaves`` order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from dendrogen.models.treevae import leaf_decoding
from dendrogen.models.treevae.config import TreeVAEConfig
from dendrogen.nn.architectures import default_architecture, make_decoder, make_encoder
from dendrogen.nn.gaussian import kl_normal, kl_std_normal, log_normal, precision_weighted
from dendrogen.nn.latent_heads import NodeHead, Transformation
from dendrogen.nn.layers import DenseBlock
from dendrogen.nn.likelihoods import make_likelihood
from dendrogen.nn.routers import Router
from dendrogen.tree import Tree

EPS = 1e-7


@dataclass
class Level:
    """One depth level of a top-down pass, its nodes side by side: tensors are (B, n, ...).

    ``binary`` holds the positions (in ``nodes``) of the nodes with two children, whose router
    outputs ``q_left``/``p_left`` are (B, len(binary)); ``mu_p``/``var_p`` are None at the root.
    """

    nodes: list[int]
    z: Tensor
    mu_q: Tensor
    var_q: Tensor
    mu_p: Tensor | None
    var_p: Tensor | None
    prob: Tensor
    binary: list[int]
    q_left: Tensor | None = None
    p_left: Tensor | None = None


@dataclass
class TopDown:
    """Everything one inference pass computes, keyed by node id (tensors (B, ...), views into
    ``levels``), and the same per depth level for vectorised use."""

    z: dict[int, Tensor] = field(default_factory=dict)
    mu_q: dict[int, Tensor] = field(default_factory=dict)
    var_q: dict[int, Tensor] = field(default_factory=dict)
    mu_p: dict[int, Tensor] = field(default_factory=dict)
    var_p: dict[int, Tensor] = field(default_factory=dict)
    prob: dict[int, Tensor] = field(default_factory=dict)  # P(i | x), eq. 16
    q_left: dict[int, Tensor] = field(default_factory=dict)  # posterior router
    p_left: dict[int, Tensor] = field(default_factory=dict)  # prior router at z_i
    levels: list[Level] = field(default_factory=list)


def _key(node: int) -> str:
    return str(node)


class TreeVAEModel(nn.Module):
    """A TreeVAE over a growing binary tree.

    Args:
        config: architecture.
        tree: the topology; default root + two leaves.
    """

    def __init__(self, config: TreeVAEConfig, tree: Tree | None = None) -> None:
        super().__init__()
        self.config = config
        self.arch = (
            default_architecture(config.input_shape) if config.arch == "auto" else config.arch
        )
        self.likelihood = make_likelihood(config.likelihood, obs_var=config.obs_var)
        self.encoder = make_encoder(self.arch, config.input_shape, config.width)
        H, w = config.max_depth, config.width
        # d_H is the encoder output; bottom_up[k] maps d_{k+1} to d_k for k = H-1 .. 0 (eq. 6).
        widths = [w] * H + [self.encoder.out_features]
        self.widths = widths
        self.bottom_up = nn.ModuleList(DenseBlock(widths[k + 1], widths[k]) for k in range(H))
        self.heads = nn.ModuleDict()
        self.transforms = nn.ModuleDict()
        self.prior_routers = nn.ModuleDict()
        self.post_routers = nn.ModuleDict()
        self.decoders = nn.ModuleDict()
        if tree is None:
            tree = Tree()
            tree.add_children(tree.root)
        self.tree = tree
        for node in tree.nodes:
            self._build_node(node)

    # ------------------------------------------------------------------ structure
    def _build_node(self, node: int) -> None:
        """Create the modules node ``node`` needs in its current role."""
        cfg, tree = self.config, self.tree
        depth = tree.depth(node)
        if depth > cfg.max_depth:
            raise ValueError(f"node {node} is at depth {depth} > max_depth {cfg.max_depth}")
        k = _key(node)
        self.heads[k] = NodeHead(self.widths[depth], cfg.latent_dim)
        parent = tree.parent(node)
        if parent is not None:
            self.transforms[k] = Transformation(cfg.latent_dim, self.widths[tree.depth(parent)])
        n_children = len(tree.children(node))
        if n_children == 2:
            self.prior_routers[k] = Router(cfg.latent_dim, self.widths[depth])
            self.post_routers[k] = Router(self.widths[depth], self.widths[depth])
        elif n_children == 0:
            self.decoders[k] = make_decoder(self.arch, cfg.latent_dim, cfg.input_shape, cfg.width)

    def split_leaf(self, leaf: int) -> tuple[int, int]:
        """Give ``leaf`` two children with fresh modules; its decoder is deleted."""
        if self.tree.depth(leaf) >= self.config.max_depth:
            raise ValueError(f"leaf {leaf} is at max_depth and cannot be split")
        left, right = self.tree.add_children(leaf)
        del self.decoders[_key(leaf)]
        k = _key(leaf)
        depth = self.tree.depth(leaf)
        self.prior_routers[k] = Router(self.config.latent_dim, self.widths[depth])
        self.post_routers[k] = Router(self.widths[depth], self.widths[depth])
        for child in (left, right):
            self._build_node(child)
        self.to(next(self.parameters()).device)
        return left, right

    def prune_leaf(self, leaf: int) -> list[int]:
        """Remove ``leaf`` and ancestors left childless; a parent left with one child becomes a
        pass-through node and loses both routers. Returns the removed node ids."""
        if len(self.tree.leaves) <= 1:
            raise ValueError("cannot prune the last leaf")
        removed = self.tree.remove_leaf(leaf, collapse=False)
        self._drop_modules(removed)
        for node in self.tree.nodes:
            if len(self.tree.children(node)) == 1:
                for bank in (self.prior_routers, self.post_routers):
                    if _key(node) in bank:
                        del bank[_key(node)]
            if self.tree.is_leaf(node) and _key(node) not in self.decoders:
                # A node that lost all its children by pruning becomes a leaf again.
                self.decoders[_key(node)] = make_decoder(
                    self.arch, self.config.latent_dim, self.config.input_shape, self.config.width
                ).to(next(self.parameters()).device)
        return removed

    def undo_split(self, node: int, keep: int) -> list[int]:
        """Make ``node`` a leaf again by removing its leaf children; it decodes with the decoder
        of child ``keep`` (trained on its rows) and loses its routers. Returns the removed ids."""
        decoder = self.decoders[_key(keep)]
        removed = self.tree.merge_children(node)
        self._drop_modules(removed)
        for bank in (self.prior_routers, self.post_routers):
            del bank[_key(node)]
        self.decoders[_key(node)] = decoder
        return removed

    def _drop_modules(self, nodes: list[int]) -> None:
        for k in map(_key, nodes):
            for bank in (self.heads, self.transforms, self.prior_routers, self.post_routers,
                         self.decoders):  # fmt: skip
                if k in bank:
                    del bank[k]

    def node_modules(self, nodes: list[int]) -> list[nn.Module]:
        """Every module attached to the given nodes."""
        mods: list[nn.Module] = []
        for node in nodes:
            k = _key(node)
            for bank in (self.heads, self.transforms, self.prior_routers, self.post_routers,
                         self.decoders):  # fmt: skip
                if k in bank:
                    mods.append(bank[k])
        return mods

    def subtree_parameters(self, leaf: int) -> list[nn.Parameter]:
        """What a subtree phase trains after ``leaf`` was split: its children's modules and its
        two routers (:meth:`subtree_loss`)."""
        params = [p for m in self.node_modules(self.tree.children(leaf)) for p in m.parameters()]
        params += list(self.post_routers[_key(leaf)].parameters())
        params += list(self.prior_routers[_key(leaf)].parameters())
        return params

    # ------------------------------------------------------------------ inference
    def bottom_up_pass(self, x: Tensor) -> list[Tensor]:
        """Deterministic activations ``[d_0, ..., d_H]`` (eq. 6); d_k is (B, w_k)."""
        d = [self.encoder(x)]
        for k in range(self.config.max_depth - 1, -1, -1):
            d.append(self.bottom_up[k](d[-1]))
        return d[::-1]

    def leaf_probabilities(self, x: Tensor | None = None, d: list[Tensor] | None = None) -> Tensor:
        """P(l | x) for every leaf (eq. 16): products of posterior router outputs. (B, L).

        Deterministic: needs only the bottom-up pass and the posterior routers.
        """
        if d is None:
            d = self.bottom_up_pass(x)
        prob = {self.tree.root: d[0].new_ones(d[0].shape[0])}
        for node in self.tree.bfs():
            kids = self.tree.children(node)
            if len(kids) == 2:
                q = self.post_routers[_key(node)](d[self.tree.depth(node)])
                prob[kids[0]] = prob[node] * q
                prob[kids[1]] = prob[node] * (1 - q)
            elif len(kids) == 1:
                prob[kids[0]] = prob[node]
        return torch.stack([prob[leaf] for leaf in self.tree.leaves], dim=1)

    def top_down(
        self,
        d: list[Tensor],
        nodes: list[int] | None = None,
        sample: bool = True,
        with_prior_routers: bool = True,
    ) -> TopDown:
        """Top-down inference (eqs. 4, 5, 9, 10, 16), one depth level at a time: the heads,
        transformations and routers of a level run as one grouped computation.

        Args:
            d: bottom-up activations.
            nodes: restrict the pass to these nodes (must be closed under parents, e.g. a
                root-to-leaf path); default all nodes.
            sample: draw z from q (training, likelihood); False propagates posterior means.
            with_prior_routers: also evaluate the prior routers (needed by the KL of decisions).
        """
        tree = self.tree
        wanted = None if nodes is None else set(nodes)
        by_depth: list[list[int]] = []
        for node in tree.bfs():
            if wanted is None or node in wanted:
                depth = tree.depth(node)
                by_depth.extend([] for _ in range(depth + 1 - len(by_depth)))
                by_depth[depth].append(node)
        out = TopDown()
        B = d[0].shape[0]
        above: Level | None = None
        for depth, level_nodes in enumerate(by_depth):
            keys = [_key(n) for n in level_nodes]
            mu_hat, var_hat = NodeHead.grouped([self.heads[k] for k in keys], d[depth])
            if above is None:
                mu_p = var_p = None
                mu_q, var_q = mu_hat, var_hat + EPS
                prob = d[0].new_ones(B, 1)
            else:
                position = {node: i for i, node in enumerate(above.nodes)}
                parents = [position[tree.parent(n)] for n in level_nodes]
                mu_p, var_p = Transformation.grouped(
                    [self.transforms[k] for k in keys], above.z[:, parents]
                )
                mu_q, var_q = precision_weighted(mu_hat, var_hat, mu_p, var_p, EPS)
                var_p = var_p + EPS
                prob = above.prob[:, parents] * self._branch_factor(above, level_nodes, parents)
            z = mu_q + torch.sqrt(var_q + EPS) * torch.randn_like(mu_q) if sample else mu_q
            binary = [i for i, k in enumerate(keys) if k in self.post_routers]
            level = Level(level_nodes, z, mu_q, var_q, mu_p, var_p, prob, binary)
            if binary:
                bkeys = [keys[i] for i in binary]
                level.q_left = Router.grouped([self.post_routers[k] for k in bkeys], d[depth])
                if with_prior_routers:
                    level.p_left = Router.grouped(
                        [self.prior_routers[k] for k in bkeys], z[:, binary]
                    )
            out.levels.append(level)
            self._index_level(out, level)
            above = level
        return out

    def _branch_factor(self, above: Level, nodes: list[int], parents: list[int]) -> Tensor:
        """P(node | parent, x) for each node of a level: q, 1 − q, or 1 below a pass-through
        parent. (B, n)."""
        q_left = above.z.new_ones(above.z.shape[0], len(above.nodes))  # 1: pass-through parent
        if above.q_left is not None:
            q_left[:, above.binary] = above.q_left.to(q_left.dtype)  # bf16 z under autocast
        by_child = torch.stack([q_left, 1 - q_left], dim=-1)  # P(first child), P(second child)
        which = [self.tree.children(self.tree.parent(n)).index(n) for n in nodes]
        return by_child[:, parents, which]

    @staticmethod
    def _index_level(out: TopDown, level: Level) -> None:
        for i, node in enumerate(level.nodes):
            out.z[node] = level.z[:, i]
            out.mu_q[node], out.var_q[node] = level.mu_q[:, i], level.var_q[:, i]
            if level.mu_p is not None:
                out.mu_p[node], out.var_p[node] = level.mu_p[:, i], level.var_p[:, i]
            out.prob[node] = level.prob[:, i]
        for j, i in enumerate(level.binary):
            out.q_left[level.nodes[i]] = level.q_left[:, j]
            if level.p_left is not None:
                out.p_left[level.nodes[i]] = level.p_left[:, j]

    def decode(self, z: Tensor, leaf: int) -> Tensor:
        """Decoder output of ``leaf`` for latents (B, D): (B, *input_shape), unconstrained."""
        return self.decoders[_key(leaf)](z)

    def leaf_log_likelihoods(self, z: Tensor, x: Tensor, leaves: Sequence[int]) -> Tensor:
        """log p(x | z_l) under each leaf's decoder: z (B, n, D), x (B, ...) → (B, n)."""
        return leaf_decoding.dense_leaf_log_likelihoods(self, z, x, leaves)

    # ------------------------------------------------------------------ ELBO
    def elbo_terms(
        self, x: Tensor, eps: float = 0.0, min_rows: int = leaf_decoding.MIN_ROWS
    ) -> dict[str, Tensor]:
        """Per-sample ELBO terms (eqs. 12–20), each (B,): ``rec`` = L_rec (a log-likelihood),
        ``kl_root``, ``kl_nodes``, ``kl_decisions``, and ``skipped``, the path mass whose leaf
        was not decoded (≤ ε·L; sparse decoding with ε > 0, :mod:`.leaf_decoding`, each leaf
        topped up to ``min_rows`` rows in training mode)."""
        d = self.bottom_up_pass(x)
        td = self.top_down(d)
        return self._elbo_from(x, td, eps, min_rows)

    def _elbo_from(
        self, x: Tensor, td: TopDown, eps: float = 0.0, min_rows: int = leaf_decoding.MIN_ROWS
    ) -> dict:
        """The ELBO terms from a full top-down pass, summed level by level."""
        kl_nodes = x.new_zeros(x.shape[0])
        kl_dec = x.new_zeros(x.shape[0])
        for level in td.levels:
            if level.mu_p is not None:
                kl = kl_normal(level.mu_q, level.var_q, level.mu_p, level.var_p)
                kl_nodes = kl_nodes + (level.prob * kl).sum(1)
            if level.binary:
                kl_b = bernoulli_kl(level.q_left, level.p_left)
                kl_dec = kl_dec + (level.prob[:, level.binary] * kl_b).sum(1)
        leaves = self.tree.leaves
        z = torch.stack([td.z[leaf] for leaf in leaves], dim=1)
        prob = torch.stack([td.prob[leaf] for leaf in leaves], dim=1)
        rec, skipped = leaf_decoding.reconstruction(self, z, x, leaves, prob, eps, min_rows)
        if self.training:
            self.likelihood.observe(rec, x[0].numel())
        root = self.tree.root
        kl_root = kl_std_normal(td.mu_q[root], td.var_q[root])
        return {"rec": rec, "kl_root": kl_root, "kl_nodes": kl_nodes, "kl_decisions": kl_dec,
                "skipped": skipped}  # fmt: skip

    def forward(self, x: Tensor, alpha: float = 1.0, eps: float = 0.0) -> dict[str, Tensor]:
        """Named scalar loss terms of x (B, *input_shape) at KL weight ``alpha`` (:meth:`loss`)."""
        return self.loss(x, alpha, eps)

    def loss(
        self, x: Tensor, alpha: float = 1.0, eps: float = 0.0,
        min_rows: int = leaf_decoding.MIN_ROWS,
    ) -> dict[str, Tensor]:  # fmt: skip
        """Batch-mean loss −L_rec + α(KL_root + KL_nodes + KL_decisions) and its terms; leaves
        decode only rows with P(l | x) > ``eps``, each topped up to ``min_rows`` rows
        (:mod:`.leaf_decoding`). ``skipped_max`` is the batch's largest per-sample skipped path
        mass."""
        return self._batch_loss(self.elbo_terms(x, eps, min_rows), alpha)

    @staticmethod
    def _batch_loss(per_sample: dict[str, Tensor], alpha: float) -> dict[str, Tensor]:
        """The batch means of :meth:`elbo_terms`' per-sample terms (each (B,)), the loss
        −L_rec + α·KL and the ELBO."""
        terms = {k: v.mean() for k, v in per_sample.items()}
        terms["skipped_max"] = per_sample["skipped"].max()
        kl = terms["kl_root"] + terms["kl_nodes"] + terms["kl_decisions"]
        terms["loss"] = -terms["rec"] + alpha * kl
        terms["elbo"] = (terms["rec"] - kl).detach()
        return terms

    # ------------------------------------------------------------------ growing
    def subtree_loss(self, x: Tensor, leaf: int, alpha: float = 1.0) -> dict[str, Tensor]:
        """Loss of the two children of a just-split ``leaf``, the rest of the tree frozen.

        The frozen part runs in eval mode without gradients and supplies only the bottom-up
        activations, z_leaf and P(leaf | x); nothing else of it is evaluated (treevae.md §3).
        """
        tree = self.tree
        path = tree.path_from_root(leaf)
        # Only these switch to eval mode: the whole model's train() walks every decoder's modules.
        frozen = self._frozen_pass_modules(path)
        with torch.no_grad():
            for module in frozen:
                module.train(False)
            d = self.bottom_up_pass(x)
            # The path's own routing decisions give P(leaf | x); its z's are sampled from q.
            td = self.top_down(d, nodes=path[:-1], with_prior_routers=False)
            ptd = self._path_to(d, td, leaf)
        for module in frozen:
            module.train(self.training)
        k = _key(leaf)
        z_leaf, p_leaf = ptd
        q = self.post_routers[k](d[tree.depth(leaf)])
        p = self.prior_routers[k](z_leaf)
        total = x.new_zeros(x.shape[0])
        rec_total = x.new_zeros(x.shape[0])
        kl_total = x.new_zeros(x.shape[0])
        for child, w in zip(tree.children(leaf), (p_leaf * q, p_leaf * (1 - q)), strict=True):
            ck = _key(child)
            mu_hat, var_hat = self.heads[ck](d[tree.depth(child)])
            mu_p, var_p = self.transforms[ck](z_leaf)
            mu_q, var_q = precision_weighted(mu_hat, var_hat, mu_p, var_p, EPS)
            z = mu_q + torch.sqrt(var_q + EPS) * torch.randn_like(mu_q)
            rec = self.likelihood.log_prob(self.decode(z, child), x)
            kl = kl_normal(mu_q, var_q, mu_p, var_p + EPS)
            total = total + w * (-rec + alpha * kl)
            rec_total = rec_total + w * rec
            kl_total = kl_total + w * kl
        kl_dec = p_leaf * bernoulli_kl(q, p)
        total = total + alpha * kl_dec + self.subtree_extra_loss(q, p_leaf)
        return {
            "loss": total.mean(),
            "rec": rec_total.mean().detach(),
            "kl_nodes": kl_total.mean().detach(),
            "kl_decisions": kl_dec.mean().detach(),
        }

    def _frozen_pass_modules(self, path: list[int]) -> list[nn.Module]:
        """What :meth:`subtree_loss` runs without gradients: the bottom-up networks, the heads
        and transformations on the path to the split leaf, and the routers above it."""
        keys = [_key(node) for node in path]
        return [self.encoder, self.bottom_up, *(self.heads[k] for k in keys),
                *(self.transforms[k] for k in keys[1:]),
                *(self.post_routers[k] for k in keys[:-1] if k in self.post_routers)]  # fmt: skip

    def subtree_extra_loss(self, q: Tensor, p_leaf: Tensor) -> Tensor | float:
        """A term added to the subtree loss (contrastive.py's L_l); q, P(l | x): (B,)."""
        return 0.0

    def _path_to(self, d: list[Tensor], td: TopDown, leaf: int) -> tuple[Tensor, Tensor]:
        """z_leaf sampled from q and P(leaf | x), given the pass over the path above it."""
        tree = self.tree
        parent = tree.parent(leaf)
        k = _key(leaf)
        mu_hat, var_hat = self.heads[k](d[tree.depth(leaf)])
        if parent is None:
            mu_q, var_q = mu_hat, var_hat + EPS
            prob = d[0].new_ones(d[0].shape[0])
        else:
            mu_p, var_p = self.transforms[k](td.z[parent])
            mu_q, var_q = precision_weighted(mu_hat, var_hat, mu_p, var_p, EPS)
            siblings = tree.children(parent)
            prob = td.prob[parent]
            if len(siblings) == 2:
                q = td.q_left[parent]
                prob = prob * (q if siblings[0] == leaf else 1 - q)
        z = mu_q + torch.sqrt(var_q + EPS) * torch.randn_like(mu_q)
        return z, prob

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(self, n: int, leaf: int | None = None) -> tuple[Tensor, Tensor]:
        """Sample from the generative model (eqs. 1–2).

        Args:
            n: number of samples.
            leaf: generate conditionally on this leaf (z drawn along its path from the prior
                transformations); None samples the routing decisions from the prior routers.

        Returns:
            ``(x_mean, leaf_ids)``: means of p(x | z_leaf), (n, *input_shape), and the leaf each
            sample came from, (n,).
        """
        tree = self.tree
        device = next(self.parameters()).device
        D = self.config.latent_dim
        z = torch.randn(n, D, device=device)
        node_of = torch.full((n,), tree.root, dtype=torch.long, device=device)
        if leaf is not None:
            if leaf not in tree or not tree.is_leaf(leaf):
                raise ValueError(f"{leaf} is not a leaf of the tree; leaves: {tree.leaves}")
            for node in tree.path_from_root(leaf)[1:]:
                mu, var = self.transforms[_key(node)](z)
                z = mu + var.sqrt() * torch.randn_like(mu)
            node_of.fill_(leaf)
            return self.likelihood.mean(self.decode(z, leaf)), node_of
        for node in tree.bfs():
            kids = tree.children(node)
            here = node_of == node
            if not kids or not here.any():
                continue
            z_here = z[here]
            if len(kids) == 2:
                go_left = torch.bernoulli(self.prior_routers[_key(node)](z_here)).bool()
            else:
                go_left = torch.ones(len(z_here), dtype=torch.bool, device=device)
            idx = here.nonzero().squeeze(1)
            for child, mask in ((kids[0], go_left), (kids[-1], ~go_left)):
                if not mask.any():
                    continue
                mu, var = self.transforms[_key(child)](z_here[mask])
                z[idx[mask]] = mu + var.sqrt() * torch.randn_like(mu)
                node_of[idx[mask]] = child
        x = torch.empty(n, *self.config.input_shape, device=device)
        for lf in tree.leaves:
            mask = node_of == lf
            if mask.any():
                x[mask] = self.likelihood.mean(self.decode(z[mask], lf))
        return x, node_of


def bernoulli_kl(q: Tensor, p: Tensor) -> Tensor:
    """KL(Ber(q) ‖ Ber(p)) with ε inside the logs (eq. 20). (B,) → (B,)."""
    return q * torch.log((q + EPS) / (p + EPS)) + (1 - q) * torch.log((1 - q + EPS) / (1 - p + EPS))


def log_prior_decision(p_left: Tensor, left: bool) -> Tensor:
    return torch.log((p_left if left else 1 - p_left) + EPS)


__all__ = ["TopDown", "TreeVAEModel", "bernoulli_kl", "log_normal"]
