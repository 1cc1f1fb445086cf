"""The one Trainer: runs phases of optimizer steps over in-memory data.

The Trainer knows about optimizers, schedules, batches, progress bars and checkpoints; it knows
nothing about the model's structure. A phase is driven by a ``loss_fn(batch, alpha) -> dict`` of
named scalar terms (``"loss"`` is minimised; the others are logged), so any model, a subtree of a
TreeVAE included, can be trained by it.

Batches are drawn from a tensor already in memory by index, from a seeded permutation per epoch:
no DataLoader workers, which cost more than they save for data that fits in memory on 2 cores.
The data set is moved to the training device once, when it fits there, so a GPU step reads its
batch on the GPU; with ``precision="bf16"`` each step's forward pass runs under bfloat16 autocast.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from dendrogen.training.distributed import World, batchnorm_buffers
from dendrogen.training.optimizer import make_optimizer
from dendrogen.training.schedules import Phase, autocast, check_precision

logger = logging.getLogger(__name__)

LossFn = Callable[[Tensor, float], dict[str, Tensor]]


class TrainingDiverged(FloatingPointError, ValueError):
    """The loss became NaN or infinite. A ValueError too: it usually means data on a scale the
    model cannot take (e.g. values of 1e30) or a learning rate that is too high, which the
    caller fixes, like any other bad input."""


@dataclass
class PhaseState:
    """Where a phase stands; enough to resume it exactly (with the model's weights).

    ``optimizer`` is Adam's state keyed by parameter NAME (``model.named_parameters()``), never by
    position: a model rebuilt from a checkpoint may list its parameters in another order (a
    TreeVAE rebuilt from tree.json creates its nodes breadth-first, a grown one in creation
    order), and a positional state would land on the wrong tensors. ``rows`` are the history rows
    the phase has finished so far.
    """

    phase: str
    step: int = 0
    optimizer: dict[str, Any] | None = None
    torch_rng: Tensor | None = None
    generator: Tensor | None = None
    epoch_sums: dict[str, float] = field(default_factory=dict)
    epoch_count: int = 0
    order: Tensor | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "step": self.step,
            "optimizer": self.optimizer,
            "torch_rng": self.torch_rng,
            "generator": self.generator,
            "epoch_sums": self.epoch_sums,
            "epoch_count": self.epoch_count,
            "order": self.order,
            "rows": self.rows,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PhaseState:
        return cls(**d)


class Trainer:
    """Runs :class:`Phase` objects.

    Args:
        batch_size: rows per step; the last incomplete batch of an epoch is dropped, unless the
            data are smaller than one batch, in which case each step uses all of them.
        seed: seeds the batch order and the model's noise (torch's global generator).
        progress: show a tqdm progress bar.
        checkpoint_every: seconds between mid-phase checkpoints (when a callback is given).
        device: where the model is; the data set is moved there at the start of each phase when
            it fits (else each batch is sent there).
        precision: "fp32" or "bf16": each step's ``loss_fn`` under bfloat16 autocast on the
            device's type (CPU too); parameters, gradients and the optimizer stay float32.
        world: the ranks of a data-parallel run (:mod:`dendrogen.training.distributed`), or
            None. With it, each rank draws its batches from its shard of every epoch's
            permutation, and the gradients, the logged terms and the BatchNorm statistics are
            averaged over ranks after every backward pass; only rank 0 shows a progress bar.
    """

    def __init__(
        self,
        batch_size: int = 256,
        seed: int = 0,
        progress: bool = True,
        checkpoint_every: float = 120.0,
        device: torch.device | str = "cpu",
        world: World | None = None,
        precision: str = "fp32",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.precision = check_precision(precision)
        self.batch_size = batch_size
        self.seed = seed
        self.progress = progress
        self.checkpoint_every = checkpoint_every
        self.device = torch.device(device)
        self.world = world
        if world is not None and not world.is_main:
            self.progress = False
        self.history: list[dict[str, Any]] = []

    def steps_per_epoch(self, n: int) -> int:
        """Steps that read each of n rows once (each rank reading its shard)."""
        return max(1, self._rows_per_rank(n) // self.batch_size)

    def _rows_per_rank(self, n: int) -> int:
        return n if self.world is None else self.world.shard_size(n)

    def _on_device(self, data: Tensor) -> Tensor:
        """``data`` on the training device, when it fits there; else as given (with a warning),
        each batch then copied to the device."""
        if data.device.type == self.device.type and (
            self.device.index is None or data.device.index == self.device.index
        ):
            return data
        try:
            return data.to(self.device)
        except torch.OutOfMemoryError:
            logger.warning("the training data (%s) do not fit on %s; batches are copied there "
                           "one at a time", tuple(data.shape), self.device)  # fmt: skip
            return data

    def run(
        self,
        phase: Phase,
        model: nn.Module,
        params: Iterable[nn.Parameter],
        loss_fn: LossFn,
        data: Tensor,
        *,
        resume: PhaseState | None = None,
        on_checkpoint: Callable[[PhaseState], None] | None = None,
        describe: Callable[[], str] | None = None,
        augment: Callable[[Tensor], Tensor] | None = None,
        phase_index: int = 0,
        stop_at: int | None = None,
    ) -> list[dict[str, Any]]:
        """Run one phase and return its per-epoch history rows.

        Args:
            phase: the schedule.
            model: put in train mode at the start (``loss_fn`` may switch parts to eval).
            params: the parameters this phase trains (a fresh Adam is built over them).
            loss_fn: ``(batch, alpha) -> {"loss": scalar, other terms...}``.
            data: (N, ...) tensor the batches are drawn from.
            resume: state saved by an earlier, interrupted run of this same phase.
            on_checkpoint: called with the phase state every ``checkpoint_every`` seconds and
                when the phase ends; the caller saves it with the model.
            describe: extra text for the progress bar (e.g. the number of leaves).
            augment: applied to each batch before ``loss_fn``.
            phase_index: position of this phase in the whole fit; with ``seed`` it fixes the
                batch order, so a resumed fit draws the same batches as an uninterrupted one.
            stop_at: stop after this many steps of the phase (its schedule unchanged); the
                final ``on_checkpoint`` call then holds the state to continue it from.
        """
        params = [p for p in params if p.requires_grad]
        names = parameter_names(model, params)
        # By name: the optimizer lays the parameters out in one buffer in this order, and a
        # fit resumed from a checkpoint (whose rebuilt model may list them in another order)
        # must lay them out alike to round alike.
        order = sorted(range(len(params)), key=names.__getitem__)
        params, names = [params[i] for i in order], [names[i] for i in order]
        n = data.shape[0]
        if n == 0:
            raise ValueError(f"phase {phase.name!r} has no data to train on")
        data = self._on_device(data)
        optimizer = make_optimizer(params, phase.lr, phase.weight_decay, self.device)
        state = resume or PhaseState(phase=phase.name)
        generator = torch.Generator().manual_seed(self.seed + phase_index * 7919)
        if resume is not None:
            if resume.phase != phase.name:
                raise ValueError(
                    f"cannot resume phase {phase.name!r} from a {resume.phase!r} state"
                )
            if resume.optimizer is not None:
                optimizer.load_state_dict(optimizer_state_by_position(resume.optimizer, names))
            if resume.torch_rng is not None:
                torch.set_rng_state(resume.torch_rng)
            if resume.generator is not None:
                generator.set_state(resume.generator)
        world = self.world
        if world is not None:  # every rank starts from rank 0's weights and RNG, on the same data
            world.sync_module(model)
            every = max(1, n // 64)
            world.check_same([list(data.shape), float(data[::every].double().sum())],
                             "the training data", "; give every process the whole data set "
                             "(each reads its own shard of every epoch)")  # fmt: skip
        per_epoch = self.steps_per_epoch(n)
        batch = min(self.batch_size, self._rows_per_rank(n))
        buffers = batchnorm_buffers(model) if world is not None else []
        rows: list[dict[str, Any]] = state.rows
        bar = tqdm(
            total=phase.steps,
            initial=state.step,
            desc=phase.name,
            disable=not self.progress,
            leave=False,
            dynamic_ncols=True,
        )
        last_save = time.monotonic()
        order = state.order if state.order is not None else torch.randperm(n, generator=generator)
        model.train()
        end = phase.steps if stop_at is None else min(stop_at, phase.steps)
        try:
            while state.step < end:
                in_epoch = state.step % per_epoch
                if in_epoch == 0 and state.step > 0:
                    order = torch.randperm(n, generator=generator)
                state.order = order  # the whole permutation: a resume may have another world size
                mine = order if world is None else world.shard(order)
                idx = mine[in_epoch * batch : (in_epoch + 1) * batch]
                x = data[idx.to(data.device)].to(self.device, non_blocking=True)
                if augment is not None:
                    x = augment(x)
                lr = phase.lr * phase.lr_factor(state.step)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                alpha = phase.alpha(state.step)
                with autocast(self.precision, self.device):
                    terms = loss_fn(x, alpha)
                loss = terms["loss"]
                if world is None:
                    _check_finite(loss, phase, state.step)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if world is not None:
                    # The terms are averaged with the gradients: every rank logs the same
                    # history and stops together when any rank's loss is not finite.
                    keys = list(terms)
                    values = torch.stack([_scalar(terms[k], self.device) for k in keys])
                    averaged = world.average_step(params, buffers, values)
                    terms = dict(zip(keys, averaged, strict=True))
                    loss = terms["loss"]
                    _check_finite(loss, phase, state.step)
                optimizer.step()
                state.step += 1
                for key, value in terms.items():
                    value = float(value.detach()) if torch.is_tensor(value) else float(value)
                    state.epoch_sums[key] = state.epoch_sums.get(key, 0.0) + value
                state.epoch_count += 1
                if state.step % per_epoch == 0 or state.step == end:
                    row = {"phase": phase.name, "step": state.step, "alpha": alpha, "lr": lr}
                    row |= {k: v / state.epoch_count for k, v in state.epoch_sums.items()}
                    rows.append(row)
                    state.epoch_sums, state.epoch_count = {}, 0
                bar.update(1)
                if state.step % 10 == 0 or state.step == phase.steps:
                    post = {"loss": f"{loss.item():.2f}"}
                    if phase.kl_start < 1 or phase.kl_increment > 0:  # annealed KL weight
                        post["kl_w"] = f"{alpha:.2f}"
                    post["epoch"] = f"{-(-state.step // per_epoch)}/{-(-phase.steps // per_epoch)}"
                    if describe is not None:
                        post["tree"] = describe()
                    bar.set_postfix(post, refresh=False)
                if on_checkpoint is not None and (
                    time.monotonic() - last_save > self.checkpoint_every
                ):
                    on_checkpoint(self._snapshot(state, optimizer, generator, names))
                    last_save = time.monotonic()
        finally:
            bar.close()
        self.history.extend(rows)
        if on_checkpoint is not None:
            on_checkpoint(self._snapshot(state, optimizer, generator, names))
        logger.info("phase %s done: %d steps, last %s", phase.name, state.step, rows[-1:] or "-")
        return rows

    @staticmethod
    def _snapshot(
        state: PhaseState,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        names: list[str],
    ) -> PhaseState:
        return PhaseState(
            phase=state.phase,
            step=state.step,
            optimizer=optimizer_state_by_name(optimizer.state_dict(), names),
            torch_rng=torch.get_rng_state(),
            generator=generator.get_state(),
            epoch_sums=dict(state.epoch_sums),
            epoch_count=state.epoch_count,
            order=state.order,
            rows=[dict(row) for row in state.rows],
        )


def _scalar(value: Tensor | float, device: torch.device) -> Tensor:
    """A logged term as a float32 0-d tensor on ``device``, detached."""
    return torch.as_tensor(value, dtype=torch.float32).detach().to(device).reshape(())


def _check_finite(loss: Tensor, phase: Phase, step: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingDiverged(
            f"the loss became {loss.item()} in phase {phase.name!r} at step {step}; lower the "
            f"learning rate or check the data"
        )


def parameter_names(model: nn.Module, params: list[nn.Parameter]) -> list[str]:
    """The name in ``model`` of each parameter of ``params`` (same order)."""
    by_id = {id(p): name for name, p in model.named_parameters()}
    missing = [i for i, p in enumerate(params) if id(p) not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} trained parameter(s) are not parameters of the model")
    return [by_id[id(p)] for p in params]


def optimizer_state_by_name(state: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """An optimizer ``state_dict()`` whose per-parameter entries are keyed by parameter name.

    Args:
        state: ``optimizer.state_dict()``, whose ``state`` and ``param_groups[i]["params"]``
            refer to parameters by position.
        names: the name of the parameter at each position.
    """
    return {
        "state": {names[int(i)]: s for i, s in state["state"].items()},
        "param_groups": [
            {**g, "params": [names[int(i)] for i in g["params"]]} for g in state["param_groups"]
        ],
    }


def optimizer_state_by_position(state: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The inverse of :func:`optimizer_state_by_name` for parameters listed as ``names`` now."""
    position = {name: i for i, name in enumerate(names)}
    saved = [name for g in state["param_groups"] for name in g["params"]]
    if sorted(saved) != sorted(names):
        raise ValueError(
            "the saved optimizer state is for other parameters "
            f"({sorted(set(saved) ^ set(names))[:5]} differ); the checkpoint does not match "
            "this model"
        )
    # Optimizer.load_state_dict pairs a saved group's ids with the current group's parameters
    # by position, so each group lists its ids in the current order.
    return {
        "state": {position[name]: s for name, s in state["state"].items()},
        "param_groups": [
            {**g, "params": sorted(position[name] for name in g["params"])}
            for g in state["param_groups"]
        ],
    }
