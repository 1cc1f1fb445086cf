"""dendrogen: deep generative hierarchical clustering.

Find a hierarchy of clusters in data and generate new data from any node of it. Heavy modules
(torch models) are imported lazily, so ``import dendrogen.metrics`` stays numpy-only.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Tree": "dendrogen.tree",
    "load_dataset": "dendrogen.data",
    "from_arrays": "dendrogen.data",
    "TreeVAE": "dendrogen.estimators",
    "HTVAE": "dendrogen.estimators",
    "SOMVAE": "dendrogen.estimators",
    "VLAC": "dendrogen.estimators",
    "VLAE": "dendrogen.estimators",
    "GMDGM": "dendrogen.estimators",
    "VAE": "dendrogen.estimators",
    "LadderVAE": "dendrogen.estimators",
    "Agglomerative": "dendrogen.estimators",
    "Bisecting": "dendrogen.estimators",
    "load": "dendrogen.estimators",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dendrogen' has no attribute {name!r}")
