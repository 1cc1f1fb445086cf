"""What the ``dendrogen`` command line reads from the user, checked: the model name, ``--set``
settings, data sets, saved models, devices and picture paths. Each failure ends the command with
a one-line error (exit code 1), never a traceback."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import typer


def estimator_class(model: str):
    from dendrogen.estimators import ESTIMATORS

    by_lower = {name.lower(): cls for name, cls in ESTIMATORS.items()}
    key = model.lower().replace("-", "").replace("_", "")
    if key not in by_lower:
        fail(f"unknown model {model!r}; choose one of {', '.join(sorted(by_lower))}")
    return by_lower[key]


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``["a=1", "K=[1,5,50,1]", "schedule.initial=500"]`` → ``{"a": 1, "K": [...],
    "schedule": {"initial": 500}}``. Values are JSON or Python literals, else strings."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            fail(f"--set takes key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                value = raw
        target = out
        *parents, leaf = key.strip().split(".")
        for i, part in enumerate(parents):
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                fail(
                    f"--set {item}: {'.'.join(parents[: i + 1])} is already set to "
                    f"{target!r}, not to a group of settings"
                )
        if isinstance(target.get(leaf), dict) and not isinstance(value, dict):
            fail(f"--set {item}: {key.strip()} already holds settings {target[leaf]!r}")
        target[leaf] = value
    return out


def load_data(data: str, split: str, root: str | None, limit: int | None):
    from dendrogen.data import get_dataset, load_dataset

    try:
        X, y = load_dataset(data, split=split, root=root, limit=limit)
    except (FileNotFoundError, ValueError) as err:
        fail(str(err))
    try:
        dataset = get_dataset(data, root=root)
    except (FileNotFoundError, ValueError):
        dataset = None
    return X, (None if y is None or (np.asarray(y) < 0).all() else y), dataset


def load_model(path: str):
    from dendrogen.estimators import load

    try:
        return load(path)
    except (FileNotFoundError, ValueError) as err:
        fail(str(err))


def check_device(device: Any) -> None:
    import torch

    try:
        resolved = torch.device("cpu" if str(device) == "auto" else str(device))
    except (RuntimeError, TypeError, ValueError):
        fail(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        fail(f"device {device!r} was asked for, but CUDA is not available here; use cpu or auto")


def picture_path(out: Path, default_name: str, suffixes: tuple[str, ...]) -> Path:
    """Where a picture really goes: ``out/default_name`` for a folder, ``out`` + ``.png`` for a
    name without a suffix; an unknown suffix is an error."""
    if out.is_dir():
        return out / default_name
    if not out.suffix:
        return out.with_suffix(".png")
    if out.suffix.lower() not in suffixes:
        fail(f"cannot write {out}: unsupported file type {out.suffix!r}; use {', '.join(suffixes)}")
    return out
