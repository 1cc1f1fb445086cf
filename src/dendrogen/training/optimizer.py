"""The Trainer's optimizer: Adam with coupled L2 (the papers' optimizer) over one flat buffer.

A grown TreeVAE trains hundreds of small tensors (about 800 at 20 leaves). Per-tensor Adam, even
PyTorch's fused kernel, walks them one by one, with a step counter per tensor, and zeroing the
gradients is another loop: 7–10 ms of a 75–115 ms step on the 2-core VM (BENCHMARKS.md, "One
flat Adam"). :class:`FlatAdam` instead re-seats the parameters as views of one flat tensor and
their gradients as views of another, so an optimizer step is one fused kernel over one tensor
and zeroing the gradients is one fill. Element by element it is the same arithmetic as
``torch.optim.Adam``; its ``state_dict`` has the per-parameter form of ``torch.optim.Adam`` so
checkpoints do not change.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def make_adam(
    params: list[nn.Parameter], lr: float, weight_decay: float, device: torch.device
) -> torch.optim.Adam:
    """Per-tensor Adam with coupled L2, using the fused kernel where available (the default
    per-tensor loop costs thousands of small ops per step on a tree of modules)."""
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):  # fused needs a device/dtype this torch does not support
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, foreach=True)


#: Each parameter starts a multiple of 16 elements (64 bytes of float32) into the buffer, the
#: alignment a tensor of its own gets from the allocator, so the kernels that read it and the
#: vectorised Adam step meet it at the same alignment as before.
ALIGN = 16


def _dense(p: Tensor) -> bool:
    """True when p's elements fill its storage span exactly once (contiguous or channels-last),
    so it can live at an offset of a flat buffer with its own strides."""
    if p.is_contiguous():
        return True
    return p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last)


def flat_adam_applies(params: list[nn.Parameter]) -> bool:
    """Whether :class:`FlatAdam` can hold ``params``: at least two, distinct, one dtype (a
    floating one) and device, each dense in memory."""
    if len(params) < 2 or len({id(p) for p in params}) != len(params):
        return False
    first = params[0]
    if not first.dtype.is_floating_point:
        return False
    return all(p.dtype == first.dtype and p.device == first.device and _dense(p) for p in params)


def _seat(buffer: Tensor, p: Tensor, offset: int) -> Tensor:
    """The view of ``buffer`` at ``offset`` with p's shape and strides."""
    return buffer.as_strided(p.size(), p.stride(), offset)


class FlatAdam:
    """Adam (coupled L2) whose parameters and gradients are views of two flat buffers.

    Built like ``torch.optim.Adam(params, lr, weight_decay)``; the Trainer uses it through
    ``param_groups`` (to set the learning rate), ``zero_grad``, ``step``, ``state_dict`` and
    ``load_state_dict``.

    The buffers are laid out at the first :meth:`step`, from the parameters that have a gradient
    then; a parameter without one (not used by the loss) keeps its own per-tensor Adam, which
    skips it as ``torch.optim.Adam`` would. A parameter that has a gradient in the first step
    is assumed to get one in every step (as the Trainer's models do); were it to miss one, it
    would be updated with a zero gradient. Between steps nothing else may replace a parameter's
    ``.grad``: autograd's in-place accumulation into it is what fills the buffer. The parameters
    stay views of the buffers after the phase: saving copies them (``dendrogen.io``), and the
    next phase's optimizer re-seats them.
    """

    def __init__(self, params: list[nn.Parameter], lr: float, weight_decay: float) -> None:
        if not flat_adam_applies(params):
            raise ValueError("FlatAdam needs distinct dense parameters of one dtype and device")
        self.params = list(params)
        # Holds the hyperparameters, and any loaded state until the buffers exist.
        self._template = make_adam(self.params, lr, weight_decay, params[0].device)
        self.param_groups = self._template.param_groups
        self._flat: nn.Parameter | None = None
        self._grad: Tensor | None = None
        self._offsets: list[int] = []
        self._seated: list[int] = []  # positions of the parameters in the flat buffers
        self._adam: torch.optim.Adam | None = None
        self._rest: torch.optim.Adam | None = None  # parameters without a gradient
        self._rest_positions: list[int] = []

    # ------------------------------------------------------------------ steps
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero the flat gradient (one fill); before the first step, drop every gradient.
        ``set_to_none`` is accepted for ``torch.optim``'s signature; the buffer is always kept."""
        if self._grad is None:
            for p in self.params:
                p.grad = None
            return
        self._grad.zero_()
        for i in self._rest_positions:
            self.params[i].grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step at ``param_groups[0]["lr"]``; the first lays out the buffers."""
        if self._adam is None:
            self._lay_out()
        assert self._adam is not None
        lr = self.param_groups[0]["lr"]
        self._adam.param_groups[0]["lr"] = lr
        self._adam.step()
        if self._rest is not None:
            self._rest.param_groups[0]["lr"] = lr
            self._rest.step()

    def _lay_out(self) -> None:
        """Move the parameters with a gradient (and their gradients) into the flat buffers."""
        self._seated = [i for i, p in enumerate(self.params) if p.grad is not None]
        self._rest_positions = [i for i, p in enumerate(self.params) if p.grad is None]
        seated = [self.params[i] for i in self._seated]
        offset = 0
        for p in seated:
            self._offsets.append(offset)
            offset += -(-p.numel() // ALIGN) * ALIGN
        first = self.params[0]
        # Zeros between the parameters stay zero: their gradient is 0 and so is their decay.
        flat = torch.zeros(offset, dtype=first.dtype, device=first.device)
        grad = torch.zeros_like(flat)
        for p, offset in zip(seated, self._offsets, strict=True):
            view = _seat(flat, p, offset)
            view.copy_(p.data)
            g = _seat(grad, p, offset)
            g.copy_(p.grad)
            p.data = view
            p.grad = g  # autograd now accumulates into the buffer in place
        self._flat = nn.Parameter(flat)
        self._flat.grad = grad
        self._grad = grad
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        self._adam = make_adam([self._flat], group["lr"], group["weight_decay"], first.device)
        saved = self._template.state_dict()
        seated_state = [saved["state"].get(i) for i in self._seated]
        if any(s is not None for s in seated_state):
            self._adam.load_state_dict(self._flat_state(seated_state, saved["param_groups"][0]))
        if self._rest_positions:
            rest = [self.params[i] for i in self._rest_positions]
            self._rest = make_adam(rest, group["lr"], group["weight_decay"], first.device)
            by_position = {j: saved["state"][i] for j, i in enumerate(self._rest_positions)
                           if i in saved["state"]}  # fmt: skip
            if by_position:
                self._rest.load_state_dict({"state": by_position, "param_groups": [
                    {**saved["param_groups"][0], "params": list(range(len(rest)))}]})  # fmt: skip
        self._template = None

    def _flat_state(self, states: list[dict | None], group: dict[str, Any]) -> dict[str, Any]:
        """A loaded per-parameter state as the flat parameter's state."""
        if any(s is None for s in states):
            raise ValueError("the saved optimizer state covers only some of the parameters")
        steps = {float(s["step"]) for s in states}
        if len(steps) != 1:
            raise ValueError(f"the saved optimizer state has several step counts: {sorted(steps)}")
        seated = [self.params[i] for i in self._seated]
        flat = {}
        for key in ("exp_avg", "exp_avg_sq"):
            buffer = torch.empty_like(self._flat)
            for p, s, offset in zip(seated, states, self._offsets, strict=True):
                _seat(buffer, p, offset).copy_(s[key])
            flat[key] = buffer
        flat["step"] = states[0]["step"].clone()
        return {"state": {0: flat}, "param_groups": [{**group, "params": [0]}]}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The state in ``torch.optim.Adam``'s per-parameter form (positions of ``params``)."""
        if self._adam is None:
            return self._template.state_dict()
        state: dict[int, dict[str, Tensor]] = {}
        flat_state = self._adam.state.get(self._flat)
        if flat_state:
            for i, offset in zip(self._seated, self._offsets, strict=True):
                p = self.params[i]
                state[i] = {"step": flat_state["step"].clone()}
                for key in ("exp_avg", "exp_avg_sq"):
                    state[i][key] = _seat(flat_state[key], p, offset).clone()
        if self._rest is not None:
            rest = self._rest.state_dict()["state"]
            for j, i in enumerate(self._rest_positions):
                if j in rest:
                    state[i] = rest[j]
        group = {k: v for k, v in self._adam.param_groups[0].items() if k != "params"}
        positions = list(range(len(self.params)))
        return {"state": state, "param_groups": [{**group, "params": positions}]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a per-parameter state (from :meth:`state_dict` or ``torch.optim.Adam``) before
        the first step, as the Trainer does when it resumes a phase."""
        if self._adam is not None:
            raise RuntimeError("FlatAdam loads a state only before its first step")
        self._template.load_state_dict(state)
        self.param_groups = self._template.param_groups


def make_optimizer(
    params: list[nn.Parameter], lr: float, weight_decay: float, device: torch.device
) -> FlatAdam | torch.optim.Adam:
    """:class:`FlatAdam` where it applies, else per-tensor Adam (:func:`make_adam`)."""
    if flat_adam_applies(params):
        return FlatAdam(params, lr, weight_decay)
    return make_adam(params, lr, weight_decay, device)
