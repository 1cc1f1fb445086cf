"""Save and load fitted models: a folder, never a pickle.

Layout of a saved model::

    config.json          model class, its parameters and fitted metadata, versions
    tree.json            topology (when the model has a tree)
    model.safetensors    weights, BatchNorm statistics included
    metrics.json         optional

Every write is atomic: the folder is written under a temporary name beside the target and renamed
into place, so an interrupted save never leaves a half-written model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from dendrogen import __version__
from dendrogen.tree import Tree

FORMAT_VERSION = 1
CONFIG = "config.json"
TREE = "tree.json"
WEIGHTS = "model.safetensors"
METRICS = "metrics.json"


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, default=_json_default)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_folder(path: str | os.PathLike, fill: Callable[[Path], None]) -> Path:
    """Create ``path`` atomically: ``fill(tmp_dir)`` writes the files, then the folder is renamed.

    An existing folder at ``path`` is replaced only once the new one is complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        fill(tmp)
        if path.exists():
            old = path.parent / f".{path.name}.old-{os.getpid()}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def save_state(
    path: str | os.PathLike,
    config: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    tree: Tree | None = None,
    metrics: dict[str, Any] | None = None,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write a model folder (see the module docstring). ``extra(dir)`` may add more files."""
    header = {
        "format_version": FORMAT_VERSION,
        "dendrogen_version": __version__,
        "torch_version": torch.__version__,
    }

    def fill(tmp: Path) -> None:
        write_json(tmp / CONFIG, header | config)
        if tree is not None:
            write_json(tmp / TREE, tree.to_dict())
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp / WEIGHTS)
        if metrics is not None:
            write_json(tmp / METRICS, metrics)
        if extra is not None:
            extra(tmp)

    return write_folder(path, fill)


def read_state(path: str | os.PathLike) -> tuple[dict[str, Any], Tree | None, dict]:
    """Read a model folder: ``(config, tree or None, tensors)``."""
    path = Path(path)
    if not (path / CONFIG).is_file():
        raise FileNotFoundError(f"{path} is not a saved dendrogen model: no {CONFIG} in it")
    config = json.loads((path / CONFIG).read_text())
    version = config.get("format_version")
    if version is None or version > FORMAT_VERSION:
        raise ValueError(
            f"{path / CONFIG} has format version {version}; this dendrogen ({__version__}) "
            f"reads versions up to {FORMAT_VERSION}"
        )
    tree = Tree.from_dict(json.loads((path / TREE).read_text())) if (path / TREE).exists() else None
    if not (path / WEIGHTS).is_file():
        raise FileNotFoundError(f"{path} has no {WEIGHTS}")
    tensors = load_file(path / WEIGHTS)
    return config, tree, tensors
