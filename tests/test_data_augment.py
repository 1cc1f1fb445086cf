"""Augmentations: shapes, range, determinism, and exact identities at zero strength."""

from __future__ import annotations

import pytest
import torch

from dendrogen.data.augment import (
    AUGMENTATIONS,
    celeba_augment,
    cifar_augment,
    color_jitter,
    hflip,
    hsv_to_rgb,
    omniglot_augment,
    random_affine,
    random_grayscale,
    random_resized_crop,
    rgb_to_hsv,
    two_views,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def rgb() -> torch.Tensor:
    return torch.rand(8, 3, 32, 32, generator=gen(1))


@pytest.mark.parametrize(
    ("augment", "shape"),
    [(cifar_augment, (8, 3, 32, 32)), (celeba_augment, (8, 3, 64, 64)),
     (omniglot_augment, (8, 1, 28, 28))],
)  # fmt: skip
def test_presets_keep_shape_and_range_and_are_reproducible(augment, shape):
    x = torch.rand(*shape, generator=gen(2))
    a, b = augment(x, generator=gen(3)), augment(x, generator=gen(3))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min() >= 0.0 and a.max() <= 1.0
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, augment(x, generator=gen(4)))
    assert not torch.equal(a, x)


def test_two_views_stacks_two_different_views(rgb):
    views = two_views(rgb, cifar_augment, generator=gen())
    assert views.shape == (16, 3, 32, 32)
    assert not torch.equal(views[:8], views[8:])
    assert set(AUGMENTATIONS) == {
        "cifar10",
        "cifar100",
        "celeba",
        "colour",
        "omniglot",
        "omniglot5",
    }


def test_full_crop_is_identity(rgb):
    out = random_resized_crop(rgb, 32, scale=(1.0, 1.0), ratio=(1.0, 1.0), generator=gen())
    torch.testing.assert_close(out, rgb)


def test_crop_resizes_and_stays_inside(rgb):
    out = random_resized_crop(rgb, (16, 24), scale=(0.2, 0.5), generator=gen())
    assert out.shape == (8, 3, 16, 24)
    # A crop of a constant-per-row image keeps values from inside the image only.
    ramp = torch.linspace(0, 1, 32).view(1, 1, 32, 1).expand(4, 3, 32, 32).contiguous()
    crop = random_resized_crop(ramp, 32, scale=(0.2, 0.3), generator=gen())
    spans = crop.amax(dim=(1, 2, 3)) - crop.amin(dim=(1, 2, 3))
    assert (spans < 0.9).all()  # each crop sees only part of the ramp


def test_flip_and_grayscale(rgb):
    torch.testing.assert_close(hflip(rgb, p=1.0), rgb.flip(-1))
    torch.testing.assert_close(hflip(rgb, p=0.0), rgb)
    gray = random_grayscale(rgb, p=1.0)
    torch.testing.assert_close(gray[:, 0], gray[:, 1])
    torch.testing.assert_close(
        gray[:, 0], 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    )


def test_hsv_round_trip_and_hue_shift(rgb):
    torch.testing.assert_close(hsv_to_rgb(rgb_to_hsv(rgb)), rgb, atol=1e-5, rtol=0)
    red = torch.zeros(1, 3, 1, 1)
    red[:, 0] = 1
    hsv = rgb_to_hsv(red)
    hsv[:, 0] += 1 / 3
    torch.testing.assert_close(hsv_to_rgb(hsv).flatten(), torch.tensor([0.0, 1.0, 0.0]))


def test_color_jitter(rgb):
    torch.testing.assert_close(color_jitter(rgb, generator=gen()), rgb)
    dark = color_jitter(rgb, brightness=0.5, generator=gen())
    assert dark.shape == rgb.shape and 0 <= dark.min() and dark.max() <= 1
    assert not torch.equal(dark, rgb)
    assert torch.equal(color_jitter(rgb, 0.4, 0.4, 0.4, 0.1, p=0.0, generator=gen()), rgb)
    gray = torch.rand(4, 1, 8, 8, generator=gen())
    assert color_jitter(gray, 0.4, 0.4, 0.4, 0.1, generator=gen()).shape == gray.shape
    with pytest.raises(ValueError, match="hue"):
        color_jitter(rgb, hue=0.7)


def test_affine_identity_and_fill():
    x = torch.ones(4, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 0
    torch.testing.assert_close(random_affine(x), x)
    shifted = random_affine(x, translate=(0.3, 0.3), fill=1.0, generator=gen())
    assert shifted.min() == 0.0 and shifted.max() == 1.0  # the outside is white, not black
    black = random_affine(torch.ones(2, 1, 8, 8), degrees=45, fill=0.0, generator=gen())
    assert black.min() == 0.0  # corners rotated in from outside take the fill


def test_bad_input():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        cifar_augment(torch.rand(3, 32, 32))


def test_colour_augment_keeps_shape_and_range(rgb):
    from dendrogen.data.augment import colour_augment

    out = colour_augment(rgb, generator=gen())
    assert out.shape == rgb.shape and 0 <= out.min() and out.max() <= 1
    assert not torch.equal(out, colour_augment(rgb, generator=gen(1)))
