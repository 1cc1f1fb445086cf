"""Leaf decoding of a TreeVAE: dense (every leaf on every row) or sparse (a leaf decodes only the
rows that route to it with path probability above ε).

L_rec = Σ_l P(l | x) log p(x | z_l) (eqs. 13–15) decodes every sample at every leaf, although in a
grown tree most samples put almost all their mass on one or two leaves. With ``eps`` > 0 only the
(row, leaf) pairs with P(l | x) > ε (and every row's most probable leaf) need decoding; the
log-likelihoods are scattered back into the (B, L) table.

- **Training** (:func:`padded_leaf_log_likelihoods`): every leaf decodes the same number m of
  rows, m = the largest number of pairs any leaf needs (at least :data:`MIN_ROWS`), each leaf
  topped up with its next most probable rows, so that all leaves still run as one grouped
  computation, on m rows instead of B. Decoding a leaf's ≈ 30 rows one leaf at a time was slower
  (BENCHMARKS.md): a small convolution's fixed cost dominates. The top-up rows are not only
  padding: decoding leaves in groups of similar row counts, each padded less, made the step
  1.06–1.16× faster on grown trees, but in Fashion-MNIST fits leaves then lost their rows and
  were pruned (12 and 14 leaves left of 20; BENCHMARKS.md, "Leaves decoded in groups").
- **Log-likelihood** (:func:`sparse_leaf_log_likelihoods`): each leaf decodes exactly its rows
  (there a leaf's rows come K at a time); where more than :data:`DENSE_ABOVE` of the pairs are
  needed the dense grouped computation runs instead.
- **Skipped mass.** A pair not decoded has P(l | x) ≤ ε, so the path mass a sample loses is at
  most ε · (number of leaves); it is returned per sample so that training can record it.
- **What the skipped pairs count.** A skipped pair's log p(x | z_l) is replaced by the sample's
  P-weighted mean over its decoded leaves, detached. Counting them as 0 instead would make
  reconstruction free on a skipped leaf, and the router would be rewarded for pushing mass onto
  leaves just below ε. With the mean, the error of L_rec per sample is at most
  ε · L · (spread of log p(x | z_l) across leaves).
- **BatchNorm.** In training mode a decoder's BatchNorm normalises over the rows it is given.
  Each leaf gets at least :data:`MIN_ROWS` rows (or B if smaller): its batch statistics, and the
  running statistics updated from them, never come from one or two samples, and BatchNorm1d
  never sees a single row (which raises in training mode). The rows a leaf gets are its most
  probable ones, so its statistics describe the data it reconstructs rather than the whole batch
  (dense decoding normalises over all B rows, most of them other leaves' data). In eval mode
  BatchNorm uses running statistics and no top-up is done.
- **ε = 0** runs the dense grouped computation, exactly as before; so does training where some
  leaf needs every row (m = B; an untrained tree routes almost uniformly).

Shapes: B = rows, n = leaves decoded, D = latent_dim.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from dendrogen.nn.grouped import run_grouped

if TYPE_CHECKING:
    from dendrogen.models.treevae.model import TreeVAEModel

#: In training mode a leaf that keeps fewer rows is topped up to this many (or to B if B is
#: smaller): its BatchNorm statistics then come from at least this many samples.
MIN_ROWS = 16

#: In the log-likelihood, where more than this fraction of the (row, leaf) pairs is selected,
#: every pair is decoded by the grouped dense computation instead (exact, and faster there).
DENSE_ABOVE = 0.5


def decode_leaves(model: TreeVAEModel, z: Tensor, leaves: Sequence[int]) -> Tensor:
    """Every leaf's decoder on its own latents, as one grouped computation where the decoder
    family allows it: z (B, n, D) → (B, n, *input_shape)."""
    decoders = [model.decoders[str(leaf)] for leaf in leaves]
    return run_grouped(decoders, z, getattr(type(decoders[0]), "grouped_forward", None))


def dense_leaf_log_likelihoods(
    model: TreeVAEModel, z: Tensor, x: Tensor, leaves: Sequence[int]
) -> Tensor:
    """log p(x | z_l) under each leaf's decoder: z (B, n, D), x (B, ...) → (B, n)."""
    out = decode_leaves(model, z, leaves).transpose(0, 1)  # (n, B, ...), as x broadcasts
    return model.likelihood.log_prob(out, x).t()


def select_rows(prob: Tensor, eps: float, min_rows: int = 0) -> Tensor:
    """Which (row, leaf) pairs to decode: P > ε, each row's most probable leaf, and per leaf
    (column) at least ``min(min_rows, B)`` rows, its most probable ones. prob (B, n) → bool
    (B, n). Leaves that no row selects stay empty (no top-up)."""
    prob = prob.detach()
    keep = prob > eps
    keep[torch.arange(prob.shape[0], device=prob.device), prob.argmax(1)] = True
    need = min(min_rows, prob.shape[0])
    counts = keep.sum(0)
    short = ((counts > 0) & (counts < need)).nonzero().squeeze(1)
    if short.numel():
        top = prob[:, short].topk(need, dim=0).indices  # (need, s)
        keep[top, short.expand_as(top)] = True
    return keep


def worth_sparse(prob: Tensor, eps: float) -> bool:
    """Whether at most :data:`DENSE_ABOVE` of the pairs have P(l | x) > ε. prob (B, n)."""
    return bool((prob.detach() > eps).float().mean() <= DENSE_ABOVE)


def sparse_leaf_log_likelihoods(
    model: TreeVAEModel,
    z: Tensor,
    x: Tensor,
    leaves: Sequence[int],
    prob: Tensor,
    eps: float,
    x_index: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """log p(x | z_l) for the (row, leaf) pairs :func:`select_rows` keeps (topped up to
    :data:`MIN_ROWS` rows per leaf in training mode).

    Args:
        model: the TreeVAE whose decoders run.
        z: leaf latents (B, n, D).
        x: the data, (B, ...), or (N, ...) with ``x_index`` (B,) giving each row's point.
        leaves: the n leaves, in z's order.
        prob: P(l | x) (B, n), which decides the rows.
        eps: the threshold ε.

    Returns:
        ``(log_px, decoded)``: (B, n) log-likelihoods, 0 where not decoded, and the (B, n) mask
        of decoded pairs.
    """
    B, n = prob.shape
    decoded = select_rows(prob, eps, MIN_ROWS if model.training else 0)
    flat, values = [], []
    for i, leaf in enumerate(leaves):
        rows = decoded[:, i].nonzero().squeeze(1)
        if rows.numel() == 0:
            continue
        logits = model.decoders[str(leaf)](z[rows, i])
        target = x[rows] if x_index is None else x[x_index[rows]]
        values.append(model.likelihood.log_prob(logits, target))
        flat.append(rows * n + i)
    log_px = z.new_zeros(B * n).index_put((torch.cat(flat),), torch.cat(values))
    return log_px.view(B, n), decoded


def padded_leaf_log_likelihoods(
    model: TreeVAEModel,
    z: Tensor,
    x: Tensor,
    leaves: Sequence[int],
    prob: Tensor,
    eps: float,
    x_index: Tensor | None = None,
    selected: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """As :func:`sparse_leaf_log_likelihoods`, but every leaf decodes the same number m of rows
    (the largest selection of any leaf, topped up with its next most probable rows), so that all
    leaves run as one grouped computation on (m, n) rows. Same arguments and returns;
    ``selected`` is :func:`select_rows`'s mask if already computed."""
    B, n = prob.shape
    if selected is None:
        selected = select_rows(prob, eps, MIN_ROWS if model.training else 0)
    m = int(selected.sum(0).max())
    # Selected rows first, then by probability: each column's top m holds all its selected rows.
    idx = (selected.float() * 2 + prob.detach()).topk(m, dim=0).indices  # (m, n)
    cols = torch.arange(n, device=prob.device).expand(m, n)
    out = decode_leaves(model, z[idx, cols], leaves)  # (m, n, ...)
    target = x[idx] if x_index is None else x[x_index[idx]]
    log_prob = model.likelihood.log_prob(out.flatten(0, 1), target.flatten(0, 1)).view(m, n)
    log_px = z.new_zeros(B, n).index_put((idx, cols), log_prob)
    decoded = torch.zeros_like(selected)
    decoded[idx, cols] = True
    return log_px, decoded


def reconstruction(
    model: TreeVAEModel, z: Tensor, x: Tensor, leaves: Sequence[int], prob: Tensor, eps: float,
    min_rows: int = MIN_ROWS,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """L_rec = Σ_l P(l | x) log p(x | z_l) per row and the path mass not decoded.

    z (B, n, D), x (B, ...), prob (B, n) → ``(rec, skipped)``, each (B,); in training mode each
    leaf decodes at least ``min_rows`` rows (or B if fewer). With ε = 0 every leaf
    decodes every row (the dense grouped computation) and ``skipped`` is 0; so does any ε where
    some leaf needs every row (m = B: nothing to save, e.g. an untrained tree).
    """
    selected = None
    if eps > 0:
        selected = select_rows(prob, eps, min_rows if model.training else 0)
    if selected is None or int(selected.sum(0).max()) >= prob.shape[0]:
        rec = (prob * dense_leaf_log_likelihoods(model, z, x, leaves)).sum(1)
        return rec, torch.zeros_like(rec)
    log_px, decoded = padded_leaf_log_likelihoods(model, z, x, leaves, prob, eps, selected=selected)
    kept = prob * decoded
    rec = (kept * log_px).sum(1)
    kept_mass = kept.sum(1)
    skipped = (prob * ~decoded).sum(1)
    # Skipped pairs count the row's mean decoded log-likelihood (detached; module docstring).
    fill = (rec / kept_mass.clamp_min(torch.finfo(rec.dtype).tiny)).detach()
    return rec + skipped * fill, skipped.detach()


__all__ = [
    "DENSE_ABOVE",
    "MIN_ROWS",
    "decode_leaves",
    "dense_leaf_log_likelihoods",
    "padded_leaf_log_likelihoods",
    "reconstruction",
    "select_rows",
    "sparse_leaf_log_likelihoods",
    "worth_sparse",
]
