"""The GPU path (issue 16): ``device="cuda"`` trains end to end with the data set kept on the
device between steps, predicts and samples there, and bf16 autocast works on it.

Tests marked ``gpu`` run only where ``torch.cuda.is_available()``; elsewhere they skip. Run them
on a GPU machine with ``pytest -m gpu tests/test_gpu.py``. The unmarked test at the end checks
the same data-on-device logic on CPU.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dendrogen import VAE, LadderVAE, TreeVAE
from dendrogen.data.synthetic import make_colour_shapes, make_hierarchical
from dendrogen.training import Phase, Trainer


def gpu(test):
    """Mark ``test`` ``gpu`` and skip it where CUDA is not available."""
    skip = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
    return pytest.mark.gpu(skip(test))


TINY = dict(max_leaves=3, max_depth=2, latent_dim=4, width=32, batch_size=64, random_state=0,
            schedule=dict(initial=60, subtree=30, intermediate=0, finetune=40))  # fmt: skip


@pytest.fixture(scope="module")
def vectors():
    return make_hierarchical(n_samples=400, random_state=0).X


@pytest.fixture(scope="module")
def shapes():
    return make_colour_shapes(96, n_fine=2, size=16, random_state=0)


@pytest.fixture
def spy(monkeypatch):
    """Records, for every phase a Trainer runs, the device of the data set it trains on (after
    ``_on_device``), whether that was the very tensor it was given (no copy), and the device of
    every batch its ``loss_fn`` sees."""
    seen = {"data": [], "same": [], "batches": set()}
    on_device, run = Trainer._on_device, Trainer.run

    def recording_on_device(self, data):
        out = on_device(self, data)
        seen["data"].append(out.device.type)
        seen["same"].append(out is data)
        return out

    def recording_run(self, phase, model, params, loss_fn, data, **kwargs):
        def wrapped(x, alpha):
            seen["batches"].add(x.device.type)
            return loss_fn(x, alpha)

        return run(self, phase, model, params, wrapped, data, **kwargs)

    monkeypatch.setattr(Trainer, "_on_device", recording_on_device)
    monkeypatch.setattr(Trainer, "run", recording_run)
    return seen


def _check_on_cuda(model, X, spy) -> None:
    assert spy["data"] and set(spy["data"]) == {"cuda"}
    assert all(spy["same"])  # the estimator put X on the GPU once; no phase copied it again
    assert spy["batches"] == {"cuda"}
    assert {p.device.type for p in model.module_.parameters()} == {"cuda"}
    assert all(math.isfinite(h["loss"]) for h in model.history_ if "loss" in h)
    assert math.isfinite(model.score(X))


@gpu
@pytest.mark.parametrize("contrastive", [False, True], ids=["plain", "contrastive"])
def test_treevae_fits_predicts_and_samples_on_cuda(vectors, shapes, spy, contrastive):
    X = shapes.X if contrastive else vectors
    model = TreeVAE(device="cuda", contrastive=contrastive, **TINY).fit(X)
    _check_on_cuda(model, X, spy)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), model.n_leaves_) and np.allclose(proba.sum(1), 1, atol=1e-4)
    assert np.array_equal(model.predict(X), proba.argmax(1))
    assert model.transform(X).shape == (len(X), 4)
    assert model.sample(5).shape == (5, *X.shape[1:])
    assert np.isfinite(model.sample(3, leaf=0)).all()
    if contrastive:
        assert all(math.isfinite(h["contrastive"]) for h in model.history_ if "contrastive" in h)


@gpu
@pytest.mark.parametrize("cls", [VAE, LadderVAE])
def test_contrastive_baselines_fit_on_cuda(shapes, spy, cls):
    model = cls(device="cuda", contrastive=True, latent_dim=4, width=16, batch_size=16,
                preset="tiny", random_state=0).fit(shapes.X)  # fmt: skip
    _check_on_cuda(model, shapes.X, spy)
    assert model.transform(shapes.X).shape == (len(shapes.X), 4)
    assert model.sample(3).shape == (3, *shapes.X.shape[1:])


@gpu
@pytest.mark.parametrize("contrastive", [False, True], ids=["plain", "contrastive"])
def test_bf16_autocast_on_cuda(vectors, shapes, contrastive):
    """bf16 on the GPU: finite, and within the CPU test's tolerance (tests/test_precision.py:
    0.5 % of the fp32 ELBO, measured there on CPU) of the fp32 fit of the same seed."""
    X = shapes.X if contrastive else vectors
    scores = {}
    for precision in ("fp32", "bf16"):
        params = TINY | {"schedule": TINY["schedule"] | {"precision": precision}}
        model = TreeVAE(device="cuda", contrastive=contrastive, **params).fit(X)
        assert all(math.isfinite(h["loss"]) for h in model.history_ if "loss" in h)
        scores[precision] = model.score(X)
    assert math.isfinite(scores["bf16"])
    assert abs(scores["bf16"] - scores["fp32"]) <= 0.005 * abs(scores["fp32"]), scores


@gpu
def test_trainer_moves_cpu_data_to_the_gpu_once():
    trainer = Trainer(batch_size=8, progress=False, device="cuda")
    data = torch.randn(32, 4)
    moved = trainer._on_device(data)
    assert moved.device.type == "cuda" and torch.equal(moved.cpu(), data)
    assert trainer._on_device(moved) is moved
    layer = torch.nn.Linear(4, 1).cuda()
    devices = set()

    def loss_fn(x, alpha):
        devices.add(x.device.type)
        return {"loss": layer(x).pow(2).mean()}

    trainer.run(Phase("train", 5), layer, layer.parameters(), loss_fn, data)
    assert devices == {"cuda"}


def test_data_on_the_training_device_is_used_as_is_on_cpu():
    trainer = Trainer(batch_size=8, progress=False, device="cpu")
    data = torch.randn(32, 4)
    assert trainer._on_device(data) is data
    layer = torch.nn.Linear(4, 1)
    batches = []

    def loss_fn(x, alpha):
        batches.append(x)
        return {"loss": layer(x).pow(2).mean()}

    trainer.run(Phase("train", 4), layer, layer.parameters(), loss_fn, data)
    assert len(batches) == 4 and all(b.device.type == "cpu" and b.shape == (8, 4) for b in batches)
    rows = torch.cat(batches)  # one epoch: every row exactly once
    assert torch.equal(rows[rows[:, 0].argsort()], data[data[:, 0].argsort()])
