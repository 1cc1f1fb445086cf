"""Save and load fitted models: a folder, never a pickle.

Layout of a saved model::

    config.json          model class, its parameters and fitted metadata, versions, and the
                         SHA-256 of every other file below ("sha256")
    tree.json            topology (when the model has a tree)
    model.safetensors    weights, BatchNorm statistics included
    metrics.json         optional
    (checkpoints add trainer_state.pt, driver.json, ...: whatever the caller's ``extra`` writes)

The folder is written all-or-nothing, and only the library's own files in it are ever written or
removed (:mod:`dendrogen.folders`).

**Tamper-evident.** ``read_state`` checks every file against the hashes in ``config.json``; a
missing, truncated, corrupt or edited file raises one ``ValueError`` naming the file. Folders
written before hashes were recorded load with a warning (save them again to add the hashes).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save_file

from dendrogen import __version__
from dendrogen.folders import (  # noqa: F401 - the folder API, re-exported for callers of io
    COMMIT,
    CONFIG,
    HASHES,
    METRICS,
    OWNED,
    PLAIN_NAME,
    STAGING_PREFIX,
    TREE,
    WEIGHTS,
    check_output_dir,
    has_state,
    is_model_folder,
    recover,
    remove_state,
    write_folder,
)
from dendrogen.tree import Tree

FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------- JSON helpers
def write_json(path: str | os.PathLike, data: Any) -> None:
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


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_state(
    path: str | os.PathLike,
    config: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    tree: Tree | None = None,
    metrics: dict[str, Any] | None = None,
    extra: Callable[[Path], None] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write a model folder (see the module docstring).

    ``extra(dir)`` may add more plain files to ``dir`` (a checkpoint's trainer state); they
    become the library's files of that folder, hashed and replaced like the others.
    ``overwrite=True`` allows a non-empty folder that is not a dendrogen folder.
    """
    header = {
        "format_version": FORMAT_VERSION,
        "dendrogen_version": __version__,
        "torch_version": torch.__version__,
    }

    def fill(tmp: Path) -> None:
        if tree is not None:
            write_json(tmp / TREE, tree.to_dict())
        # Copies: a model in training holds its parameters as views of one optimizer buffer
        # (training/optimizer.py), and safetensors refuses tensors that share memory.
        weights = {k: v.detach().cpu().clone(memory_format=torch.contiguous_format)
                   for k, v in tensors.items()}  # fmt: skip
        save_file(weights, tmp / WEIGHTS)
        if metrics is not None:
            write_json(tmp / METRICS, metrics)
        if extra is not None:
            extra(tmp)
        hashes = {p.name: _file_sha256(p) for p in sorted(tmp.iterdir()) if p.name != CONFIG}
        write_json(tmp / CONFIG, header | config | {HASHES: hashes})

    return write_folder(path, fill, overwrite=overwrite)


# ---------------------------------------------------------------------------------- reading
def _read_bytes(path: Path, folder: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{path} is missing from the model folder {folder}") from None
    except OSError as err:
        raise ValueError(f"{path} cannot be read: {err}") from None


def _parse_json(path: Path, data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); the file is damaged") from None


def read_state(path: str | os.PathLike) -> tuple[dict[str, Any], Tree | None, dict]:
    """Read a model folder: ``(config, tree or None, tensors)``.

    Raises:
        FileNotFoundError: there is no folder at ``path``.
        ValueError: it is not a model folder, or a file in it is missing, corrupt, or does not
            match the hash recorded in config.json (the message names the file).
    """
    path = Path(path)
    recover(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is not a saved dendrogen model: there is no such folder")
    if not path.is_dir():
        raise ValueError(f"{path} is not a saved dendrogen model: it is a file, not a folder")
    if not (path / CONFIG).is_file():
        raise ValueError(f"{path} is not a saved dendrogen model: no {CONFIG} in it")
    config = _parse_json(path / CONFIG, _read_bytes(path / CONFIG, path))
    if not isinstance(config, dict):
        raise ValueError(f"{path / CONFIG} does not hold a JSON object; the file is damaged")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path / CONFIG} has format version {version!r}; this dendrogen ({__version__}) "
            f"reads versions up to {FORMAT_VERSION}"
        )
    hashes = config.get(HASHES)
    if hashes is None:
        warnings.warn(
            f"{path} was saved by an older dendrogen without file hashes, so its files cannot "
            f"be verified; save the model again to add them",
            UserWarning,
            stacklevel=2,
        )
    elif not (
        isinstance(hashes, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in hashes.items())
    ):
        raise ValueError(f"{path / CONFIG} has a damaged {HASHES!r} entry")
    else:
        for name in hashes:
            if not PLAIN_NAME.match(name):
                raise ValueError(f"{path / CONFIG} lists an unexpected file {name!r}")
        for name in _not_recorded(path, hashes):
            raise ValueError(
                f"{path / name} was not written with this model ({CONFIG} records no hash for "
                f"it); remove it or save the model again"
            )
    contents: dict[str, bytes] = {}

    def read(name: str) -> bytes:
        data = _read_bytes(path / name, path)
        if hashes is not None:
            _verify(path, name, data, hashes[name])
        return data

    if hashes is not None:  # every recorded file, also those only a checkpoint reads
        for name in hashes:
            contents[name] = read(name)
    tree = None
    if (hashes is None and (path / TREE).exists()) or (hashes is not None and TREE in hashes):
        data = contents.get(TREE) or read(TREE)
        try:
            tree = Tree.from_dict(_parse_json(path / TREE, data))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
            raise ValueError(f"{path / TREE} does not describe a valid tree: {err}") from None
    if hashes is not None and WEIGHTS not in hashes:
        raise ValueError(f"{path / CONFIG} records no {WEIGHTS}; the file is damaged")
    data = contents.get(WEIGHTS) or read(WEIGHTS)
    try:
        tensors = load_safetensors(data)
    except Exception as err:  # safetensors raises its own error types
        raise ValueError(
            f"{path / WEIGHTS} is damaged (truncated or not a safetensors file): {err}"
        ) from None
    return config, tree, tensors


def _not_recorded(path: Path, hashes: dict[str, str]) -> Iterable[str]:
    """Standard model files present in ``path`` that config.json does not record."""
    return [n for n in (TREE, WEIGHTS) if n not in hashes and (path / n).exists()]


def _verify(path: Path, name: str, data: bytes, expected: str) -> None:
    if _sha256(data) != expected.lower():
        raise ValueError(
            f"{path / name} does not match the SHA-256 recorded in {path / CONFIG}: the file "
            f"was changed, truncated or replaced after the model was saved"
        )
