"""The machinery shared by the Gaussian-mixture ladder estimators (VLAC, VLAE, GM-DGM): the fit
loop (one phase of Adam with the KL warm-up and the Gumbel temperature schedule of vlac.md §4–5,
through the library's Trainer and Checkpoint), inference per layer, generation, evaluation and
save/load. The estimators themselves, with their parameters, are in
:mod:`dendrogen.estimators.vlac`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import ClusterMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from dendrogen.estimators.base import DeepEstimator, InvalidArgumentError, check_int, seeded
from dendrogen.models.vlac import VLACConfig, VLACModel, gumbel_temperature, kl_weight
from dendrogen.nn.ladder_nets import (
    HEAD_KINDS,
    LADDER_ARCHITECTURES,
    default_ladder_architecture,
    default_widths,
)
from dendrogen.training import (
    LADDER_PRESETS,
    Checkpoint,
    Phase,
    PhaseState,
    Settings,
    Trainer,
    resolve_settings,
)
from dendrogen.training.presets import LADDER_PAPER_STEPS
from dendrogen.tree import Tree


class LadderEstimator(TransformerMixin, DeepEstimator):
    """Shared machinery of VLAC, VLAE and GMDGM. Subclasses define the layer structure."""

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **DeepEstimator._parameter_constraints,
        "preset": [StrOptions(set(LADDER_PRESETS))],
        "z_dims": ["array-like", None],
        "arch": [StrOptions({"auto", *LADDER_ARCHITECTURES})],
        "channels": [Interval(Integral, 1, None, closed="left"), None],
        "hidden": [Interval(Integral, 1, None, closed="left"), None],
        "likelihood": [StrOptions({"laplace", "bernoulli", "gaussian"})],
        "head": [StrOptions(set(HEAD_KINDS))],
    }

    # ------------------------------------------------------------------ structure
    def _structure(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(K, z_dims) of the ladder, layer 1 first."""
        raise NotImplementedError

    def _estimator_options(self) -> dict[str, Any]:
        return {"estimator": "gumbel", "hard": True, "max_enumeration": 256, "head": self.head}

    def _public_layers(self) -> list[int]:
        """1-based layers a user may name in ``predict``/``sample`` (those with a latent)."""
        _, z_dims = self._structure()
        return [l + 1 for l, d in enumerate(z_dims) if d > 0]

    def _default_layer(self) -> int | None:
        """The layer whose clusters ``predict`` returns by default (1-based); None if none."""
        K, _ = self._structure()
        mixture = [l + 1 for l, k in enumerate(K) if k > 1]
        return mixture[-1] if mixture else None

    def _settings(self) -> Settings:
        """The preset with this estimator's ``schedule``, ``learning_rate`` and ``batch_size``."""
        return resolve_settings(
            LADDER_PRESETS, self.preset, self.schedule, self.learning_rate, self.batch_size
        )

    def _make_config(self, input_shape: tuple[int, ...]) -> VLACConfig:
        K, z_dims = self._structure()
        arch = default_ladder_architecture(input_shape) if self.arch == "auto" else self.arch
        channels, hidden = default_widths(arch, self._settings().extra["widths"])
        return VLACConfig(
            input_shape=input_shape,
            K=K,
            z_dims=z_dims,
            arch=arch,
            channels=self.channels or channels or 1,
            hidden=self.hidden or hidden,
            likelihood=self.likelihood,
            **self._estimator_options(),
        )

    def _needs_unit_interval(self) -> bool:
        # the Laplace location is a sigmoid and the Bernoulli needs probabilities
        return self.likelihood in ("laplace", "bernoulli")

    def _validate(self, X: Any, *, reset: bool) -> np.ndarray:
        try:
            return super()._validate(X, reset=reset)
        except ValueError as err:
            if "needs values in [0, 1]" in str(err) and self.likelihood == "laplace":
                raise ValueError(
                    str(err).replace(
                        "the Bernoulli likelihood",
                        "the Laplace likelihood (its location is a sigmoid)",
                    )
                ) from None
            raise

    # ------------------------------------------------------------------ fitting
    def fit(
        self, X: Any, y: Any = None, *, checkpoint_dir: str | os.PathLike | None = None
    ) -> LadderEstimator:
        """Train on X (N, *shape), values in [0, 1] for the Laplace/Bernoulli likelihoods.

        ``y`` is ignored (unsupervised). With ``checkpoint_dir``, the model and the trainer state
        are written to that folder every ``checkpoint_every`` seconds and at the end, and an
        interrupted fit of the same settings on the same data resumes from there.
        """
        self._start_fit()
        settings = self._settings()
        self._structure()  # validate K / z_dims / eval_layer before looking at the data
        self._default_layer()
        X = self._validate(X, reset=True)
        self._check_enough_samples(X.shape[0], settings.batch_size)
        config = self._make_config(self.input_shape_)
        seed = 0 if self.random_state is None else int(self.random_state)
        trainer = Trainer(
            batch_size=settings.batch_size,
            seed=seed,
            progress=bool(self.verbose),
            checkpoint_every=float(self.checkpoint_every),
            device=self.device_,
            world=self.world_,
            precision=settings.schedule.precision,
        )
        steps = settings.schedule.steps(trainer.steps_per_epoch(X.shape[0]))
        scale = LADDER_PAPER_STEPS / steps
        warmup, tau_rate, tau_every = 2000 / scale, 3e-5 * scale, max(1, round(1000 / scale))
        resume = None
        ckpt = self._checkpoint(checkpoint_dir, X)
        with seeded(self.random_state):
            self.module_ = self._build_module(lambda: VLACModel(config), X)
            if ckpt is not None and ckpt.exists():
                resume = self._load_checkpoint(ckpt)
            module = self.module_
            counter = [resume.step if resume is not None else 0]

            def loss_fn(batch: torch.Tensor, alpha: float) -> dict[str, torch.Tensor]:
                t = counter[0]
                module.tau = gumbel_temperature(t, tau_rate, tau_every)
                terms = module.loss(batch, alpha * kl_weight(t, warmup))
                counter[0] += 1
                terms["tau"] = torch.tensor(module.tau)
                return terms

            phase = Phase(
                name=type(self).__name__.lower(),
                steps=steps,
                lr=settings.learning_rate,
                weight_decay=0.0,
            )
            on_ckpt = None if ckpt is None else (lambda s: self._save_checkpoint(ckpt, s))
            data = torch.from_numpy(X)
            trainer.run(
                phase,
                module,
                module.parameters(),
                loss_fn,
                data,
                resume=resume,
                on_checkpoint=on_ckpt,
            )
        module.eval()
        self.history_ = trainer.history
        self.n_iter_ = steps
        if isinstance(self, ClusteringMixin) and self._default_layer() is not None:
            self.labels_ = self.predict(X)
        return self

    def _save_checkpoint(self, ckpt: Checkpoint, state: PhaseState) -> None:
        fitted = {"input_shape": list(self.input_shape_), **self._state_config()}
        ckpt.save(self.module_.state_dict(), fitted=fitted, phase=state)

    def _load_checkpoint(self, ckpt: Checkpoint) -> PhaseState | None:
        resumed = ckpt.load()  # ValueError when it is a checkpoint of another run
        self.module_.load_state_dict(resumed.tensors)
        resumed.restore_rng()
        return resumed.phase

    # ------------------------------------------------------------------ inference
    def _layer(self, layer: int | None, *, mixture: bool) -> int:
        """Validate a 1-based layer and return it 0-based."""
        check_is_fitted(self)
        K, _ = self._structure()
        if layer is None:
            layer = self._default_layer() if mixture else None
            if layer is None:
                raise ValueError(
                    f"{type(self).__name__} has no cluster variable (every K_l = 1); there is "
                    f"nothing to predict"
                    if mixture
                    else "give a layer"
                )
        allowed = self._public_layers()
        ok = not isinstance(layer, bool) and isinstance(layer, int | np.integer)
        if not ok or int(layer) not in allowed:
            raise InvalidArgumentError(
                f"layer must be one of {allowed} (1 = nearest the data), got {layer!r}"
            )
        layer = int(layer)
        if mixture and K[layer - 1] == 1:
            mix = [l + 1 for l, k in enumerate(K) if k > 1]
            raise ValueError(
                f"layer {layer} has K = 1 (no cluster variable); the mixture layers are {mix}"
            )
        return layer - 1

    def _posterior(self, X: np.ndarray) -> dict[str, list[np.ndarray | None]]:
        """Deterministic pass (lower y's at their argmax, z at the mean): per-layer q(y) and μ."""
        parts = self._batched(X, lambda xb: self.module_.infer(xb, "mean"))
        L = len(self._structure()[0])

        def cat(key: str, l: int) -> np.ndarray | None:
            if parts[0][key][l] is None:
                return None
            return torch.cat([p[key][l] for p in parts]).cpu().numpy()

        return {
            "probs": [cat("probs", l) for l in range(L)],
            "mu": [cat("mu", l) for l in range(L)],
        }

    def transform(self, X: Any, layer: int | None = None) -> np.ndarray:
        """Posterior means of q(z | x): (N, Σ d_l) for all layers (layer 1 first), or (N, d_l)."""
        check_is_fitted(self)
        ls = [self._layer(layer, mixture=False)] if layer is not None else None
        X = self._validate(X, reset=False)
        mu = self._posterior(X)["mu"]
        ls = ls if ls is not None else [l - 1 for l in self._public_layers()]
        return np.concatenate([mu[l] for l in ls], axis=1)

    def score_samples(self, X: Any) -> np.ndarray:
        """ELBO of each sample (eq. 9, β = 1) under the model's estimator: (N,)."""
        X = self._validate(X, reset=False)
        with _local_rng(0):  # the ELBO is stochastic (z and, for Gumbel, y): fixed draws
            out = self._batched(X, lambda xb: self.module_.elbo_terms(xb, 1.0)["objective"])
        return torch.cat(out).cpu().numpy()

    def score(self, X: Any, y: Any = None) -> float:
        """Mean ELBO per sample (higher is better)."""
        return float(self.score_samples(X).mean())

    def evaluate(self, X: Any, y: Any = None, layer: int | None = None) -> dict[str, float]:
        """Metrics on (X, y): ``elbo``, and for each mixture layer l (or only ``layer``)
        ``acc_l{l}`` (many-to-one, eq. 10), ``acc_hungarian_l{l}`` and ``nmi_l{l}``; the default
        layer's numbers are also given as ``acc``, ``acc_hungarian`` and ``nmi``."""
        from dendrogen.metrics import cluster_accuracy, nmi

        X = self._validate(X, reset=False)
        out = {"elbo": self.score(X)}
        if y is None:
            return out
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
        K, _ = self._structure()
        layers = (
            [self._layer(layer, mixture=True) + 1]
            if layer is not None
            else [l + 1 for l, k in enumerate(K) if k > 1]
        )
        default = layer if layer is not None else self._default_layer()
        probs = self._posterior(X)["probs"]
        for l in layers:
            pred = probs[l - 1].argmax(1)
            scores = {
                "acc": cluster_accuracy(y, pred, mapping="many_to_one"),
                "acc_hungarian": cluster_accuracy(y, pred, mapping="hungarian"),
                "nmi": nmi(y, pred),
                "n_clusters_used": float(len(np.unique(pred))),
            }
            for key, value in scores.items():
                out[f"{key}_l{l}"] = value
                if l == default:
                    out[key] = value
        return out

    # ------------------------------------------------------------------ generation
    def _context(self, n: int, context: Any) -> list[torch.Tensor | None]:
        """Per-layer latents to hold fixed: one prior draw (``None``) or the posterior means of
        one sample x (shape (*input_shape,) or (1, *input_shape)), repeated n times."""
        if context is None:
            zs = self.module_.prior_zs(1)
        else:
            x = np.asarray(context, dtype=np.float32)
            x = x.reshape(1, *self.input_shape_) if x.ndim == len(self.input_shape_) else x
            x = self._validate(x, reset=False)[:1]
            zs = self._batched(x, lambda xb: self.module_.infer(xb, "mean")["mu"])[0]
        return [None if z is None else z.expand(n, -1).clone() for z in zs]

    def _check_n(self, n: int, name: str = "n_samples") -> int:
        return check_int(n, name, low=1)

    @torch.inference_mode()
    def sample(
        self,
        n_samples: int = 1,
        layer: int | None = None,
        component: int | None = None,
        context: Any = None,
        random_state: int | None = None,
    ) -> np.ndarray:
        """Generate (n_samples, *input_shape) data-space means of p(x | z).

        With no selector: ancestral sampling (y_l ~ U, z_l ~ p(z_l | y_l) in every layer). With
        ``component`` (and ``layer``, default the evaluation layer): z_l ~ p(z_l | y_l =
        component) while every other layer is held at one fixed draw from its prior, or at the
        posterior means of ``context`` (one sample) when given (paper Fig. 3, one column).
        """
        check_is_fitted(self)
        n = self._check_n(n_samples)
        model = self.module_.eval()
        with _local_rng(random_state):
            if component is None and layer is None and context is None:
                zs = model.prior_zs(n)
            else:
                l = self._layer(layer, mixture=component is not None)
                if component is not None:
                    k = self._check_component(l, component)
                else:
                    k = None
                zs = self._context(n, context)
                zs[l] = model.prior_draw(n, l, k)
            return model.generate(zs).cpu().numpy()

    def _check_component(self, l: int, component: int) -> int:
        K_l = self._structure()[0][l]
        return check_int(component, "component", 0, K_l - 1, f" for layer {l + 1}")

    @torch.inference_mode()
    def sample_by_component(
        self,
        layer: int | None = None,
        n_rows: int = 8,
        context: Any = None,
        random_state: int | None = None,
    ) -> np.ndarray:
        """Paper Fig. 3: (n_rows, K_l, *input_shape). Column k samples z_l from component k;
        within a row the other layers are held at one draw from their priors (``context=None``)
        or, for every row, at the posterior means of ``context`` (one sample)."""
        l = self._layer(layer, mixture=True)
        n_rows = self._check_n(n_rows, "n_rows")
        K_l = self._structure()[0][l]
        model = self.module_.eval()
        with _local_rng(random_state):
            if context is None:
                zs = model.prior_zs(n_rows)  # one prior draw per row
            else:
                zs = self._context(n_rows, context)
            # every row × every component: rows repeat K_l times, components tile n_rows times
            zs = [None if z is None else z.repeat_interleave(K_l, 0) for z in zs]
            comps = torch.arange(K_l, device=self.device_).repeat(n_rows)
            zs[l] = model.prior_draw(n_rows * K_l, l, comps)
            out = model.generate(zs).cpu().numpy()
        return out.reshape(n_rows, K_l, *self.input_shape_)

    @torch.inference_mode()
    def traverse_layer(
        self, X: Any, layer: int, n: int = 8, random_state: int | None = None
    ) -> np.ndarray:
        """Paper Fig. 2: (N, n, *input_shape). For each x, every layer but ``layer`` stays at
        x's posterior means and ``layer`` is redrawn n times from its prior."""
        l = self._layer(layer, mixture=False)
        n = self._check_n(n, "n")
        X = self._validate(X, reset=False)
        model = self.module_.eval()
        with _local_rng(random_state):
            mus = self._posterior(X)["mu"]
            zs = [
                None if m is None else torch.from_numpy(m).to(self.device_).repeat_interleave(n, 0)
                for m in mus
            ]
            zs[l] = model.prior_draw(X.shape[0] * n, l)
            out = model.generate(zs).cpu().numpy()
        return out.reshape(X.shape[0], n, *self.input_shape_)

    def plot(self, X: Any, y: Any = None, path: str | os.PathLike | None = None, **options: Any):
        """Component grids of every mixture layer (Fig. 3) and latent traversals of a few
        samples of X in every layer (Fig. 2) in one figure; saved to ``path`` when given. With
        labels ``y``, each component column is labelled with its majority class over X
        (``class_names=`` names them). Other options: :func:`dendrogen.plots.vlac.plot_vlac`."""
        from dendrogen.plots.vlac import plot_vlac

        check_is_fitted(self)
        if y is not None:
            y = np.asarray(y)
            if y.shape != (len(X),):
                raise ValueError(f"y must have shape ({len(X)},), got {y.shape}")
        return plot_vlac(self, X, y=y, path=path, **options)

    # ------------------------------------------------------------------ save / load
    def _state_config(self) -> dict[str, Any]:
        return {"model_config": self.module_.config.to_dict()}

    def _state_tree(self) -> Tree | None:
        return None

    def _restore(self, fitted: dict[str, Any], tree: Tree | None) -> None:
        self.module_ = VLACModel(VLACConfig(**fitted["model_config"]))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True  # fits differ across torch builds / thread counts
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float32"]  # torch computes in float32
        return tags


class ClusteringMixin(ClusterMixin):
    """``predict`` / ``predict_proba`` for the models with cluster variables (VLAC, GMDGM; not
    VLAE, which has none)."""

    def predict_proba(self, X: Any, layer: int | None = None) -> np.ndarray:
        """q(y_l | x, y_<l) with the lower layers at their argmax: (N, K_l).

        ``layer`` is 1-based (default: the evaluation layer of vlac.md, 3 for the paper's K).
        """
        l = self._layer(layer, mixture=True)
        X = self._validate(X, reset=False)
        out = self._batched(X, lambda xb: self.module_.infer(xb, "mean")["probs"][l])
        return torch.cat(out).cpu().numpy()

    def predict(self, X: Any, layer: int | None = None) -> np.ndarray:
        """Cluster of each sample in ``layer`` (argmax of :meth:`predict_proba`): (N,) int64."""
        return self.predict_proba(X, layer=layer).argmax(1).astype(np.int64)


@contextlib.contextmanager
def _local_rng(seed: int | None) -> Iterator[None]:
    """Seed torch for a block without touching the caller's global random state."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def _default_z_dims(n_layers: int) -> list[int]:
    """vlac.md §10: 5 per layer and 10 at the top ([5, 5, 5, 10] for L = 4)."""
    return [5] * (n_layers - 1) + [10]


def check_z_dims(z_dims: Any, n_layers: int) -> tuple[int, ...]:
    if z_dims is None:
        return tuple(_default_z_dims(n_layers))
    if isinstance(z_dims, (int, str)) or len(z_dims) != n_layers:
        raise ValueError(f"z_dims must be a list of {n_layers} sizes (one per layer), got {z_dims}")
    if any(isinstance(d, bool) or int(d) != d or d < 1 for d in z_dims):
        raise ValueError(f"every z_dims entry must be an integer >= 1, got {list(z_dims)}")
    return tuple(int(d) for d in z_dims)


__all__ = ["ClusteringMixin", "LadderEstimator", "check_z_dims"]
