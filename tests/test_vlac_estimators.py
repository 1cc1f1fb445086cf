"""VLAC / VLAE / GMDGM estimators: disentangled clustering on two factors, VLAE reduction,
save/load, generation, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from clustering_check_data import ari_over_seeds, estimator_checks
from sklearn.exceptions import NotFittedError
from sklearn.metrics import normalized_mutual_info_score

import dendrogen
from dendrogen import GMDGM, VLAC, VLAE
from dendrogen.estimators import ESTIMATORS

TINY = {"arch": "mlp", "hidden": 16, "schedule": {"train": 30}, "batch_size": 32, "random_state": 0}


def two_factors(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8×8 images with two independent factors: a shape (4 classes: vertical bar, horizontal bar,
    square outline, cross) drawn over a background (2 levels: black or mid-grey)."""
    rng = np.random.default_rng(seed)
    protos = np.zeros((4, 8, 8), np.float32)
    protos[0, 1:7, 3:5] = 1
    protos[1, 3:5, 1:7] = 1
    protos[2, 1:7, 1:7] = 1
    protos[2, 2:6, 2:6] = 0
    idx = np.arange(8)
    protos[3, idx, idx] = protos[3, idx, 7 - idx] = 1
    shape = rng.integers(0, 4, n)
    background = rng.integers(0, 2, n)
    X = np.maximum(protos[shape], np.array([0.0, 0.5])[background][:, None, None])
    X = X + 0.03 * rng.standard_normal((n, 8, 8))
    return np.clip(X, 0, 1)[:, None].astype(np.float32), shape, background


@pytest.fixture(scope="module")
def data():
    return two_factors()


@pytest.fixture(scope="module")
def fitted(data):
    X, _, _ = data
    return VLAC(K=[2, 1, 3], z_dims=[2, 2, 2], **TINY).fit(X)


def test_different_layers_cluster_different_factors(data):
    X, shape, background = data
    m = VLAC(
        K=[2, 4], z_dims=[2, 2], arch="mlp", schedule={"train": 600}, batch_size=64, random_state=0
    )
    m.fit(X)

    def info(layer: int) -> tuple[float, float]:
        pred = m.predict(X, layer=layer)
        return (
            normalized_mutual_info_score(shape, pred),
            normalized_mutual_info_score(background, pred),
        )

    shape1, back1 = info(1)
    shape2, back2 = info(2)
    # layer 1 (nearest the data) clusters the background, layer 2 the shape, each clearly
    assert back1 > shape1 + 0.3, (shape1, back1)
    assert shape2 > back2 + 0.3, (shape2, back2)
    assert shape2 > 0.5 and back1 > 0.5


def test_all_K_one_reduces_exactly_to_vlae(data):
    X = data[0][:200]
    a = VLAC(K=[1, 1, 1], z_dims=[2, 2, 3], **TINY).fit(X)
    b = VLAE(n_layers=3, z_dims=[2, 2, 3], **TINY).fit(X)
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert a.score(X) == b.score(X)
    assert not hasattr(b, "predict")  # a VLAE has no cluster variables
    with pytest.raises(ValueError, match="no cluster variable"):
        a.predict(X)
    assert b.sample(3, random_state=0).shape == (3, 1, 8, 8)


def test_save_load_gives_identical_outputs(fitted, data, tmp_path):
    X = data[0][:100]
    fitted.save(tmp_path / "m")
    loaded = dendrogen.load(tmp_path / "m")
    assert type(loaded) is VLAC and loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.labels_, fitted.labels_)
    for layer in (1, 3):
        np.testing.assert_array_equal(
            loaded.predict(X, layer=layer), fitted.predict(X, layer=layer)
        )
        np.testing.assert_array_equal(
            loaded.predict_proba(X, layer=layer), fitted.predict_proba(X, layer=layer)
        )
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))
    np.testing.assert_array_equal(
        loaded.sample(4, layer=3, component=1, random_state=5),
        fitted.sample(4, layer=3, component=1, random_state=5),
    )
    assert loaded.score(X) == fitted.score(X)


def test_gmdgm_fits_predicts_and_round_trips(data, tmp_path):
    X, shape, _ = data
    m = GMDGM(n_components=6, z_dim=2, depth=2, **TINY).fit(X)
    assert m.predict_proba(X).shape == (len(X), 6)
    assert m.transform(X).shape == (len(X), 2)
    scores = m.evaluate(X, shape)
    assert {"acc", "acc_hungarian", "nmi", "elbo", "acc_l2"} <= scores.keys()
    assert scores["acc"] >= scores["acc_hungarian"]  # many-to-one ≥ one-to-one
    assert m.sample(5, component=2, random_state=0).shape == (5, 1, 8, 8)
    m.save(tmp_path / "g")
    np.testing.assert_array_equal(dendrogen.load(tmp_path / "g").predict(X), m.predict(X))
    assert {"VLAC", "VLAE", "GMDGM"} <= ESTIMATORS.keys()


def test_prediction_and_evaluation_api(fitted, data):
    X, shape, background = data
    assert fitted.predict(X).shape == (len(X),)  # default layer: 3
    np.testing.assert_array_equal(fitted.predict(X), fitted.predict(X, layer=3))
    p = fitted.predict_proba(X, layer=1)
    assert p.shape == (len(X), 2)
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)
    assert fitted.transform(X).shape == (len(X), 6)
    assert fitted.transform(X, layer=2).shape == (len(X), 2)
    np.testing.assert_array_equal(fitted.labels_, fitted.predict(X))
    scores = fitted.evaluate(X, shape)
    assert {"acc_l1", "acc_l3", "nmi_l1", "nmi_l3", "acc_hungarian_l3", "elbo"} <= scores.keys()
    assert scores["acc"] == scores["acc_l3"]
    only = fitted.evaluate(X, background, layer=1)
    assert only["acc"] == only["acc_l1"] and "acc_l3" not in only
    assert np.isfinite(fitted.score(X))


def test_generation_shapes_and_component_control(fitted, data):
    X = data[0]
    assert fitted.sample(7).shape == (7, 1, 8, 8)
    s = fitted.sample(6, layer=3, component=2, random_state=0)
    assert s.shape == (6, 1, 8, 8) and np.all((s >= 0) & (s <= 1))
    grid = fitted.sample_by_component(layer=3, n_rows=4, random_state=0)
    assert grid.shape == (4, 3, 1, 8, 8)
    # within a row only layer 3's component changes; a context sample fixes the other layers
    ctx = fitted.sample_by_component(layer=1, n_rows=2, context=X[0], random_state=0)
    assert ctx.shape == (2, 2, 1, 8, 8)
    trav = fitted.traverse_layer(X[:3], layer=2, n=5, random_state=0)
    assert trav.shape == (3, 5, 1, 8, 8)
    np.testing.assert_array_equal(
        fitted.sample(3, layer=3, component=0, random_state=1),
        fitted.sample(3, layer=3, component=0, random_state=1),
    )
    with pytest.raises(ValueError, match="component must be"):
        fitted.sample(2, layer=3, component=3)
    with pytest.raises(ValueError, match="K = 1"):
        fitted.sample(2, layer=2, component=0)
    with pytest.raises(ValueError, match="layer must be one of"):
        fitted.predict(X, layer=4)


def test_plot_writes_a_figure(fitted, data, tmp_path):
    fig = fitted.plot(data[0][:3], path=tmp_path / "vlac.png")
    assert (tmp_path / "vlac.png").stat().st_size > 0 and fig is not None


def test_plot_labels_components_with_their_majority_class(fitted, data, tmp_path):
    from dendrogen.plots.vlac import component_classes

    X, shape, _ = data
    names = ["vertical", "horizontal", "square", "cross"]
    pred = fitted.predict(X, layer=3)
    expected = []
    for k in range(3):  # brute force: the most frequent class among component k's samples
        members = shape[pred == k]
        expected.append(names[np.bincount(members).argmax()] if members.size else "–")
    assert component_classes(fitted, X, shape, 3, names) == expected
    # the command line's `tree` passes labels and class names: the figure takes both
    fitted.plot(X, shape, path=tmp_path / "labelled.png", class_names=names)
    assert (tmp_path / "labelled.png").stat().st_size > 0
    with pytest.raises(ValueError, match="y must have shape"):
        fitted.plot(X, shape[:-1])


def test_tree_command_draws_a_vlac_model(tmp_path):
    from typer.testing import CliRunner

    from dendrogen.cli import app

    runner = CliRunner()
    common = ["--data", "digits", "--limit", "200"]
    sets = [
        "K=[1,3]",
        "z_dims=[2,2]",
        "schedule.train=10",
        "batch_size=32",
        "arch=mlp",
        "hidden=16",
    ]
    fit = runner.invoke(
        app,
        ["fit", "--model", "vlac", *common, "--out", str(tmp_path / "m")]
        + [arg for s in sets for arg in ("--set", s)],
    )
    assert fit.exit_code == 0, fit.output
    res = runner.invoke(
        app, ["tree", str(tmp_path / "m"), *common, "--out", str(tmp_path / "t.png")]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "t.png").stat().st_size > 0
    out = str(tmp_path / "s.npy")
    res = runner.invoke(
        app,
        ["sample", str(tmp_path / "m"), "--layer", "2", "--component", "1", "-n", "3", "-o", out],
    )
    assert res.exit_code == 0, res.output
    assert np.load(tmp_path / "s.npy").shape == (3, 1, 8, 8)
    res = runner.invoke(app, ["evaluate", str(tmp_path / "m"), *common, "--layer", "2"])
    assert res.exit_code == 0 and "acc_l2" in res.output, res.output


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"K": [1, 2], "z_dims": [2, 2, 2]}, "z_dims"),
        ({"K": [1, 0, 3]}, "K_l must be >= 1"),
        ({"K": 5}, "must be a list"),
        ({"K": [1, 2, 3, 4], "z_dims": [2, 0, 2, 2]}, "z_dims"),
        ({"K": [2, 3], "eval_layer": 3}, "eval_layer"),
        ({"K": [30, 30], "estimator": "exact"}, "max_enumeration"),
        ({"K": [2, 3], "preset": "slow"}, "preset"),
    ],
)
def test_bad_parameters_get_clear_errors(params, match, data):
    with pytest.raises(ValueError, match=match):
        VLAC(**{**TINY, **params}).fit(data[0][:64])


def test_bad_input_gets_clear_errors(fitted, data):
    X = data[0][:64].copy()
    X[3, 0, 2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        VLAC(K=[1, 2], **TINY).fit(X)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        VLAC(K=[1, 2], **TINY).fit(data[0][:64] * 3)
    with pytest.raises(ValueError, match="shape"):
        fitted.predict(np.zeros((4, 1, 7, 7), np.float32))
    with pytest.raises(ValueError, match="fewer than one batch"):
        VLAC(K=[1, 2], **TINY).fit(data[0][:10])
    with pytest.raises(NotFittedError):
        VLAC().predict(data[0][:4])


def test_checkpoint_resume(data, tmp_path):
    X = data[0][:128]
    a = VLAC(K=[1, 2], z_dims=[2, 2], **TINY).fit(X, checkpoint_dir=tmp_path)
    assert (tmp_path / "trainer_state.pt").is_file()  # the folder itself, not a subfolder
    # a second fit finds the finished checkpoint and resumes with no step left: same weights
    b = VLAC(K=[1, 2], z_dims=[2, 2], **TINY).fit(X, checkpoint_dir=tmp_path)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    with pytest.raises(ValueError, match="other settings"):
        VLAC(K=[1, 3], z_dims=[2, 2], **TINY).fit(X, checkpoint_dir=tmp_path)


_SK = {
    "arch": "mlp",
    "hidden": 8,
    "likelihood": "gaussian",
    "schedule": {"train": 5},
    "batch_size": 2,
}
_TOO_SHORT = {"check_clustering": "a 5-step fit cannot separate the blobs (ARI > 0.4)"}
# these checks set n_components=1, and a one-component mixture is no GM-DGM (a clear ValueError)
_ONE_COMPONENT = dict.fromkeys(
    [
        "check_fit2d_1sample",
        "check_fit2d_1feature",
        "check_fit2d_predict1d",
        "check_dont_overwrite_parameters",
    ],
    "sklearn sets n_components=1; GMDGM requires n_components >= 2",
)
#: GM-DGM's ``check_clustering`` (ARI > 0.4 on three standardised 2-D blobs, 50 points) runs on
#: a 300-step fit, about 1 s; ARI over random_state 0-9 (the slow test below prints them):
#: 1 thread 0.57, 0.54, 0.56, 0.73, 0.57, 0.53, 0.56, 0.57, 0.59, 0.57 (min 0.53);
#: 2 threads 0.56, 0.53, 0.56, 0.62, 0.57, 0.58, 0.56, 0.57, 0.67, 0.57 (min 0.53). Most fits
#: keep two blobs in one component (0.53-0.57). VLAC at the same budget is not reliable (one
#: seed in ten scores 0.11-0.21), so its check stays an expected failure.
GMDGM_CLUSTERING = GMDGM(
    n_components=3, z_dim=2, depth=2, random_state=0,
    **{**_SK, "hidden": 32, "schedule": {"train": 300}, "batch_size": 16},
)  # fmt: skip
_SMALL = [
    VLAC(K=[1, 3], z_dims=[2, 2], random_state=0, **_SK),
    VLAE(n_layers=2, z_dims=[2, 2], random_state=0, **_SK),
    GMDGM(n_components=3, z_dim=2, depth=2, random_state=0, **_SK),
]
_EXPECTED_FAILURES = {VLAC: _TOO_SHORT, VLAE: {}, GMDGM: _ONE_COMPONENT}


def _checks():
    for small in _SMALL:
        clustering = GMDGM_CLUSTERING if isinstance(small, GMDGM) else None
        failures = _EXPECTED_FAILURES[type(small)]
        yield from estimator_checks(small, clustering, failures, f"{type(small).__name__}-")


@pytest.mark.parametrize("estimator, check", list(_checks()))
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
def test_gmdgm_check_clustering_configuration_clusters_the_blobs_for_every_seed(threads):
    """The seed table above GMDGM_CLUSTERING: ARI on check_clustering's data, seeds 0-9."""
    ari = ari_over_seeds(GMDGM_CLUSTERING, range(10), threads)
    print(np.round(ari, 2).tolist())
    assert min(ari) > 0.4, ari
