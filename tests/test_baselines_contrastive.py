"""The contrastive VAE and LadderVAE baselines (the paper's starred rows; treevae.md §5 applied to
their bottom-up embeddings): the loss terms and their gradients, the estimators (fit, save/load,
errors) and the command line."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dendrogen import LadderVAE, load
from dendrogen.cli import app
from dendrogen.data.synthetic import make_colour_shapes
from dendrogen.estimators.vae import VAE
from dendrogen.models.contrastive import ContrastiveSettings, embedding_nt_xent
from dendrogen.models.ladder import LadderVAEConfig, LadderVAEModel
from dendrogen.models.vae import VAEConfig, VAEModel

TINY = dict(latent_dim=4, width=16, batch_size=16, preset="tiny", random_state=0,
            schedule={"train": 8})  # fmt: skip
ESTIMATORS = [(VAE, {}), (LadderVAE, {"n_layers": 3})]


@pytest.fixture(scope="module")
def shapes():
    return make_colour_shapes(64, n_fine=2, size=16, random_state=0)


def _models() -> list[torch.nn.Module]:
    torch.manual_seed(0)
    settings = ContrastiveSettings()
    vae = VAEModel(VAEConfig((3, 16, 16), latent_dim=4, width=16, likelihood="gaussian"), settings)
    ladder = LadderVAEModel(
        LadderVAEConfig((3, 16, 16), latent_dim=4, width=16, likelihood="gaussian", n_layers=3),
        settings,
    )
    return [vae, ladder]


@pytest.mark.parametrize("index", [0, 1], ids=["vae", "laddervae"])
def test_contrastive_loss_is_the_elbo_plus_lambda_times_the_embedding_nt_xent(index):
    model = _models()[index]
    x = torch.rand(12, 3, 16, 16)  # 6 images, two views each
    torch.manual_seed(1)
    terms = model(x, alpha=0.5)
    assert all(math.isfinite(float(v.detach())) for v in terms.values())
    kl = sum(v for k, v in terms.items() if k.startswith("kl"))
    plain = -terms["rec"] + 0.5 * kl
    assert torch.allclose(terms["loss"], plain + 100 * terms["contrastive"], rtol=1e-5)
    # the logged term is NT-Xent on the heads of every bottom-up embedding, averaged
    model.eval()
    with torch.no_grad():
        e = [model.encoder.features(x)] if index == 0 else model.embeddings(x)
        assert len(e) == len(model.projections) == (1 if index == 0 else 3)
        assert float(embedding_nt_xent(model.projections, e, 0.5)) > 0
    model.train()
    # the ELBO terms are those of the plain model: the same noise gives the same numbers
    torch.manual_seed(1)
    without = model(x, alpha=0.5)
    model.contrastive = None
    torch.manual_seed(1)
    plain_terms = model(x, alpha=0.5)
    assert torch.allclose(plain_terms["elbo"], without["elbo"])


@pytest.mark.parametrize("index", [0, 1], ids=["vae", "laddervae"])
def test_gradients_reach_every_projection_head_and_the_encoder(index):
    model = _models()[index]
    model(torch.rand(8, 3, 16, 16))["loss"].backward()
    for head in model.projections:
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    encoder = model.encoder
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())


def test_plain_models_have_no_heads_and_odd_batches_are_refused():
    torch.manual_seed(0)
    plain = VAEModel(VAEConfig((3, 16, 16), latent_dim=4, width=16, likelihood="gaussian"))
    assert not hasattr(plain, "projections")
    with pytest.raises(ValueError, match="even number of rows"):
        _models()[0](torch.rand(5, 3, 16, 16))


@pytest.mark.parametrize(("cls", "extra"), ESTIMATORS, ids=["vae", "laddervae"])
def test_contrastive_fit_save_load_round_trip(shapes, tmp_path, cls, extra):
    m = cls(contrastive={"weight": 50.0}, **TINY, **extra).fit(shapes.X)
    assert m.module_.contrastive == ContrastiveSettings(weight=50.0)
    assert m.history_ and all(math.isfinite(h["contrastive"]) for h in m.history_)
    m.save(tmp_path / "m")
    m2 = load(tmp_path / "m")
    assert type(m2) is cls and m2.module_.contrastive == m.module_.contrastive
    state, state2 = m.module_.state_dict(), m2.module_.state_dict()
    assert any(k.startswith("projections.") for k in state2)
    assert state.keys() == state2.keys()
    assert all(torch.equal(state[k], state2[k]) for k in state)
    assert np.allclose(m2.transform(shapes.X), m.transform(shapes.X), atol=1e-6)
    assert m2.score(shapes.X) == pytest.approx(m.score(shapes.X), rel=1e-6)


def test_contrastive_fit_is_reproducible(shapes):
    a = LadderVAE(contrastive=True, n_layers=2, **TINY).fit(shapes.X)
    b = LadderVAE(contrastive=True, n_layers=2, **TINY).fit(shapes.X)
    assert np.array_equal(a.transform(shapes.X), b.transform(shapes.X))


@pytest.mark.parametrize(
    ("params", "X", "match"),
    [
        ({"contrastive": {"weight": -1}}, "rgb", "weight"),
        ({"contrastive": {"combination": "sum"}}, "rgb", "unknown contrastive settings"),
        ({"contrastive": {"augmentation": "nope"}}, "rgb", "unknown augmentation"),
        ({"contrastive": True}, "gray", "RGB images"),
        ({"contrastive": True, "arch": "htvae", "likelihood": "gaussian"}, "rgb", "htvae"),
    ],
)
def test_bad_contrastive_settings_are_refused(shapes, params, X, match):
    data = shapes.X if X == "rgb" else shapes.X[:, :1]
    with pytest.raises(ValueError, match=match):
        VAE(**(TINY | params)).fit(data)


@pytest.mark.parametrize("model", ["vae", "ladder-vae"])
def test_cli_contrastive_flag_for_the_baselines(tmp_path, shapes, model):
    path = tmp_path / "shapes.npz"
    np.savez(path, X=shapes.X, y=shapes.y)
    out = tmp_path / "m"
    result = CliRunner().invoke(app, [
        "fit", "--model", model, "--data", str(path), "--preset", "tiny", "--contrastive",
        "--set", "batch_size=16", "--set", "width=16", "--set", "n_layers=2" if model != "vae"
        else "latent_dim=4", "--out", str(out),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    fitted = load(out)
    assert fitted.module_.contrastive == ContrastiveSettings()


def test_the_colour_data_sets_turn_the_baselines_contrastive_by_default():
    from dendrogen.cli_options import contrastive_setting

    for name in ("TreeVAE", "VAE", "LadderVAE"):
        params: dict = {}
        contrastive_setting(params, name, "cifar10", None)
        assert params == {"contrastive": {"augmentation": "cifar10"}}
        params = {}
        contrastive_setting(params, name, "cifar100", False)
        assert params == {"contrastive": False}
    params = {}
    contrastive_setting(params, "VLAC", "cifar10", None)
    assert params == {}
    with pytest.raises(ValueError, match="no contrastive loss"):
        contrastive_setting({}, "HTVAE", "digits", True)
