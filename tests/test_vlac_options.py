"""VLAC's switchable parts (issue 15): ladder heads, z heads without ỹ, what goes up the ladder."""

from __future__ import annotations

import pytest
import torch

from dendrogen.models.vlac import VLACConfig, VLACModel
from dendrogen.nn.ladder_nets import default_ladder_architecture


def tiny(**kw) -> VLACModel:
    kw.setdefault("K", (1, 3, 4, 1))
    kw.setdefault("z_dims", (2, 2, 2, 3))
    torch.manual_seed(0)
    return VLACModel(VLACConfig((3, 12, 12), arch="conv8", channels=4, hidden=16, **kw))


@pytest.mark.parametrize("head", ["linear", "ladder"])
@pytest.mark.parametrize("z_given_y", [True, False])
@pytest.mark.parametrize("feed", ["sample", "argmax", "probs"])
@pytest.mark.parametrize("estimator", ["gumbel", "exact"])
def test_every_option_trains_every_parameter(head, z_given_y, feed, estimator):
    model = tiny(head=head, z_given_y=z_given_y, feed=feed, estimator=estimator)
    out = model.loss(torch.rand(5, 3, 12, 12), beta=0.7)
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing


def test_ladder_heads_are_two_layer_branches_with_a_sigmoid_std():
    model = tiny(head="ladder").eval()
    heads = model.nets.heads[2]
    linears = [m for m in heads.branch if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [16, 16]
    assert linears[0].in_features == 16 + 4  # [h_3 (an FC stage of width 16); ỹ_3]
    h = torch.randn(7, linears[0].in_features - 4)
    y = torch.eye(4)[torch.arange(7) % 4]
    _, var = heads.gaussian(h, y)
    std = var.sqrt()
    assert ((std > 1e-3 - 1e-7) & (std < 1 + 1e-3 + 1e-6)).all()


def test_z_heads_without_y_ignore_the_component():
    model = tiny(z_given_y=False).eval()
    heads = model.nets.heads[2]
    assert heads.z.in_features == 16  # flatten(h_3) only
    h = torch.randn(3, 16)
    a = heads.gaussian(h, torch.eye(4)[[0, 1, 2]])
    b = heads.gaussian(h, torch.eye(4)[[3, 3, 3]])
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("feed", ["argmax", "probs"])
def test_training_feeds_up_what_clustering_feeds_up(feed):
    # With feed != "sample" the layer-3 posterior does not depend on the Gumbel noise: the
    # training pass and the deterministic clustering pass give the same q(y_3 | x).
    model = tiny(feed=feed).eval()
    x = torch.rand(6, 3, 12, 12)
    clustering = model.infer(x, "mean")["probs"][2]
    model.tau = 0.7
    for seed in range(3):
        torch.manual_seed(seed)
        torch.testing.assert_close(model.infer(x, "sample")["probs"][2], clustering)


def test_sample_feed_is_the_spec_and_varies_with_the_noise():
    model = tiny(feed="sample").eval()
    x = torch.rand(6, 3, 12, 12)
    model.tau = 0.7
    draws = []
    for seed in range(4):
        torch.manual_seed(seed)
        draws.append(model.infer(x, "sample")["probs"][2])
    assert any(not torch.allclose(draws[0], d) for d in draws[1:])


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="head"):
        tiny(head="deep")
    with pytest.raises(ValueError, match="feed"):
        tiny(feed="mean")


def test_small_square_images_use_the_small_conv_ladder():
    assert default_ladder_architecture((3, 12, 12)) == "conv8"
    assert default_ladder_architecture((1, 8, 8)) == "conv8"
    assert default_ladder_architecture((3, 20, 20)) == "mlp"
