"""The user's own data: arrays, ``.npy`` / ``.npz`` / ``.csv`` files, folders of images.

Unlike the known data sets, user arrays need not lie in [0, 1] (only uint8 is rescaled, by
1/255); NaN and infinity are always errors.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dendrogen.data.base import Dataset, Place, check_limit, check_split
from dendrogen.data.errors import DatasetFormatError, DatasetNotFoundError
from dendrogen.data.images import image_mode, is_image_file, read_images

__all__ = [
    "FILE_SUFFIXES",
    "FileDataset",
    "from_arrays",
    "load_file",
    "load_image_folder",
]

FILE_SUFFIXES = (".npy", ".npz", ".csv")
_X_KEYS = ("X", "x", "data", "images", "features")
_Y_KEYS = ("y", "labels", "label", "targets", "target")
_CSV_LABELS = ("label", "y")


def from_arrays(X: Any, y: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate user arrays and convert them to the library's conventions.

    Args:
        X: array-like of shape (N, D) vectors, (N, C, T) sequences or (N, C, H, W) images;
            numeric or bool. uint8 is divided by 255; other values are kept as they are (no
            [0, 1] requirement), converted to float32.
        y: optional labels of shape (N,) (or (N, 1)); integers, or floats/bools holding
            integer values.

    Returns:
        ``(X, y)``: X float32 C-contiguous (a new array unless X already was one); y int64 (N,)
        or None.

    Raises:
        ValueError: empty X, wrong number of dimensions, non-numeric dtype, NaN or infinity
            (also after float32 overflow), labels of the wrong length or not integers.
    """
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must be numeric, got dtype {X.dtype}")
    if X.ndim < 2:
        raise ValueError(
            f"X must have shape (N, D), (N, C, T) or (N, C, H, W), got {X.shape}; "
            "use X.reshape(-1, 1) for a single feature"
        )
    if X.ndim > 4:
        raise ValueError(f"X has {X.ndim} dimensions; at most 4 (N, C, H, W) are supported")
    if X.shape[0] == 0 or X.size == 0:
        raise ValueError(f"X is empty (shape {X.shape})")
    if X.dtype == np.uint8:
        out = X.astype(np.float32)
        out /= 255.0
    else:
        with np.errstate(over="ignore"):  # overflow is reported just below, as infinity
            out = np.ascontiguousarray(X, dtype=np.float32)
    if not np.isfinite(out).all():
        bad = np.argwhere(~np.isfinite(out))[0]
        kind = "NaN" if np.isnan(out[tuple(bad)]) else "infinity (or a value beyond float32)"
        raise ValueError(f"X holds {kind} at index {tuple(int(i) for i in bad)}")
    if y is None:
        return out, None
    return out, _check_labels(y, len(out))


def _check_labels(y: Any, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must have shape (N,), got {y.shape}")
    if len(y) != n:
        raise ValueError(f"X has {n} samples but y has {len(y)} labels")
    if y.dtype.kind not in "biuf":
        raise ValueError(
            f"y must hold integer class ids, got dtype {y.dtype}; encode names first, e.g. "
            "with sklearn.preprocessing.LabelEncoder"
        )
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise ValueError("y holds NaN or infinity")
        if not np.array_equal(y, np.round(y)):
            raise ValueError("y must hold integer class ids, got non-integer values")
    return y.astype(np.int64)


def _load_csv(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    with open(path, encoding="utf-8-sig") as f:
        first = f.readline()
    if not first.strip():
        raise DatasetFormatError(path, "is empty")
    fields = [s.strip() for s in first.split(",")]
    try:
        [float(s) for s in fields]
        header = None
    except ValueError:
        header = fields
    try:
        with warnings.catch_warnings():
            # A header without rows: reported below as an error, not as numpy's warning too.
            warnings.filterwarnings("ignore", "loadtxt: input contained no data", UserWarning)
            data = np.loadtxt(
                path, delimiter=",", skiprows=int(header is not None), ndmin=2,
                dtype=np.float64, encoding="utf-8-sig",
            )  # fmt: skip
    except ValueError as err:
        raise DatasetFormatError(path, f"not a numeric CSV ({err})") from err
    if data.size == 0:
        raise DatasetFormatError(path, "has no data rows")
    bad = np.argwhere(~np.isfinite(data))
    if len(bad):
        row, col = (int(i) for i in bad[0])
        name = header[col] if header is not None and col < len(header) else f"column {col + 1}"
        line = row + 1 + int(header is not None)
        raise DatasetFormatError(path, f"NaN or infinity on line {line}, in {name}")
    label_cols = [i for i, h in enumerate(header or []) if h.lower() in _CSV_LABELS]
    if len(label_cols) > 1:
        raise DatasetFormatError(path, "has more than one label column ('label' and 'y')")
    if not label_cols:
        return data, None
    keep = [i for i in range(data.shape[1]) if i != label_cols[0]]
    if not keep:
        raise DatasetFormatError(path, "holds only a label column, no features")
    return data[:, keep], data[:, label_cols[0]]


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.keys())
        x_key = next((k for k in _X_KEYS if k in keys), None)
        y_key = next((k for k in _Y_KEYS if k in keys), None)
        if x_key is None:
            rest = [k for k in keys if k != y_key]
            if len(rest) != 1:
                raise DatasetFormatError(
                    path, f"cannot tell the data array among {keys}; name it 'X' (labels 'y')"
                )
            x_key = rest[0]
        return archive[x_key], (archive[y_key] if y_key is not None else None)


def load_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a user data file (or image folder) into validated arrays.

    Supported: ``.npy`` (X only), ``.npz`` (X under ``X``/``x``/``data``/``images``/
    ``features`` or as the only array; labels under ``y``/``labels``/``label``/``targets``),
    ``.csv`` (numbers with an optional header; a column named ``label`` or ``y`` holds the
    labels), and a folder with one sub-folder of images per class (see
    :func:`load_image_folder`).

    Returns:
        ``(X, y)`` as :func:`from_arrays` returns them (y None for unlabelled files).

    Raises:
        FileNotFoundError: no such file; DatasetFormatError (a ValueError) naming the file for
        anything wrong inside it.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if path.is_dir():
        X, y, _ = load_image_folder(path)
        return X, y
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            X, y = np.load(path, allow_pickle=False), None
        elif suffix == ".npz":
            X, y = _load_npz(path)
        elif suffix == ".csv":
            X, y = _load_csv(path)
        else:
            raise DatasetFormatError(
                path, f"unsupported file type {suffix!r}; use .npy, .npz, .csv or an image folder"
            )
        return from_arrays(X, y)
    except DatasetFormatError:
        raise
    except (ValueError, OSError, EOFError) as err:
        raise DatasetFormatError(path, str(err)) from err


def load_image_folder(
    path: str | os.PathLike[str], size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read ``path/<class>/<image>`` files.

    Args:
        path: a folder with one sub-folder per class (sorted names give the class ids).
        size: ``(width, height)`` to resize every image to; required when sizes differ.

    Returns:
        ``(X, y, class_names)``: X float32 (N, C, H, W) in [0, 1] with C = 1 when every image is
        grayscale, else 3 (alpha dropped); y int64 (N,).

    Raises:
        DatasetFormatError: no class sub-folders, a class without images, unreadable images,
            images of different sizes without ``size``.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"no such folder: {path}")
    class_dirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DatasetFormatError(path, "holds no class sub-folders (expected <class>/<image>)")
    paths: list[Path] = []
    labels: list[int] = []
    for k, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.iterdir() if is_image_file(p))
        if not files:
            raise DatasetFormatError(class_dir, "holds no images")
        paths.extend(files)
        labels.extend([k] * len(files))
    mode = "L" if all(image_mode(p) == "L" for p in paths) else "RGB"
    X = read_images(paths, mode, size)
    return X, np.array(labels, dtype=np.int64), tuple(p.name for p in class_dirs)


class FileDataset(Dataset):
    """A user file or image folder seen through the :class:`Dataset` interface.

    It has a single split, ``"train"``; unlabelled files get labels ``-1``.
    """

    splits: ClassVar[tuple[str, ...]] = ("train",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(None)
        self.path = Path(path).expanduser()
        self._cache: tuple[np.ndarray, np.ndarray, tuple[str, ...]] | None = None

    def __repr__(self) -> str:
        return f"FileDataset({str(self.path)!r})"

    @property  # type: ignore[override]
    def name(self) -> str:
        return str(self.path)

    @property  # type: ignore[override]
    def kind(self) -> str:
        ndim = self._data()[0].ndim
        return {2: "vector", 3: "sequence"}.get(ndim, "image")

    @property  # type: ignore[override]
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self._data()[0].shape[1:])

    @property
    def classes(self) -> tuple[str, ...]:
        return self._data()[2]

    def places(self) -> list[Place]:
        return [Place(self.path, "path")]

    def find(self, split: str = "train") -> Path | None:
        check_split(split, self.splits, f"a file ({self.path.name})")
        return self.path if self.path.exists() else None

    def locate(self, split: str = "train") -> Path:
        found = self.find(split)
        if found is None:
            raise DatasetNotFoundError(
                f"no such file or folder: {self.path}", name=str(self.path), places=[self.path]
            )
        return found

    def _data(self) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        if self._cache is None:
            path = self.locate()
            if path.is_dir():
                X, y, names = load_image_folder(path)
            else:
                X, y_or_none = load_file(path)
                y = np.full(len(X), -1, np.int64) if y_or_none is None else y_or_none
                top = int(y.max()) + 1 if len(y) and y.max() >= 0 else 0
                names = tuple(str(k) for k in range(top))
            self._cache = (X, y, names)
        return self._cache

    def load(
        self, split: str = "train", labels: str = "fine", limit: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        check_split(split, self.splits, f"a file ({self.path.name})")
        self._check_labels(labels)
        limit = check_limit(limit)
        X, y, _ = self._data()
        return X[:limit], y[:limit]
