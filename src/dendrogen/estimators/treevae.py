"""``dendrogen.TreeVAE``: the scikit-learn face of TreeVAE.

``fit`` runs the phases of treevae.md §3 (the procedure is in ``treevae_growth.py``). With
``checkpoint_dir`` every phase boundary (and every ``checkpoint_every`` seconds) is saved through
the one :class:`~dendrogen.training.Checkpoint`, and a later ``fit`` of the same settings on the
same data with the same folder resumes exactly where the earlier one stopped.
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

from dendrogen.estimators.base import (
    DeepEstimator,
    InvalidArgumentError,
    check_int,
    fixed_noise,
    register,
    seeded,
)
from dendrogen.estimators.treevae_growth import TreeGrowth
from dendrogen.estimators.treevae_likelihood_choice import LikelihoodChoice, choose_likelihood
from dendrogen.models.contrastive import resolve_augmentation, view_pairs
from dendrogen.models.treevae.config import TreeVAEConfig
from dendrogen.models.treevae.contrastive import ContrastiveConfig, ContrastiveTreeVAEModel
from dendrogen.models.treevae.likelihood import log_likelihood
from dendrogen.models.treevae.model import TreeVAEModel
from dendrogen.training import (
    TREEVAE_PRESETS,
    Resumed,
    Schedule,
    Trainer,
    resolve_settings,
)
from dendrogen.training.distributed import over_rows
from dendrogen.tree import Tree

logger = logging.getLogger(__name__)


@register
class TreeVAE(TreeGrowth, ClusterMixin, TransformerMixin, DeepEstimator):
    """Tree Variational Autoencoder: a binary tree of latent variables, grown during training,
    with one decoder per leaf (Manduchi et al., NeurIPS 2023).

    Args:
        max_leaves: growth stops when this many leaves hold data.
        max_depth: H, the deepest level a leaf may reach (edges from the root).
        preset: "fast" (default; a step budget useful on a CPU in minutes), "paper" (the
            published 150/150/80/200-epoch schedule) or "tiny" (tests).
        schedule: overrides of the preset's schedule, e.g. ``{"initial": 4000}`` or
            ``{"unit": "epochs", ...}`` (see :class:`dendrogen.training.Schedule`).
        latent_dim: size of each node's latent variable.
        width: width of the bottom-up MLPs, routers and transformations.
        arch: encoder/decoder family, "auto" by input shape (conv28, conv8, mlp, resnet32,
            resnet64, conv1d).
        likelihood: "bernoulli" (data in [0, 1]), "gaussian", or "auto": Gaussian for RGB images,
            sequences (N, C, T) and data outside [0, 1]; on other data in [0, 1], the better of
            the Bernoulli and the Gaussian with ``obs_var="auto"`` on a held-out slice after a
            short probe of each (``schedule["likelihood_probe"]`` steps; ``fast``: 300;
            ``paper``: none, the Bernoulli). Scores: ``likelihood_scores_``.
        obs_var: the fixed variance of the Gaussian likelihood (½: −log p = Σ(x − μ)² + const),
            or "auto": one variance re-estimated while training as the mean squared
            reconstruction error, the value that maximises the ELBO (fitted: ``obs_var_``).
        learning_rate: Adam's learning rate (None: the preset's, 1e-3).
        batch_size: rows per optimizer step (None: the preset's, 256 as in the paper).
        min_leaf_fraction: pruning removes leaves holding less than this fraction of the data.
        max_growth_iterations: at most this many splits are attempted.
        device: "cpu" (default), "cuda", "cuda:N" or "auto".
        random_state: seed for reproducible fits (an integer in [0, 2**32 - 1]).
        verbose: show progress bars.
        checkpoint_every: seconds between mid-phase checkpoints when fitting with a folder.
        distributed: data-parallel training over the processes of ``torchrun``; None (auto)
            when launched by it, True requires it, False never.
        contrastive: the contrastive extension for colour images (treevae.md §5): True, or a
            dict of :class:`~dendrogen.models.treevae.contrastive.ContrastiveConfig` settings
            (``weight`` λ = 100, ``temperature`` 0.5, ``router_temperature`` 1, ``combination``
            "tf"/"sum", ``augmentation`` "auto" or a name). Each batch of ``batch_size``
            images is augmented twice in torch inside the training loop.

    Fitted attributes: ``module_`` (the torch model), ``tree_`` (a :class:`dendrogen.tree.Tree`),
    ``leaves_`` (leaf node ids; cluster label k means leaf ``leaves_[k]``), ``labels_``,
    ``children_`` (scikit-learn's agglomerative format), ``n_leaves_``, ``history_``,
    ``obs_var_`` (the Gaussian's variance), ``likelihood_scores_`` (each probed likelihood's mean
    held-out ELBO as a log density, in nats; empty when no probe ran).
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **DeepEstimator._parameter_constraints,
        "max_leaves": [Interval(Integral, 2, None, closed="left")],
        "max_depth": [Interval(Integral, 1, None, closed="left")],
        "preset": [StrOptions(set(TREEVAE_PRESETS))],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "arch": [str],
        "likelihood": [StrOptions({"auto", "bernoulli", "gaussian"})],
        "obs_var": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "min_leaf_fraction": [Interval(Real, 0, 0.5, closed="left")],
        "max_growth_iterations": [Interval(Integral, 0, None, closed="left")],
        "contrastive": ["boolean", dict],
    }
    #: the ranks of a data-parallel fit while it runs (growth statistics are gathered over them)
    _gather = None

    def __init__(
        self,
        max_leaves: int = 10,
        max_depth: int = 5,
        preset: str = "fast",
        schedule: dict | None = None,
        latent_dim: int = 8,
        width: int = 128,
        arch: str = "auto",
        likelihood: str = "auto",
        obs_var: float | str = 0.5,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        min_leaf_fraction: float = 0.01,
        max_growth_iterations: int = 150,
        device: str = "cpu",
        random_state: int | None = None,
        verbose: bool = False,
        checkpoint_every: float = 120.0,
        distributed: bool | None = None,
        contrastive: bool | dict = False,
    ) -> None:
        self.max_leaves = max_leaves
        self.max_depth = max_depth
        self.preset = preset
        self.schedule = schedule
        self.latent_dim = latent_dim
        self.width = width
        self.arch = arch
        self.likelihood = likelihood
        self.obs_var = obs_var
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.min_leaf_fraction = min_leaf_fraction
        self.max_growth_iterations = max_growth_iterations
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.distributed = distributed
        self.contrastive = contrastive

    # ------------------------------------------------------------------ validation
    def _needs_unit_interval(self) -> bool:
        return getattr(self, "likelihood_", None) == "bernoulli"

    @property
    def obs_var_(self) -> float | None:
        """The Gaussian likelihood's variance after fitting (the fitted one with
        ``obs_var="auto"``); None under the Bernoulli likelihood."""
        check_is_fitted(self)
        likelihood = self.module_.likelihood
        return likelihood.obs_var if likelihood.name == "gaussian" else None

    def _resolve_likelihood(self, X: np.ndarray) -> str:
        if self.likelihood != "auto":
            return self.likelihood
        if (X.ndim == 4 and X.shape[1] == 3) or X.ndim == 3:  # RGB images, sequences (N, C, T)
            return "gaussian"
        return "bernoulli" if X.min() >= 0 and X.max() <= 1 else "gaussian"

    def _choose_likelihood(
        self, X: np.ndarray, schedule: Schedule, resumed: Resumed | None
    ) -> LikelihoodChoice:
        """The likelihood asked for; under "auto" the shape and range rule, and on grey data in
        [0, 1] the probe of ``schedule.likelihood_probe`` steps, at most the initial phase's
        (a resumed fit keeps the choice its checkpoint recorded)."""
        rule = self._resolve_likelihood(X)
        if self.likelihood != "auto" or rule != "bernoulli" or schedule.likelihood_probe == 0:
            return LikelihoodChoice(rule, None, {})
        if resumed is not None:
            fitted = resumed.fitted  # a checkpoint from before the probe has no choice
            saved = fitted.get("likelihood_choice") or {"likelihood": fitted["likelihood"]}
            return LikelihoodChoice(saved["likelihood"], saved.get("obs_var"),
                                    saved.get("scores", {}))  # fmt: skip
        # Never longer than the initial phase, so a short schedule is not outgrown by its probe.
        steps = schedule.likelihood_probe
        if schedule.unit == "steps":
            steps = min(steps, schedule.initial)

        def probe() -> LikelihoodChoice:
            return choose_likelihood(self, X, steps, self._fit_batch_size)

        what = "choosing the likelihood"
        choice = probe() if self.world_ is None else self.world_.run_on_main(probe, what)
        logger.info("likelihood %s (held-out ELBO as a log density: %s)", choice.likelihood,
                    ", ".join(f"{k} {v:.2f}" for k, v in choice.scores.items()))  # fmt: skip
        return choice

    def _chosen_by_fit(self) -> set[str]:
        # A probe that keeps the Gaussian fits its variance, whatever obs_var says.
        return {"obs_var"} if self.likelihood == "auto" else set()

    def _check_params(self) -> None:
        """The declared rules, then what involves several parameters."""
        self._start_fit()
        if self.max_leaves > 2**self.max_depth:
            raise ValueError(
                f"max_leaves={self.max_leaves} cannot be reached with max_depth="
                f"{self.max_depth} (at most {2**self.max_depth} leaves)"
            )

    # ------------------------------------------------------------------ fitting
    def fit(
        self, X: Any, y: Any = None, *, checkpoint_dir: str | os.PathLike | None = None
    ) -> TreeVAE:
        """Grow and train the tree on X (N, ...); ``y`` is ignored.

        With ``checkpoint_dir``, the training state is saved there as it goes, and a fit with a
        folder that already holds a checkpoint of the same settings resumes from it.
        """
        self._check_params()
        # On colour shapes sparse decoding cut the contrastive gain (DP +0.16 against +0.21
        # over 10 seeds, BENCHMARKS.md), so the contrastive model decodes densely by default.
        variant = {"leaf_eps": 0.0} if self.contrastive is not False else None
        settings = resolve_settings(TREEVAE_PRESETS, self.preset, self.schedule,
                                    self.learning_rate, self.batch_size, Schedule,
                                    variant_defaults=variant)  # fmt: skip
        schedule = settings.schedule
        self._fit_batch_size = settings.batch_size
        X = self._validate(X, reset=True)
        self._check_enough_samples(X.shape[0], settings.batch_size)
        ckpt = self._checkpoint(checkpoint_dir, X)
        # Read once: None when there is nothing to resume, a ValueError when it is another run's.
        resumed = None if ckpt is None else ckpt.load()
        self._likelihood_choice = self._choose_likelihood(X, schedule, resumed)
        self.likelihood_ = self._likelihood_choice.likelihood
        self.likelihood_scores_ = dict(self._likelihood_choice.scores)
        if self.likelihood_ == "bernoulli":
            self._check_unit_interval(X)
        obs_var = self._likelihood_choice.obs_var or self.obs_var
        config = TreeVAEConfig(
            input_shape=X.shape[1:], arch=self.arch, latent_dim=self.latent_dim, width=self.width,
            max_depth=self.max_depth, likelihood=self.likelihood_,
            obs_var=obs_var if obs_var == "auto" else float(obs_var),
        )  # fmt: skip
        self._contrastive_config = None
        self._augment_pairs = None
        if self.contrastive is not False:
            self._contrastive_config = ContrastiveConfig.from_value(self.contrastive)
            augment = resolve_augmentation(self._contrastive_config.augmentation, X.shape[1:])
            rank = 0 if self.world_ is None else self.world_.rank
            self._augment_pairs = view_pairs(augment, rank)
        # Data-parallel (torchrun): growth statistics are gathered over ranks during this fit.
        self._gather = self.world_
        try:
            self._fit_seeded(X, config, settings, schedule, ckpt, resumed)
        finally:
            self._gather = None
        return self

    def _fit_seeded(self, X, config, settings, schedule, ckpt, resumed) -> None:
        with seeded(self.random_state):
            self.module_ = self._build_module(lambda: self._make_model(config), X)
            cursor = {"stage": "initial", "g": 0, "action": None, "intermediate_done": -1,
                      "phases_run": 0}  # fmt: skip
            self.history_ = []
            subset = None
            phase_state = None
            if resumed is not None:
                cursor, subset, phase_state = self._load_checkpoint(resumed)
            data = torch.from_numpy(X).to(self.device_)
            trainer = Trainer(
                batch_size=settings.batch_size, seed=0 if self.random_state is None else
                self.random_state, progress=self.verbose, checkpoint_every=self.checkpoint_every,
                device=self.device_, world=self.world_, precision=schedule.precision,
            )  # fmt: skip
            self._train(trainer, schedule, data, X, cursor, subset, phase_state, ckpt)
        self._finish_fit(X)

    def _make_model(self, config: TreeVAEConfig, tree: Tree | None = None) -> TreeVAEModel:
        """The torch model of this estimator: contrastive when ``_contrastive_config`` is set."""
        contrastive = getattr(self, "_contrastive_config", None)
        if contrastive is None:
            return TreeVAEModel(config, tree)
        return ContrastiveTreeVAEModel(config, tree, contrastive)

    def _leaf_probs(self, X: np.ndarray) -> np.ndarray:
        """(N, n_leaves); gathered over the ranks of a data-parallel fit (same bytes on each)."""
        fn = lambda xb: self.module_.leaf_probabilities(xb).cpu().numpy()  # noqa: E731
        return over_rows(self._gather, X, lambda rows: np.concatenate(self._batched(rows, fn)),
                         "gathering leaf probabilities")  # fmt: skip

    # ------------------------------------------------------------------ inference
    def predict_proba(self, X: Any) -> np.ndarray:
        """P(leaf | x) for every leaf, (N, n_leaves_); columns follow ``leaves_``."""
        X = self._validate(X, reset=False)
        return self._leaf_probs(X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable leaf of each sample, as a cluster label in 0..n_leaves_-1. (N,)."""
        return self.predict_proba(X).argmax(axis=1).astype(np.int64)

    def fit_predict(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        return self.fit(X, y, **kwargs).labels_

    def predict_node(self, X: Any) -> np.ndarray:
        """The tree node id of each sample's most probable leaf. (N,)."""
        return np.asarray(self.leaves_, dtype=np.int64)[self.predict(X)]

    def transform(self, X: Any, node: str | int = "root") -> np.ndarray:
        """Posterior means of z: at the root ("root"), at each sample's most probable leaf
        ("leaf"), or at a given node id. (N, latent_dim)."""
        X = self._validate(X, reset=False)
        model = self.module_
        leaves = torch.as_tensor(self.leaves_)
        if node not in ("root", "leaf"):
            ok = not isinstance(node, bool) and isinstance(node, int | np.integer)
            if not ok or int(node) not in model.tree:
                raise InvalidArgumentError(
                    f"node must be 'root', 'leaf' or a node id of the tree "
                    f"({list(model.tree.nodes)}), got {node!r}"
                )

        def fn(xb: torch.Tensor) -> np.ndarray:
            d = model.bottom_up_pass(xb)
            td = model.top_down(d, sample=False, with_prior_routers=False)
            if node == "root":
                return td.z[model.tree.root].cpu().numpy()
            if node == "leaf":
                best = leaves[model.leaf_probabilities(d=d).argmax(1).cpu()]
                zs = torch.stack([td.z[int(lf)] for lf in self.leaves_], 1)
                pick = (best[:, None] == leaves[None, :]).float().argmax(1)
                return zs[torch.arange(len(best)), pick].cpu().numpy()
            return td.z[int(node)].cpu().numpy()

        return np.concatenate(self._batched(X, fn))

    def reconstruct(self, X: Any) -> np.ndarray:
        """Mean reconstruction by each sample's most probable leaf, from posterior means."""
        X = self._validate(X, reset=False)
        model = self.module_

        def fn(xb: torch.Tensor) -> np.ndarray:
            d = model.bottom_up_pass(xb)
            td = model.top_down(d, sample=False, with_prior_routers=False)
            best = model.leaf_probabilities(d=d).argmax(1)
            out = torch.empty_like(xb)
            for col, leaf in enumerate(self.leaves_):
                mask = best == col
                if mask.any():
                    out[mask] = model.likelihood.mean(model.decode(td.z[leaf][mask], leaf))
            return out.cpu().numpy()

        return np.concatenate(self._batched(X, fn))

    def sample(self, n_samples: int = 1, leaf: int | None = None, **selectors: Any) -> np.ndarray:
        """Generate ``n_samples`` samples (N, *input_shape).

        Args:
            n_samples: how many.
            leaf: a cluster label (0..n_leaves_-1, as returned by ``predict``) to generate from
                that leaf; None generates unconditionally, routing by the prior routers.
        """
        check_is_fitted(self)
        if selectors:
            raise TypeError(f"TreeVAE.sample takes leaf=, not {sorted(selectors)}")
        n_samples = check_int(n_samples, "n_samples", low=1)
        node = None
        if leaf is not None:
            leaf = check_int(leaf, "leaf", 0, self.n_leaves_ - 1, " (a cluster label from predict)")
            node = self.leaves_[leaf]
        self.module_.eval()
        x, _ = self.module_.generate(n_samples, node)
        return x.cpu().numpy()

    def sample_per_leaf(self, n_samples: int = 8) -> dict[int, np.ndarray]:
        """``{label: samples}`` with ``n_samples`` generations from every leaf."""
        return {k: self.sample(n_samples, leaf=k) for k in range(self.n_leaves_)}

    def elbo_terms(self, X: Any) -> dict[str, np.ndarray]:
        """Per-sample ELBO, reconstruction loss RL = −L_rec and KL terms (α = 1), each (N,)."""
        return self._elbo_terms(self._validate(X, reset=False))

    def _elbo_terms(self, X: np.ndarray, module: TreeVAEModel | None = None) -> dict:
        """:meth:`elbo_terms` of validated X under ``module`` (default ``module_``; split trials
        score copies of it)."""
        module = self.module_ if module is None else module
        with fixed_noise(self.random_state):
            parts = self._batched(
                X, lambda xb: {k: v.cpu().numpy() for k, v in module.elbo_terms(xb).items()},
                module=module,
            )  # fmt: skip
        terms = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        kl = terms["kl_root"] + terms["kl_nodes"] + terms["kl_decisions"]
        return {"elbo": terms["rec"] - kl, "rl": -terms["rec"], **terms}

    def score(self, X: Any, y: Any = None) -> float:
        """Mean ELBO per sample (nats; higher is better)."""
        return float(self.elbo_terms(X)["elbo"].mean())

    def log_likelihood(
        self,
        X: Any,
        n_samples: int = 1000,
        max_rows: int = 16384,
        paths: str = "sum",
        eps: float = 0.0,
    ) -> np.ndarray:
        """Importance-weighted estimate of log p(x) per sample (N,), with ``n_samples`` samples;
        ``paths`` "sum" (exact sum over leaves) or "sample" (paths drawn from the routers);
        ``eps`` > 0 decodes a leaf only where P(l | x) > eps, a faster lower bound of the
        ε = 0 estimate (``models/treevae/likelihood.py``)."""
        X = self._validate(X, reset=False)
        model = self.module_
        out = []
        with torch.inference_mode(), fixed_noise(self.random_state):
            for start in range(0, X.shape[0], 256):
                xb = torch.from_numpy(X[start : start + 256]).to(self.device_)
                out.append(log_likelihood(model, xb, n_samples, max_rows, paths, eps).cpu().numpy())
        return np.concatenate(out)

    def evaluate(
        self, X: Any, y: Any = None, n_samples: int = 0, true_tree: Tree | None = None
    ) -> dict[str, float]:
        """DP, LP, ACC, NMI and D_tree (when labels are given; D_tree against ``true_tree``, a
        hierarchy whose leaves are the label values, else against flat labels), ELBO, RL and,
        with ``n_samples`` > 0, the importance-weighted LL."""
        from dendrogen.metrics import evaluate as evaluate_labels

        X = self._validate(X, reset=False)
        out: dict[str, float] = {"n_leaves": float(self.n_leaves_)}
        if y is not None:
            pred = self.predict(X)
            nodes = np.asarray(self.leaves_, dtype=np.int64)[pred]
            out |= evaluate_labels(
                np.asarray(y), pred=pred, tree=self.tree_, leaf_of_point=nodes, true_tree=true_tree
            )
        terms = self.elbo_terms(X)
        out["elbo"] = float(terms["elbo"].mean())
        out["rl"] = float(terms["rl"].mean())
        if n_samples:
            out["ll"] = float(self.log_likelihood(X, n_samples=n_samples).mean())
        return out

    def plot(self, X: Any, y: Any = None, path: str | os.PathLike | None = None, **options: Any):
        """The tree with training examples and generations at each leaf (paper figs. 1, 4)."""
        from dendrogen.plots.tree import plot_tree

        X = self._validate(X, reset=False)
        fig = plot_tree(self, X, y, **options)
        if path is not None:
            from dendrogen.plots import save_figure

            save_figure(fig, path)
        return fig

    # ------------------------------------------------------------------ save / load
    def _state_config(self) -> dict[str, Any]:
        state = {"likelihood": self.likelihood_, "likelihood_scores": self.likelihood_scores_,
                 "config": self.module_.config.to_dict(), "history": self.history_}  # fmt: skip
        if isinstance(self.module_, ContrastiveTreeVAEModel):
            state["contrastive"] = self.module_.contrastive.to_dict()
        return state

    def _state_tree(self) -> Tree | None:
        return self.tree_

    def _restore(self, fitted: dict[str, Any], tree: Tree | None) -> None:
        if tree is None:
            raise ValueError("a saved TreeVAE needs its tree.json")
        self.likelihood_ = fitted["likelihood"]
        self.likelihood_scores_ = dict(fitted.get("likelihood_scores", {}))
        config = TreeVAEConfig.from_dict(fitted["config"])
        con = fitted.get("contrastive")
        self._contrastive_config = None if con is None else ContrastiveConfig.from_value(con)
        self.module_ = self._make_model(config, tree)
        self.tree_ = tree
        self.leaves_ = list(tree.leaves)
        self.n_leaves_ = len(self.leaves_)
        self.children_, self.distances_ = (
            tree.to_sklearn() if self.n_leaves_ > 1 else (np.empty((0, 2), np.int64), None)
        )
        self.history_ = list(fitted.get("history", []))
