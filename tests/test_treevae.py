"""TreeVAE: the module's loss and structure edits, growth decisions, the log-likelihood
estimator, the estimator's API, save/load, resume and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

import dendrogen
from dendrogen import TreeVAE
from dendrogen.models.treevae import TreeVAEConfig, TreeVAEModel, log_likelihood, make_schedule
from dendrogen.models.treevae.growth import choose_split, smallest_leaf_to_prune
from dendrogen.models.treevae.likelihood import log_weights
from dendrogen.tree import Tree

# No likelihood probe: these tests are about growth and its bookkeeping, and a probe is a fit
# of its own (tests/test_likelihood_choice.py tests it); digits keep the Bernoulli either way.
TINY = dict(initial=30, subtree=15, intermediate=10, finetune=15, likelihood_probe=0)


def tiny_model(**kw) -> TreeVAE:
    params = dict(max_leaves=4, max_depth=2, latent_dim=2, width=16, batch_size=32,
                  schedule=TINY, random_state=0, verbose=False)  # fmt: skip
    return TreeVAE(**(params | kw))


@pytest.fixture(scope="module")
def digits_small():
    from dendrogen.data import load_dataset

    X, y = load_dataset("digits", split="train")
    return X[:300], y[:300]


@pytest.fixture(scope="module")
def fitted(digits_small):
    X, _ = digits_small
    return tiny_model().fit(X)


def grown_module(shape=(1, 8, 8), leaves=4, **cfg) -> TreeVAEModel:
    torch.manual_seed(0)
    model = TreeVAEModel(TreeVAEConfig(input_shape=shape, **cfg))
    while len(model.tree.leaves) < leaves:
        model.split_leaf(min(model.tree.leaves, key=model.tree.depth))
    return model


# ---------------------------------------------------------------------------------------- module
def test_loss_is_finite_and_reaches_every_parameter():
    model = grown_module(leaves=4, latent_dim=3, width=16)
    model.prune_leaf(model.tree.leaves[-1])  # leaves a pass-through node behind
    x = torch.rand(16, 1, 8, 8)
    terms = model.loss(x, alpha=0.5)
    assert all(torch.isfinite(v) for v in terms.values())
    terms["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert missing == []


def test_elbo_is_reconstruction_minus_kls():
    model = grown_module(leaves=3, latent_dim=2, width=8).eval()
    torch.manual_seed(1)
    terms = model.loss(torch.rand(8, 1, 8, 8), alpha=1.0)
    kl = terms["kl_root"] + terms["kl_nodes"] + terms["kl_decisions"]
    assert torch.allclose(terms["elbo"], terms["rec"] - kl)
    assert torch.allclose(terms["loss"], -terms["elbo"])
    assert terms["kl_root"] >= 0 and terms["kl_nodes"] >= 0 and terms["kl_decisions"] >= 0


def test_leaf_probabilities_sum_to_one():
    model = grown_module(leaves=5, latent_dim=2, width=8).eval()
    probs = model.leaf_probabilities(torch.rand(10, 1, 8, 8))
    assert probs.shape == (10, 5)
    assert torch.allclose(probs.sum(1), torch.ones(10))


def test_subtree_loss_trains_only_the_new_modules():
    model = grown_module(leaves=2, latent_dim=2, width=8)
    leaf = model.tree.leaves[0]
    left, right = model.split_leaf(leaf)
    loss = model.subtree_loss(torch.rand(16, 1, 8, 8), leaf, alpha=1.0)["loss"]
    loss.backward()
    new = {id(p) for m in model.node_modules([left, right]) for p in m.parameters()}
    new |= {id(p) for p in model.post_routers[str(leaf)].parameters()}
    new |= {id(p) for p in model.prior_routers[str(leaf)].parameters()}
    for name, p in model.named_parameters():
        if id(p) in new:
            assert p.grad is not None, name
        else:
            assert p.grad is None, f"frozen parameter {name} got a gradient"


def test_split_and_prune_edit_modules():
    model = grown_module(leaves=2, latent_dim=2, width=8)
    a, _ = model.tree.leaves
    left, right = model.split_leaf(a)
    assert str(a) not in model.decoders and {str(left), str(right)} <= set(model.decoders)
    assert str(a) in model.prior_routers and str(a) in model.post_routers
    model.prune_leaf(left)
    # a keeps one child: a pass-through node without routers, its child keeps its decoder
    assert model.tree.children(a) == [right]
    assert str(a) not in model.prior_routers and str(a) not in model.post_routers
    assert str(left) not in model.decoders and str(right) in model.decoders
    # undoing a split: a is a leaf again and decodes with the decoder its kept child trained
    model = grown_module(leaves=2, latent_dim=2, width=8)
    a, _ = model.tree.leaves
    left, right = model.split_leaf(a)
    kept = model.decoders[str(right)]
    assert model.undo_split(a, keep=right) == [left, right]
    assert model.tree.is_leaf(a) and model.decoders[str(a)] is kept
    assert not any(str(n) in bank for n in (left, right) for bank in
                   (model.heads, model.transforms, model.decoders))  # fmt: skip
    assert str(a) not in model.prior_routers and str(a) not in model.post_routers
    with pytest.raises(ValueError, match="max_depth"):
        deep = grown_module(leaves=2, latent_dim=2, width=8, max_depth=1)
        deep.split_leaf(deep.tree.leaves[0])


def test_generation_shapes_and_leaf_conditioning():
    model = grown_module(leaves=3, latent_dim=2, width=8).eval()
    x, leaves = model.generate(12)
    assert x.shape == (12, 1, 8, 8) and set(leaves.tolist()) <= set(model.tree.leaves)
    assert ((x >= 0) & (x <= 1)).all()
    target = model.tree.leaves[1]
    _, leaves = model.generate(5, leaf=target)
    assert (leaves == target).all()


@pytest.mark.parametrize(
    ("shape", "arch", "likelihood"),
    [((1, 28, 28), "conv28", "bernoulli"), ((1, 8, 8), "conv8", "bernoulli"),
     ((30,), "mlp", "bernoulli"), ((3, 32, 32), "resnet32", "gaussian"),
     ((3, 64, 64), "resnet64", "gaussian"), ((3, 50), "conv1d", "gaussian")],
)  # fmt: skip
def test_default_network_per_data_kind(shape, arch, likelihood):
    model = grown_module(shape=shape, leaves=3, latent_dim=2, width=8, likelihood=likelihood)
    assert model.arch == arch
    x = torch.rand(4, *shape)
    terms = model.loss(x, alpha=1.0)
    assert torch.isfinite(terms["loss"])
    terms["loss"].backward()
    model.eval()
    assert model.leaf_probabilities(x).shape == (4, 3)
    assert model.generate(3)[0].shape == (3, *shape)
    assert TreeVAE()._resolve_likelihood(x.numpy()) == likelihood


def test_subtree_loss_runs_only_the_path_and_the_new_nodes(monkeypatch):
    from dendrogen.models.treevae import model as model_module

    model = grown_module(leaves=4, latent_dim=2, width=8)
    leaf = model.tree.leaves[0]
    left, right = model.split_leaf(leaf)
    called: set[tuple[str, str]] = set()
    owner = {}
    for bank in ("decoders", "post_routers", "prior_routers", "heads", "transforms"):
        for key, module in getattr(model, bank).items():
            owner[id(module)] = (bank, key)
            module.register_forward_hook(
                lambda *_, bank=bank, key=key: called.add((bank, key))
            )  # fmt: skip
    # Levels run their modules as one grouped computation, without their forward hooks.
    for cls in (model_module.Router, model_module.NodeHead, model_module.Transformation):
        grouped = cls.grouped

        def recording(modules, x, grouped=grouped):
            called.update(owner[id(m)] for m in modules)
            return grouped(modules, x)

        monkeypatch.setattr(cls, "grouped", staticmethod(recording))
    model.subtree_loss(torch.rand(8, 1, 8, 8), leaf, alpha=1.0)
    path = [str(n) for n in model.tree.path_from_root(leaf)]
    new = [str(left), str(right)]
    assert {k for b, k in called if b == "decoders"} == set(new)  # no frozen leaf is decoded
    assert {k for b, k in called if b == "post_routers"} == set(path)
    assert {k for b, k in called if b == "prior_routers"} == {str(leaf)}
    assert {k for b, k in called if b == "heads"} == set(path + new)


# ---------------------------------------------------------------------------------------- growth
def _chain_tree() -> Tree:
    tree = Tree()
    a, _ = tree.add_children(tree.root)
    tree.add_children(a)
    return tree  # leaves: 3, 4 (depth 2), 2 (depth 1)


def test_choose_split_skips_leaves_at_max_depth():
    tree = _chain_tree()
    probs = np.tile([0.45, 0.45, 0.10], (100, 1))  # the deep leaves hold the most samples
    probs[:30] = [0.0, 0.0, 1.0]
    decision = choose_split(tree, probs, max_leaves=10, max_depth=2, min_samples=10)
    assert decision.leaf == 2  # the reference code would stop growing here
    assert decision.subset.tolist() == list(range(30))
    # n_eff = 3 gives t = min(1/3, cap): a cap of 0.3 lowers the threshold to 0.3.
    capped = choose_split(tree, probs, max_leaves=10, max_depth=5, min_samples=10,
                          threshold_cap=0.3)  # fmt: skip
    assert capped.threshold == 0.3 and capped.leaf == tree.leaves[0]


def test_choose_split_stops_at_max_leaves_and_without_candidates():
    tree = _chain_tree()
    probs = np.full((50, 3), 1 / 3)
    assert choose_split(tree, probs, max_leaves=3, max_depth=5, min_samples=1).leaf is None
    stop = choose_split(tree, probs, max_leaves=10, max_depth=5, min_samples=1000)
    assert stop.leaf is None and "enough samples" in stop.reason


def test_growth_stops_at_twice_max_leaves_even_when_most_hold_no_data():
    """Only leaves with 1 % of the mass count towards max_leaves; the total is capped too."""
    tree = _chain_tree()  # 3 leaves, the first holding all the data
    probs = np.zeros((100, 3))
    probs[:, 0] = 1.0
    assert choose_split(tree, probs, max_leaves=2, max_depth=5, min_samples=1).leaf is not None
    tree.add_children(tree.leaves[-1])  # 4 leaves, still one holding data
    probs = np.zeros((100, 4))
    probs[:, 0] = 1.0
    stop = choose_split(tree, probs, max_leaves=2, max_depth=5, min_samples=1)
    assert stop.leaf is None and "2 × max_leaves" in stop.reason


def test_smallest_leaf_to_prune():
    tree = _chain_tree()
    assignment = np.array([0] * 60 + [1] * 39 + [2] * 1)
    assert smallest_leaf_to_prune(tree, assignment, 0.02) == 2
    assert smallest_leaf_to_prune(tree, assignment, 0.005) is None


def test_schedules_of_the_presets():
    fast = make_schedule("fast").phase("subtree", 500, steps_per_epoch=50)  # 10 passes: 500
    assert fast.steps == 500 and fast.alpha(0) == 0 and fast.alpha(250) == 1  # ramp in 1st half
    assert fast.lr_factor(333) == 1 and fast.lr_factor(334) == pytest.approx(0.1)
    paper = make_schedule("paper")
    assert (paper.initial, paper.subtree, paper.intermediate, paper.finetune) == (150, 150, 80, 200)
    sub = paper.phase("subtree", 150, steps_per_epoch=10)
    assert sub.steps == 1500 and sub.alpha(10 * 149) == pytest.approx(0.149)  # restarts per phase
    assert sub.lr_factor(999) == 1 and sub.lr_factor(1000) == pytest.approx(0.1)  # every 100
    fine = paper.phase("finetune", 200, steps_per_epoch=10)
    assert fine.alpha(10 * 99) == pytest.approx(0.99)  # kl_decay = max(0.01, 1/199)
    assert fine.alpha(10 * 100) == 1.0
    assert make_schedule("fast", {"initial": 7}).initial == 7
    with pytest.raises(ValueError, match="unknown schedule"):
        make_schedule("fast", {"epochs": 3})
    # a model variant's defaults replace the preset's, and the user's settings replace both
    variant = make_schedule("fast", {"initial": 7}, variant_defaults={"leaf_eps": 0, "initial": 9})
    assert (variant.leaf_eps, variant.initial, make_schedule("fast").leaf_eps) == (0, 7, 1e-3)
    every_50 = make_schedule("paper", {"lr_drop_epochs": 50}).phase("initial", 150, 10)
    assert every_50.lr_factor(499) == 1 and every_50.lr_factor(500) == pytest.approx(0.1)


def test_subtree_epochs_budget_a_subtree_by_the_rows_of_its_leaf():
    """The paper's subtrees train for epochs of their own rows: a split of a large leaf gets more
    steps than one of a small leaf; a floor keeps a tiny leaf's subtree from a handful of steps."""
    schedule = make_schedule("fast")  # subtree_epochs=10 since session 15
    steps = [schedule.phase("subtree", 500, spe, 235).steps for spe in (117, 30, 2)]
    assert steps == [1170, 300, 125]
    assert schedule.phase("subtree", 500, steps_per_epoch=1000).steps == 2000  # 4 × subtree
    assert schedule.phase("initial", 2000, steps_per_epoch=235).steps == 2000  # subtrees only
    fixed = make_schedule("fast", {"subtree_epochs": None})  # the step budget, as before
    assert fixed.phase("subtree", 500, steps_per_epoch=117).steps == 500
    with pytest.raises(ValueError, match="subtree_epochs"):
        make_schedule("fast", {"subtree_epochs": 0})


# ------------------------------------------------------------------------------------ likelihood
def _quadrature_log_px(model: TreeVAEModel, x: torch.Tensor) -> float:
    """log p(x) of a depth-1 tree with 1-D latents, by a 2-D grid over (z_0, z_leaf)."""
    tree = model.tree
    root = tree.root
    z0 = torch.linspace(-8, 8, 801, dtype=torch.float64)
    u = torch.linspace(-9, 9, 901, dtype=torch.float64)  # z_leaf = mu + sd * u
    log_n = lambda t: -0.5 * (t**2 + math.log(2 * math.pi))  # noqa: E731
    with torch.no_grad():
        model.double()
        p_left = model.prior_routers[str(root)](z0[:, None])
        total = []
        for side, leaf in enumerate(tree.children(root)):
            mu, var = model.transforms[str(leaf)](z0[:, None])
            zl = mu + var.sqrt() * u[None, :]  # (801, 901)
            out = model.decode(zl.reshape(-1, 1), leaf)
            log_px = model.likelihood.log_prob(out, x.double()).view(801, 901)
            route = torch.log(p_left if side == 0 else 1 - p_left)
            inner = torch.logsumexp(log_px + log_n(u)[None, :], 1) + math.log(u[1] - u[0])
            total.append(torch.logsumexp(log_n(z0) + route + inner, 0) + math.log(z0[1] - z0[0]))
        model.float()
    return float(torch.logsumexp(torch.stack(total), 0))


def test_log_likelihood_matches_quadrature():
    torch.manual_seed(0)
    cfg = TreeVAEConfig(input_shape=(2,), arch="mlp", latent_dim=1, width=8, max_depth=1,
                        likelihood="gaussian", obs_var=0.5)  # fmt: skip
    model = TreeVAEModel(cfg).eval()
    x = torch.tensor([[0.3, -0.2]])
    exact = _quadrature_log_px(model, x)
    torch.manual_seed(1)
    estimate = float(log_likelihood(model, x, n_samples=20000))
    assert estimate == pytest.approx(exact, abs=0.02)
    torch.manual_seed(2)  # the other valid form: paths sampled from the posterior routers
    sampled = float(log_likelihood(model, x, n_samples=20000, paths="sample"))
    assert sampled == pytest.approx(exact, abs=0.03)
    # a single sample is a stochastic lower bound: its mean stays below log p(x)
    k1 = log_likelihood(model, x.expand(4000, 2), n_samples=1).mean()
    assert float(k1) < exact


def test_sampled_path_weights_average_to_the_elbo():
    """E_q[log w] of one sampled path is the ELBO of eqs. 12-20, a check of both computations."""
    model = grown_module(leaves=4, latent_dim=2, width=8)
    model.prune_leaf(model.tree.leaves[-1])  # with a pass-through node
    model.eval()
    with torch.no_grad():  # move q away from the priors, so that every KL term matters
        for router in model.post_routers.values():
            router.out.bias.fill_(3.0)
        for head in model.heads.values():
            head.out.bias.add_(torch.randn_like(head.out.bias))
    x = torch.rand(1, 1, 8, 8).expand(20000, 1, 8, 8)
    torch.manual_seed(0)
    with torch.no_grad():
        lw = log_weights(model, x, paths="sample").double()
        t = {k: v.double() for k, v in model.elbo_terms(x).items()}
    elbo = t["rec"] - t["kl_root"] - t["kl_nodes"] - t["kl_decisions"]
    se = math.sqrt(lw.var() / len(lw) + elbo.var() / len(elbo))
    assert abs(float(lw.mean() - elbo.mean())) < 5 * se, (lw.mean(), elbo.mean(), se)
    with pytest.raises(ValueError, match="paths"):
        log_weights(model, x[:2], paths="all")


def test_log_likelihood_rises_with_k_and_is_chunked():
    model = grown_module(leaves=3, latent_dim=2, width=8).eval()
    x = torch.rand(6, 1, 8, 8)
    torch.manual_seed(0)
    k1 = log_likelihood(model, x, n_samples=1).mean()
    torch.manual_seed(0)
    k200 = log_likelihood(model, x, n_samples=200).mean()
    assert k200 > k1
    torch.manual_seed(0)
    chunked = log_likelihood(model, x[:2], n_samples=50, max_rows=16)  # 1 point, K in chunks
    assert chunked.shape == (2,) and torch.isfinite(chunked).all()


# ---------------------------------------------------------------------------------------- estimator
def test_estimator_api(fitted, digits_small):
    X, y = digits_small
    m = fitted
    assert 2 <= m.n_leaves_ <= 4 and len(m.leaves_) == m.n_leaves_
    assert m.labels_.shape == (300,) and m.labels_.max() < m.n_leaves_
    proba = m.predict_proba(X[:20])
    assert proba.shape == (20, m.n_leaves_) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert (m.predict(X[:20]) == proba.argmax(1)).all()
    assert m.transform(X[:5]).shape == (5, 2)
    assert m.transform(X[:5], node="leaf").shape == (5, 2)
    assert m.reconstruct(X[:5]).shape == (5, 1, 8, 8)
    assert m.sample(7).shape == (7, 1, 8, 8)
    assert m.sample(3, leaf=m.n_leaves_ - 1).shape == (3, 1, 8, 8)
    assert np.isfinite(m.score(X[:50]))
    assert m.children_.shape == (m.n_leaves_ - 1, 2)
    assert any(h.get("event") == "split" for h in m.history_)
    metrics = m.evaluate(X[:100], y[:100], n_samples=5)
    assert {"dp", "lp", "acc", "nmi", "elbo", "rl", "ll"} <= set(metrics)
    assert metrics["ll"] >= metrics["elbo"] - 5  # IW bound with K=5 is no worse than the ELBO


def test_fit_is_reproducible(digits_small):
    X, _ = digits_small
    a = tiny_model(schedule=dict(initial=10, subtree=5, intermediate=0, finetune=5)).fit(X)
    b = tiny_model(schedule=dict(initial=10, subtree=5, intermediate=0, finetune=5)).fit(X)
    assert np.allclose(a.predict_proba(X), b.predict_proba(X))


def test_save_load_identical_predictions(fitted, digits_small, tmp_path):
    X, _ = digits_small
    path = fitted.save(tmp_path / "model")
    assert sorted(p.name for p in path.iterdir()) == [
        "config.json", "model.safetensors", "tree.json"]  # fmt: skip
    loaded = dendrogen.load(path)
    assert isinstance(loaded, TreeVAE) and loaded.tree_ == fitted.tree_
    assert np.array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert np.array_equal(loaded.transform(X[:10]), fitted.transform(X[:10]))
    assert loaded.history_ == fitted.history_


def test_save_load_after_pruning(digits_small, tmp_path):
    X, _ = digits_small
    m = tiny_model(max_leaves=4).fit(X)
    m.module_.prune_leaf(m.tree_.leaves[0])
    m._finish_fit(X)
    loaded = dendrogen.load(m.save(tmp_path / "pruned"))
    assert any(len(loaded.tree_.children(n)) == 1 for n in loaded.tree_.nodes)
    assert np.array_equal(loaded.predict_proba(X), m.predict_proba(X))


def test_pruning_removes_small_leaves_and_reloads(digits_small, tmp_path):
    X, _ = digits_small
    m = tiny_model(likelihood="gaussian", obs_var=0.25).fit(X)
    assert m.module_.likelihood.obs_var == 0.25
    before = m.n_leaves_
    events_before = len(m.history_)
    m.min_leaf_fraction = 0.2
    m._prune(X)
    m._finish_fit(X)
    counts = np.bincount(m.labels_, minlength=m.n_leaves_)
    assert (counts >= 0.2 * len(X)).all()
    pruned = [h for h in m.history_[events_before:] if h.get("event") == "prune"]
    assert len(pruned) == before - m.n_leaves_
    for node in m.tree_.nodes:  # routers only where a node has two children
        kids = len(m.tree_.children(node))
        assert (str(node) in m.module_.post_routers) == (kids == 2)
        assert (str(node) in m.module_.prior_routers) == (kids == 2)
    loaded = dendrogen.load(m.save(tmp_path / "pruned"))
    assert np.array_equal(loaded.predict_proba(X), m.predict_proba(X))


def test_growth_loop_trains_the_full_tree_every_third_split(digits_small):
    X, _ = digits_small
    X = np.concatenate([X, X[::-1]])  # 600 rows, so that several leaves hold a batch
    schedule = dict(initial=60, subtree=20, intermediate=10, finetune=10)
    m = tiny_model(max_leaves=6, max_depth=3, schedule=schedule).fit(X)
    events = [h for h in m.history_ if "event" in h]
    splits = [h["g"] for h in events if h["event"] == "split"]
    assert splits == list(range(len(splits))) and len(splits) >= 4
    assert any(h["event"] == "stop" for h in events)
    intermediate = [h for h in m.history_ if h.get("phase") == "intermediate" and h["step"] == 10]
    assert len(intermediate) == len([g for g in range(1, len(splits)) if g % 3 == 0])
    assert [h["phase"] for h in m.history_ if "phase" in h][-1] == "finetune"


def test_interrupted_fit_resumes_to_the_same_model(digits_small, tmp_path, monkeypatch):
    X, _ = digits_small
    params = dict(schedule=dict(initial=12, subtree=6, intermediate=4, finetune=8),
                  checkpoint_every=0.0)  # fmt: skip
    reference = tiny_model(**params).fit(X)

    calls = {"n": 0}
    original = TreeVAE._save_checkpoint

    def interrupting(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 25:  # mid-way through the growth phases
            raise KeyboardInterrupt

    monkeypatch.setattr(TreeVAE, "_save_checkpoint", interrupting)
    with pytest.raises(KeyboardInterrupt):
        tiny_model(**params).fit(X, checkpoint_dir=tmp_path / "ckpt")
    monkeypatch.setattr(TreeVAE, "_save_checkpoint", original)
    resumed = tiny_model(**params).fit(X, checkpoint_dir=tmp_path / "ckpt")
    assert resumed.tree_ == reference.tree_
    assert np.allclose(resumed.predict_proba(X), reference.predict_proba(X), atol=1e-5)
    with pytest.raises(ValueError, match="other settings"):
        tiny_model(latent_dim=3, **params).fit(X, checkpoint_dir=tmp_path / "ckpt")


# ---------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("make_x", "match"),
    [
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), "NaN"),
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 5, np.inf, X), "infinity"),
        (lambda X: X.reshape(-1)[:100], "2D array"),
        (lambda X: X * 3, r"\[0, 1\]"),
        (lambda X: X[:10], "fewer than one batch"),
    ],
)
def test_fit_rejects_bad_input(digits_small, make_x, match):
    X, _ = digits_small
    with pytest.raises(ValueError, match=match):
        tiny_model(likelihood="bernoulli").fit(make_x(X.astype(np.float64)))


def test_predict_errors(fitted, digits_small):
    X, _ = digits_small
    with pytest.raises(NotFittedError):
        tiny_model().predict(X)
    with pytest.raises(ValueError, match="shape"):
        fitted.predict(np.zeros((4, 1, 7, 7), dtype=np.float32))
    with pytest.raises(ValueError, match=r"shape \(2, 8, 8\).*\(1, 8, 8\)"):
        fitted.predict(np.zeros((4, 2, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="leaf"):
        fitted.sample(2, leaf=99)
    assert fitted.likelihood_ == "bernoulli"
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fitted.predict(X[:10] * 3)
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict_proba(np.full((2, 1, 8, 8), np.nan, dtype=np.float32))


def test_sample_per_leaf_and_pictures(fitted, digits_small):
    from dendrogen.plots.tree import plot_samples_per_leaf, plot_tree

    X, y = digits_small
    per_leaf = fitted.sample_per_leaf(3)
    assert sorted(per_leaf) == list(range(fitted.n_leaves_))
    assert all(v.shape == (3, 1, 8, 8) for v in per_leaf.values())
    fig = plot_samples_per_leaf(fitted, 3, samples=per_leaf)
    assert len(fig.axes) == fitted.n_leaves_
    fig = plot_tree(fitted, X[:100], y[:100], n_examples=4, n_generated=4)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("100\n") for t in texts)  # the root holds every sample
    assert len(fig.axes) == 1 + 2 * fitted.n_leaves_  # tree, data and generations per leaf


@pytest.mark.parametrize(
    ("params", "match"),
    [({"max_leaves": 1}, "max_leaves"), ({"max_leaves": 9, "max_depth": 3}, "cannot be reached"),
     ({"likelihood": "poisson"}, "likelihood"), ({"preset": "slow"}, "preset"),
     ({"obs_var": 0.0}, "obs_var")],
)  # fmt: skip
def test_bad_parameters(digits_small, params, match):
    X, _ = digits_small
    with pytest.raises(ValueError, match=match):
        tiny_model(**params).fit(X)


def test_labels_survive_save_and_load(digits_small, tmp_path):
    X, _ = digits_small
    m = tiny_model().fit(X)
    loaded = dendrogen.load(m.save(tmp_path / "m"))
    assert np.array_equal(loaded.labels_, m.labels_)
    assert loaded.labels_.dtype == m.labels_.dtype


def test_growth_prune_undoes_splits_whose_child_wins_no_rows(digits_small, monkeypatch):
    """``growth_prune``: a split whose child wins (almost) no rows is undone at the next growth
    decision (its parent is a leaf again), so no split decision sees a leaf under
    ``min_leaf_fraction``. With 0.45, any split after the first leaves a child under it, so the
    undoing is exercised whatever the seed."""
    from dendrogen.estimators import treevae_growth
    from dendrogen.estimators.treevae_growth import MAX_SPLIT_ATTEMPTS

    X, _ = digits_small
    seen: list[np.ndarray] = []
    original = treevae_growth.split_candidates

    def recording(tree, probs, *args, **kwargs):
        seen.append(np.bincount(probs.argmax(axis=1), minlength=probs.shape[1]))
        return original(tree, probs, *args, **kwargs)

    monkeypatch.setattr(treevae_growth, "split_candidates", recording)
    schedule = TINY | {"growth_prune": True, "split_init": "kmeans"}
    m = tiny_model(max_leaves=4, max_depth=3, min_leaf_fraction=0.45, schedule=schedule).fit(X)
    assert len(seen) >= 2
    assert all((counts >= 0.45 * len(X)).all() for counts in seen)
    undone = [h for h in m.history_ if h.get("event") == "undo_split"]
    assert undone and all("g" in h and len(h["removed"]) == 2 for h in undone)
    # a node whose splits failed MAX_SPLIT_ATTEMPTS times is not split again, and every split,
    # a retry included, is seated by 2-means
    failures: dict[int, int] = {}
    seated: list[int] = []
    for h in m.history_:
        if h.get("event") == "undo_split":
            failures[h["node"]] = failures.get(h["node"], 0) + 1
        if h.get("event") == "split_init":
            seated.append(h["node"])
        if h.get("event") == "split":
            assert failures.get(h["leaf"], 0) < MAX_SPLIT_ATTEMPTS
    grown = [h["leaf"] for h in m.history_ if h.get("event") == "split"]
    assert seated[1:] == grown  # the first is the initial tree's root


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_growth_prune_must_be_a_bool(bad):
    with pytest.raises(ValueError, match="growth_prune"):
        make_schedule("fast", {"growth_prune": bad})
