"""The papers' baselines (baselines.md): VAE and LadderVAE models, Ward and divisive trees over
embeddings, their estimators (Agglomerative, Bisecting), save/load and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.cluster.hierarchy import cut_tree
from typer.testing import CliRunner

from dendrogen import VAE, Agglomerative, Bisecting, LadderVAE, load
from dendrogen.data.synthetic import make_hierarchical
from dendrogen.estimators.cluster_trees import (
    descend,
    grow_divisive,
    truncate_splits,
    ward_cuts,
    ward_linkage,
)
from dendrogen.metrics import nmi, purity
from dendrogen.models.ladder import LadderVAEConfig, LadderVAEModel
from dendrogen.models.vae import VAEConfig, VAEModel

#: a short fit of small networks (about 2 s for a VAE on 600 vectors at one thread).
SMALL = dict(batch_size=64, schedule={"train": 300},
             embedding_params={"latent_dim": 4, "width": 32})  # fmt: skip


@pytest.fixture(scope="module")
def hier():
    """2 coarse × 4 fine classes of 64-d vectors in [0, 1]; 600 to fit, 200 to score."""
    s = make_hierarchical(800, n_coarse=2, n_fine=4, n_features=64, noise=0.1, random_state=0)
    return s.X[:600], s.y[:600], s.X[600:], s.y[600:], s.y_coarse[:600]


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 1, size=(48, 1, 8, 8)).astype(np.float32)


# ------------------------------------------------------------------ models
@pytest.mark.parametrize(
    "model",
    [VAEModel(VAEConfig((1, 8, 8), latent_dim=3)),
     VAEModel(VAEConfig((1, 8, 8), arch="htvae", latent_dim=3, likelihood="gaussian",
                        widths=(4, 8))),
     LadderVAEModel(LadderVAEConfig((1, 8, 8), latent_dim=3, width=16, n_layers=3))],
    ids=["vae", "vae-htvae-nets", "laddervae"],
)  # fmt: skip
def test_models_give_finite_loss_terms_and_gradients_to_every_parameter(model, images):
    torch.manual_seed(0)
    x = torch.from_numpy(images[:16])
    terms = model(x, alpha=0.5)
    assert terms["loss"].dim() == 0 and torch.isfinite(terms["loss"])
    kl = sum(v for k, v in terms.items() if k.startswith("kl"))
    assert torch.allclose(terms["loss"], -terms["rec"] + 0.5 * kl)
    terms["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing
    model.eval()
    emb = model.embed(x)
    assert emb.shape == (16, 3) and torch.equal(emb, model.embed(x))  # means: deterministic
    assert model.generate(5).shape == (5, 1, 8, 8)


def test_ladder_posterior_is_the_precision_weighted_product_and_the_top_is_unchanged(images):
    torch.manual_seed(0)
    model = LadderVAEModel(LadderVAEConfig((1, 8, 8), latent_dim=2, width=8, n_layers=3)).eval()
    x = torch.from_numpy(images[:4])
    td = model.top_down(x, sample=False)
    hats = model.bottom_up_pass(x)
    assert torch.allclose(td["mu_q"][2], hats[2][0])  # q(z_J | x) = N(μ̂_J, σ̂²_J)
    mu_hat, var_hat = hats[0]
    prec = 1 / (var_hat + 1e-7) + 1 / (td["var_p"][0] - 1e-7 + 1e-7)
    expected = (mu_hat / (var_hat + 1e-7) + td["mu_p"][0] / td["var_p"][0]) / prec
    assert torch.allclose(td["mu_q"][0], expected, rtol=1e-4, atol=1e-5)
    assert torch.equal(model.embed(x, "top"), td["mu_q"][2])
    assert torch.equal(model.embed(x), td["z"][0])  # z_1 of the mean-propagating pass


def test_vae_paper_preset_follows_the_spec():
    from dendrogen.training import VAE_PRESETS, VAESchedule, make_schedule

    sched = make_schedule("paper", presets=VAE_PRESETS, schedule_class=VAESchedule)
    phase = sched.phase(steps_per_epoch=10)
    assert phase.steps == 3500
    assert phase.alpha(0) == 0 and phase.alpha(10 * 50) == pytest.approx(0.5)
    assert phase.alpha(10 * 200) == 1.0  # α = min(1, e/100)
    assert phase.lr_factor(10 * 99) == 1 and phase.lr_factor(10 * 100) == pytest.approx(0.1)
    assert VAE_PRESETS["paper"]["batch_size"] == 256 and phase.weight_decay == 1e-5


# ------------------------------------------------------------------ trees over embeddings
def test_ward_cuts_are_scipys_cut_tree_partitions():
    rng = np.random.default_rng(0)
    E = rng.normal(size=(60, 3))
    Z = ward_linkage(E)
    for (tree, leaf_of_point), m in zip(ward_cuts(E, [7, 3]), [7, 3], strict=True):
        assert tree.n_leaves == m
        ref = cut_tree(Z, n_clusters=m).ravel()
        assert nmi(ref, leaf_of_point) == pytest.approx(1.0)


def test_ward_refuses_too_many_points_unless_subsampling():
    rng = np.random.default_rng(0)
    E = rng.normal(size=(50, 2))
    with pytest.raises(ValueError, match="subsample=True"):
        ward_cuts(E, [4], max_points=20)
    ((tree, leaf_of_point),) = ward_cuts(E, [4], max_points=20, subsample=True, random_state=0)
    assert tree.n_leaves == 4 and set(leaf_of_point) == set(tree.leaves)


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_divisive_tree_records_splits_in_order_and_truncates_to_the_first_ones(method, hier):
    X, y, _, _, y_coarse = hier
    tree, splits = grow_divisive(X, method=method, n_leaves=8, n_init=3, random_state=0)
    assert tree.n_leaves == 8 and len(splits) == 7
    # the first split of a known 2 × 4 hierarchy separates the coarse classes
    first = descend(splits[:1], X)
    assert purity(y_coarse, first) == 1.0 and nmi(y, descend(splits, X)) == pytest.approx(1.0)
    for m in (2, 5, 8):
        small, kept = truncate_splits(splits, m)
        assert small.n_leaves == m and kept == splits[: m - 1]
        assert set(descend(kept, X)) == set(small.leaves)


def test_levels_mode_uses_the_branching_factors(hier):
    X = hier[0]
    tree, splits = grow_divisive(X, mode="levels", branching=(2, 3), n_init=2, random_state=0)
    assert len(tree.children(tree.root)) == 2
    assert all(len(tree.children(c)) == 3 for c in tree.children(tree.root))
    assert tree.n_leaves == 6 and tree.max_depth == 2 and len(splits) == 3


# ------------------------------------------------------------------ estimators
def test_raw_baselines_recover_a_clean_hierarchy(hier):
    X, _, Xt, yt, _ = hier
    for est in (Agglomerative(embedding="raw", n_leaves=8), Bisecting(embedding="raw",
                n_leaves=8, random_state=0), Bisecting(embedding="raw", method="gmm",
                n_leaves=8, random_state=0)):  # fmt: skip
        scores = est.fit(X).evaluate(Xt, yt)
        assert scores["dp"] == pytest.approx(1.0) and scores["acc"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("embedding", "floor"),
    # NMI of 3 seeds measured 0.71, 0.71, 0.77 (VAE) and 0.59, 0.59, 0.66 (LadderVAE) on the
    # 8 classes; chance is ~0.03. The floor sits well under the median.
    [("vae", 0.6), ("laddervae", 0.45)],
)
def test_embedding_baselines_cluster_a_known_hierarchy(embedding, floor, hier):
    X, _, Xt, yt, _ = hier
    scores = [Agglomerative(embedding=embedding, n_leaves=8, random_state=seed, **SMALL)
              .fit(X).evaluate(Xt, yt) for seed in range(3)]  # fmt: skip
    assert np.median([s["nmi"] for s in scores]) > floor
    assert np.median([s["dp"] for s in scores]) > 0.35  # chance DP of 8 equal classes: 0.125
    assert all(np.isfinite(s["elbo"]) for s in scores)


@pytest.mark.parametrize(
    "est",
    [VAE(latent_dim=3, width=16, preset="tiny", batch_size=16, random_state=0),
     LadderVAE(n_layers=3, latent_dim=3, width=16, preset="tiny", batch_size=16, random_state=0),
     Agglomerative(embedding="laddervae", layer="top", n_leaves=5, n_clusters=3,
                   embedding_params={"n_layers": 2, "latent_dim": 2, "width": 8},
                   preset="tiny", batch_size=16, random_state=0),
     Bisecting(embedding="vae", method="gmm", n_leaves=4, n_init=1, preset="tiny",
               batch_size=16, embedding_params={"latent_dim": 2}, random_state=0),
     Agglomerative(embedding="raw", n_leaves=4, n_clusters=2)],
    ids=["vae", "laddervae", "laddervae-agg", "vae-rgmm", "agg"],
)  # fmt: skip
def test_save_load_round_trip_gives_the_same_model(est, images, tmp_path):
    est.fit(images)
    est.save(tmp_path / "m")
    again = load(tmp_path / "m")
    assert type(again) is type(est)
    assert json.dumps(again.get_params(), sort_keys=True) == json.dumps(
        est.get_params(), sort_keys=True
    )
    np.testing.assert_array_equal(again.transform(images), est.transform(images))
    if hasattr(est, "predict"):
        np.testing.assert_array_equal(again.predict(images), est.predict(images))
        np.testing.assert_array_equal(again.labels_, est.labels_)
        assert again.tree_ == est.tree_
    else:
        assert again.score(images) == est.score(images)


def test_predict_agrees_with_the_training_labels_and_scores_per_protocol(hier):
    X, _, Xt, yt, _ = hier
    bis = Bisecting(embedding="raw", n_leaves=8, random_state=0).fit(X)
    np.testing.assert_array_equal(bis.predict(X), bis.labels_)
    agg = Agglomerative(embedding="raw", n_leaves=8, n_clusters=8).fit(X)
    np.testing.assert_array_equal(agg.predict(X), agg.labels_)  # clean clusters: same
    tree, leaf_of_point = agg.tree_for(Xt, n_leaves=4)
    assert tree.n_leaves == 4 and len(leaf_of_point) == len(Xt)
    levels = Bisecting(embedding="raw", mode="levels", branching=(2, 4), random_state=0).fit(X)
    scores = levels.evaluate(Xt, yt)
    assert {"purity", "nmi", "d_tree", "dp", "lp"} <= set(scores)


def test_bad_baseline_arguments_are_clear_errors(hier):
    X = hier[0]
    with pytest.raises(ValueError, match="embedding"):
        Agglomerative(embedding="pca").fit(X)
    with pytest.raises(ValueError, match="not VAE parameters"):
        Agglomerative(embedding_params={"n_layers": 3}, preset="tiny").fit(X)
    with pytest.raises(ValueError, match="branching"):
        Bisecting(embedding="raw", branching=(4, 1)).fit(X)
    with pytest.raises(ValueError, match="htvae"):
        VAE(arch="htvae", likelihood="bernoulli", preset="tiny").fit(X[:, None, :8] * 0 + 0.5)
    with pytest.raises(ValueError, match="no generative model"):
        Agglomerative(embedding="raw").fit(X).sample(2)


def test_cli_fits_and_evaluates_a_baseline(tmp_path):
    from dendrogen.cli import app

    runner = CliRunner()
    out = tmp_path / "agg"
    result = runner.invoke(app, ["fit", "--model", "agglomerative", "--data", "digits", "--out",
                                 str(out), "--set", "embedding=raw", "--limit", "300"])  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", str(out), "--data", "digits", "--limit", "200"])
    assert result.exit_code == 0, result.output
    assert "dp" in result.output and "nmi" in result.output
    # the tree picture: examples of every leaf under the truncated dendrogram
    result = runner.invoke(app, ["tree", str(out), "--limit", "200", "-o", str(tmp_path / "t.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t.png").stat().st_size > 10_000


def test_tree_pictures_of_both_tree_baselines_and_a_clear_error_without_a_tree(tmp_path, images):
    import matplotlib

    matplotlib.use("Agg")
    y = np.arange(len(images)) % 3
    for model in (Agglomerative(embedding="raw", n_leaves=4),
                  Bisecting(embedding="raw", n_leaves=4, random_state=0)):  # fmt: skip
        path = tmp_path / f"{type(model).__name__}.png"
        fig = model.fit(images).plot(images, y, path=path)
        assert path.stat().st_size > 5_000
        assert len(fig.axes) == 1 + 4  # the tree, then one panel of examples per leaf
    vae = VAE(preset="tiny", likelihood="gaussian", batch_size=16).fit(images)
    with pytest.raises(NotImplementedError, match="VAE has no tree to draw"):
        vae.plot(images)


def test_regrow_shares_the_embedding_and_equals_a_fresh_fit(images, tmp_path):
    """VAE-HKMeans and VAE-RGMM of one VAE (the HTVAE table trains it once for both rows)."""
    settings = dict(embedding="vae", mode="levels", branching=(2, 2), n_init=2, preset="tiny",
                    batch_size=16, embedding_params={"latent_dim": 2}, random_state=0)  # fmt: skip
    hkmeans = Bisecting(method="kmeans", **settings).fit(images)
    rgmm = hkmeans.regrow(images, method="gmm")
    fresh = Bisecting(method="gmm", **settings).fit(images)
    assert rgmm.method == "gmm" and hkmeans.method == "kmeans"
    assert rgmm.embedder_ is hkmeans.embedder_  # not retrained
    np.testing.assert_array_equal(rgmm.transform(images), fresh.transform(images))
    assert rgmm.tree_ == fresh.tree_
    np.testing.assert_array_equal(rgmm.labels_, fresh.labels_)
    np.testing.assert_array_equal(rgmm.predict(images), fresh.predict(images))
    rgmm.save(tmp_path / "rgmm")
    np.testing.assert_array_equal(load(tmp_path / "rgmm").predict(images), rgmm.predict(images))
    with pytest.raises(ValueError, match="new embedding"):
        hkmeans.regrow(images, preset="fast")
    with pytest.raises(ValueError, match="branching"):
        hkmeans.regrow(images, branching=(1,))
