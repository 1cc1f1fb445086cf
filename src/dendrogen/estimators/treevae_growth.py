"""How a TreeVAE is fitted (treevae.md §3): the phase state machine behind ``TreeVAE.fit``.

An initial tree of two leaves; growth (each new subtree trained on the samples of the split leaf,
the rest frozen; the full tree trained every third iteration); pruning of leaves holding under
``min_leaf_fraction`` of the data; fine-tuning. With ``schedule={"split_init": "kmeans"}`` each
split starts from 2-means on its router's input (models/treevae/split_init.py); with
``{"split_candidates": k}`` k leaves compete for each split (estimators/treevae_split_trials.py).
The ``cursor`` dict says where the fit stands; it is saved with every checkpoint, so a killed fit
resumes exactly.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import torch

from dendrogen.estimators.treevae_split_trials import best_split, held_out_rows
from dendrogen.models.treevae.growth import smallest_leaf_to_prune, split_candidates
from dendrogen.models.treevae.split_init import initialise_split
from dendrogen.training import Checkpoint, PhaseState, Resumed
from dendrogen.training.distributed import on_main, over_rows

logger = logging.getLogger(__name__)

#: With ``growth_prune``, a node whose split has been undone this many times is not split again.
MAX_SPLIT_ATTEMPTS = 3


class TreeGrowth:
    """The fitting procedure of :class:`dendrogen.TreeVAE` (a mixin: it uses the estimator's
    ``module_``, ``history_``, parameters and checkpoint helpers)."""

    def _train(self, trainer, schedule, data, X, cursor, subset, phase_state, ckpt) -> None:
        """The phase state machine; ``cursor`` says where it stands (saved with checkpoints)."""
        model = self.module_
        spe = trainer.steps_per_epoch(X.shape[0])

        def run(name: str, length: int, params, loss_fn, rows: torch.Tensor, stop_at=None):
            """Run (or resume) phase ``name``; with ``stop_at`` pause it after that many steps,
            keeping its state in ``phase_state`` to go on from."""
            nonlocal phase_state
            if length <= 0:
                return
            phase = schedule.phase(name, length, trainer.steps_per_epoch(rows.shape[0]), spe)
            resume = phase_state if phase_state is not None and phase_state.phase == name else None
            if resume is not None and stop_at is not None and resume.step >= stop_at:
                return
            phase_state = None
            last: list[PhaseState] = []

            def saver(state: PhaseState) -> None:
                last[:] = [state]
                if ckpt is not None:
                    self._save_checkpoint(ckpt, cursor, subset, state)

            phase_rows = trainer.run(
                phase, model, params, loss_fn, rows, resume=resume, on_checkpoint=saver,
                describe=lambda: f"{len(model.tree.leaves)} leaves", stop_at=stop_at,
                phase_index=cursor["phases_run"], augment=getattr(self, "_augment_pairs", None),
            )  # fmt: skip
            if stop_at is not None and stop_at < phase.steps:
                phase_state = last[-1]  # its rows come back, with the rest, when the phase ends
            else:
                self.history_.extend(phase_rows)
                cursor["phases_run"] += 1

        def init_split(name: str, length: int, node: int, rows: torch.Tensor) -> None:
            """``split_init="kmeans"``: seat the split at ``node`` by 2-means on its router's
            input (models/treevae/split_init.py), once per split, resume-safe."""
            if schedule.split_init == "random" or length <= 0 or cursor.get("split_init") == node:
                return
            if name == "initial":  # the root's z needs some training before it means anything
                steps = schedule.phase(name, length, trainer.steps_per_epoch(len(rows)), spe).steps
                run(name, length, model.parameters(), full_loss, rows,
                    stop_at=max(1, round(steps * schedule.split_init_warmup)))  # fmt: skip
            elif phase_state is not None:  # resuming this subtree's phase mid-way
                return
            seed = trainer.seed + 7 * cursor["phases_run"]
            record = on_main(
                self._gather,
                lambda: initialise_split(
                    model, rows, node, seed, schedule.split_init, schedule.split_space
                ),
                model,
                "split init",
            )
            self.history_.append(record | {"g": cursor["g"]})
            cursor["split_init"] = node
            if ckpt is not None:
                self._save_checkpoint(ckpt, cursor, subset, phase_state)

        def try_splits(candidates: list) -> tuple:
            """``split_candidates`` > 1: train a trial subtree for each candidate leaf on a copy
            of the model, on its rows minus a held-out slice; the best held-out ELBO wins.
            Returns the winning trial, every candidate's held-out ELBO and the unsplit model's."""
            held = held_out_rows(X.shape[0], trainer.seed)
            kept = [replace(c, subset=np.setdiff1d(c.subset, held), reason=f"{c.reason}, "
                            "less the held-out slice") for c in candidates]  # fmt: skip
            kept = [c for c in kept if len(c.subset)] or candidates[:1]  # tiny data: no slice

            def train(trial_model, decision):
                leaf, rows = decision.leaf, data[torch.from_numpy(decision.subset).to(data.device)]
                records = []
                if schedule.split_init != "random":
                    seed = trainer.seed + 7 * cursor["phases_run"]
                    records.append(on_main(self._gather, lambda: initialise_split(
                        trial_model, rows, leaf, seed, schedule.split_init, schedule.split_space,
                    ), trial_model, "split init") | {"g": cursor["g"]})  # fmt: skip
                phase = schedule.phase("subtree", schedule.subtree,
                                       trainer.steps_per_epoch(rows.shape[0]), spe)  # fmt: skip
                last: list[PhaseState] = []
                trainer.run(
                    phase, trial_model, trial_model.subtree_parameters(leaf),
                    lambda x, alpha: trial_model.subtree_loss(x, leaf, alpha), rows,
                    on_checkpoint=lambda state: last.__setitem__(slice(None), [state]),
                    describe=lambda: f"trial of leaf {leaf}", phase_index=cursor["phases_run"],
                    stop_at=max(1, round(phase.steps * schedule.split_trial)),
                    augment=getattr(self, "_augment_pairs", None),
                )  # fmt: skip
                return last[-1], records

            def score(candidate) -> float:  # its mean ELBO on the held-out rows (all ranks)
                elbo = lambda rows: self._elbo_terms(rows, candidate)["elbo"]  # noqa: E731
                return float(over_rows(self._gather, X[held], elbo, "scoring a split").mean())

            return (*best_split(model, kept, train, score), score(model))

        def full_loss(x: torch.Tensor, alpha: float) -> dict:
            # sparse leaf decoding where leaf_eps > 0 (models/treevae/leaf_decoding.py)
            return model.loss(x, alpha, eps=schedule.leaf_eps, min_rows=schedule.leaf_min_rows)

        while cursor["stage"] != "done":
            stage = cursor["stage"]
            if stage == "initial":
                init_split("initial", schedule.initial, model.tree.root, data)
                run("initial", schedule.initial, model.parameters(), full_loss, data)
                cursor["stage"] = "grow"
            elif stage == "grow":
                if cursor["action"] is None:
                    phase_state = self._decide_growth(cursor, X, schedule, try_splits)
                    if cursor["action"] == "subtree":
                        subset = np.asarray(cursor.pop("subset"), dtype=np.int64)
                    self._checkpoint_boundary(ckpt, cursor, subset, phase_state)
                    continue
                if cursor["action"] == "intermediate":
                    run("intermediate", schedule.intermediate, model.parameters(), full_loss, data)
                    cursor["intermediate_done"] = cursor["g"]
                else:
                    leaf = cursor["leaf"]
                    params = model.subtree_parameters(leaf)
                    rows = data[torch.from_numpy(subset).to(data.device)]

                    def sub_loss(x: torch.Tensor, alpha: float, leaf=leaf) -> dict:
                        return model.subtree_loss(x, leaf, alpha)

                    init_split("subtree", schedule.subtree, leaf, rows)
                    run("subtree", schedule.subtree, params, sub_loss, rows)
                    cursor["g"] += 1
                    subset = None
                cursor["action"] = None
            elif stage == "prune":
                self._prune(X)
                cursor["stage"] = "finetune"
            elif stage == "finetune":
                run("finetune", schedule.finetune, model.parameters(), full_loss, data)
                cursor["stage"] = "done"
            self._checkpoint_boundary(ckpt, cursor, subset)

    def _decide_growth(
        self, cursor: dict, X: np.ndarray, schedule, try_splits
    ) -> PhaseState | None:
        """Set ``cursor`` to the next growth action: intermediate training, a split, or stop.
        With several split candidates, ``try_splits(candidates)`` picks one; the winner's
        subtree phase state (to go on from) is returned, else None."""
        model = self.module_
        g = cursor["g"]
        if g >= self.max_growth_iterations:
            cursor["stage"] = "prune"
            return None
        # the pruned tree's probabilities come back, so the data is not passed over twice
        probs = self._prune(X, cursor=cursor) if schedule.growth_prune else self._leaf_probs(X)
        undone = cursor.get("undone", {})
        candidates = split_candidates(
            model.tree, probs, schedule.split_candidates, max_leaves=self.max_leaves,
            max_depth=self.max_depth, min_samples=self._fit_batch_size,
            min_mass=self.min_leaf_fraction, threshold_cap=schedule.split_threshold_cap,
            exclude={int(n) for n, count in undone.items() if count >= MAX_SPLIT_ATTEMPTS},
        )  # fmt: skip
        decision = candidates[0]
        if decision.leaf is None:
            logger.info("growth stops: %s", decision.reason)
            self.history_.append({"event": "stop", "reason": decision.reason, "g": g})
            cursor["stage"] = "prune"
            return None
        if g > 0 and g % 3 == 0 and schedule.intermediate > 0 and cursor["intermediate_done"] != g:
            cursor["action"] = "intermediate"
            return None
        trial = None
        if len(candidates) > 1 and schedule.subtree > 0:
            trial, scores, before = try_splits(candidates)
            decision = trial.decision
            self.history_.append({"event": "split_trials", "g": g, "chosen": decision.leaf,
                                  "leaves": [c.leaf for c in candidates],
                                  "heldout_elbo": [round(v, 4) for v in scores],
                                  "heldout_elbo_before": round(before, 4)})  # fmt: skip
            self.history_.extend(trial.records)
            cursor["split_init"] = decision.leaf
        left, right = model.split_leaf(decision.leaf)
        if trial is not None:
            model.load_state_dict(trial.weights)
        logger.info("%s", decision.reason)
        self.history_.append({"event": "split", "leaf": decision.leaf, "children": [left, right],
                              "samples": len(decision.subset), "g": g,
                              "reason": decision.reason})  # fmt: skip
        cursor.update(action="subtree", leaf=decision.leaf, subset=decision.subset.tolist())
        return None if trial is None else trial.phase

    def _prune(
        self, X: np.ndarray, min_fraction: float | None = None, cursor: dict | None = None
    ) -> np.ndarray:
        """Remove the smallest leaf while it holds under ``min_fraction`` of X's argmax
        assignments (default ``min_leaf_fraction``); returns P(leaf | x) of the pruned tree,
        (N, n_leaves).

        While growing (``cursor`` given, ``growth_prune``), a leaf whose sibling is a leaf undoes
        their split instead: the parent becomes a leaf again, with the sibling's decoder, and
        ``cursor["undone"]`` counts the failures of its splits. Pruning alone would leave a
        one-child node that spends a level of ``max_depth`` on a split that never happened."""
        model = self.module_
        min_fraction = self.min_leaf_fraction if min_fraction is None else min_fraction
        while True:
            probs = self._leaf_probs(X)
            leaf = smallest_leaf_to_prune(model.tree, probs.argmax(axis=1), min_fraction)
            if leaf is None:
                return probs
            parent = model.tree.parent(leaf)
            others = [c for c in model.tree.children(parent) if c != leaf]
            if cursor is not None and len(others) == 1 and model.tree.is_leaf(others[0]):
                removed = model.undo_split(parent, keep=others[0])
                undone = cursor.setdefault("undone", {})
                undone[str(parent)] = undone.get(str(parent), 0) + 1
                if cursor.get("split_init") == parent:  # so that a new split is seated afresh
                    del cursor["split_init"]
                logger.info("undid the split of %d (its child %d won no rows)", parent, leaf)
                self.history_.append({"event": "undo_split", "node": parent, "empty": leaf,
                                      "removed": removed, "g": cursor["g"]})  # fmt: skip
                continue
            removed = model.prune_leaf(leaf)
            logger.info("pruned leaf %d (removed nodes %s)", leaf, removed)
            event = {"event": "prune", "leaf": leaf, "removed": removed}
            self.history_.append(event if cursor is None else event | {"g": cursor["g"]})

    def _finish_fit(self, X: np.ndarray) -> None:
        # Fine-tuning can empty a leaf that pruning kept; a cluster label must hold data.
        self._prune(X, min_fraction=0.5 / X.shape[0])
        self.tree_ = self.module_.tree
        self.leaves_ = list(self.tree_.leaves)
        self.n_leaves_ = len(self.leaves_)
        self.labels_ = self._leaf_probs(X).argmax(axis=1).astype(np.int64)
        self.children_, self.distances_ = (
            self.tree_.to_sklearn() if self.n_leaves_ > 1 else (np.empty((0, 2), np.int64), None)
        )
        self.module_.eval()

    # ------------------------------------------------------------------ checkpoints
    def _save_checkpoint(
        self, ckpt: Checkpoint, cursor: dict, subset, state: PhaseState | None
    ) -> None:
        model = self.module_
        arrays = {} if subset is None else {"subset": torch.as_tensor(subset)}
        ckpt.save(
            model.state_dict(), tree=model.tree, phase=state, arrays=arrays,
            fitted={"input_shape": list(model.config.input_shape), "likelihood": self.likelihood_,
                    "likelihood_choice": asdict(self._likelihood_choice)},
            driver={"cursor": cursor, "history": self.history_},
        )  # fmt: skip

    def _checkpoint_boundary(
        self, ckpt: Checkpoint | None, cursor: dict, subset, state: PhaseState | None = None
    ) -> None:
        if self._gather is not None:  # every rank must have taken the same decisions
            rows = None if subset is None else np.asarray(subset).tolist()
            self._gather.check_same([cursor, self.module_.tree.to_dict(), rows], "the tree")
        if ckpt is not None:
            self._save_checkpoint(ckpt, cursor, subset, state)

    def _load_checkpoint(self, resumed: Resumed) -> tuple[dict, Any, PhaseState | None]:
        """Take the model, history and RNG of a checkpoint read back; return where to go on."""
        # Weights by name, so the order in which the rebuilt tree creates its nodes is irrelevant.
        self.module_ = self._make_model(self.module_.config, resumed.tree).to(self.device_)
        self.module_.load_state_dict(resumed.tensors)
        self.history_ = resumed.driver["history"]
        resumed.restore_rng()
        subset = resumed.arrays["subset"].numpy() if "subset" in resumed.arrays else None
        logger.info("resuming at %s", resumed.driver["cursor"])
        return resumed.driver["cursor"], subset, resumed.phase
