"""TreeVAE passes scikit-learn's estimator checks with a tiny configuration."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from dendrogen import TreeVAE

TINY = TreeVAE(
    max_leaves=3, max_depth=2, latent_dim=2, width=8, batch_size=4, likelihood="gaussian",
    schedule=dict(initial=20, subtree=10, intermediate=0, finetune=10), random_state=0,
    verbose=False,
)  # fmt: skip

#: Checks that cannot pass, with the reason.
EXPECTED_FAILURES: dict[str, str] = {
    "check_clustering": "asks for ARI > 0.4 on three 2-D blobs after the check configuration's "
    "40 optimizer steps; a deep generative model does not converge in that budget. Clustering "
    "quality is tested in test_treevae_hierarchy.py on data with a known hierarchy.",
}


@parametrize_with_checks([TINY], expected_failed_checks=lambda est: EXPECTED_FAILURES)
def test_sklearn_compatible(estimator, check):
    check(estimator)
