"""Data-driven initialisation of a TreeVAE split (``Schedule.split_init = "kmeans"``).

A freshly split node routes its samples by a randomly initialised router, so which partition the
split converges to depends on the seed (and, through rounding, on the CPU): on data whose classes
have unequal spreads it often cuts the broadest class in two, and no later split can undo that.
Instead, the samples that reach the node are split in two by 2-means on their posterior means of
z at that node (the model's own representation, no labels), and the node's posterior router is
fitted to that partition before the split's phase trains everything as usual. The ELBO still
decides the final routing; the seed only decides the start less often. Like bisecting k-means,
but in the tree's latent space, so each level refines its parent's.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import Tensor
from torch.nn import functional as F

from dendrogen.models.treevae.model import TreeVAEModel
from dendrogen.training.restarts import reset_parameters


@torch.no_grad()
def node_posterior_means(
    model: TreeVAEModel, x: Tensor, node: int, batch_size: int = 2048
) -> tuple[Tensor, Tensor]:
    """Posterior means of z at ``node`` and the bottom-up activation its router reads, for every
    row of x (eval mode): ((N, latent_dim), (N, w_depth))."""
    was_training = model.training
    model.eval()
    path = model.tree.path_from_root(node)
    depth = model.tree.depth(node)
    means, acts = [], []
    try:
        for start in range(0, x.shape[0], batch_size):
            d = model.bottom_up_pass(x[start : start + batch_size])
            td = model.top_down(d, nodes=path, sample=False, with_prior_routers=False)
            means.append(td.mu_q[node])
            acts.append(d[depth])
    finally:
        model.train(was_training)
    return torch.cat(means), torch.cat(acts)


def two_means(embedding: np.ndarray, seed: int) -> np.ndarray:
    """Labels 0/1 of 2-means (k-means++, 10 starts) on standardised ``embedding`` (N, D); the
    larger part is labelled 0 so the result does not depend on k-means' label order."""
    scale = embedding.std(axis=0)
    z = (embedding - embedding.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    labels = KMeans(2, n_init=10, random_state=seed).fit_predict(z.astype(np.float64))
    if (labels == 0).sum() < (labels == 1).sum():
        labels = 1 - labels
    return labels.astype(np.int64)


def fit_router_to(
    router: torch.nn.Module,
    inputs: Tensor,
    labels: np.ndarray,
    *,
    steps: int = 200,
    batch_size: int = 256,
    lr: float = 1e-2,
    generator: torch.Generator | None = None,
) -> float:
    """Train ``router`` (probability of the left child) so that label 0 goes left, by binary
    cross-entropy on minibatches of ``inputs`` (N, in); returns the final agreement in [0, 1]."""
    target = torch.as_tensor(labels == 0, dtype=inputs.dtype, device=inputs.device)
    params = [p for p in router.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    n = inputs.shape[0]
    batch = min(batch_size, n)
    router.train()
    for _ in range(steps):
        idx = torch.randperm(n, generator=generator)[:batch].to(inputs.device)
        loss = F.binary_cross_entropy_with_logits(router.logits(inputs[idx]), target[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    router.eval()
    with torch.no_grad():
        agreement = ((router(inputs) > 0.5).to(inputs.dtype) == target).float().mean()
    return float(agreement)


def initialise_split(model: TreeVAEModel, x: Tensor, node: int, seed: int) -> dict:
    """Split the rows ``x`` that reach internal ``node`` by 2-means on their posterior means at
    ``node`` and fit its posterior router to that partition. Returns a record for the history."""
    means, acts = node_posterior_means(model, x, node)
    import os

    emb = {"mu": means, "d": acts, "both": torch.cat([means, acts], 1)}[
        os.environ.get("SPLIT_EMB", "mu")
    ]
    labels = two_means(emb.cpu().numpy(), seed)
    if os.environ.get("SPLIT_RESET", "1") == "1":
        torch.manual_seed(seed)
        reset_parameters(model.node_modules(model.tree.children(node)))
        reset_parameters([model.prior_routers[str(node)]])
    generator = torch.Generator().manual_seed(seed)
    agreement = fit_router_to(model.post_routers[str(node)], acts, labels, generator=generator)
    return {"event": "split_init", "node": node, "sizes": np.bincount(labels, minlength=2).tolist(),
            "router_agreement": round(agreement, 4)}  # fmt: skip
