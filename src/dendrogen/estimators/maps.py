"""The shared estimator of the map models (HTVAE, SOM-VAE): input checks, one training phase of
Adam over encoder, decoder and maps together (Algorithm 1; htvae.md §3, §9) with the library's
:class:`~dendrogen.training.Trainer` and :class:`~dendrogen.training.Checkpoint`, inference per
level, generation, evaluation, pictures and save/load.

Cluster labels are code indices on the finest map (level 1); ``predict(X, level=i)`` gives any
level, ``predict_path`` all of them, and ``tree_`` the learned hierarchy as a
:class:`dendrogen.tree.Tree` (virtual root → coarsest codes → … → finest codes).
"""

from __future__ import annotations

import logging
import os
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import ClusterMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from dendrogen.estimators.base import DeepEstimator, check_int, fixed_noise, seeded
from dendrogen.nn.som_nets import OUTPUTS
from dendrogen.training import MAP_PRESETS, Checkpoint, Phase, PhaseState, Trainer
from dendrogen.training import resolve_settings as _resolve_settings
from dendrogen.tree import Tree

logger = logging.getLogger(__name__)

#: the training presets of the map models (``dendrogen.training.MAP_PRESETS``).
PRESETS = MAP_PRESETS


class PairSampler:
    """Draws ``n`` must-link pairs per call (htvae.md §5) with torch's global generator.

    From explicit pairs: ``n`` rows uniformly. From partial labels: a label with probability
    proportional to its number of pairs C(n_c, 2), then two distinct members of it, without
    materialising the pairs.
    """

    def __init__(self, n: int, pairs: np.ndarray | None = None, labels: np.ndarray | None = None):
        self.n = n
        self.pairs = None if pairs is None else torch.from_numpy(pairs)
        if labels is not None:
            known = np.flatnonzero(labels >= 0)
            _values, counts = np.unique(labels[known], return_counts=True)
            keep = counts >= 2
            order = known[np.argsort(labels[known], kind="stable")]
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            self.members = torch.from_numpy(order)
            self.starts = torch.from_numpy(starts[keep])
            self.counts = torch.from_numpy(counts[keep])
            c = counts[keep].astype(np.float64)
            self.weights = torch.from_numpy(c * (c - 1) / 2)
            self.n_labels = int(keep.sum())

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pairs is not None:
            rows = torch.randint(len(self.pairs), (self.n,))
            return self.pairs[rows, 0], self.pairs[rows, 1]
        lab = torch.multinomial(self.weights, self.n, replacement=True)
        count = self.counts[lab]
        a = (torch.rand(self.n) * count).long().clamp_max(count - 1)
        b = (torch.rand(self.n) * (count - 1)).long().clamp_max(count - 2)
        b = b + (b >= a).long()  # two distinct members: skip over a
        return self.members[self.starts[lab] + a], self.members[self.starts[lab] + b]


class MapEstimator(ClusterMixin, TransformerMixin, DeepEstimator):
    """What HTVAE and SOM-VAE share: presets, fitting, checkpoints, inference, save/load."""

    _model_name: ClassVar[str] = ""
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **DeepEstimator._parameter_constraints,
        "preset": [StrOptions(set(MAP_PRESETS))],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "sigma_init": [Interval(Real, 0, None, closed="neither")],
        "widths": ["array-like"],
        "output": [StrOptions(set(OUTPUTS))],
    }

    # ------------------------------------------------------------------ to specialise
    def _map_sizes(self) -> tuple[tuple[int, int], ...]:
        raise NotImplementedError

    def _build(self, input_shape: tuple[int, ...]) -> torch.nn.Module:
        raise NotImplementedError

    def _check_params(self) -> None:
        """The declared rules, then the map sizes (a string or nested sizes)."""
        self._start_fit()
        self._map_sizes()  # validates

    # ------------------------------------------------------------------ validation
    def _check_input(self, X: Any, *, reset: bool) -> np.ndarray:
        X = self._validate(X, reset=reset)
        if X.ndim not in (2, 3, 4):
            raise ValueError(
                f"{type(self).__name__} takes vectors (N, D), sequences (N, C, T) or images "
                f"(N, C, H, W); got shape {X.shape}"
            )
        if self.output == "sigmoid" and X.size and (X.min() < 0 or X.max() > 1):
            raise ValueError(
                f"{type(self).__name__}'s decoder ends in a sigmoid, so X must lie in [0, 1]; "
                f"got values in [{X.min():.4g}, {X.max():.4g}]. Min-max scale each channel "
                f"with training-set statistics first, or pass output='linear'"
            )
        return X

    def _needs_unit_interval(self) -> bool:
        return False  # checked in _check_input with a message that fits these models

    # ------------------------------------------------------------------ fitting
    def _constraints(self, y: Any, must_link: Any, n: int) -> PairSampler | None:
        if y is not None or must_link is not None:
            raise TypeError(f"{type(self).__name__} takes no must-link constraints")
        return None

    def _fit(self, X: Any, y: Any, must_link: Any, checkpoint_dir: Any) -> MapEstimator:
        self._check_params()
        settings = _resolve_settings(
            MAP_PRESETS, self.preset, self.schedule, self.learning_rate, self.batch_size
        )
        X = self._check_input(X, reset=True)
        n = X.shape[0]
        batch_size = settings.batch_size
        self._check_enough_samples(n, batch_size)
        k1 = self._map_sizes()[0][0] * self._map_sizes()[0][1]
        if k1 > n:
            raise ValueError(
                f"the finest map has {k1} codes but X has only {n} samples; use smaller "
                f"map sizes or more data"
            )
        sampler = self._constraints(y, must_link, n)
        # the must-link constraints change the model: a resume needs the same ones
        ckpt = self._checkpoint(checkpoint_dir, X, y=y, must_link=must_link)
        seed = 0 if self.random_state is None else int(self.random_state)
        with seeded(self.random_state):
            self.module_ = self._build_module(lambda: self._build(tuple(X.shape[1:])), X)
            resume = None
            if ckpt is not None and ckpt.exists():
                resume = self._load_checkpoint(ckpt)
            data = torch.from_numpy(X).to(self.device_)
            trainer = Trainer(
                batch_size=batch_size,
                seed=seed,
                progress=self.verbose,
                checkpoint_every=self.checkpoint_every,
                device=self.device_,
                world=self.world_,
                precision=settings.schedule.precision,
            )
            steps = settings.schedule.steps(trainer.steps_per_epoch(n))
            # No weight decay: Algorithm 1 is plain Adam (at a constant rate unless asked).
            gamma, every = self._lr_decay()
            phase = Phase("train", steps, lr=settings.learning_rate, weight_decay=0.0,
                          lr_gamma=gamma, lr_every=every)  # fmt: skip
            loss_fn = self._loss_fn(data, sampler)
            saver = None if ckpt is None else (lambda state: self._save_checkpoint(ckpt, state))
            self.history_ = trainer.run(
                phase, self.module_, self.module_.parameters(), loss_fn, data,
                resume=resume, on_checkpoint=saver,
            )  # fmt: skip
        self.module_.eval()
        self.n_iter_ = steps
        self._after_training(X)
        paths = self._paths(X)
        self.labels_ = paths[:, 0].copy()
        self.code_counts_ = [
            np.bincount(paths[:, i], minlength=r * c).astype(np.int64)
            for i, (r, c) in enumerate(self._map_sizes())
        ]
        return self

    def _after_training(self, X: np.ndarray) -> None:
        """What a model does with its training data once the optimiser has stopped."""

    def _lr_decay(self) -> tuple[float, int]:
        """(factor, steps between drops) of the learning rate; (1, 0) keeps it constant."""
        return 1.0, 0

    def _loss_fn(self, data: torch.Tensor, sampler: PairSampler | None):
        model = self.module_

        def loss_fn(x: torch.Tensor, alpha: float) -> dict[str, torch.Tensor]:
            del alpha  # no KL annealing in these models
            return model(x)

        return loss_fn

    # ------------------------------------------------------------------ checkpoints
    def _save_checkpoint(self, ckpt: Checkpoint, state: PhaseState) -> None:
        ckpt.save(
            self.module_.state_dict(), phase=state,
            fitted={"input_shape": list(self.module_.config.input_shape),
                    "config": self.module_.config.to_dict()},
        )  # fmt: skip

    def _load_checkpoint(self, ckpt: Checkpoint) -> PhaseState | None:
        resumed = ckpt.load()  # ValueError when it is a checkpoint of another run
        self.module_.load_state_dict(resumed.tensors)
        resumed.restore_rng()
        return resumed.phase

    # ------------------------------------------------------------------ scoring
    def score(self, X: Any, y: Any = None) -> float:
        """Mean per-sample objective on X (N, ...), higher is better: the negative training loss,
        with the noise of its stochastic terms drawn from a fixed seed. For HTVAE it is the
        objective it maximises (eqs. 7–9, plus the KL term when ``kl_weight`` > 0; the paper's
        ELBO-like bound); for SOM-VAE the negative of its loss."""
        X = self._check_input(X, reset=False)
        model = self.module_
        with fixed_noise(self.random_state):
            # forward() gives batch means of per-sample terms: weigh each by its batch's size
            parts = self._batched(X, lambda xb: float(model(xb)["loss"]) * xb.shape[0])
        return -float(sum(parts)) / X.shape[0]

    # ------------------------------------------------------------------ inference
    @property
    def n_levels_(self) -> int:
        """M, the number of maps."""
        check_is_fitted(self)
        return self.module_.maps.n_maps

    @property
    def tree_(self) -> Tree:
        """The learned hierarchy, recomputed from the codes (htvae.md §1.1): node 0 is the
        virtual root; code k of level i has ``attrs == {"level": i, "code": k}``."""
        check_is_fitted(self)
        return self.module_.maps.tree()

    def _paths(self, X: np.ndarray) -> np.ndarray:
        parts = self._batched(X, lambda xb: self.module_.branch(xb).T.cpu().numpy())
        return np.concatenate(parts).astype(np.int64)

    def _check_level(self, level: int) -> int:
        m = self.n_levels_
        return check_int(level, "level", 1, m, " (1 = finest map)")

    def predict(self, X: Any, level: int = 1) -> np.ndarray:
        """Code index of each sample on map ``level`` (1 = finest), from μ_0 (eq. 4). (N,)."""
        level = self._check_level(level)
        X = self._check_input(X, reset=False)
        return self._paths(X)[:, level - 1].copy()

    def predict_path(self, X: Any) -> np.ndarray:
        """Codes at every level, finest first: (N, M); column i−1 is level i."""
        check_is_fitted(self)
        return self._paths(self._check_input(X, reset=False))

    def predict_node(self, X: Any, level: int = 1) -> np.ndarray:
        """Node ids in ``tree_`` of each sample's code on ``level``. (N,)."""
        level = self._check_level(level)
        return self.module_.maps.node_ids(level, self.predict(X, level=level))

    def fit_predict(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        return self.fit(X, y, **kwargs).labels_

    def _encode(self, xb: torch.Tensor) -> torch.Tensor:
        out = self.module_.encode(xb)
        return out[0] if isinstance(out, tuple) else out

    def transform(self, X: Any) -> np.ndarray:
        """Latent means μ_0 (HTVAE) or encodings z_e (SOM-VAE): (N, latent_dim)."""
        check_is_fitted(self)
        X = self._check_input(X, reset=False)
        return np.concatenate(self._batched(X, lambda xb: self._encode(xb).cpu().numpy()))

    def reconstruct(self, X: Any, level: int = 0) -> np.ndarray:
        """g(μ_0) (``level=0``) or g(code of level i), without sampling: (N, *input_shape)."""
        check_is_fitted(self)
        if level != 0:
            level = self._check_level(level)
        X = self._check_input(X, reset=False)
        model = self.module_

        def fn(xb: torch.Tensor) -> np.ndarray:
            z = self._encode(xb)
            if level:
                k = model.maps.discretise(z)[level - 1]
                z = model.maps.codes(level)[k]
            return model.decoder(z).cpu().numpy()

        return np.concatenate(self._batched(X, fn))

    def codes(self, level: int = 1) -> np.ndarray:
        """The code vectors of map ``level``: (H, W, L)."""
        level = self._check_level(level)
        return self.module_.maps.maps[level - 1].detach().cpu().numpy().copy()

    def decode_codes(self, level: int = 1) -> np.ndarray:
        """Each code of map ``level`` decoded: (K, *input_shape), row-major over the grid."""
        level = self._check_level(level)
        with torch.inference_mode():
            return self.module_.decode_codes(level).cpu().numpy()

    def sample(
        self,
        n_samples: int = 1,
        level: int | None = None,
        code: int | None = None,
        random_state: int | None = None,
        **selectors: Any,
    ) -> np.ndarray:
        """Generate ``n_samples`` samples (N, *input_shape).

        Args:
            n_samples: how many.
            level: the map to generate from (1 = finest; default 1).
            code: a code index on that map; None picks codes with probability equal to their
                share of the training assignments (htvae.md §6: the paper defines no code prior).
            random_state: seed for the codes and the noise; None uses torch's global generator.
        """
        check_is_fitted(self)
        if selectors:
            raise TypeError(f"{type(self).__name__}.sample takes level= and code=, "
                            f"not {sorted(selectors)}")  # fmt: skip
        n_samples = check_int(n_samples, "n_samples", low=1)
        level = self._check_level(1 if level is None else level)
        n_codes = len(self.code_counts_[level - 1])
        gen = None if random_state is None else torch.Generator().manual_seed(int(random_state))
        if code is None:
            weights = torch.as_tensor(self.code_counts_[level - 1], dtype=torch.float64)
            codes = torch.multinomial(weights, int(n_samples), replacement=True, generator=gen)
        else:
            code = check_int(code, "code", 0, n_codes - 1, f" on level {level}")
            codes = torch.full((int(n_samples),), int(code), dtype=torch.long)
        self.module_.eval()
        with torch.inference_mode():
            return self.module_.sample_codes(level, codes, gen).cpu().numpy()

    # ------------------------------------------------------------------ what the CLI calls
    def evaluate(
        self, X: Any, y: Any = None, true_tree: Tree | None = None, **options: Any
    ) -> dict[str, float]:
        """Metrics on (X, y) with assignments from μ_0 (htvae.md §7).

        Returns purity, NMI, ACC (Hungarian and many-to-one) of the finest map, DP and LP of
        ``tree_``, D_tree against ``true_tree`` (a Tree whose leaves are the class ids of y;
        omitted without one), purity and NMI of each coarser level (``purity_level2``...), the
        number of used finest codes and the reconstruction MSE of g(μ_0).

        D_tree measures path lengths in ``tree_`` as it is (htvae.md §7: root at depth 0, every
        S_1 code at depth M), so a code with a single child is not contracted away, unlike
        TreeVAE's pass-through nodes (metrics.md §6).
        """
        from dendrogen.metrics import evaluate as evaluate_labels
        from dendrogen.metrics import nmi, purity

        if options:
            raise TypeError(f"unknown options {sorted(options)}; {type(self).__name__}.evaluate "
                            f"takes true_tree=")  # fmt: skip
        check_is_fitted(self)
        X = self._check_input(X, reset=False)
        paths = self._paths(X)
        out: dict[str, float] = {"n_codes_used": float(len(np.unique(paths[:, 0])))}
        if y is not None:
            y = np.asarray(y)
            if y.shape != (X.shape[0],):
                raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
            nodes = self.module_.maps.node_ids(1, paths[:, 0])
            metrics = evaluate_labels(
                y, pred=paths[:, 0], tree=self.tree_, leaf_of_point=nodes, true_tree=true_tree,
                contract_unary=False,
            )  # fmt: skip
            if true_tree is None:
                metrics.pop("d_tree", None)  # against flat labels it is not the paper's D_tree
            out |= metrics
            for level in range(2, paths.shape[1] + 1):
                out[f"purity_level{level}"] = purity(y, paths[:, level - 1])
                out[f"nmi_level{level}"] = nmi(y, paths[:, level - 1])
        recon = self.reconstruct(X)
        out["mse"] = float(((recon - X) ** 2).mean())
        return out

    def plot(self, X: Any, y: Any = None, path: str | os.PathLike | None = None, **options: Any):
        """Each map as a grid of decoded codes with the parent links between maps (paper fig. 1),
        per-code sample counts and, with labels, majority labels. Returns the Figure."""
        from dendrogen.plots.som import plot_maps

        check_is_fitted(self)
        X = self._check_input(X, reset=False)
        fig = plot_maps(self, X, y, **options)
        if path is not None:
            from dendrogen.plots import save_figure

            save_figure(fig, path)
        return fig

    # ------------------------------------------------------------------ save / load
    def _state_config(self) -> dict[str, Any]:
        return {
            "config": self.module_.config.to_dict(),
            "code_counts": [c.tolist() for c in self.code_counts_],
            "n_iter": self.n_iter_,
        }

    def _state_tree(self) -> Tree | None:
        return self.tree_  # informative; the tree is recomputed from the codes on load

    def _restore(self, fitted: dict[str, Any], tree: Tree | None) -> None:
        del tree
        self.module_ = self._build_from_config(fitted["config"])
        self.code_counts_ = [np.asarray(c, dtype=np.int64) for c in fitted["code_counts"]]
        self.n_iter_ = int(fitted.get("n_iter", 0))
        self.labels_ = None  # replaced by the saved training labels, where the file has them
        self.history_ = []

    def _build_from_config(self, d: dict[str, Any]) -> torch.nn.Module:
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = self.output == "sigmoid"
        return tags


__all__ = ["PRESETS", "MapEstimator", "PairSampler"]
