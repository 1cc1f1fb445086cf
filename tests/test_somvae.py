"""SOM-VAE baseline: loss terms and their gradient routing (htvae.md §9), estimator, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dendrogen
from dendrogen.data.synthetic import make_breaths, make_hierarchical
from dendrogen.estimators.somvae import SOMVAE
from dendrogen.metrics import purity
from dendrogen.models.somvae import SOMVAEConfig, SOMVAEModel


@pytest.fixture(scope="module")
def hier():
    return make_hierarchical(n_samples=480, random_state=0)


@pytest.fixture(scope="module")
def fitted(hier):
    return SOMVAE(map_size=(4, 4), latent_dim=8, widths=(16, 32), preset="tiny",
                  schedule={"train": 25}, batch_size=32, random_state=0).fit(hier.X)  # fmt: skip


def test_loss_terms_match_definitions():
    torch.manual_seed(0)
    model = SOMVAEModel(SOMVAEConfig(input_shape=(10,), latent_dim=3, map_size=(2, 3)))
    x = torch.rand(8, 10)
    terms = model(x)
    z_e = model.encode(x)
    codes = model.maps.codes(1)
    k = ((z_e[:, None] - codes[None]) ** 2).sum(-1).argmin(1)
    z_q = codes[k]
    rec = ((model.decoder(z_q) - x) ** 2).mean() + ((model.decoder(z_e) - x) ** 2).mean()
    commit = ((z_e - z_q) ** 2).mean()
    # brute-force SOM term: winner plus existing grid neighbours, divisor 5
    som = 0.0
    for b in range(8):
        r, c = divmod(int(k[b]), 3)
        cells = [(r, c), (r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)]
        for rr, cc in cells:
            if 0 <= rr < 2 and 0 <= cc < 3:
                som = som + ((z_e[b] - codes[rr * 3 + cc]) ** 2).mean() / 5
    som = som / 8
    assert torch.isclose(terms["rec"], rec, rtol=1e-5)
    assert torch.isclose(terms["commit"], commit, rtol=1e-5)
    assert torch.isclose(terms["som"], som, rtol=1e-5)
    assert torch.isclose(terms["loss"], rec + commit + 0.9 * som, rtol=1e-5)


def test_som_term_trains_codes_only_and_commitment_both():
    torch.manual_seed(0)
    model = SOMVAEModel(SOMVAEConfig(input_shape=(10,), latent_dim=3, map_size=(2, 2),
                                     alpha=0.0, beta=1.0))  # fmt: skip
    x = torch.rand(8, 10)
    z_e = model.encode(x)
    table = model.maps.flat()
    k = model.maps.discretise(z_e, table)[0]
    rows = torch.cat([k[:, None], model.maps.nb_index[k]], 1)
    som = (z_e.detach()[:, None] - table[rows]).pow(2).mean()
    enc = [p for p in model.encoder.parameters()]
    grads = torch.autograd.grad(som, [*enc, model.maps.maps[0]], allow_unused=True)
    assert all(g is None for g in grads[:-1])
    assert grads[-1].abs().sum() > 0
    model.zero_grad()
    model.config.alpha, model.config.beta = 1.0, 0.0
    commit = (model.encode(x) - model.maps.codes(1)[k]).pow(2).mean()
    commit.backward()
    assert model.encoder.mu.weight.grad.abs().sum() > 0
    assert model.maps.maps[0].grad.abs().sum() > 0


def test_fit_clusters_and_flat_tree(hier, fitted):
    labels = fitted.predict(hier.X)
    assert labels.shape == (480,) and labels.max() < 16
    assert purity(hier.y, labels) > 0.35  # 9 classes in 16 random clusters: ≈ 0.20
    assert purity(hier.y_coarse, labels) > 0.9
    tree = fitted.tree_
    assert len(tree.children(0)) == 16 and all(tree.is_leaf(n) for n in tree.children(0))
    out = fitted.evaluate(hier.X, hier.y)
    assert {"purity", "nmi", "dp", "lp", "mse"} <= set(out)
    assert fitted.predict_path(hier.X).shape == (480, 1)


def test_sample_decodes_codes(fitted):
    x = fitted.sample(3, code=5)
    assert x.shape == (3, 64)
    assert np.allclose(x[0], x[1])  # codes are points, not distributions
    assert np.allclose(x[0], fitted.decode_codes()[5], atol=1e-6)
    with pytest.raises(ValueError, match="level"):
        fitted.sample(1, level=2)


def test_save_load_identical(tmp_path, hier, fitted):
    loaded = dendrogen.load(fitted.save(tmp_path / "som"))
    assert isinstance(loaded, SOMVAE)
    assert np.array_equal(loaded.predict(hier.X), fitted.predict(hier.X))
    assert np.array_equal(loaded.transform(hier.X), fitted.transform(hier.X))


def test_rejects_must_link_and_bad_input(hier):
    model = SOMVAE(map_size=(2, 2), latent_dim=4, preset="tiny")
    with pytest.raises(TypeError, match="must-link"):
        model.fit(hier.X, must_link=np.array([[0, 1]]))
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.full_like(hier.X, np.nan))
    with pytest.raises(ValueError, match="finest map has 64 codes but X has only 40"):
        SOMVAE(preset="tiny").fit(hier.X[:40])


def test_sequences_train_end_to_end():
    data = make_breaths(n_samples=320, random_state=0)
    model = SOMVAE(map_size=(2, 2), latent_dim=8, widths=(8, 16), preset="tiny",
                   schedule={"train": 30}, batch_size=32, random_state=0).fit(data.X)  # fmt: skip
    assert model.history_[-1]["loss"] < model.history_[0]["loss"]
    labels = model.predict(data.X)
    assert labels.shape == (320,)
    assert purity(data.y_coarse, labels) > 0.6  # 3 super-classes on 4 codes
    assert model.decode_codes().shape == (4, 2, 200)


def test_cli_fit_evaluate_sample_tree(tmp_path, cli):
    out = tmp_path / "som"

    cli("fit", "--model", "somvae", "--data", "digits", "--limit", "200", "--preset", "tiny",
           "--set", "map_size=[3,3]", "--set", "batch_size=32", "--out", str(out))  # fmt: skip
    cli("evaluate", str(out), "--data", "digits", "--limit", "100",
           "--json", str(tmp_path / "m.json"))  # fmt: skip
    import json

    metrics = json.loads((tmp_path / "m.json").read_text())
    assert {"purity", "nmi", "dp", "lp"} <= set(metrics)
    cli("sample", str(out), "--code", "2", "-n", "3", "--out", str(tmp_path / "s.npy"))
    assert np.load(tmp_path / "s.npy").shape == (3, 1, 8, 8)
    cli("tree", str(out), "--data", "digits", "--limit", "100", "--out", str(tmp_path / "t.png"))
    assert (tmp_path / "t.png").stat().st_size > 1000
