"""Data-parallel training on several processes (``torchrun``), one :class:`World` per fit.

Every rank holds the whole training set in memory and the same model. Per step, each rank reads
its own shard of the epoch's permutation (``torch.utils.data.DistributedSampler`` semantics: the
seeded permutation is padded by wrap-around to a multiple of the world size and rank r takes
every world_size-th row from r), computes its loss, and the gradients of the parameters the phase
trains are averaged over ranks by ONE flat all-reduce per step, which also averages the logged
loss terms and the BatchNorm running statistics.

Why an explicit all-reduce and not ``DistributedDataParallel``: DDP hooks the autograd graph of
``module.forward``, but TreeVAE trains subtrees through ``subtree_loss`` (not ``forward``), grows
new modules between phases (DDP would have to be rebuilt after each), and leaves parameters unused
in data-dependent ways (a router whose leaves receive no row); ``find_unused_parameters`` costs a
graph traversal per step and ``static_graph`` is wrong for a growing tree. Reducing the gradients
of exactly the parameters a phase trains (zeros where a rank produced none) has the arithmetic of
DDP (the mean of per-rank gradients of per-rank mean losses, i.e. the gradient of the mean loss
over world_size x batch_size rows), cannot hang on unused parameters because every rank reduces
the same list, and works for any ``loss_fn``. Without DDP's bucketing, the communication does not
overlap the backward pass; for the models here (a few million parameters at most) one flat
all-reduce per step is a small cost next to the compute (see BENCHMARKS.md).

BatchNorm: each rank normalises with its own batch statistics (B rows), as DDP does without
``SyncBatchNorm``; the running statistics are averaged over ranks at every step, so the models
stay identical. Synchronised BatchNorm would need a collective inside every forward, including
the evaluation-free passes that only rank 0 runs (split initialisation), and a batch of B rows per
rank is what the paper's batch size already gives a single process. The loss-trajectory test
(tests/test_distributed.py) measures the difference this and the noise make.

Anything that decides structure (TreeVAE's splits and prunes) is computed from statistics
gathered over ranks (every rank then holds the same bytes and decides the same thing), split
initialisation (k-means, a router fit) runs on rank 0 and is broadcast, and every phase starts
by broadcasting rank 0's weights, buffers and RNG state, so all ranks always hold the same model.

Failures: a collective that fails (a peer died: its socket closes) or times out
(``DENDROGEN_DISTRIBUTED_TIMEOUT`` seconds, default 1800) raises :class:`DistributedError` on the
surviving ranks, which then exit non-zero instead of waiting forever.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor, nn
from torch import distributed as dist

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: seconds a collective may wait for the other ranks before the run fails.
DEFAULT_TIMEOUT_S = 1800.0
TIMEOUT_ENV = "DENDROGEN_DISTRIBUTED_TIMEOUT"
#: seconds the ranks wait for each other at a normal exit before tearing the group down.
EXIT_BARRIER_S = 30.0
#: set when a collective failed or an exception ended the program: the exit then skips the
#: barrier (a peer may be dead, or waiting in a collective that a barrier must not answer).
_failed = False


class DistributedError(RuntimeError):
    """A collective operation failed or timed out: another process of the run has failed or
    stopped responding. Its own error message says why."""


def launched_by_torchrun() -> bool:
    """True when the environment of ``torchrun`` (or of any ``env://`` launcher) is set."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def process_rank() -> int:
    """This process's rank when a process group is up, else 0 (e.g. to write files once)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return 0


def is_main_process() -> bool:
    """False on every rank but 0 of an initialised process group: those do not write files."""
    return process_rank() == 0


@dataclass(frozen=True)
class World:
    """This process's place in a data-parallel run.

    Attributes:
        rank: 0..world_size-1; rank 0 writes files and runs single-process decisions.
        world_size: number of processes.
        device: where this rank computes (``cuda:LOCAL_RANK`` with NCCL, the CPU with gloo).
    """

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ------------------------------------------------------------------ data
    def shard_size(self, n: int) -> int:
        """Rows per rank per epoch of n rows (DistributedSampler: ceil(n / world_size))."""
        return -(-n // self.world_size)

    def shard(self, order: Tensor) -> Tensor:
        """This rank's rows of an epoch's permutation ``order`` (N,): padded by wrap-around to a
        multiple of the world size, then every world_size-th from ``rank`` ((ceil(N/W),))."""
        total = self.shard_size(order.numel()) * self.world_size
        if total > order.numel():
            reps = -(-total // order.numel())
            order = order.repeat(reps)[:total]
        return order[self.rank : total : self.world_size]

    def block(self, n: int) -> slice:
        """A contiguous block of rows 0..n-1 for this rank (for statistics gathered in order)."""
        size = self.shard_size(n)
        return slice(min(n, self.rank * size), min(n, (self.rank + 1) * size))

    # ------------------------------------------------------------------ collectives
    @contextlib.contextmanager
    def collective(self, what: str) -> Iterator[None]:
        """Turn a failed or timed-out collective into one :class:`DistributedError`."""
        try:
            yield
        except DistributedError:
            raise
        except RuntimeError as err:  # DistBackendError, gloo's "Connection closed by peer"...
            _mark_failed()
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DistributedError(
                f"rank {self.rank} of {self.world_size}: {what} failed, so another process of "
                f"this run has failed or stopped responding (see its own error); stopping. "
                f"Cause: {first}"
            ) from err

    def all_reduce_mean(self, flat: Tensor, what: str = "averaging the gradients") -> Tensor:
        """The mean over ranks of ``flat`` (in place)."""
        with self.collective(what):
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        return flat.div_(self.world_size)

    def all_reduce_sum(self, values: np.ndarray, what: str = "summing statistics") -> np.ndarray:
        """Sum over ranks of a float64 array (same shape on every rank)."""
        t = torch.as_tensor(np.asarray(values, dtype=np.float64)).to(self._comm_device)
        with self.collective(what):
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.cpu().numpy()

    def gather_rows(
        self, local: np.ndarray, n: int, what: str = "gathering statistics"
    ) -> np.ndarray:
        """Concatenate every rank's :meth:`block` of rows into the full (n, ...) array, the same
        bytes on every rank (gloo's all_gather needs equal sizes: blocks are padded)."""
        size = self.shard_size(n)
        local = np.ascontiguousarray(local)
        padded = np.zeros((size, *local.shape[1:]), dtype=local.dtype)
        padded[: local.shape[0]] = local
        t = torch.from_numpy(padded).to(self._comm_device)
        parts = [torch.empty_like(t) for _ in range(self.world_size)]
        with self.collective(what):
            dist.all_gather(parts, t)
        return torch.cat(parts).cpu().numpy()[:n]

    def broadcast_object(self, obj: T, what: str = "broadcasting a decision") -> T:
        """Rank 0's ``obj`` on every rank (pickled between the processes of this run only)."""
        box = [obj if self.is_main else None]
        with self.collective(what):
            dist.broadcast_object_list(box, src=0, device=self._comm_device)
        return box[0]

    def run_on_main(self, fn: Callable[[], T], what: str) -> T:
        """Run ``fn`` on rank 0 only and return its result (or raise its error) everywhere."""
        result: Any = None
        error = None
        failure: Exception | None = None
        if self.is_main:
            try:
                result = fn()
            except Exception as err:  # the other ranks learn of it before rank 0 re-raises it
                failure = err
                error = (type(err).__name__, str(err), isinstance(err, ValueError))
        result, error = self.broadcast_object((result, error), what)
        if failure is not None:
            raise failure
        if error is not None:  # a ValueError (e.g. another run's checkpoint) stays one
            name, message, is_value_error = error
            if is_value_error:
                raise ValueError(message)
            raise DistributedError(f"rank 0 failed in {what}: {name}: {message}")
        return result

    def check_same(self, value: Any, what: str, hint: str = "") -> None:
        """Raise when ``value`` (JSON-able) differs between ranks: a divergence the design
        rules out, caught at once rather than as a hang or a wrong model later."""
        digest = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).digest()
        mine = np.frombuffer(digest[:8], dtype=np.int64).astype(np.float64)
        every = self.gather_rows(mine[None], self.world_size, f"comparing {what}")
        if not np.all(every == every[0]):
            raise ValueError(f"rank {self.rank}: {what} differs between ranks{hint}")

    def sync_module(self, module: nn.Module) -> None:
        """Give every rank rank 0's parameters, buffers and torch RNG state (one broadcast),
        after checking that every rank holds a module of the same structure."""
        tensors = list(module.state_dict().values())
        names = [(k, tuple(v.shape), str(v.dtype)) for k, v in module.state_dict().items()]
        self.check_same(names, "the model's structure")
        # Integer buffers too (BatchNorm's num_batches_tracked, which split init resets on rank
        # 0): float64 holds every integer below 2**53 exactly.
        values = [t for t in tensors if t.dtype != torch.bool and not t.is_complex()]
        with torch.no_grad():
            if values:
                flat = torch.cat([t.detach().reshape(-1).to(self._comm_device, torch.float64)
                                  for t in values])  # fmt: skip
                with self.collective("broadcasting the weights"):
                    dist.broadcast(flat, src=0)
                offset = 0
                for t in values:
                    part = flat[offset : offset + t.numel()].view(t.shape)
                    t.copy_(part.to(t.device, t.dtype))
                    offset += t.numel()
        rng = self.broadcast_object(torch.get_rng_state(), "broadcasting the RNG state")
        torch.set_rng_state(rng)

    def average_step(
        self, params: Sequence[nn.Parameter], buffers: Sequence[Tensor], terms: Tensor
    ) -> Tensor:
        """One all-reduce per step: average the gradients of ``params`` (a parameter without a
        gradient on this rank counts as zeros), the float ``buffers`` (BatchNorm running
        statistics) in place, and the loss ``terms`` (K,); returns the averaged terms."""
        device = terms.device
        parts = [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), device=device,
                 dtype=p.dtype) for p in params]  # fmt: skip
        parts += [b.reshape(-1) for b in buffers]
        parts.append(terms.to(torch.float32))
        flat = torch.cat([q.to(device, torch.float32) for q in parts])
        self.all_reduce_mean(flat)
        offset = 0
        with torch.no_grad():
            for p in params:
                grad = flat[offset : offset + p.numel()].view(p.shape).to(p.dtype)
                if p.grad is None:
                    p.grad = grad.clone()
                else:
                    p.grad.copy_(grad)
                offset += p.numel()
            for b in buffers:
                b.copy_(flat[offset : offset + b.numel()].view(b.shape))
                offset += b.numel()
        return flat[offset:]

    @property
    def _comm_device(self) -> torch.device:
        """NCCL moves CUDA tensors only; gloo CPU tensors."""
        return self.device if self.device.type == "cuda" else torch.device("cpu")


def over_rows(
    world: World | None, X: np.ndarray, compute: Callable[[np.ndarray], np.ndarray], what: str
) -> np.ndarray:
    """``compute(X)`` (N, ...) -> (N, ...) row-wise; in a data-parallel fit each rank computes
    its :meth:`World.block` of rows and the blocks are gathered, so every rank gets the same
    bytes (and decides the same thing from them) for 1/world_size of the work."""
    if world is None:
        return compute(X)
    block = X[world.block(X.shape[0])]
    local = compute(block) if len(block) else compute(X[:1])[:0]  # a rank may get no row
    return world.gather_rows(local, X.shape[0], what)


def on_main(world: World | None, fn: Callable[[], T], module: nn.Module, what: str) -> T:
    """``fn()``, which changes ``module`` (e.g. TreeVAE's split init: k-means, then a router
    fit), run on rank 0 only; its result, the module and the RNG are then sent to every rank."""
    if world is None:
        return fn()
    result = world.run_on_main(fn, what)
    world.sync_module(module)
    return result


def batchnorm_buffers(module: nn.Module) -> list[Tensor]:
    """The running means and variances of every BatchNorm layer of ``module``."""
    out = []
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.track_running_stats:
            out += [b for b in (layer.running_mean, layer.running_var) if b is not None]
    return out


def timeout() -> timedelta:
    """The collective timeout, from ``DENDROGEN_DISTRIBUTED_TIMEOUT`` (seconds)."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
    return timedelta(seconds=seconds)


def setup(distributed: bool | None, device: torch.device) -> World | None:
    """The :class:`World` of this fit, initialising the process group if needed; None for a
    single-process fit.

    Args:
        distributed: True requires a torchrun environment (or an initialised process group);
            None (auto) is distributed when one is present; False never is.
        device: the estimator's device. ``cuda`` means this rank's GPU (``LOCAL_RANK``) and the
            NCCL backend; the CPU means gloo.
    """
    if distributed is False or not dist.is_available():
        if distributed:
            raise ValueError("distributed=True, but this torch has no torch.distributed")
        return None
    up = dist.is_initialized()
    if not up and not launched_by_torchrun():
        if distributed:
            raise ValueError(
                "distributed=True needs a torchrun environment (RANK, WORLD_SIZE, MASTER_ADDR, "
                "MASTER_PORT), e.g. `torchrun --nproc-per-node 2 -m dendrogen fit ...`"
            )
        return None
    if device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not up:
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=timeout())
        atexit.register(_shutdown)
        _chain_excepthook()
        logger.info("process group up: rank %d of %d (%s)", dist.get_rank(),
                    dist.get_world_size(), backend)  # fmt: skip
    elif device.type == "cuda" and dist.get_backend() != "nccl":
        raise ValueError(f"device={device} needs the nccl backend, not {dist.get_backend()}")
    return World(rank=dist.get_rank(), world_size=dist.get_world_size(), device=device)


def _mark_failed() -> None:
    global _failed
    _failed = True


def _chain_excepthook() -> None:
    """Remember an uncaught exception (the hook runs before ``atexit``) and report it as before."""
    previous = sys.excepthook

    def hook(kind, value, traceback):
        _mark_failed()
        previous(kind, value, traceback)

    sys.excepthook = hook


def _shutdown() -> None:
    """Tear the process group down at exit, after the other ranks have finished too.

    Without the barrier a rank that finishes first (rank 0 still writing files, say) destroys
    its gloo pairs and exits while a peer is still connected; gloo's teardown of a group whose
    peer vanished is where an abort at exit has been seen ("terminate called without an active
    exception", SIGABRT after the fit had finished). The barrier is skipped after a failure.
    """
    if not dist.is_initialized():
        return
    if not _failed and dist.get_backend() == "gloo" and dist.get_world_size() > 1:
        with contextlib.suppress(Exception):
            dist.monitored_barrier(timeout=timedelta(seconds=EXIT_BARRIER_S))
    with contextlib.suppress(Exception):
        dist.destroy_process_group()


__all__ = [
    "DistributedError",
    "World",
    "batchnorm_buffers",
    "is_main_process",
    "launched_by_torchrun",
    "on_main",
    "over_rows",
    "process_rank",
    "setup",
]
