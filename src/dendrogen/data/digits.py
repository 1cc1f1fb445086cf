"""scikit-learn's bundled 8x8 digits: the embedded default, always available, no files.

1,797 images with values 0..16 (divided by 16). The train/test split is fixed: stratified
80/20 with ``train_test_split(..., test_size=0.2, stratify=y, random_state=0)``, i.e.
1,437 train and 360 test images, each kept in the original order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dendrogen.data.base import Dataset, Place
from dendrogen.data.hierarchies import DIGIT_CLASSES

__all__ = ["Digits"]

BUNDLED = Path("<scikit-learn bundled>")


class Digits(Dataset):
    name = "digits"
    description = "scikit-learn's bundled 8x8 digits (1,797 images), 80/20 split, seed 0"
    sample_shape = (1, 8, 8)
    _classes = DIGIT_CLASSES
    test_size: ClassVar[float] = 0.2
    seed: ClassVar[int] = 0

    def required_files(self, split: str) -> list[str | tuple[str, ...]]:
        return []

    def places(self) -> list[Place]:
        return [Place(BUNDLED, "scikit-learn")]

    def find(self, split: str = "train") -> Path | None:
        return BUNDLED

    def _read(
        self, directory: Path, split: str, limit: int | None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        # Imported here: scikit-learn takes a second to import, `dendrogen data list` need not.
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        data = load_digits()
        X = (data.images / 16.0).astype(np.float32)[:, None]
        y = data.target.astype(np.int64)
        train, test = train_test_split(
            np.arange(len(y)), test_size=self.test_size, stratify=y, random_state=self.seed
        )
        idx = np.sort(train if split == "train" else test)[:limit]
        return X[idx], y[idx], {}
