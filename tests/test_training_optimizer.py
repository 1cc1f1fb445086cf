"""FlatAdam (training/optimizer.py) must train exactly as per-tensor Adam does: same updates,
unused parameters left alone, and a state that checkpoints and resumes in Adam's own form."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from dendrogen.training.optimizer import FlatAdam, flat_adam_applies, make_adam, make_optimizer


def small_net() -> nn.Module:
    """Conv (channels-last weights), BatchNorm and Linear layers, and a layer the loss never
    uses, as the Trainer's models have."""
    torch.manual_seed(0)
    net = nn.ModuleDict(
        {
            "conv": nn.Conv2d(1, 4, 3).to(memory_format=torch.channels_last),
            "norm": nn.BatchNorm2d(4),
            "head": nn.Linear(4 * 6 * 6, 3),
            "unused": nn.Linear(3, 3),
        }
    )
    return net


def loss_of(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    h = torch.relu(net["norm"](net["conv"](x)))
    return net["head"](h.flatten(1)).pow(2).mean()


def train(net: nn.Module, opt, steps: range) -> None:
    for step in steps:
        x = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(step))
        opt.zero_grad(set_to_none=True)
        loss_of(net, x).backward()
        opt.step()


def test_flat_adam_makes_the_updates_of_per_tensor_adam_and_skips_unused_parameters():
    net_a, net_b = small_net(), small_net()
    adam = make_adam(list(net_a.parameters()), 1e-2, 1e-3, torch.device("cpu"))
    flat = FlatAdam(list(net_b.parameters()), 1e-2, 1e-3)
    unused_before = net_b["unused"].weight.detach().clone()
    train(net_a, adam, range(6))
    train(net_b, flat, range(6))
    for (name, a), b in zip(net_a.named_parameters(), net_b.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7, msg=name)
    # The layer outside the loss has no gradient: Adam skips it, weight decay included.
    assert torch.equal(net_b["unused"].weight, unused_before)
    # The trained parameters now live in one buffer, channels-last strides kept.
    assert net_b["conv"].weight.is_contiguous(memory_format=torch.channels_last)
    assert net_b["conv"].weight.untyped_storage().data_ptr() == (
        net_b["head"].weight.untyped_storage().data_ptr()
    )


def test_flat_adam_state_resumes_exactly_and_is_per_tensor_adams_form():
    reference = small_net()
    train(reference, FlatAdam(list(reference.parameters()), 1e-2, 1e-3), range(5))

    first = small_net()
    opt = FlatAdam(list(first.parameters()), 1e-2, 1e-3)
    train(first, opt, range(3))
    state = opt.state_dict()
    # Per-parameter entries, as torch.optim.Adam writes them; the unused layer has none.
    n_params = len(list(first.parameters()))
    assert state["param_groups"][0]["params"] == list(range(n_params))
    assert set(state["state"]) == set(range(n_params - 2))

    for build in (FlatAdam, lambda p, lr, wd: make_adam(p, lr, wd, torch.device("cpu"))):
        resumed = copy.deepcopy(first)
        opt2 = build(list(resumed.parameters()), 1e-2, 1e-3)
        opt2.load_state_dict(copy.deepcopy(state))
        train(resumed, opt2, range(3, 5))
        for a, b in zip(reference.parameters(), resumed.parameters(), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)


def test_flat_adam_is_used_only_where_it_applies():
    net = small_net()
    params = list(net.parameters())
    assert flat_adam_applies(params)
    assert isinstance(make_optimizer(params, 1e-3, 0.0, torch.device("cpu")), FlatAdam)
    assert not flat_adam_applies(params[:1])  # nothing to gain from one tensor
    assert not flat_adam_applies(params + params[:1])  # the same tensor twice
    mixed = [nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(3, dtype=torch.float64))]
    assert not flat_adam_applies(mixed)
    strided = [nn.Parameter(torch.zeros(4, 4)[:, ::2]), nn.Parameter(torch.zeros(3))]
    assert not flat_adam_applies(strided)
    assert isinstance(make_optimizer(strided, 1e-3, 0.0, torch.device("cpu")), torch.optim.Adam)
    with pytest.raises(ValueError, match="distinct dense"):
        FlatAdam(mixed, 1e-3, 0.0)
