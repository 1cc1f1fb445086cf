"""Best of several short restarts: model selection by the model's own objective.

A phase whose outcome depends on its random initialisation (TreeVAE's first split, each new
subtree) is started ``n`` times from different initialisations for a fraction of its steps; the
candidate with the best held-out score is kept and its phase continues from exactly where it
stopped (same optimizer state, same schedule), so a single restart reproduces the plain phase.
No labels are involved: the score is the ELBO on rows held out of training.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dendrogen.training.schedules import Phase
from dendrogen.training.trainer import LossFn, PhaseState, Trainer

logger = logging.getLogger(__name__)


@dataclass
class Selection:
    """The outcome of :func:`best_of_restarts`.

    Attributes:
        best: index of the kept candidate.
        scores: held-out score of every candidate (higher is better).
        state: the kept candidate's phase state, to continue the phase from.
        history: per-epoch rows of every candidate, tagged with ``candidate``.
    """

    best: int
    scores: list[float]
    state: PhaseState
    history: list[dict]


def reset_parameters(modules: Iterable[nn.Module]) -> None:
    """Re-draw the initial weights of every layer in ``modules`` from torch's global generator
    (BatchNorm statistics included), as when the modules were first built."""
    for module in modules:
        for layer in module.modules():
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
            if hasattr(layer, "reset_running_stats"):
                layer.reset_running_stats()


def best_of_restarts(
    trainer: Trainer,
    phase: Phase,
    model: nn.Module,
    modules: list[nn.Module],
    loss_fn: LossFn,
    data: Tensor,
    score: Callable[[], float],
    *,
    n_restarts: int,
    steps: int,
    seed: int,
    phase_index: int,
    describe: Callable[[], str] | None = None,
) -> Selection:
    """Train ``n_restarts`` initialisations of ``modules`` for ``steps`` steps of ``phase`` each
    and leave ``model`` holding the one that ``score`` (e.g. held-out ELBO) rates best.

    Candidate 0 keeps the modules' current weights, so one restart is the plain phase. The
    others re-draw them (:func:`reset_parameters`) from ``seed`` and the candidate's index. Only
    the parameters of ``modules`` are trained; the rest of ``model`` stays as it is.
    """
    if n_restarts < 1:
        raise ValueError(f"n_restarts must be >= 1, got {n_restarts}")
    params = [p for m in modules for p in m.parameters()]
    owned = {id(t) for m in modules for t in (*m.parameters(), *m.buffers())}
    names = [k for k, t in model.state_dict(keep_vars=True).items() if id(t) in owned]
    best: tuple[float, int, dict, PhaseState] | None = None
    scores: list[float] = []
    history: list[dict] = []
    rng_before = torch.get_rng_state()
    for candidate in range(n_restarts):
        if candidate > 0:
            torch.manual_seed(seed * 1009 + candidate)
            reset_parameters(modules)
        else:
            torch.set_rng_state(rng_before)
        saved: list[PhaseState] = []
        rows = trainer.run(
            phase, model, params, loss_fn, data, on_checkpoint=saved.append, describe=describe,
            phase_index=phase_index + 1000 * candidate, stop_at=steps,
        )  # fmt: skip
        history += [dict(row, candidate=candidate) for row in rows]
        value = float(score())
        scores.append(value)
        logger.info("%s candidate %d: held-out score %.4f", phase.name, candidate, value)
        if best is None or value > best[0]:
            weights = {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}
            best = (value, candidate, weights, copy.deepcopy(saved[-1]))
    assert best is not None
    _, index, weights, state = best
    model.load_state_dict(weights, strict=False)
    return Selection(best=index, scores=scores, state=state, history=history)
