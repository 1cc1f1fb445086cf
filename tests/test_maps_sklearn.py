"""HTVAE and SOM-VAE pass scikit-learn's estimator checks with a tiny configuration.

The checks feed unbounded data, so they run the linear-output variant (``output="linear"``); the
sigmoid output only adds the [0, 1] input check, tested in test_htvae.py. Small maps keep every
check's data set larger than the finest map.
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from dendrogen import HTVAE, SOMVAE

_COMMON = dict(
    latent_dim=2,
    widths=(4, 4),
    output="linear",
    preset="tiny",
    batch_size=4,
    random_state=0,
    verbose=False,
)
TINY_HTVAE = HTVAE(map_sizes="3x3,2x1", **_COMMON)
TINY_SOMVAE = SOMVAE(map_size=(2, 2), **_COMMON)

#: Checks that cannot pass, with the reason.
EXPECTED_FAILURES: dict[str, str] = {
    "check_clustering": "asks for ARI > 0.4 on three 2-D blobs after a few optimizer steps; a "
    "map model does not converge in that budget, and its labels are map codes (9 for this "
    "configuration), not three clusters. Clustering quality is tested in test_htvae.py on data "
    "with a known hierarchy.",
}


@parametrize_with_checks(
    [TINY_HTVAE, TINY_SOMVAE], expected_failed_checks=lambda est: EXPECTED_FAILURES
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
