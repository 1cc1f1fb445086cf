"""VLAC's networks and objective (models/vlac.py, nn/ladder_nets.py, models/gmvae.py)."""

from __future__ import annotations

import math

import pytest
import torch

from dendrogen.models.gmvae import gmdgm_model, gmdgm_structure
from dendrogen.models.vlac import (
    VLACConfig,
    VLACModel,
    check_K,
    gumbel_temperature,
    kl_weight,
)
from dendrogen.nn.gaussian import kl_normal, kl_std_normal
from dendrogen.nn.ladder_nets import LadderNets

SHAPES = {"conv28": (1, 28, 28), "conv8": (1, 8, 8), "conv32": (3, 32, 32), "mlp": (12,)}


def tiny(shape=(1, 8, 8), **kw) -> VLACModel:
    kw.setdefault("arch", "conv8" if len(shape) == 3 else "mlp")
    kw.setdefault("channels", 4)
    kw.setdefault("hidden", 16)
    torch.manual_seed(0)
    return VLACModel(VLACConfig(shape, **kw))


@pytest.mark.parametrize("arch", sorted(SHAPES))
def test_every_architecture_runs_and_every_parameter_gets_a_gradient(arch):
    model = tiny(SHAPES[arch], arch=arch, K=(1, 3, 4, 1), z_dims=(2, 2, 2, 3))
    x = torch.rand(5, *SHAPES[arch])
    out = model.loss(x, beta=0.7)
    assert out["loss"].shape == () and torch.isfinite(out["loss"])
    out["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing
    assert model.decode([torch.zeros(2, d) for d in (2, 2, 2, 3)]).shape == (2, *SHAPES[arch])


def test_gray_28_networks_follow_the_spec_table():
    # vlac.md §10: g_1 64×14×14, g_2 128×7×7, g_3/g_4 1024; f_1 input [128×7×7; 16×7×7].
    nets = LadderNets("conv28", (1, 28, 28), (1, 5, 50, 1), (5, 5, 5, 10), 64, 1024)
    assert nets.h_shapes == [(1, 28, 28), (64, 14, 14), (128, 7, 7), (1024,), (1024,)]
    assert nets.decoders[0].lateral_shape == (16, 7, 7)
    assert nets.decoders[0].net[0].in_channels == 128 + 16
    assert nets.decoders[1].net[0].in_features == 1024 + 1024  # f_2: FC 6272
    assert nets.decoders[1].net[0].out_features == 128 * 7 * 7
    assert nets.encoders[2].net[0].in_features == 128 * 7 * 7 + 5  # [flat h_2; ỹ_2]
    assert nets.encoders[1].net[0].in_channels == 64  # K_1 = 1: nothing concatenated
    assert nets.heads[2].y.out_features == 50 and nets.heads[1].y.out_features == 5
    assert nets.heads[2].z.in_features == 1024 + 50  # the z head also takes ỹ_3


def test_exact_enumeration_equals_a_loop_over_forced_components():
    model = tiny(K=(2, 1, 3), z_dims=(2, 2, 2)).eval()
    x = torch.rand(4, 1, 8, 8)
    r = model.infer(x, "enumerate", sample_z=False)
    n_comb = 6
    rec = model.likelihood.log_prob(r["output"], x.repeat_interleave(n_comb, 0)).view(4, n_comb)
    score = rec - (r["kl_z"] + r["kl_y"]).view(4, n_comb)
    enumerated = (r["log_w"].view(4, n_comb).exp() * score).sum(1)
    # brute force: one pass per combination, weighted by Π q(y_l = k_l | x, y_<l)
    looped = torch.zeros(4)
    total_w = torch.zeros(4)
    for k1 in range(2):
        for k3 in range(3):
            force = torch.tensor([[k1, k3]]).repeat(4, 1)
            f = model.infer(x, "sample", force=force, sample_z=False)
            w = f["probs"][0][:, k1] * f["probs"][2][:, k3]
            rec_f = model.likelihood.log_prob(f["output"], x)
            looped += w * (rec_f - f["kl_z"] - f["kl_y"])
            total_w += w
    torch.testing.assert_close(total_w, torch.ones(4))
    torch.testing.assert_close(enumerated, looped, rtol=1e-5, atol=1e-4)


def test_exact_elbo_is_the_weighted_loop_and_trains_every_parameter():
    # eq. 9 with the expectations over y_1, y_3 taken exactly: Σ_k Π q(y_l = k_l) · branch score,
    # where each branch's KL_y terms are those of its own lower components
    model = tiny(K=(2, 1, 3), z_dims=(2, 2, 2), estimator="exact").eval()
    x = torch.rand(4, 1, 8, 8)
    terms = model.elbo_terms(x, beta=0.5)
    # z is drawn per branch, so compare the pieces that do not depend on the draw: KL_y (the
    # encoder's only) and the composition of the objective
    looped_kl_y = torch.zeros(4)
    for k1 in range(2):
        for k3 in range(3):
            f = model.infer(x, "sample", force=torch.tensor([[k1, k3]]).repeat(4, 1))
            w = f["probs"][0][:, k1] * f["probs"][2][:, k3]
            looped_kl_y += w * f["kl_y"]
    torch.testing.assert_close(terms["kl_y"], looped_kl_y, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        terms["objective"], terms["rec"] - 0.5 * (terms["kl_z"] + terms["kl_y"])
    )
    model.train()
    model.loss(x)["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing
    # the y heads learn through the branch weights Π q(y_l = k_l | x, y_<l)
    assert model.nets.heads[0].y.weight.grad.abs().sum() > 0


def test_soft_gumbel_uses_the_mixture_of_component_parameters(monkeypatch):
    model = tiny(K=(1, 3), z_dims=(2, 2), hard=False)
    soft = torch.tensor([[0.2, 0.3, 0.5]])
    monkeypatch.setattr(
        torch.nn.functional, "gumbel_softmax", lambda logits, tau, hard: soft.expand_as(logits)
    )
    x = torch.rand(2, 1, 8, 8)
    r = model.infer(x, "sample", sample_z=False)
    p_mu, p_var = model.prior_params(1)
    kl_1 = kl_std_normal(r["mu"][0], r["var"][0])
    kl_2 = kl_normal(r["mu"][1], r["var"][1], soft @ p_mu, soft @ p_var)
    torch.testing.assert_close(r["kl_z"], kl_1 + kl_2)


def test_all_K_one_is_a_vlae_objective():
    model = tiny(K=(1, 1, 1), z_dims=(2, 3, 4))
    assert len(model.prior_mu) == 0 and model.combos.shape == (1, 0)
    x = torch.rand(6, 1, 8, 8)
    torch.manual_seed(3)
    terms = model.elbo_terms(x, beta=1.0)
    torch.manual_seed(3)
    r = model.infer(x, "sample")
    by_hand = sum(kl_std_normal(mu, var) for mu, var in zip(r["mu"], r["var"], strict=True))
    torch.testing.assert_close(terms["kl_z"], by_hand)
    assert torch.all(terms["kl_y"] == 0)
    torch.testing.assert_close(
        terms["objective"], model.likelihood.log_prob(r["output"], x) - by_hand
    )
    # no discrete variable: the exact and Gumbel estimators are the same computation
    torch.manual_seed(3)
    exact = model.elbo_terms(x, 1.0, estimator="exact")["objective"]
    torch.testing.assert_close(exact, terms["objective"])


def test_straight_through_gumbel_picks_one_component_and_its_prior():
    model = tiny(K=(1, 4), z_dims=(2, 2))
    model.tau = 0.5
    x = torch.rand(8, 1, 8, 8)
    r = model.infer(x, "sample")
    q = r["probs"][1]
    torch.testing.assert_close(q.sum(1), torch.ones(8))
    # KL_y = Σ q log q + log K ≥ 0, and 0 only at the uniform q
    kl_y = (q * q.log()).sum(1) + math.log(4)
    torch.testing.assert_close(r["kl_y"], kl_y)
    assert torch.all(kl_y >= -1e-6)


def test_kl_y_is_zero_at_uniform_q_and_prior_params_are_learned():
    model = tiny(K=(3,), z_dims=(2,))
    with torch.no_grad():
        model.nets.heads[0].y.weight.zero_()
        model.nets.heads[0].y.bias.zero_()
    r = model.infer(torch.rand(3, 1, 8, 8), "mean")
    torch.testing.assert_close(r["kl_y"], torch.zeros(3), atol=1e-6, rtol=0)
    names = {n for n, _ in model.named_parameters()}
    assert {"prior_mu.0", "prior_logvar.0"} <= names


def test_schedules():
    assert kl_weight(0, 2000) == 0.0
    assert kl_weight(2000, 2000) == pytest.approx(1 - math.exp(-1))
    assert kl_weight(5, 0) == 1.0
    assert gumbel_temperature(0, 3e-5, 1000) == 1.0
    assert gumbel_temperature(999, 3e-5, 1000) == 1.0  # updated every 1000 steps
    assert gumbel_temperature(1000, 3e-5, 1000) == pytest.approx(math.exp(-0.03))
    assert gumbel_temperature(10**6, 3e-5, 1000) == 0.5  # floor


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"K": (1, 0, 1), "z_dims": (1, 1, 1)}, "K_l must be >= 1"),
        ({"K": (1, 2), "z_dims": (1, 1, 1)}, "z_dims has 3 entries but K has 2"),
        ({"K": (1, 2.5), "z_dims": (1, 1)}, "integers"),
        ({"K": 3, "z_dims": (1,)}, "must be a list"),
        ({"K": (), "z_dims": ()}, "at least one layer"),
        ({"K": (2, 1), "z_dims": (0, 1)}, "mixture layer"),
        ({"K": (1, 1), "z_dims": (1, 0)}, "top layer"),
        ({"K": (20, 20), "z_dims": (1, 1), "estimator": "exact"}, "400 component"),
        ({"K": (1,), "z_dims": (1,), "likelihood": "poisson"}, "likelihood"),
        ({"K": (1,), "z_dims": (1,), "arch": "resnet"}, "arch"),
    ],
)
def test_bad_configs_are_rejected(kw, match):
    with pytest.raises(ValueError, match=match):
        VLACConfig((1, 8, 8), **kw)


def test_check_K_accepts_lists_from_the_cli():
    assert check_K([1, 5, 50, 1]) == (1, 5, 50, 1)
    assert check_K((2.0, 3)) == (2, 3)


def test_gmdgm_borrows_vlac_layer3_networks():
    K, z = gmdgm_structure(50)
    assert (K, z) == ((1, 1, 50), (0, 0, 5))
    gm = gmdgm_model((1, 28, 28), 50, arch="conv28", channels=8, hidden=32)
    vl = VLACModel(VLACConfig((1, 28, 28), K=(1, 1, 50, 1), arch="conv28", channels=8, hidden=32))
    gm_sd, vl_sd = gm.state_dict(), vl.state_dict()
    # encoder g_1..g_3 and layer 3's heads are VLAC's (K^1layer has no ỹ inputs below layer 3)
    for key, value in gm_sd.items():
        if key.startswith(("nets.encoders", "nets.heads.2", "nets.output", "prior_")):
            assert vl_sd[key].shape == value.shape, key
    # decoder: f_3 without the z̃_4 input, f_2 and f_1 without lateral inputs
    assert gm.nets.decoders[2].net[0].in_features == 32  # FC(z_3) only
    assert vl.nets.decoders[2].net[0].in_features == 64  # [z̃_4; FC(z_3)]
    assert gm.nets.decoders[1].lateral is None and gm.nets.decoders[0].lateral is None
    assert gm.nets.decoders[0].net[0].in_channels == 16  # z̃_2 only, no 16 lateral maps
    assert len(gm.nets.heads[0].state_dict()) == 0  # no latent in levels 1–2
    x = torch.rand(3, 1, 28, 28)
    assert torch.isfinite(gm.loss(x)["loss"])


@pytest.mark.parametrize(
    "kw", [{"n_components": 1}, {"n_components": 5, "depth": 0}, {"n_components": 5, "z_dim": 0}]
)
def test_gmdgm_bad_structure(kw):
    with pytest.raises(ValueError):
        gmdgm_structure(**kw)
