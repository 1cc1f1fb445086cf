"""``dendrogen.HTVAE``: a VAE whose latent space holds a stack of self-organising maps (htvae.md).

Must-link constraints (eq. 10) are drawn inside the loss function from torch's global generator,
which the Trainer checkpoints, so a resumed fit draws the same pairs.
"""

from __future__ import annotations

import os
import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from dendrogen.estimators.base import register
from dendrogen.estimators.maps import MapEstimator, PairSampler
from dendrogen.models.htvae import HTVAEConfig, HTVAEModel, parse_map_sizes

#: What ``map_sizes=None`` means (issue 15, BENCHMARKS.md "HTVAE, issue 15"): ``preset="paper"``
#: keeps the literal reading of htvae.md (an 8×8 finest map); the other presets use the measured
#: 16×16.
PAPER_MAP_SIZES = ((8, 8), (4, 4), (2, 2))
MEASURED_MAP_SIZES = ((16, 16), (4, 4), (2, 2))


@register
class HTVAE(MapEstimator):
    """Hierarchical Topological VAE (Desticourt et al., CSCI 2022): a VAE whose latent space holds
    a stack of self-organising maps, each code the child of its nearest code on the next coarser
    map, trained jointly (htvae.md).

    Inputs: vectors (N, D), sequences (N, C, T) or images (N, C, H, W), in [0, 1]
    (any real values with ``output="linear"``).

    Args:
        map_sizes: (rows, cols) of each map, finest first, or a string "8x8,4x4,2x2". None:
            16×16, 4×4, 2×2, or 8×8, 4×4, 2×2 with ``preset="paper"``.
        latent_dim: L.
        sigma_init: std of the codes' initial N(0, sigma_init²).
        rho: code spread σ_i = d²_min/rho (eq. 5).
        sigma_mode: "isotropic" (paper), "per_dim" (htvae.md §1.2; needs rho ~L times smaller)
            or "half_gap" (σ_d = half the gap to the closest neighbour in dimension d; no rho).
        lambda_top, lambda_hier, lambda_rec: weights of the loss terms (eqs. 9, 7, 8).
        kl_weight: weight of an optional KL(q(z|x) ‖ N(0, I)); 0 in the paper.
        lambda_ml: weight of the must-link term (eq. 10).
        ml_level: the map (1 = finest) on which the must-link topological distance is taken.
        ml_batch_size: must-link pairs drawn per step.
        widths: the two conv widths of the htvae.md §4 networks.
        output: "sigmoid" (paper: the decoder ends in a sigmoid, so X must lie in [0, 1]) or
            "linear" (no output activation, for real-valued data such as z-scored signals).
        code_update: "gradient" (paper: Adam moves the codes with the loss) or "ema" (each code
            the moving average of the points it quantises, a batch SOM; see
            :class:`dendrogen.models.htvae.HTVAEConfig`).
        ema_decay, ema_neighbour: the moving averages' decay and the weight of a winner's grid
            neighbours (``code_update="ema"`` only).
        kernel_size: conv kernel (None: 3 for images, 5 for sequences; SOM-VAE's reference: 4).
        decoder_dense: "relu" after the decoder's first Linear (htvae.md §4) or "linear".
        lr_decay, lr_decay_every: multiply the learning rate by ``lr_decay`` every
            ``lr_decay_every`` steps (the SOM-VAE reference: 0.9 every 500); 1.0 keeps it
            constant (Algorithm 1).
        refit_codes: after training, this many Lloyd iterations move each S_1 code to the mean
            of the training μ_0 it quantises, and each coarser map to the weighted mean of the
            codes below it (:meth:`dendrogen.models.som.SOMStack.refit`); 0 keeps the codes
            where training left them (the paper, and the default: on Fashion-MNIST it raised
            purity by 0.013 and lowered NMI by 0.012, BENCHMARKS.md).
        preset: "fast" (default), "paper" (20 epochs, Adam 5e-4, batch 32) or "tiny" (tests).
        schedule: overrides of the preset's schedule, e.g. ``{"train": 5}`` (epochs) or
            ``{"unit": "steps", "train": 800}`` (:class:`dendrogen.training.SinglePhaseSchedule`).
        learning_rate, batch_size: override the preset when not None.
        device: "cpu" (default), "cuda", "cuda:N" or "auto".
        random_state: seed for reproducible fits (an integer in [0, 2**32 - 1]).
        verbose: show a progress bar.
        checkpoint_every: seconds between checkpoints when fitting with ``checkpoint_dir``.
        distributed: data-parallel training over the processes of ``torchrun``; None (auto)
            when launched by it, True requires it, False never.

    Fitted attributes: ``module_`` (the torch model), ``tree_`` (a :class:`dendrogen.tree.Tree`),
    ``labels_`` (finest-map codes of the training data), ``code_counts_`` (training samples per
    code, one array per level), ``n_levels_``, ``history_``, ``n_iter_``.

    Example:
        >>> m = HTVAE(preset="paper", random_state=0).fit(X)            # doctest: +SKIP
        >>> m.predict(X_test, level=2); m.sample(16, level=3, code=1)   # doctest: +SKIP
    """

    def __init__(
        self,
        map_sizes: Any = None,
        latent_dim: int = 64,
        sigma_init: float = 0.05,
        rho: float = 10.0,
        sigma_mode: str = "isotropic",
        lambda_top: float = 1.0,
        lambda_hier: float = 1.0,
        lambda_rec: float = 1.0,
        kl_weight: float = 0.0,
        lambda_ml: float = 1.0,
        ml_level: int = 1,
        ml_batch_size: int = 32,
        widths: tuple[int, int] = (32, 64),
        output: str = "sigmoid",
        code_update: str = "gradient",
        ema_decay: float = 0.99,
        ema_neighbour: float = 0.1,
        kernel_size: int | None = None,
        decoder_dense: str = "relu",
        lr_decay: float = 1.0,
        lr_decay_every: int = 500,
        refit_codes: int = 0,
        preset: str = "fast",
        schedule: dict | None = None,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        device: str = "cpu",
        random_state: int | None = None,
        verbose: bool = False,
        checkpoint_every: float = 120.0,
        distributed: bool | None = None,
    ) -> None:
        self.map_sizes = map_sizes
        self.latent_dim = latent_dim
        self.sigma_init = sigma_init
        self.rho = rho
        self.sigma_mode = sigma_mode
        self.lambda_top = lambda_top
        self.lambda_hier = lambda_hier
        self.lambda_rec = lambda_rec
        self.kl_weight = kl_weight
        self.lambda_ml = lambda_ml
        self.ml_level = ml_level
        self.ml_batch_size = ml_batch_size
        self.widths = widths
        self.output = output
        self.code_update = code_update
        self.ema_decay = ema_decay
        self.ema_neighbour = ema_neighbour
        self.kernel_size = kernel_size
        self.decoder_dense = decoder_dense
        self.lr_decay = lr_decay
        self.lr_decay_every = lr_decay_every
        self.refit_codes = refit_codes
        self.preset = preset
        self.schedule = schedule
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.distributed = distributed

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **MapEstimator._parameter_constraints,
        "map_sizes": ["array-like", str, None],
        "rho": [Interval(Real, 0, None, closed="neither")],
        "sigma_mode": [StrOptions({"isotropic", "per_dim", "half_gap"})],
        "lambda_top": [Interval(Real, 0, None, closed="left")],
        "lambda_hier": [Interval(Real, 0, None, closed="left")],
        "lambda_rec": [Interval(Real, 0, None, closed="left")],
        "kl_weight": [Interval(Real, 0, None, closed="left")],
        "lambda_ml": [Interval(Real, 0, None, closed="left")],
        "ml_level": [Interval(Integral, 1, None, closed="left")],
        "ml_batch_size": [Interval(Integral, 1, None, closed="left")],
        "code_update": [StrOptions({"gradient", "ema"})],
        "ema_decay": [Interval(Real, 0, 1, closed="left")],
        "ema_neighbour": [Interval(Real, 0, None, closed="left")],
        "kernel_size": [Interval(Integral, 1, None, closed="left"), None],
        "decoder_dense": [StrOptions({"relu", "linear"})],
        "lr_decay": [Interval(Real, 0, 1, closed="right")],
        "lr_decay_every": [Interval(Integral, 1, None, closed="left")],
        "refit_codes": [Interval(Integral, 0, None, closed="left")],
    }

    def _map_sizes(self) -> tuple[tuple[int, int], ...]:
        sizes = self.map_sizes
        if sizes is None:
            sizes = PAPER_MAP_SIZES if self.preset == "paper" else MEASURED_MAP_SIZES
        return parse_map_sizes(sizes)

    def _check_params(self) -> None:
        super()._check_params()
        m = len(self._map_sizes())
        if self.ml_level > m:
            raise ValueError(f"ml_level must be an integer in 1..{m}, got {self.ml_level!r}")

    def _config(self, input_shape: tuple[int, ...]) -> HTVAEConfig:
        return HTVAEConfig(
            input_shape=input_shape, latent_dim=self.latent_dim, map_sizes=self._map_sizes(),
            sigma_init=self.sigma_init, rho=self.rho, sigma_mode=self.sigma_mode,
            lambda_top=self.lambda_top, lambda_hier=self.lambda_hier, lambda_rec=self.lambda_rec,
            kl_weight=self.kl_weight, widths=tuple(self.widths), output=self.output,
            code_update=self.code_update, ema_decay=self.ema_decay,
            ema_neighbour=self.ema_neighbour, kernel_size=self.kernel_size,
            decoder_dense=self.decoder_dense,
        )  # fmt: skip

    def _after_training(self, X: np.ndarray) -> None:
        if self.refit_codes:
            mu = torch.cat(self._batched(X, lambda xb: self.module_.encode(xb)[0]))
            self.module_.maps.refit(mu, int(self.refit_codes))

    def _lr_decay(self) -> tuple[float, int]:
        return float(self.lr_decay), (0 if self.lr_decay == 1 else int(self.lr_decay_every))

    def _build(self, input_shape: tuple[int, ...]) -> HTVAEModel:
        return HTVAEModel(self._config(input_shape))

    def _build_from_config(self, d: dict[str, Any]) -> HTVAEModel:
        return HTVAEModel(HTVAEConfig(**d))

    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        checkpoint_dir: str | os.PathLike | None = None,
        must_link: Any = None,
    ) -> HTVAE:
        """Train on X (N, ...), optionally with soft must-link constraints (eq. 10).

        Args:
            X: training data.
            y: optional partial labels (N,): −1 = unknown; samples sharing a label ≥ 0 are
                linked. (Passing complete labels makes the fit supervised.)
            must_link: optional (P, 2) integer array of linked training indices.
            checkpoint_dir: save the training state there as it goes; a later fit with the same
                folder and settings resumes from it.
        """
        return self._fit(X, y, must_link, checkpoint_dir)

    def _constraints(self, y: Any, must_link: Any, n: int) -> PairSampler | None:
        if y is not None and must_link is not None:
            raise ValueError("give must-link constraints either as y (partial labels) or as "
                             "must_link pairs, not both")  # fmt: skip
        if must_link is not None:
            pairs = np.asarray(must_link)
            if pairs.dtype == bool or not np.issubdtype(pairs.dtype, np.integer):
                raise ValueError(f"must_link must be an integer array of index pairs, got dtype "
                                 f"{pairs.dtype}")  # fmt: skip
            if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] == 0:
                raise ValueError(f"must_link must have shape (P, 2) with P >= 1, got {pairs.shape}")
            bad = (pairs < 0) | (pairs >= n)
            if bad.any():
                row = int(np.flatnonzero(bad.any(axis=1))[0])
                raise ValueError(f"must_link indices must be in 0..{n - 1} (training rows); row "
                                 f"{row} is {pairs[row].tolist()}")  # fmt: skip
            return PairSampler(self.ml_batch_size, pairs=pairs.astype(np.int64))
        if y is None:
            return None
        labels = np.asarray(y)
        if labels.shape != (n,):
            raise ValueError(f"y (partial labels, -1 = unknown) must have shape ({n},), "
                             f"got {labels.shape}")  # fmt: skip
        if not np.issubdtype(labels.dtype, np.integer):
            if not np.issubdtype(labels.dtype, np.floating) or not np.all(
                np.isfinite(labels) & (labels == np.round(labels))
            ):
                raise ValueError(
                    f"Unknown label type: y must hold integer labels (-1 = unknown), got dtype "
                    f"{labels.dtype}"
                )
        labels = labels.astype(np.int64)
        if (labels < -1).any():
            raise ValueError(f"y labels must be >= -1 (-1 = unknown), found {labels.min()}")
        sampler = PairSampler(self.ml_batch_size, labels=labels)
        if sampler.n_labels == 0:
            warnings.warn("y links no pair of samples (no label >= 0 is shared); fitting "
                          "without must-link constraints", UserWarning, stacklevel=3)  # fmt: skip
            return None
        return sampler

    def _loss_fn(self, data: torch.Tensor, sampler: PairSampler | None):
        model = self.module_
        if sampler is None or self.lambda_ml == 0:
            return super()._loss_fn(data, sampler)
        level, weight = int(self.ml_level), float(self.lambda_ml)

        def loss_fn(x: torch.Tensor, alpha: float) -> dict[str, torch.Tensor]:
            del alpha
            terms = model(x)
            ia, ib = sampler()
            ml = model.must_link(data[ia], data[ib], level)
            terms["loss"] = terms["loss"] + weight * ml
            terms["ml"] = ml.detach()
            return terms

        return loss_fn


__all__ = ["HTVAE"]
