"""20 Newsgroups from scikit-learn's on-disk layout, as TF-IDF vectors.

Layout: ``20news-bydate-train/<group>/<message>`` and ``20news-bydate-test/...`` (what
``20news-bydate.tar.gz`` extracts to, and what scikit-learn keeps in
``~/scikit_learn_data/20news_home/``). scikit-learn's fetch function is never called: it would
download. Messages are decoded as latin-1, like scikit-learn's loader does.

Features (treevae.md §8): ``TfidfVectorizer(max_features=2000)`` fitted on the train split and
applied to both splits. Rows are L2-normalised and non-negative, so values already lie in
[0, 1]; they are clipped to it to remove rounding excursions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from dendrogen.data.base import Dataset
from dendrogen.data.errors import DatasetFormatError
from dendrogen.data.hierarchies import NEWSGROUPS_CLASSES, NEWSGROUPS_SPEC

__all__ = ["Newsgroups20", "read_newsgroups_folder", "tfidf_features"]

_FOLDERS = {"train": "20news-bydate-train", "test": "20news-bydate-test"}
MAX_FEATURES = 2000


def _message_key(path: Path) -> tuple[int, int | str]:
    # Messages are numbered files; sort numerically, and anything else after, by name.
    return (0, int(path.name)) if path.name.isdigit() else (1, path.name)


def read_newsgroups_folder(folder: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Read ``folder/<group>/<message>`` text files.

    Returns:
        ``(texts, y)`` with y int64 (N,) indexing :data:`NEWSGROUPS_CLASSES` (groups may be
        missing; unknown group folders are an error).
    """
    folder = Path(folder)
    index = {g: i for i, g in enumerate(NEWSGROUPS_CLASSES)}
    texts: list[str] = []
    labels: list[int] = []
    for group in sorted(p for p in folder.iterdir() if p.is_dir()):
        if group.name not in index:
            raise DatasetFormatError(group, "not one of the 20 newsgroups")
        for path in sorted((p for p in group.iterdir() if p.is_file()), key=_message_key):
            texts.append(path.read_bytes().decode("latin-1"))
            labels.append(index[group.name])
    if not texts:
        raise DatasetFormatError(folder, "holds no <group>/<message> files")
    return texts, np.array(labels, dtype=np.int64)


def tfidf_features(
    train_texts: list[str], texts: list[str], max_features: int = MAX_FEATURES
) -> tuple[np.ndarray, list[str]]:
    """TF-IDF fitted on ``train_texts``, applied to ``texts``.

    Returns:
        ``(X, vocabulary)``: X float32 (N, D) in [0, 1], D <= ``max_features``.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer  # slow import, needed here only

    vectorizer = TfidfVectorizer(max_features=max_features, dtype=np.float32)
    vectorizer.fit(train_texts)
    X = vectorizer.transform(texts).toarray()
    np.clip(X, 0.0, 1.0, out=X)
    return X, list(vectorizer.get_feature_names_out())


class Newsgroups20(Dataset):
    name = "20newsgroups"
    kind = "vector"
    description = "20 Newsgroups (by date), TF-IDF of 2,000 words, 11,314 train / 7,532 test"
    sample_shape = (MAX_FEATURES,)
    dirnames = ("20news", "newsgroups")
    subdirs = ("20news_home", "20news-bydate")
    label_sets = ("fine", "coarse")
    _classes = NEWSGROUPS_CLASSES
    _spec = NEWSGROUPS_SPEC
    how_to_get = (
        "download 20news-bydate.tar.gz from http://qwone.com/~jason/20Newsgroups/ and extract "
        "it into ~/.cache/dendrogen/20newsgroups/ (giving 20news-bydate-train/ and "
        "20news-bydate-test/); a copy already fetched by scikit-learn "
        "(~/scikit_learn_data/20news_home) can be passed as root=."
    )

    def required_files(self, split: str) -> list[str | tuple[str, ...]]:
        # Test features need the train split too: TF-IDF is fitted on train.
        return [_FOLDERS["train"]] if split == "train" else list(_FOLDERS.values())

    def _read(
        self, directory: Path, split: str, limit: int | None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        train_texts, y_train = read_newsgroups_folder(directory / _FOLDERS["train"])
        if split == "train":
            texts, y = train_texts, y_train
        else:
            texts, y = read_newsgroups_folder(directory / _FOLDERS[split])
        X, _ = tfidf_features(train_texts, texts[:limit])
        if X.shape[1] < MAX_FEATURES:
            # Small corpora have fewer words than max_features; pad so shapes stay fixed.
            X = np.pad(X, ((0, 0), (0, MAX_FEATURES - X.shape[1])))
        return X, y[:limit], {}
