"""Omniglot from its folders of PNGs: ``images_background/`` and ``images_evaluation/``, each
``<alphabet>/<character>/<drawing>.png`` (105x105, black strokes on white).

Images are resized to 28x28 with antialiasing and **not** inverted (white background = 1.0),
as in treevae.md §8. Drawings are read in sorted order: alphabet, character, file name.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dendrogen.data.base import Dataset
from dendrogen.data.errors import DatasetFormatError
from dendrogen.data.hierarchies import OMNIGLOT5_ALPHABETS, OMNIGLOT_ALPHABETS
from dendrogen.data.images import is_image_file, read_images

__all__ = ["Omniglot", "Omniglot5", "scan_omniglot"]

_FOLDERS = {"train": "images_background", "test": "images_evaluation"}
_SIZE = (28, 28)
_HOW = (
    "download images_background.zip and images_evaluation.zip from "
    "https://github.com/brendenlake/omniglot (python/) and unzip both into "
    "~/.cache/dendrogen/omniglot/ (giving omniglot/images_background/<alphabet>/<character>/"
    "*.png and omniglot/images_evaluation/...)."
)


def scan_omniglot(
    folder: Path, alphabets: Sequence[str] | None = None
) -> list[tuple[str, str, Path]]:
    """``(alphabet, character, path)`` of every drawing under ``folder``, sorted.

    Args:
        folder: ``images_background`` or ``images_evaluation``.
        alphabets: read only these alphabets (others are skipped); None reads all, and then
            every alphabet folder must be one of the 50 Omniglot alphabets.
    """
    entries: list[tuple[str, str, Path]] = []
    for alpha_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if alphabets is not None and alpha_dir.name not in alphabets:
            continue
        if alphabets is None and alpha_dir.name not in OMNIGLOT_ALPHABETS:
            close = difflib.get_close_matches(alpha_dir.name, OMNIGLOT_ALPHABETS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DatasetFormatError(alpha_dir, f"not an Omniglot alphabet{hint}")
        for char_dir in sorted(p for p in alpha_dir.iterdir() if p.is_dir()):
            for path in sorted(p for p in char_dir.iterdir() if is_image_file(p)):
                entries.append((alpha_dir.name, char_dir.name, path))
    return entries


class Omniglot(Dataset):
    """All 50 alphabets; train = images_background (30), test = images_evaluation (20).

    Labels are alphabets (ids into the 50 sorted alphabet names), so train and test classes are
    disjoint, as in the official split.
    """

    name = "omniglot"
    description = "Omniglot, 28x28 gray, 50 alphabets; background (train) / evaluation (test)"
    sample_shape = (1, 28, 28)
    subdirs = ("omniglot-py", "python")
    _classes = OMNIGLOT_ALPHABETS
    how_to_get = _HOW

    def required_files(self, split: str) -> list[str | tuple[str, ...]]:
        return [_FOLDERS[split]]

    def _read(
        self, directory: Path, split: str, limit: int | None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        folder = directory / _FOLDERS[split]
        entries = scan_omniglot(folder)[:limit]
        if not entries:
            raise DatasetFormatError(folder, "holds no <alphabet>/<character>/*.png drawings")
        index = {a: i for i, a in enumerate(self.classes)}
        y = np.array([index[a] for a, _, _ in entries], dtype=np.int64)
        X = read_images([p for _, _, p in entries], "L", _SIZE)
        return X, y, {}


class Omniglot5(Dataset):
    """Omniglot-5 (treevae.md §8): five alphabets, background + evaluation merged, split 80/20
    stratified by character with seed 42. Labels are the alphabets, in the order
    Braille, Glagolitic, Old_Church_Slavonic_(Cyrillic), Oriya, Bengali; ``labels="character"``
    gives character ids instead.
    """

    name = "omniglot5"
    description = "Omniglot-5: 5 alphabets, 28x28 gray, 80/20 split by character (seed 42)"
    sample_shape = (1, 28, 28)
    dirnames = ("omniglot",)
    subdirs = ("omniglot-py", "python")
    label_sets = ("fine", "character")
    _classes = OMNIGLOT5_ALPHABETS
    how_to_get = _HOW
    test_size: ClassVar[float] = 0.2
    seed: ClassVar[int] = 42

    def required_files(self, split: str) -> list[str | tuple[str, ...]]:
        return list(_FOLDERS.values())

    def _scan(self, directory: Path) -> tuple[list[tuple[str, str, Path]], np.ndarray]:
        # Background then evaluation, like torchvision's Omniglot concatenated.
        entries = [
            e
            for folder in _FOLDERS.values()
            for e in scan_omniglot(directory / folder, self.classes)
        ]
        absent = sorted(set(self.classes) - {a for a, _, _ in entries})
        if absent:
            raise DatasetFormatError(directory, f"no drawings of the alphabets {absent}")
        char_ids: dict[tuple[str, str], int] = {}
        chars = np.array(
            [char_ids.setdefault((a, c), len(char_ids)) for a, c, _ in entries], dtype=np.int64
        )
        return entries, chars

    def class_names(self, labels: str = "fine") -> tuple[str, ...]:
        if labels != "character":
            return super().class_names(labels)
        entries, _ = self._scan(self.locate("train"))
        return tuple(dict.fromkeys(f"{a}/{c}" for a, c, _ in entries))

    def split_indices(self, chars: np.ndarray, directory: Path) -> dict[str, np.ndarray]:
        """The fixed train/test split: stratified by character, seed 42, each sorted."""
        counts = np.bincount(chars)
        if counts.min() < 2:
            raise DatasetFormatError(
                directory, "every character needs at least 2 drawings for a stratified split"
            )
        from sklearn.model_selection import train_test_split  # slow import, needed here only

        train, test = train_test_split(
            np.arange(len(chars)), test_size=self.test_size, stratify=chars, random_state=self.seed
        )
        return {"train": np.sort(train), "test": np.sort(test)}

    def _read(
        self, directory: Path, split: str, limit: int | None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        entries, chars = self._scan(directory)
        idx = self.split_indices(chars, directory)[split][:limit]
        index = {a: i for i, a in enumerate(self.classes)}
        y = np.array([index[entries[i][0]] for i in idx], dtype=np.int64)
        X = read_images([entries[i][2] for i in idx], "L", _SIZE)
        return X, y, {"character": chars[idx]}
