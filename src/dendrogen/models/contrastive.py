"""What every contrastive model shares (treevae.md §5): the settings, NT-Xent, the projection
heads, the embedding term and the two-view batches.

A contrastive training batch holds two augmented views of every image, stacked ``[first views;
second views]`` (2B rows; row n + B is the other view of row n). The negative ELBO covers all
rows; the model adds λ·L_emb (TreeVAE adds its router terms too, ``models/treevae/contrastive.py``)
where L_emb is NT-Xent (τ = 0.5) on projection heads g_k(d_k) of the model's bottom-up
embeddings d_k, averaged over them:

- TreeVAE: every bottom-up activation d_0 … d_H;
- LadderVAE (``models/ladder.py``): every bottom-up embedding e_1 … e_J;
- VAE (``models/vae.py``): the encoder's deterministic output e(x).

Shapes: B = images per batch (2B rows), D = latent_dim.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dendrogen.nn.layers import DenseBlock

__all__ = [
    "ContrastiveSettings",
    "ProjectionHead",
    "add_contrastive",
    "embedding_nt_xent",
    "nt_xent",
    "projection_heads",
    "resolve_augmentation",
    "view_pairs",
]


@dataclass
class ContrastiveSettings:
    """The settings every contrastive model has (treevae.md §5).

    Attributes:
        weight: λ, the weight of the contrastive term in the loss (not annealed).
        temperature: τ of the NT-Xent on the projection heads.
        augmentation: name of the augmentation in ``dendrogen.data.augment.AUGMENTATIONS``
            ("cifar10", "celeba", "colour"...), or "auto": by image size (32×32 → CIFAR's,
            64×64 → CelebA's, other RGB → "colour").
    """

    weight: float = 100.0
    temperature: float = 0.5
    augmentation: str = "auto"

    def __post_init__(self) -> None:
        for name in self._positive():
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"contrastive {name!r} must be a positive number, got {value!r}")
        weight = self.weight
        if not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"contrastive 'weight' must be a number >= 0, got {weight!r}")
        if not isinstance(self.augmentation, str):
            raise ValueError(
                f"contrastive 'augmentation' must be a name, got {self.augmentation!r}"
            )

    def _positive(self) -> tuple[str, ...]:
        """The settings that must be positive numbers (temperatures)."""
        return ("temperature",)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_value(cls, value: Any) -> Any:
        """From an estimator's ``contrastive`` parameter: True or a dict of overrides."""
        if isinstance(value, cls):
            return value
        if value is True:
            return cls()
        if not isinstance(value, dict):
            raise ValueError(f"contrastive must be True, False or a dict, got {value!r}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(f"unknown contrastive settings {unknown}; known: {sorted(names)}")
        return cls(**value)


def _other_view(n_rows: int, device: torch.device) -> Tensor:
    if n_rows % 2:
        raise ValueError(
            f"a contrastive batch stacks two views of each image, so it needs an even number of "
            f"rows, got {n_rows}"
        )
    half = n_rows // 2
    return (torch.arange(n_rows, device=device) + half) % n_rows


def nt_xent(u: Tensor, temperature: float, weights: Tensor | None = None) -> Tensor:
    """NT-Xent of stacked views: ℓ_n = −log[exp(u_n·u_n′/τ) / Σ_{k≠n} exp(u_n·u_k/τ)].

    Computed in float32 at least, outside any autocast (a bf16 similarity matrix would round
    the logits to 2-3 digits).

    Args:
        u: (2B, k) rows, L2-normalised here; row n + B is the other view of row n.
        temperature: τ.
        weights: (2B,) non-negative weights of the rows (normalised here to sum 1); None gives
            the plain mean.

    Returns:
        A scalar: the (weighted) mean of ℓ_n.
    """
    with torch.autocast(u.device.type, enabled=False):
        dtype = torch.promote_types(u.dtype, torch.float32)
        u = F.normalize(u.to(dtype), dim=1)
        sim = (u @ u.t()) / temperature
        sim = sim.masked_fill(torch.eye(len(u), dtype=torch.bool, device=u.device), float("-inf"))
        loss = F.cross_entropy(sim, _other_view(len(u), u.device), reduction="none")
        if weights is None:
            return loss.mean()
        weights = weights.to(dtype)
        weights = weights / weights.sum().clamp_min(1e-12)
        return (weights * loss).sum()


class ProjectionHead(nn.Module):
    """g_k: bias-free Linear to the smallest width → BN → LReLU → Linear to the latent size.

    (2B, w_k) → (2B, D).
    """

    def __init__(self, in_features: int, hidden: int, out_features: int) -> None:
        super().__init__()
        self.hidden = DenseBlock(in_features, hidden)
        self.out = nn.Linear(hidden, out_features)

    def forward(self, d: Tensor) -> Tensor:
        return self.out(self.hidden(d))


def projection_heads(widths: Sequence[int], latent_dim: int) -> nn.ModuleList:
    """One :class:`ProjectionHead` per embedding of width ``widths[k]``, each with the smallest
    width as its hidden width and ``latent_dim`` outputs."""
    hidden = min(widths)
    return nn.ModuleList(ProjectionHead(w, hidden, latent_dim) for w in widths)


def embedding_nt_xent(heads: nn.ModuleList, d: Sequence[Tensor], temperature: float) -> Tensor:
    """L_emb: the mean over k of NT-Xent(g_k(d_k), τ); each d_k (2B, w_k)."""
    return torch.stack([nt_xent(g(dk), temperature) for g, dk in zip(heads, d, strict=True)]).mean()


def add_contrastive(terms: dict[str, Tensor], term: Tensor, weight: float) -> dict[str, Tensor]:
    """Add λ·``term`` to ``terms["loss"]`` and log the term (detached) as ``contrastive``."""
    terms["loss"] = terms["loss"] + weight * term
    terms["contrastive"] = term.detach()
    return terms


def resolve_augmentation(name: str, input_shape: Sequence[int]) -> Callable[..., Tensor]:
    """The augmentation ``name`` of ``dendrogen.data.augment.AUGMENTATIONS``; "auto" picks by
    shape (3×32×32 → CIFAR's, 3×64×64 → CelebA's, other 3-channel images → "colour")."""
    from dendrogen.data.augment import AUGMENTATIONS

    shape = tuple(input_shape)
    if name == "auto":
        if len(shape) != 3 or shape[0] != 3:
            raise ValueError(
                f"contrastive=True needs RGB images (N, 3, H, W), got samples of shape {shape}; "
                f"name an augmentation with contrastive={{'augmentation': ...}} "
                f"({sorted(AUGMENTATIONS)})"
            )
        name = {(32, 32): "cifar10", (64, 64): "celeba"}.get(shape[1:], "colour")
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; choose one of {sorted(AUGMENTATIONS)}")
    if len(shape) != 3:
        raise ValueError(f"augmentation {name!r} needs images (N, C, H, W), got shape {shape}")
    return AUGMENTATIONS[name]


def view_pairs(augment: Callable[..., Tensor], rank: int = 0) -> Callable[[Tensor], Tensor]:
    """A Trainer ``augment`` hook: (B, C, H, W) → (2B, C, H, W), two augmented views stacked.

    Each call seeds a CPU generator from one draw of torch's global generator (part of every
    checkpoint, so a resumed fit draws the same views) plus ``rank``, so each process of a
    data-parallel fit augments its own rows with its own random parameters.
    """
    from dendrogen.data.augment import two_views

    def pairs(x: Tensor) -> Tensor:
        seed = int(torch.randint(0, 2**62, (1,))) + rank
        return two_views(x, augment, torch.Generator().manual_seed(seed))

    return pairs
