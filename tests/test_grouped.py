"""Grouped execution (dendrogen.nn.grouped) must be exactly the modules run one by one: same
outputs, same gradients, same BatchNorm running statistics, in training and in eval mode."""

from __future__ import annotations

import copy

import pytest
import torch

from dendrogen.models.treevae.config import TreeVAEConfig
from dendrogen.models.treevae.model import TreeVAEModel, _key
from dendrogen.nn.architectures import make_decoder
from dendrogen.nn.grouped import grouped_linear
from dendrogen.nn.latent_heads import NodeHead, Transformation
from dendrogen.nn.routers import Router


def _same_after_training_step(make, run_one, run_grouped, inputs, n=3):
    """Runs n modules one by one and, on deep copies, grouped; compares outputs, gradients and
    buffers (running statistics)."""
    torch.manual_seed(0)
    mods = [make() for _ in range(n)]
    twins = copy.deepcopy(mods)
    for training in (True, False):
        for m in mods + twins:
            m.train(training)
        ref = torch.stack([run_one(m, inputs, i) for i, m in enumerate(mods)], dim=1)
        got = run_grouped(twins, inputs)
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
        if training:
            ref.square().sum().backward()
            got.square().sum().backward()
            for a, b in zip(mods, twins, strict=True):
                for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
                    torch.testing.assert_close(pb.grad, pa.grad, rtol=1e-4, atol=1e-5, msg=name)
        for a, b in zip(mods, twins, strict=True):
            for (name, ba), bb in zip(a.named_buffers(), b.buffers(), strict=True):
                torch.testing.assert_close(bb, ba, msg=name)


def test_grouped_linear_shared_and_per_group_inputs():
    torch.manual_seed(0)
    lins = [torch.nn.Linear(5, 3) for _ in range(4)]
    x = torch.randn(7, 5)
    ref = torch.stack([lin(x) for lin in lins], dim=1)
    torch.testing.assert_close(grouped_linear(lins, x), ref)
    xs = torch.randn(7, 4, 5)
    ref = torch.stack([lin(xs[:, i]) for i, lin in enumerate(lins)], dim=1)
    torch.testing.assert_close(grouped_linear(lins, xs), ref)


@pytest.mark.parametrize(
    ("arch", "shape"), [("conv28", (1, 28, 28)), ("conv8", (1, 8, 8)), ("mlp", (12,))]
)
def test_grouped_decoders_equal_one_by_one(arch, shape):
    z = torch.randn(6, 3, 4)
    _same_after_training_step(
        lambda: make_decoder(arch, 4, shape, width=8),
        lambda m, z, i: m(z[:, i]),
        lambda ms, z: type(ms[0]).grouped_forward(ms, z),
        z,
    )


def test_grouped_routers_transformations_and_heads_equal_one_by_one():
    shared = torch.randn(6, 10)
    per_node = torch.randn(6, 3, 4)
    _same_after_training_step(lambda: Router(10, 8), lambda m, x, i: m(x), Router.grouped, shared)
    _same_after_training_step(
        lambda: Router(4, 8), lambda m, x, i: m(x[:, i]), Router.grouped, per_node
    )
    _same_after_training_step(
        lambda: Transformation(4, 8),
        lambda m, x, i: torch.cat(m(x[:, i]), -1),
        lambda ms, x: torch.cat(Transformation.grouped(ms, x), -1),
        per_node,
    )
    _same_after_training_step(
        lambda: NodeHead(10, 4),
        lambda m, x, i: torch.cat(m(x), -1),
        lambda ms, x: torch.cat(NodeHead.grouped(ms, x), -1),
        shared,
    )


def _node_by_node(model: TreeVAEModel, d: list[torch.Tensor]) -> dict:
    """The top-down pass with posterior means, written node by node from the modules."""
    tree, out = model.tree, {}
    for node in tree.bfs():
        k, depth = _key(node), tree.depth(node)
        mu_hat, var_hat = model.heads[k](d[depth])
        parent = tree.parent(node)
        if parent is None:
            mu, prob = mu_hat, torch.ones(d[0].shape[0])
        else:
            mu_p, var_p = model.transforms[k](out[parent]["z"])
            prec_hat, prec_p = 1 / (var_hat + 1e-7), 1 / (var_p + 1e-7)
            mu = (mu_hat * prec_hat + mu_p * prec_p) / (prec_hat + prec_p)
            prob = out[parent]["prob"]
            if len(tree.children(parent)) == 2:
                q = out[parent]["q"]
                prob = prob * (q if tree.children(parent)[0] == node else 1 - q)
        out[node] = {"z": mu, "prob": prob}
        if len(tree.children(node)) == 2:
            out[node]["q"] = model.post_routers[k](d[depth])
            out[node]["p"] = model.prior_routers[k](mu)
    return out


@pytest.mark.parametrize("prune", [False, True])
def test_level_wise_top_down_equals_node_by_node(prune):
    torch.manual_seed(0)
    model = TreeVAEModel(TreeVAEConfig(input_shape=(1, 8, 8), latent_dim=3, width=8))
    for _ in range(4):  # an unbalanced tree: always split the newest left leaf
        model.split_leaf(max(model.tree.leaves))
    if prune:  # leaves a pass-through node
        model.prune_leaf(max(model.tree.leaves))
        assert any(len(model.tree.children(n)) == 1 for n in model.tree.nodes)
    model.eval()
    x = torch.rand(5, 1, 8, 8)
    d = model.bottom_up_pass(x)
    td = model.top_down(d, sample=False)
    ref = _node_by_node(model, d)
    for node in model.tree.nodes:
        torch.testing.assert_close(td.z[node], ref[node]["z"])
        torch.testing.assert_close(td.prob[node], ref[node]["prob"])
        if "q" in ref[node]:
            torch.testing.assert_close(td.q_left[node], ref[node]["q"])
            torch.testing.assert_close(td.p_left[node], ref[node]["p"])
    leaf_probs = torch.stack([ref[leaf]["prob"] for leaf in model.tree.leaves], dim=1)
    torch.testing.assert_close(model.leaf_probabilities(x), leaf_probs)
    # The ELBO decodes every leaf as one grouped computation; the same noise, leaf by leaf:
    torch.manual_seed(1)
    rec = model.elbo_terms(x)["rec"]
    torch.manual_seed(1)
    td = model.top_down(model.bottom_up_pass(x))
    ref_rec = sum(
        td.prob[leaf] * model.likelihood.log_prob(model.decode(td.z[leaf], leaf), x)
        for leaf in model.tree.leaves
    )
    torch.testing.assert_close(rec, ref_rec)
