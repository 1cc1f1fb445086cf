"""Issue 15: a VLAC mixture layer's clusters against Ward on the raw pixels, on a synthetic image
hierarchy with nested classes (bar glyphs: orientation, then bar count) and position/brightness
nuisances (:func:`dendrogen.data.nuisance.make_glyph_hierarchy`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.cluster.hierarchy import fcluster, linkage

from dendrogen import VLAC
from dendrogen.data.nuisance import make_glyph_hierarchy
from dendrogen.metrics import cluster_accuracy

N_CLUSTERS = 20


def _scores(seed: int, **options) -> tuple[float, float]:
    """(VLAC layer-2 many-to-one accuracy, Ward's at the same number of clusters)."""
    s = make_glyph_hierarchy(600, random_state=seed)
    flat = s.X.reshape(len(s.X), -1)
    ward = fcluster(linkage(flat, "ward"), N_CLUSTERS, "maxclust")
    with torch.random.fork_rng(devices=[]):
        model = VLAC(
            K=[1, N_CLUSTERS, 1], z_dims=[4, 4, 4], schedule={"train": 300}, batch_size=64,
            random_state=seed, **options,
        ).fit(s.X)  # fmt: skip
    vlac = cluster_accuracy(s.y, model.predict(s.X, layer=2), mapping="many_to_one")
    return vlac, cluster_accuracy(s.y, ward, mapping="many_to_one")


def test_glyph_hierarchy_is_nested_and_shifted():
    s = make_glyph_hierarchy(64, random_state=0)
    assert s.X.shape == (64, 1, 12, 12) and s.X.dtype == np.float32
    np.testing.assert_array_equal(s.y_coarse, s.y // 4)
    assert sorted(s.hierarchy.leaves) == list(range(8))
    # the same class at different offsets: far apart in pixels
    centred = make_glyph_hierarchy(64, shift=False, noise=0.0, random_state=0)
    same = centred.X[centred.y == 0]
    assert np.allclose(same / same.max((1, 2, 3), keepdims=True), same[0] / same[0].max())
    assert make_glyph_hierarchy(8, random_state=1).X.std() > 0


# Measured 2026-12-02 (1 thread, shared VM), (VLAC, Ward) for seeds 0, 1, 2: defaults (0.502,
# 0.593), (0.458, 0.610), (0.455, 0.555), median margin −0.100; z_given_y=False (0.468, 0.593),
# (0.448, 0.610), (0.482, 0.555); with head="ladder" too (0.448, 0.593), (0.413, 0.610), (0.418,
# 0.555). Ward wins on every seed, so the target is recorded as a strict xfail: the
# assertion is the target, unchanged, and the test fails loudly once VLAC starts to meet it.
@pytest.mark.heavy(seconds=12)
@pytest.mark.xfail(
    strict=True,
    reason="issue 15: VLAC's mixture layer loses to Ward on the shifted glyphs (median −0.10)",
)
def test_vlac_mixture_layer_against_ward_on_raw_pixels():
    figures = [_scores(seed) for seed in range(3)]
    margins = [v - w for v, w in figures]
    print("VLAC, Ward per seed:", figures)
    assert np.median(margins) > 0, figures
