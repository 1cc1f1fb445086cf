"""Python API arguments: ``sample``/``predict`` selectors are checked (never truncated), flat
images get a message naming the expected sample shape, and an explicit data ``root`` is the only
place searched."""

from __future__ import annotations

import numpy as np
import pytest

from dendrogen import HTVAE, VLAC, TreeVAE
from dendrogen.data import load_dataset
from dendrogen.data.errors import DatasetNotFoundError

BAD_COUNTS = [2.5, "3", 0, -1, True, None, [2]]


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    X = rng.random((64, 1, 8, 8)).astype(np.float32) * 0.3
    X[32:] += 0.7 * (rng.random((1, 1, 8, 8)) > 0.5)
    return np.clip(X, 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def treevae(X):
    return TreeVAE(max_leaves=3, max_depth=2, latent_dim=2, width=8, batch_size=16,
                   schedule=dict(initial=10, subtree=5, intermediate=0, finetune=5), preset="tiny",
                   min_leaf_fraction=0.0, random_state=0, verbose=False).fit(X)  # fmt: skip


@pytest.fixture(scope="module")
def htvae(X):
    return HTVAE(map_sizes=((2, 2), (1, 2)), latent_dim=4, widths=(8, 8), preset="tiny",
                 schedule={"train": 2}, batch_size=32, random_state=0,
                 verbose=False).fit(X)  # fmt: skip


@pytest.fixture(scope="module")
def vlac(X):
    return VLAC(K=[1, 3], z_dims=[2, 2], arch="mlp", hidden=8, preset="tiny",
                schedule={"train": 5}, batch_size=32, random_state=0,
                verbose=False).fit(X)  # fmt: skip


@pytest.mark.parametrize("n", BAD_COUNTS)
@pytest.mark.parametrize("name", ["treevae", "htvae", "vlac"])
def test_sample_count_must_be_a_positive_integer(request, name, n):
    est = request.getfixturevalue(name)
    with pytest.raises((ValueError, TypeError), match="n_samples must be a positive integer"):
        est.sample(n)
    assert est.sample(np.int64(2)).shape[0] == 2


@pytest.mark.parametrize("leaf", ["x", 1.5, 1.0, True, -1, 99])
def test_treevae_leaf_is_checked_not_truncated(treevae, leaf):
    with pytest.raises((ValueError, TypeError), match="leaf must be an integer in 0"):
        treevae.sample(2, leaf=leaf)


@pytest.mark.parametrize("node", ["x", 1.5, True, 99, None])
def test_treevae_transform_node_is_checked(treevae, X, node):
    with pytest.raises((ValueError, TypeError), match="node must be 'root', 'leaf' or a node id"):
        treevae.transform(X[:2], node=node)
    assert treevae.transform(X[:2], node=np.int64(treevae.leaves_[0])).shape == (2, 2)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"level": "x"}, "level must be"), ({"level": 1.5}, "level must be"),
    ({"level": 9}, "level must be"), ({"code": 1.5}, "code must be"),
    ({"code": "0"}, "code must be"), ({"code": 99}, "code must be"),
])  # fmt: skip
def test_htvae_level_and_code_are_checked(htvae, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        htvae.sample(2, **kwargs)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"layer": "x"}, "layer must be"), ({"layer": 1.5}, "layer must be"),
    ({"layer": 2.0}, "layer must be"), ({"layer": 7}, "layer must be"),
    ({"layer": 2, "component": 1.5}, "component must be"),
    ({"layer": 2, "component": "x"}, "component must be"),
    ({"layer": 2, "component": 3}, "component must be"),
])  # fmt: skip
def test_vlac_layer_and_component_are_checked(vlac, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        vlac.sample(2, **kwargs)
    assert vlac.sample(2, layer=2, component=np.int64(1)).shape == (2, 1, 8, 8)


@pytest.mark.parametrize("name", ["treevae", "htvae", "vlac"])
def test_flat_images_get_a_reshape_hint(request, X, name):
    est = request.getfixturevalue(name)
    with pytest.raises(ValueError, match=r"samples of shape \(64,\).*\(1, 8, 8\).*reshape") as e:
        est.predict(X.reshape(len(X), -1))
    assert "features" not in str(e.value)
    with pytest.raises(ValueError, match=r"shape \(1, 4, 4\).*\(1, 8, 8\)"):
        est.predict(X[:, :, :4, :4])


@pytest.mark.parametrize("name", ["digits", "fashion-mnist", "mnist"])
def test_an_explicit_root_is_the_only_place_searched(tmp_path, monkeypatch, name):
    monkeypatch.setenv("DENDROGEN_DATA", str(tmp_path / "env"))
    with pytest.raises(DatasetNotFoundError, match=r"/no/such/dir.*does not exist.*only there"):
        load_dataset(name, root="/no/such/dir")
    empty = tmp_path / "empty"
    empty.mkdir()
    if name != "digits":
        with pytest.raises(DatasetNotFoundError) as info:
            load_dataset(name, root=empty)
        assert "only root= is searched" in str(info.value)
        assert all(str(p).startswith(str(empty)) for p in info.value.places)
