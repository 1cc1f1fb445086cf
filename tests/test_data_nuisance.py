"""The digits with SVHN-like nuisances (dendrogen.data.nuisance)."""

from __future__ import annotations

import numpy as np
import pytest

from dendrogen.data import get_dataset, load_dataset
from dendrogen.data.synthetic import make_nuisance_digits


def test_shapes_range_and_labels_are_the_digits():
    from sklearn.datasets import load_digits

    s = make_nuisance_digits(copies=2, random_state=3)
    assert s.X.shape == (2 * 1797, 3, 12, 12) and s.X.dtype == np.float32
    assert 0.0 <= s.X.min() and s.X.max() <= 1.0
    assert s.y.dtype == np.int64
    np.testing.assert_array_equal(s.y, np.repeat(load_digits().target, 2))
    np.testing.assert_array_equal(s.y, load_digits().target[s.source])


def test_deterministic_given_the_seed():
    a = make_nuisance_digits("test", random_state=5)
    b = make_nuisance_digits("test", random_state=5)
    c = make_nuisance_digits("test", random_state=6)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.allclose(a.X, c.X)
    np.testing.assert_array_equal(a.y, c.y)


def test_nuisances_vary_and_the_digit_is_where_the_offset_says():
    s = make_nuisance_digits(random_state=0, noise=0.0)
    # every nuisance takes many values
    assert s.foreground.std(0).min() > 0.2 and s.background.std(0).min() > 0.2
    assert s.brightness.min() < 0.6 and s.brightness.max() > 0.9
    assert set(map(tuple, s.offset.tolist())) == {(i, j) for i in range(5) for j in range(5)}
    # strokes and background differ enough to see the digit
    assert (np.abs(s.foreground - s.background).mean(1) >= 0.35 - 1e-6).all()
    # the mean colour of an image is mostly nuisance: it varies far more than within a class
    mean_rgb = s.X.mean((2, 3))
    assert mean_rgb.std(0).min() > 0.15
    # the full-ink pixels of the source digit show the stroke colour at the drawn offset
    from sklearn.datasets import load_digits

    grey = load_digits().images[s.source] / 16.0
    for i in np.flatnonzero(grey.max((1, 2)) == 1.0)[::400]:
        r, c = s.offset[i]
        img = s.X[i] / s.brightness[i]
        fg_dist = np.abs(img - s.foreground[i][:, None, None]).mean(0)
        full = grey[i] == 1.0
        assert full.any()
        assert fg_dist[r : r + 8, c : c + 8][full].max() < 1e-5
        # and the background, far from the strokes' colour, fills the rest of the canvas
        outside = np.ones((12, 12), bool)
        outside[r : r + 8, c : c + 8] = False
        assert fg_dist[outside].min() > 0.05


def test_registered_as_a_data_set():
    X, y = load_dataset("nuisance-digits")
    Xt, yt = load_dataset("nuisance-digits", split="test")
    np.testing.assert_array_equal(yt, np.repeat(load_dataset("digits", split="test")[1], 4))
    _, y_digits = load_dataset("digits")
    assert X.shape == (4 * 1437, 3, 12, 12) and Xt.shape == (4 * 360, 3, 12, 12)
    np.testing.assert_array_equal(y, np.repeat(y_digits, 4))
    np.testing.assert_array_equal(load_dataset("nuisance-digits", limit=7)[0], X[:7])
    assert not np.allclose(X[: len(Xt)], Xt)
    assert get_dataset("nuisance-digits").n_classes == 10


def test_bad_arguments():
    with pytest.raises(ValueError, match="size"):
        make_nuisance_digits(size=6)
    with pytest.raises(ValueError, match="copies"):
        make_nuisance_digits(copies=0)
