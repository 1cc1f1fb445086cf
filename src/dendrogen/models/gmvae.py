"""GM-DGM / GMVAE baseline (baselines.md §10, vlac.md §7): one continuous latent z with a learned
Gaussian-mixture prior p(z | y) = N(μ_y, diag σ_y²) and a uniform p(y) over K components.

"Equivalent" to VLAC means built from VLAC's layer-``depth`` sub-networks: the encoder
g_1 → ... → g_depth with no ỹ inputs, the y and z heads on h_depth, and the decoder f_depth (with
no z̃_{depth+1} input) → f_{depth-1} ... f_1 (with no lateral z inputs) → f_0. That is exactly a
VLAC ladder of ``depth`` levels whose lower levels have no latent (z_dims = [0, ..., 0, d]) and
whose top level holds the mixture (K = [1, ..., 1, K]), so the model *is* :class:`VLACModel` with
that configuration: the objective (eq. 9 with one layer), both estimators (Gumbel-Softmax or exact
marginalisation, which with the entropy of q(y|x) is the GMVAE reference code's objective),
sampling and save/load are shared rather than written twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from dendrogen.models.vlac import VLACConfig, VLACModel


def gmdgm_structure(
    n_components: int, z_dim: int | None = None, depth: int = 3
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(K, z_dims) of the GM-DGM that borrows VLAC's layer-``depth`` networks.

    >>> gmdgm_structure(50)
    ((1, 1, 50), (0, 0, 5))
    """
    for name, value, low in (("n_components", n_components, 2), ("depth", depth, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    z_dim = 5 if z_dim is None else z_dim  # VLAC's d_3 (vlac.md §10)
    if isinstance(z_dim, bool) or not isinstance(z_dim, int) or z_dim < 1:
        raise ValueError(f"z_dim must be an integer >= 1, got {z_dim!r}")
    return (1,) * (depth - 1) + (n_components,), (0,) * (depth - 1) + (z_dim,)


def gmdgm_model(
    input_shape: Sequence[int],
    n_components: int = 50,
    z_dim: int | None = None,
    depth: int = 3,
    **config,
) -> VLACModel:
    """A GM-DGM network; ``config`` goes to :class:`VLACConfig` (arch, widths, estimator...)."""
    K, z_dims = gmdgm_structure(n_components, z_dim, depth)
    return VLACModel(VLACConfig(tuple(input_shape), K=K, z_dims=z_dims, **config))


__all__ = ["gmdgm_model", "gmdgm_structure"]
