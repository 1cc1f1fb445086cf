"""The baselines pass scikit-learn's estimator checks with tiny configurations."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from dendrogen import VAE, Agglomerative, Bisecting, LadderVAE

TINY = dict(preset="tiny", batch_size=4, likelihood="gaussian", random_state=0)
ESTIMATORS = [
    VAE(latent_dim=2, width=8, **TINY),
    LadderVAE(n_layers=2, latent_dim=2, width=8, **TINY),
    Agglomerative(embedding="raw", n_clusters=3),
    Bisecting(embedding="raw", n_leaves=3, n_init=2, random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
