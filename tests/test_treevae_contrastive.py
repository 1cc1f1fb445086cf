"""The contrastive TreeVAE (treevae.md §5): NT-Xent against its formula, the loss terms and their
gradients, the estimator (fit, save/load, resume, errors, CLI) and the synthetic colour-shape
hierarchy on which it must beat the plain TreeVAE."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dendrogen import TreeVAE, load
from dendrogen.cli import app
from dendrogen.data.augment import colour_augment
from dendrogen.data.synthetic import make_colour_shapes
from dendrogen.models.treevae import TreeVAEConfig
from dendrogen.models.treevae.contrastive import (
    ContrastiveConfig,
    ContrastiveTreeVAEModel,
    nt_xent,
    resolve_augmentation,
    router_nt_xent,
    view_pairs,
)

TINY = dict(max_leaves=3, max_depth=2, latent_dim=4, width=16, batch_size=16, random_state=0,
            schedule=dict(initial=6, subtree=4, intermediate=0, finetune=4))  # fmt: skip


@pytest.fixture(scope="module")
def shapes():
    return make_colour_shapes(96, n_fine=2, size=16, random_state=0)


def brute_nt_xent(u: torch.Tensor, tau: float, w: torch.Tensor | None = None) -> float:
    u = u / u.norm(dim=1, keepdim=True)
    n2 = len(u)
    losses = []
    for n in range(n2):
        other = (n + n2 // 2) % n2
        num = math.exp(float(u[n] @ u[other]) / tau)
        den = sum(math.exp(float(u[n] @ u[k]) / tau) for k in range(n2) if k != n)
        losses.append(-math.log(num / den))
    if w is None:
        return sum(losses) / n2
    w = w / w.sum()
    return float(sum(float(wi) * li for wi, li in zip(w, losses, strict=True)))


# ---------------------------------------------------------------------------------------- NT-Xent
def test_nt_xent_matches_its_formula():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(10, 3, generator=g, dtype=torch.float64)
    for tau in (0.5, 1.0):
        assert float(nt_xent(u, tau)) == pytest.approx(brute_nt_xent(u, tau), rel=1e-9)
    w = torch.rand(10, generator=g, dtype=torch.float64)
    assert float(nt_xent(u, 0.5, w)) == pytest.approx(brute_nt_xent(u, 0.5, w), rel=1e-9)


def test_router_nt_xent_uses_q_and_one_minus_q_with_detached_weights():
    q = torch.tensor([0.9, 0.2, 0.6, 0.85, 0.1, 0.7], dtype=torch.float64, requires_grad=True)
    prob = torch.tensor([1.0, 0.5, 0.2, 0.9, 0.4, 0.3], dtype=torch.float64, requires_grad=True)
    loss = router_nt_xent(q, prob, 1.0)
    expected = brute_nt_xent(torch.stack([q, 1 - q], 1).detach(), 1.0, prob.detach())
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-9)
    loss.backward()
    assert q.grad is not None and prob.grad is None  # P(i | x) is detached


def test_nt_xent_needs_two_views_per_image():
    with pytest.raises(ValueError, match="even number of rows"):
        nt_xent(torch.randn(5, 3), 0.5)


# ---------------------------------------------------------------------------------------- model
def _model(combination: str = "tf") -> ContrastiveTreeVAEModel:
    torch.manual_seed(0)
    config = TreeVAEConfig((3, 16, 16), latent_dim=4, width=16, max_depth=3, likelihood="gaussian")
    model = ContrastiveTreeVAEModel(config, contrastive=ContrastiveConfig(combination=combination))
    model.split_leaf(1)  # root → (1, 2); 1 → (3, 4): routers at 0 and 1
    return model


def test_loss_adds_lambda_times_the_combined_terms_and_reaches_every_parameter(shapes):
    model = _model()
    x = view_pairs(colour_augment)(torch.from_numpy(shapes.X[:8]))
    assert x.shape == (16, 3, 16, 16)
    torch.manual_seed(1)
    terms = model.loss(x, alpha=0.5)
    kl = terms["kl_root"] + terms["kl_nodes"] + terms["kl_decisions"]
    con = 0.5 * (terms["con_root"] + terms["con_emb"]) + terms["con_nodes"]
    assert torch.allclose(terms["contrastive"], con)
    assert torch.allclose(terms["loss"], -terms["rec"] + 0.5 * kl + 100 * con, rtol=1e-5)
    assert torch.allclose(terms["elbo"], terms["rec"] - kl)  # L_con is not part of the ELBO
    terms["loss"].backward()
    assert len(model.projections) == 4  # d_0 .. d_H
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not dead


def test_sum_combination_and_weight():
    model = _model("sum")
    x = torch.rand(12, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    terms = model.loss(x)
    total = terms["con_emb"] + terms["con_root"] + terms["con_nodes"]
    assert torch.allclose(terms["contrastive"], total)


def test_subtree_loss_adds_only_the_split_leafs_router_term():
    model = _model()
    x = torch.rand(12, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    model.train()
    torch.manual_seed(2)
    plain = super(ContrastiveTreeVAEModel, model).subtree_loss
    terms = model.subtree_loss(x, 1)
    torch.manual_seed(2)
    model.contrastive.weight = 0.0
    without = plain(x, 1)
    model.contrastive.weight = 100.0
    assert torch.allclose(terms["loss"], without["loss"] + 100 * terms["contrastive"], rtol=1e-5)
    terms["loss"].backward()
    assert model.post_routers["1"].out.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.projections.parameters())


def test_view_pairs_differ_per_rank_and_repeat_with_the_global_seed(shapes):
    x = torch.from_numpy(shapes.X[:6])
    torch.manual_seed(5)
    a = view_pairs(colour_augment, rank=0)(x)
    torch.manual_seed(5)
    b = view_pairs(colour_augment, rank=0)(x)
    torch.manual_seed(5)
    c = view_pairs(colour_augment, rank=1)(x)
    assert a.shape == (12, 3, 16, 16) and torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[:6], a[6:])


def test_augmentation_by_shape_and_by_name():
    from dendrogen.data.augment import celeba_augment, cifar_augment

    assert resolve_augmentation("auto", (3, 32, 32)) is cifar_augment
    assert resolve_augmentation("auto", (3, 64, 64)) is celeba_augment
    assert resolve_augmentation("auto", (3, 16, 16)) is colour_augment
    assert resolve_augmentation("omniglot", (1, 28, 28)) is not None
    with pytest.raises(ValueError, match="RGB images"):
        resolve_augmentation("auto", (1, 8, 8))
    with pytest.raises(ValueError, match="unknown augmentation"):
        resolve_augmentation("nope", (3, 16, 16))


# ---------------------------------------------------------------------------------------- estimator
def test_contrastive_fits_decode_densely_unless_leaf_eps_is_set(shapes, monkeypatch):
    """`fast` decodes sparsely (ε = 1e-3), but on colour shapes that cut the contrastive gain
    (BENCHMARKS.md), so a contrastive fit uses ε = 0 unless its schedule names leaf_eps."""
    seen: list[float] = []
    loss = ContrastiveTreeVAEModel.loss

    def spy(self, x, alpha=1.0, eps=0.0, **kwargs):
        if x.shape[0] > 2:  # not the estimator's two-row probe when it builds the module
            seen.append(eps)
        return loss(self, x, alpha, eps, **kwargs)

    monkeypatch.setattr(ContrastiveTreeVAEModel, "loss", spy)
    TreeVAE(contrastive=True, **TINY).fit(shapes.X)
    assert seen and set(seen) == {0.0}
    seen.clear()
    chosen = TINY | {"schedule": TINY["schedule"] | {"leaf_eps": 1e-3}}
    TreeVAE(contrastive=True, **chosen).fit(shapes.X)
    assert seen and set(seen) == {1e-3}


def test_contrastive_fit_save_load_round_trip(shapes, tmp_path):
    m = TreeVAE(contrastive=True, **TINY).fit(shapes.X)
    assert isinstance(m.module_, ContrastiveTreeVAEModel)
    rows = [h for h in m.history_ if h.get("phase") == "initial"]
    assert rows and all(math.isfinite(h["contrastive"]) for h in rows)
    sub = [h for h in m.history_ if h.get("phase") == "subtree"]
    assert sub and "contrastive" in sub[0] and "con_emb" not in sub[0]
    m.save(tmp_path / "m")
    m2 = load(tmp_path / "m")
    assert isinstance(m2.module_, ContrastiveTreeVAEModel)
    assert m2.module_.contrastive == m.module_.contrastive
    assert np.allclose(m2.predict_proba(shapes.X), m.predict_proba(shapes.X), atol=1e-6)
    assert m2.score(shapes.X) == pytest.approx(m.score(shapes.X), rel=1e-6)
    state, state2 = m.module_.state_dict(), m2.module_.state_dict()
    assert any(k.startswith("projections.") for k in state2)
    assert all(torch.equal(state[k], state2[k]) for k in state)


def test_contrastive_fit_with_sparse_leaf_decoding_logs_its_skipped_mass(shapes):
    schedule = TINY.get("schedule", {}) | {"leaf_eps": 1e-3}
    m = TreeVAE(contrastive=True, **(TINY | {"schedule": schedule})).fit(shapes.X)
    rows = [h for h in m.history_ if h.get("phase") in ("initial", "finetune")]
    assert rows and all(0 <= h["skipped_max"] <= 1e-3 * m.n_leaves_ + 1e-6 for h in rows)
    assert all(math.isfinite(h["contrastive"]) for h in rows)


def test_contrastive_fit_is_reproducible_and_resumes_exactly(shapes, tmp_path, monkeypatch):
    params = TINY | dict(checkpoint_every=0.0, contrastive={"combination": "sum"})
    reference = TreeVAE(**params).fit(shapes.X)
    again = TreeVAE(**params).fit(shapes.X)
    assert np.array_equal(again.predict_proba(shapes.X), reference.predict_proba(shapes.X))

    calls = {"n": 0}
    original = TreeVAE._save_checkpoint

    def interrupting(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 9:  # inside the growth phases
            raise KeyboardInterrupt

    monkeypatch.setattr(TreeVAE, "_save_checkpoint", interrupting)
    with pytest.raises(KeyboardInterrupt):
        TreeVAE(**params).fit(shapes.X, checkpoint_dir=tmp_path / "ckpt")
    monkeypatch.setattr(TreeVAE, "_save_checkpoint", original)
    resumed = TreeVAE(**params).fit(shapes.X, checkpoint_dir=tmp_path / "ckpt")
    assert resumed.tree_ == reference.tree_
    assert np.allclose(resumed.predict_proba(shapes.X), reference.predict_proba(shapes.X),
                       atol=1e-5)  # fmt: skip


@pytest.mark.parametrize(
    ("contrastive", "X", "match"),
    [
        ({"weight": -1}, "rgb", "weight"),
        ({"combination": "max"}, "rgb", "combination"),
        ({"tau": 0.1}, "rgb", "unknown contrastive settings"),
        ({"augmentation": "nope"}, "rgb", "unknown augmentation"),
        (True, "gray", "RGB images"),
    ],
)
def test_bad_contrastive_settings_are_refused(shapes, contrastive, X, match):
    data = shapes.X if X == "rgb" else shapes.X[:, :1]
    with pytest.raises(ValueError, match=match):
        TreeVAE(contrastive=contrastive, **TINY).fit(data)


def test_cli_contrastive_flag(tmp_path):
    data = make_colour_shapes(64, size=16, random_state=1)
    path = tmp_path / "shapes.npz"
    np.savez(path, X=data.X, y=data.y)
    runner = CliRunner()
    out = tmp_path / "m"
    result = runner.invoke(app, ["fit", "--data", str(path), "--preset", "tiny", "--contrastive",
                                 "--set", "batch_size=16", "--set", "max_leaves=2",
                                 "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert isinstance(load(out).module_, ContrastiveTreeVAEModel)
    result = runner.invoke(app, ["fit", "--model", "vlac", "--data", str(path), "--contrastive",
                                 "--out", str(tmp_path / "v")])  # fmt: skip
    assert result.exit_code != 0 and "TreeVAE option" in result.output


# ---------------------------------------------------------------------------------------- data
def test_colour_shapes_are_deterministic_nested_and_in_range():
    a = make_colour_shapes(60, n_fine=3, size=16, random_state=3)
    b = make_colour_shapes(60, n_fine=3, size=16, random_state=3)
    c = make_colour_shapes(60, n_fine=3, size=16, random_state=4)
    assert a.X.shape == (60, 3, 16, 16) and a.X.dtype == np.float32
    assert np.array_equal(a.X, b.X) and not np.array_equal(a.X, c.X)
    assert 0 <= a.X.min() and a.X.max() <= 1
    assert np.bincount(a.y).tolist() == [10] * 6 and np.array_equal(a.y_coarse, a.y // 3)
    assert a.hierarchy.n_leaves == 6
    with pytest.raises(ValueError, match="n_fine"):
        make_colour_shapes(10, n_fine=5)


# ---------------------------------------------------------------------------------------- quality
#: the default settings of benchmarks/treevae_contrastive.py, whose seed table is in
#: BENCHMARKS.md ("Contrastive TreeVAE on colour shapes"); a cheaper 300/100/100 budget gained
#: less than 0.10 on seed 2, so the test keeps this one. Dense decoding (ε = 0) for both models,
#: as measured: at the `fast` preset's ε = 1e-3 the gain shrank (min +0.039 over 10 seeds).
QUALITY = dict(max_leaves=4, max_depth=2, latent_dim=8, width=64, batch_size=32,
               learning_rate=2e-3, schedule=dict(initial=400, subtree=150, intermediate=0,
                                                 finetune=150, max_epochs=None,
                                                 leaf_eps=0.0))  # fmt: skip


def _scores(seed: int, contrastive: bool) -> dict[str, float]:
    import torch

    from dendrogen.metrics import evaluate

    torch.set_num_threads(1)  # in a worker process: two fits at a time on two cores

    data = make_colour_shapes(512, n_fine=2, size=28, shift=4.0, random_state=seed)
    model = TreeVAE(random_state=seed, contrastive=contrastive, **QUALITY).fit(data.X)
    pred = model.predict(data.X)
    return evaluate(
        data.y, pred=pred, tree=model.tree_, leaf_of_point=np.asarray(model.leaves_)[pred]
    )


@pytest.mark.heavy(seconds=53)
def test_contrastive_beats_plain_treevae_on_colour_shapes():
    """The paper's claim in miniature (issue 16): where hue, brightness, background and position
    dominate the pixels but only the shape says the class, the contrastive TreeVAE's DP and ACC
    exceed the plain TreeVAE's by at least 0.10, on the mean of seeds 0-2 (each seed gains too)."""
    import multiprocessing as mp

    seeds = (0, 1, 2)
    jobs = [(seed, contrastive) for seed in seeds for contrastive in (True, False)]
    with mp.get_context("spawn").Pool(2) as pool:
        scores = dict(zip(jobs, pool.starmap(_scores, jobs), strict=True))
    gains = {"dp": [], "acc": []}
    for seed in seeds:
        plain, con = scores[seed, False], scores[seed, True]
        for key, values in gains.items():
            values.append(con[key] - plain[key])
    for key, values in gains.items():
        assert np.mean(values) >= 0.10, (key, values)
        assert min(values) > 0, (key, values)


# ---------------------------------------------------------------------------------------- CelebA
def test_leaf_attribute_frequencies_match_brute_force():
    from dendrogen.metrics import leaf_attribute_frequencies

    rng = np.random.default_rng(0)
    leaf = rng.integers(0, 3, 50)
    A = rng.integers(0, 2, (50, 4))
    freq, counts = leaf_attribute_frequencies(leaf, A, n_leaves=4)
    for k in range(3):
        assert counts[k] == (leaf == k).sum()
        assert np.allclose(freq[k], A[leaf == k].mean(0))
    assert counts[3] == 0 and np.isnan(freq[3]).all()
    with pytest.raises(ValueError, match="binary"):
        leaf_attribute_frequencies(leaf, A * 2)
    with pytest.raises(ValueError, match="same N"):
        leaf_attribute_frequencies(leaf[:3], A)


@pytest.mark.heavy(seconds=18)
def test_evaluate_attributes_writes_the_leaf_by_attribute_table_and_heat_map(tmp_path):
    from test_contrastive_e2e import write_celeba

    write_celeba(tmp_path, n=60)
    out = tmp_path / "m"
    runner = CliRunner()
    fit = ["fit", "--data", "celeba", "--root", str(tmp_path), "--preset", "tiny", "--set",
           "arch=mlp", "--set", "batch_size=8", "--set", "max_leaves=2",
           "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, [*fit, "--no-contrastive"])
    assert result.exit_code == 0, result.output
    assert not isinstance(load(out).module_, ContrastiveTreeVAEModel)  # --no-contrastive
    result = runner.invoke(app, ["evaluate", str(out), "--data", "celeba", "--root",
                                 str(tmp_path), "--split", "test", "--attributes"])  # fmt: skip
    assert result.exit_code == 0, result.output
    table = (out / "attributes_celeba_test.csv").read_text().splitlines()
    header = table[0].split(",")
    assert header[:3] == ["leaf", "node", "n"] and len(header) == 43
    assert sum(int(row.split(",")[2]) for row in table[1:]) == 40
    assert (out / "attributes_celeba_test.png").stat().st_size > 0
