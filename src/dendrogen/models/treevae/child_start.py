"""Children that start as their parent (``Schedule.split_children = "parent"``).

The paper gives a split leaf two children with fresh modules (treevae.md §3): random decoders
that must relearn, in a short subtree phase, what the parent's decoder knew. Right after the split
the model explains the leaf's rows far worse than before it, so a short trial cannot tell a good
split from a cheap one (BENCHMARKS.md, session 13: after a quarter of a subtree phase every
candidate's held-out ELBO was below the unsplit model's at 112 of 113 decisions).

Here each child starts as a copy of the parent instead:

- its decoder is the parent's decoder;
- its prior p(z_child | z_parent) is the identity with a small variance (a tenth of z_parent's
  spread, per dimension): the two-unit identity x = (LReLU(x) − LReLU(−x)) / (1 + slope), seated
  on z_parent's mean and spread so that BatchNorm's normalisation is undone by the output layer;
- its bottom-up head reports z_parent's mean with z_parent's whole spread as variance, so the
  posterior follows the prior.

So z_child ≈ z_parent, the KL of each child is ≈ 0 and both reconstructions are the parent's: the
split model starts at the unsplit model's ELBO, less the routers' KL, and a subtree phase (or a
trial) measures what the split adds. The routers start as usual (random or ``split_init``); the
children part because each decoder is trained on the rows its router sends it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dendrogen.models.treevae.model import TreeVAEModel
from dendrogen.nn.latent_heads import NodeHead, Transformation
from dendrogen.nn.layers import LEAKY_SLOPE

#: The child's prior standard deviation around z_parent, as a share of z_parent's spread.
PRIOR_SPREAD = 0.1
CHILD_STARTS = ("fresh", "parent")


@torch.no_grad()
def latent_moments(model: TreeVAEModel, x: Tensor, node: int, batch_size: int = 2048):
    """Mean and variance (each (D,)) over the rows ``x`` of z at ``node``, z drawn from the
    posterior: the variance of the posterior means plus the mean posterior variance."""
    path = model.tree.path_to_root(node)
    was_training = model.training
    model.eval()
    try:
        means, variances = [], []
        for start in range(0, len(x), batch_size):
            d = model.bottom_up_pass(x[start : start + batch_size])
            td = model.top_down(d, nodes=path, sample=False, with_prior_routers=False)
            means.append(td.mu_q[node].float())
            variances.append(td.var_q[node].float())
    finally:
        model.train(was_training)
    mu, var = torch.cat(means), torch.cat(variances)
    return mu.mean(0), mu.var(0, unbiased=False) + var.mean(0)


@torch.no_grad()
def seat_identity_prior(transform: Transformation, mean: Tensor, var: Tensor) -> None:
    """Make ``transform`` map z to (≈ z, (PRIOR_SPREAD² · var)) for z of the given moments (D,).

    Hidden units j and D + j see +z_j and −z_j; BatchNorm centres and scales them by the
    moments (its running statistics are seated on them, its batch statistics are near them);
    their LReLU difference is (1 + slope) times the normalised z_j, which the output layer scales
    back. The other hidden units keep their random weights and start with no say in the output.
    """
    linear, norm, _ = transform.hidden
    out = transform.out
    D = mean.shape[0]
    if linear.out_features < 2 * D:
        raise ValueError(
            f"split_children='parent' needs width ≥ 2 × latent_dim, got {linear.out_features} "
            f"and {D}"
        )
    eye = torch.eye(D, dtype=linear.weight.dtype, device=linear.weight.device)
    linear.weight[:D] = eye
    linear.weight[D : 2 * D] = -eye
    norm.weight[: 2 * D] = 1.0
    norm.bias[: 2 * D] = 0.0
    norm.running_mean[: 2 * D] = torch.cat([mean, -mean])
    norm.running_var[: 2 * D] = torch.cat([var, var])
    scale = torch.sqrt(var + norm.eps) / (1 + LEAKY_SLOPE)
    out.weight.zero_()
    out.weight[range(D), range(D)] = scale
    out.weight[range(D), range(D, 2 * D)] = -scale
    out.bias[:D] = mean
    out.bias[D:] = inverse_softplus(PRIOR_SPREAD**2 * var)


@torch.no_grad()
def seat_deferring_head(head: NodeHead, mean: Tensor, var: Tensor) -> None:
    """Make ``head`` report (mean, var) whatever its input: as uncertain as z_parent's whole
    spread, so the precision-weighted posterior stays near the much tighter prior."""
    D = mean.shape[0]
    head.out.weight.zero_()
    head.out.bias[:D] = mean
    head.out.bias[D:] = inverse_softplus(var)


def inverse_softplus(y: Tensor) -> Tensor:
    """x with softplus(x) = y (y > 0), stable for large y."""
    y = y.clamp_min(1e-6)
    return y + torch.log(-torch.expm1(-y))


def split_as_parent(model: TreeVAEModel, leaf: int, x: Tensor) -> tuple[int, int]:
    """Split ``leaf`` (:meth:`TreeVAEModel.split_leaf`) with children that start as the leaf:
    the parent's decoder, an identity prior and a deferring head, seated on the moments of the
    leaf's z over the rows ``x`` (N, ...) that reach it. Returns the two children."""
    if len(x) < 2:
        raise ValueError(f"split_as_parent needs at least 2 rows of leaf {leaf}, got {len(x)}")
    mean, var = latent_moments(model, x, leaf)
    decoder_state = {k: v.clone() for k, v in model.decoders[str(leaf)].state_dict().items()}
    children = model.split_leaf(leaf)
    for child in children:
        key = str(child)
        model.decoders[key].load_state_dict(decoder_state)
        seat_identity_prior(model.transforms[key], mean, var)
        seat_deferring_head(model.heads[key], mean, var)
    return children
