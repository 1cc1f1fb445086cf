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
    "40 optimizer steps. Its other demand, no empty cluster, now holds (fit prunes empty leaves; "
    "tests/test_treevae_reproducible.py), but a VAE whose 2-D latent already models 2-D data "
    "has no reason to split it: measured ARI over seeds 0-4 was 0.36, 0.83, 0, 0.02, 0.03 with "
    "split_init='kmeans'. Clustering quality is tested in test_treevae_hierarchy.py.",
}


@parametrize_with_checks([TINY], expected_failed_checks=lambda est: EXPECTED_FAILURES)
def test_sklearn_compatible(estimator, check):
    check(estimator)
