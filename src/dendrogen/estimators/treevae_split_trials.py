"""Which leaf TreeVAE splits next, chosen by the ELBO (issue "Trustworthy trees").

The paper splits the leaf with the most confident samples. With ``schedule={"split_candidates":
k}`` the first k leaves of that order compete: each is split in a copy of the model and its
subtree trained for ``split_trial`` of its phase, on the leaf's confident rows minus a held-out
slice of the training set; the split whose copy has the best mean ELBO on that slice wins. The
model takes the winner's weights, and the winner's subtree phase goes on from where its trial
stopped, so the chosen split costs no extra steps and every other candidate costs its trial.
Every trial starts from the same random state, so the candidates differ only in the leaf they
split. The held-out rows are left out of every candidate's subtree phase, the winner's included.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dendrogen.models.treevae.growth import SplitDecision
from dendrogen.training import PhaseState

#: The share of the training rows held out to score the candidates, and its cap in rows.
HELD_OUT_FRACTION = 0.1
HELD_OUT_MAX = 2048


@dataclass
class SplitTrial:
    """A candidate split after its trial: its held-out ELBO, the trained copy's weights, the
    state its subtree phase resumes from and the copy's split-init record (if any)."""

    decision: SplitDecision
    elbo: float
    weights: dict[str, torch.Tensor]
    phase: PhaseState
    records: list[dict[str, Any]] = field(default_factory=list)


def held_out_rows(n: int, seed: int) -> np.ndarray:
    """Sorted indices of the slice of ``n`` training rows that scores the candidates: a tenth,
    at most :data:`HELD_OUT_MAX`, at least one row."""
    size = max(1, min(HELD_OUT_MAX, round(n * HELD_OUT_FRACTION)))
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def best_split(
    model: torch.nn.Module,
    candidates: list[SplitDecision],
    train: Callable[[torch.nn.Module, SplitDecision], tuple[PhaseState, list[dict]]],
    score: Callable[[torch.nn.Module], float],
) -> tuple[SplitTrial, list[float]]:
    """Try every candidate on a copy of ``model`` and return the best trial with every
    candidate's score (in the order of ``candidates``).

    ``train(copy, decision)`` trains the copy, already split at ``decision.leaf``, and returns the
    phase state to resume from and history records; ``score(copy)`` is its held-out mean ELBO.
    A tie keeps the earlier candidate (the paper's order).
    """
    best: SplitTrial | None = None
    scores = []
    for decision in candidates:
        trial_model = copy.deepcopy(model)
        with torch.random.fork_rng(devices=[]):  # every trial starts from the same RNG state
            trial_model.split_leaf(decision.leaf)
            phase, records = train(trial_model, decision)
        scores.append(score(trial_model))
        if best is None or scores[-1] > best.elbo:
            # The copy is not trained again, so its tensors can be kept as they are.
            best = SplitTrial(decision, scores[-1], trial_model.state_dict(), phase, records)
    assert best is not None, "best_split needs at least one candidate"
    return best, scores
