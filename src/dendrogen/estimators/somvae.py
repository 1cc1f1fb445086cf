"""``dendrogen.SOMVAE``: the SOM-VAE baseline (Fortuin et al., ICLR 2019; htvae.md §9)."""

from __future__ import annotations

import os
from numbers import Real
from typing import Any, ClassVar

from sklearn.utils._param_validation import Interval

from dendrogen.estimators.base import register
from dendrogen.estimators.maps import MapEstimator
from dendrogen.models.htvae import parse_map_sizes
from dendrogen.models.somvae import SOMVAEConfig, SOMVAEModel


@register
class SOMVAE(MapEstimator):
    """SOM-VAE baseline (Fortuin et al., ICLR 2019; htvae.md §9): a deterministic autoencoder with
    one self-organising map of codes in its latent space, without the Markov terms.

    Args:
        map_size: (rows, cols) of the map.
        latent_dim: L.
        sigma_init: std of the truncated-normal code initialisation.
        alpha: commitment weight; beta: SOM-neighbourhood weight.
        widths, output, preset, schedule, learning_rate, batch_size, device, random_state,
        verbose, checkpoint_every, distributed: as for :class:`HTVAE`.

    ``tree_`` is flat (root → codes); ``sample(n, code=k)`` decodes code k (SOM-VAE codes are
    points, so all n samples of one code are equal).
    """

    def __init__(
        self,
        map_size: tuple[int, int] = (8, 8),
        latent_dim: int = 64,
        sigma_init: float = 0.05,
        alpha: float = 1.0,
        beta: float = 0.9,
        widths: tuple[int, int] = (32, 64),
        output: str = "sigmoid",
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
        self.map_size = map_size
        self.latent_dim = latent_dim
        self.sigma_init = sigma_init
        self.alpha = alpha
        self.beta = beta
        self.widths = widths
        self.output = output
        self.preset = preset
        self.schedule = schedule
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.distributed = distributed

    def _map_sizes(self) -> tuple[tuple[int, int], ...]:
        size = self.map_size
        if isinstance(size, str):
            return parse_map_sizes(size)[:1]
        return parse_map_sizes([size])

    def _build(self, input_shape: tuple[int, ...]) -> SOMVAEModel:
        return SOMVAEModel(SOMVAEConfig(
            input_shape=input_shape, latent_dim=self.latent_dim, map_size=self._map_sizes()[0],
            sigma_init=self.sigma_init, alpha=self.alpha, beta=self.beta,
            widths=tuple(self.widths), output=self.output,
        ))  # fmt: skip

    def _build_from_config(self, d: dict[str, Any]) -> SOMVAEModel:
        return SOMVAEModel(SOMVAEConfig(**d))

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **MapEstimator._parameter_constraints,
        "map_size": ["array-like", str],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "beta": [Interval(Real, 0, None, closed="left")],
    }

    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        checkpoint_dir: str | os.PathLike | None = None,
        must_link: Any = None,
    ) -> SOMVAE:
        """Train on X (N, ...) in [0, 1]; ``y`` is ignored. With ``checkpoint_dir``, resumes an
        interrupted fit of the same settings on the same data. ``must_link`` is refused with a
        clear error (SOM-VAE takes no must-link pairs; HTVAE does)."""
        if must_link is not None:
            raise TypeError("SOMVAE takes no must-link constraints; use HTVAE")
        return self._fit(X, None, None, checkpoint_dir)


__all__ = ["SOMVAE"]
