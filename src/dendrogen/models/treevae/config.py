"""TreeVAE configuration (treevae.md §4); its training presets are in ``dendrogen.training``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class TreeVAEConfig:
    """Architecture of a TreeVAE.

    Attributes:
        input_shape: shape of one sample, e.g. (1, 28, 28).
        arch: encoder/decoder family (``dendrogen.nn.architectures``); "auto" picks by shape.
        latent_dim: size of every node's latent z.
        width: width w_k of the bottom-up MLPs, node heads, routers and transformations
            (the encoder's output width is d_H's).
        max_depth: H, the depth (in edges) a leaf may reach.
        likelihood: "bernoulli" (data in [0, 1]) or "gaussian".
        obs_var: the Gaussian likelihood's fixed variance, or "auto": re-estimated while
            training (:class:`~dendrogen.nn.likelihoods.CalibratedGaussian`).
    """

    input_shape: tuple[int, ...]
    arch: str = "auto"
    latent_dim: int = 8
    width: int = 128
    max_depth: int = 5
    likelihood: str = "bernoulli"
    obs_var: float | str = 0.5

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(s) for s in self.input_shape)
        if self.latent_dim < 1 or self.width < 1:
            raise ValueError("latent_dim and width must be positive")
        if self.max_depth < 1:
            raise ValueError(f"max_depth must be at least 1, got {self.max_depth}")
        if self.likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(
                f"likelihood must be 'bernoulli' or 'gaussian', not {self.likelihood!r}"
            )
        if self.obs_var != "auto" and not (
            isinstance(self.obs_var, (int, float)) and self.obs_var > 0
        ):
            raise ValueError(f"obs_var must be a positive number or 'auto', not {self.obs_var!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TreeVAEConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


#: Schedules and presets live in ``dendrogen.training.presets``; these names stay importable from
#: here for old code, resolved lazily so that the models layer does not import the training layer.
_MOVED = ("PRESETS", "Schedule", "make_schedule")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from dendrogen.training import presets

        return getattr(presets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
