"""HTVAE's options beyond the paper's literal reading (issue 15): moving-average codes, the
scale-free code spread, the SOM-VAE reference's kernels and dense layer, and learning-rate decay.

Each is checked for what it promises on its own (the codes sit at their points' means, σ scales
with the latent space, shapes and state survive save/load), not for clustering quality, which
is measured in BENCHMARKS.md.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import dendrogen
from dendrogen.data.synthetic import make_hierarchical
from dendrogen.estimators.htvae import HTVAE
from dendrogen.metrics import purity
from dendrogen.models.htvae import HTVAEConfig, HTVAEModel
from dendrogen.models.som import SOMStack

SMALL = {"map_sizes": ((4, 4), (2, 2)), "latent_dim": 8, "widths": (16, 32)}


@pytest.fixture(scope="module")
def hier():
    return make_hierarchical(n_samples=480, n_coarse=3, n_fine=3, random_state=0)


def fit_small(X: np.ndarray, **kw) -> HTVAE:
    params = {**SMALL, "preset": "tiny", "schedule": {"train": 25}, "batch_size": 32}
    return HTVAE(**(params | {"random_state": 0} | kw)).fit(X)


def test_half_gap_spread_is_half_the_gap_and_scales_with_the_latent():
    cfg = HTVAEConfig(
        input_shape=(6,), latent_dim=3, map_sizes=((1, 3), (1, 2)), sigma_mode="half_gap"
    )
    model = HTVAEModel(cfg)
    codes = torch.tensor([[[0.0, 0, 0], [1, 2, 0], [3, 2, 0]]])
    with torch.no_grad():
        model.maps.maps[0].copy_(codes)
    _, sigma = model.code_spread(level=1, code=1)
    # the closest neighbour of code 1 is code 2 (d² = 4 against 5): half of |(1, 2, 0) − (3, 2, 0)|
    assert torch.allclose(sigma, torch.tensor([1.0, 1e-6, 1e-6]))
    with torch.no_grad():
        model.maps.maps[0].copy_(10 * codes)
    _, sigma10 = model.code_spread(level=1, code=1)
    assert torch.allclose(sigma10[0], 10 * sigma[0])  # a distance, so it scales with the latent


def test_ema_codes_are_not_trained_by_the_optimiser_and_follow_their_points():
    torch.manual_seed(0)
    cfg = HTVAEConfig(
        input_shape=(6,), latent_dim=2, map_sizes=((1, 3), (1, 2)), code_update="ema",
        ema_decay=0.0, ema_neighbour=0.0,
    )  # fmt: skip
    model = HTVAEModel(cfg)
    assert not any(p.requires_grad for p in model.maps.parameters())
    z0 = torch.tensor([[-5.0, 0], [-4, 0], [4, 0], [6, 0], [0.2, 0]])
    with torch.no_grad():
        model.maps.maps[0].copy_(torch.tensor([[[-3.0, 0], [0, 0], [3, 0]]]))
    table = model.maps.flat()
    rows = model.maps.global_index(model.maps.discretise(z0, table))
    new = model.ema.update(z0, rows, table)
    # decay 0 and no neighbour weight: each S_1 code is the mean of the points it won
    assert torch.allclose(new[:3], torch.tensor([[-4.5, 0], [0.2, 0], [5, 0]]))
    assert torch.equal(model.maps.codes(1), new[:3])


def test_ema_neighbours_pull_and_dead_codes_are_recruited():
    torch.manual_seed(0)
    cfg = HTVAEConfig(input_shape=(6,), latent_dim=1, map_sizes=((1, 3), (1, 2)),
                      code_update="ema", ema_decay=0.0, ema_neighbour=0.5)  # fmt: skip
    model = HTVAEModel(cfg)
    with torch.no_grad():
        model.maps.maps[0].copy_(torch.tensor([[[0.0], [10.0], [100.0]]]))
    z0 = torch.tensor([[1.0], [-1.0]])  # both won by code 0; code 2 is reached by nothing
    table = model.maps.flat()
    rows = model.maps.global_index(model.maps.discretise(z0, table))
    new = model.ema.update(z0, rows, table)
    assert new[0].item() == pytest.approx(0.0)  # mean of its own points
    assert new[1].item() == pytest.approx(0.0)  # a neighbour of the winner: drawn to its points
    assert new[2].item() in (1.0, -1.0)  # dead: moved onto a point of the batch


def test_ema_fit_clusters_saves_and_resumes(tmp_path, hier):
    model = fit_small(hier.X, code_update="ema", schedule={"train": 100})
    path = model.predict_path(hier.X)
    assert purity(hier.y_coarse, path[:, 1]) >= 0.9
    assert model.module_.ema.count.sum() > 0
    loaded = dendrogen.load(model.save(tmp_path / "m"))
    assert torch.equal(loaded.module_.ema.total, model.module_.ema.total)
    assert np.array_equal(loaded.predict_path(hier.X), path)
    first = fit_small(hier.X[:200], code_update="ema", schedule={"train": 2})
    again = fit_small(hier.X[:200], code_update="ema", schedule={"train": 2})
    assert np.array_equal(first.transform(hier.X[:50]), again.transform(hier.X[:50]))


def test_reference_kernels_and_linear_dense_keep_shapes():
    for shape in ((1, 28, 28), (1, 8, 8), (2, 200)):
        cfg = HTVAEConfig(input_shape=shape, latent_dim=4, map_sizes=((2, 2),), widths=(4, 8),
                          kernel_size=4, decoder_dense="linear")  # fmt: skip
        model = HTVAEModel(cfg)
        x = torch.rand(3, *shape)
        with warnings.catch_warnings():  # even kernels are padded explicitly: no torch warning
            warnings.simplefilter("error")
            assert model.decoder(model.encode(x)[0]).shape == x.shape
            assert torch.isfinite(model(x)["loss"])
    encoder = HTVAEModel(HTVAEConfig(input_shape=(1, 8, 8), kernel_size=4)).encoder
    conv = next(m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.kernel_size == (4, 4)


def test_lr_decay_reaches_the_optimiser(hier):
    steps = 40
    decayed = fit_small(hier.X, schedule={"unit": "steps", "train": steps}, lr_decay=0.5,
                        lr_decay_every=10)  # fmt: skip
    constant = fit_small(hier.X, schedule={"unit": "steps", "train": steps})
    assert not np.array_equal(decayed.transform(hier.X[:20]), constant.transform(hier.X[:20]))
    # a rate halved every 10 steps moves the weights less than a constant one
    start = fit_small(hier.X, schedule={"unit": "steps", "train": 1})
    w0 = start.module_.encoder.mu.weight
    moved_decayed = (decayed.module_.encoder.mu.weight - w0).norm()
    moved_constant = (constant.module_.encoder.mu.weight - w0).norm()
    assert moved_decayed < moved_constant


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"code_update": "kmeans"}, "code_update"), ({"ema_decay": 1.0}, "ema_decay"),
     ({"decoder_dense": "tanh"}, "decoder_dense"), ({"kernel_size": 0}, "kernel_size"),
     ({"lr_decay": 0.0}, "lr_decay"), ({"sigma_mode": "other"}, "sigma_mode")],
)  # fmt: skip
def test_bad_options_are_rejected(hier, kw, match):
    with pytest.raises(ValueError, match=match):
        fit_small(hier.X[:64], **kw)


def test_refit_moves_codes_to_the_means_they_quantise():
    stack = SOMStack(((1, 3), (1, 2)), latent_dim=1)
    with torch.no_grad():
        stack.maps[0].copy_(torch.tensor([[[-1.0], [0.5], [9.0]]]))
        stack.maps[1].copy_(torch.tensor([[[0.0], [1.0]]]))
    points = torch.tensor([[-3.0], [-2.0], [1.0], [2.0], [3.0]])
    stack.refit(points, iterations=5, chunk=2)
    # S_1: k-means from the codes; the code that holds nothing stays where it was
    assert stack.codes(1).flatten().tolist() == [-2.5, 2.0, 9.0]
    # S_2: weighted means of the S_1 codes below (2 points at -2.5, 3 at 2.0)
    assert stack.codes(2).flatten().tolist() == [-2.5, 2.0]


def test_refit_codes_option_is_applied_after_training(hier):
    plain = fit_small(hier.X, schedule={"train": 5})
    refit = fit_small(hier.X, schedule={"train": 5}, refit_codes=200)  # Lloyd converges
    assert np.array_equal(plain.transform(hier.X[:20]), refit.transform(hier.X[:20]))  # same net
    mu = torch.from_numpy(refit.transform(hier.X))
    winners = refit.labels_
    for k in np.unique(winners)[:5]:  # each used S_1 code is the mean of its training points
        assert torch.allclose(refit.module_.maps.codes(1)[k], mu[winners == k].mean(0), atol=1e-4)
    assert refit.code_counts_[0].sum() == len(hier.X)


def test_paper_preset_keeps_the_literal_reading(hier):
    X = hier.X[:300]
    literal = HTVAE(preset="paper", schedule={"unit": "steps", "train": 2}, latent_dim=4,
                    widths=(4, 8), random_state=0).fit(X)  # fmt: skip
    measured = HTVAE(preset="tiny", latent_dim=4, widths=(4, 8), random_state=0).fit(X)
    assert literal.module_.config.map_sizes == ((8, 8), (4, 4), (2, 2))
    assert measured.module_.config.map_sizes == ((16, 16), (4, 4), (2, 2))
    assert literal.get_params()["map_sizes"] is None  # None stays None: clone() is faithful
    assert HTVAE(preset="paper", map_sizes="4x4,2x2")._map_sizes() == ((4, 4), (2, 2))
