"""Training phases and their learning-rate and KL-weight schedules.

A phase is a run of optimizer steps with a fresh Adam. Schedules are stepwise functions of the step
count, which covers both the papers' per-epoch schedules (``*_every`` = steps per epoch) and the
step-budgeted ``fast`` presets (``*_every`` = 1).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass

import torch

#: the arithmetic of a training step: "fp32", or "bf16" (the forward pass and the loss under
#: ``torch.autocast`` with bfloat16; weights, gradients and Adam stay float32).
PRECISIONS = ("fp32", "bf16")


def check_precision(value: object) -> str:
    """``value`` when it is one of :data:`PRECISIONS`, else a ValueError naming them."""
    if not isinstance(value, str) or value not in PRECISIONS:
        raise ValueError(f"schedule 'precision' must be one of {list(PRECISIONS)}, got {value!r}")
    return value


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context a training step's forward pass runs in: bf16 autocast on ``device``'s type
    (CPU included) for "bf16", nothing for "fp32"."""
    if check_precision(precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@dataclass
class Phase:
    """One training phase.

    Attributes:
        name: shown in the progress bar and the history (``initial``, ``grow``, ``finetune``...).
        steps: optimizer steps in the phase.
        lr: Adam's initial learning rate.
        weight_decay: coupled L2 (Adam's ``weight_decay``, not AdamW).
        lr_gamma: factor applied every ``lr_every`` steps (StepLR).
        lr_every: steps between learning-rate drops (0: never).
        kl_start: KL weight α at step 0.
        kl_increment: added to α every ``kl_every`` steps; α is capped at 1.
        kl_every: steps between KL increments.
        kl_max: the cap on α (1 for the ELBO; lower keeps the KL weight gentle, e.g. while a
            tree grows).
    """

    name: str
    steps: int
    lr: float = 1e-3
    weight_decay: float = 1e-5
    lr_gamma: float = 0.1
    lr_every: int = 0
    kl_start: float = 1.0
    kl_increment: float = 0.0
    kl_every: int = 1
    kl_max: float = 1.0

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"phase {self.name!r}: steps must be >= 0, got {self.steps}")
        if self.lr <= 0:
            raise ValueError(f"phase {self.name!r}: lr must be positive, got {self.lr}")
        if self.kl_every < 1:
            raise ValueError(f"phase {self.name!r}: kl_every must be >= 1")

    def alpha(self, step: int) -> float:
        """KL weight at 0-based ``step``: min(kl_max, kl_start + ⌊step/kl_every⌋·kl_increment)."""
        return min(self.kl_max, self.kl_start + (step // self.kl_every) * self.kl_increment)

    def lr_factor(self, step: int) -> float:
        return 1.0 if self.lr_every <= 0 else self.lr_gamma ** (step // self.lr_every)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_epochs(
        cls,
        name: str,
        epochs: int,
        steps_per_epoch: int,
        *,
        kl_start: float,
        kl_decay: float,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        lr_drop_epochs: int = 100,
    ) -> Phase:
        """The papers' schedule: α = min(1, kl_start + e·kl_decay) at epoch e; lr ×0.1 every
        ``lr_drop_epochs`` epochs."""
        return cls(
            name=name,
            steps=epochs * steps_per_epoch,
            lr=lr,
            weight_decay=weight_decay,
            lr_every=lr_drop_epochs * steps_per_epoch,
            kl_start=kl_start,
            kl_increment=kl_decay,
            kl_every=steps_per_epoch,
        )

    @classmethod
    def from_steps(
        cls,
        name: str,
        steps: int,
        *,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        kl_start: float = 0.0,
        kl_ramp: float = 0.5,
        lr_drop_at: float = 2 / 3,
        kl_max: float = 1.0,
    ) -> Phase:
        """A step-budgeted schedule: α ramps linearly from ``kl_start`` to ``kl_max`` over the
        first ``kl_ramp`` fraction of the phase; the learning rate drops ×0.1 at ``lr_drop_at``."""
        ramp_steps = max(1, int(steps * kl_ramp))
        return cls(
            name=name,
            steps=steps,
            lr=lr,
            weight_decay=weight_decay,
            lr_every=max(1, math.ceil(steps * lr_drop_at)) if 0 < lr_drop_at < 1 else 0,
            kl_start=kl_start,
            kl_increment=(kl_max - kl_start) / ramp_steps if kl_ramp > 0 else 0.0,
            kl_every=1,
            kl_max=kl_max,
        )
