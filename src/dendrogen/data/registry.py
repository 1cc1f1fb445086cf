"""Data sets by name: :func:`load_dataset`, :func:`get_dataset`, :func:`list_datasets`, and a
summary (:func:`summarize`) for ``dendrogen data info``.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dendrogen.data.base import Dataset
from dendrogen.data.celeba import CelebA
from dendrogen.data.cifar import CIFAR10, CIFAR100
from dendrogen.data.digits import Digits
from dendrogen.data.errors import DatasetNotFoundError, UnknownDatasetError
from dendrogen.data.idx import MNIST, FashionMNIST
from dendrogen.data.newsgroups import Newsgroups20
from dendrogen.data.nuisance import NuisanceDigits
from dendrogen.data.omniglot import Omniglot, Omniglot5
from dendrogen.data.svhn import SVHN
from dendrogen.data.user import FILE_SUFFIXES, FileDataset

__all__ = [
    "DATASETS",
    "DatasetSummary",
    "availability",
    "format_availability",
    "get_dataset",
    "list_datasets",
    "load_dataset",
    "summarize",
]

#: Known data sets by canonical name.
DATASETS: dict[str, type[Dataset]] = {
    cls.name: cls
    for cls in (
        Digits, MNIST, FashionMNIST, CIFAR10, CIFAR100, SVHN, Omniglot, Omniglot5,
        Newsgroups20, CelebA, NuisanceDigits,
    )
}  # fmt: skip

_ALIASES = {
    "fmnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "cifar-10": "cifar10",
    "cifar-100": "cifar100",
    "omniglot-5": "omniglot5",
    "20news": "20newsgroups",
    "newsgroups": "20newsgroups",
    "20-newsgroups": "20newsgroups",
}


def list_datasets() -> list[str]:
    """Canonical names of the known data sets."""
    return list(DATASETS)


def _canonical(name: str) -> str | None:
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    return key if key in DATASETS else None


def _looks_like_path(name: str | os.PathLike[str]) -> bool:
    if isinstance(name, os.PathLike):
        return True
    return (
        os.sep in name
        or (os.altsep is not None and os.altsep in name)
        or Path(name).suffix.lower() in FILE_SUFFIXES
        or Path(name).expanduser().exists()
    )


def get_dataset(
    name: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
) -> Dataset:
    """A known data set (by name) or a user file/folder (by path), as a :class:`Dataset`.

    Known names win over paths (a folder called ``mnist`` in the working directory does not
    shadow the data set; pass ``./mnist`` for the folder).

    Raises:
        UnknownDatasetError: neither a known name nor a path; close names are suggested.
    """
    if not isinstance(name, os.PathLike):
        canonical = _canonical(str(name))
        if canonical is not None:
            if root is not None and not Path(root).expanduser().is_dir():
                what = "is a file, not a folder" if Path(root).expanduser().exists() else (
                    "does not exist")  # fmt: skip
                raise DatasetNotFoundError(
                    f"data set {canonical!r}: root={str(root)!r} {what}; with root= given, "
                    f"dendrogen looks only there (leave root out to search $DENDROGEN_DATA, "
                    f"the cache and the system locations)",
                    name=canonical,
                    places=[Path(root).expanduser()],
                )
            return DATASETS[canonical](root)
    if _looks_like_path(name):
        if root is not None:
            raise ValueError("root= applies to named data sets, not to a path")
        return FileDataset(name)
    names = [*DATASETS, *_ALIASES]
    close = difflib.get_close_matches(str(name).lower(), names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownDatasetError(
        f"unknown data set {str(name)!r}.{hint} Known: {', '.join(DATASETS)}; "
        "or pass the path of a .npy/.npz/.csv file or of an image folder."
    )


def load_dataset(
    name: str | os.PathLike[str],
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    *,
    labels: str = "fine",
    limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a data set as arrays.

    Args:
        name: a known name (see :func:`list_datasets`; ``"digits"`` needs no files) or the
            path of a ``.npy``/``.npz``/``.csv`` file or of an image folder.
        split: ``"train"`` or ``"test"`` (SVHN adds ``"extra"``, CelebA ``"valid"``; files
            have only ``"train"``).
        root: the directory holding the data set's files (directly or in a sub-folder named
            after it); when given, it is the only place searched.
        labels: ``"fine"`` class ids, or ``"coarse"`` super-class ids where the data set has
            them (CIFAR-100: 20, Fashion-MNIST: 6 groups, 20 Newsgroups: 6 subjects).
        limit: read only the first ``limit`` samples of the split.

    Returns:
        ``(X, y)``: X float32, in [0, 1] for the known data sets, of shape (N, C, H, W) for
        images, (N, D) for vectors, (N, C, T) for sequences; y int64 (N,) (-1 for unlabelled
        user files).

    Raises:
        DatasetNotFoundError: the files are in none of the searched places (all are listed).
        DatasetFormatError: a file is corrupt (the message names it).
        UnknownDatasetError / ValueError: unknown name, bad split or labels.
    """
    return get_dataset(name, root).load(split, labels=labels, limit=limit)


@dataclass
class DatasetSummary:
    """What ``dendrogen data info`` prints about one split."""

    name: str
    split: str
    location: Path
    kind: str
    shape: tuple[int, ...]  # of the whole split
    dtype: str
    value_min: float
    value_max: float
    range_samples: int  # how many samples the value range was computed on
    labels: str
    class_names: tuple[str, ...]
    counts: dict[int, int] = field(default_factory=dict)  # label -> number of samples

    def to_text(self) -> str:
        """The human-readable report of ``dendrogen data info``."""
        n = self.shape[0]
        sampled = f"  (first {self.range_samples} samples)" if self.range_samples < n else ""
        lines = [
            f"{self.name}, split {self.split!r}",
            f"  found in  {self.location}",
            f"  kind      {self.kind}",
            f"  shape     {self.shape}",
            f"  dtype     {self.dtype}",
            f"  range     [{self.value_min:.4g}, {self.value_max:.4g}]{sampled}",
            f"  classes   {len(self.class_names)} ({self.labels} labels)",
        ]
        width = max((len(name) for name in self.class_names), default=0)
        shown = sorted(set(self.counts) | set(range(len(self.class_names))))
        for k in shown:
            name = self.class_names[k] if 0 <= k < len(self.class_names) else "(unlabelled)"
            lines.append(f"    {k:>4}  {name:<{width}}  {self.counts.get(k, 0):>8}")
        return "\n".join(lines)


def availability(root: str | os.PathLike[str] | None = None) -> list[tuple[str, Path | None, str]]:
    """``(name, directory or None, description)`` of every known data set (train split)."""
    out = []
    for name, cls in DATASETS.items():
        ds = cls(root)
        out.append((name, ds.find(ds.splits[0]), ds.description))
    return out


def format_availability(root: str | os.PathLike[str] | None = None) -> str:
    """The table of ``dendrogen data list``."""
    rows = [
        (name, str(where) if where else "not found", desc)
        for name, where, desc in availability(root)
    ]
    w1 = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    lines = [f"{'NAME':<{w1}}  {'FOUND IN':<{w2}}  DESCRIPTION"]
    lines += [f"{name:<{w1}}  {where:<{w2}}  {desc}" for name, where, desc in rows]
    lines.append("`dendrogen data info NAME` says where a missing data set's files go.")
    return "\n".join(lines)


def summarize(
    name: str | os.PathLike[str],
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    labels: str = "fine",
    limit: int | None = None,
) -> DatasetSummary:
    """Locate and read a split and describe it.

    For lazy data sets (CelebA) only the first ``limit`` (default 1,000) images are decoded for
    the value range; counts always cover the whole split.
    """
    ds = get_dataset(name, root)
    location = ds.locate(split)
    if ds.lazy:
        y = ds.load_labels(split, labels)
        X, _ = ds.load(split, labels=labels, limit=limit or 1000)
        n = len(y)
    else:
        X, y = ds.load(split, labels=labels, limit=limit)
        n = len(X)
    values, counts = np.unique(y, return_counts=True)
    return DatasetSummary(
        name=ds.name,
        split=split,
        location=location,
        kind=ds.kind,
        shape=(n, *X.shape[1:]),
        dtype=str(X.dtype),
        value_min=float(X.min()),
        value_max=float(X.max()),
        range_samples=len(X),
        labels=labels,
        class_names=ds.class_names(labels),
        counts={int(v): int(c) for v, c in zip(values, counts, strict=True)},
    )
