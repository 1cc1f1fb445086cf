"""``dendrogen.VAE`` and ``dendrogen.LadderVAE``: the embedding models of the papers' baselines
(baselines.md §1–2, §8), trained by the one Trainer in one phase with a KL warm-up.

Their embeddings (``transform``) feed the hierarchical baselines of
:mod:`dendrogen.estimators.baselines` (VAE + Agg, LadderVAE + Agg, VAE-HKMeans, VAE-RGMM).
"""

from __future__ import annotations

import os
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from dendrogen.estimators.base import DeepEstimator, check_int, fixed_noise, register, seeded
from dendrogen.models.contrastive import ContrastiveSettings, resolve_augmentation, view_pairs
from dendrogen.models.ladder import LadderVAEConfig, LadderVAEModel
from dendrogen.models.vae import HTVAE_ARCH, VAEConfig, VAEModel
from dendrogen.training import VAE_PRESETS, Checkpoint, PhaseState, Trainer, VAESchedule
from dendrogen.training import resolve_settings as _resolve_settings
from dendrogen.tree import Tree


class Autoencoder(TransformerMixin, DeepEstimator):
    """What VAE and LadderVAE share: fitting, checkpoints, embeddings, ELBO, sampling, save/load."""

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **DeepEstimator._parameter_constraints,
        "preset": [StrOptions(set(VAE_PRESETS))],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "arch": [str],
        "likelihood": [StrOptions({"auto", "bernoulli", "gaussian"})],
        "obs_var": [Interval(Real, 0, None, closed="neither")],
        "contrastive": ["boolean", dict],
    }
    #: the contrastive settings of the model being fitted or loaded (None: plain)
    _contrastive_settings: ContrastiveSettings | None = None

    # ------------------------------------------------------------------ to specialise
    def _config(self, input_shape: tuple[int, ...]) -> VAEConfig:
        raise NotImplementedError

    def _build_from_config(self, d: dict[str, Any]) -> torch.nn.Module:
        """The torch model of config ``d``, contrastive with ``_contrastive_settings``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ fitting
    def _needs_unit_interval(self) -> bool:
        return getattr(self, "likelihood_", None) == "bernoulli"

    def _resolve_likelihood(self, X: np.ndarray) -> str:
        """ "auto": Gaussian for HTVAE's networks, RGB images and sequences, else Bernoulli when
        X lies in [0, 1] (as TreeVAE decides)."""
        if self.likelihood != "auto":
            return self.likelihood
        if self.arch == HTVAE_ARCH or (X.ndim == 4 and X.shape[1] == 3) or X.ndim == 3:
            return "gaussian"
        return "bernoulli" if X.min() >= 0 and X.max() <= 1 else "gaussian"

    def fit(
        self, X: Any, y: Any = None, *, checkpoint_dir: str | os.PathLike | None = None
    ) -> Autoencoder:
        """Train on X (N, ...); ``y`` is ignored. With ``checkpoint_dir``, resumes an
        interrupted fit of the same settings on the same data."""
        self._start_fit()
        settings = _resolve_settings(VAE_PRESETS, self.preset, self.schedule, self.learning_rate,
                                     self.batch_size, VAESchedule)  # fmt: skip
        X = self._validate(X, reset=True)
        self.likelihood_ = self._resolve_likelihood(X)
        if self.likelihood_ == "bernoulli":
            self._check_unit_interval(X)
        self._check_enough_samples(X.shape[0], settings.batch_size)
        augment = None
        self._contrastive_settings = None
        if self.contrastive is not False:
            self._contrastive_settings = ContrastiveSettings.from_value(self.contrastive)
            views = resolve_augmentation(self._contrastive_settings.augmentation, X.shape[1:])
            augment = view_pairs(views, 0 if self.world_ is None else self.world_.rank)
        ckpt = self._checkpoint(checkpoint_dir, X)
        with seeded(self.random_state):
            config = self._config(tuple(X.shape[1:]))
            self.module_ = self._build_module(lambda: self._build_from_config(config.to_dict()), X)
            resume = self._load_checkpoint(ckpt) if ckpt is not None and ckpt.exists() else None
            trainer = Trainer(
                batch_size=settings.batch_size, progress=self.verbose,
                seed=0 if self.random_state is None else int(self.random_state),
                checkpoint_every=self.checkpoint_every, device=self.device_, world=self.world_,
                precision=settings.schedule.precision,
            )  # fmt: skip
            phase = settings.schedule.phase(trainer.steps_per_epoch(X.shape[0]))
            model = self.module_
            saver = None if ckpt is None else (lambda state: self._save_checkpoint(ckpt, state))
            self.history_ = trainer.run(
                phase, model, model.parameters(), lambda x, alpha: model(x, alpha),
                torch.from_numpy(X).to(self.device_), resume=resume, on_checkpoint=saver,
                augment=augment,
            )  # fmt: skip
        self.module_.eval()
        self.n_iter_ = phase.steps
        return self

    def _save_checkpoint(self, ckpt: Checkpoint, state: PhaseState) -> None:
        ckpt.save(
            self.module_.state_dict(), phase=state,
            fitted={"input_shape": list(self.module_.config.input_shape),
                    "likelihood": self.likelihood_},
        )  # fmt: skip

    def _load_checkpoint(self, ckpt: Checkpoint) -> PhaseState | None:
        resumed = ckpt.load()  # ValueError when it is a checkpoint of another run
        self.module_.load_state_dict(resumed.tensors)
        resumed.restore_rng()
        return resumed.phase

    # ------------------------------------------------------------------ inference
    def _embed(self, xb: torch.Tensor, **options: Any) -> torch.Tensor:
        return self.module_.embed(xb, **options)

    def transform(self, X: Any, **options: Any) -> np.ndarray:
        """The embedding of each sample (posterior means): (N, latent_dim)."""
        X = self._validate(X, reset=False)
        return np.concatenate(self._batched(X, lambda xb: self._embed(xb, **options).cpu().numpy()))

    def elbo_terms(self, X: Any) -> dict[str, np.ndarray]:
        """Per-sample ``elbo``, reconstruction loss ``rl`` = −log p(x | z) and the model's KL
        terms (one z sample each, from a fixed seed), each (N,)."""
        X = self._validate(X, reset=False)
        with fixed_noise(self.random_state):
            parts = self._batched(
                X, lambda xb: {k: v.cpu().numpy() for k, v in self.module_.elbo_terms(xb).items()}
            )
        terms = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        kl = sum(v for k, v in terms.items() if k.startswith("kl"))
        return {"elbo": terms["rec"] - kl, "rl": -terms["rec"], **terms}

    def score(self, X: Any, y: Any = None) -> float:
        """Mean ELBO per sample (nats; higher is better)."""
        return float(self.elbo_terms(X)["elbo"].mean())

    def reconstruct(self, X: Any) -> np.ndarray:
        """The mean of p(x | z) at the embedding: (N, *input_shape)."""
        X = self._validate(X, reset=False)
        model = self.module_
        return np.concatenate(
            self._batched(X, lambda xb: model.decode_mean(self._embed(xb)).cpu().numpy())
        )

    def sample(
        self, n_samples: int = 1, random_state: int | None = None, **selectors: Any
    ) -> np.ndarray:
        """``n_samples`` generations from the prior, decoded to means: (N, *input_shape)."""
        check_is_fitted(self)
        if selectors:
            raise TypeError(f"{type(self).__name__}.sample takes no node selector, got "
                            f"{sorted(selectors)}")  # fmt: skip
        n_samples = check_int(n_samples, "n_samples", low=1)
        gen = None if random_state is None else torch.Generator().manual_seed(int(random_state))
        self.module_.eval()
        return self.module_.generate(int(n_samples), gen).cpu().numpy()

    def evaluate(
        self, X: Any, y: Any = None, n_leaves: int = 20, layer: str | int | None = None
    ) -> dict[str, float]:
        """ELBO and RL on X; with labels y, also the scores of Ward's tree on the embeddings of
        X (DP/LP with ``n_leaves`` leaves, ACC/NMI with as many clusters as classes;
        baselines.md §4–5). ``layer``: the LadderVAE layer embedded (default z_1)."""
        from dendrogen.estimators.cluster_trees import ward_scores

        terms = self.elbo_terms(X)
        out = {"elbo": float(terms["elbo"].mean()), "rl": float(terms["rl"].mean())}
        if y is not None:
            options = {} if layer is None else {"layer": layer}
            out |= ward_scores(self.transform(X, **options), np.asarray(y), n_leaves)
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float32"]  # torch computes in float32
        return tags

    # ------------------------------------------------------------------ save / load
    def _state_config(self) -> dict[str, Any]:
        state = {"likelihood": self.likelihood_, "config": self.module_.config.to_dict(),
                 "n_iter": self.n_iter_}  # fmt: skip
        if self.module_.contrastive is not None:
            state["contrastive"] = self.module_.contrastive.to_dict()
        return state

    def _restore(self, fitted: dict[str, Any], tree: Tree | None) -> None:
        del tree
        self.likelihood_ = fitted["likelihood"]
        con = fitted.get("contrastive")
        self._contrastive_settings = None if con is None else ContrastiveSettings.from_value(con)
        self.module_ = self._build_from_config(fitted["config"])
        self.n_iter_ = int(fitted.get("n_iter", 0))
        self.history_ = []


@register
class VAE(Autoencoder):
    """Variational autoencoder baseline (baselines.md §1): one Gaussian latent with prior
    N(0, I), TreeVAE's encoder/decoder, embedding μ(x).

    Args:
        preset: "fast" (default; at most 100 passes over the data in 4000 steps), "paper" (350
            epochs, KL weight min(1, e/100), lr ×0.1 every 100 epochs), "htvae" (VAE-HKMeans'
            20 epochs of Adam 5e-4, batch 32) or "tiny" (tests).
        schedule: overrides of the preset's schedule (:class:`dendrogen.training.VAESchedule`),
            e.g. ``{"train": 2000}``.
        latent_dim: D.
        width: width of the ``mlp`` networks (and of the LadderVAE's bottom-up layers).
        arch: encoder/decoder family, "auto" by input shape (conv28, conv8, mlp, resnet32,
            resnet64, conv1d); the VAE also takes "htvae" (HTVAE's networks).
        likelihood: "bernoulli", "gaussian" or "auto" (as TreeVAE).
        obs_var: the fixed variance of the Gaussian likelihood.
        learning_rate, batch_size: override the preset when not None.
        device: "cpu" (default), "cuda", "cuda:N" or "auto".
        random_state: seed for reproducible fits.
        verbose: show a progress bar.
        checkpoint_every: seconds between checkpoints when fitting with ``checkpoint_dir``.
        distributed: data-parallel training under ``torchrun`` (None: auto).
        contrastive: the contrastive loss of the paper's starred baselines (treevae.md §5):
            True, or a dict of :class:`~dendrogen.models.contrastive.ContrastiveSettings`
            (``weight`` λ = 100, ``temperature`` 0.5, ``augmentation`` "auto" or a name). Each
            batch is augmented twice in the training loop and λ·NT-Xent on projection heads of
            the bottom-up embeddings (the encoder's output) is added to the loss.

    Fitted attributes: ``module_``, ``likelihood_``, ``history_``, ``n_iter_``.
    """

    def __init__(
        self,
        latent_dim: int = 8,
        width: int = 128,
        arch: str = "auto",
        likelihood: str = "auto",
        obs_var: float = 0.5,
        preset: str = "fast",
        schedule: dict | None = None,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        device: str = "cpu",
        random_state: int | None = None,
        verbose: bool = False,
        checkpoint_every: float = 120.0,
        distributed: bool | None = None,
        contrastive: bool | dict = False,
    ) -> None:
        self.latent_dim = latent_dim
        self.width = width
        self.arch = arch
        self.likelihood = likelihood
        self.obs_var = obs_var
        self.preset = preset
        self.schedule = schedule
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.distributed = distributed
        self.contrastive = contrastive

    def _config(self, input_shape: tuple[int, ...]) -> VAEConfig:
        return VAEConfig(input_shape, arch=self.arch, latent_dim=self.latent_dim, width=self.width,
                         likelihood=self.likelihood_, obs_var=float(self.obs_var))  # fmt: skip

    def _build_from_config(self, d: dict[str, Any]) -> VAEModel:
        return VAEModel(VAEConfig.from_dict(d), self._contrastive_settings)


@register
class LadderVAE(Autoencoder):
    """Ladder VAE baseline (Sønderby et al. 2016; baselines.md §2): ``n_layers`` stochastic
    layers with precision-weighted top-down inference, built from TreeVAE's blocks.

    Args:
        n_layers: J, the number of stochastic layers (6: TreeVAE's deepest path).
        preset: "fast" (default; at most 100 passes over the data in 4000 steps), "paper" (350
            epochs, KL weight min(1, e/100), lr ×0.1 every 100 epochs), "htvae" (VAE-HKMeans'
            20 epochs of Adam 5e-4, batch 32) or "tiny" (tests).
        schedule: overrides of the preset's schedule (:class:`dendrogen.training.VAESchedule`),
            e.g. ``{"train": 2000}``.
        latent_dim: D.
        width: width of the ``mlp`` networks (and of the LadderVAE's bottom-up layers).
        arch: encoder/decoder family, "auto" by input shape (conv28, conv8, mlp, resnet32,
            resnet64, conv1d); the VAE also takes "htvae" (HTVAE's networks).
        likelihood: "bernoulli", "gaussian" or "auto" (as TreeVAE).
        obs_var: the fixed variance of the Gaussian likelihood.
        learning_rate, batch_size: override the preset when not None.
        device: "cpu" (default), "cuda", "cuda:N" or "auto".
        random_state: seed for reproducible fits.
        verbose: show a progress bar.
        checkpoint_every: seconds between checkpoints when fitting with ``checkpoint_dir``.
        distributed: data-parallel training under ``torchrun`` (None: auto).
        contrastive: the contrastive loss of the paper's starred baselines (treevae.md §5):
            True, or a dict of :class:`~dendrogen.models.contrastive.ContrastiveSettings`
            (``weight`` λ = 100, ``temperature`` 0.5, ``augmentation`` "auto" or a name). Each
            batch is augmented twice in the training loop and λ·NT-Xent on projection heads of
            the bottom-up embeddings (e_1 … e_J) is added to the loss.

    ``transform(X, layer="bottom")`` gives the posterior means of z_1 (the decoder's input, the
    default embedding of LadderVAE + Agg); ``layer="top"`` z_J, or an integer 1..J.
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **Autoencoder._parameter_constraints,
        "n_layers": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_layers: int = 6,
        latent_dim: int = 8,
        width: int = 128,
        arch: str = "auto",
        likelihood: str = "auto",
        obs_var: float = 0.5,
        preset: str = "fast",
        schedule: dict | None = None,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        device: str = "cpu",
        random_state: int | None = None,
        verbose: bool = False,
        checkpoint_every: float = 120.0,
        distributed: bool | None = None,
        contrastive: bool | dict = False,
    ) -> None:
        self.n_layers = n_layers
        self.latent_dim = latent_dim
        self.width = width
        self.arch = arch
        self.likelihood = likelihood
        self.obs_var = obs_var
        self.preset = preset
        self.schedule = schedule
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.distributed = distributed
        self.contrastive = contrastive

    def _config(self, input_shape: tuple[int, ...]) -> LadderVAEConfig:
        return LadderVAEConfig(
            input_shape, arch=self.arch, latent_dim=self.latent_dim, width=self.width,
            likelihood=self.likelihood_, obs_var=float(self.obs_var), n_layers=self.n_layers,
        )  # fmt: skip

    def _build_from_config(self, d: dict[str, Any]) -> LadderVAEModel:
        return LadderVAEModel(LadderVAEConfig.from_dict(d), self._contrastive_settings)

    def _embed(self, xb: torch.Tensor, layer: str | int = "bottom") -> torch.Tensor:
        if layer not in ("bottom", "top"):
            layer = check_int(layer, "layer", 1, self.n_layers, ' ("bottom", "top" or 1..J)')
        return self.module_.embed(xb, layer)


__all__ = ["VAE", "Autoencoder", "LadderVAE"]
