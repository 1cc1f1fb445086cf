"""SVHN (Street View House Numbers), cropped digits, from the MATLAB files ``*_32x32.mat``.

Each file holds ``X`` of shape (32, 32, 3, N) uint8 and ``y`` of shape (N, 1) with digits
1..10, where 10 stands for the digit 0.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from dendrogen.data.base import Dataset
from dendrogen.data.errors import DatasetFormatError
from dendrogen.data.hierarchies import DIGIT_CLASSES

__all__ = ["SVHN", "read_svhn_mat"]


def read_svhn_mat(
    path: str | os.PathLike[str], limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read one SVHN ``.mat`` file.

    Returns:
        ``(X, y)``: X float32 (N, 3, 32, 32) in [0, 1]; y int64 (N,) digits 0..9 (10 -> 0).

    Raises:
        DatasetFormatError: not a MATLAB v5 file (v7.3/HDF5 is not supported by SciPy), missing
            ``X``/``y``, wrong shapes or labels outside 1..10.
    """
    import scipy.io  # slow import, needed here only

    path = Path(path)
    try:
        mat = scipy.io.loadmat(path, variable_names=("X", "y"))
    except NotImplementedError as err:  # SciPy's answer to MATLAB v7.3 (HDF5) files
        raise DatasetFormatError(path, f"unsupported MATLAB file version ({err})") from err
    except (ValueError, TypeError, OSError) as err:
        raise DatasetFormatError(path, f"not a readable MATLAB file ({err})") from err
    for key in ("X", "y"):
        if key not in mat:
            raise DatasetFormatError(path, f"missing variable {key!r}")
    raw, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if raw.dtype != np.uint8 or raw.ndim != 4 or raw.shape[:3] != (32, 32, 3):
        raise DatasetFormatError(
            path, f"'X' must be uint8 of shape (32, 32, 3, N), got {raw.dtype} {raw.shape}"
        )
    if len(y) != raw.shape[3]:
        raise DatasetFormatError(path, f"{raw.shape[3]} images but {len(y)} labels")
    if y.size and (y.min() < 1 or y.max() > 10 or not np.all(y == np.round(y))):
        raise DatasetFormatError(path, "labels must be the integers 1..10 (10 is the digit 0)")
    n = raw.shape[3] if limit is None else min(raw.shape[3], limit)
    X = np.empty((n, 3, 32, 32), dtype=np.float32)
    # (H, W, C, N) -> (N, C, H, W), converted in the same pass that copies.
    X[...] = raw[..., :n].transpose(3, 2, 0, 1)
    X /= 255.0
    return X, (y[:n].astype(np.int64) % 10)


class SVHN(Dataset):
    name = "svhn"
    description = "SVHN cropped digits, 32x32 RGB, 73,257 train / 26,032 test / 531,131 extra"
    sample_shape = (3, 32, 32)
    splits = ("train", "test", "extra")
    _classes = DIGIT_CLASSES
    how_to_get = (
        "download train_32x32.mat and test_32x32.mat (and extra_32x32.mat if wanted) from "
        "http://ufldl.stanford.edu/housenumbers/ into ~/.cache/dendrogen/svhn/."
    )

    def required_files(self, split: str) -> list[str | tuple[str, ...]]:
        return [f"{split}_32x32.mat"]

    def _read(
        self, directory: Path, split: str, limit: int | None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        X, y = read_svhn_mat(directory / f"{split}_32x32.mat", limit)
        return X, y, {}
