"""Sparse leaf decoding of TreeVAE (models/treevae/leaf_decoding.py): ε = 0 is today's loss,
the skipped path mass is bounded by ε·L, BatchNorm copes with leaves given 0 or 1 rows, and the
log-likelihood's fast paths agree with the plain one."""

from __future__ import annotations

import pytest
import torch

from dendrogen import TreeVAE
from dendrogen.models.treevae import TreeVAEConfig, TreeVAEModel, leaf_decoding
from dendrogen.models.treevae.leaf_decoding import (
    MIN_ROWS,
    select_rows,
    sparse_leaf_log_likelihoods,
)
from dendrogen.models.treevae.likelihood import log_likelihood, log_weights
from dendrogen.models.treevae.model import bernoulli_kl
from dendrogen.nn.gaussian import kl_normal, kl_std_normal
from dendrogen.training.presets import make_schedule


def grown(leaves: int = 5, confident: float = 0.0, bias: float = 0.0) -> TreeVAEModel:
    """A tree of ``leaves`` leaves; ``confident`` scales the posterior routers' output weights
    (rows route far from uniformly in training mode), ``bias`` sets their output bias (every
    row goes left with probability sigmoid(bias))."""
    torch.manual_seed(0)
    model = TreeVAEModel(TreeVAEConfig(input_shape=(1, 8, 8), latent_dim=2, width=8))
    while len(model.tree.leaves) < leaves:
        model.split_leaf(min(model.tree.leaves, key=lambda n: (model.tree.depth(n), n)))
    with torch.no_grad():
        for router in model.post_routers.values():
            router.out.weight.mul_(1 + confident)
            router.out.bias.fill_(bias)
    return model


def old_dense_loss(model: TreeVAEModel, x: torch.Tensor, alpha: float) -> torch.Tensor:
    """The loss as the code computed it before sparse decoding (every leaf on every row)."""
    td = model.top_down(model.bottom_up_pass(x))
    kl_nodes = x.new_zeros(x.shape[0])
    kl_dec = x.new_zeros(x.shape[0])
    for level in td.levels:
        if level.mu_p is not None:
            kl = kl_normal(level.mu_q, level.var_q, level.mu_p, level.var_p)
            kl_nodes = kl_nodes + (level.prob * kl).sum(1)
        if level.binary:
            kl_b = bernoulli_kl(level.q_left, level.p_left)
            kl_dec = kl_dec + (level.prob[:, level.binary] * kl_b).sum(1)
    leaves = model.tree.leaves
    z = torch.stack([td.z[leaf] for leaf in leaves], dim=1)
    prob = torch.stack([td.prob[leaf] for leaf in leaves], dim=1)
    out = leaf_decoding.decode_leaves(model, z, leaves).transpose(0, 1)
    rec = (prob * model.likelihood.log_prob(out, x).t()).sum(1)
    root = model.tree.root
    kl_root = kl_std_normal(td.mu_q[root], td.var_q[root])
    kl = kl_root.mean() + kl_nodes.mean() + kl_dec.mean()
    return -rec.mean() + alpha * kl


def grads(model: TreeVAEModel, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad()
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_eps_zero_is_exactly_the_dense_loss_and_gradients():
    model = grown().train()
    x = torch.rand(40, 1, 8, 8)
    torch.manual_seed(1)
    old = old_dense_loss(model, x, 0.7)
    g_old = grads(model, old)
    torch.manual_seed(1)
    terms = model.loss(x, 0.7, eps=0.0)
    g_new = grads(model, terms["loss"])
    assert torch.equal(terms["loss"], old)
    assert g_old.keys() == g_new.keys() and len(g_new) == len(list(model.parameters()))
    assert all(torch.equal(g_old[k], g_new[k]) for k in g_old)
    assert float(terms["skipped"]) == 0.0


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("decode", ["padded", "sparse"])
def test_gather_decode_scatter_that_keeps_every_row_matches_the_dense_one(mode, decode):
    # ε below every path probability: both gather/decode/scatter forms decode every pair, so
    # they must reproduce the grouped dense computation (BatchNorm over the same rows).
    model = grown()
    model.train(mode == "train")
    fn = getattr(leaf_decoding, f"{decode}_leaf_log_likelihoods")
    leaves = model.tree.leaves
    x = torch.rand(40, 1, 8, 8)
    z = torch.randn(40, len(leaves), 2, requires_grad=True)
    prob = torch.softmax(torch.randn(40, len(leaves)), dim=1)
    dense = leaf_decoding.dense_leaf_log_likelihoods(model, z, x, leaves)
    (g_dense,) = torch.autograd.grad((dense * prob).sum(), z)
    log_px, decoded = fn(model, z, x, leaves, prob, 1e-30)
    (g_sparse,) = torch.autograd.grad((log_px * prob).sum(), z)
    assert decoded.all()
    torch.testing.assert_close(log_px, dense, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(g_sparse, g_dense, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_loss_where_a_leaf_needs_every_row_is_the_dense_one(mode):
    model = grown()
    model.train(mode == "train")
    x = torch.rand(40, 1, 8, 8)
    torch.manual_seed(2)
    dense = model.loss(x, 1.0, eps=0.0)
    g_dense = grads(model, dense["loss"])
    torch.manual_seed(2)
    sparse = model.loss(x, 1.0, eps=1e-30)
    g_sparse = grads(model, sparse["loss"])
    assert float(sparse["skipped_max"]) == 0.0
    assert torch.equal(sparse["loss"], dense["loss"])  # the dense computation itself
    assert all(torch.equal(g_sparse[k], g_dense[k]) for k in g_dense)


def test_skipped_mass_is_bounded_by_eps_times_leaves_and_recorded():
    model = grown(leaves=6, confident=30.0).train()
    x = torch.rand(64, 1, 8, 8)
    eps = 0.02
    terms = model.elbo_terms(x, eps=eps)
    skipped = terms["skipped"]
    assert skipped.max() > 0  # the confident routers leave pairs below ε
    assert bool((skipped <= eps * len(model.tree.leaves) + 1e-6).all())
    # It is exactly the path mass of the pairs that were not decoded, at most that of the pairs
    # at or below ε (the padded decoding decodes a superset of the selected pairs).
    prob = model.leaf_probabilities(x).detach()
    leaves = model.tree.leaves
    z = torch.zeros(64, len(leaves), 2)
    _, decoded = leaf_decoding.padded_leaf_log_likelihoods(model, z, x, leaves, prob, eps)
    torch.testing.assert_close(skipped, (prob * ~decoded).sum(1))
    assert bool((skipped <= (prob * ~select_rows(prob, eps, MIN_ROWS)).sum(1) + 1e-7).all())
    assert bool((decoded.sum(0) == decoded.sum(0)[0]).all())  # m rows per leaf
    loss = model.loss(x, 1.0, eps=eps)
    assert 0 < float(loss["skipped"]) <= float(loss["skipped_max"]) <= eps * 6 + 1e-6


def test_select_rows_tops_up_small_leaves_and_leaves_empty_ones_empty():
    B = 40
    prob = torch.zeros(B, 3)
    prob[:, 0] = 0.9
    prob[:, 1] = 0.1 - 1e-4  # below ε everywhere but on row 0
    prob[0, 1] = 0.5
    prob[:, 2] = 1e-4  # no row keeps leaf 2
    keep = select_rows(prob, eps=0.2, min_rows=MIN_ROWS)
    assert keep[:, 0].all()
    assert int(keep[:, 1].sum()) == MIN_ROWS and bool(keep[0, 1])
    assert not keep[:, 2].any()
    assert int(select_rows(prob, eps=0.2, min_rows=0)[:, 1].sum()) == 1
    # Every row keeps its most probable leaf even when ε is above all its probabilities.
    assert select_rows(torch.full((5, 4), 0.25), eps=0.5).sum(1).eq(1).all()


def test_batch_norm_with_a_leaf_of_one_row_and_a_leaf_of_none():
    model = grown(leaves=3).train()
    leaves = model.tree.leaves
    B = 32
    prob = torch.full((B, 3), 1e-4)
    prob[:, 0] = 0.9
    prob[0, 1] = 0.5  # leaf 1: one row above ε; leaf 2: none
    z = torch.randn(B, 3, 2, requires_grad=True)
    x = torch.rand(B, 1, 8, 8)
    norms = [model.decoders[str(leaf)].dense[1] for leaf in leaves]
    before = [bn.running_mean.clone() for bn in norms]
    log_px, decoded = sparse_leaf_log_likelihoods(model, z, x, leaves, prob, eps=0.2)
    assert decoded[:, 0].all() and int(decoded[:, 1].sum()) == MIN_ROWS
    assert not decoded[:, 2].any() and bool((log_px[:, 2] == 0).all())
    assert torch.isfinite(log_px).all()
    (log_px * decoded).sum().backward()
    assert z.grad[:, 1].abs().sum() > 0 and z.grad[:, 2].abs().sum() == 0
    assert not torch.equal(norms[1].running_mean, before[1])
    assert torch.equal(norms[2].running_mean, before[2])  # a leaf given no row is not run
    # Why the top-up: a decoder given a single row in training mode cannot normalise it.
    with pytest.raises(ValueError, match="more than 1 value"):
        model.decoders[str(leaves[1])](z[:1, 1])


def test_log_likelihood_falls_back_to_dense_where_most_pairs_are_kept():
    model = grown(leaves=4).eval()
    x = torch.rand(3, 1, 8, 8)
    prob = model.leaf_probabilities(x).detach()
    eps = float(prob.min()) / 2  # every pair above ε
    assert not leaf_decoding.worth_sparse(prob, eps)
    assert leaf_decoding.worth_sparse(prob, float(prob.max()))
    with torch.no_grad():
        torch.manual_seed(5)
        dense = log_weights(model, x, repeats=20)
        torch.manual_seed(5)
        fallback = log_weights(model, x, eps=eps, repeats=20)
    assert torch.equal(fallback, dense)


def test_padded_and_per_leaf_decoding_agree_in_eval_mode():
    model = grown(leaves=5, bias=3.0).eval()
    leaves = model.tree.leaves
    x = torch.rand(24, 1, 8, 8)
    z = torch.randn(24, 5, 2)
    prob = torch.softmax(3 * torch.randn(24, 5), dim=1)
    with torch.no_grad():
        a, dec_a = leaf_decoding.padded_leaf_log_likelihoods(model, z, x, leaves, prob, 0.05)
        b, dec_b = leaf_decoding.sparse_leaf_log_likelihoods(model, z, x, leaves, prob, 0.05)
    both = dec_a & dec_b
    assert bool((dec_b & ~dec_a).sum() == 0) and not dec_b.all()
    torch.testing.assert_close(a[both], b[both], rtol=1e-5, atol=1e-4)


def test_log_weights_once_per_point_match_repeated_rows_and_sparse_is_a_lower_bound(
    monkeypatch,
):
    model = grown(leaves=5, bias=3.0).eval()
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        torch.manual_seed(3)
        plain = log_weights(model, x.repeat_interleave(50, dim=0))
        torch.manual_seed(3)
        once = log_weights(model, x, repeats=50)
        torch.manual_seed(3)
        sparse = log_weights(model, x, eps=0.05, repeats=50)
        torch.manual_seed(3)
        with monkeypatch.context() as m:
            m.setattr(leaf_decoding, "DENSE_ABOVE", 1.0)  # the sparse path, every pair kept
            all_rows = log_weights(model, x, eps=1e-30, repeats=50)
        torch.manual_seed(3)
        sampled = log_weights(model, x.repeat_interleave(50, dim=0), paths="sample")
        torch.manual_seed(3)
        sampled_once = log_weights(model, x, paths="sample", repeats=50)
    torch.testing.assert_close(once, plain, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(all_rows, plain, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(sampled_once, sampled, rtol=1e-5, atol=1e-4)
    assert bool((sparse <= plain + 1e-4).all()) and bool((sparse < plain - 1e-6).any())
    torch.manual_seed(4)
    ll0 = log_likelihood(model, x, n_samples=40)
    torch.manual_seed(4)
    ll = log_likelihood(model, x, n_samples=40, eps=0.05)
    assert bool((ll <= ll0 + 1e-6).all())


def test_leaf_eps_setting_is_validated_and_its_skipped_mass_logged_per_epoch():
    for bad in (-0.1, 1.0, True, "0.1"):
        with pytest.raises(ValueError, match="leaf_eps"):
            make_schedule("fast", {"leaf_eps": bad})
    from dendrogen.data import load_dataset

    X, _ = load_dataset("digits", split="train")
    schedule = dict(initial=20, subtree=10, intermediate=0, finetune=20, leaf_eps=0.01)
    model = TreeVAE(max_leaves=3, max_depth=2, latent_dim=2, width=8, batch_size=32,
                    schedule=schedule, random_state=0, verbose=False).fit(X[:200])  # fmt: skip
    rows = [r for r in model.history_ if r.get("phase") in ("initial", "finetune")]
    assert rows and all(0 <= r["skipped"] <= r["skipped_max"] <= 0.01 * 3 + 1e-6 for r in rows)


def test_leaf_min_rows_sets_how_many_rows_each_leaf_decodes_in_training():
    for bad in (0, -3, 2.5, True, "16"):
        with pytest.raises(ValueError, match="leaf_min_rows"):
            make_schedule("fast", {"leaf_min_rows": bad})
    assert make_schedule("fast", {}).leaf_min_rows == MIN_ROWS
    model = grown(leaves=6, confident=30.0).train()
    x = torch.rand(64, 1, 8, 8)
    prob = model.leaf_probabilities(x).detach()
    busiest = int(select_rows(prob, 0.02, 0).sum(0).max())  # every leaf decodes this many rows
    assert busiest < 56
    skipped = {rows: model.elbo_terms(x, eps=0.02, min_rows=rows)["skipped"].sum()
               for rows in (4, busiest, 56)}  # fmt: skip
    # A top-up below the busiest leaf's need changes nothing; above it, every leaf decodes more
    # rows and less path mass is skipped.
    assert skipped[4] == skipped[busiest] > skipped[56] >= 0
    # A top-up of the whole batch decodes every pair: the dense loss, nothing skipped.
    torch.manual_seed(2)
    dense = model.loss(x, 1.0, eps=0.0)
    torch.manual_seed(2)
    topped_up = model.loss(x, 1.0, eps=0.02, min_rows=64)
    assert float(topped_up["skipped_max"]) == 0.0
    assert torch.equal(topped_up["loss"], dense["loss"])
