"""What every data set shares: where its files are looked for, and the :class:`Dataset` type.

Search order for a data set's files (the first place holding every file of the split wins):

1. ``root=`` itself, then ``root/<dirname>``. An explicit ``root=`` is the only place searched:
   the steps below are skipped, so a wrong ``root`` is an error, never a silent read of
   another copy;
2. ``$DENDROGEN_DATA/<dirname>``;
3. ``~/.cache/dendrogen/<dirname>`` (``$XDG_CACHE_HOME`` replaces ``~/.cache`` when set);
4. known system locations, :data:`SYSTEM_LOCATIONS` (Debian's ``dataset-fashion-mnist``,
   scikit-learn's own copy of 20 Newsgroups).

``<dirname>`` is the data set's name (a few data sets accept more than one folder name), and in
each place the files may also sit in the sub-folder their archive extracts to (e.g.
``cifar-10-batches-py``). Nothing is ever downloaded.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dendrogen.data.errors import DatasetNotFoundError
from dendrogen.data.hierarchies import (
    Spec,
    coarse_hierarchy,
    coarse_labels_of,
    coarse_names_of,
    flat_hierarchy,
    hierarchy_from_spec,
)
from dendrogen.tree import Tree

__all__ = [
    "ENV_VAR",
    "SYSTEM_LOCATIONS",
    "Dataset",
    "Place",
    "cache_dir",
    "check_limit",
    "check_split",
    "search_places",
    "uint8_to_unit_float",
]

#: Environment variable naming a folder that holds one sub-folder per data set.
ENV_VAR = "DENDROGEN_DATA"

#: System-wide install locations per data set, searched last. Module-level so that tests (and
#: users with unusual installs) can replace it.
SYSTEM_LOCATIONS: dict[str, tuple[str, ...]] = {
    "fashion-mnist": ("/usr/share/datasets/fashion-mnist",),
    # Where scikit-learn's fetch_20newsgroups keeps its copy (read, never fetched).
    "20newsgroups": ("~/scikit_learn_data/20news_home",),
}


@dataclass(frozen=True)
class Place:
    """One directory searched for a data set, and why it was searched."""

    path: Path
    origin: str  # "root=", "$DENDROGEN_DATA", "cache" or "system"


def cache_dir() -> Path:
    """``~/.cache/dendrogen`` (or ``$XDG_CACHE_HOME/dendrogen``), read at call time."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "dendrogen"


def search_places(
    name: str, dirnames: Sequence[str] = (), root: str | os.PathLike[str] | None = None
) -> list[Place]:
    """Every directory searched for data set ``name``, in search order (see the module doc);
    with ``root``, only ``root`` and its sub-folders."""
    dirnames = tuple(dict.fromkeys((name, *dirnames)))
    places: list[Place] = []
    if root is not None:
        root_path = Path(root).expanduser()
        places.append(Place(root_path, "root="))
        places.extend(Place(root_path / d, "root=") for d in dirnames)
        return places
    env = os.environ.get(ENV_VAR)
    if env:
        places.extend(Place(Path(env).expanduser() / d, f"${ENV_VAR}") for d in dirnames)
    places.extend(Place(cache_dir() / d, "cache") for d in dirnames)
    for d in dirnames:
        places.extend(Place(Path(p).expanduser(), "system") for p in SYSTEM_LOCATIONS.get(d, ()))
    # The same folder can be reached twice (root= pointing at the cache); search it once.
    unique: dict[Path, Place] = {}
    for place in places:
        unique.setdefault(place.path, place)
    return list(unique.values())


def check_split(split: str, splits: Sequence[str], what: str = "this data set") -> str:
    """Return ``split`` if valid, else raise a ValueError naming the valid ones."""
    if split in splits:
        return split
    close = difflib.get_close_matches(str(split), splits, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    choices = ", ".join(repr(s) for s in splits)
    raise ValueError(f"split must be one of {choices} for {what}, got {split!r}{hint}")


def check_limit(limit: int | None) -> int | None:
    """``None`` (everything) or a positive int."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    return int(limit)


def uint8_to_unit_float(data: np.ndarray, shape: Sequence[int] | None = None) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1]: one conversion copy, then an in-place division.

    Args:
        data: uint8 array (any shape), typically a zero-copy view of a file buffer.
        shape: optional shape of the result (a reshape of ``data``, no copy).
    """
    out = data.astype(np.float32)
    out /= 255.0
    return out.reshape(shape) if shape is not None else out


def _alternatives(entry: str | tuple[str, ...]) -> tuple[str, ...]:
    return (entry,) if isinstance(entry, str) else tuple(entry)


def _describe(entry: str | tuple[str, ...]) -> str:
    """Alternatives for humans: ``a.gz`` and ``a`` read as ``a[.gz]``."""
    alts = _alternatives(entry)
    shown = [a for a in alts if not (a.endswith(".gz") and a[:-3] in alts)]
    return " or ".join(f"{a}[.gz]" if f"{a}.gz" in alts else a for a in shown)


class Dataset:
    """A known data set: where its files are, its classes, its true hierarchy, and a loader.

    Get one with :func:`dendrogen.data.get_dataset`. Subclasses (one per file format) set the
    class attributes and implement :meth:`_read`.

    Attributes:
        name: canonical name (``"fashion-mnist"``).
        kind: ``"image"`` (X is (N, C, H, W)), ``"vector"`` ((N, D)) or ``"sequence"``
            ((N, C, T)).
        sample_shape: shape of one sample, e.g. ``(1, 28, 28)``.
        splits: the valid ``split`` values.
        label_sets: the valid ``labels`` values; ``"fine"`` always, ``"coarse"`` where the data
            set has super-classes.
        root: the ``root=`` directory searched first, or None.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "image"
    description: ClassVar[str] = ""
    sample_shape: ClassVar[tuple[int, ...]] = ()
    splits: ClassVar[tuple[str, ...]] = ("train", "test")
    label_sets: ClassVar[tuple[str, ...]] = ("fine",)
    dirnames: ClassVar[tuple[str, ...]] = ()  # extra folder names besides `name`
    subdirs: ClassVar[tuple[str, ...]] = ()  # where archives extract to, inside each place
    how_to_get: ClassVar[str] = ""
    #: True when the whole data set does not fit in memory as float32 (load with ``limit=``).
    lazy: ClassVar[bool] = False
    _classes: ClassVar[tuple[str, ...]] = ()
    _spec: ClassVar[Spec | None] = None  # nested hierarchy spec; None means flat

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = None if root is None else Path(root).expanduser()

    def __repr__(self) -> str:
        root = "" if self.root is None else f", root={str(self.root)!r}"
        return f"{type(self).__name__}(name={self.name!r}{root})"

    # ------------------------------------------------------------------ classes
    @property
    def classes(self) -> tuple[str, ...]:
        """Names of the fine classes; ``classes[k]`` is the name of label ``k``."""
        return self._classes

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def class_names(self, labels: str = "fine") -> tuple[str, ...]:
        """Names of the classes of a label set (``"fine"``, ``"coarse"``, ...)."""
        self._check_labels(labels)
        if labels == "coarse":
            assert self._spec is not None
            return coarse_names_of(self._spec)
        return self.classes

    @property
    def coarse_classes(self) -> tuple[str, ...] | None:
        """Names of the super-classes, or None when the data set has none."""
        return self.class_names("coarse") if "coarse" in self.label_sets else None

    @property
    def fine_to_coarse(self) -> np.ndarray | None:
        """(K,) int64 map from fine to coarse label, or None when there are no super-classes."""
        if "coarse" not in self.label_sets or self._spec is None:
            return None
        return coarse_labels_of(self._spec, len(self.classes))

    @property
    def hierarchy(self) -> Tree:
        """The true hierarchy of the fine classes; leaf ``k`` is class ``k``."""
        return self.hierarchy_for("fine")

    def hierarchy_for(self, labels: str = "fine", variant: str | None = None) -> Tree:
        """The true hierarchy whose leaves are the classes of ``labels``.

        Args:
            labels: the label set whose class ids are the leaves.
            variant: None for the data set's documented hierarchy (flat when none is known),
                ``"flat"`` for root -> classes; MNIST also has ``"chain"`` (its default).
        """
        self._check_labels(labels)
        if variant == "flat":
            return flat_hierarchy(self.class_names(labels))
        if variant is not None:
            raise ValueError(f"unknown hierarchy variant {variant!r} for {self.name}; use 'flat'")
        if labels == "coarse":
            assert self._spec is not None
            return coarse_hierarchy(self._spec)
        if labels == "fine" and self._spec is not None:
            return hierarchy_from_spec(self._spec, self.classes)
        return flat_hierarchy(self.class_names(labels))

    def _check_labels(self, labels: str) -> None:
        if labels not in self.label_sets:
            choices = ", ".join(repr(s) for s in self.label_sets)
            extra = " (it has no super-classes)" if labels == "coarse" else ""
            raise ValueError(
                f"labels must be one of {choices} for {self.name}{extra}, got {labels!r}"
            )

    # ------------------------------------------------------------------ files
    def required_files(self, split: str) -> list[str | tuple[str, ...]]:
        """Files (or folders) a directory must hold for ``split``; a tuple lists alternatives."""
        raise NotImplementedError

    def places(self) -> list[Place]:
        """Every directory searched, in order."""
        return search_places(self.name, self.dirnames, self.root)

    def _candidates(self, place: Path) -> list[Path]:
        return [place, *(place / s for s in self.subdirs)]

    def _missing(self, directory: Path, split: str) -> list[str]:
        missing = []
        for entry in self.required_files(split):
            alts = _alternatives(entry)
            if not any((directory / a).exists() for a in alts):
                missing.append(_describe(entry))
        return missing

    def find(self, split: str = "train") -> Path | None:
        """The first directory that holds every file of ``split``, or None."""
        check_split(split, self.splits, self.name)
        for place in self.places():
            for directory in self._candidates(place.path):
                if directory.is_dir() and not self._missing(directory, split):
                    return directory
        return None

    def is_available(self, split: str = "train") -> bool:
        return self.find(split) is not None

    def locate(self, split: str = "train") -> Path:
        """The directory holding ``split``; raises DatasetNotFoundError listing every place."""
        found = self.find(split)
        if found is not None:
            return found
        places = self.places()
        if self.root is not None and not self.root.is_dir():
            what = "is a file, not a folder" if self.root.exists() else "does not exist"
            raise DatasetNotFoundError(
                f"data set {self.name!r}: root={str(self.root)!r} {what}; with root= given, "
                f"dendrogen looks only there (leave root out to search $DENDROGEN_DATA, the "
                f"cache and the system locations)",
                name=self.name,
                places=[p.path for p in places],
            )
        lines = [f"data set {self.name!r} (split {split!r}) was not found. Looked in:"]
        partial = []
        for place in places:
            lines.append(f"  {place.path}  [{place.origin}]")
            for directory in self._candidates(place.path):
                if directory.is_dir():
                    missing = self._missing(directory, split)
                    if len(missing) < len(self.required_files(split)):
                        partial.append(f"  {directory} lacks {', '.join(missing)}")
        if self.root is not None:
            lines.append("  (only root= is searched when it is given)")
        elif not os.environ.get(ENV_VAR):
            lines.append(f"  (${ENV_VAR} is not set)")
        if self.subdirs:
            subdirs = ", ".join(f"{s}/" for s in self.subdirs)
            lines.append(f"In each place the files may also be in a sub-folder: {subdirs}")
        if partial:
            lines.append("Incomplete copies:")
            lines.extend(partial)
        wanted = ", ".join(_describe(e) for e in self.required_files(split))
        lines.append(f"Needed: {wanted}")
        if self.how_to_get:
            lines.append(f"How to get it: {self.how_to_get}")
        return_places = [p.path for p in places]
        raise DatasetNotFoundError("\n".join(lines), name=self.name, places=return_places)

    # ------------------------------------------------------------------ loading
    def load(
        self, split: str = "train", labels: str = "fine", limit: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Read one split.

        Args:
            split: one of :attr:`splits`.
            labels: one of :attr:`label_sets`; ``"coarse"`` gives super-class ids.
            limit: read only the first ``limit`` samples of the split (file order).

        Returns:
            ``(X, y)``: X float32 in [0, 1] of shape ``(N, *sample_shape)``; y int64 (N,).
        """
        check_split(split, self.splits, self.name)
        self._check_labels(labels)
        limit = check_limit(limit)
        directory = self.locate(split)
        X, y, extras = self._read(directory, split, limit)
        return X, self._select_labels(y, extras, labels)

    def load_labels(self, split: str = "train", labels: str = "fine") -> np.ndarray:
        """Only the labels of a split (cheap for lazy data sets; others read everything)."""
        return self.load(split, labels)[1]

    def _select_labels(self, y: np.ndarray, extras: dict[str, Any], labels: str) -> np.ndarray:
        if labels == "fine":
            return y
        if labels == "coarse":
            mapping = self.fine_to_coarse
            assert mapping is not None
            return mapping[y]
        return np.asarray(extras[labels], dtype=np.int64)

    def _read(
        self, directory: Path, split: str, limit: int | None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Read ``split`` from ``directory``: ``(X, y_fine, extra label arrays by name)``."""
        raise NotImplementedError
