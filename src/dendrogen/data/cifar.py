"""CIFAR-10 and CIFAR-100 in their "python version" pickle batches.

The pickle batches are the one place the library unpickles: pickle *is* the distributed file
format. They are read with ``encoding="bytes"`` (they were written by Python 2) through an
unpickler that only resolves the few numpy names an array needs, so a tampered file cannot run
code; the keys and array shapes are then validated.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from dendrogen.data.base import Dataset
from dendrogen.data.errors import DatasetFormatError
from dendrogen.data.hierarchies import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    CIFAR100_SPEC,
    coarse_labels_of,
)

__all__ = ["CIFAR10", "CIFAR100", "read_cifar_batch"]

# Everything a pickled numpy array (or a protocol-2 bytes object) may reference.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core."):
            # Python 2 era files name numpy.core, which numpy 2 renamed numpy._core.
            try:
                return super().find_class("numpy._core." + module[len("numpy.core.") :], name)
            except (ImportError, AttributeError):
                pass
        return super().find_class(module, name)


def read_cifar_batch(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Unpickle one CIFAR batch (or meta) file into a dict with ``str`` keys.

    Raises:
        DatasetFormatError: not a pickle, a pickle of something else than a dict, or one that
            references anything besides numpy arrays.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            obj = _SafeUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as err:
        raise DatasetFormatError(path, f"not a readable CIFAR pickle ({err})") from err
    if not isinstance(obj, dict):
        raise DatasetFormatError(path, f"expected a pickled dict, found {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def _field(batch: dict[str, Any], key: str, path: Path) -> Any:
    if key not in batch:
        keys = ", ".join(sorted(batch))
        raise DatasetFormatError(path, f"missing key {key!r} (found keys: {keys})")
    return batch[key]


def _images_and_labels(
    path: Path, label_keys: tuple[str, ...], n_classes: tuple[int, ...]
) -> tuple[np.ndarray, list[np.ndarray]]:
    batch = read_cifar_batch(path)
    data = np.asarray(_field(batch, "data", path))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetFormatError(
            path, f"'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}"
        )
    labels = []
    for key, k in zip(label_keys, n_classes, strict=True):
        y = np.asarray(_field(batch, key, path), dtype=np.int64).reshape(-1)
        if len(y) != len(data):
            raise DatasetFormatError(path, f"{len(data)} images but {len(y)} {key!r}")
        if y.size and (y.min() < 0 or y.max() >= k):
            raise DatasetFormatError(path, f"{key!r} holds values outside 0..{k - 1}")
        labels.append(y)
    return data, labels


def _read_batches(
    paths: list[Path], label_keys: tuple[str, ...], n_classes: tuple[int, ...], limit: int | None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Concatenate batches into one preallocated float32 array, divided in place."""
    parts: list[tuple[np.ndarray, list[np.ndarray]]] = []
    total = 0
    for path in paths:
        if limit is not None and total >= limit:
            break
        data, labels = _images_and_labels(path, label_keys, n_classes)
        parts.append((data, labels))
        total += len(data)
    n = total if limit is None else min(total, limit)
    X = np.empty((n, 3, 32, 32), dtype=np.float32)
    ys = [np.empty(n, dtype=np.int64) for _ in label_keys]
    start = 0
    for data, labels in parts:
        take = min(len(data), n - start)
        X[start : start + take] = data[:take].reshape(take, 3, 32, 32)
        for y, lab in zip(ys, labels, strict=True):
            y[start : start + take] = lab[:take]
        start += take
    X /= 255.0
    return X, ys


class CIFAR10(Dataset):
    name = "cifar10"
    description = "CIFAR-10, 32x32 RGB, 10 classes, 50,000 train / 10,000 test"
    sample_shape = (3, 32, 32)
    dirnames = ("cifar-10",)
    subdirs = ("cifar-10-batches-py",)
    _classes = CIFAR10_CLASSES
    how_to_get = (
        "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and "
        "extract it into ~/.cache/dendrogen/cifar10/ (it creates cifar-10-batches-py/ with "
        "data_batch_1..5 and test_batch)."
    )

    def required_files(self, split: str) -> list[str | tuple[str, ...]]:
        if split == "train":
            return [f"data_batch_{i}" for i in range(1, 6)]
        return ["test_batch"]

    def _read(
        self, directory: Path, split: str, limit: int | None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        paths = [directory / str(f) for f in self.required_files(split)]
        X, (y,) = _read_batches(paths, ("labels",), (10,), limit)
        return X, y, {}


class CIFAR100(Dataset):
    name = "cifar100"
    description = "CIFAR-100, 32x32 RGB, 100 classes in 20 super-classes, 50,000 / 10,000"
    sample_shape = (3, 32, 32)
    dirnames = ("cifar-100",)
    subdirs = ("cifar-100-python",)
    label_sets = ("fine", "coarse")
    _classes = CIFAR100_CLASSES
    _spec = CIFAR100_SPEC
    how_to_get = (
        "download cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and "
        "extract it into ~/.cache/dendrogen/cifar100/ (it creates cifar-100-python/ with the "
        "files train, test and meta)."
    )

    def required_files(self, split: str) -> list[str | tuple[str, ...]]:
        return [split]

    def _read(
        self, directory: Path, split: str, limit: int | None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        path = directory / split
        X, (fine, coarse) = _read_batches(
            [path], ("fine_labels", "coarse_labels"), (100, 20), limit
        )
        # The file's super-classes must be the ones the hierarchy is built from.
        expected = coarse_labels_of(CIFAR100_SPEC, 100)[fine]
        if not np.array_equal(expected, coarse):
            bad = int(np.flatnonzero(expected != coarse)[0])
            raise DatasetFormatError(
                path,
                f"sample {bad}: fine label {fine[bad]} has coarse label {coarse[bad]}, but "
                f"CIFAR-100 puts it in super-class {expected[bad]}",
            )
        return X, fine, {}
