"""HTVAE: map logic, loss and gradients, the estimator, save/load and bad input.

Fits use tiny synthetic data (dendrogen.data.synthetic), MLP networks and a few hundred steps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

import dendrogen
from dendrogen.data.synthetic import make_breaths, make_hierarchical
from dendrogen.estimators.htvae import HTVAE
from dendrogen.estimators.maps import PairSampler
from dendrogen.metrics import purity
from dendrogen.models.htvae import HTVAEConfig, HTVAEModel, parse_map_sizes
from dendrogen.models.som import SOMStack, check_map_sizes, grid_distance, grid_neighbours

SMALL = {"map_sizes": ((4, 4), (2, 2)), "latent_dim": 8, "widths": (16, 32)}


def small_htvae(**kw) -> HTVAE:
    params = {
        **SMALL,
        "preset": "tiny",
        "schedule": {"train": 25},
        "batch_size": 32,
        "random_state": 0,
    }
    return HTVAE(**(params | kw))


@pytest.fixture(scope="module")
def hier():
    return make_hierarchical(n_samples=480, n_coarse=3, n_fine=3, random_state=0)


@pytest.fixture(scope="module")
def fitted(hier):
    return small_htvae().fit(hier.X)


# ---------------------------------------------------------------------------- grids and maps
def test_grid_neighbours_no_wraparound():
    index, mask = grid_neighbours(3, 4)
    assert mask.sum(1).tolist()[:4] == [2, 3, 3, 2]  # top row: corners 2, edges 3
    assert mask[5].all()  # interior (1, 1)
    assert index[5].tolist() == [1, 9, 4, 6]  # up, down, left, right
    assert index[0][~mask[0]].tolist() == [0, 0]  # missing neighbours point at the code itself


def test_grid_distance_is_manhattan():
    a, b = torch.tensor([0, 5, 11]), torch.tensor([11, 5, 0])
    assert grid_distance(a, b, cols=4).tolist() == [5, 0, 5]


@pytest.mark.parametrize(
    "sizes", [((2, 2), (4, 4)), ((2, 2), (1, 4)), ((1, 1),), (), ((4, 4), (0, 2))]
)
def test_inconsistent_map_sizes_rejected(sizes):
    with pytest.raises(ValueError, match="map"):
        check_map_sizes(sizes)


def test_parse_map_sizes_string():
    assert parse_map_sizes("8x8,4x4,2x2") == ((8, 8), (4, 4), (2, 2))
    with pytest.raises(ValueError, match="8x8"):
        parse_map_sizes("8by8")


def test_discretisation_follows_parents_and_tree():
    torch.manual_seed(0)
    maps = SOMStack(((4, 4), (3, 3), (2, 1)), latent_dim=5, sigma_init=1.0)
    z0 = torch.randn(200, 5)
    k = maps.discretise(z0)
    assert k.shape == (3, 200)
    brute = ((z0[:, None] - maps.codes(1)[None]) ** 2).sum(-1).argmin(1)
    assert torch.equal(k[0], brute)
    parents = maps.parents()
    for i in range(2):  # level i+2 sees only the code chosen at level i+1
        assert np.array_equal(k[i + 1].numpy(), parents[i][k[i].numpy()])
    tree = maps.tree()
    assert len(tree) == 1 + 16 + 9 + 2
    assert tree.children(0) == [26, 27]  # the two codes of S_3
    for code in range(16):
        node = int(maps.node_ids(1, np.array([code]))[0])
        assert tree.depth(node) == 3
        assert tree.attrs(node) == {"level": 1, "code": code}
        parent = tree.parent(node)
        assert tree.attrs(parent) == {"level": 2, "code": int(parents[0][code])}


def test_code_spread_eq5_isotropic_and_per_dim():
    cfg = HTVAEConfig(input_shape=(6,), latent_dim=3, map_sizes=((1, 3), (1, 2)), rho=4.0)
    model = HTVAEModel(cfg)
    with torch.no_grad():
        model.maps.maps[0].copy_(torch.tensor([[[0.0, 0, 0], [1, 2, 0], [3, 2, 0]]]))
    _mu, sigma = model.code_spread(level=1, code=1)
    # neighbours of code 1: codes 0 (d² = 5) and 2 (d² = 4) → σ = 4 / ρ
    assert torch.allclose(sigma, torch.tensor([1.0]))
    model.config.sigma_mode = "per_dim"
    _, sigma_d = model.code_spread(level=1, code=1)
    assert torch.allclose(sigma_d, torch.tensor([1.0, 0.0, 0.0]).clamp_min(1e-6))
    assert torch.isclose(sigma_d.sum(), sigma.sum(), atol=1e-5)  # Σ_d equals the isotropic σ


def test_loss_terms_finite_and_gradients_reach_all_parameters():
    torch.manual_seed(0)
    cfg = HTVAEConfig(input_shape=(1, 12, 12), latent_dim=4, map_sizes=((2, 2), (1, 2)),
                      sigma_init=0.5, widths=(4, 8))  # fmt: skip
    model = HTVAEModel(cfg)
    x = torch.rand(64, 1, 12, 12)
    terms = model(x)
    assert set(terms) == {"loss", "rec", "hier", "top"}
    assert all(torch.isfinite(v) for v in terms.values())
    assert not terms["rec"].requires_grad  # logged terms are detached; only the loss has a graph
    terms["loss"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def _reference_terms(model: HTVAEModel, x: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    """Eqs. 4–9 one sample and one map at a time, with loops over grid cells (htvae.md §1–2);
    draws the noise in the order of :meth:`HTVAEModel.forward`."""
    cfg = model.config
    n_maps, (b, latent) = len(cfg.map_sizes), (x.shape[0], cfg.latent_dim)
    torch.manual_seed(seed)
    eps0 = torch.randn(b, latent)
    eps = torch.randn(n_maps, b, latent)
    mu0, logvar0 = model.encode(x)
    rec = hier = top = 0.0
    for s in range(b):
        z_prev = mu0[s] + torch.exp(0.5 * logvar0[s]) * eps0[s]
        rec = rec + ((model.decoder(z_prev[None])[0] - x[s]) ** 2).sum()
        target = z_prev  # eq. 4: level 1 from z_0, level i >= 2 from the code chosen below
        for i, (rows, cols) in enumerate(cfg.map_sizes):
            grid = model.maps.maps[i]
            best = min(((r, c) for r in range(rows) for c in range(cols)),
                       key=lambda rc: float(((target - grid[rc]) ** 2).sum().detach()))  # fmt: skip
            mu = grid[best]
            nbs = [grid[r, c] for r, c in ((best[0] - 1, best[1]), (best[0] + 1, best[1]),
                                           (best[0], best[1] - 1), (best[0], best[1] + 1))
                   if 0 <= r < rows and 0 <= c < cols]  # fmt: skip
            d2 = torch.stack([((mu - e) ** 2).sum() for e in nbs])
            if cfg.sigma_mode == "isotropic":
                sigma = d2.min().detach() / cfg.rho  # eq. 5 at the code, squared distance as std
            else:
                sigma = ((mu - nbs[int(d2.argmin())]) ** 2 / cfg.rho).clamp_min(1e-6).detach()
            z = mu + sigma * eps[i, s]
            top = top + d2.sum()  # eq. 9
            hier = hier + ((z - z_prev) ** 2).sum()  # eq. 7
            rec = rec + ((model.decoder(z[None])[0] - x[s]) ** 2).sum()  # eq. 8
            z_prev, target = z, mu
    rec, hier, top = rec / b, hier / b, top / b
    loss = cfg.lambda_top * top + cfg.lambda_hier * hier + cfg.lambda_rec * rec
    return {"loss": loss, "rec": rec, "hier": hier, "top": top}


@pytest.mark.parametrize("sigma_mode", ["isotropic", "per_dim"])
def test_loss_terms_match_per_sample_reference(sigma_mode):
    """The vectorised forward pass equals eqs. 4–9 written out with loops, in value and in the
    gradient it sends to every parameter."""
    torch.manual_seed(0)
    cfg = HTVAEConfig(input_shape=(7,), latent_dim=3, map_sizes=((3, 3), (2, 2), (1, 2)),
                      sigma_init=0.7, rho=2.0, sigma_mode=sigma_mode, lambda_top=0.5,
                      lambda_hier=2.0, lambda_rec=1.5)  # fmt: skip
    model = HTVAEModel(cfg)
    x = torch.rand(6, 7)
    torch.manual_seed(1)
    terms = model(x)
    ref = _reference_terms(model, x, seed=1)
    for key in ("loss", "rec", "hier", "top"):
        assert torch.isclose(terms[key], ref[key], rtol=1e-5), (key, terms[key], ref[key])
    params = list(model.parameters())
    torch.manual_seed(1)
    got = torch.autograd.grad(model(x)["loss"], params)
    want = torch.autograd.grad(_reference_terms(model, x, seed=1)["loss"], params)
    for g, w in zip(got, want, strict=True):
        assert torch.allclose(g, w, rtol=1e-4, atol=1e-6)


def test_top_loss_pulls_winner_and_neighbours():
    """L_top (eq. 9) has no stop-gradient: the winner and each of its grid neighbours move."""
    cfg = HTVAEConfig(input_shape=(4,), latent_dim=2, map_sizes=((1, 3), (1, 2)),
                      lambda_hier=0.0, lambda_rec=0.0)  # fmt: skip
    model = HTVAEModel(cfg)
    with torch.no_grad():
        model.maps.maps[0].copy_(torch.tensor([[[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]]]))
        model.maps.maps[1].copy_(torch.tensor([[[0.0, 0.0], [3.0, 0.0]]]))
    table = model.maps.flat()
    rows = torch.tensor([1])  # the middle code of S_1: neighbours 0 and 2
    _, d2, mask = model.spread(table[rows], rows, table)
    top = d2.masked_fill(~mask, 0.0).sum()
    assert top.item() == pytest.approx(1.0 + 4.0)
    grad = torch.autograd.grad(top, model.maps.maps[0])[0][0]
    assert torch.allclose(grad, torch.tensor([[-2.0, 0.0], [-2.0, 0.0], [4.0, 0.0]]))


def test_must_link_term_eq10_at_any_level():
    """L_ml = d_i(k^a_i, k^b_i)·‖z^a_0 − z^b_0‖² with Manhattan distance on the grid of S_i."""
    torch.manual_seed(0)
    cfg = HTVAEConfig(input_shape=(5,), latent_dim=3, map_sizes=((3, 3), (2, 2)), sigma_init=1.0)
    model = HTVAEModel(cfg)
    xa, xb = torch.rand(8, 5), torch.rand(8, 5)
    for level, cols in ((1, 3), (2, 2)):
        torch.manual_seed(2)
        got = model.must_link(xa, xb, level=level)
        torch.manual_seed(2)
        mu0, logvar0 = model.encode(torch.cat([xa, xb]))
        z0 = mu0 + torch.exp(0.5 * logvar0) * torch.randn(16, 3)
        k = model.maps.discretise(z0)[level - 1]
        want = 0.0
        for p in range(8):
            (ra, ca), (rb, cb) = divmod(int(k[p]), cols), divmod(int(k[8 + p]), cols)
            want = want + (abs(ra - rb) + abs(ca - cb)) * ((z0[p] - z0[8 + p]) ** 2).sum()
        assert torch.isclose(got, want / 8, rtol=1e-5), level


def test_argmin_cuts_encoder_from_level_reconstructions():
    """L_rec at levels ≥ 1 trains decoder and codes, not the encoder (htvae.md §2 table)."""
    torch.manual_seed(0)
    cfg = HTVAEConfig(input_shape=(10,), latent_dim=3, map_sizes=((2, 2), (1, 2)),
                      lambda_top=0.0, lambda_hier=0.0)  # fmt: skip
    model = HTVAEModel(cfg)
    x = torch.rand(16, 10)
    mu0, logvar0 = model.encode(x)
    z0 = mu0 + torch.exp(0.5 * logvar0) * torch.randn_like(mu0)
    table = model.maps.flat()
    rows = model.maps.global_index(model.maps.discretise(z0, table))
    mu = table[rows]
    sigma, _, _ = model.spread(mu, rows, table)
    assert not sigma.requires_grad  # σ_i is detached
    z = mu + sigma * torch.randn_like(mu)
    loss = ((model.decoder(z.reshape(-1, 3)) - x.repeat(2, 1)) ** 2).sum()
    grads = torch.autograd.grad(loss, [mu0, *model.maps.maps], allow_unused=True)
    assert grads[0] is None  # no path to the encoder
    assert grads[1] is not None and grads[1].abs().sum() > 0


# ---------------------------------------------------------------------------- the estimator
def test_coarse_map_captures_coarse_classes(hier, fitted):
    path = fitted.predict_path(hier.X)
    assert path.shape == (len(hier.X), 2)
    coarse = purity(hier.y_coarse, path[:, 1])
    rng = np.random.default_rng(0)
    random_map = np.mean([purity(hier.y_coarse, rng.integers(0, 4, len(hier.X)))
                          for _ in range(20)])  # fmt: skip
    assert coarse >= 0.9 > random_map + 0.3, (coarse, random_map)
    # the finest map separates the fine classes better than chance (1/9 per class)
    assert purity(hier.y, path[:, 0]) > 0.5
    assert np.array_equal(fitted.labels_, path[:, 0])
    assert fitted.predict(hier.X, level=2).tolist() == path[:, 1].tolist()


def test_tree_and_evaluate(hier, fitted):
    tree = fitted.tree_
    assert isinstance(tree, dendrogen.Tree)
    assert len(tree.children(0)) == 4 and len(tree) == 1 + 4 + 16
    nodes = fitted.predict_node(hier.X)
    assert all(tree.depth(int(n)) == 2 for n in np.unique(nodes))
    out = fitted.evaluate(hier.X, hier.y, true_tree=hier.hierarchy)
    for key in ("purity", "nmi", "dp", "lp", "d_tree", "purity_level2", "mse"):
        assert np.isfinite(out[key]), key
    assert out["purity"] == pytest.approx(out["lp"])
    assert out["d_tree"] < 2.0  # a random tree of this shape scores ≈ 3
    assert "d_tree" not in fitted.evaluate(hier.X, hier.y)


def test_evaluate_d_tree_keeps_single_child_codes(fitted):
    """D_tree of htvae.md §7 counts every edge of ``tree_`` (S_1 codes at depth M), even below a
    coarse code with a single child, which TreeVAE's contraction of pass-through nodes would
    drop. Codes and encodings are placed by hand: coarse code 3 has one child, fine code 15."""
    import copy

    from dendrogen.metrics import d_tree

    model = copy.deepcopy(fitted)
    net = model.module_
    centres = torch.tensor([[2.0, 2.0], [12.0, 2.0], [2.0, 12.0], [12.0, 12.0]])
    spots = torch.tensor([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5], [-1.5, 0.0], [0.0, -1.5]])
    group = [0] * 5 + [1] * 5 + [2] * 5 + [3]
    fine = torch.zeros(16, 8)
    fine[:, :2] = centres[group] + spots[[0, 1, 2, 3, 4] * 3 + [0]]
    with torch.no_grad():
        net.maps.maps[0].copy_(fine.view(4, 4, 8))
        net.maps.maps[1].zero_()
        net.maps.maps[1].view(4, 8)[:, :2] = centres
    net.encode = lambda x: (20.0 * x[:, :8], None)  # the first 8 inputs are the encoding / 20
    rng = np.random.default_rng(0)
    code = np.arange(160) % 16
    X = np.zeros((160, 64), dtype=np.float32)
    X[:, :8] = fine[code].numpy() / 20.0 + rng.uniform(0, 1e-3, (160, 8))
    y = rng.integers(0, 9, 160)
    tree = model.tree_
    assert len(tree.children(int(net.maps.node_ids(2, np.array([3]))[0]))) == 1
    assert np.array_equal(model.predict(X), code)
    nodes = model.predict_node(X)
    truth = make_hierarchical(n_samples=9, n_coarse=3, n_fine=3).hierarchy
    d_s = np.array([[tree.distance(int(a), int(b)) for b in nodes] for a in nodes])
    d_h = np.array([[truth.distance(int(a), int(b)) for b in y] for a in y])
    brute = ((d_s - d_h) ** 2).mean()
    got = model.evaluate(X, y, true_tree=truth)["d_tree"]
    assert got == pytest.approx(brute, rel=1e-12)
    assert got != pytest.approx(d_tree(tree, nodes, y, truth, contract_unary=True))


def test_sample_from_codes_and_levels(fitted):
    x = fitted.sample(5, level=2, code=1, random_state=3)
    assert x.shape == (5, 64) and np.all((x >= 0) & (x <= 1))
    assert np.array_equal(x, fitted.sample(5, level=2, code=1, random_state=3))
    assert fitted.sample(7).shape == (7, 64)
    with pytest.raises(ValueError, match="code"):
        fitted.sample(2, level=2, code=4)
    with pytest.raises(ValueError, match="level"):
        fitted.sample(2, level=3)
    with pytest.raises(TypeError, match="level= and code="):
        fitted.sample(2, leaf=1)


def test_save_load_identical(tmp_path, hier, fitted):
    path = fitted.save(tmp_path / "model")
    loaded = dendrogen.load(path)
    assert isinstance(loaded, HTVAE)
    assert np.array_equal(loaded.predict_path(hier.X), fitted.predict_path(hier.X))
    assert np.array_equal(loaded.transform(hier.X), fitted.transform(hier.X))
    assert np.array_equal(loaded.sample(4, level=1, code=2, random_state=1),
                          fitted.sample(4, level=1, code=2, random_state=1))  # fmt: skip
    assert loaded.tree_.to_dict() == fitted.tree_.to_dict()
    assert np.array_equal(loaded.labels_, fitted.labels_)


def test_fit_is_deterministic(hier):
    a = small_htvae(schedule={"train": 2}).fit(hier.X[:200])
    b = small_htvae(schedule={"train": 2}).fit(hier.X[:200])
    assert np.array_equal(a.transform(hier.X[:50]), b.transform(hier.X[:50]))


def test_checkpoint_resume(tmp_path, hier):
    X = hier.X[:200]
    first = small_htvae(schedule={"train": 2}).fit(X, checkpoint_dir=tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "trainer_state.pt").exists()
    again = small_htvae(schedule={"train": 2}).fit(
        X, checkpoint_dir=tmp_path / "ckpt"
    )  # resumes at the end
    assert np.array_equal(first.transform(X), again.transform(X))
    with pytest.raises(ValueError, match="other settings"):
        small_htvae(schedule={"train": 3}).fit(X, checkpoint_dir=tmp_path / "ckpt")


# ---------------------------------------------------------------------------- must-link
def test_pair_sampler_from_labels_draws_distinct_linked_members():
    labels = np.array([-1, 0, 1, 0, 2, 1, 0, -1, 3])  # label 2 and 3: single members, no pairs
    torch.manual_seed(0)
    sampler = PairSampler(500, labels=labels)
    a, b = sampler()
    assert torch.all(a != b)
    assert np.array_equal(labels[a.numpy()], labels[b.numpy()])
    assert set(labels[a.numpy()].tolist()) == {0, 1}
    # label 0 has 3 pairs, label 1 one pair: drawn ~3:1
    share = (labels[a.numpy()] == 0).mean()
    assert 0.65 < share < 0.85


def test_must_link_pulls_linked_points_together(hier):
    """Link fine class 0 (coarse 0) to fine class 8 (coarse 2): with the constraint the linked
    pairs land on the same or adjacent finest codes; without, they are far apart (≈ 4.6)."""
    X, y = hier.X[:240], hier.y[:240]
    a, b = np.flatnonzero(y == 0), np.flatnonzero(y == 8)
    n = min(len(a), len(b))
    pairs = np.stack([a[:n], b[:n]], axis=1)
    params = {"schedule": {"train": 30}, "lambda_ml": 5.0}
    free = small_htvae(**params).fit(X)
    linked = small_htvae(**params).fit(X, must_link=pairs)

    def grid_dist(model):
        k = model.predict(X)
        return grid_distance(torch.from_numpy(k[pairs[:, 0]]), torch.from_numpy(k[pairs[:, 1]]),
                             cols=4).numpy()  # fmt: skip

    d_free, d_linked = grid_dist(free), grid_dist(linked)
    assert (d_linked <= 1).mean() >= 0.9, d_linked
    assert d_free.mean() >= 2, d_free
    # the same constraints given as partial labels
    labels = np.full(len(X), -1)
    labels[pairs.ravel()] = 0
    by_labels = small_htvae(**params).fit(X, labels)
    assert (grid_dist(by_labels) <= 1).mean() >= 0.9


# ---------------------------------------------------------------------------- sequences
def test_sequences_train_end_to_end():
    data = make_breaths(n_samples=320, random_state=0)
    assert data.X.shape == (320, 2, 200) and data.X.min() >= 0 and data.X.max() <= 1
    model = small_htvae(schedule={"train": 10}, widths=(8, 16)).fit(data.X)
    assert model.history_[-1]["loss"] < model.history_[0]["loss"]
    path = model.predict_path(data.X)
    assert path.shape == (320, 2)
    assert purity(data.y_coarse, path[:, 1]) > 0.6  # 3 super-classes, 4 coarse codes
    assert model.sample(3, level=2, code=0).shape == (3, 2, 200)
    assert model.reconstruct(data.X[:5]).shape == (5, 2, 200)


def test_linear_output_fits_real_valued_data(hier):
    """z-scored data is outside [0, 1]: the sigmoid model refuses it, the linear one fits it,
    reconstructs values below 0 and still separates the coarse classes."""
    X = (hier.X - hier.X.mean(0)) / hier.X.std(0)
    with pytest.raises(ValueError, match="output='linear'"):
        small_htvae().fit(X)
    model = small_htvae(output="linear").fit(X)
    assert model.reconstruct(X[:50]).min() < 0
    assert purity(hier.y_coarse, model.predict(X, level=2)) > 0.6
    with pytest.raises(ValueError, match=r"output.* must be a str among"):
        small_htvae(output="tanh").fit(X)


# ---------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def X_small():
    return make_hierarchical(n_samples=64, random_state=1).X


def test_not_fitted_errors(X_small):
    model = small_htvae()
    with pytest.raises(NotFittedError):
        model.predict(X_small)
    with pytest.raises(NotFittedError):
        model.sample(2)
    with pytest.raises(NotFittedError):
        _ = model.tree_


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, np.nan, X), "NaN"),
        (lambda X: X[:, :, None, None, None], "shape|dimensions"),
        (lambda X: X * 3, r"\[0, 1\].*output='linear'"),
        (lambda X: X[:1], "sample"),
        (lambda X: X[:10], "batch_size|codes"),
    ],
    ids=["nan", "5d", "range", "one-sample", "too-few"],
)
def test_bad_X(X_small, change, match):
    with pytest.raises(ValueError, match=match):
        small_htvae().fit(change(X_small))


def test_map_larger_than_data(X_small):
    with pytest.raises(ValueError, match="finest map has 100 codes but X has only 64"):
        small_htvae(map_sizes="10x10,2x2", batch_size=8).fit(X_small)


def test_inconsistent_map_sizes_in_estimator(X_small):
    with pytest.raises(ValueError, match="strictly fewer codes"):
        small_htvae(map_sizes=((2, 2), (4, 4))).fit(X_small)


@pytest.mark.parametrize(
    ("pairs", "match"),
    [
        (np.array([[0, 64]]), "0..63"),
        (np.array([[-1, 3]]), "0..63"),
        (np.array([0, 1, 2]), r"\(P, 2\)"),
        (np.zeros((0, 2), dtype=int), r"\(P, 2\)"),
        (np.array([[0.0, 1.0]]), "integer"),
        (np.array([[True, False]]), "integer"),
    ],
)
def test_bad_must_link(X_small, pairs, match):
    with pytest.raises(ValueError, match=match):
        small_htvae(batch_size=16).fit(X_small, must_link=pairs)


def test_bad_partial_labels(X_small):
    with pytest.raises(ValueError, match="shape"):
        small_htvae(batch_size=16).fit(X_small, np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match=">= -1"):
        small_htvae(batch_size=16).fit(X_small, np.full(64, -2))
    with pytest.raises(ValueError, match="not both"):
        small_htvae(batch_size=16).fit(X_small, np.zeros(64, dtype=int), must_link=[[0, 1]])
    with pytest.raises(ValueError, match="ml_level"):
        small_htvae(batch_size=16, ml_level=3).fit(X_small, np.zeros(64, dtype=int))


def test_predict_checks_shape_and_level(fitted):
    with pytest.raises(ValueError, match=r"features|shape"):
        fitted.predict(np.zeros((3, 65), dtype=np.float32))
    with pytest.raises(ValueError, match="level"):
        fitted.predict(np.zeros((3, 64), dtype=np.float32), level=3)


# ---------------------------------------------------------------------------- pictures
def test_plot_maps_and_density(tmp_path, hier, fitted):
    from dendrogen.plots.som import plot_class_density

    fig = fitted.plot(hier.X, hier.y, tmp_path / "maps.png", density=True)
    assert (tmp_path / "maps.png").stat().st_size > 1000
    assert len(fig.axes) >= 16 + 4  # one cell per code
    assert len(fig.artists) == 16  # one parent link per finest code
    assert len(plot_class_density(fitted, hier.X, hier.y).axes) == 2


def test_cli_sample_code_and_tree(tmp_path, cli):
    """`dendrogen fit/evaluate/sample --level --code/tree` for HTVAE (the maps picture)."""
    import json

    out = tmp_path / "ht"

    cli("fit", "--model", "htvae", "--data", "digits", "--limit", "200", "--preset", "tiny",
           "--set", "map_sizes=3x3,2x1", "--set", "batch_size=32", "--out", str(out))  # fmt: skip
    cli("evaluate", str(out), "--data", "digits", "--limit", "100",
           "--json", str(tmp_path / "m.json"))  # fmt: skip
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert {"purity", "nmi", "d_tree", "dp", "lp", "purity_level2"} <= set(metrics)
    cli("sample", str(out), "--level", "2", "--code", "1", "-n", "3",
           "--out", str(tmp_path / "s.npy"))  # fmt: skip
    assert np.load(tmp_path / "s.npy").shape == (3, 1, 8, 8)
    from typer.testing import CliRunner

    from dendrogen.cli import app

    result = CliRunner().invoke(app, ["sample", str(out), "--level", "2", "--code", "5", "-n",
                                      "3", "--out", str(tmp_path / "bad.npy")])  # fmt: skip
    assert result.exit_code == 1 and "code must be an integer in 0..1" in result.output
    cli("tree", str(out), "--data", "digits", "--limit", "100", "--out", str(tmp_path / "t.png"))
    assert (tmp_path / "t.png").stat().st_size > 1000


def test_plot_maps_label_values_and_bad_labels(hier, fitted):
    """Any label values (strings included) are annotated; a wrong-length y is a clear error."""
    from dendrogen.plots.som import plot_class_density

    names = np.array([f"class-{v}" for v in hier.y])
    fig = fitted.plot(hier.X, names, density=True)
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "class-" in titles
    # class_names maps integer labels to names; labels it does not cover keep their value
    fig = fitted.plot(hier.X, hier.y, class_names=["zero"])
    titles = [ax.get_title() for ax in fig.axes]
    assert any("zero" in t for t in titles)  # class 0 is the majority of some code
    with pytest.raises(ValueError, match="one label per sample"):
        fitted.plot(hier.X, hier.y[:10])
    with pytest.raises(ValueError, match="one label per sample"):
        plot_class_density(fitted, hier.X, hier.y[:10])
