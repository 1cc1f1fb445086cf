"""The data layer's API: names, search places, errors, hierarchies, user data, digits."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dendrogen.data.base as data_base
from dendrogen.data import (
    DATASETS,
    Dataset,
    DatasetFormatError,
    DatasetNotFoundError,
    UnknownDatasetError,
    from_arrays,
    get_dataset,
    list_datasets,
    load_dataset,
    load_file,
    load_image_folder,
)
from dendrogen.data.hierarchies import (
    CIFAR100_SPEC,
    FASHION_MNIST_CLASSES,
    chain_hierarchy,
    coarse_labels_of,
    flat_hierarchy,
    hierarchy_from_spec,
)
from dendrogen.tree import Tree

FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not (FASHION_SYSTEM_DIR / "t10k-images-idx3-ubyte.gz").exists(),
    reason="Debian's dataset-fashion-mnist is not installed",
)


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """Deterministic search places: a private HOME, no $DENDROGEN_DATA, no system dirs."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / ".cache"))
    monkeypatch.delenv("DENDROGEN_DATA", raising=False)
    monkeypatch.setattr(data_base, "SYSTEM_LOCATIONS", {})
    return tmp_path


def write_tiny_mnist(folder: Path, n: int = 4) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        for kind, shape in (("images-idx3", (n, 28, 28)), ("labels-idx1", (n,))):
            head = struct.pack(f">BBBB{len(shape)}I", 0, 0, 8, len(shape), *shape)
            data = head + np.zeros(shape, np.uint8).tobytes()
            (folder / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(data))


# ---------------------------------------------------------------------------- real data
@needs_fashion
def test_real_fashion_mnist_test_split():
    X, y = load_dataset("fashion-mnist", split="test")
    assert X.shape == (10000, 1, 28, 28) and X.dtype == np.float32
    assert y.dtype == np.int64 and len(np.unique(y)) == 10
    assert X.min() == 0.0 and X.max() == 1.0


@needs_fashion
def test_real_fashion_mnist_train_memory_under_1gb():
    tracemalloc.start()  # numpy reports its allocations to tracemalloc
    try:
        X, _ = load_dataset("fashion-mnist", split="train")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert X.shape == (60000, 1, 28, 28)
    assert peak < 1e9, f"peak {peak / 1e6:.0f} MB"
    assert peak < 2 * X.nbytes  # float32 result + one uint8 buffer, nothing more


# ---------------------------------------------------------------------------- search places
def test_not_found_lists_every_place_and_how_to_get_it(isolated, monkeypatch):
    empty = isolated / "empty"
    empty.mkdir()
    monkeypatch.setenv("DENDROGEN_DATA", str(isolated / "env"))
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion-mnist", split="test", root=empty)
    err = info.value
    assert isinstance(err, FileNotFoundError)
    message = str(err)
    for place in (empty, empty / "fashion-mnist"):
        assert str(place) in message
        assert place in err.places
    assert "[system]" not in message and "[$DENDROGEN_DATA]" not in message  # root= only
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion-mnist", split="test")
    message = str(info.value)
    for place in (
        isolated / "env" / "fashion-mnist",
        isolated / "home" / ".cache" / "dendrogen" / "fashion-mnist",
    ):
        assert str(place) in message
        assert place in info.value.places
    assert "apt-get install dataset-fashion-mnist" in message
    assert "t10k-images-idx3-ubyte" in message


def test_system_location_is_searched(isolated, monkeypatch):
    write_tiny_mnist(isolated / "sys")
    monkeypatch.setattr(data_base, "SYSTEM_LOCATIONS", {"mnist": (str(isolated / "sys"),)})
    assert get_dataset("mnist").locate("test") == isolated / "sys"


def test_search_order(isolated, monkeypatch):
    for where in ("root/mnist", "env/mnist", "home/.cache/dendrogen/mnist"):
        write_tiny_mnist(isolated / where)
    monkeypatch.setenv("DENDROGEN_DATA", str(isolated / "env"))
    assert get_dataset("mnist", root=isolated / "root").locate() == isolated / "root/mnist"
    assert get_dataset("mnist").locate() == isolated / "env/mnist"
    monkeypatch.delenv("DENDROGEN_DATA")
    assert get_dataset("mnist").locate() == isolated / "home/.cache/dendrogen/mnist"
    assert load_dataset("mnist")[0].shape == (4, 1, 28, 28)


def test_incomplete_copy_is_reported(isolated):
    write_tiny_mnist(isolated / "mnist")
    (isolated / "mnist" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match="lacks train-labels-idx1-ubyte"):
        load_dataset("mnist", root=isolated)


# ---------------------------------------------------------------------------- names and options
def test_unknown_name_suggests_close_names(isolated):
    with pytest.raises(UnknownDatasetError, match="Did you mean 'fashion-mnist'") as info:
        load_dataset("fashon-mnist")
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnknownDatasetError, match="cifar10"):
        get_dataset("cifar1O")


def test_aliases_and_case():
    assert get_dataset("Fashion_MNIST").name == "fashion-mnist"
    assert get_dataset("CIFAR-100").name == "cifar100"
    assert get_dataset("omniglot-5").name == "omniglot5"
    assert list_datasets() == list(DATASETS)


def test_bad_split_labels_and_limit():
    with pytest.raises(ValueError, match="did you mean 'test'"):
        load_dataset("digits", split="tset")
    with pytest.raises(ValueError, match="no super-classes"):
        load_dataset("digits", labels="coarse")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="limit"):
            load_dataset("digits", limit=bad)


# ---------------------------------------------------------------------------- digits
def test_digits_fixed_stratified_split():
    X, y = load_dataset("digits")
    Xt, yt = load_dataset("digits", split="test")
    assert X.shape == (1437, 1, 8, 8) and Xt.shape == (360, 1, 8, 8)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_allclose(np.bincount(yt) / 360, np.bincount(y) / 1437, atol=0.01)
    X2, _ = load_dataset("digits")
    np.testing.assert_array_equal(X, X2)
    from sklearn.datasets import load_digits

    full = load_digits().images.reshape(1797, -1)
    both = np.concatenate([X.reshape(len(X), -1), Xt.reshape(len(Xt), -1)]) * 16
    assert sorted(map(bytes, both.astype(np.uint8))) == sorted(map(bytes, full.astype(np.uint8)))
    assert load_dataset("digits", limit=5)[0].shape == (5, 1, 8, 8)
    assert get_dataset("digits").is_available()


# ---------------------------------------------------------------------------- metadata
@pytest.mark.parametrize("name", list(DATASETS))
def test_every_known_dataset_has_classes_and_hierarchy(name):
    ds = get_dataset(name)
    assert isinstance(ds, Dataset) and ds.description and ds.sample_shape
    assert ds.kind in ("image", "vector", "sequence")
    assert len(ds.classes) == ds.n_classes >= 2
    tree = ds.hierarchy
    assert isinstance(tree, Tree)
    assert sorted(tree.leaves) == list(range(ds.n_classes))
    assert all(tree.attrs(k)["name"] == ds.classes[k] for k in range(ds.n_classes))
    if name != "digits":
        assert ds.how_to_get
    if ds.coarse_classes is not None:
        mapping = ds.fine_to_coarse
        assert mapping.shape == (ds.n_classes,)
        assert set(mapping.tolist()) == set(range(len(ds.coarse_classes)))
        coarse_tree = ds.hierarchy_for("coarse")
        assert sorted(coarse_tree.leaves) == list(range(len(ds.coarse_classes)))
        # A class and its super-class: the coarse leaf is the parent of the fine leaf.
        for k in range(ds.n_classes):
            parent = tree.parent(k)
            assert tree.attrs(parent)["name"] == ds.coarse_classes[mapping[k]]


def test_known_class_counts():
    counts = {name: get_dataset(name).n_classes for name in DATASETS}
    assert counts == {
        "digits": 10, "mnist": 10, "fashion-mnist": 10, "cifar10": 10, "cifar100": 100,
        "svhn": 10, "omniglot": 50, "omniglot5": 5, "20newsgroups": 20, "celeba": 2,
        "nuisance-digits": 10,
    }  # fmt: skip
    assert len(get_dataset("cifar100").coarse_classes) == 20
    assert get_dataset("fashion-mnist").classes == FASHION_MNIST_CLASSES


def test_cifar100_super_classes_match_the_published_map():
    # The usual "sparse2coarse" table, typed in independently of the hierarchy spec.
    published = [
        4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13,
        15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4,
        17, 4, 2, 0, 17, 4, 18, 17, 10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9,
        13, 15, 13, 16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
    ]  # fmt: skip
    assert coarse_labels_of(CIFAR100_SPEC, 100).tolist() == published


def test_fashion_hierarchy_distances():
    tree = get_dataset("fashion-mnist").hierarchy
    assert tree.max_depth == 3
    assert tree.distance(0, 6) == 2  # T-shirt, Shirt: light tops
    assert tree.distance(0, 2) == 4  # T-shirt, Pullover: both clothes
    assert tree.distance(0, 9) == 6  # T-shirt, Ankle boot
    distances = {tree.distance(a, b) for a in range(10) for b in range(10)}
    assert distances == {0, 2, 4, 6}


def test_mnist_hierarchy_variants():
    ds = get_dataset("mnist")
    chain = ds.hierarchy
    assert {chain.distance(a, b) for a in range(10) for b in range(a + 1, 10)} == {6}
    flat = ds.hierarchy_for(variant="flat")
    assert {flat.distance(a, b) for a in range(10) for b in range(a + 1, 10)} == {2}
    assert Tree.from_json(chain.to_json()) == chain
    with pytest.raises(ValueError, match="variant"):
        ds.hierarchy_for(variant="deep")


def test_hierarchy_builders_validate():
    names = ["a", "b", "c"]
    with pytest.raises(ValueError, match="twice"):
        hierarchy_from_spec({"x": [0, 1], "y": [1, 2]}, names)
    with pytest.raises(ValueError, match="missing"):
        hierarchy_from_spec({"x": [0, 1]}, names)
    with pytest.raises(ValueError, match="outside"):
        hierarchy_from_spec([0, 1, 5], names)
    tree = flat_hierarchy(names)
    assert tree.root == 3 and tree.children(3) == [0, 1, 2]
    assert chain_hierarchy(names, depth=1) == tree


# ---------------------------------------------------------------------------- user arrays
def test_from_arrays_conversions():
    X, y = from_arrays(np.full((3, 2), 255, np.uint8), [0, 1, 1])
    assert X.dtype == np.float32 and X.max() == 1.0 and y.dtype == np.int64
    X, y = from_arrays(np.array([[5.0, -3.0]]))  # no [0, 1] requirement for user data
    assert y is None and X.dtype == np.float32 and X.min() == -3.0
    X, y = from_arrays(np.ones((2, 2, 5)), np.array([1.0, 2.0]))
    assert X.shape == (2, 2, 5) and y.tolist() == [1, 2]
    assert from_arrays(np.ones((2, 3), bool), np.array([[0], [1]]))[1].shape == (2,)
    already = np.zeros((2, 2), np.float32)
    assert from_arrays(already)[0] is already  # no copy when nothing needs converting


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.array([[1.0, np.nan]]), None, "NaN at index \\(0, 1\\)"),
        (np.array([[np.inf]]), None, "infinity"),
        (np.array([[1e300]]), None, "beyond float32"),
        (np.zeros(4), None, "reshape"),
        (np.zeros((0, 3)), None, "empty"),
        (np.zeros((1, 1, 1, 1, 1)), None, "at most 4"),
        (np.array([["a"]]), None, "numeric"),
        (np.zeros((3, 2)), [0, 1], "3 samples but y has 2"),
        (np.zeros((2, 2)), ["a", "b"], "LabelEncoder"),
        (np.zeros((2, 2)), [0.5, 1], "integer"),
        (np.zeros((2, 2)), np.zeros((2, 2)), "shape \\(N,\\)"),
    ],
)
def test_from_arrays_errors(X, y, match):
    with pytest.raises(ValueError, match=match):
        from_arrays(X, y)


def test_npy_npz_csv_files(tmp_path):
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = np.array([0, 1, 0, 2])
    np.save(tmp_path / "a.npy", X)
    np.savez(tmp_path / "b.npz", X=X, y=y)
    np.savez(tmp_path / "c.npz", features=X)
    np.savetxt(tmp_path / "d.csv", np.column_stack([X, y]), delimiter=",", header="f1,f2,f3,label",
               comments="")  # fmt: skip
    np.savetxt(tmp_path / "e.csv", X, delimiter=",")
    (tmp_path / "f.csv").write_text("y,a\n1,0.5\n0,0.25\n")
    assert load_file(tmp_path / "a.npy")[1] is None
    for name in ("a.npy", "b.npz", "c.npz", "d.csv", "e.csv"):
        Xf, yf = load_file(tmp_path / name)
        np.testing.assert_array_equal(Xf, X.astype(np.float32))
        if name in ("b.npz", "d.csv"):
            np.testing.assert_array_equal(yf, y)
    Xf, yf = load_file(tmp_path / "f.csv")
    assert Xf.tolist() == [[0.5], [0.25]] and yf.tolist() == [1, 0]
    # Paths go through load_dataset too; unlabelled files get -1.
    Xd, yd = load_dataset(str(tmp_path / "a.npy"))
    assert Xd.shape == (4, 3) and yd.tolist() == [-1] * 4
    assert load_dataset(tmp_path / "b.npz")[1].tolist() == y.tolist()
    ds = get_dataset(tmp_path / "b.npz")
    assert ds.kind == "vector" and ds.classes == ("0", "1", "2") and ds.n_classes == 3
    with pytest.raises(ValueError, match="split"):
        load_dataset(tmp_path / "b.npz", split="test")


def test_csv_with_nan_names_file_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n1,2,0\n3,nan,1\n")
    with pytest.raises(DatasetFormatError, match="line 3, in b") as info:
        load_file(path)
    assert str(path) in str(info.value)
    path.write_text("a,b\n1,\n")
    with pytest.raises(DatasetFormatError, match=r"bad\.csv"):
        load_file(path)
    path.write_text("")
    with pytest.raises(DatasetFormatError, match="empty"):
        load_file(path)
    path.write_text("a,b,label\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the error alone, no numpy warning beside it
        with pytest.raises(DatasetFormatError, match="no data rows"):
            load_file(path)


def test_bad_user_files(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 2)), b=np.zeros((2, 2)))
    with pytest.raises(DatasetFormatError, match="name it 'X'"):
        load_file(tmp_path / "two.npz")
    np.save(tmp_path / "nan.npy", np.array([[np.nan]]))
    with pytest.raises(DatasetFormatError, match=r"nan\.npy: X holds NaN"):
        load_file(tmp_path / "nan.npy")
    (tmp_path / "x.txt").write_text("1,2")
    with pytest.raises(DatasetFormatError, match="unsupported file type"):
        load_file(tmp_path / "x.txt")
    (tmp_path / "broken.npy").write_bytes(b"nope")
    with pytest.raises(DatasetFormatError, match=r"broken\.npy"):
        load_file(tmp_path / "broken.npy")
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "missing.npz")


# ---------------------------------------------------------------------------- image folders
def test_image_folder(tmp_path):
    for k, cls in enumerate(("cat", "dog")):
        (tmp_path / cls).mkdir()
        for i in range(2 + k):
            Image.new("RGB", (6, 4), (50 * i, 100, 200)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "dog" / "notes.txt").write_text("ignored")
    X, y, names = load_image_folder(tmp_path)
    assert X.shape == (5, 3, 4, 6) and X.dtype == np.float32
    assert y.tolist() == [0, 0, 1, 1, 1] and names == ("cat", "dog")
    np.testing.assert_allclose(X[1, :, 0, 0], np.array([50, 100, 200]) / 255, atol=1e-6)
    Xd, _ = load_dataset(tmp_path)
    np.testing.assert_array_equal(Xd, X)
    assert get_dataset(tmp_path).classes == ("cat", "dog")
    assert load_image_folder(tmp_path, size=(3, 3))[0].shape == (5, 3, 3, 3)


def test_gray_image_folder_and_errors(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("L", (5, 5), 255).save(tmp_path / "a" / "0.png")
    Image.new("L", (5, 5), 0).save(tmp_path / "a" / "1.jpg")
    X, _, _ = load_image_folder(tmp_path)
    assert X.shape == (2, 1, 5, 5) and X[0].min() == 1.0
    Image.new("L", (7, 5)).save(tmp_path / "a" / "2.png")
    with pytest.raises(DatasetFormatError, match="pass a size"):
        load_image_folder(tmp_path)
    (tmp_path / "b").mkdir()
    with pytest.raises(DatasetFormatError, match="holds no images") as info:
        load_image_folder(tmp_path)
    assert str(tmp_path / "b") in str(info.value)
    (tmp_path / "b" / "bad.png").write_bytes(b"not an image")
    with pytest.raises(DatasetFormatError, match=r"bad\.png"):
        load_image_folder(tmp_path, size=(5, 5))


def test_empty_folder(tmp_path):
    with pytest.raises(DatasetFormatError, match="no class sub-folders") as info:
        load_dataset(tmp_path)
    assert str(tmp_path) in str(info.value)
