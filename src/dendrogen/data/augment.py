"""Batched image augmentations in torch, with torchvision's semantics (torchvision cannot be
installed beside the CPU torch here, so they are reimplemented).

Every function takes a float batch ``x`` of shape (B, C, H, W) with values in [0, 1] and an
optional CPU ``torch.Generator`` (random parameters are drawn on the CPU, so results do not
depend on the device), draws independent parameters per image, and returns a new batch on
``x``'s device. Crops, resizes and affine maps are one ``grid_sample`` per batch.

Presets of treevae.md §5 and §8: :func:`cifar_augment`, :func:`celeba_augment`,
:func:`omniglot_augment`; :func:`two_views` stacks two augmented views for the contrastive loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "AUGMENTATIONS",
    "celeba_augment",
    "cifar_augment",
    "color_jitter",
    "colour_augment",
    "hflip",
    "hsv_to_rgb",
    "omniglot_augment",
    "random_affine",
    "random_grayscale",
    "random_resized_crop",
    "rgb_to_hsv",
    "two_views",
]

Augmentation = Callable[..., torch.Tensor]


def _check(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        raise ValueError(
            "augmentations take a float tensor of shape (B, C, H, W), got "
            f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}"
        )


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


def _bernoulli(n: int, p: float, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=generator) < p


def _sample(x: torch.Tensor, theta: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resample ``x`` through per-image affine maps (output -> input, normalised coords)."""
    grid = F.affine_grid(
        theta.to(device=x.device, dtype=x.dtype), [x.shape[0], x.shape[1], *size],
        align_corners=False,
    )  # fmt: skip
    return F.grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=False)


# ---------------------------------------------------------------------------- geometry
def _crop_boxes(
    n: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator: torch.Generator | None,
) -> torch.Tensor:
    """torchvision's RandomResizedCrop.get_params for n images: (n, 4) rows (top, left, h, w).

    Ten attempts per image at an area fraction in ``scale`` and a log-uniform aspect ratio in
    ``ratio``; images without a valid attempt get the central crop clamped to ``ratio``.
    """
    area = height * width
    attempts = 10
    target = area * _uniform(n * attempts, *scale, generator).view(n, attempts)
    log_r = _uniform(n * attempts, math.log(ratio[0]), math.log(ratio[1]), generator)
    aspect = torch.exp(log_r).view(n, attempts)
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    valid = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = torch.argmax(valid.to(torch.int8), dim=1)
    rows = torch.arange(n)
    h, w = h[rows, first], w[rows, first]
    ok = valid[rows, first]
    # Fallback: whole image, trimmed to the nearest allowed aspect ratio.
    in_ratio = width / height
    if in_ratio < min(ratio):
        fw, fh = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        fw, fh = round(height * max(ratio)), height
    else:
        fw, fh = width, height
    h = torch.where(ok, h, torch.full_like(h, fh))
    w = torch.where(ok, w, torch.full_like(w, fw))
    u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    top = torch.where(ok, torch.floor(u[:, 0] * (height - h + 1)), (height - h) // 2)
    left = torch.where(ok, torch.floor(u[:, 1] * (width - w + 1)), (width - w) // 2)
    return torch.stack([top, left, h, w], dim=1)


def random_resized_crop(
    x: torch.Tensor,
    size: int | tuple[int, int],
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    mode: str = "bilinear",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Crop a random box of each image and resize it to ``size`` (torchvision semantics).

    Args:
        x: (B, C, H, W) in [0, 1].
        size: output ``(height, width)`` or an int for a square.
        scale: range of the box's area as a fraction of the image.
        ratio: range of the box's width / height (sampled log-uniformly).
        mode: ``"bilinear"``, ``"bicubic"`` (clamped back to [0, 1]) or ``"nearest"``.

    Returns:
        (B, C, *size).
    """
    _check(x)
    out_size = (size, size) if isinstance(size, int) else tuple(size)
    b, _, height, width = x.shape
    top, left, h, w = _crop_boxes(b, height, width, scale, ratio, generator).unbind(1)
    # Output pixel centres map onto the box's pixel centres (a resize of the crop).
    theta = torch.zeros(b, 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = w / width
    theta[:, 0, 2] = (2 * left + w) / width - 1
    theta[:, 1, 1] = h / height
    theta[:, 1, 2] = (2 * top + h) / height - 1
    out = _sample(x, theta, out_size, mode)
    return out.clamp_(0.0, 1.0) if mode == "bicubic" else out


def hflip(
    x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``."""
    _check(x)
    flip = _bernoulli(x.shape[0], p, generator).to(x.device).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(-1), x)


def random_affine(
    x: torch.Tensor,
    degrees: float = 0.0,
    translate: tuple[float, float] | None = None,
    scale: tuple[float, float] | None = None,
    shear: float = 0.0,
    fill: float = 0.0,
    mode: str = "nearest",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """torchvision's RandomAffine about the image centre, per image.

    Args:
        degrees: rotation angle drawn from [-degrees, degrees].
        translate: maximal shifts as fractions of width and height; the shift in pixels is
            rounded, as torchvision does.
        scale: range of the zoom factor.
        shear: x-shear angle in degrees, drawn from [-shear, shear].
        fill: value of the area that comes from outside the image (1.0 = white for Omniglot).
        mode: ``"nearest"`` (torchvision's default) or ``"bilinear"``.
    """
    _check(x)
    b, _, height, width = x.shape
    angle = torch.deg2rad(_uniform(b, -degrees, degrees, generator))
    if translate is not None:
        tx = torch.round(_uniform(b, -translate[0] * width, translate[0] * width, generator))
        ty = torch.round(_uniform(b, -translate[1] * height, translate[1] * height, generator))
    else:
        tx = ty = torch.zeros(b, dtype=torch.float64)
    zoom = (
        _uniform(b, *scale, generator) if scale is not None else torch.ones(b, dtype=torch.float64)
    )
    sx = torch.deg2rad(_uniform(b, -shear, shear, generator))
    # Forward map in pixel units about the centre: rotation, x-shear, zoom, then translation.
    a = torch.stack(
        [
            torch.stack(
                [torch.cos(angle), -torch.cos(angle) * torch.tan(sx) - torch.sin(angle)], -1
            ),
            torch.stack(
                [torch.sin(angle), -torch.sin(angle) * torch.tan(sx) + torch.cos(angle)], -1
            ),
        ],
        dim=1,
    ) * zoom.view(b, 1, 1)
    inv = torch.linalg.inv(a)
    # grid_sample needs output -> input in normalised coordinates: D^-1 A^-1 (D u - t).
    d = torch.tensor([width / 2, height / 2], dtype=torch.float64)
    theta = torch.empty(b, 2, 3, dtype=torch.float64)
    theta[:, :, :2] = inv * d.view(1, 1, 2) / d.view(1, 2, 1)
    t = torch.stack([tx, ty], dim=1)
    theta[:, :, 2] = -(inv @ t.unsqueeze(-1)).squeeze(-1) / d
    # Zero padding of (x - fill), shifted back, fills the outside with `fill`.
    grid = F.affine_grid(theta.to(device=x.device, dtype=x.dtype), list(x.shape), False)
    return (
        F.grid_sample(x - fill, grid, mode=mode, padding_mode="zeros", align_corners=False) + fill
    )


# ---------------------------------------------------------------------------- color
def _gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma, (B, 1, H, W)."""
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def random_grayscale(
    x: torch.Tensor, p: float = 0.1, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Replace each image by its luma in every channel with probability ``p``."""
    _check(x)
    chosen = _bernoulli(x.shape[0], p, generator).to(x.device).view(-1, 1, 1, 1)
    return torch.where(chosen, _gray(x).expand_as(x), x)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> HSV with hue in [0, 1)."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    chroma = maxc - minc
    gray = chroma == 0
    safe = torch.where(gray, torch.ones_like(chroma), chroma)
    sat = chroma / torch.where(maxc == 0, torch.ones_like(maxc), maxc)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    hue = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = torch.where(gray, torch.zeros_like(hue), torch.remainder(hue / 6.0, 1.0))
    return torch.stack([hue, sat, maxc], dim=1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv`."""
    h, s, v = x.unbind(1)
    h6 = torch.remainder(h, 1.0) * 6.0
    sector = torch.floor(h6)
    f = h6 - sector
    sector = sector.long() % 6
    p = v * (1 - s)
    q = v * (1 - s * f)
    t = v * (1 - s * (1 - f))
    # Per hue sector, which of (v, q, p, t) goes to R, G and B.
    table = torch.stack(
        [torch.stack(c, 0) for c in (
            (v, q, p, p, t, v),  # R per sector 0..5
            (t, v, v, q, p, p),  # G
            (p, p, t, v, v, q),  # B
        )],
        dim=1,
    )  # (6, 3, B, H, W)  # fmt: skip
    index = sector.unsqueeze(0).unsqueeze(0).expand(1, 3, *sector.shape)
    return torch.gather(table, 0, index)[0].permute(1, 0, 2, 3).clamp(0.0, 1.0)


def _adjust(x: torch.Tensor, op: int, factor: torch.Tensor) -> torch.Tensor:
    f = factor.view(-1, 1, 1, 1)
    if op == 0:  # brightness: blend with black
        return (x * f).clamp(0.0, 1.0)
    if op == 1:  # contrast: blend with the mean luma of the image
        mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
        return (f * x + (1 - f) * mean).clamp(0.0, 1.0)
    if x.shape[1] == 1:  # saturation and hue do nothing to gray images
        return x
    if op == 2:  # saturation: blend with the image's luma
        return (f * x + (1 - f) * _gray(x)).clamp(0.0, 1.0)
    hsv = rgb_to_hsv(x)
    hsv = torch.cat([torch.remainder(hsv[:, :1] + f, 1.0), hsv[:, 1:]], dim=1)
    return hsv_to_rgb(hsv)


def color_jitter(
    x: torch.Tensor,
    brightness: float = 0.0,
    contrast: float = 0.0,
    saturation: float = 0.0,
    hue: float = 0.0,
    p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """torchvision's ColorJitter (applied to each image with probability ``p``).

    Factors are drawn per image: brightness, contrast and saturation from
    ``[max(0, 1 - s), 1 + s]``, the hue shift from ``[-hue, hue]`` (fraction of a turn); the
    four adjustments run in a random order per image.
    """
    _check(x)
    if not 0 <= hue <= 0.5:
        raise ValueError(f"hue must lie in [0, 0.5], got {hue}")
    b = x.shape[0]
    strengths = (brightness, contrast, saturation, hue)
    factors = [
        _uniform(b, -s, s, generator) if op == 3 else _uniform(b, max(0.0, 1 - s), 1 + s, generator)
        for op, s in enumerate(strengths)
    ]
    order = torch.argsort(torch.rand(b, 4, generator=generator), dim=1)
    apply = _bernoulli(b, p, generator)
    out = x.clone()
    for position in range(4):
        for op in range(4):
            # Only the images that run `op` at this position (and are jittered at all).
            rows = torch.nonzero((order[:, position] == op) & apply).flatten()
            if strengths[op] == 0 or len(rows) == 0:
                continue
            factor = factors[op][rows].to(device=x.device, dtype=x.dtype)
            rows = rows.to(x.device)
            out[rows] = _adjust(out[rows], op, factor)
    return out


# ---------------------------------------------------------------------------- presets
def cifar_augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """treevae.md §5 (CIFAR): RandomResizedCrop(32, scale 0.2-1, bicubic), horizontal flip,
    ColorJitter(0.4, 0.4, 0.4, 0.1) with p 0.8, grayscale with p 0.2."""
    x = random_resized_crop(x, x.shape[-2:], scale=(0.2, 1.0), mode="bicubic", generator=generator)
    x = hflip(x, generator=generator)
    x = color_jitter(x, 0.4, 0.4, 0.4, 0.1, p=0.8, generator=generator)
    return random_grayscale(x, p=0.2, generator=generator)


def celeba_augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """treevae.md §5 (CelebA, on the loader's 64x64 crops): RandomResizedCrop(64, scale
    0.75-1, ratio 0.8-1.25), horizontal flip, ColorJitter(0.2, 0.2, 0.2) with p 0.8."""
    x = random_resized_crop(
        x, x.shape[-2:], scale=(0.75, 1.0), ratio=(0.8, 1.25), generator=generator
    )
    x = hflip(x, generator=generator)
    return color_jitter(x, 0.2, 0.2, 0.2, 0.0, p=0.8, generator=generator)


def colour_augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Small RGB images whose colours carry no class information (e.g.
    :func:`dendrogen.data.synthetic.make_colour_shapes`): RandomResizedCrop(scale 0.35-1),
    horizontal flip, ColorJitter(0.5, 0.5, 0.5, 0.5) with p 0.9 (hue 0.5 turns the colour wheel
    all the way), grayscale with p 0.2. (B, 3, H, W) → (B, 3, H, W)."""
    x = random_resized_crop(x, x.shape[-2:], scale=(0.35, 1.0), generator=generator)
    x = hflip(x, generator=generator)
    x = color_jitter(x, 0.5, 0.5, 0.5, 0.5, p=0.9, generator=generator)
    return random_grayscale(x, p=0.2, generator=generator)


def omniglot_augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """treevae.md §8 (Omniglot training): RandomAffine(10 degrees, translate 1/28, scale
    0.9-1.1, shear 0.01, fill 1)."""
    return random_affine(
        x, degrees=10.0, translate=(1 / 28, 1 / 28), scale=(0.9, 1.1), shear=0.01, fill=1.0,
        generator=generator,
    )  # fmt: skip


#: The preset augmentation of each data set that has one.
AUGMENTATIONS: dict[str, Augmentation] = {
    "cifar10": cifar_augment,
    "cifar100": cifar_augment,
    "celeba": celeba_augment,
    "colour": colour_augment,
    "omniglot": omniglot_augment,
    "omniglot5": omniglot_augment,
}


def two_views(
    x: torch.Tensor, augment: Augmentation, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Two independent augmentations of a batch, stacked ``[first views; second views]``:
    (2B, C, H, W), row ``n + B`` is the other view of row ``n`` (treevae.md §5)."""
    return torch.cat([augment(x, generator=generator), augment(x, generator=generator)], dim=0)
