"""IDX files (MNIST, Fashion-MNIST), gzipped or not.

Format: two zero bytes, a type code (0x08 ubyte ... 0x0E double), the number of dimensions,
then one big-endian uint32 per dimension, then the data in C order. Whether a file is gzipped is
read from its first bytes, not from its name.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np

from dendrogen.data.base import Dataset, uint8_to_unit_float
from dendrogen.data.errors import DatasetFormatError
from dendrogen.data.hierarchies import (
    DIGIT_CLASSES,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_SPEC,
    chain_hierarchy,
)
from dendrogen.tree import Tree

__all__ = ["MNIST", "FashionMNIST", "load_idx_pair", "read_idx", "read_idx_header"]

_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def _open(path: Path) -> BinaryIO:
    with open(path, "rb") as f:
        gzipped = f.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if gzipped else open(path, "rb")  # type: ignore[return-value]


def _read_header(f: BinaryIO, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    magic = f.read(4)
    if len(magic) < 4:
        raise DatasetFormatError(path, f"truncated IDX file: {len(magic)} bytes, no header")
    code, ndim = magic[2], magic[3]
    if magic[:2] != b"\0\0" or code not in _DTYPES or ndim == 0:
        raise DatasetFormatError(
            path,
            f"not an IDX file: wrong magic number 0x{magic.hex()} (expected 0x0000TTNN with "
            "type TT in 08..0E and NN dimensions, e.g. 0x00000803 for images)",
        )
    raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise DatasetFormatError(path, "truncated IDX file: the header's dimensions are cut off")
    return np.dtype(_DTYPES[code]), struct.unpack(f">{ndim}I", raw)


def read_idx_header(path: str | os.PathLike[str]) -> tuple[np.dtype, tuple[int, ...]]:
    """The element dtype and the shape an IDX file declares (reads only the header)."""
    path = Path(path)
    try:
        with _open(path) as f:
            return _read_header(f, path)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DatasetFormatError(path, f"corrupt gzip stream ({err})") from err


def read_idx(path: str | os.PathLike[str], limit: int | None = None) -> np.ndarray:
    """Read an IDX file into an array of its declared dtype (native byte order) and shape.

    Args:
        path: the file, gzipped or not.
        limit: read only the first ``limit`` entries along the first axis.

    Returns:
        For ubyte files, a read-only zero-copy view of the file's bytes (no second copy);
        other types are converted to native byte order.

    Raises:
        DatasetFormatError: wrong magic number, truncated data, trailing bytes, corrupt gzip.
    """
    path = Path(path)
    try:
        with _open(path) as f:
            dtype, dims = _read_header(f, path)
            n = dims[0] if limit is None else min(dims[0], limit)
            item_bytes = math.prod(dims[1:]) * dtype.itemsize
            want = n * item_bytes
            data = f.read(want)
            if len(data) < want:
                raise DatasetFormatError(
                    path,
                    f"truncated IDX file: the header declares shape {dims} ({dims[0] * item_bytes}"
                    f" data bytes) but only {len(data)} bytes of data follow",
                )
            if n == dims[0] and f.read(1):
                raise DatasetFormatError(
                    path, f"IDX file longer than its header declares (shape {dims})"
                )
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DatasetFormatError(path, f"corrupt or truncated gzip stream ({err})") from err
    arr = np.frombuffer(data, dtype=dtype).reshape((n, *dims[1:]))
    return arr if dtype.isnative or dtype.itemsize == 1 else arr.astype(dtype.newbyteorder("="))


def load_idx_pair(
    images: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    n_classes: int = 10,
    limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read an IDX image file and its label file.

    Args:
        images: ubyte IDX file of shape (N, H, W).
        labels: ubyte IDX file of shape (N,) with values in ``0..n_classes-1``.
        n_classes: number of classes, for validating the labels.
        limit: read only the first ``limit`` images.

    Returns:
        ``(X, y)``: X float32 (N, 1, H, W) in [0, 1] (converted once, divided in place);
        y int64 (N,).
    """
    images, labels = Path(images), Path(labels)
    img_dtype, img_dims = read_idx_header(images)
    lab_dtype, lab_dims = read_idx_header(labels)
    if img_dtype != np.uint8 or len(img_dims) != 3:
        raise DatasetFormatError(
            images, f"expected ubyte images of shape (N, H, W), got {img_dtype} {img_dims}"
        )
    if lab_dtype != np.uint8 or len(lab_dims) != 1:
        raise DatasetFormatError(labels, f"expected ubyte labels of shape (N,), got {lab_dims}")
    if img_dims[0] != lab_dims[0]:
        raise DatasetFormatError(
            images, f"holds {img_dims[0]} images but {labels} holds {lab_dims[0]} labels"
        )
    y = read_idx(labels, limit).astype(np.int64)
    if y.size and y.max() >= n_classes:
        raise DatasetFormatError(labels, f"label {y.max()} is outside 0..{n_classes - 1}")
    raw = read_idx(images, limit)
    X = uint8_to_unit_float(raw, (raw.shape[0], 1, *raw.shape[1:]))
    return X, y


def _variants(prefix: str, kind: str, ndim: int) -> tuple[str, ...]:
    names = (f"{prefix}-{kind}-idx{ndim}-ubyte", f"{prefix}-{kind}.idx{ndim}-ubyte")
    return tuple(n + ext for n in names for ext in (".gz", ""))


class _IDXDataset(Dataset):
    kind: ClassVar[str] = "image"
    sample_shape: ClassVar[tuple[int, ...]] = (1, 28, 28)
    _prefix: ClassVar[dict[str, str]] = {"train": "train", "test": "t10k"}

    def required_files(self, split: str) -> list[str | tuple[str, ...]]:
        prefix = self._prefix[split]
        return [_variants(prefix, "images", 3), _variants(prefix, "labels", 1)]

    def _read(
        self, directory: Path, split: str, limit: int | None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        images, labels = (
            next(directory / n for n in alts if (directory / n).exists())
            for alts in self.required_files(split)
        )
        X, y = load_idx_pair(images, labels, len(self.classes), limit)
        return X, y, {}


class MNIST(_IDXDataset):
    name = "mnist"
    description = "MNIST handwritten digits, 28x28 gray, 60,000 train / 10,000 test"
    subdirs = ("raw", "MNIST/raw")
    _classes = DIGIT_CLASSES
    how_to_get = (
        "download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (e.g. from "
        "https://ossci-datasets.s3.amazonaws.com/mnist/) into ~/.cache/dendrogen/mnist/ "
        "or $DENDROGEN_DATA/mnist/ (gzipped or not)."
    )

    def hierarchy_for(self, labels: str = "fine", variant: str | None = None) -> Tree:
        """htvae.md: MNIST has no published hierarchy; the default is each digit at the end of
        its own depth-3 chain (distances 0 or 6); ``variant="flat"`` gives root -> digits."""
        if variant in (None, "chain"):
            self._check_labels(labels)
            return chain_hierarchy(self.classes, depth=3)
        return super().hierarchy_for(labels, variant)


class FashionMNIST(_IDXDataset):
    name = "fashion-mnist"
    description = "Zalando's Fashion-MNIST, 28x28 gray, 60,000 train / 10,000 test"
    dirnames = ("fashion_mnist", "FashionMNIST")
    subdirs = ("raw", "FashionMNIST/raw")
    label_sets = ("fine", "coarse")
    _classes = FASHION_MNIST_CLASSES
    _spec = FASHION_MNIST_SPEC
    how_to_get = (
        "on Debian/Ubuntu `sudo apt-get install dataset-fashion-mnist` (installs "
        "/usr/share/datasets/fashion-mnist); or download the four *-ubyte.gz files from "
        "https://github.com/zalandoresearch/fashion-mnist (data/fashion) into "
        "~/.cache/dendrogen/fashion-mnist/ or $DENDROGEN_DATA/fashion-mnist/."
    )
