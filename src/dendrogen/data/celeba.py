"""CelebA (aligned and cropped faces) with its 40 binary attributes.

Files: ``img_align_celeba/`` (178x218 JPEGs; a PNG copy ``img_align_celeba_png/`` also works),
``list_attr_celeba.txt`` and ``list_eval_partition.txt`` (0 train, 1 valid, 2 test).
Preprocessing (treevae.md §5): crop 148x148 with its top-left corner at (left=15, top=40),
resize to 64x64 (antialiased bilinear) -> float32 (3, 64, 64) in [0, 1].

CelebA has no classes. ``labels="fine"`` is the ``Male`` attribute (0 female, 1 male), a
documented choice; any attribute name can be passed as ``labels`` instead, and
:meth:`CelebA.load_attributes` gives all 40. All 162,770 train images are 8 GB as float32, so
load a subset with ``limit=``, or use :meth:`CelebA.images`, a lazy sequence that decodes on
access and can fill an ``np.memmap``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from dendrogen.data.base import Dataset, check_limit, check_split
from dendrogen.data.errors import DatasetFormatError
from dendrogen.data.hierarchies import CELEBA_ATTRIBUTES
from dendrogen.data.images import read_image, read_images

__all__ = ["CROP_BOX", "CelebA", "CelebAImages", "read_celeba_attributes", "read_celeba_partition"]

#: (left, top, right, bottom) of the 148x148 crop.
CROP_BOX = (15, 40, 15 + 148, 40 + 148)
IMAGE_SIZE = (64, 64)
_SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}
_IMAGE_DIRS = ("img_align_celeba", "img_align_celeba_png")
_ATTR_FILE = "list_attr_celeba.txt"
_PARTITION_FILE = "list_eval_partition.txt"


def read_celeba_partition(path: str | os.PathLike[str]) -> dict[str, int]:
    """``{file name: 0 train | 1 valid | 2 test}`` from ``list_eval_partition.txt``."""
    path = Path(path)
    out: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise DatasetFormatError(
                    path, f"line {lineno}: expected '<file> <0|1|2>', got {line.strip()!r}"
                )
            out[parts[0]] = int(parts[1])
    if not out:
        raise DatasetFormatError(path, "is empty")
    return out


def read_celeba_attributes(path: str | os.PathLike[str]) -> tuple[list[str], list[str], np.ndarray]:
    """Parse ``list_attr_celeba.txt``.

    Returns:
        ``(files, attribute names, A)`` with A int64 (N, n_attributes) in {0, 1} (the file's
        -1 becomes 0).
    """
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise DatasetFormatError(path, "expected a count line, then the attribute names")
    count, names = int(lines[0]), lines[1].split()
    rows = lines[2:]
    if len(rows) != count:
        raise DatasetFormatError(path, f"declares {count} images but lists {len(rows)}")
    files: list[str] = []
    values = np.empty((len(rows), len(names)), dtype=np.int64)
    for i, line in enumerate(rows):
        parts = line.split()
        if len(parts) != len(names) + 1 or any(v not in ("1", "-1") for v in parts[1:]):
            raise DatasetFormatError(
                path, f"line {i + 3}: expected a file name and {len(names)} values of 1 or -1"
            )
        files.append(parts[0])
        values[i] = [v == "1" for v in parts[1:]]
    return files, names, values


class CelebAImages(Sequence[np.ndarray]):
    """A lazy sequence of preprocessed CelebA images: decoded on access, never cached.

    ``images[i]`` is float32 (3, 64, 64); ``images[a:b]`` or ``images[index_array]`` is
    (n, 3, 64, 64). :meth:`to_array` decodes everything into a new array or into ``out``
    (e.g. ``np.lib.format.open_memmap(...)``) one image at a time.
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...
    @overload
    def __getitem__(self, index: slice | Sequence[int] | np.ndarray) -> np.ndarray: ...
    def __getitem__(self, index: Any) -> np.ndarray:
        if isinstance(index, int | np.integer):
            img = read_image(self.paths[index], "RGB", IMAGE_SIZE, CROP_BOX)
            return np.divide(img, 255.0, dtype=np.float32)
        if isinstance(index, slice):
            chosen = self.paths[index]
        else:
            chosen = [self.paths[int(i)] for i in np.asarray(index).reshape(-1)]
        return self.to_array(paths=chosen)

    def to_array(self, out: np.ndarray | None = None, paths: Sequence[Path] | None = None):
        """Decode all images (or ``paths``) into float32 (n, 3, 64, 64), in ``out`` if given."""
        paths = self.paths if paths is None else paths
        if not paths:
            return np.empty((0, 3, *IMAGE_SIZE), dtype=np.float32)
        return read_images(paths, "RGB", IMAGE_SIZE, CROP_BOX, out=out)


class CelebA(Dataset):
    name = "celeba"
    description = "CelebA aligned faces, 64x64 RGB (crop 148 at (15, 40)), 40 attributes"
    sample_shape = (3, *IMAGE_SIZE)
    splits = ("train", "valid", "test")
    label_sets = ("fine", *CELEBA_ATTRIBUTES)
    subdirs = ("celeba", "CelebA")
    lazy = True
    _classes = ("female", "male")
    how_to_get = (
        "download img_align_celeba.zip, list_attr_celeba.txt and list_eval_partition.txt from "
        "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Google Drive, 'Align&Cropped Images'"
        " and 'Anno'/'Eval'); unzip the images into ~/.cache/dendrogen/celeba/img_align_celeba/ "
        "and put the two text files beside that folder."
    )

    def required_files(self, split: str) -> list[str | tuple[str, ...]]:
        return [_IMAGE_DIRS, _ATTR_FILE, _PARTITION_FILE]

    def class_names(self, labels: str = "fine") -> tuple[str, ...]:
        self._check_labels(labels)
        return self._classes if labels == "fine" else (f"not {labels}", labels)

    def _index(self, directory: Path, split: str) -> tuple[list[str], np.ndarray, list[str]]:
        """Files of ``split`` in partition order, their attribute rows, the attribute names."""
        partition = read_celeba_partition(directory / _PARTITION_FILE)
        files, names, values = read_celeba_attributes(directory / _ATTR_FILE)
        row = {f: i for i, f in enumerate(files)}
        code = _SPLIT_CODES[split]
        chosen = [f for f, c in partition.items() if c == code]
        missing = [f for f in chosen if f not in row]
        if missing:
            raise DatasetFormatError(
                directory / _ATTR_FILE, f"has no attributes for {len(missing)} images, e.g. "
                f"{missing[0]}"
            )  # fmt: skip
        return chosen, values[[row[f] for f in chosen]], names

    def _image_paths(self, directory: Path, files: Sequence[str]) -> list[Path]:
        folder = next(directory / d for d in _IMAGE_DIRS if (directory / d).is_dir())
        # The PNG copy of CelebA keeps the ".jpg" names of the attribute files; one probe
        # decides the extension for all (a missing file is reported when it is decoded).
        ext = None
        if files and not (folder / files[0]).exists():
            ext = next(
                (e for e in (".png", ".jpg") if (folder / files[0]).with_suffix(e).exists()), None
            )
        return [(folder / f) if ext is None else (folder / f).with_suffix(ext) for f in files]

    def images(self, split: str = "train", limit: int | None = None) -> CelebAImages:
        """The preprocessed images of a split as a lazy sequence (nothing decoded yet)."""
        check_split(split, self.splits, self.name)
        limit = check_limit(limit)
        directory = self.locate(split)
        files = self._index(directory, split)[0][:limit]
        return CelebAImages(self._image_paths(directory, files))

    def load_attributes(
        self, split: str = "train", limit: int | None = None
    ) -> tuple[np.ndarray, tuple[str, ...]]:
        """``(A, names)``: A int64 (N, 40) in {0, 1}, in the same order as :meth:`load`."""
        check_split(split, self.splits, self.name)
        limit = check_limit(limit)
        _, values, names = self._index(self.locate(split), split)
        return values[:limit], tuple(names)

    def n_samples(self, split: str = "train") -> int:
        check_split(split, self.splits, self.name)
        partition = read_celeba_partition(self.locate(split) / _PARTITION_FILE)
        return sum(1 for c in partition.values() if c == _SPLIT_CODES[split])

    def load_labels(self, split: str = "train", labels: str = "fine") -> np.ndarray:
        self._check_labels(labels)
        values, names = self.load_attributes(split)
        return self._pick(values, names, labels)

    def _pick(self, values: np.ndarray, names: Sequence[str], labels: str) -> np.ndarray:
        attr = "Male" if labels == "fine" else labels
        if attr not in names:
            raise ValueError(f"the attribute file has no attribute {attr!r}")
        return values[:, list(names).index(attr)].copy()

    def _read(
        self, directory: Path, split: str, limit: int | None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        files, values, names = self._index(directory, split)
        files, values = files[:limit], values[:limit]
        if not files:
            raise DatasetFormatError(directory / _PARTITION_FILE, f"lists no {split} images")
        X = CelebAImages(self._image_paths(directory, files)).to_array()
        return X, self._pick(values, names, "fine"), {"values": values, "names": names}

    def _select_labels(self, y: np.ndarray, extras: dict[str, Any], labels: str) -> np.ndarray:
        return self._pick(extras["values"], extras["names"], labels)
