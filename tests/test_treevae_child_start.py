"""Children that start as their parent (``schedule={"split_children": "parent"}``,
models/treevae/child_start.py): right after the split the model explains the data as the unsplit
one did, the option reaches every split of a fit (trials and split init included), and the fit
stays deterministic."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hierarchy_data import make_nested_clusters

from dendrogen import TreeVAE
from dendrogen.models.treevae.child_start import (
    inverse_softplus,
    latent_moments,
    seat_identity_prior,
    split_as_parent,
)
from dendrogen.models.treevae.split_init import initialise_split
from dendrogen.nn.latent_heads import Transformation
from dendrogen.training.presets import Schedule

SCHEDULE = dict(initial=120, subtree=40, intermediate=0, finetune=20, split_children="parent")


def _model(**schedule) -> TreeVAE:
    return TreeVAE(
        max_leaves=4, max_depth=3, latent_dim=2, width=16, likelihood="gaussian", batch_size=50,
        schedule=SCHEDULE | schedule, random_state=3, verbose=False, checkpoint_every=0.0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def nested():
    return make_nested_clusters(n=600, seed=3)[0]


@pytest.fixture(scope="module")
def two_leaves(nested):
    """A two-leaf tree after its initial phase, and its first leaf's rows."""
    est = _model(finetune=0).set_params(max_leaves=2).fit(nested)
    x = torch.as_tensor(nested)
    leaf = est.leaves_[0]
    return est, x[torch.as_tensor(est.labels_ == 0)], leaf


def _mean_elbo(module, x: torch.Tensor) -> float:
    module.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        terms = module.elbo_terms(x)
    return float((terms["rec"] - terms["kl_root"] - terms["kl_nodes"] - terms["kl_decisions"])
                 .mean())  # fmt: skip


def test_inverse_softplus_undoes_softplus():
    y = torch.tensor([1e-4, 0.01, 1.0, 30.0, 500.0])
    torch.testing.assert_close(torch.nn.functional.softplus(inverse_softplus(y)), y)


@pytest.mark.parametrize("training", [False, True])
def test_the_identity_prior_passes_z_through(training):
    """Eval mode uses the seated running statistics, training mode the batch's own; seated on
    the moments of the batch, both give z back (up to BatchNorm's ε)."""
    torch.manual_seed(0)
    z = torch.tensor([2.0, -1.0, 0.5]) + torch.tensor([3.0, 0.2, 1.0]) * torch.randn(4096, 3)
    mean, var = z.mean(0), z.var(0, unbiased=False)
    transform = Transformation(3, 8)
    seat_identity_prior(transform, mean, var)
    transform.train(training)
    with torch.no_grad():
        mu, prior_var = transform(z)
    assert ((mu - z).abs() / var.sqrt()).max() < 1e-3
    torch.testing.assert_close(prior_var, 0.01 * var * torch.ones(4096, 1), rtol=1e-4, atol=0)


def test_the_identity_prior_needs_room_for_two_units_per_dimension():
    with pytest.raises(ValueError, match="width"):
        seat_identity_prior(Transformation(3, 5), torch.zeros(3), torch.ones(3))


def test_a_split_as_parent_keeps_the_elbo_and_a_fresh_split_loses_it(two_leaves):
    est, rows, leaf = two_leaves
    model = est.module_
    before = _mean_elbo(model, rows)
    parent_decoder = {k: v.clone() for k, v in model.decoders[str(leaf)].state_dict().items()}
    as_parent = copy.deepcopy(model)
    children = split_as_parent(as_parent, leaf, rows)
    for child in children:
        for key, value in as_parent.decoders[str(child)].state_dict().items():
            torch.testing.assert_close(value, parent_decoder[key])
    fresh = copy.deepcopy(model)
    fresh.split_leaf(leaf)
    kept, lost = before - _mean_elbo(as_parent, rows), before - _mean_elbo(fresh, rows)
    # What a split as the parent costs at first is the new routers' KL (≤ log 2 a row) and a
    # little noise; fresh children start far below.
    assert abs(kept) < 0.7, (before, kept)  # 5 seeds: -0.06 to 0.30
    assert lost > 5 * max(abs(kept), 0.1), (before, kept, lost)


def test_the_childs_z_starts_at_its_parents(two_leaves):
    est, rows, leaf = two_leaves
    model = copy.deepcopy(est.module_)
    _, var = latent_moments(model, rows, leaf)
    left, right = split_as_parent(model, leaf, rows)
    model.eval()
    with torch.no_grad():
        td = model.top_down(model.bottom_up_pass(rows), sample=False)
    for child in (left, right):
        gap = (td.mu_q[child] - td.mu_q[leaf]).abs() / var.sqrt()
        assert gap.max() < 0.05, gap.max()


def test_split_init_keeps_children_that_start_as_the_parent(two_leaves):
    est, rows, leaf = two_leaves
    model = copy.deepcopy(est.module_)
    left, _ = split_as_parent(model, leaf, rows)
    seated = {k: v.clone() for k, v in model.decoders[str(left)].state_dict().items()}
    initialise_split(model, rows, leaf, seed=0, reset_children=False)
    for key, value in model.decoders[str(left)].state_dict().items():
        torch.testing.assert_close(value, seated[key])
    initialise_split(model, rows, leaf, seed=0)  # the default redraws them
    changed = model.decoders[str(left)].state_dict()
    assert any(
        not torch.equal(changed[k], seated[k]) for k in seated if seated[k].is_floating_point()
    )


@pytest.mark.parametrize("extra", [{}, {"split_init": "kmeans", "split_candidates": 2}])
def test_fits_with_children_as_parents_are_deterministic(nested, monkeypatch, extra):
    """Every split of the fit (trial copies included) goes through split_as_parent."""
    from dendrogen.estimators import treevae_growth

    calls = []
    original = treevae_growth.split_as_parent

    def spy(model, leaf, x):
        calls.append(leaf)
        return original(model, leaf, x)

    monkeypatch.setattr(treevae_growth, "split_as_parent", spy)
    first = _model(**extra).fit(nested)
    splits = [e["leaf"] for e in first.history_ if e.get("event") == "split"]
    trials = [e for e in first.history_ if e.get("event") == "split_trials"]
    assert len(splits) == 2 and len(calls) == len(splits) + sum(len(t["leaves"]) for t in trials)
    again = _model(**extra).fit(nested)
    assert again.tree_.to_dict() == first.tree_.to_dict()
    np.testing.assert_allclose(again.predict_proba(nested), first.predict_proba(nested))
    assert np.array_equal(np.unique(first.labels_), np.arange(first.n_leaves_))


def test_bad_split_children_setting_is_named():
    with pytest.raises(ValueError, match="split_children"):
        Schedule(split_children="copy")
