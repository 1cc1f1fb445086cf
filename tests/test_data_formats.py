"""Every loader on small files written here in the real format, and its errors on bad files."""

from __future__ import annotations

import gzip
import pickle
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

import dendrogen.data.base as data_base
from dendrogen.data import (
    DatasetFormatError,
    DatasetNotFoundError,
    get_dataset,
    load_dataset,
    summarize,
)
from dendrogen.data.celeba import CROP_BOX
from dendrogen.data.hierarchies import (
    CELEBA_ATTRIBUTES,
    CIFAR100_SPEC,
    NEWSGROUPS_CLASSES,
    OMNIGLOT5_ALPHABETS,
    coarse_labels_of,
)
from dendrogen.data.idx import read_idx

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No real data set may be found by accident: empty cache, no env var, no system dirs."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / ".cache"))
    monkeypatch.delenv("DENDROGEN_DATA", raising=False)
    monkeypatch.setattr(data_base, "SYSTEM_LOCATIONS", {})


# ---------------------------------------------------------------------------- IDX
def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


def write(path: Path, data: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_mnist(folder: Path, n_train: int = 7, n_test: int = 3, gz: bool = True) -> dict:
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = RNG.integers(0, 10, n, dtype=np.uint8)
        write(folder / f"{prefix}-images-idx3-ubyte", idx_bytes(images), gz)
        write(folder / f"{prefix}-labels-idx1-ubyte", idx_bytes(labels), gz)
        out[prefix] = (images, labels)
    return out


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_gz_and_plain(tmp_path, gz):
    raw = write_mnist(tmp_path / "mnist", gz=gz)
    X, y = load_dataset("mnist", root=tmp_path)
    assert X.shape == (7, 1, 28, 28) and X.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_array_equal(X[:, 0], raw["train"][0] / np.float32(255))
    np.testing.assert_array_equal(y, raw["train"][1])
    Xt, yt = load_dataset("mnist", split="test", root=tmp_path)
    assert Xt.shape == (3, 1, 28, 28)
    np.testing.assert_array_equal(yt, raw["t10k"][1])
    assert 0.0 <= X.min() and X.max() <= 1.0


def test_idx_limit_reads_a_prefix(tmp_path):
    raw = write_mnist(tmp_path, n_train=9)
    X, y = load_dataset("mnist", root=tmp_path, limit=4)
    assert X.shape == (4, 1, 28, 28)
    np.testing.assert_array_equal(y, raw["train"][1][:4])


def test_fashion_mnist_from_files_with_coarse_labels_and_subfolder(tmp_path):
    raw = write_mnist(tmp_path / "fashion-mnist" / "raw", gz=False)
    ds = get_dataset("fashion-mnist", root=tmp_path)
    assert ds.locate() == tmp_path / "fashion-mnist" / "raw"
    _, yc = ds.load("train", labels="coarse")
    np.testing.assert_array_equal(yc, ds.fine_to_coarse[raw["train"][1]])


def test_read_idx_other_dtypes(tmp_path):
    arr = np.arange(-6, 6, dtype=">i4").reshape(3, 4)
    path = write(tmp_path / "x.idx", idx_bytes(arr, 0x0C), gz=False)
    out = read_idx(path)
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_idx_truncated(tmp_path):
    images = RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    path = write(tmp_path / "train-images-idx3-ubyte", idx_bytes(images)[:-100], gz=False)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(5, np.uint8)), gz=False)
    with pytest.raises(DatasetFormatError, match="truncated") as info:
        load_dataset("mnist", root=tmp_path)
    assert str(path) in str(info.value)
    with pytest.raises(DatasetFormatError, match="truncated"):
        read_idx(write(tmp_path / "short", b"\0\0", gz=False))


def test_idx_truncated_gzip_stream(tmp_path):
    data = gzip.compress(idx_bytes(RNG.integers(0, 256, (50, 28, 28), dtype=np.uint8)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetFormatError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_wrong_magic(tmp_path):
    path = write(tmp_path / "x", b"\x08\x03\0\0" + bytes(100), gz=True)
    with pytest.raises(DatasetFormatError, match="magic number") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_trailing_bytes(tmp_path):
    path = write(tmp_path / "x", idx_bytes(np.zeros(3, np.uint8)) + b"\0", gz=False)
    with pytest.raises(DatasetFormatError, match="longer"):
        read_idx(path)


def test_idx_mismatched_counts(tmp_path):
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((4, 28, 28), np.uint8)), True)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(3, np.uint8)), True)
    with pytest.raises(DatasetFormatError, match=r"4 images .* 3 labels"):
        load_dataset("mnist", root=tmp_path)


def test_idx_fashion_mnist_train_size_is_read_with_one_copy(tmp_path):
    # The real train split's shape, independent of Debian's package: one uint8 buffer of the
    # decompressed file plus the float32 result, far under 1 GB.
    n = 60_000
    folder = tmp_path / "fashion-mnist"
    images = np.zeros((n, 28, 28), np.uint8)
    images[::7, 3, 5] = 255
    folder.mkdir()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(images), compresslevel=1)
    )
    write(folder / "train-labels-idx1-ubyte", idx_bytes(np.arange(n, dtype=np.uint8) % 10), True)
    del images
    tracemalloc.start()
    try:
        X, y = load_dataset("fashion-mnist", root=tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert X.shape == (n, 1, 28, 28) and X.dtype == np.float32 and y.dtype == np.int64
    assert X[7, 0, 3, 5] == 1.0 and X[8, 0, 3, 5] == 0.0
    assert peak < 1e9 and peak < X.nbytes + 1.5 * X.nbytes / 4, f"peak {peak / 1e6:.0f} MB"


def test_idx_bad_labels(tmp_path):
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((2, 28, 28), np.uint8)), True)
    path = write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.array([1, 12], np.uint8)), 1)
    with pytest.raises(DatasetFormatError, match="label 12") as info:
        load_dataset("mnist", root=tmp_path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------- CIFAR
def dump(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def cifar_images(n: int) -> np.ndarray:
    return RNG.integers(0, 256, (n, 3072), dtype=np.uint8)


def test_cifar10_batches(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    batches = []
    for i in range(1, 6):
        data, labels = cifar_images(3), [int(v) for v in RNG.integers(0, 10, 3)]
        dump(folder / f"data_batch_{i}", {b"batch_label": b"x", b"data": data, b"labels": labels})
        batches.append((data, labels))
    dump(folder / "test_batch", {b"data": cifar_images(2), b"labels": [0, 9]})
    dump(folder / "batches.meta", {b"label_names": [b"airplane"]})
    X, y = load_dataset("cifar10", root=tmp_path)
    assert X.shape == (15, 3, 32, 32) and X.dtype == np.float32
    expected = np.concatenate([d for d, _ in batches]).reshape(15, 3, 32, 32) / np.float32(255)
    np.testing.assert_array_equal(X, expected)
    np.testing.assert_array_equal(y, [v for _, lab in batches for v in lab])
    X4, _ = load_dataset("cifar10", root=tmp_path, limit=4)  # spans two batches
    np.testing.assert_array_equal(X4, expected[:4])
    assert load_dataset("cifar10", "test", root=tmp_path)[1].tolist() == [0, 9]


def write_cifar100(folder: Path, n: int = 6, consistent: bool = True) -> tuple[np.ndarray, ...]:
    fine = RNG.integers(0, 100, n)
    coarse = coarse_labels_of(CIFAR100_SPEC, 100)[fine]
    if not consistent:
        coarse = (coarse + 1) % 20
    for split in ("train", "test"):
        dump(
            folder / split,
            {b"data": cifar_images(n), b"fine_labels": fine.tolist(),
             b"coarse_labels": coarse.tolist(), b"filenames": [b"a"] * n},
        )  # fmt: skip
    return fine, coarse


def test_cifar100_fine_and_coarse(tmp_path):
    fine, coarse = write_cifar100(tmp_path / "cifar-100-python")
    ds = get_dataset("cifar100", root=tmp_path)
    X, y = ds.load("train")
    assert X.shape == (6, 3, 32, 32)
    np.testing.assert_array_equal(y, fine)
    np.testing.assert_array_equal(ds.load("test", labels="coarse")[1], coarse)
    assert len(ds.classes) == 100 and len(ds.coarse_classes) == 20


def test_cifar100_inconsistent_coarse_labels(tmp_path):
    write_cifar100(tmp_path, consistent=False)
    with pytest.raises(DatasetFormatError, match="super-class"):
        load_dataset("cifar100", root=tmp_path)


def test_cifar_missing_key_and_bad_shape(tmp_path):
    dump(tmp_path / "test", {b"data": cifar_images(2), b"coarse_labels": [0, 1]})
    with pytest.raises(DatasetFormatError, match="missing key 'fine_labels'") as info:
        load_dataset("cifar100", "test", root=tmp_path)
    assert str(tmp_path / "test") in str(info.value)
    dump(tmp_path / "test", {b"data": np.zeros((2, 10), np.uint8), b"fine_labels": [0, 1]})
    with pytest.raises(DatasetFormatError, match="3072"):
        load_dataset("cifar100", "test", root=tmp_path)


def test_cifar_mismatched_image_and_label_counts(tmp_path):
    dump(tmp_path / "test_batch", {b"data": cifar_images(3), b"labels": [0, 1]})
    with pytest.raises(DatasetFormatError, match="3 images but 2 'labels'") as info:
        load_dataset("cifar10", "test", root=tmp_path)
    assert str(tmp_path / "test_batch") in str(info.value)
    dump(tmp_path / "test", {b"data": cifar_images(2), b"fine_labels": [0, 1],
                             b"coarse_labels": [4]})  # fmt: skip
    with pytest.raises(DatasetFormatError, match="2 images but 1 'coarse_labels'"):
        load_dataset("cifar100", "test", root=tmp_path)


def test_cifar_truncated_batch(tmp_path):
    dump(tmp_path / "test_batch", {b"data": cifar_images(4), b"labels": [0, 1, 2, 3]})
    data = (tmp_path / "test_batch").read_bytes()
    (tmp_path / "test_batch").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetFormatError, match="CIFAR pickle"):
        load_dataset("cifar10", "test", root=tmp_path)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar_pickle_cannot_run_code(tmp_path, capsys):
    dump(tmp_path / "test_batch", {b"data": _Evil(), b"labels": []})
    with pytest.raises(DatasetFormatError, match="refusing"):
        load_dataset("cifar10", "test", root=tmp_path)
    assert "pwned" not in capsys.readouterr().out
    (tmp_path / "test_batch").write_bytes(b"not a pickle at all")
    with pytest.raises(DatasetFormatError, match="CIFAR pickle"):
        load_dataset("cifar10", "test", root=tmp_path)


# ---------------------------------------------------------------------------- SVHN
def test_svhn_mat(tmp_path):
    raw = RNG.integers(0, 256, (32, 32, 3, 5), dtype=np.uint8)
    labels = np.array([[10], [1], [2], [10], [9]], dtype=np.uint8)
    scipy.io.savemat(tmp_path / "train_32x32.mat", {"X": raw, "y": labels})
    X, y = load_dataset("svhn", root=tmp_path)
    assert X.shape == (5, 3, 32, 32) and X.dtype == np.float32
    np.testing.assert_array_equal(X[1], raw[..., 1].transpose(2, 0, 1) / np.float32(255))
    assert y.tolist() == [0, 1, 2, 0, 9]
    scipy.io.savemat(tmp_path / "extra_32x32.mat", {"X": raw[..., :2], "y": labels[:2]})
    assert load_dataset("svhn", "extra", root=tmp_path)[0].shape == (2, 3, 32, 32)


def test_svhn_bad_mat(tmp_path):
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(DatasetFormatError, match="missing variable 'y'"):
        load_dataset("svhn", "test", root=tmp_path)
    (tmp_path / "test_32x32.mat").write_bytes(b"garbage" * 30)
    with pytest.raises(DatasetFormatError, match=r"test_32x32\.mat"):
        load_dataset("svhn", "test", root=tmp_path)


def test_svhn_mismatched_counts_labels_and_truncation(tmp_path):
    path = tmp_path / "test_32x32.mat"
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, 3), np.uint8), "y": np.array([[1], [2]])})
    with pytest.raises(DatasetFormatError, match="3 images but 2 labels"):
        load_dataset("svhn", "test", root=tmp_path)
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[0], [2]])})
    with pytest.raises(DatasetFormatError, match=r"integers 1\.\.10"):
        load_dataset("svhn", "test", root=tmp_path)
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1], [2]])})
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DatasetFormatError, match=r"test_32x32\.mat"):
        load_dataset("svhn", "test", root=tmp_path)


# ---------------------------------------------------------------------------- Omniglot
def write_drawings(folder: Path, alphabet: str, n_chars: int, n_draw: int) -> None:
    for c in range(n_chars):
        char_dir = folder / alphabet / f"character{c + 1:02d}"
        char_dir.mkdir(parents=True)
        for d in range(n_draw):
            img = np.ones((105, 105), dtype=bool)  # white background, black stroke
            img[20 + 5 * c : 30 + 5 * c, 10 + d : 90] = False
            Image.fromarray(img).save(char_dir / f"{c:04d}_{d:02d}.png")


def test_omniglot_folders(tmp_path):
    root = tmp_path / "omniglot"
    write_drawings(root / "images_background", "Braille", 2, 2)
    write_drawings(root / "images_background", "Latin", 1, 2)
    write_drawings(root / "images_evaluation", "Tengwar", 1, 3)
    ds = get_dataset("omniglot", root=tmp_path)
    X, y = ds.load("train")
    assert X.shape == (6, 1, 28, 28) and X.dtype == np.float32
    assert X.mean() > 0.5 and X.max() == 1.0  # not inverted: white background stays 1
    assert ((X > 0) & (X < 1)).any()  # antialiased: stroke edges are gray, not hard 0/1
    assert [ds.classes[k] for k in y] == ["Braille"] * 4 + ["Latin"] * 2
    assert [ds.classes[k] for k in ds.load("test")[1]] == ["Tengwar"] * 3


def test_omniglot_unknown_alphabet(tmp_path):
    write_drawings(tmp_path / "images_background", "Braile", 1, 1)
    with pytest.raises(DatasetFormatError, match="did you mean 'Braille'"):
        load_dataset("omniglot", root=tmp_path)


def test_omniglot5_split_by_character(tmp_path):
    for alphabet in OMNIGLOT5_ALPHABETS:
        folder = "images_background" if alphabet in ("Braille", "Bengali") else "images_evaluation"
        write_drawings(tmp_path / folder, alphabet, 2, 5)
    write_drawings(tmp_path / "images_background", "Latin", 1, 5)  # not one of the five
    ds = get_dataset("omniglot5", root=tmp_path)
    Xtr, ytr = ds.load("train")
    Xte, yte = ds.load("test")
    assert Xtr.shape == (40, 1, 28, 28) and Xte.shape == (10, 1, 28, 28)
    assert np.bincount(ytr).tolist() == [8] * 5 and np.bincount(yte).tolist() == [2] * 5
    ctr, cte = ds.load("train", labels="character")[1], ds.load("test", labels="character")[1]
    assert np.bincount(ctr).tolist() == [4] * 10 and np.bincount(cte).tolist() == [1] * 10
    assert len(ds.class_names("character")) == 10
    # The same split every time.
    np.testing.assert_array_equal(ds.load("test")[0], Xte)
    assert ds.classes == OMNIGLOT5_ALPHABETS


def test_omniglot5_missing_alphabet(tmp_path):
    write_drawings(tmp_path / "images_background", "Braille", 1, 2)
    (tmp_path / "images_evaluation").mkdir()
    with pytest.raises(DatasetFormatError, match="Glagolitic"):
        load_dataset("omniglot5", root=tmp_path)


# ---------------------------------------------------------------------------- 20 Newsgroups
def write_news(root: Path, split: str, docs: dict[str, list[str]]) -> None:
    for group, texts in docs.items():
        folder = root / f"20news-bydate-{split}" / group
        folder.mkdir(parents=True)
        for i, text in enumerate(texts):
            (folder / str(1000 + i)).write_bytes(text.encode("latin-1"))


def test_newsgroups_tfidf(tmp_path):
    root = tmp_path / "20news_home"
    write_news(root, "train", {
        "sci.space": ["rocket orbit moon launch", "orbit satellite launch"],
        "rec.autos": ["car engine wheel", "engine oil car caf\xe9"],
        "alt.atheism": ["god belief argument"],
    })  # fmt: skip
    write_news(root, "test", {"sci.space": ["moon rocket"], "rec.autos": ["zebra unicorn"]})
    ds = get_dataset("20newsgroups", root=tmp_path)
    X, y = ds.load("train")
    assert X.shape == (5, 2000) and X.dtype == np.float32 and ds.kind == "vector"
    assert X.min() >= 0.0 and X.max() <= 1.0
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
    assert [ds.classes[k] for k in y] == ["alt.atheism"] + ["rec.autos"] * 2 + ["sci.space"] * 2
    Xt, yt = ds.load("test")
    assert Xt.shape == (2, 2000)
    assert [ds.classes[k] for k in yt] == ["rec.autos", "sci.space"]
    assert np.abs(Xt[0]).sum() == 0.0  # words never seen in train have no feature
    assert Xt[1].sum() > 0
    coarse = ds.load("test", labels="coarse")[1]
    assert [ds.coarse_classes[k] for k in coarse] == ["recreation", "science"]
    assert ds.classes == NEWSGROUPS_CLASSES


def test_newsgroups_unknown_group(tmp_path):
    write_news(tmp_path, "train", {"sci.spice": ["a b c"]})
    with pytest.raises(DatasetFormatError, match=r"sci\.spice"):
        load_dataset("20newsgroups", root=tmp_path)


def test_newsgroups_test_needs_train(tmp_path):
    write_news(tmp_path / "20newsgroups", "test", {"sci.space": ["a b c"]})
    with pytest.raises(DatasetNotFoundError, match="lacks 20news-bydate-train"):
        load_dataset("20newsgroups", "test", root=tmp_path)


# ---------------------------------------------------------------------------- CelebA
def write_celeba(root: Path, ext: str = "png", n: int = 5) -> np.ndarray:
    folder = root / "img_align_celeba"
    folder.mkdir(parents=True)
    left, top, right, bottom = CROP_BOX
    for i in range(n):
        img = np.zeros((218, 178, 3), dtype=np.uint8)
        img[..., 0] = 255  # red outside the crop box
        img[top:bottom, left:right] = (0, 40 * i, 200)
        Image.fromarray(img).save(folder / f"{i + 1:06d}.{ext}")
    attrs = RNG.choice([-1, 1], size=(n, 40))
    lines = [str(n), " ".join(CELEBA_ATTRIBUTES)]
    lines += [f"{i + 1:06d}.jpg " + " ".join(f"{v:2d}" for v in row) for i, row in enumerate(attrs)]
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    parts = [0, 0, 1, 2, 0][:n]
    (root / "list_eval_partition.txt").write_text(
        "".join(f"{i + 1:06d}.jpg {p}\n" for i, p in enumerate(parts))
    )
    return (attrs > 0).astype(np.int64)


def test_celeba_crop_resize_and_attributes(tmp_path):
    attrs = write_celeba(tmp_path / "celeba")
    ds = get_dataset("celeba", root=tmp_path)
    X, y = ds.load("train")
    assert X.shape == (3, 3, 64, 64) and X.dtype == np.float32
    # Only the inside of the crop box survives: no red anywhere, the box color everywhere.
    np.testing.assert_allclose(X[:, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(X[:, 2], 200 / 255, atol=1e-6)
    np.testing.assert_allclose(X[1, 1], 40 / 255, atol=1e-6)
    train_rows = [0, 1, 4]
    male = CELEBA_ATTRIBUTES.index("Male")
    np.testing.assert_array_equal(y, attrs[train_rows, male])
    smiling = ds.load("train", labels="Smiling")[1]
    np.testing.assert_array_equal(smiling, attrs[train_rows, CELEBA_ATTRIBUTES.index("Smiling")])
    A, names = ds.load_attributes("train")
    assert names == CELEBA_ATTRIBUTES and A.shape == (3, 40)
    assert ds.n_samples("valid") == 1 and ds.load("test")[0].shape == (1, 3, 64, 64)
    np.testing.assert_array_equal(ds.load_labels("train"), y)
    assert ds.class_names("Smiling") == ("not Smiling", "Smiling")


def test_celeba_jpg_and_lazy_images(tmp_path):
    write_celeba(tmp_path, ext="jpg")
    ds = get_dataset("celeba", root=tmp_path)
    images = ds.images("train")
    assert len(images) == 3 and images[0].shape == (3, 64, 64)
    assert images[1:].shape == (2, 3, 64, 64)
    assert images[np.array([2, 0])].shape == (2, 3, 64, 64)
    out = np.lib.format.open_memmap(tmp_path / "cache.npy", "w+", np.float32, (3, 3, 64, 64))
    images.to_array(out=out)
    np.testing.assert_allclose(out, ds.load("train")[0])
    assert ds.load("train", limit=2)[0].shape == (2, 3, 64, 64)


def test_celeba_bad_files(tmp_path):
    write_celeba(tmp_path, n=2)
    Image.new("RGB", (100, 100)).save(tmp_path / "img_align_celeba" / "000001.png")
    with pytest.raises(DatasetFormatError, match="too small for the crop"):
        load_dataset("celeba", root=tmp_path)
    (tmp_path / "list_attr_celeba.txt").write_text("2\nMale\n000001.jpg 1\n")
    with pytest.raises(DatasetFormatError, match="declares 2 images but lists 1"):
        load_dataset("celeba", root=tmp_path)


def test_celeba_summary_reads_labels_only_for_counts(tmp_path):
    attrs = write_celeba(tmp_path, n=5)
    summary = summarize("celeba", root=tmp_path, limit=2)
    assert summary.shape == (3, 3, 64, 64) and summary.range_samples == 2
    assert sum(summary.counts.values()) == 3
    assert summary.counts.get(1, 0) == int(attrs[[0, 1, 4], CELEBA_ATTRIBUTES.index("Male")].sum())
    assert "(first 2 samples)" in summary.to_text()
