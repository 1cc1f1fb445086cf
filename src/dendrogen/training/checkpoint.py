"""The one training checkpoint: what a fit saves so that a rerun resumes it exactly.

A checkpoint is a model folder written with :func:`dendrogen.io.save_state` (so every write is
atomic) plus two files of training state::

    config.json          class, the run's identity (parameters that change the model, data
                         fingerprint), fitted metadata
    tree.json            the tree, for models that have one
    model.safetensors    weights, keyed by parameter name
    trainer_state.pt     torch's RNG, the phase state (Adam keyed by parameter NAME, batch order,
                         step) and arrays of the driver (e.g. TreeVAE's subtree rows);
                         read with ``weights_only=True``
    driver.json          where the fit's own state machine stands, and its history

"Same run?" is one rule for every estimator: the class, every parameter that changes the model
(all but :data:`RUN_ONLY_PARAMS`) and a fingerprint of the data (shape, dtype and a hash of a
deterministic sample of rows) must match, otherwise :meth:`Checkpoint.load` raises a ValueError
that says how to start fresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dendrogen import io
from dendrogen.training.distributed import World
from dendrogen.training.trainer import PhaseState
from dendrogen.tree import Tree

logger = logging.getLogger(__name__)

TRAINER_STATE = "trainer_state.pt"
DRIVER_STATE = "driver.json"

#: parameters that change how a fit runs but not the model it produces, so they never block a
#: resume (a rerun on another device, without progress bars or with another number of processes
#: continues the same run).
RUN_ONLY_PARAMS = frozenset({"verbose", "device", "checkpoint_every", "distributed"})

#: rows hashed by :func:`data_fingerprint`; evenly spaced, first and last included.
FINGERPRINT_ROWS = 1024


def data_fingerprint(X: np.ndarray) -> dict[str, Any]:
    """Shape, dtype and the SHA-256 of a deterministic sample of rows of ``X`` (N, ...).

    Hashing up to :data:`FINGERPRINT_ROWS` evenly spaced rows costs milliseconds for any N and
    catches other data of the same shape (a rescaled, shuffled or different data set).
    """
    X = np.asarray(X)
    n = X.shape[0]
    rows = np.unique(np.linspace(0, n - 1, num=min(n, FINGERPRINT_ROWS)).round().astype(np.int64))
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(X[rows]).tobytes())
    return {"shape": list(X.shape), "dtype": str(X.dtype), "sample_sha256": digest.hexdigest()}


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, arrays lists)."""
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist")
                                 else str(o)))  # fmt: skip


@dataclass
class Resumed:
    """What :meth:`Checkpoint.load` read back.

    Attributes:
        fitted: the fitted metadata the estimator saved.
        tree: the tree, for models that have one.
        tensors: the model's weights by name.
        phase: the state of the phase that was running, or None at a phase boundary.
        driver: the fit's own state (e.g. TreeVAE's growth cursor and history).
        arrays: tensors the driver saved beside the phase state.
        torch_rng: torch's global RNG state when the checkpoint was written.
    """

    fitted: dict[str, Any]
    tree: Tree | None
    tensors: dict[str, torch.Tensor]
    phase: PhaseState | None
    driver: dict[str, Any]
    arrays: dict[str, torch.Tensor] = field(default_factory=dict)
    torch_rng: torch.Tensor | None = None

    def restore_rng(self) -> None:
        """Put torch's global RNG back where it was when the checkpoint was written."""
        if self.torch_rng is not None:
            torch.set_rng_state(self.torch_rng)


class Checkpoint:
    """The checkpoint folder of one fit.

    Args:
        path: the folder (``checkpoint_dir``).
        estimator: the estimator's class name.
        params: the estimator's ``get_params(deep=False)``; those in :data:`RUN_ONLY_PARAMS` are
            left out of the identity.
        X: the training data (N, ...) as the estimator trains on it.
        side_data: other arrays given to ``fit`` that change the model (e.g. HTVAE's partial
            labels ``y`` or ``must_link`` pairs); None values are left out.
        world: the ranks of a data-parallel fit, or None. Rank 0 alone reads and writes the
            folder (other machines need not see it); what it reads is sent to the other ranks.
            The world size is not part of the run's identity: a fit resumes with another number
            of processes.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        estimator: str,
        params: dict[str, Any],
        X: np.ndarray,
        side_data: dict[str, Any] | None = None,
        world: World | None = None,
    ) -> None:
        self.world = world
        # Refuse a file or a foreign folder now, not at the first save after minutes of training.
        self.path = io.check_output_dir(path)
        data = data_fingerprint(X)
        for name, value in sorted((side_data or {}).items()):
            if value is not None:
                data[name] = data_fingerprint(np.asarray(value))
        self.identity = {
            "class": estimator,
            "params": _jsonable({k: v for k, v in params.items() if k not in RUN_ONLY_PARAMS}),
            "data": data,
        }

    def exists(self) -> bool:
        """True when the folder holds a checkpoint to resume from (rank 0's view)."""
        if self.world is not None:
            return self.world.run_on_main(self._exists, "looking for a checkpoint")
        return self._exists()

    def _exists(self) -> bool:
        return io.has_state(self.path) and (self.path / TRAINER_STATE).is_file()

    # ------------------------------------------------------------------ same run?
    def _check_same_run(self, saved: dict[str, Any]) -> None:
        fresh = (
            f"To start fresh, pass another checkpoint_dir or delete {self.path}; to resume, fit "
            f"with the same settings and data."
        )
        if saved.get("class") != self.identity["class"]:
            raise ValueError(
                f"{self.path} holds a checkpoint of a {saved.get('class')}, not of a "
                f"{self.identity['class']}. {fresh}"
            )
        old, new = saved.get("params", {}), self.identity["params"]
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if changed:
            diffs = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:5])
            raise ValueError(
                f"{self.path} holds a checkpoint of a {saved['class']} with other settings "
                f"({diffs}). {fresh}"
            )
        old_data, new_data = saved.get("data"), self.identity["data"]
        if old_data != new_data:
            what = "other data"
            old_data = old_data or {}
            own = ("shape", "dtype", "sample_sha256")
            side = sorted(
                k
                for k in set(old_data) | set(new_data)
                if k not in own and old_data.get(k) != new_data.get(k)
            )
            if side:
                what = f"other data ({', '.join(side)} differ)"
            if old_data and old_data.get("shape") != new_data["shape"]:
                what = f"data of shape {tuple(old_data['shape'])}, not {tuple(new_data['shape'])}"
            raise ValueError(
                f"{self.path} holds a checkpoint of a {saved['class']} trained on {what} (the "
                f"data fingerprint differs). {fresh}"
            )

    # ------------------------------------------------------------------ read / write
    def load(self) -> Resumed | None:
        """The saved state, None when there is no checkpoint; ValueError when it belongs to
        another run. In a data-parallel fit rank 0 reads it and every rank gets it."""
        if self.world is not None:
            return self.world.run_on_main(self._load, "reading the checkpoint")
        return self._load()

    def _load(self) -> Resumed | None:
        if not self._exists():
            return None
        config, tree, tensors = io.read_state(self.path)
        if "run" not in config:
            raise ValueError(
                f"{self.path} holds a checkpoint written by an older dendrogen, which cannot be "
                f"resumed; pass another checkpoint_dir or delete {self.path} to start fresh"
            )
        self._check_same_run(config["run"])
        # On the CPU first: a fit may resume on another device than the one that wrote it (the
        # optimizer moves its state to each parameter's device when it loads it).
        payload = torch.load(self.path / TRAINER_STATE, weights_only=True, map_location="cpu")
        driver_file = self.path / DRIVER_STATE
        driver = json.loads(driver_file.read_text()) if driver_file.is_file() else {}
        phase = PhaseState.from_dict(payload["phase"]) if payload.get("phase") else None
        logger.info("resuming from %s", self.path)
        return Resumed(
            fitted=config.get("fitted", {}),
            tree=tree,
            tensors=tensors,
            phase=phase,
            driver=driver,
            arrays=dict(payload.get("arrays", {})),
            torch_rng=payload.get("torch_rng"),
        )

    def save(
        self,
        tensors: dict[str, torch.Tensor],
        *,
        fitted: dict[str, Any],
        tree: Tree | None = None,
        phase: PhaseState | None = None,
        driver: dict[str, Any] | None = None,
        arrays: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Write the checkpoint atomically (the old one stays until the new one is complete).

        Args:
            tensors: the model's ``state_dict()``.
            fitted: JSON metadata the estimator needs to rebuild its model.
            tree: the model's tree, if any.
            phase: the state of the running phase (None at a phase boundary).
            driver: JSON state of the fit's own loop.
            arrays: tensors of the fit's own loop.

        In a data-parallel fit only rank 0 writes (every rank holds the same state); the
        others return at once, without any collective, so ranks may call it at different times.
        """
        if self.world is not None and not self.world.is_main:
            return
        payload: dict[str, Any] = {"torch_rng": torch.get_rng_state(), "arrays": arrays or {}}
        if phase is not None:
            payload["phase"] = phase.to_dict()

        def extra(folder: Path) -> None:
            torch.save(payload, folder / TRAINER_STATE)
            io.write_json(folder / DRIVER_STATE, driver or {})

        config = {
            "class": self.identity["class"],
            "checkpoint": True,
            "run": self.identity,
            "fitted": fitted,
        }
        io.save_state(self.path, config, tensors, tree=tree, extra=extra)


__all__ = [
    "DRIVER_STATE",
    "RUN_ONLY_PARAMS",
    "TRAINER_STATE",
    "Checkpoint",
    "Resumed",
    "data_fingerprint",
]
