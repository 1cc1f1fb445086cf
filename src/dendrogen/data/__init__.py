"""Data sets as arrays: known benchmark data sets read from their standard file formats, and the
user's own arrays, files and image folders. numpy only (augmentations, in
``dendrogen.data.augment``, use torch and are not imported here).

>>> X, y = load_dataset("digits")            # float32 (1437, 1, 8, 8) in [0, 1], int64 labels
>>> ds = get_dataset("fashion-mnist")
>>> ds.classes, ds.hierarchy                  # class names; true hierarchy as a Tree
>>> X, y_coarse = ds.load("test", labels="coarse")

Nothing is downloaded: files are looked for in ``root=``, ``$DENDROGEN_DATA/<name>``,
``~/.cache/dendrogen/<name>`` and known system locations (see :mod:`dendrogen.data.base`); a
missing data set raises :class:`DatasetNotFoundError` saying where it looked and how to get it.
"""

from __future__ import annotations

from dendrogen.data.base import Dataset, cache_dir
from dendrogen.data.errors import DatasetFormatError, DatasetNotFoundError, UnknownDatasetError
from dendrogen.data.registry import (
    DATASETS,
    DatasetSummary,
    get_dataset,
    list_datasets,
    load_dataset,
    summarize,
)
from dendrogen.data.user import FileDataset, from_arrays, load_file, load_image_folder

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "DatasetSummary",
    "FileDataset",
    "UnknownDatasetError",
    "cache_dir",
    "from_arrays",
    "get_dataset",
    "list_datasets",
    "load_dataset",
    "load_file",
    "load_image_folder",
    "summarize",
]
