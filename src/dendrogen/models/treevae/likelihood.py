"""Importance-weighted log-likelihood of a TreeVAE (metrics.md §7, treevae.md §10.3).

log p(x) ≈ log (1/K) Σ_k w_k with the paths summed exactly over leaves: z is sampled top-down from
q at every node, and

    w_k = Σ_l p(x, z^k_{P_l}, P_l) / q(z^k_{P_l} | x),

where p includes the prior routing decisions and q only the latent factors. This is a true
importance-weighted bound (not the log-mean-exp of ELBOs the reference code computes); its
expectation rises towards log p(x) as K grows.

``paths="sample"`` gives the other valid form: one path per sample drawn from the posterior
routers, the ratio including the decision factors p(c | z_parent) / q(c | x). Its log-weights
average to the ELBO at K = 1; both forms converge to log p(x).

Speed: the bottom-up pass runs once per point, not once per importance sample (it is
deterministic in eval mode), and with ``eps`` > 0 the summed form decodes leaf l only for the
points whose posterior path probability P(l | x) exceeds ε (:mod:`.leaf_decoding`). The terms
of the other leaves are dropped, so the estimate is then one of p(x, l ∈ S(x)) ≤ p(x), S(x) the
decoded leaves: a lower bound of the ε = 0 estimate, never above it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dendrogen.models.treevae.leaf_decoding import sparse_leaf_log_likelihoods, worth_sparse
from dendrogen.models.treevae.model import EPS, TopDown, TreeVAEModel
from dendrogen.nn.gaussian import log_normal

# Leaf decodings (rows × leaves) computed at once by the summed-path estimate.
DECODED_ROWS = 32768


def _latent_log_ratio(td: TopDown, node: int) -> Tensor:
    """log p(z_node | z_parent) − log q(z_node | x, z_parent) at the sampled z, (B,)."""
    z = td.z[node]
    return log_normal(z, td.mu_p[node], td.var_p[node]) - log_normal(
        z, td.mu_q[node], td.var_q[node]
    )


def log_weights(
    model: TreeVAEModel, x: Tensor, paths: str = "sum", eps: float = 0.0, repeats: int = 1
) -> Tensor:
    """One importance weight per row: log w, (N·repeats,) for x (N, ...), each point's
    ``repeats`` rows adjacent. ``x`` may also repeat each point K times itself (``repeats`` = 1).

    ``paths``: "sum" (exact sum over the leaves) or "sample" (one path sampled from q).
    ``eps``: with "sum", decode leaf l only for rows with P(l | x) > eps (module docstring).
    """
    d = model.bottom_up_pass(x)
    if repeats > 1:  # deterministic in eval mode: one pass per point, then one row per sample
        d = [t.repeat_interleave(repeats, dim=0) for t in d]
    if paths == "sample":
        return _log_weights_sampled_path(model, x.repeat_interleave(repeats, dim=0), d)
    if paths != "sum":
        raise ValueError(f"paths must be 'sum' or 'sample', not {paths!r}")
    tree = model.tree
    td = model.top_down(d, sample=True)
    root = tree.root
    z0 = td.z[root]
    acc = {root: log_normal(z0, torch.zeros_like(z0), torch.ones_like(z0))
           - log_normal(z0, td.mu_q[root], td.var_q[root])}  # fmt: skip
    for node in tree.bfs():
        if node == root:
            continue
        parent = tree.parent(node)
        term = _latent_log_ratio(td, node)
        if parent in td.p_left:  # a binary parent: the prior decision's probability
            p_left = td.p_left[parent]
            left = tree.children(parent)[0] == node
            term = term + torch.log((p_left if left else 1 - p_left) + EPS)
        acc[node] = acc[parent] + term
    leaves = tree.leaves
    z = torch.stack([td.z[leaf] for leaf in leaves], dim=1)
    log_joint = torch.stack([acc[leaf] for leaf in leaves], dim=1)
    # Rows in chunks bound the decoders' activations.
    step = max(1, DECODED_ROWS // len(leaves))
    prob = torch.stack([td.prob[leaf] for leaf in leaves], dim=1)
    if eps <= 0 or not worth_sparse(prob, eps):  # all leaves decode as one grouped computation
        xr = x.repeat_interleave(repeats, dim=0) if repeats > 1 else x
        log_px = torch.cat([model.leaf_log_likelihoods(z[s : s + step], xr[s : s + step], leaves)
                            for s in range(0, z.shape[0], step)])  # fmt: skip
        return torch.logsumexp(log_joint + log_px, dim=1)
    point = torch.arange(x.shape[0], device=x.device).repeat_interleave(repeats)
    parts = []
    for s in range(0, z.shape[0], step):
        log_px, decoded = sparse_leaf_log_likelihoods(
            model, z[s : s + step], x, leaves, prob[s : s + step], eps, point[s : s + step]
        )
        parts.append(torch.where(decoded, log_joint[s : s + step] + log_px, -torch.inf))
    return torch.logsumexp(torch.cat(parts), dim=1)


def _log_weights_sampled_path(model: TreeVAEModel, x: Tensor, d: list[Tensor]) -> Tensor:
    """log w for one path per row sampled from the posterior routers (metrics.md §7), (B,).

    Every row's z's are drawn top-down from q at every node (a row only uses those on its path,
    which are then distributed as q along that path); the decisions are drawn from r_q.
    """
    tree = model.tree
    td = model.top_down(d, sample=True)
    root = tree.root
    z0 = td.z[root]
    log_w = log_normal(z0, torch.zeros_like(z0), torch.ones_like(z0)) - log_normal(
        z0, td.mu_q[root], td.var_q[root]
    )
    on_path = {root: torch.ones_like(log_w, dtype=torch.bool)}
    go_left = {n: torch.bernoulli(q).bool() for n, q in td.q_left.items()}
    for node in tree.bfs():
        if node == root:
            continue
        parent = tree.parent(node)
        term = _latent_log_ratio(td, node)
        if parent in go_left:  # a binary parent: this child is reached by one decision
            left = tree.children(parent)[0] == node
            took = go_left[parent] if left else ~go_left[parent]
            q, p = td.q_left[parent], td.p_left[parent]
            term = term + torch.log((p if left else 1 - p) + EPS)
            term = term - torch.log((q if left else 1 - q) + EPS)
            on_path[node] = on_path[parent] & took
        else:  # pass-through: decision factors of 1
            on_path[node] = on_path[parent]
        log_w = log_w + torch.where(on_path[node], term, torch.zeros_like(term))
    for leaf in tree.leaves:
        rows = on_path[leaf]
        if rows.any():
            out = model.decode(td.z[leaf][rows], leaf)
            log_w[rows] = log_w[rows] + model.likelihood.log_prob(out, x[rows])
    return log_w


@torch.no_grad()
def log_likelihood(
    model: TreeVAEModel,
    x: Tensor,
    n_samples: int = 1000,
    max_rows: int = 16384,
    paths: str = "sum",
    eps: float = 0.0,
) -> Tensor:
    """log p(x) estimated with ``n_samples`` importance samples, per point: (B,) float64.

    Rows (points × samples) are processed ``max_rows`` at a time, so memory stays bounded
    whatever K is; the log-sum-exp is accumulated in float64. ``paths`` and ``eps`` (sparse
    leaf decoding, a lower bound of the ε = 0 estimate): see :func:`log_weights`.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    was_training = model.training
    model.eval()
    try:
        out = []
        per_pass = max(1, max_rows // n_samples)  # points per pass when all K fit at once
        if per_pass > 1 or n_samples <= max_rows:
            for start in range(0, x.shape[0], per_pass):
                xb = x[start : start + per_pass]
                lw = log_weights(model, xb, paths, eps, repeats=n_samples)
                lw = lw.double().view(xb.shape[0], n_samples)
                out.append(torch.logsumexp(lw, dim=1) - math.log(n_samples))
        else:  # K larger than one pass: one point at a time, K in chunks
            for i in range(x.shape[0]):
                parts = []
                for start in range(0, n_samples, max_rows):
                    k = min(max_rows, n_samples - start)
                    parts.append(log_weights(model, x[i : i + 1], paths, eps, repeats=k).double())
                lw = torch.cat(parts)
                out.append((torch.logsumexp(lw, dim=0) - math.log(n_samples)).view(1))
        return torch.cat(out)
    finally:
        model.train(was_training)
