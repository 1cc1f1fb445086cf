"""Estimators for the Gaussian-mixture ladder family: :class:`VLAC`, :class:`VLAE` (VLAC with every
K_l = 1) and the :class:`GMDGM` baseline (one mixture latent on VLAC's layer-3 networks). What they
share (fitting, inference, generation, save/load) is in :mod:`dendrogen.estimators.ladder`.

>>> from dendrogen import VLAC, load_dataset
>>> X, y = load_dataset("digits")
>>> m = VLAC(K=[1, 5, 50, 1], random_state=0).fit(X)          # doctest: +SKIP
>>> m.predict(X, layer=3); m.predict_proba(X, layer=2)         # doctest: +SKIP
>>> m.sample(16, layer=3, component=7); m.evaluate(X, y)       # doctest: +SKIP
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

from sklearn.utils._param_validation import Interval, StrOptions

from dendrogen.estimators.base import register
from dendrogen.estimators.ladder import ClusteringMixin, LadderEstimator, check_z_dims
from dendrogen.models.gmvae import gmdgm_structure
from dendrogen.models.vlac import FEEDS, check_K
from dendrogen.training import LADDER_PRESETS

#: the training presets of the ladder models (``dendrogen.training.LADDER_PRESETS``).
PRESETS = LADDER_PRESETS


@register
class VLAC(ClusteringMixin, LadderEstimator):
    """Gaussian-mixture Variational Ladder Autoencoder for disentangled clustering (paper 002).

    Args:
        K: components per layer, layer 1 (nearest the data) first, e.g. ``[1, 1, 50, 1]``
            (K^1layer) or ``[1, 5, 50, 1]`` (K^2layer); K_l = 1 is a plain VLAE layer.
        eval_layer: the layer ``predict`` and ``evaluate`` use by default (1-based; default: 3
            when layer 3 is a mixture layer, else the highest mixture layer).
        estimator: ``gumbel`` (straight-through Gumbel-Softmax, annealed temperature; the
            paper's) or ``exact`` (sum over every combination of components; costs Π K_l passes).
        hard: straight-through Gumbel (default) or soft relaxed ỹ.
        max_enumeration: the largest Π K_l ``exact`` accepts.
        head: the z heads: ``linear`` (vlac.md §2, one Linear on the layer's features) or
            ``ladder`` (the VLAE reference: a two-layer branch per layer, sigmoid std).
        z_given_y: the z head of a mixture layer takes the sampled component (q(z | x, y),
            vlac.md §2); False makes it q(z | x), so the component is read off the prior.
        feed: what a mixture layer passes up to the next layer's encoder: ``sample`` (vlac.md:
            the Gumbel sample in training, the argmax when clustering), ``argmax`` (the argmax
            in training too, straight-through) or ``probs`` (q(y | x) in both).
        z_dims: latent size per layer (default 5 per layer, 10 at the top: [5, 5, 5, 10]).
        arch: ``"auto"`` (conv28 for 28×28, conv8 for 8×8 to 16×16, conv32 for 32×32 images, mlp
            otherwise), or one of ``conv28``, ``conv8``, ``conv32``, ``mlp``.
        channels, hidden: base conv channels and FC width (default: the preset's).
        likelihood: ``laplace`` (default, b = 0.125), ``bernoulli`` or ``gaussian`` (σ² = ½).
        preset: ``fast`` (default; narrower nets, 3000 steps, Adam 1e-3), ``paper``
            (vlac.md §10–11: 150k steps, Adam 2e-4, full widths) or ``tiny`` (tests).
        schedule: overrides of the preset's schedule, e.g. ``{"train": 600}`` (steps) or
            ``{"unit": "epochs", "train": 5}`` (:class:`dendrogen.training.SinglePhaseSchedule`).
        learning_rate, batch_size: override the preset when not None.
        device: ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto``.
        random_state: seed of the initialisation, batches and noise (an integer in
            [0, 2**32 - 1]).
        verbose: show a progress bar.
        checkpoint_every: seconds between checkpoints when fitting with ``checkpoint_dir``.
        distributed: data-parallel training over the processes of ``torchrun``; None (auto)
            when launched by it, True requires it, False never.
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **LadderEstimator._parameter_constraints,
        "K": ["array-like", Interval(Integral, 1, None, closed="left")],
        "eval_layer": [Interval(Integral, 1, None, closed="left"), None],
        "estimator": [StrOptions({"gumbel", "exact"})],
        "hard": ["boolean"],
        "max_enumeration": [Interval(Integral, 1, None, closed="left")],
        "z_given_y": ["boolean"],
        "feed": [StrOptions(set(FEEDS))],
    }

    def __init__(
        self,
        K: Any = (1, 1, 50, 1),
        z_dims: Any = None,
        eval_layer: int | None = None,
        estimator: str = "gumbel",
        hard: bool = True,
        max_enumeration: int = 256,
        head: str = "linear",
        z_given_y: bool = True,
        feed: str = "sample",
        arch: str = "auto",
        channels: int | None = None,
        hidden: int | None = None,
        likelihood: str = "laplace",
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
        self.K = K
        self.z_dims = z_dims
        self.eval_layer = eval_layer
        self.estimator = estimator
        self.hard = hard
        self.max_enumeration = max_enumeration
        self.head = head
        self.z_given_y = z_given_y
        self.feed = feed
        self.arch = arch
        self.channels = channels
        self.hidden = hidden
        self.likelihood = likelihood
        self.preset = preset
        self.schedule = schedule
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.distributed = distributed

    def _structure(self):
        K = check_K(self.K)
        return K, check_z_dims(self.z_dims, len(K))

    def _estimator_options(self):
        return {
            "estimator": self.estimator,
            "hard": bool(self.hard),
            "max_enumeration": int(self.max_enumeration),
            "head": self.head,
            "z_given_y": bool(self.z_given_y),
            "feed": self.feed,
        }

    def _default_layer(self):
        K, _ = self._structure()
        if self.eval_layer is not None:
            if not (isinstance(self.eval_layer, int) and 1 <= self.eval_layer <= len(K)) or (
                K[self.eval_layer - 1] == 1
            ):
                raise ValueError(
                    f"eval_layer must name a mixture layer (K_l > 1) in 1..{len(K)}, got "
                    f"{self.eval_layer} for K = {list(K)}"
                )
            return self.eval_layer
        if len(K) >= 3 and K[2] > 1:
            return 3
        mixture = [l + 1 for l, k in enumerate(K) if k > 1]
        return max(mixture, key=lambda l: (K[l - 1], l)) if mixture else None


@register
class VLAE(LadderEstimator):
    """Variational Ladder Autoencoder (Zhao et al. 2017): VLAC with every K_l = 1, i.e. N(0, I)
    priors and no cluster variables. ``transform``, ``sample``, ``traverse_layer`` and
    ``score`` apply; ``predict`` does not.

    Args:
        n_layers: number of latent layers L (default 4).
        z_dims: latent size per layer (default 5 per layer, 10 at the top: [5, 5, 5, 10]).
        head: the z heads: ``linear`` (vlac.md §2) or ``ladder`` (the VLAE reference's
            two-layer branch per layer with a sigmoid std).
        arch: ``"auto"`` (conv28 for 28×28, conv8 for 8×8 to 16×16, conv32 for 32×32 images, mlp
            otherwise), or one of ``conv28``, ``conv8``, ``conv32``, ``mlp``.
        channels, hidden: base conv channels and FC width (default: the preset's).
        likelihood: ``laplace`` (default, b = 0.125), ``bernoulli`` or ``gaussian`` (σ² = ½).
        preset: ``fast`` (default; narrower nets, 3000 steps, Adam 1e-3), ``paper``
            (vlac.md §10–11: 150k steps, Adam 2e-4, full widths) or ``tiny`` (tests).
        schedule: overrides of the preset's schedule, e.g. ``{"train": 600}`` (steps) or
            ``{"unit": "epochs", "train": 5}`` (:class:`dendrogen.training.SinglePhaseSchedule`).
        learning_rate, batch_size: override the preset when not None.
        device: ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto``.
        random_state: seed of the initialisation, batches and noise (an integer in
            [0, 2**32 - 1]).
        verbose: show a progress bar.
        checkpoint_every: seconds between checkpoints when fitting with ``checkpoint_dir``.
        distributed: data-parallel training over the processes of ``torchrun``; None (auto)
            when launched by it, True requires it, False never.
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **LadderEstimator._parameter_constraints,
        "n_layers": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_layers: int = 4,
        z_dims: Any = None,
        head: str = "linear",
        arch: str = "auto",
        channels: int | None = None,
        hidden: int | None = None,
        likelihood: str = "laplace",
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
        self.n_layers = n_layers
        self.z_dims = z_dims
        self.head = head
        self.arch = arch
        self.channels = channels
        self.hidden = hidden
        self.likelihood = likelihood
        self.preset = preset
        self.schedule = schedule
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.distributed = distributed

    def _structure(self):
        if (
            isinstance(self.n_layers, bool)
            or int(self.n_layers) != self.n_layers
            or (self.n_layers < 1)
        ):
            raise ValueError(f"n_layers must be an integer >= 1, got {self.n_layers!r}")
        L = int(self.n_layers)
        return (1,) * L, check_z_dims(self.z_dims, L)


@register
class GMDGM(ClusteringMixin, LadderEstimator):
    """Gaussian-mixture deep generative model (GM-DGM / GMVAE): one latent z with a learned
    mixture prior p(z | y) = N(μ_y, σ_y²), p(y) uniform, on the networks of VLAC's layer
    ``depth`` (vlac.md §7): encoder g_1..g_depth without ỹ inputs, decoder f_depth..f_1, f_0
    without lateral inputs below.

    Args:
        n_components: |K| (50 in the paper's comparison).
        z_dim: size of z (default 5, VLAC's d_3).
        depth: the VLAC layer whose networks are borrowed (default 3).
        estimator: ``gumbel`` (as the VLAC run it is compared against) or ``exact``
            (n_components decoder passes per sample; the GMVAE reference code's choice).
        hard, max_enumeration, head, z_given_y: as for :class:`VLAC`.
        arch: ``"auto"`` (conv28 for 28×28, conv8 for 8×8 to 16×16, conv32 for 32×32 images, mlp
            otherwise), or one of ``conv28``, ``conv8``, ``conv32``, ``mlp``.
        channels, hidden: base conv channels and FC width (default: the preset's).
        likelihood: ``laplace`` (default, b = 0.125), ``bernoulli`` or ``gaussian`` (σ² = ½).
        preset: ``fast`` (default; narrower nets, 3000 steps, Adam 1e-3), ``paper``
            (vlac.md §10–11: 150k steps, Adam 2e-4, full widths) or ``tiny`` (tests).
        schedule: overrides of the preset's schedule, e.g. ``{"train": 600}`` (steps) or
            ``{"unit": "epochs", "train": 5}`` (:class:`dendrogen.training.SinglePhaseSchedule`).
        learning_rate, batch_size: override the preset when not None.
        device: ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto``.
        random_state: seed of the initialisation, batches and noise (an integer in
            [0, 2**32 - 1]).
        verbose: show a progress bar.
        checkpoint_every: seconds between checkpoints when fitting with ``checkpoint_dir``.
        distributed: data-parallel training over the processes of ``torchrun``; None (auto)
            when launched by it, True requires it, False never.
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **LadderEstimator._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "z_dim": [Interval(Integral, 1, None, closed="left"), None],
        "depth": [Interval(Integral, 1, None, closed="left")],
        "estimator": [StrOptions({"gumbel", "exact"})],
        "hard": ["boolean"],
        "max_enumeration": [Interval(Integral, 1, None, closed="left")],
        "z_given_y": ["boolean"],
    }

    def __init__(
        self,
        n_components: int = 50,
        z_dim: int | None = None,
        depth: int = 3,
        estimator: str = "gumbel",
        hard: bool = True,
        max_enumeration: int = 256,
        head: str = "linear",
        z_given_y: bool = True,
        arch: str = "auto",
        channels: int | None = None,
        hidden: int | None = None,
        likelihood: str = "laplace",
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
        self.n_components = n_components
        self.z_dim = z_dim
        self.depth = depth
        self.estimator = estimator
        self.hard = hard
        self.max_enumeration = max_enumeration
        self.head = head
        self.z_given_y = z_given_y
        self.arch = arch
        self.channels = channels
        self.hidden = hidden
        self.likelihood = likelihood
        self.preset = preset
        self.schedule = schedule
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.distributed = distributed

    def _structure(self):
        return gmdgm_structure(self.n_components, self.z_dim, self.depth)

    def _estimator_options(self):
        return {
            "estimator": self.estimator,
            "hard": bool(self.hard),
            "max_enumeration": int(self.max_enumeration),
            "head": self.head,
            "z_given_y": bool(self.z_given_y),
        }

    def _layer(self, layer: int | None, *, mixture: bool) -> int:
        # GM-DGM has one latent layer; users name it as None (or by its depth).
        return super()._layer(self.depth if layer is None else layer, mixture=mixture)


__all__ = ["GMDGM", "PRESETS", "VLAC", "VLAE"]
